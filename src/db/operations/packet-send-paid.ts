/**
 * Pay-to-packet: a red packet paid at the cashier. A `packet` order carries the packet its
 * sender asked for, validated and frozen when the order was made (`packet_request`); when the
 * payment is credited (payment-credit.ts, whichever path reports it) the packet is composed
 * here and runs in the credit's batch, after the credit, from the wallet just credited — the
 * same `packet_send` operation as a wallet-paid packet (packet-send.ts), so claims, expiry and
 * refunds know no difference.
 *
 * Exactly once: the packet's id is fixed by the order (`packet_<order ulid>`), it is attempted
 * only while the order has no packet outcome, and the outcome is written in the same batch. It
 * goes out only if the order is paid in this very batch and was paid while still open: money
 * that arrives after the order failed or expired is credited to the wallet (it is still the
 * payer's money) but the packet never goes out (`packet_order_lapsed`), because the payer was
 * told it did not. A packet that cannot go out when the money arrives (room ended, the room's
 * open packets at their cap, red packets paused) leaves the money in the wallet and the order
 * says why.
 */

import { z } from "zod";
import { type ErrorCode, fail, type Result } from "../../domain/errors";
import { assert, LIMITS } from "../../domain/limits";
import { AUDIENCES, SPLIT_MODES } from "../../domain/red-packet";
import { refusalFor } from "../../domain/switches";
import { type ComposedOperation, type Guard, outcomeExpression } from "../ledger";
import type { OrderRow } from "../reads/orders";
import type { Ledger, LedgerShard } from "../shards";
import { currentSwitches } from "../switches";
import { composePacketSend, type PreparedPacket, preparePacketSend } from "./packet-send";

/** A packet order's packet as stored on the order (`packet_request`). */
export const StoredPacketOrder = z.strictObject({
  roomId: z.string().min(1).max(64),
  /** The decimal total, as the sender gave it; the order's amount is exactly this. */
  total: z.string().min(1).max(32),
  shares: z.number().int().min(1).max(LIMITS.packetSharesMax),
  split: z.enum(SPLIT_MODES),
  /** The greeting as the sender wrote it: a retry under the same Idempotency-Key is compared by it. */
  greetingAsked: z.string().max(LIMITS.packetGreetingMaxLength),
  /** The greeting the room shows (moderated at creation: shown, masked, or the default while held). */
  greeting: z.string().max(LIMITS.packetGreetingMaxLength),
  /** The sender's own greeting held for review, if it was. */
  heldGreeting: z
    .object({
      text: z.string().max(LIMITS.packetGreetingMaxLength),
      shown: z.string().max(LIMITS.packetGreetingMaxLength),
    })
    .nullable(),
  audience: z.enum(AUDIENCES),
  ttlMs: z.number().int().min(LIMITS.packetTtlMinMs).max(LIMITS.packetTtlMaxMs),
});
export type StoredPacketOrder = z.infer<typeof StoredPacketOrder>;

/** What became of a packet order's packet: sent, or the code that stopped it (the money stays in the wallet). */
export type PacketOutcome =
  | { readonly kind: "sent"; readonly packetId: string }
  | { readonly kind: "not_sent"; readonly packetId: string; readonly code: string };

/** The packet a packet order sends: one per order, whichever path reports the payment. */
export function packetIdFor(orderId: string): string {
  assert(orderId.startsWith("order_"), "a packet order's id is an order id");
  return `packet_${orderId.slice("order_".length)}`;
}

/**
 * Everything a packet needs from outside its shard, read and admitted now (nothing moves):
 * the room live, its open packets under the cap, the split admissible, red packets not
 * paused. Used when the order is made (to refuse a packet that could not go out) and again
 * when it is paid (the room may have ended since).
 */
export async function preparePaidPacket(
  ledger: Ledger,
  packetId: string,
  senderId: string,
  ask: StoredPacketOrder,
  switchCacheTtlMs: number,
  nowMs: number,
): Promise<Result<PreparedPacket, ErrorCode>> {
  const paused = refusalFor(
    await currentSwitches(ledger.control, switchCacheTtlMs),
    { kind: "packet_send", roomId: ask.roomId },
    nowMs,
  );
  if (paused !== null) return fail(paused.code);
  return preparePacketSend(
    ledger,
    {
      id: packetId,
      roomId: ask.roomId,
      senderId,
      total: ask.total,
      subsidyId: null,
      shares: ask.shares,
      split: ask.split,
      greeting: ask.greeting,
      heldGreeting: ask.heldGreeting,
      audience: ask.audience,
      ttlMs: ask.ttlMs,
    },
    nowMs,
  );
}

export interface PaidPacket {
  readonly packetId: string;
  readonly composed: ComposedOperation | null;
  /** The packet's statements and the one that records its outcome, to follow the credit's in its batch. */
  readonly statements: readonly D1PreparedStatement[];
}

/**
 * The packet's part of the credit's batch. Must follow the credit's statements: its guards read
 * the order as the credit left it.
 */
export async function composePaidPacket(
  ledger: Ledger,
  shard: LedgerShard,
  order: OrderRow,
  switchCacheTtlMs: number,
  nowMs: number,
): Promise<PaidPacket> {
  const { db } = shard;
  assert(order.kind === "packet", "only a packet order sends a packet");
  const packetId = packetIdFor(order.id);
  // Decided by an earlier delivery: its guard would refuse it anyway; nothing to read or write.
  if (order.packet_outcome !== null) return { packetId, composed: null, statements: [] };
  const ask = StoredPacketOrder.parse(JSON.parse(order.packet_request ?? "null"));
  const prepared = await preparePaidPacket(ledger, packetId, order.user_id, ask, switchCacheTtlMs, nowMs);
  // The order's guards come first: a packet that lost its chance says so, whatever else holds.
  const guards: Guard[] = [
    {
      code: "packet_already_decided",
      sql: "EXISTS (SELECT 1 FROM payment_orders WHERE id = ? AND packet_outcome IS NULL)",
      params: [order.id],
    },
    {
      code: "packet_order_unpaid",
      sql: "EXISTS (SELECT 1 FROM payment_orders WHERE id = ? AND state = 'succeeded')",
      params: [order.id],
    },
    {
      // The order's one move to `succeeded` (written by the credit, just before) came from an open state.
      code: "packet_order_lapsed",
      sql: `EXISTS (SELECT 1 FROM payment_order_transitions
                    WHERE order_id = ? AND to_state = 'succeeded' AND from_state IN ('created', 'pending'))`,
      params: [order.id],
    },
  ];
  const composed = prepared.ok ? composePacketSend(shard, prepared.value, nowMs, undefined, guards) : null;
  // The outcome as a SQL value, read after the packet's own statements: `sent` once it exists,
  // else the guard that refused it; or the reason it could not even be prepared.
  const outcome = outcomeExpression(composed, "sent", prepared.ok ? null : prepared.code);
  return {
    packetId,
    composed,
    statements: [
      ...(composed?.statements ?? []),
      db
        .prepare(
          `UPDATE payment_orders SET packet_id = ?, packet_outcome = ${outcome.sql}
           WHERE id = ? AND packet_outcome IS NULL AND state = 'succeeded'`,
        )
        .bind(packetId, ...outcome.params, order.id),
    ],
  };
}

/** The outcome the credit's batch recorded, as the caller is told it. */
export function packetOutcomeOf(packetId: string, recorded: string | null | undefined): PacketOutcome {
  return recorded === "sent" ? { kind: "sent", packetId } : { kind: "not_sent", packetId, code: recorded ?? "unknown" };
}
