/**
 * The operator console's search (issue 17, docs/ARCHITECTURE.md "Operator search and detail"):
 * one page of a kind's records over every ledger shard, newest first (domain/search.ts).
 *
 * Each shard runs one statement, `… WHERE <filters> AND (at, id) < (cursor) ORDER BY at DESC,
 * id DESC LIMIT limit + 1`, all shards at once; the answers are merged in the Worker. A page
 * therefore reads at most shards × (limit + 1) records (4 × 101 at the largest page with four
 * shards), whatever the ledger's size, and every statement walks an index in that order
 * (tips, packets, withdrawals and orders by owner, room or creator and time; each kind also by
 * time alone), stopping at its LIMIT. Creators live in the control database: one statement.
 */

import { accountAddress } from "../../domain/accounts";
import { assert } from "../../domain/limits";
import { type Keyed, mergeShardPages, type SearchCursor, type SearchKind } from "../../domain/search";
import type { Ledger } from "../shards";

/** The filters an operator may give; each kind accepts the ones its records carry (FILTERS). */
export interface SearchFilters {
  readonly id?: string;
  readonly userId?: string;
  readonly creatorId?: string;
  readonly roomId?: string;
  readonly orderId?: string;
  /** Unlocks and tips: the content item. */
  readonly contentId?: string;
  /** Content items: their kind (article, video, post, live_room). */
  readonly contentKind?: string;
  readonly state?: string;
  /** Inclusive. */
  readonly fromMs?: number;
  /** Exclusive. */
  readonly toMs?: number;
}

export type FilterName = Exclude<keyof SearchFilters, "fromMs" | "toMs">;

/** A row as a shard answered it, with where it came from. */
export type SearchRow = Record<string, unknown> & { readonly shard: number | null };

/** One kind's statement: its table, its time and order columns, and the column each filter names. */
interface KindSql {
  readonly from: string;
  readonly select: string;
  readonly at: string;
  /** The column the order and the cursor use after time (unique in a shard). */
  readonly key: string;
  readonly columns: Partial<Record<FilterName, string>>;
  /** Always applied (users: the wallet accounts only). */
  readonly where?: string;
  readonly states?: readonly string[];
  /** The owner whose bucket decides the preferred copy of a row found in two shards. */
  readonly ownerOf?: (row: Record<string, unknown>) => string;
}

const KINDS: Record<Exclude<SearchKind, "creators" | "content">, KindSql> = {
  users: {
    from: "accounts",
    select: "address, balance_minor, currency, created_at_ms",
    at: "created_at_ms",
    key: "address",
    // A user is their wallet account; `:wallet` is its last segment (domain/accounts.ts).
    where: "address LIKE 'user:%:wallet'",
    columns: { id: "address", userId: "address" },
    ownerOf: (r) => userOfWallet(String(r.address)),
  },
  tips: {
    from: "tips",
    select:
      "id, room_id, stream_id, content_id, viewer_id, creator_id, gift_id, quantity, amount_minor, platform_minor, creator_minor, currency, big, created_at_ms",
    at: "created_at_ms",
    key: "id",
    columns: {
      id: "id",
      userId: "viewer_id",
      creatorId: "creator_id",
      roomId: "room_id",
      contentId: "content_id",
    },
    ownerOf: (r) => String(r.viewer_id),
  },
  orders: {
    from: "payment_orders",
    select:
      "id, kind, user_id, channel, method, currency, amount_minor, refunded_minor, state, provider_txn_id, tip_id, tip_outcome, packet_id, packet_outcome, created_at_ms, updated_at_ms",
    at: "created_at_ms",
    key: "id",
    columns: { id: "id", userId: "user_id", state: "state" },
    states: ["created", "pending", "succeeded", "failed", "closed", "refunded"],
    ownerOf: (r) => String(r.user_id),
  },
  refunds: {
    from: "payment_refunds",
    select:
      "id, order_id, amount_minor, state, reason, actor_id, attempts, failure, created_at_ms, updated_at_ms, (SELECT user_id FROM payment_orders o WHERE o.id = payment_refunds.order_id) AS user_id",
    at: "created_at_ms",
    key: "id",
    columns: {
      id: "id",
      orderId: "order_id",
      state: "state",
      userId: "(SELECT user_id FROM payment_orders o WHERE o.id = payment_refunds.order_id)",
    },
    states: ["requested", "pending", "succeeded", "failed"],
  },
  packets: {
    from: "red_packets",
    select:
      "id, room_id, sender_id, funding, campaign_id, currency, total_minor, shares, split, status, credited_count, credited_minor, refunded_minor, created_at_ms, expires_at_ms, finished_at_ms",
    at: "created_at_ms",
    key: "id",
    // A packet's creator is its room's (resolved to the room id before the search).
    columns: { id: "id", userId: "sender_id", roomId: "room_id", state: "status" },
    states: ["open", "exhausted", "refunded"],
    ownerOf: (r) => String(r.sender_id),
  },
  unlocks: {
    // Entitlements (one per paid unlock, its id the unlock's); a bucket move's copy (moved_from_shard)
    // is the payer's live one, so it is the preferred copy of the two.
    from: "entitlements",
    select:
      "id, content_id, user_id, creator_id, amount_minor, platform_minor, creator_minor, currency, state, created_at_ms, revoked_at_ms, moved_from_shard",
    at: "created_at_ms",
    key: "id",
    columns: { id: "id", userId: "user_id", creatorId: "creator_id", contentId: "content_id", state: "state" },
    states: ["active", "revoked"],
    ownerOf: (r) => String(r.user_id),
  },
  withdrawals: {
    from: "withdrawals",
    select:
      "id, creator_id, amount_minor, fee_minor, currency, channel, destination_masked, state, review, reviewer_id, failure_reason, created_at_ms, updated_at_ms",
    at: "created_at_ms",
    key: "id",
    columns: { id: "id", creatorId: "creator_id", state: "state" },
    states: ["requested", "approved", "rejected", "paying", "paid", "failed"],
    ownerOf: (r) => String(r.creator_id),
  },
};

const CREATORS: KindSql = {
  from: "creators c LEFT JOIN rooms r ON r.creator_id = c.user_id",
  select:
    "c.user_id, c.display_name, c.platform_share_bps, c.risk_hold, c.risk_hold_reason, c.locale, c.created_at_ms, r.id AS room_id, r.status AS room_status",
  at: "c.created_at_ms",
  key: "c.user_id",
  columns: { id: "c.user_id", userId: "c.user_id", creatorId: "c.user_id", roomId: "r.id" },
  // A creator's state: under risk hold or not.
  states: ["active", "held"],
};

/** Content items live in the control database (their unlocks and tips in the ledger): one statement. */
const CONTENT: KindSql = {
  from: "content_items",
  select:
    "id, creator_id, kind, title, price_minor, currency, status, partner_id, external_ref, created_by, created_at_ms, updated_at_ms",
  at: "created_at_ms",
  key: "id",
  columns: { id: "id", creatorId: "creator_id", contentKind: "kind", state: "status" },
  states: ["active", "archived"],
};

/** The filters each kind accepts (besides the date range); any other is refused. */
export const FILTERS: Record<SearchKind, readonly FilterName[]> = {
  users: ["id", "userId"],
  creators: ["id", "creatorId", "roomId", "state"],
  orders: ["id", "userId", "state"],
  tips: ["id", "userId", "creatorId", "roomId", "contentId"],
  packets: ["id", "userId", "creatorId", "roomId", "state"],
  withdrawals: ["id", "creatorId", "state"],
  refunds: ["id", "userId", "orderId", "state"],
  unlocks: ["id", "userId", "creatorId", "contentId", "state"],
  content: ["id", "creatorId", "contentKind", "state"],
};

/** The kinds whose records live in the control database (one statement), not in the ledger's shards. */
function controlSql(kind: SearchKind): KindSql | null {
  return kind === "creators" ? CREATORS : kind === "content" ? CONTENT : null;
}

/** The states a kind's `state` filter takes (none: the kind has no state). */
export function statesOf(kind: SearchKind): readonly string[] {
  return (controlSql(kind) ?? KINDS[kind as keyof typeof KINDS]).states ?? [];
}

export function userOfWallet(address: string): string {
  return address.slice("user:".length, -":wallet".length);
}

/** The value a filter compares with its column (a user id names their wallet's address). */
function filterValue(kind: SearchKind, name: FilterName, value: string): string | number {
  if (kind === "users") return accountAddress.userWallet(value);
  if (kind === "creators" && name === "state") return value === "held" ? 1 : 0;
  return value;
}

function statement(
  kind: SearchKind,
  sql: KindSql,
  filters: SearchFilters,
  cursor: SearchCursor | null,
  limit: number,
): { text: string; params: (string | number)[] } {
  const where: string[] = sql.where ? [sql.where] : [];
  const params: (string | number)[] = [];
  for (const name of FILTERS[kind]) {
    const value = filters[name];
    if (value === undefined) continue;
    const column = kind === "creators" && name === "state" ? "c.risk_hold" : sql.columns[name];
    assert(column !== undefined, `${kind} has a column for ${name}`);
    where.push(`${column} = ?`);
    params.push(filterValue(kind, name, value));
  }
  if (filters.fromMs !== undefined) {
    where.push(`${sql.at} >= ?`);
    params.push(filters.fromMs);
  }
  if (filters.toMs !== undefined) {
    where.push(`${sql.at} < ?`);
    params.push(filters.toMs);
  }
  if (cursor !== null) {
    // `(at, key) < (cursor)`, spelled so that `at <= ?` is a range on every (…, at) index: the
    // walk starts at the cursor's time, whatever the index's columns after it, and the key only
    // separates the rows of that one millisecond.
    where.push(`${sql.at} <= ? AND (${sql.at} < ? OR ${sql.key} < ?)`);
    params.push(cursor.atMs, cursor.atMs, cursor.id);
  }
  params.push(limit + 1);
  const text = `SELECT ${sql.select}, ${sql.at} AS search_at_ms, ${sql.key} AS search_key FROM ${sql.from}
    ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
    ORDER BY ${sql.at} DESC, ${sql.key} DESC LIMIT ?`;
  return { text, params };
}

export interface SearchPage {
  readonly rows: SearchRow[];
  /** Where the next page starts: the last row's time and key; null at the end. */
  readonly next: SearchCursor | null;
  /** How many statements ran and the most rows any could return (the page's read bound). */
  readonly statements: number;
  readonly rowsMax: number;
  /** What the databases reported reading (D1's `rows_read`, index entries included). */
  readonly rowsRead: number;
}

type Merged = Keyed & { readonly row: SearchRow };

/** One page of `kind`, newest first, after `cursor`: every shard read once, at most `limit + 1` rows each. */
export async function searchLedger(
  ledger: Ledger,
  kind: SearchKind,
  filters: SearchFilters,
  cursor: SearchCursor | null,
  limit: number,
): Promise<SearchPage> {
  assert(Number.isInteger(limit) && limit >= 1, "a page holds at least one record");
  const sql = controlSql(kind) ?? KINDS[kind as keyof typeof KINDS];
  const resolved = await resolveCreatorRoom(ledger, kind, filters);
  if (resolved === null) return { rows: [], next: null, statements: 1, rowsMax: 0, rowsRead: 0 };
  const { text, params } = statement(kind, sql, resolved, cursor, limit);
  const sources = controlSql(kind) !== null ? [{ index: null, db: ledger.control }] : ledger.shards;
  let rowsRead = 0;
  const answers = await Promise.all(
    sources.map(async ({ index, db }) => {
      const { results, meta } = await db
        .prepare(text)
        .bind(...params)
        .all<Record<string, unknown>>();
      rowsRead += meta.rows_read ?? 0;
      return results.map((r): Merged => {
        const { search_at_ms, search_key, ...rest } = r;
        const owner = sql.ownerOf?.(rest);
        return {
          atMs: Number(search_at_ms),
          id: String(search_key),
          preferred: index === null || owner === undefined || ledger.forOwner(owner).index === index,
          row: { ...rest, shard: index },
        };
      });
    }),
  );
  const { items, more } = mergeShardPages(answers, limit);
  const last = items[items.length - 1];
  return {
    rows: items.map((m) => m.row),
    next: more && last !== undefined ? { atMs: last.atMs, id: last.id } : null,
    statements: sources.length,
    rowsMax: sources.length * (limit + 1),
    rowsRead,
  };
}

/**
 * Red packets name their room, not its creator: a creator filter becomes the creator's room
 * (one room per creator). Null when the creator has no room, or another room was asked for.
 */
async function resolveCreatorRoom(
  ledger: Ledger,
  kind: SearchKind,
  filters: SearchFilters,
): Promise<SearchFilters | null> {
  if (kind !== "packets" || filters.creatorId === undefined) return filters;
  const room = await ledger.control
    .prepare("SELECT id FROM rooms WHERE creator_id = ?")
    .bind(filters.creatorId)
    .first<{ id: string }>();
  if (room === null || (filters.roomId !== undefined && filters.roomId !== room.id)) return null;
  const { creatorId: _, ...rest } = filters;
  return { ...rest, roomId: room.id };
}

/** Which of these tips are reversed: their reversals live in the creator's shard. */
export async function reversedTips(
  ledger: Ledger,
  tips: readonly { id: string; creatorId: string }[],
): Promise<Map<string, { reversalId: string; createdAtMs: number }>> {
  const byShard = new Map<number, string[]>();
  for (const t of tips) {
    const shard = ledger.forOwner(t.creatorId).index;
    byShard.set(shard, [...(byShard.get(shard) ?? []), t.id]);
  }
  const found = new Map<string, { reversalId: string; createdAtMs: number }>();
  await Promise.all(
    [...byShard].map(async ([index, ids]) => {
      const { results } = await ledger
        .shard(index)
        .db.prepare(
          `SELECT id, tip_id, created_at_ms FROM tip_reversals WHERE tip_id IN (${ids.map(() => "?").join(", ")})`,
        )
        .bind(...ids)
        .all<{ id: string; tip_id: string; created_at_ms: number }>();
      for (const r of results) found.set(r.tip_id, { reversalId: r.id, createdAtMs: r.created_at_ms });
    }),
  );
  return found;
}
