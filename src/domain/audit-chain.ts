/**
 * The audit log's chain: every operator action and every bulk system action that moves money
 * is one entry, and each entry's hash covers the previous entry's hash, so an entry changed,
 * removed or moved after the fact breaks the chain at exactly that entry.
 *
 *   hash(n) = SHA-256( hash(n−1) ‖ canonical(entry n) )   as lower-case hex,
 *   hash(0) = the genesis hash (64 zeros: the chain before its first entry).
 *
 * `canonical(entry)` is the canonical JSON (below) of the entry's fields without its own hash
 * and the previous hash: `{action, actor, atMs, digest, requestId, seq, target}`. `‖` is the
 * concatenation of the previous hash's 64 hex characters and that JSON, hashed as UTF-8.
 * `digest` is SHA-256 of the entry's `detail`, the canonical JSON of `{after, before}`: what
 * the action changed, as small values the caller chose (never personal data — the detail is
 * stored readable, and a digest over sealed data would change at every key rotation).
 *
 * Canonical JSON: object keys sorted (by UTF-16 code units, as `Array.prototype.sort`), no
 * whitespace, strings as `JSON.stringify` writes them, numbers only as safe integers (money is
 * integer minor units; a float in an audit entry is a bug), no `undefined`. The same value
 * always gives the same bytes, in the Worker, in Node and in any later re-implementation.
 *
 * Pure: no clock, no storage. src/db/audit.ts stores entries (one chain per database) and
 * walks them through `ChainWalker`.
 */
import { assert, LIMITS } from "./limits";
import { sha256, toHex } from "./sha256";

/** The hash "before the first entry": every chain's first entry links to it. */
export const AUDIT_GENESIS_HASH = "0".repeat(64);

/** Where a chain ends: its last entry's sequence and hash (0 and the genesis hash when empty). */
export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

export const EMPTY_CHAIN_HEAD: ChainHead = { seq: 0, hash: AUDIT_GENESIS_HASH };

/** What a caller says about an action it is about to commit. */
export interface AuditAction {
  /** Who: the operator's user id, or `system:<job>` for a cron job or a script. */
  readonly actor: string;
  /** What, as `<resource>.<verb>`: `wallet.adjust`, `creator_share.set`, `settlement.run`. */
  readonly action: string;
  /** On what: the object's id (`usr_…`, an order id, `shard:2`). */
  readonly target: string;
  /** The request the action came in (the request-context middleware's id), or the cron run's. */
  readonly requestId: string;
  /** The state before and after, as small canonical values (integers, strings, booleans, null). */
  readonly before: unknown;
  readonly after: unknown;
}

/** One stored entry. */
export interface AuditEntry {
  /** 1, 2, 3 … in the chain, without gaps. */
  readonly seq: number;
  readonly atMs: number;
  readonly actor: string;
  readonly action: string;
  readonly target: string;
  readonly requestId: string;
  /** Canonical JSON of `{after, before}`. */
  readonly detail: string;
  /** SHA-256 of `detail`, hex. */
  readonly digest: string;
  readonly prevHash: string;
  readonly hash: string;
}

const encoder = new TextEncoder();

export function sha256Hex(text: string): string {
  return toHex(sha256(encoder.encode(text)));
}

/** The canonical JSON of a value (see the file's comment); throws on a value it cannot represent. */
export function canonicalJson(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "string":
      return JSON.stringify(value);
    case "number":
      assert(Number.isSafeInteger(value), `canonical JSON holds only safe integers, not ${value}`);
      // -0 is written as 0, like JSON.stringify does.
      return String(value === 0 ? 0 : value);
    case "object": {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
      const proto = Object.getPrototypeOf(value);
      assert(proto === Object.prototype || proto === null, "canonical JSON holds only plain objects");
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(",")}}`;
    }
    default:
      throw new Error(`canonical JSON cannot hold a ${typeof value}`);
  }
}

/** The hash of an entry with these fields after an entry whose hash is `prevHash`. */
export function entryHash(prevHash: string, entry: Omit<AuditEntry, "hash" | "prevHash" | "detail">): string {
  const canonical = canonicalJson({
    seq: entry.seq,
    atMs: entry.atMs,
    actor: entry.actor,
    action: entry.action,
    target: entry.target,
    requestId: entry.requestId,
    digest: entry.digest,
  });
  return sha256Hex(prevHash + canonical);
}

function assertField(name: string, value: string): void {
  assert(
    value.length >= 1 && value.length <= LIMITS.auditFieldMaxLength,
    `an audit entry's ${name} has 1 to ${LIMITS.auditFieldMaxLength} characters`,
  );
}

/** The entry that follows `head` for this action, at `atMs`. */
export function nextEntry(head: ChainHead, action: AuditAction, atMs: number): AuditEntry {
  assert(Number.isSafeInteger(head.seq) && head.seq >= 0, "a chain head's sequence is a whole number");
  assert(Number.isSafeInteger(atMs) && atMs >= 0, "an audit entry's time is whole milliseconds");
  assertField("actor", action.actor);
  assertField("action", action.action);
  assertField("target", action.target);
  assertField("request id", action.requestId);
  const detail = canonicalJson({ before: action.before ?? null, after: action.after ?? null });
  assert(
    encoder.encode(detail).length <= LIMITS.auditDetailMaxBytes,
    `an audit entry's detail is at most ${LIMITS.auditDetailMaxBytes} bytes`,
  );
  const fields = {
    seq: head.seq + 1,
    atMs,
    actor: action.actor,
    action: action.action,
    target: action.target,
    requestId: action.requestId,
    digest: sha256Hex(detail),
  };
  return { ...fields, detail, prevHash: head.hash, hash: entryHash(head.hash, fields) };
}

/**
 * How a chain breaks, at the first entry that does not fit:
 * - `sequence_broken`: the entry's sequence is not the one after the previous entry's (an
 *   entry before it was deleted, or entries were reordered);
 * - `prev_link_broken`: its previous hash is not the previous entry's hash;
 * - `hash_mismatch`: its hash is not the hash of its own fields, or its digest not its detail's
 *   (a field was changed);
 * - `anchor_mismatch`: its hash differs from the one exported for its sequence (the daily
 *   anchor): the chain from there on was rewritten consistently;
 * - `anchor_missing`: the chain ends before an exported anchor's sequence (entries at its end
 *   were removed); `index` is then the chain's length, the first missing position.
 */
export type ChainBreakKind =
  | "sequence_broken"
  | "prev_link_broken"
  | "hash_mismatch"
  | "anchor_mismatch"
  | "anchor_missing";

export interface ChainBreak {
  /** The entry's position in the walk, from 0 (the n-th entry read in sequence order). */
  readonly index: number;
  readonly kind: ChainBreakKind;
  /** The sequence the entry should have had, and the one it has (null past the chain's end). */
  readonly expectedSeq: number;
  readonly foundSeq: number | null;
}

export type ChainVerdict =
  | { readonly ok: true; readonly length: number; readonly head: ChainHead }
  | { readonly ok: false; readonly length: number; readonly head: ChainHead; readonly broken: ChainBreak };

/**
 * Walks a chain entry by entry, in sequence order, from its first entry (or from a trusted
 * head), keeping only the last hash: a chain of any length is checked in pages. After the
 * first break it stops judging (every later link depends on the broken one) and says where.
 */
export class ChainWalker {
  #index = 0;
  #head: ChainHead;
  #broken: ChainBreak | null = null;
  readonly #anchors: ReadonlyMap<number, string>;

  /** `anchors`: hashes exported earlier, by sequence; each must be found unchanged. */
  constructor(anchors: readonly ChainHead[] = [], start: ChainHead = EMPTY_CHAIN_HEAD) {
    this.#head = start;
    this.#anchors = new Map(anchors.filter((a) => a.seq > 0).map((a) => [a.seq, a.hash]));
  }

  get broken(): ChainBreak | null {
    return this.#broken;
  }

  /** Judges the next entry; returns the break if this entry is (or an earlier one was) the first that does not fit. */
  feed(entry: AuditEntry): ChainBreak | null {
    if (this.#broken !== null) return this.#broken;
    const expectedSeq = this.#head.seq + 1;
    const at = (kind: ChainBreakKind): ChainBreak => {
      this.#broken = { index: this.#index, kind, expectedSeq, foundSeq: entry.seq };
      return this.#broken;
    };
    if (entry.seq !== expectedSeq) return at("sequence_broken");
    if (entry.prevHash !== this.#head.hash) return at("prev_link_broken");
    if (entry.digest !== sha256Hex(entry.detail) || entry.hash !== entryHash(entry.prevHash, entry)) {
      return at("hash_mismatch");
    }
    const anchored = this.#anchors.get(entry.seq);
    if (anchored !== undefined && anchored !== entry.hash) return at("anchor_mismatch");
    this.#head = { seq: entry.seq, hash: entry.hash };
    this.#index += 1;
    return null;
  }

  /** The verdict once every entry was fed. */
  finish(): ChainVerdict {
    if (this.#broken === null) {
      const beyond = [...this.#anchors.keys()].filter((seq) => seq > this.#head.seq);
      if (beyond.length > 0) {
        this.#broken = {
          index: this.#index,
          kind: "anchor_missing",
          expectedSeq: this.#head.seq + 1,
          foundSeq: null,
        };
      }
    }
    if (this.#broken !== null) return { ok: false, length: this.#index, head: this.#head, broken: this.#broken };
    return { ok: true, length: this.#index, head: this.#head };
  }
}

/** Walks a whole chain held in memory. */
export function verifyChain(entries: Iterable<AuditEntry>, anchors: readonly ChainHead[] = []): ChainVerdict {
  const walker = new ChainWalker(anchors);
  for (const entry of entries) if (walker.feed(entry) !== null) break;
  return walker.finish();
}
