/**
 * Payment orders and their refunds as stored (src/db/orders.ts writes them). Both live in the
 * payer's ledger shard: an order's id carries the payer's bucket, a refund's id the order's
 * (`newOwnedId`), so either id alone finds its shard.
 */

import type { ChannelName } from "../../channels/channel";
import { isId } from "../../domain/ids";
import type { Currency } from "../../domain/money";
import type { OrderKind, OrderState } from "../../domain/order";
import type { Ledger, LedgerShard } from "../shards";

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
  packet_request: string | null;
  packet_id: string | null;
  packet_outcome: string | null;
  unlock_content_id: string | null;
  unlock_id: string | null;
  unlock_outcome: string | null;
  query_attempts: number;
  next_query_at_ms: number | null;
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
 * The shard an order id routes to, or null for a string that is not an order id (a merchant
 * order number a channel reports may be anything: it is then not ours).
 */
export function shardOfOrder(ledger: Ledger, orderId: string): LedgerShard | null {
  return isId("order", orderId) ? ledger.forId(orderId) : null;
}

export function findOrder(db: D1Database, id: string): Promise<OrderRow | null> {
  return db.prepare("SELECT * FROM payment_orders WHERE id = ?").bind(id).first<OrderRow>();
}

export function findRefund(db: D1Database, id: string): Promise<RefundRow | null> {
  return db.prepare("SELECT * FROM payment_refunds WHERE id = ?").bind(id).first<RefundRow>();
}

/** An order's refunds, oldest first (all of them unless `limit` is given). */
export async function refundsOf(db: D1Database, orderId: string, limit = -1): Promise<RefundRow[]> {
  const rows = await db
    .prepare("SELECT * FROM payment_refunds WHERE order_id = ? ORDER BY created_at_ms LIMIT ?")
    .bind(orderId, limit)
    .all<RefundRow>();
  return rows.results;
}
