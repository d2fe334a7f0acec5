/**
 * Operator search over the sharded ledger (issue 17): one page of a kind's records, newest
 * first, read from every shard at once and merged. The order is total — (time desc, id desc) —
 * so a page's last record is a cursor that the next page continues strictly after, in every
 * shard alike: each shard is asked for its first `limit + 1` records after the cursor (that is
 * enough, since the page's records are among each shard's first `limit`), the answers are merged
 * and the first `limit` kept. A record present in two shards (the copy a bucket move leaves
 * behind) is kept once: the copy the caller prefers (the shard its owner's bucket maps to).
 *
 * The cursor is opaque to callers: base64url of `[kind, atMs, id]`, so one kind's cursor is
 * refused by another's search.
 */

import { assert } from "./limits";

export const SEARCH_KINDS = [
  "users",
  "creators",
  "orders",
  "tips",
  "packets",
  "withdrawals",
  "refunds",
  "unlocks",
  "content",
] as const;
export type SearchKind = (typeof SEARCH_KINDS)[number];

/** Where a page continues: strictly after (older than, or as old with a smaller id) this record. */
export interface SearchCursor {
  readonly atMs: number;
  readonly id: string;
}

/** What the merge needs of a record: its time, its id, and whether this copy is the preferred one. */
export interface Keyed {
  readonly atMs: number;
  readonly id: string;
  /** The copy in the shard its owner maps to now; a duplicate elsewhere is dropped. */
  readonly preferred: boolean;
}

/** The longest cursor accepted: an id of at most 160 characters, its time and its kind. */
export const SEARCH_CURSOR_MAX_CHARS = 256;

function toBase64Url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): string | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  try {
    const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(
      Uint8Array.from(binary, (ch) => ch.charCodeAt(0)),
    );
  } catch {
    return null;
  }
}

export function encodeSearchCursor(kind: SearchKind, cursor: SearchCursor): string {
  return encodePageCursor(kind, cursor);
}

/** The cursor, or null when it is not one of this kind's (malformed, forged, another kind's). */
export function decodeSearchCursor(kind: SearchKind, text: string): SearchCursor | null {
  return decodePageCursor(kind, text);
}

/**
 * The same opaque cursor for any other listing merged newest first across the shards (a
 * content item's recent tips): `tag` names the listing, so one listing's cursor is refused by another's.
 */
export function encodePageCursor(tag: string, cursor: SearchCursor): string {
  assert(Number.isSafeInteger(cursor.atMs) && cursor.atMs >= 0, "a cursor's time is a whole number of ms");
  return toBase64Url(JSON.stringify([tag, cursor.atMs, cursor.id]));
}

/** The cursor, or null when it is not one of this listing's (malformed, forged, another listing's). */
export function decodePageCursor(tag: string, text: string): SearchCursor | null {
  if (text.length === 0 || text.length > SEARCH_CURSOR_MAX_CHARS) return null;
  const json = fromBase64Url(text);
  if (json === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return null;
  }
  if (!Array.isArray(value) || value.length !== 3) return null;
  const [k, atMs, id] = value as unknown[];
  if (k !== tag || typeof atMs !== "number" || !Number.isSafeInteger(atMs) || atMs < 0) return null;
  if (typeof id !== "string" || id.length === 0 || id.length > 160) return null;
  return { atMs, id };
}

/** Newest first; ties by id, greatest first (the SQL's `ORDER BY at DESC, id DESC`). */
export function compareNewestFirst(a: SearchCursor, b: SearchCursor): number {
  if (a.atMs !== b.atMs) return b.atMs - a.atMs;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** True when `record` comes after `cursor` in the search order (belongs to a later page). */
export function isAfter(record: SearchCursor, cursor: SearchCursor | null): boolean {
  return cursor === null || compareNewestFirst(record, cursor) > 0;
}

/**
 * One page from each shard's answer (each at most `limit + 1` records after the same cursor,
 * in order): the first `limit` records overall, each id once, and whether more follow.
 */
export function mergeShardPages<T extends Keyed>(
  pages: readonly (readonly T[])[],
  limit: number,
): { items: T[]; more: boolean } {
  assert(Number.isInteger(limit) && limit >= 1, "a page holds at least one record");
  const all = pages.flat().sort((a, b) => compareNewestFirst(a, b) || Number(b.preferred) - Number(a.preferred));
  const unique: T[] = [];
  for (const record of all) {
    const last = unique[unique.length - 1];
    // Copies of one record sort together, the preferred copy first.
    if (last !== undefined && last.id === record.id && last.atMs === record.atMs) continue;
    unique.push(record);
  }
  // A shard that answered `limit + 1` holds more than the page: the merge then has more than `limit`.
  return { items: unique.slice(0, limit), more: unique.length > limit };
}
