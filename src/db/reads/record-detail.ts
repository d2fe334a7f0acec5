/**
 * The operator console's detail of one record (issue 17): the record as its shard holds it,
 * its history of transitions, and the ledger operations behind it with their transfers.
 *
 * Operations are found by reference: a record's own id is the id of the operation that moved
 * its money (a tip, an order's credit, a packet's escrow, a withdrawal's hold, a refund), and the
 * operations that follow it carry ids derived from it (a withdrawal's `:payout` / `:release`, a
 * refund's `_reversal`, a reversal's `:platform`, a packet's `refund_…`). A credit that crossed
 * to another shard is posted there as `{operation}>{shard}` (operations/transit-delivery.ts), so
 * every shard is asked for the ids and their deliveries. Bounded: a detail asks for at most
 * `DETAIL_REFS_MAX` ids, in statements of `REFS_PER_STATEMENT`; a user's or creator's detail
 * shows their last `ACCOUNT_TRANSFERS_MAX` transfers; a packet's its first `PACKET_CLAIMS_MAX`
 * claims.
 */

import { accountAddress } from "../../domain/accounts";
import { assert } from "../../domain/limits";
import type { SearchKind } from "../../domain/search";
import { platformLegId } from "../operations/tip-reversal-platform";
import { payerLegId } from "../operations/unlock-refund-payer";
import { payoutOperationId } from "../operations/withdrawal-payout";
import { releaseOperationId } from "../operations/withdrawal-release";
import type { Ledger, LedgerShard } from "../shards";

export const DETAIL_REFS_MAX = 120;
const REFS_PER_STATEMENT = 25;
export const ACCOUNT_TRANSFERS_MAX = 50;
export const PACKET_CLAIMS_MAX = 100;

export interface PostingView {
  readonly id: number;
  readonly from: string;
  readonly to: string;
  readonly amountMinor: number;
  readonly currency: string;
  readonly createdAtMs: number;
}

export interface OperationView {
  readonly id: string;
  readonly kind: string;
  readonly shard: number;
  readonly amountMinor: number;
  readonly currency: string;
  readonly state: string;
  readonly actorId: string;
  readonly reason: string | null;
  readonly createdAtMs: number;
  readonly transfers: PostingView[];
}

export interface TransitionView {
  readonly seq: number | null;
  readonly from: string | null;
  readonly to: string;
  readonly cause: string;
  readonly ref: string | null;
  readonly actorId: string | null;
  readonly atMs: number;
  /** True for a row of the kind's transition table; false for a step read off the record's own times. */
  readonly recorded: boolean;
}

export interface RecordDetail {
  readonly kind: SearchKind;
  readonly id: string;
  /** The shard holding the record; null for a creator (control database). */
  readonly shard: number | null;
  readonly record: Record<string, unknown>;
  readonly transitions: TransitionView[];
  readonly operations: OperationView[];
  /** Rows that belong with it: a tip's reversal, an order's refunds, a packet's claims, balances. */
  readonly related: Record<string, unknown>;
}

type Row = Record<string, unknown>;

/** The record's row: first in the shard its id (or owner) routes to, then in the others (history a bucket move left behind). */
async function findRow(
  ledger: Ledger,
  first: LedgerShard,
  sql: string,
  id: string,
): Promise<{ shard: LedgerShard; row: Row } | null> {
  for (const shard of [first, ...ledger.shards.filter((s) => s.index !== first.index)]) {
    const row = await shard.db.prepare(sql).bind(id).first<Row>();
    if (row !== null) return { shard, row };
  }
  return null;
}

/** The shard an owned id routes to; a string that is not a giftwire id routes to shard 0 (then all are tried). */
function routeOf(ledger: Ledger, id: string): LedgerShard {
  try {
    return ledger.forId(id);
  } catch {
    return ledger.shard(0);
  }
}

interface OpJoinRow {
  id: string;
  kind: string;
  amount_minor: number;
  currency: string;
  state: string;
  actor_id: string;
  reason: string | null;
  created_at_ms: number;
  transfer_id: number | null;
  from_account: string | null;
  to_account: string | null;
  transfer_minor: number | null;
  transfer_currency: string | null;
  transfer_at_ms: number | null;
}

const OP_COLUMNS = `o.id, o.kind, o.amount_minor, o.currency, o.state, o.actor_id, o.reason, o.created_at_ms,
  t.id AS transfer_id, t.from_account, t.to_account, t.amount_minor AS transfer_minor,
  t.currency AS transfer_currency, t.created_at_ms AS transfer_at_ms`;

function groupOperations(shard: number, rows: readonly OpJoinRow[]): OperationView[] {
  const ops = new Map<string, OperationView>();
  for (const r of rows) {
    let op = ops.get(r.id);
    if (op === undefined) {
      op = {
        id: r.id,
        kind: r.kind,
        shard,
        amountMinor: r.amount_minor,
        currency: r.currency,
        state: r.state,
        actorId: r.actor_id,
        reason: r.reason,
        createdAtMs: r.created_at_ms,
        transfers: [],
      };
      ops.set(r.id, op);
    }
    if (r.transfer_id !== null) {
      op.transfers.push({
        id: r.transfer_id,
        from: r.from_account ?? "",
        to: r.to_account ?? "",
        amountMinor: r.transfer_minor ?? 0,
        currency: r.transfer_currency ?? "",
        createdAtMs: r.transfer_at_ms ?? 0,
      });
    }
  }
  return [...ops.values()];
}

/**
 * The operations with these ids, and their cross-shard deliveries (`{id}>{shard}`), in every
 * shard, each with its transfers; oldest first.
 */
export async function operationsByRef(ledger: Ledger, refs: readonly string[]): Promise<OperationView[]> {
  const unique = [...new Set(refs)];
  assert(unique.length <= DETAIL_REFS_MAX, "a detail asks for a bounded number of operations");
  if (unique.length === 0) return [];
  const chunks: string[][] = [];
  for (let at = 0; at < unique.length; at += REFS_PER_STATEMENT) chunks.push(unique.slice(at, at + REFS_PER_STATEMENT));
  const perShard = await Promise.all(
    ledger.shards.map(async (shard) => {
      const rows: OpJoinRow[] = [];
      for (const chunk of chunks) {
        // `{id}>` … `{id}?`: '?' follows '>' in ASCII, so the range holds exactly the id's deliveries.
        const deliveries = chunk.map(() => "(o.id > ? AND o.id < ?)").join(" OR ");
        const { results } = await shard.db
          .prepare(
            `SELECT ${OP_COLUMNS} FROM operations o LEFT JOIN transfers t ON t.operation_id = o.id
             WHERE o.id IN (${chunk.map(() => "?").join(", ")}) OR ${deliveries}
             ORDER BY o.created_at_ms, o.id, t.id`,
          )
          .bind(...chunk, ...chunk.flatMap((id) => [`${id}>`, `${id}?`]))
          .all<OpJoinRow>();
        rows.push(...results);
      }
      return groupOperations(shard.index, rows);
    }),
  );
  return perShard.flat().sort((a, b) => a.createdAtMs - b.createdAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The last transfers touching these accounts (one shard), grouped by their operations, newest first. */
async function accountOperations(shard: LedgerShard, addresses: readonly string[]): Promise<OperationView[]> {
  if (addresses.length === 0) return [];
  const marks = addresses.map(() => "?").join(", ");
  // Two index walks (transfers_from_id, transfers_to_id), each at most ACCOUNT_TRANSFERS_MAX rows.
  const { results: ids } = await shard.db
    .prepare(
      `SELECT operation_id, MAX(id) AS last_id FROM (
         SELECT * FROM (SELECT id, operation_id FROM transfers WHERE from_account IN (${marks}) ORDER BY id DESC LIMIT ?)
         UNION ALL
         SELECT * FROM (SELECT id, operation_id FROM transfers WHERE to_account IN (${marks}) ORDER BY id DESC LIMIT ?)
       ) GROUP BY operation_id ORDER BY last_id DESC LIMIT ?`,
    )
    .bind(...addresses, ACCOUNT_TRANSFERS_MAX, ...addresses, ACCOUNT_TRANSFERS_MAX, ACCOUNT_TRANSFERS_MAX)
    .all<{ operation_id: string }>();
  if (ids.length === 0) return [];
  const rows: OpJoinRow[] = [];
  for (let at = 0; at < ids.length; at += REFS_PER_STATEMENT) {
    const chunk = ids.slice(at, at + REFS_PER_STATEMENT).map((r) => r.operation_id);
    const { results } = await shard.db
      .prepare(
        `SELECT ${OP_COLUMNS} FROM operations o LEFT JOIN transfers t ON t.operation_id = o.id
         WHERE o.id IN (${chunk.map(() => "?").join(", ")}) ORDER BY o.created_at_ms, o.id, t.id`,
      )
      .bind(...chunk)
      .all<OpJoinRow>();
    rows.push(...results);
  }
  return groupOperations(shard.index, rows).sort((a, b) => b.createdAtMs - a.createdAtMs);
}

async function balancesOf(shard: LedgerShard, prefix: string): Promise<Row[]> {
  // `prefix` ends in ':'; ';' is the next character, so the range holds exactly its accounts.
  const { results } = await shard.db
    .prepare(
      "SELECT address, balance_minor, currency FROM accounts WHERE address >= ? AND address < ? ORDER BY address",
    )
    .bind(prefix, `${prefix.slice(0, -1)};`)
    .all<Row>();
  return results;
}

function transitionRows(rows: readonly Row[]): TransitionView[] {
  return rows.map((t) => ({
    seq: Number(t.seq),
    from: (t.from_state as string | null) ?? null,
    to: String(t.to_state),
    cause: String(t.cause),
    ref: (t.ref as string | null) ?? null,
    actorId: (t.actor_id as string | null | undefined) ?? null,
    atMs: Number(t.at_ms),
    recorded: true,
  }));
}

function derived(to: string, cause: string, atMs: number, from: string | null, ref: string | null = null) {
  return { seq: null, from, to, cause, ref, actorId: null, atMs, recorded: false } satisfies TransitionView;
}

/** One record with its history and operations, or null when no shard holds it. */
export async function recordDetail(ledger: Ledger, kind: SearchKind, id: string): Promise<RecordDetail | null> {
  switch (kind) {
    case "users": {
      const shard = ledger.forOwner(id);
      const wallet = await shard.db
        .prepare("SELECT address, balance_minor, currency, created_at_ms FROM accounts WHERE address = ?")
        .bind(accountAddress.userWallet(id))
        .first<Row>();
      if (wallet === null) return null;
      const operator = await ledger.control
        .prepare("SELECT id, status FROM operators WHERE id = ?")
        .bind(id)
        .first<Row>();
      const creator = await ledger.control.prepare("SELECT user_id FROM creators WHERE user_id = ?").bind(id).first();
      return {
        kind,
        id,
        shard: shard.index,
        record: { userId: id, ...wallet },
        transitions: [],
        operations: await accountOperations(shard, [accountAddress.userWallet(id)]),
        related: { isCreator: creator !== null, operator },
      };
    }
    case "creators": {
      const row = await ledger.control
        .prepare(
          `SELECT c.*, r.id AS room_id, r.title AS room_title, r.status AS room_status
           FROM creators c LEFT JOIN rooms r ON r.creator_id = c.user_id WHERE c.user_id = ?`,
        )
        .bind(id)
        .first<Row>();
      if (row === null) return null;
      const shard = ledger.forOwner(id);
      const balances = await balancesOf(shard, `creator:${id}:`);
      return {
        kind,
        id,
        shard: null,
        record: row,
        transitions: [],
        operations: await accountOperations(
          shard,
          balances.map((b) => String(b.address)),
        ),
        related: { ledgerShard: shard.index, balances },
      };
    }
    case "tips": {
      const found = await findRow(ledger, routeOf(ledger, id), "SELECT * FROM tips WHERE id = ?", id);
      if (found === null) return null;
      const creatorId = String(found.row.creator_id);
      const reversal = await ledger
        .forOwner(creatorId)
        .db.prepare("SELECT * FROM tip_reversals WHERE tip_id = ?")
        .bind(id)
        .first<Row>();
      const message = await found.shard.db
        .prepare("SELECT text, shown, status FROM tip_messages WHERE tip_id = ?")
        .bind(id)
        .first<Row>();
      // A tip on a content item (room null): the item it was sent on.
      const contentItem =
        typeof found.row.content_id === "string"
          ? await ledger.control
              .prepare("SELECT id, creator_id, kind, title, price_minor, status FROM content_items WHERE id = ?")
              .bind(found.row.content_id)
              .first<Row>()
          : null;
      const transitions: TransitionView[] = [derived("sent", "tip", Number(found.row.created_at_ms), null)];
      if (reversal !== null) {
        transitions.push(
          derived("reversed", String(reversal.reason), Number(reversal.created_at_ms), "sent", String(reversal.id)),
        );
      }
      const refs = reversal === null ? [id] : [id, String(reversal.id), platformLegId(String(reversal.id))];
      return {
        kind,
        id,
        shard: found.shard.index,
        record: { ...found.row, reversed: reversal !== null },
        transitions,
        operations: await operationsByRef(ledger, refs),
        related: { reversal, message, contentItem },
      };
    }
    case "orders": {
      const found = await findRow(ledger, routeOf(ledger, id), "SELECT * FROM payment_orders WHERE id = ?", id);
      if (found === null) return null;
      const { db } = found.shard;
      const { results: steps } = await db
        .prepare("SELECT * FROM payment_order_transitions WHERE order_id = ? ORDER BY seq")
        .bind(id)
        .all<Row>();
      const { results: refunds } = await db
        .prepare(
          "SELECT id, amount_minor, state, reason, actor_id, created_at_ms FROM payment_refunds WHERE order_id = ? ORDER BY created_at_ms, id LIMIT 50",
        )
        .bind(id)
        .all<Row>();
      const { tip_request: _, payer_step: __, ...record } = found.row;
      const refs = [id, ...refunds.flatMap((r) => [String(r.id), `${String(r.id)}_reversal`])];
      if (typeof found.row.tip_id === "string") refs.push(found.row.tip_id);
      return {
        kind,
        id,
        shard: found.shard.index,
        record,
        transitions: transitionRows(steps),
        operations: await operationsByRef(ledger, refs),
        related: { refunds },
      };
    }
    case "refunds": {
      const found = await findRow(ledger, routeOf(ledger, id), "SELECT * FROM payment_refunds WHERE id = ?", id);
      if (found === null) return null;
      const r = found.row;
      const order = await found.shard.db
        .prepare("SELECT id, user_id, channel, amount_minor, refunded_minor, state FROM payment_orders WHERE id = ?")
        .bind(r.order_id)
        .first<Row>();
      const transitions: TransitionView[] = [derived("requested", String(r.reason), Number(r.created_at_ms), null)];
      if (r.state !== "requested") {
        transitions.push(
          derived(String(r.state), r.failure ? String(r.failure) : "channel", Number(r.updated_at_ms), "requested"),
        );
      }
      return {
        kind,
        id,
        shard: found.shard.index,
        record: r,
        transitions,
        operations: await operationsByRef(ledger, [id, `${id}_reversal`]),
        related: { order },
      };
    }
    case "packets": {
      const found = await findRow(ledger, routeOf(ledger, id), "SELECT * FROM red_packets WHERE id = ?", id);
      if (found === null) return null;
      const { seed_hex: _, ...record } = found.row;
      const p = found.row;
      const { results: claims } = await found.shard.db
        .prepare(
          "SELECT id, user_id, claim_index, amount_minor, claimed_at_ms, credited_at_ms FROM red_packet_claims WHERE packet_id = ? ORDER BY claim_index LIMIT ?",
        )
        .bind(id, PACKET_CLAIMS_MAX)
        .all<Row>();
      const transitions: TransitionView[] = [derived("open", "send", Number(p.created_at_ms), null)];
      if (p.finished_at_ms !== null)
        transitions.push(derived(String(p.status), "finish", Number(p.finished_at_ms), "open"));
      const refs = [id, `refund_${id.slice("packet_".length)}`, ...claims.map((c) => String(c.id))];
      return {
        kind,
        id,
        shard: found.shard.index,
        // The seed stays secret until the packet is finished (docs/adr/0008).
        record: p.status === "open" ? record : found.row,
        transitions,
        operations: await operationsByRef(ledger, refs),
        related: { claims, claimsShownMax: PACKET_CLAIMS_MAX },
      };
    }
    case "withdrawals": {
      const found = await findRow(ledger, routeOf(ledger, id), "SELECT * FROM withdrawals WHERE id = ?", id);
      if (found === null) return null;
      const { results: steps } = await found.shard.db
        .prepare("SELECT * FROM withdrawal_transitions WHERE withdrawal_id = ? ORDER BY seq")
        .bind(id)
        .all<Row>();
      const { idempotency_key: _, channel_state: __, ...record } = found.row;
      return {
        kind,
        id,
        shard: found.shard.index,
        record,
        transitions: transitionRows(steps),
        operations: await operationsByRef(ledger, [id, payoutOperationId(id), releaseOperationId(id)]),
        related: {},
      };
    }
    case "unlocks":
      return unlockDetail(ledger, id);
    case "content":
      return contentDetail(ledger, id);
  }
}

/** How many of a content item's latest unlocks its detail lists. */
export const CONTENT_RECENT_UNLOCKS = 10;

/**
 * An unlock: its entitlement (the live row: a bucket move's copy if there is one, else the row
 * the unlock wrote), the unlock's operation, and its refund with both legs (the creator leg in
 * the creator's shard, the payer leg `{refund}:payer` in the payer's).
 */
async function unlockDetail(ledger: Ledger, id: string): Promise<RecordDetail | null> {
  const rows = await Promise.all(
    ledger.shards.map(async (shard) => ({
      shard,
      row: await shard.db.prepare("SELECT * FROM entitlements WHERE id = ?").bind(id).first<Row>(),
    })),
  );
  const found = rows.filter((r): r is { shard: LedgerShard; row: Row } => r.row !== null);
  const live = found.find((r) => r.row.moved_from_shard !== null) ?? found[0];
  if (live === undefined) return null;
  const e = live.row;
  const refund = await findRow(
    ledger,
    ledger.forOwner(String(e.creator_id)),
    "SELECT * FROM unlock_refunds WHERE unlock_id = ?",
    id,
  );
  const item = await ledger.control
    .prepare("SELECT id, creator_id, kind, title, price_minor, currency, status FROM content_items WHERE id = ?")
    .bind(e.content_id)
    .first<Row>();
  // A pay-to-unlock order's unlock is `unl_<order ulid>` (operations/unlock-paid.ts).
  const order = await live.shard.db
    .prepare(
      "SELECT id, kind, channel, amount_minor, refunded_minor, state, created_at_ms FROM payment_orders WHERE id = ? AND unlock_id = ?",
    )
    .bind(`order_${id.slice("unl_".length)}`, id)
    .first<Row>();
  const r = refund?.row ?? null;
  const transitions: TransitionView[] = [derived("active", "unlock", Number(e.created_at_ms), null)];
  if (e.revoked_at_ms !== null) {
    transitions.push({
      ...derived(
        "revoked",
        r ? String(r.reason) : "revoked",
        Number(e.revoked_at_ms),
        "active",
        r ? String(r.id) : null,
      ),
      actorId: r ? String(r.actor_id) : null,
    });
  }
  const refs = r === null ? [id] : [id, String(r.id), payerLegId(String(r.id))];
  return {
    kind: "unlocks",
    id,
    shard: live.shard.index,
    record: { ...e, refunded: r !== null },
    transitions,
    operations: await operationsByRef(ledger, refs),
    related: {
      refund: r === null ? null : { ...r, payerLegDone: r.payer_leg_at_ms !== null },
      contentItem: item,
      order,
      copies: found.length > 1 ? found.map((f) => ({ shard: f.shard.index, state: f.row.state })) : null,
    },
  };
}

/**
 * A content item (control database) with its figures over every ledger shard: its unlocks
 * (count and gross, the rows the unlocks wrote — a bucket move's copies are not counted twice —
 * and how many a refund revoked), its tips (count and gross), and its latest unlocks.
 */
async function contentDetail(ledger: Ledger, id: string): Promise<RecordDetail | null> {
  const item = await ledger.control.prepare("SELECT * FROM content_items WHERE id = ?").bind(id).first<Row>();
  if (item === null) return null;
  const perShard = await Promise.all(
    ledger.shards.map(async (shard) => {
      const [unlocks, tips, recent] = await shard.db.batch([
        shard.db
          .prepare(
            // A refund revokes the live row (a moved unlock's copy): counted once whichever it is.
            `SELECT COALESCE(SUM(moved_from_shard IS NULL), 0) AS n,
               COALESCE(SUM(CASE WHEN moved_from_shard IS NULL THEN amount_minor ELSE 0 END), 0) AS sum,
               COALESCE(SUM(state = 'revoked'), 0) AS revoked
             FROM entitlements WHERE content_id = ?`,
          )
          .bind(id),
        shard.db
          .prepare("SELECT COUNT(*) AS n, COALESCE(SUM(amount_minor), 0) AS sum FROM tips WHERE content_id = ?")
          .bind(id),
        shard.db
          .prepare(
            `SELECT id, user_id, amount_minor, currency, state, created_at_ms, revoked_at_ms, moved_from_shard
             FROM entitlements WHERE content_id = ? ORDER BY created_at_ms DESC, id DESC LIMIT ?`,
          )
          .bind(id, CONTENT_RECENT_UNLOCKS),
      ]);
      const first = (r: D1Result | undefined) => (r?.results[0] ?? { n: 0, sum: 0 }) as { n: number; sum: number };
      return {
        unlocks: first(unlocks),
        revoked: Number((unlocks?.results[0] as { revoked?: number } | undefined)?.revoked ?? 0),
        tips: first(tips),
        recent: (recent?.results ?? []) as Row[],
      };
    }),
  );
  // The live row of an unlock a bucket move copied is the copy (its state is the one a refund changes).
  const recentById = new Map<string, Row>();
  for (const r of perShard.flatMap((s) => s.recent)) {
    const seen = recentById.get(String(r.id));
    if (seen === undefined || r.moved_from_shard !== null) recentById.set(String(r.id), r);
  }
  const recentUnlocks = [...recentById.values()]
    .sort((a, b) => Number(b.created_at_ms) - Number(a.created_at_ms) || (String(a.id) < String(b.id) ? 1 : -1))
    .slice(0, CONTENT_RECENT_UNLOCKS);
  const sum = (pick: (s: (typeof perShard)[number]) => { n: number; sum: number }) =>
    perShard.reduce((t, s) => ({ n: t.n + Number(pick(s).n), sum: t.sum + Number(pick(s).sum) }), { n: 0, sum: 0 });
  const unlocks = sum((s) => s.unlocks);
  const tips = sum((s) => s.tips);
  const transitions: TransitionView[] = [derived("active", "create", Number(item.created_at_ms), null)];
  if (item.status === "archived") {
    transitions.push(derived("archived", "content.update", Number(item.updated_at_ms), "active"));
  }
  return {
    kind: "content",
    id,
    shard: null,
    record: item,
    transitions,
    operations: [],
    related: {
      figures: {
        unlockCount: unlocks.n,
        unlockSumMinor: unlocks.sum,
        revokedCount: perShard.reduce((t, s) => t + s.revoked, 0),
        tipCount: tips.n,
        tipSumMinor: tips.sum,
        currency: item.currency,
      },
      recentUnlocks,
    },
  };
}
