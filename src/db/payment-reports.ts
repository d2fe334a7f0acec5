/**
 * Applies what a channel reported about one of our payments or refunds, from a callback, an
 * active query or a reconciliation: judged in the domain (domain/payment-report.ts), carried
 * out here. Mismatches are flagged for operators and never credited; a successful payment is
 * credited at most once (the payment-credit operation).
 *
 * The report names our order only by its merchant order number, which is the order's id and
 * so carries the payer's bucket: the order, its refunds and the credit are all in that one
 * shard. A number that is not one of our order ids is flagged like an unknown order. Flags go
 * to the control database, where operators read them.
 */

import type { ChannelEvent, ChannelName } from "../channels/channel";
import { OPEN_STATES, type OrderState, type TransitionCause } from "../domain/order";
import { judgePayment, judgeRefund, matchRefund, type OrderFacts } from "../domain/payment-report";
import type { PacketOutcome } from "./operations/packet-send-paid";
import { creditOrder, type TipOutcome } from "./operations/payment-credit";
import type { TipRules } from "./operations/tip";
import type { UnlockOutcome } from "./operations/unlock-paid";
import { confirmRefund, type Flagged, flag, transitionStatements } from "./orders";
import { findOrder, type OrderRow, refundsOf, shardOfOrder } from "./reads/orders";
import type { Ledger } from "./shards";

export type PaymentOutcome =
  | {
      readonly kind: "credited";
      readonly orderId: string;
      readonly tip: TipOutcome | null;
      readonly packet: PacketOutcome | null;
      readonly unlock: UnlockOutcome | null;
    }
  | { readonly kind: "already_credited"; readonly orderId: string }
  | { readonly kind: "state_recorded"; readonly orderId: string; readonly state: OrderState }
  | { readonly kind: "no_change"; readonly orderId: string; readonly state: OrderState }
  | Flagged
  | { readonly kind: "ignored"; readonly reason: string };

export interface PaymentReport {
  readonly channel: ChannelName;
  readonly event: ChannelEvent;
  /** The stored notification (or query) this report came from. */
  readonly ref: string;
  readonly cause: TransitionCause;
  readonly nowMs: number;
  /** The platform's tip rules, for a pay-to-tip order's tip. */
  readonly tipRules: TipRules;
}

function factsOf(order: OrderRow | null): OrderFacts | null {
  return order === null
    ? null
    : {
        id: order.id,
        channel: order.channel,
        amountMinor: order.amount_minor,
        currency: order.currency,
        state: order.state,
        providerTxnId: order.provider_txn_id,
      };
}

export async function applyPaymentReport(ledger: Ledger, report: PaymentReport): Promise<PaymentOutcome> {
  const { event, channel, nowMs, ref } = report;
  if (event.kind === "ignored") return { kind: "ignored", reason: event.reason };
  const shard = shardOfOrder(ledger, event.merchantOrderNo);
  const order = shard ? await findOrder(shard.db, event.merchantOrderNo) : null;
  const raise = (judged: { flag: Flagged["flag"]; detail: string }) =>
    flag(ledger.control, judged.flag, channel, order?.id ?? null, ref, judged.detail, nowMs);

  if (event.kind === "refund") {
    const judged = judgeRefund(channel, event, factsOf(order));
    if (judged.kind === "flag") return raise(judged);
    const refunds = order === null || shard === null ? [] : await refundsOf(shard.db, order.id);
    const ours = matchRefund(
      refunds.map((r) => ({
        id: r.id,
        amountMinor: r.amount_minor,
        state: r.state,
        providerRefundId: r.provider_refund_id,
      })),
      event,
    );
    if (order && shard && ours) {
      if (ours.state === "succeeded") return { kind: "no_change", orderId: order.id, state: order.state };
      await confirmRefund(shard.db, ours.id, event.providerRefundId, ref, nowMs);
      return { kind: "state_recorded", orderId: order.id, state: "refunded" };
    }
    // A refund we never asked for (made in the provider's console, a chargeback): operators decide.
    return raise({ flag: "refund_unmatched", detail: `provider refund ${event.providerRefundId}` });
  }

  const judged = judgePayment(channel, event, factsOf(order));
  if (judged.kind === "flag") return raise(judged);
  if (order === null || shard === null) throw new Error("a payment judged on no order is flagged");
  const { db } = shard;
  switch (judged.kind) {
    case "no_change":
      return { kind: "no_change", orderId: order.id, state: order.state };
    case "already_credited":
      // The common duplicate (a resend, a redelivery, the query path after the callback): one read, no batch.
      return { kind: "already_credited", orderId: order.id };
    case "settle_unpaid": {
      const [, moved] = await db.batch(
        transitionStatements(db, order.id, OPEN_STATES, judged.to, report.cause, ref, nowMs, null),
      );
      // Not moved: another report settled the order between the read and the batch.
      return (moved?.meta.changes ?? 0) === 1
        ? { kind: "state_recorded", orderId: order.id, state: judged.to }
        : { kind: "no_change", orderId: order.id, state: order.state };
    }
    case "credit":
      break;
  }
  const credited = await creditOrder(
    ledger,
    shard,
    { order, providerTxnId: event.providerTxnId, ref, cause: report.cause, tipRules: report.tipRules },
    nowMs,
  );
  switch (credited.kind) {
    case "credited":
      return {
        kind: "credited",
        orderId: order.id,
        tip: credited.tip,
        packet: credited.packet,
        unlock: credited.unlock,
      };
    case "already_credited":
      // The payer paid this order twice (two transactions): the second must go back to them.
      if (credited.settledBy && event.providerTxnId !== null && credited.settledBy !== event.providerTxnId) {
        return raise({
          flag: "second_payment",
          detail: `transaction ${event.providerTxnId} after ${credited.settledBy}`,
        });
      }
      return { kind: "already_credited", orderId: order.id };
    case "rejected":
      if (credited.code === "provider_txn_settled_other_order") {
        return raise({
          flag: "second_payment",
          detail: `transaction ${event.providerTxnId} already settled another order`,
        });
      }
      // Money the channel took that the ledger will not take (a currency the wallet is not in, a
      // balance at its ceiling): retrying cannot change that, an operator must decide.
      return raise({ flag: "credit_rejected", detail: `the ledger refused the credit: ${credited.code}` });
  }
}
