import type { RandomBytes } from "./ids";
import { assert } from "./limits";
import { sha256, toHex } from "./sha256";

/**
 * Partner API keys (issue 18, the open platform). A partner is another app that gives its users
 * tipping through giftwire; operators create partners and their keys. A key is
 * `gw_live_` or `gw_test_` followed by 43 base64url characters: 32 random bytes (256 bits). It is
 * shown once, when created; the control database keeps only its SHA-256 (a key is random, so a
 * plain hash cannot be guessed back — no salt or slow hash needed), plus a display prefix
 * (`gw_live_` and the first 8 characters) so people can tell their keys apart.
 */

export const PARTNER_KEY_MODES = ["live", "test"] as const;
export type PartnerKeyMode = (typeof PARTNER_KEY_MODES)[number];

/** What a key may do; each partner route declares the one scope it needs. */
export const PARTNER_SCOPES = {
  "rooms.read": "Read the partner's rooms and their leaderboards.",
  "webhooks.manage": "Register, change and remove webhook endpoints; read and replay their messages.",
  "campaigns.write": "Create red-packet campaigns in the partner's rooms.",
  "tips.read": "Read the tips of the partner's rooms.",
  "content.write": "Register, read, reprice and archive content items of the partner's creators.",
  "entitlements.read": "Check whether a user may open a content item of the partner's creators, with a signed grant.",
} as const satisfies Record<string, string>;
export type PartnerScope = keyof typeof PARTNER_SCOPES;
export const PARTNER_SCOPE_NAMES = Object.keys(PARTNER_SCOPES) as [PartnerScope, ...PartnerScope[]];

/** Random bytes in a key: 32 (256 bits), well above the 128 bits nobody can guess. */
export const PARTNER_KEY_RANDOM_BYTES = 32;
const SECRET_CHARS = 43; // base64url of 32 bytes, unpadded
export const PARTNER_KEY_PATTERN = /^gw_(live|test)_[A-Za-z0-9_-]{43}$/;
/** Characters of the secret part kept for display after the `gw_<mode>_` prefix. */
const DISPLAY_CHARS = 8;

/**
 * The bound on revocation and expiry (docs/API.md, "Partner API keys"): each isolate keeps a
 * key's row for at most this long, so a key revoked in the database is refused by every isolate
 * within 10 s. Expiry is checked on every request against the cached expiry, so an expired key
 * is refused at once; revocation through the API also drops the revoking isolate's copy at once.
 */
export const PARTNER_KEY_CACHE_TTL_MS = 10_000;
/** A key's last-used time is written at most this often (one write a minute per key, not per request). */
export const PARTNER_KEY_LAST_USED_INTERVAL_MS = 60_000;
/** Longest a key may live when it is given an expiry (at most two years). */
export const PARTNER_KEY_MAX_LIFETIME_MS = 2 * 366 * 24 * 60 * 60 * 1000;
/** Keys per partner, live and revoked together: a limit on everything. */
export const PARTNER_KEYS_MAX = 50;

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export interface NewPartnerKey {
  /** The whole key: shown to the operator once, never stored. */
  readonly key: string;
  /** `gw_live_AbCd1234`: stored and shown in listings. */
  readonly displayPrefix: string;
  /** SHA-256 of the whole key, hex: the only stored form of the secret. */
  readonly hash: string;
}

export function newPartnerKey(mode: PartnerKeyMode, randomBytes: RandomBytes): NewPartnerKey {
  const bytes = randomBytes(PARTNER_KEY_RANDOM_BYTES);
  assert(bytes.length === PARTNER_KEY_RANDOM_BYTES, "randomBytes returned the requested length");
  const secret = base64url(bytes);
  assert(secret.length === SECRET_CHARS, "32 bytes are 43 base64url characters");
  const key = `gw_${mode}_${secret}`;
  return { key, displayPrefix: displayPrefixOf(key), hash: hashPartnerKey(key) };
}

/** The mode of a well-formed key, or null for anything that is not one (refused before any lookup). */
export function parsePartnerKey(raw: string): PartnerKeyMode | null {
  const match = PARTNER_KEY_PATTERN.exec(raw);
  return match ? (match[1] as PartnerKeyMode) : null;
}

export function displayPrefixOf(key: string): string {
  const cut = key.indexOf("_", 3) + 1;
  return key.slice(0, cut + DISPLAY_CHARS);
}

export function hashPartnerKey(key: string): string {
  return toHex(sha256(new TextEncoder().encode(key)));
}

/** What the gate needs of a stored key. */
export interface PartnerKeyState {
  readonly revokedAtMs: number | null;
  readonly expiresAtMs: number | null;
  readonly partnerActive: boolean;
  readonly scopes: readonly PartnerScope[];
}

export type PartnerKeyVerdict = "ok" | "revoked" | "expired" | "partner_disabled" | "missing_scope";

/** Whether a stored key admits a request needing `scope` at `nowMs`; one reason per refusal. */
export function judgePartnerKey(key: PartnerKeyState, scope: PartnerScope, nowMs: number): PartnerKeyVerdict {
  if (key.revokedAtMs !== null && key.revokedAtMs <= nowMs) return "revoked";
  if (key.expiresAtMs !== null && key.expiresAtMs <= nowMs) return "expired";
  if (!key.partnerActive) return "partner_disabled";
  if (!key.scopes.includes(scope)) return "missing_scope";
  return "ok";
}

/** True when the last-used time should be written now (never written, or older than the interval). */
export function lastUsedDue(lastUsedAtMs: number | null, nowMs: number): boolean {
  return lastUsedAtMs === null || nowMs - lastUsedAtMs >= PARTNER_KEY_LAST_USED_INTERVAL_MS;
}

export function isPartnerScope(value: string): value is PartnerScope {
  return Object.hasOwn(PARTNER_SCOPES, value);
}
