import { accountAddress } from "../../domain/accounts";
import { composeOperation, runOperation, type Verdict } from "../ledger";
import type { OrderRow, RefundRow } from "../reads/orders";
import type { LedgerShard } from "../shards";

/**
 * payment_refund_reversal: the channel refused a refund, so its money goes back to the
 * payer's wallet, channel clearing → wallet, by a new operation (the request is never
 * edited). Its id is fixed by the refund (`…_reversal`) and it posts only while the refund
 * is still `requested`, so a refusal reported twice returns the money once; the refund fails
 * and the order's refunded total shrinks in the same batch.
 */
function reversalIdFor(refundId: string): string {
  return `${refundId}_reversal`;
}

export async function reverseRefund(
  shard: LedgerShard,
  order: OrderRow,
  refund: RefundRow,
  why: string,
  nowMs: number,
): Promise<Verdict> {
  const { db } = shard;
  const reason = why.slice(0, 500);
  const composed = composeOperation(shard, {
    id: reversalIdFor(refund.id),
    kind: "payment_refund_reversal",
    currency: order.currency,
    postings: [
      {
        from: accountAddress.channelClearing(order.channel),
        to: accountAddress.userWallet(order.user_id),
        amountMinor: refund.amount_minor,
      },
    ],
    actorId: `channel:${order.channel}`,
    reason,
    metadata: { orderId: order.id, refundId: refund.id },
    nowMs,
    guards: [
      {
        code: "refund_not_requested",
        sql: "EXISTS (SELECT 1 FROM payment_refunds WHERE id = ? AND state = 'requested')",
        params: [refund.id],
      },
    ],
    extra: (posting) => [
      db
        .prepare(
          `UPDATE payment_orders SET refunded_minor = refunded_minor - ?, updated_at_ms = ? WHERE id = ? AND ${posting.sql}`,
        )
        .bind(refund.amount_minor, nowMs, order.id, ...posting.params),
      db
        .prepare(
          `UPDATE payment_refunds SET state = 'failed', failure = ?, next_attempt_at_ms = NULL, updated_at_ms = ?
           WHERE id = ? AND ${posting.sql}`,
        )
        .bind(reason, nowMs, refund.id, ...posting.params),
    ],
  });
  const { verdict } = await runOperation(shard, composed);
  return verdict;
}
