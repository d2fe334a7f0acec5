import { assert } from "./limits";

/**
 * Prefixed ids that sort by creation time: `tip_` + 10 chars of millisecond time + 16
 * chars of randomness, in Crockford base32 (the ULID layout). Clock and randomness are
 * passed in so tests are deterministic.
 */
export const ID_PREFIXES = [
  "tip",
  "op",
  "room",
  "stream",
  "adj",
  "req",
  "packet",
  "claim",
  "refund",
  "campaign",
  "subsidy",
  "order",
  "ntf",
  "flag",
  /** A payment order's refund (`refund_` is a red packet's). */
  "orf",
  "recon",
  "finding",
  /** A message a dead-letter queue gave to operators (control `dead_letters`). */
  "dlq",
  /** A tip reversal (its creator leg commits in the creator's shard, so the id carries the creator's bucket). */
  "rev",
  /** A creator's payout account (control `payout_accounts`). */
  "pa",
  /** A creator's withdrawal (money out); its channel number is the id without the underscore. */
  "wd",
  /** Scheduled checks and alerts: a check run, an alert target, rule, incident and delivery (control). */
  "chk",
  "atg",
  "arl",
  "inc",
  "adl",
  /** A four-eyes proposal (control `proposals`). */
  "prp",
  /** A risk decision other than allow (ledger `risk_decisions`, in the actor's shard). */
  "rsk",
  /** A tip held for review with the payer's money (ledger `held_tips`, in the payer's shard). */
  "held",
  /** The open platform (issue 18): a partner, its API key, webhook endpoint, message and delivery attempt (control). */
  "ptn",
  "pk",
  "whe",
  "msg",
  "wat",
  /** A content item a host registered (control `content_items`, issue 19). */
  "cnt",
  /** A paid unlock of a content item (ledger `entitlements`, in the payer's shard). */
  "unl",
  /** An unlock refund (ledger `unlock_refunds`; its creator leg commits in the creator's shard, so the id carries the creator's bucket). */
  "urf",
] as const;
export type IdPrefix = (typeof ID_PREFIXES)[number];

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;
const TIME_MAX_MS = 2 ** 48 - 1;

export type RandomBytes = (length: number) => Uint8Array;

const cryptoRandomBytes: RandomBytes = (length) => crypto.getRandomValues(new Uint8Array(length));

/**
 * An id whose object belongs to an owner's ledger shard (a payment order, a red packet): its
 * first two random characters are the owner's bucket (domain/shards.ts; 1,024 = 32²), so the
 * id alone routes to the shard (`bucketOfId`) and the object lives beside its owner's wallet.
 * The layout is unchanged (14 random characters remain), so every id pattern still holds.
 */
export function newOwnedId(
  prefix: IdPrefix,
  ownerBucket: number,
  nowMs: number,
  randomBytes: RandomBytes = cryptoRandomBytes,
): string {
  assert(Number.isInteger(ownerBucket) && ownerBucket >= 0 && ownerBucket < 1024, "a bucket of 1,024");
  const id = newId(prefix, nowMs, randomBytes);
  const at = prefix.length + 1 + TIME_CHARS;
  return `${id.slice(0, at)}${ALPHABET[ownerBucket >> 5]}${ALPHABET[ownerBucket & 31]}${id.slice(at + 2)}`;
}

/**
 * The two characters an owned id carries for `bucket`, found right after the prefix, its
 * underscore and the 10 time characters: SQL selects a bucket's objects with
 * `substr(id, instr(id, '_') + 11, 2) = ?` (src/db/bucket-move.ts).
 */
export function bucketCodeOfIds(bucket: number): string {
  assert(Number.isInteger(bucket) && bucket >= 0 && bucket < 1024, "a bucket of 1,024");
  return `${ALPHABET[bucket >> 5]}${ALPHABET[bucket & 31]}`;
}

/**
 * The bucket an id names (see `newOwnedId`), or null for a string that is not a giftwire id.
 * Any well-formed id names one; only ids made by `newOwnedId` name their owner's.
 */
export function bucketOfId(id: string): number | null {
  const match = ID_PATTERN.exec(id);
  if (match === null) return null;
  const body = match[2] ?? "";
  return ALPHABET.indexOf(body.charAt(TIME_CHARS)) * 32 + ALPHABET.indexOf(body.charAt(TIME_CHARS + 1));
}

export function newId(prefix: IdPrefix, nowMs: number, randomBytes: RandomBytes = cryptoRandomBytes): string {
  assert(Number.isSafeInteger(nowMs) && nowMs >= 0 && nowMs <= TIME_MAX_MS, "id time is within 48 bits");
  let time = "";
  let rest = nowMs;
  for (let i = 0; i < TIME_CHARS; i++) {
    time = ALPHABET[rest % 32] + time;
    rest = Math.floor(rest / 32);
  }
  const bytes = randomBytes(RANDOM_CHARS);
  assert(bytes.length === RANDOM_CHARS, "randomBytes returned the requested length");
  let random = "";
  for (const byte of bytes) random += ALPHABET[byte % 32];
  return `${prefix}_${time}${random}`;
}

/** The 26 Crockford base32 characters after an id's prefix (time, then randomness). */
export const ID_BODY_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const ID_PATTERN = new RegExp(`^([a-z]+)_(${ID_BODY_PATTERN.source.slice(1, -1)})$`);

/** The exact pattern of one kind of id (`packet_…`), for schemas at every boundary. */
export function idPattern(prefix: IdPrefix): RegExp {
  return new RegExp(`^${prefix}_${ID_BODY_PATTERN.source.slice(1, -1)}$`);
}

export function isId(prefix: IdPrefix, value: string): boolean {
  const match = ID_PATTERN.exec(value);
  return match !== null && match[1] === prefix;
}

/** The creation time encoded in an id. */
export function idTimeMs(id: string): number {
  const match = ID_PATTERN.exec(id);
  assert(match, `"${id}" is a giftwire id`);
  let ms = 0;
  for (const char of (match[2] ?? "").slice(0, TIME_CHARS)) ms = ms * 32 + ALPHABET.indexOf(char);
  return ms;
}
