/**
 * Refunds of paid orders, by an operator, of what is still in the payer's wallet.
 *
 * 1. Requesting (one batch, under the operator's Idempotency-Key): the wallet pays the
 *    channel's clearing account back, the refund row is written and the order's refunded
 *    total grows, guarded so that an order never refunds more than it paid and a wallet
 *    never goes below zero (money already tipped away cannot be refunded).
 * 2. Sending: the channel is asked to refund (its own dedupe key is our refund id). A
 *    channel that does not answer is asked again on the tiered schedule; one that confirms
 *    at once settles it; one that accepts it for later is settled by its refund notification.
 * 3. A channel that refuses the refund: a new operation puts the money back in the wallet
 *    (the first is never edited), the refund fails and operators are flagged.
 *
 * A refund lives in its order's ledger shard (its `orf_` id carries the order's bucket), so
 * its id alone finds it, and every operation on it commits there, beside the payer's wallet.
 */

import type { ChannelName } from "../../channels/channel";
import { recordCall } from "../../db/channel-calls";
import { reverseRefund } from "../../db/operations/payment-refund-reversal";
import { confirmRefund, flag } from "../../db/orders";
import { findOrder, findRefund, type OrderRow, type RefundRow } from "../../db/reads/orders";
import type { LedgerShard } from "../../db/shards";
import { LIMITS } from "../../domain/limits";
import { retryDelayMs } from "../../domain/retry";
import type { Logger } from "../../platform/logger";
import type { ChannelTaskContext } from "./orders";

export type RefundContext = ChannelTaskContext;

export type RefundVerdict =
  | { readonly kind: "done"; readonly state: RefundRow["state"] }
  | { readonly kind: "retry"; readonly delayMs: number; readonly attempts: number; readonly detail: string };

/** Asks the channel to refund a requested refund, once; see the module comment. */
export async function sendRefund(ctx: RefundContext, refundId: string): Promise<RefundVerdict> {
  const shard = ctx.ledger.forId(refundId);
  const { db } = shard;
  const refund = await findRefund(db, refundId);
  if (!refund) throw new Error(`no refund ${refundId}`);
  if (refund.state !== "requested") return { kind: "done", state: refund.state };
  const order = await findOrder(db, refund.order_id);
  if (!order) throw new Error(`refund ${refundId} names no order`);
  const client = ctx.clients.get(order.channel);
  const res = client
    ? await client.refund({
        merchantOrderNo: order.id,
        providerTxnId: order.provider_txn_id,
        providerRef: order.provider_ref,
        refundNo: refund.id,
        amountMinor: refund.amount_minor,
        totalMinor: order.amount_minor,
        currency: order.currency,
        reason: refund.reason,
      })
    : ({ ok: false, failure: { kind: "unavailable", detail: `channel ${order.channel} is not enabled` } } as const);
  if (client) {
    await recordCall(
      ctx.ledger.control,
      order.channel,
      "refund",
      res.ok || res.failure.kind === "rejected",
      res.ok ? null : res.failure.detail,
      ctx.nowMs,
    );
  }
  if (res.ok) {
    if (res.value.status === "succeeded") {
      await confirmRefund(db, refund.id, res.value.providerRefundId, `refund:${refund.id}`, ctx.nowMs);
      return { kind: "done", state: "succeeded" };
    }
    // A pending refund's next look is when it would be stuck (see `flagStuckRefunds`).
    await db
      .prepare(
        `UPDATE payment_refunds SET state = 'pending', provider_refund_id = ?, next_attempt_at_ms = ?, updated_at_ms = ?
         WHERE id = ? AND state = 'requested'`,
      )
      .bind(res.value.providerRefundId, ctx.nowMs + LIMITS.refundPendingAlertMs, ctx.nowMs, refund.id)
      .run();
    return { kind: "done", state: "pending" };
  }
  if (res.failure.kind === "rejected") {
    await refused(shard, ctx.ledger.control, order, refund, `${res.failure.code}: ${res.failure.detail}`, ctx.nowMs);
    ctx.log.error("alert_payment_refund_rejected", { refundId, orderId: order.id, ...res.failure });
    return { kind: "done", state: "failed" };
  }
  const attempts = refund.attempts + 1;
  const delayMs = retryDelayMs("channelCall", attempts, ctx.random());
  await db
    .prepare(
      "UPDATE payment_refunds SET attempts = ?, next_attempt_at_ms = ?, updated_at_ms = ? WHERE id = ? AND state = 'requested'",
    )
    .bind(attempts, ctx.nowMs + delayMs, ctx.nowMs, refund.id)
    .run();
  return { kind: "retry", delayMs, attempts, detail: res.failure.detail };
}

/** The channel refused: the money goes back to the wallet by a reversal, exactly once, and operators are flagged. */
async function refused(
  shard: LedgerShard,
  control: D1Database,
  order: OrderRow,
  refund: RefundRow,
  why: string,
  nowMs: number,
): Promise<void> {
  await reverseRefund(shard, order, refund, why, nowMs);
  await flag(control, "refund_rejected", order.channel, order.id, refund.id, why.slice(0, 500), nowMs);
}

/** Requested refunds of one shard whose (next) sending is due, oldest first. */
export async function refundsDue(db: D1Database, nowMs: number, limit: number): Promise<string[]> {
  const rows = await db
    .prepare(
      `SELECT id FROM payment_refunds WHERE state = 'requested' AND next_attempt_at_ms <= ?
       ORDER BY next_attempt_at_ms LIMIT ?`,
    )
    .bind(nowMs, limit)
    .all<{ id: string }>();
  return rows.results.map((r) => r.id);
}

/**
 * Refunds of one shard still `pending` a day after the channel accepted them (a notification
 * that never came, a refund the channel closed or could not pay out): flagged once each for
 * operators, with the wallet's money still held by the refund. Returns how many were flagged.
 *
 * A pending refund's `next_attempt_at_ms` is when it becomes stuck (set when the channel
 * accepts it), and is cleared once it is flagged: the flags are in the control database, out
 * of reach of a query on the shard, so the shard's row itself records that it was flagged,
 * and each run reads only refunds newly stuck. A crash between the two writes flags again,
 * which the flag's uniqueness per (refund, kind) makes a no-op.
 */
export async function flagStuckRefunds(
  shard: LedgerShard,
  control: D1Database,
  nowMs: number,
  log: Logger,
  limit: number,
): Promise<number> {
  const { db } = shard;
  const rows = await db
    .prepare(
      `SELECT r.id, r.order_id, o.channel FROM payment_refunds r JOIN payment_orders o ON o.id = r.order_id
       WHERE r.state = 'pending' AND r.next_attempt_at_ms < ?
       ORDER BY r.next_attempt_at_ms LIMIT ?`,
    )
    .bind(nowMs, limit)
    .all<{ id: string; order_id: string; channel: ChannelName }>();
  for (const r of rows.results) {
    await flag(control, "refund_stuck", r.channel, r.order_id, r.id, "pending at the channel for over a day", nowMs);
    await db
      .prepare("UPDATE payment_refunds SET next_attempt_at_ms = NULL WHERE id = ? AND state = 'pending'")
      .bind(r.id)
      .run();
    log.error("alert_payment_refund_stuck", { refundId: r.id, orderId: r.order_id, channel: r.channel });
  }
  return rows.results.length;
}
