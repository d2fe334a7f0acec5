import type { ChannelEvent, ChannelName, MerchantCheck } from "../channels/channel";
import { mismatched } from "../channels/channel";
import { accountAddress } from "../domain/accounts";
import { newId } from "../domain/ids";
import { assert, isSafeAmountMinor, LIMITS } from "../domain/limits";
import type { Currency } from "../domain/money";
import {
  CREDITABLE_STATES,
  canTransition,
  OPEN_STATES,
  type OrderKind,
  type OrderState,
  type TransitionCause,
} from "../domain/order";
import { type ComposedOperation, composeOperation, type Guard } from "./ledger";

/**
 * Payment orders in D1. The credit of a successful payment is one ledger operation whose id
 * is the order id (channel clearing → the payer's wallet), posted in the same batch as the
 * order's move to `succeeded`, its transition row and the provider transaction id: however
 * often and by whichever path a payment is reported, the order is credited once.
 */

export interface OrderRow {
  id: string;
  kind: OrderKind;
  user_id: string;
  channel: ChannelName;
  currency: Currency;
  amount_minor: number;
  state: OrderState;
  provider_txn_id: string | null;
  refunded_minor: number;
  idempotency_key: string;
  created_at_ms: number;
  expires_at_ms: number;
  updated_at_ms: number;
  transition_count: number;
  method: string | null;
  provider_ref: string | null;
  payer_step: string | null;
  tip_request: string | null;
  tip_id: string | null;
  tip_outcome: string | null;
  query_attempts: number;
  next_query_at_ms: number | null;
}

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
}

/**
 * Creates the order once per (user, idempotency key) and returns the stored order either
 * way, in one batch: a repeated key finds the first order, never a second one.
 */
export async function createOrder(db: D1Database, order: NewOrder): Promise<{ row: OrderRow; created: boolean }> {
  assert(
    isSafeAmountMinor(order.amountMinor) && order.amountMinor <= LIMITS.orderAmountMaxMinor,
    "order amount bounded",
  );
  const id = newId("order", order.nowMs);
  const results = await db.batch([
    db
      .prepare(
        `INSERT INTO payment_orders (id, kind, user_id, channel, currency, amount_minor, state, idempotency_key,
           created_at_ms, expires_at_ms, updated_at_ms, transition_count, method, tip_request, next_query_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, 'created', ?, ?, ?, ?, 1, ?, ?, ?)
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
  return { row, created: (results[0]?.meta.changes ?? 0) === 1 };
}

export function findOrder(db: D1Database, id: string): Promise<OrderRow | null> {
  return db.prepare("SELECT * FROM payment_orders WHERE id = ?").bind(id).first<OrderRow>();
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
  const onChannel: Guard = {
    code: "conflict",
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

/** Open orders whose next query is due, oldest first. */
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

/** Statements that move an order from one of `from` to `to`, with its transition row, only if it is there. */
function transitionStatements(
  db: D1Database,
  orderId: string,
  from: readonly OrderState[],
  to: OrderState,
  cause: TransitionCause,
  ref: string | null,
  nowMs: number,
  when: Guard | null,
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

export type PaymentOutcome =
  | { kind: "credited"; orderId: string; tip: TipOutcome | null }
  | { kind: "already_credited"; orderId: string }
  | { kind: "state_recorded"; orderId: string; state: OrderState }
  | { kind: "no_change"; orderId: string; state: OrderState }
  | { kind: "flagged"; flag: FlagKind; orderId: string | null; detail: string }
  | { kind: "ignored"; reason: string };

type FlagKind =
  | "unknown_order"
  | "channel_mismatch"
  | "merchant_mismatch"
  | "amount_mismatch"
  | "second_payment"
  | "credit_rejected"
  | "refund_unmatched"
  | "refund_rejected"
  | "refund_stuck";

/** What became of a pay-to-tip order's tip: sent (its id) or the code that stopped it. */
export type TipOutcome = { sent: true; tipId: string } | { sent: false; tipId: string; code: string };

/**
 * A pay-to-tip order's tip as an operation on the payer's wallet, composed when the payment
 * is credited (the room may have ended since the order was made). `failed` is a reason the
 * tip cannot even be composed (room gone, not live): the money then stays in the wallet.
 */
export type TipComposer = (
  order: OrderRow,
  tipId: string,
  nowMs: number,
) => Promise<{ composed: ComposedOperation } | { failed: string }>;

export interface PaymentReport {
  channel: ChannelName;
  event: ChannelEvent;
  /** The stored notification (or query) this report came from. */
  ref: string;
  cause: TransitionCause;
  nowMs: number;
  /** Needed to apply a pay-to-tip order's success. */
  composeTip?: TipComposer;
}

/**
 * Applies what a channel reported about a payment. Mismatches are flagged for operators and
 * never credited; a successful payment is credited at most once.
 */
export async function applyPaymentReport(db: D1Database, report: PaymentReport): Promise<PaymentOutcome> {
  const { event, channel, nowMs, ref } = report;
  if (event.kind === "ignored") return { kind: "ignored", reason: event.reason };
  if (event.kind === "refund") {
    const order = await findOrder(db, event.merchantOrderNo);
    // The same checks as a payment's: a refund confirmed for another merchant, or by a
    // channel the order was never on, would tell operators the payer got money back when not.
    if (order && order.channel !== channel) {
      return flag(db, "channel_mismatch", channel, order.id, ref, `order is on ${order.channel}`, nowMs);
    }
    const foreign = mismatched(event.merchant);
    if (foreign.length > 0)
      return flag(db, "merchant_mismatch", channel, order?.id ?? null, ref, describe(foreign), nowMs);
    const ours = order ? await matchRefund(db, order, event) : null;
    if (order && ours) {
      if (ours.state === "succeeded") return { kind: "no_change", orderId: order.id, state: order.state };
      await confirmRefund(db, ours.id, event.providerRefundId, ref, nowMs);
      return { kind: "state_recorded", orderId: order.id, state: "refunded" };
    }
    // A refund we never asked for (made in the provider's console, a chargeback): operators decide.
    return flag(
      db,
      "refund_unmatched",
      channel,
      order?.id ?? null,
      ref,
      `provider refund ${event.providerRefundId}`,
      nowMs,
    );
  }

  const order = await findOrder(db, event.merchantOrderNo);
  if (!order)
    return flag(db, "unknown_order", channel, null, ref, `no order ${event.merchantOrderNo.slice(0, 64)}`, nowMs);
  if (order.channel !== channel) {
    return flag(db, "channel_mismatch", channel, order.id, ref, `order is on ${order.channel}`, nowMs);
  }
  const foreign = mismatched(event.merchant);
  if (foreign.length > 0) return flag(db, "merchant_mismatch", channel, order.id, ref, describe(foreign), nowMs);
  if (event.amountMinor !== order.amount_minor || event.currency !== order.currency) {
    return flag(
      db,
      "amount_mismatch",
      channel,
      order.id,
      ref,
      `paid ${event.amountMinor} ${event.currency}, order is ${order.amount_minor} ${order.currency}`,
      nowMs,
    );
  }
  if (event.status !== "succeeded") {
    const to: OrderState = event.status === "failed" ? "failed" : "closed";
    if (!OPEN_STATES.includes(order.state)) return { kind: "no_change", orderId: order.id, state: order.state };
    const [, moved] = await db.batch(
      transitionStatements(db, order.id, OPEN_STATES, to, report.cause, ref, nowMs, null),
    );
    // Not moved: another report settled the order between the read and the batch.
    return (moved?.meta.changes ?? 0) === 1
      ? { kind: "state_recorded", orderId: order.id, state: to }
      : { kind: "no_change", orderId: order.id, state: order.state };
  }
  if (!CREDITABLE_STATES.includes(order.state) && order.provider_txn_id === event.providerTxnId) {
    // The common duplicate (a resend, a redelivery, the query path after the callback): one read, no batch.
    return { kind: "already_credited", orderId: order.id };
  }
  return creditOrder(db, order, event.providerTxnId, report);
}

async function creditOrder(
  db: D1Database,
  order: OrderRow,
  providerTxnId: string | null,
  report: PaymentReport,
): Promise<PaymentOutcome> {
  const creditable: Guard = {
    code: "internal_error", // an order credited by another path is "exists" first; failing this is a bug
    sql: `EXISTS (SELECT 1 FROM payment_orders WHERE id = ? AND state IN (${CREDITABLE_STATES.map(() => "?").join(", ")}))`,
    params: [order.id, ...CREDITABLE_STATES],
  };
  const sameTxn: Guard = {
    code: "conflict",
    sql: "NOT EXISTS (SELECT 1 FROM payment_orders WHERE channel = ? AND provider_txn_id = ? AND id <> ?)",
    params: [order.channel, providerTxnId, order.id],
  };
  const composed = composeOperation(db, {
    id: order.id,
    kind: "payment_credit",
    currency: order.currency,
    postings: [
      {
        from: accountAddress.channelClearing(order.channel),
        to: accountAddress.userWallet(order.user_id),
        amountMinor: order.amount_minor,
      },
    ],
    actorId: `channel:${order.channel}`,
    reason: null,
    metadata: { orderId: order.id, providerTxnId, ref: report.ref, cause: report.cause },
    nowMs: report.nowMs,
    guards: [creditable, sameTxn],
    extra: (posting) =>
      transitionStatements(
        db,
        order.id,
        CREDITABLE_STATES,
        "succeeded",
        report.cause,
        report.ref,
        report.nowMs,
        posting,
        { providerTxnId },
      ),
  });
  // Pay-to-tip: the tip runs in the same batch, after the credit, from the wallet just
  // credited. Its id is fixed by the order; it is attempted only while the order has no tip
  // outcome yet, and the outcome is written in the same batch, so a redelivered success can
  // never send the tip a second time (nor late, into a room that went live again).
  const tipStatements: D1PreparedStatement[] = [];
  let tipId: string | null = null;
  let tipComposed: ComposedOperation | null = null;
  if (order.kind === "tip") {
    assert(report.composeTip, "a pay-to-tip order is applied with a tip composer");
    tipId = tipIdFor(order.id);
    const tip = await report.composeTip(order, tipId, report.nowMs);
    const outcome =
      "failed" in tip
        ? { sql: "?", params: [tip.failed] }
        : {
            sql: `CASE (${tip.composed.verdictExpression.sql}) WHEN 'exists' THEN 'sent' ELSE (${tip.composed.verdictExpression.sql}) END`,
            params: [...tip.composed.verdictExpression.params, ...tip.composed.verdictExpression.params],
          };
    if ("composed" in tip) {
      tipComposed = tip.composed;
      tipStatements.push(...tip.composed.statements);
    }
    tipStatements.push(
      db
        .prepare(
          `UPDATE payment_orders SET tip_id = ?, tip_outcome = ${outcome.sql}
           WHERE id = ? AND tip_outcome IS NULL AND state = 'succeeded'`,
        )
        .bind(tipId, ...outcome.params, order.id),
    );
  }
  const results = await db.batch([
    ...composed.statements,
    ...tipStatements,
    db.prepare("SELECT provider_txn_id, tip_outcome FROM payment_orders WHERE id = ?").bind(order.id),
  ]);
  const verdict = composed.verdictFrom(results.slice(0, composed.statements.length));
  const settled = results.at(-1)?.results[0] as
    | { provider_txn_id: string | null; tip_outcome: string | null }
    | undefined;
  if (tipComposed) {
    const start = composed.statements.length;
    tipComposed.verdictFrom(results.slice(start, start + tipComposed.statements.length));
  }
  if (verdict.kind === "posted") {
    const tip: TipOutcome | null =
      tipId === null
        ? null
        : settled?.tip_outcome === "sent"
          ? { sent: true, tipId }
          : { sent: false, tipId, code: settled?.tip_outcome ?? "unknown" };
    return { kind: "credited", orderId: order.id, tip };
  }
  const raise = (kind: FlagKind, detail: string) =>
    flag(db, kind, order.channel, order.id, report.ref, detail, report.nowMs);
  if (verdict.kind === "exists") {
    const settledBy = settled?.provider_txn_id;
    // The payer paid this order twice (two transactions): the second must go back to them.
    if (settledBy && providerTxnId !== null && settledBy !== providerTxnId) {
      return raise("second_payment", `transaction ${providerTxnId} after ${settledBy}`);
    }
    return { kind: "already_credited", orderId: order.id };
  }
  if (verdict.code === "conflict")
    return raise("second_payment", `transaction ${providerTxnId} already settled another order`);
  // Money the channel took that the ledger will not take (a currency the wallet is not in, a
  // balance at its ceiling): retrying cannot change that, an operator must decide.
  return raise("credit_rejected", `the ledger refused the credit: ${verdict.code}`);
}

export interface RefundRow {
  id: string;
  order_id: string;
  amount_minor: number;
  state: "requested" | "pending" | "succeeded" | "failed";
  provider_refund_id: string | null;
  reason: string;
  actor_id: string;
  attempts: number;
  next_attempt_at_ms: number | null;
  failure: string | null;
  created_at_ms: number;
  updated_at_ms: number;
}

/**
 * Our refund a provider's refund notification is about: by the provider's refund id when we
 * have it, else (WeChat and the sandbox name this refund's amount; Alipay and Stripe the
 * running total) the oldest unconfirmed refund of that amount or completing that total.
 */
async function matchRefund(
  db: D1Database,
  order: OrderRow,
  event: Extract<ChannelEvent, { kind: "refund" }>,
): Promise<RefundRow | null> {
  const rows = (
    await db
      .prepare("SELECT * FROM payment_refunds WHERE order_id = ? AND state <> 'failed' ORDER BY created_at_ms")
      .bind(order.id)
      .all<RefundRow>()
  ).results;
  const byId = rows.find((r) => r.provider_refund_id === event.providerRefundId);
  if (byId) return byId;
  const open = rows.filter((r) => r.state === "requested" || r.state === "pending");
  if (event.amountMinor !== null) return open.find((r) => r.amount_minor === event.amountMinor) ?? null;
  if (event.refundedTotalMinor !== null) {
    let total = rows.filter((r) => r.state === "succeeded").reduce((sum, r) => sum + r.amount_minor, 0);
    for (const r of open) {
      total += r.amount_minor;
      if (total === event.refundedTotalMinor) return r;
    }
  }
  return null;
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
  const confirmed: Guard = {
    code: "conflict",
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

/**
 * The guard a pay-to-tip composer adds to the tip: the order's tip has not been decided yet.
 * With the outcome written in the same batch, the tip is attempted at most once per order.
 */
export function tipUndecidedGuard(orderId: string): Guard {
  return {
    code: "conflict",
    sql: "EXISTS (SELECT 1 FROM payment_orders WHERE id = ? AND tip_outcome IS NULL)",
    params: [orderId],
  };
}

/** The tip a pay-to-tip order sends: one per order, whichever path reports the payment. */
export function tipIdFor(orderId: string): string {
  return `tip_${orderId.slice("order_".length)}`;
}

function describe(checks: readonly MerchantCheck[]): string {
  return checks.map((c) => `${c.field} ${c.actual ?? "(missing)"} ≠ ${c.expected}`).join("; ");
}

/** Raises an operator flag once per (source, kind); the source is a notification, query or refund id. */
export async function flag(
  db: D1Database,
  kind: FlagKind,
  channel: ChannelName,
  orderId: string | null,
  notificationId: string,
  detail: string,
  nowMs: number,
): Promise<PaymentOutcome> {
  await db
    .prepare(
      `INSERT INTO payment_flags (id, kind, channel, order_id, notification_id, detail, created_at_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (notification_id, kind) DO NOTHING`,
    )
    .bind(newId("flag", nowMs), kind, channel, orderId, notificationId, detail, nowMs)
    .run();
  return { kind: "flagged", flag: kind, orderId, detail };
}
