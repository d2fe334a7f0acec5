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
import { composeOperation, type Guard, runOperation } from "./ledger";

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
  /** Open it with the channel at once (created → pending) in the same batch. */
  opened: boolean;
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
           created_at_ms, expires_at_ms, updated_at_ms, transition_count)
         VALUES (?, ?, ?, ?, ?, ?, 'created', ?, ?, ?, ?, 1)
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
      ),
    db
      .prepare(
        `INSERT INTO payment_order_transitions (order_id, seq, from_state, to_state, cause, ref, at_ms)
         SELECT ?, 0, NULL, 'created', 'created', NULL, ? WHERE changes() = 1`,
      )
      .bind(id, order.nowMs),
    // Only the order this batch inserted can be opened: an earlier one under the key has another id.
    ...(order.opened
      ? transitionStatements(db, id, ["created"], "pending", "channel_opened", null, order.nowMs, null)
      : []),
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
  set: { providerTxnId?: string | null } = {},
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
           provider_txn_id = COALESCE(?, provider_txn_id)
         WHERE id = ? AND ${inFrom}${whenSql}`,
      )
      .bind(to, nowMs, set.providerTxnId ?? null, orderId, ...from, ...whenParams),
  ];
}

export type PaymentOutcome =
  | { kind: "credited"; orderId: string }
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
  | "refund_unmatched";

export interface PaymentReport {
  channel: ChannelName;
  event: ChannelEvent;
  /** The stored notification (or query) this report came from. */
  ref: string;
  cause: TransitionCause;
  nowMs: number;
}

/**
 * Applies what a channel reported about a payment. Mismatches are flagged for operators and
 * never credited; a successful payment is credited at most once.
 */
export async function applyPaymentReport(db: D1Database, report: PaymentReport): Promise<PaymentOutcome> {
  const { event, channel, nowMs, ref } = report;
  if (event.kind === "ignored") return { kind: "ignored", reason: event.reason };
  if (event.kind === "refund") {
    // Channel-side refunds are matched by reconciliation; here they are surfaced to operators.
    const order = await findOrder(db, event.merchantOrderNo);
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
  const { verdict, afterResults } = await runOperation(db, composed, [
    db.prepare("SELECT provider_txn_id FROM payment_orders WHERE id = ?").bind(order.id),
  ]);
  if (verdict.kind === "posted") return { kind: "credited", orderId: order.id };
  const raise = (kind: FlagKind, detail: string) =>
    flag(db, kind, order.channel, order.id, report.ref, detail, report.nowMs);
  if (verdict.kind === "exists") {
    const settledBy = (afterResults[0]?.results[0] as { provider_txn_id: string | null } | undefined)?.provider_txn_id;
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

function describe(checks: readonly MerchantCheck[]): string {
  return checks.map((c) => `${c.field} ${c.actual ?? "(missing)"} ≠ ${c.expected}`).join("; ");
}

async function flag(
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
