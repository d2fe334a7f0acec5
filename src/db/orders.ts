/**
 * Payment orders in D1: creation (once per user and Idempotency-Key), the moves between
 * states with a transition row each, and flags for operators. No money moves here: the
 * credit of a paid order is the payment-credit operation (src/db/operations/), which moves
 * the order to `succeeded` in its own batch with these transition statements.
 *
 * An order, its transitions and its refunds live in the payer's ledger shard, beside the
 * wallet its credit goes to; every function here but `createOrder` and `flag` is given that
 * shard's database. Flags are for operators, who read them in one place: the control database.
 */

import type { ChannelName } from "../channels/channel";
import { newId, newOwnedId } from "../domain/ids";
import { assert, isSafeAmountMinor, LIMITS } from "../domain/limits";
import type { Currency } from "../domain/money";
import { canTransition, OPEN_STATES, type OrderKind, type OrderState, type TransitionCause } from "../domain/order";
import type { PaymentFlagKind } from "../domain/payment-report";
import type { SqlCondition } from "./ledger";
import type { OrderRow } from "./reads/orders";
import type { Ledger, LedgerShard } from "./shards";

export interface NewOrder {
  kind: OrderKind;
  userId: string;
  channel: ChannelName;
  currency: Currency;
  amountMinor: number;
  idempotencyKey: string;
  nowMs: number;
  expiresAtMs: number;
  method: string | null;
  /** Pay-to-tip: the tip to send once paid (JSON of the tip request and its room). */
  tipRequest: string | null;
  /** Cashier-paid red packet: the packet to send once paid (JSON, `StoredPacketOrder` in operations/packet-send-paid.ts). */
  packetRequest?: string | null;
  /** Pay-to-unlock: the content item to unlock once paid (the order's amount is its price now). */
  unlockContentId?: string | null;
}

/**
 * Creates the order once per (user, idempotency key) and returns the stored order either
 * way, in one batch: a repeated key finds the first order, never a second one. The order is
 * made in the payer's shard and its id carries the payer's bucket, so a callback that names
 * only the order finds it (`ledger.forId`).
 */
export async function createOrder(
  ledger: Ledger,
  order: NewOrder,
): Promise<{ row: OrderRow; created: boolean; shard: LedgerShard }> {
  assert(
    isSafeAmountMinor(order.amountMinor) && order.amountMinor <= LIMITS.orderAmountMaxMinor,
    "order amount bounded",
  );
  const shard = ledger.forOwner(order.userId);
  const { db } = shard;
  const id = newOwnedId("order", ledger.bucketOf(order.userId), order.nowMs);
  const results = await db.batch([
    db
      .prepare(
        `INSERT INTO payment_orders (id, kind, user_id, channel, currency, amount_minor, state, idempotency_key,
           created_at_ms, expires_at_ms, updated_at_ms, transition_count, method, tip_request, packet_request,
           unlock_content_id, next_query_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, 'created', ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)
         ON CONFLICT (user_id, idempotency_key) DO NOTHING`,
      )
      .bind(
        id,
        order.kind,
        order.userId,
        order.channel,
        order.currency,
        order.amountMinor,
        order.idempotencyKey,
        order.nowMs,
        order.expiresAtMs,
        order.nowMs,
        order.method,
        order.tipRequest,
        order.packetRequest ?? null,
        order.unlockContentId ?? null,
        // The sweeper asks the channel once the order's deadline passes (and the delayed query message does too).
        order.expiresAtMs,
      ),
    db
      .prepare(
        `INSERT INTO payment_order_transitions (order_id, seq, from_state, to_state, cause, ref, at_ms)
         SELECT ?, 0, NULL, 'created', 'created', NULL, ? WHERE changes() = 1`,
      )
      .bind(id, order.nowMs),
    db
      .prepare("SELECT * FROM payment_orders WHERE user_id = ? AND idempotency_key = ?")
      .bind(order.userId, order.idempotencyKey),
  ]);
  const row = results.at(-1)?.results[0] as OrderRow | undefined;
  assert(row, "the order exists after its insert");
  return { row, created: (results[0]?.meta.changes ?? 0) === 1, shard };
}

/**
 * The channel opened the payment: created → pending, with what the payer does next. Only on
 * the channel the order is on, so a failover that moved it meanwhile is not overwritten.
 */
export async function markOpened(
  db: D1Database,
  order: { id: string; channel: ChannelName },
  opened: { providerRef: string | null; payerStep: string; ref: string | null },
  nowMs: number,
): Promise<boolean> {
  const onChannel: SqlCondition = {
    sql: "channel = ?",
    params: [order.channel],
  };
  const [, moved] = await db.batch(
    transitionStatements(db, order.id, ["created"], "pending", "channel_opened", opened.ref, nowMs, onChannel, {
      providerRef: opened.providerRef,
      payerStep: opened.payerStep,
    }),
  );
  return (moved?.meta.changes ?? 0) === 1;
}

/**
 * Failover: moves an order that no channel has opened yet to the method's next channel. An
 * order that is no longer `created` (another request opened it) stays where it is.
 */
export async function moveToChannel(
  db: D1Database,
  orderId: string,
  from: ChannelName,
  to: ChannelName,
  nowMs: number,
): Promise<boolean> {
  const res = await db
    .prepare(
      "UPDATE payment_orders SET channel = ?, updated_at_ms = ? WHERE id = ? AND state = 'created' AND channel = ?",
    )
    .bind(to, nowMs, orderId, from)
    .run();
  return res.meta.changes === 1;
}

/** Moves an order still waiting for its payment to `failed` or `closed`; false if it had moved on. */
export async function settleUnpaid(
  db: D1Database,
  orderId: string,
  to: "failed" | "closed",
  cause: TransitionCause,
  ref: string | null,
  nowMs: number,
): Promise<boolean> {
  const [, moved] = await db.batch([
    ...transitionStatements(db, orderId, OPEN_STATES, to, cause, ref, nowMs, null),
    db.prepare("UPDATE payment_orders SET next_query_at_ms = NULL WHERE id = ? AND state = ?").bind(orderId, to),
  ]);
  return (moved?.meta.changes ?? 0) === 1;
}

/** When to ask the channel about this order next (null: never again), and how many asks failed. */
export async function scheduleQuery(
  db: D1Database,
  orderId: string,
  nextAtMs: number | null,
  attempts: number,
): Promise<void> {
  await db
    .prepare("UPDATE payment_orders SET next_query_at_ms = ?, query_attempts = ? WHERE id = ?")
    .bind(nextAtMs, attempts, orderId)
    .run();
}

/** Open orders of one shard whose next query is due, oldest first (the sweep asks every shard). */
export async function dueForQuery(db: D1Database, nowMs: number, limit: number): Promise<string[]> {
  const rows = await db
    .prepare(
      `SELECT id FROM payment_orders WHERE next_query_at_ms <= ? AND state IN ('created', 'pending')
       ORDER BY next_query_at_ms LIMIT ?`,
    )
    .bind(nowMs, limit)
    .all<{ id: string }>();
  return rows.results.map((r) => r.id);
}

/**
 * Statements that move an order from one of `from` to `to`, with its transition row, only if
 * it is there (and `when` holds: the payment-credit operation passes its posting condition).
 */
export function transitionStatements(
  db: D1Database,
  orderId: string,
  from: readonly OrderState[],
  to: OrderState,
  cause: TransitionCause,
  ref: string | null,
  nowMs: number,
  when: SqlCondition | null,
  set: { providerTxnId?: string | null; providerRef?: string | null; payerStep?: string | null } = {},
): D1PreparedStatement[] {
  for (const f of from) if (!canTransition(f, to)) throw new Error(`no transition ${f} → ${to}`);
  const inFrom = `state IN (${from.map(() => "?").join(", ")})`;
  const whenSql = when ? ` AND ${when.sql}` : "";
  const whenParams = when ? when.params : [];
  return [
    db
      .prepare(
        `INSERT INTO payment_order_transitions (order_id, seq, from_state, to_state, cause, ref, at_ms)
         SELECT id, transition_count, state, ?, ?, ?, ? FROM payment_orders WHERE id = ? AND ${inFrom}${whenSql}`,
      )
      .bind(to, cause, ref, nowMs, orderId, ...from, ...whenParams),
    db
      .prepare(
        `UPDATE payment_orders SET state = ?, updated_at_ms = ?, transition_count = transition_count + 1,
           provider_txn_id = COALESCE(?, provider_txn_id), provider_ref = COALESCE(?, provider_ref),
           payer_step = COALESCE(?, payer_step)
         WHERE id = ? AND ${inFrom}${whenSql}`,
      )
      .bind(
        to,
        nowMs,
        set.providerTxnId ?? null,
        set.providerRef ?? null,
        set.payerStep ?? null,
        orderId,
        ...from,
        ...whenParams,
      ),
  ];
}

/** The channel confirmed our refund: it succeeds, and the order records that it was refunded. */
export async function confirmRefund(
  db: D1Database,
  refundId: string,
  providerRefundId: string,
  ref: string,
  nowMs: number,
): Promise<void> {
  const refund = await db
    .prepare("SELECT order_id FROM payment_refunds WHERE id = ?")
    .bind(refundId)
    .first<{ order_id: string }>();
  assert(refund, "the refund exists");
  const confirmed: SqlCondition = {
    sql: "EXISTS (SELECT 1 FROM payment_refunds WHERE id = ? AND state = 'succeeded' AND updated_at_ms = ?)",
    params: [refundId, nowMs],
  };
  await db.batch([
    db
      .prepare(
        `UPDATE payment_refunds SET state = 'succeeded', provider_refund_id = ?, updated_at_ms = ?, next_attempt_at_ms = NULL
         WHERE id = ? AND state IN ('requested', 'pending')`,
      )
      .bind(providerRefundId, nowMs, refundId),
    ...transitionStatements(
      db,
      refund.order_id,
      ["succeeded", "refunded"],
      "refunded",
      "refund",
      ref,
      nowMs,
      confirmed,
    ),
  ]);
}

/** A report operators must look at, raised once per (source, kind). */
export interface Flagged {
  readonly kind: "flagged";
  readonly flag: PaymentFlagKind;
  readonly orderId: string | null;
  readonly detail: string;
}

/**
 * Raises an operator flag once per (source, kind); the source is a notification, query or
 * refund id. Flags are kept in the control database, whichever shard the order is in.
 */
export async function flag(
  control: D1Database,
  kind: PaymentFlagKind,
  channel: ChannelName,
  orderId: string | null,
  notificationId: string,
  detail: string,
  nowMs: number,
): Promise<Flagged> {
  await control
    .prepare(
      `INSERT INTO payment_flags (id, kind, channel, order_id, notification_id, detail, created_at_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (notification_id, kind) DO NOTHING`,
    )
    .bind(newId("flag", nowMs), kind, channel, orderId, notificationId, detail, nowMs)
    .run();
  return { kind: "flagged", flag: kind, orderId, detail };
}
