/**
 * payment_refund: an operator refunds (part of) a paid order from what is still in the
 * payer's wallet, wallet → channel clearing, at the moment the refund is requested.
 *
 * The refund row is written and the order's refunded total grows in the same batch, guarded
 * so that an order never refunds more than it paid; the wallet's own guard means money
 * already tipped away cannot be refunded. Asking the channel comes after (the refund queue,
 * src/worker/payments/refunds.ts); a channel that refuses is answered by a reversal
 * (payment-refund-reversal.ts), never by editing this operation.
 */

import { accountAddress } from "../../domain/accounts";
import { type Attach, type ComposedOperation, composeOperation, type Guard } from "../ledger";
import type { OrderRow } from "../reads/orders";
import type { LedgerShard } from "../shards";

export interface RefundRequest {
  readonly id: string;
  readonly order: OrderRow;
  readonly amountMinor: number;
  readonly reason: string;
  readonly actorId: string;
  /** When the sweeper sends the refund to the channel if the queue did not. */
  readonly firstAttemptAtMs: number;
}

export function composeRefundRequest(
  shard: LedgerShard,
  refund: RefundRequest,
  nowMs: number,
  attach?: Attach,
): ComposedOperation {
  const { db } = shard;
  const { order } = refund;
  const refundable: Guard = {
    code: "order_not_refundable",
    sql: `EXISTS (SELECT 1 FROM payment_orders WHERE id = ? AND state IN ('succeeded', 'refunded')
            AND refunded_minor + ? <= amount_minor)`,
    params: [order.id, refund.amountMinor],
  };
  return composeOperation(shard, {
    id: refund.id,
    kind: "payment_refund",
    currency: order.currency,
    postings: [
      {
        from: accountAddress.userWallet(order.user_id),
        to: accountAddress.channelClearing(order.channel),
        amountMinor: refund.amountMinor,
      },
    ],
    actorId: refund.actorId,
    reason: refund.reason,
    metadata: { orderId: order.id, channel: order.channel },
    nowMs,
    guards: [refundable],
    extra: (posting) => [
      db
        .prepare(
          `INSERT INTO payment_refunds (id, order_id, amount_minor, state, reason, actor_id, attempts, next_attempt_at_ms,
             created_at_ms, updated_at_ms)
           SELECT ?, ?, ?, 'requested', ?, ?, 0, ?, ?, ? WHERE ${posting.sql}`,
        )
        .bind(
          refund.id,
          order.id,
          refund.amountMinor,
          refund.reason,
          refund.actorId,
          refund.firstAttemptAtMs,
          nowMs,
          nowMs,
          ...posting.params,
        ),
      db
        .prepare(
          `UPDATE payment_orders SET refunded_minor = refunded_minor + ?, updated_at_ms = ? WHERE id = ? AND ${posting.sql}`,
        )
        .bind(refund.amountMinor, nowMs, order.id, ...posting.params),
    ],
    attach,
  });
}
