/**
 * payment_credit: a paid order's money, channel clearing → the payer's wallet.
 *
 * The operation id is the order id, and it posts in the same batch as the order's move to
 * `succeeded`, its transition row and the provider's transaction id: however often, and by
 * whichever path (callback, active query, reconciliation) a payment is reported, the order is
 * credited once. A pay-to-tip order sends its tip in the same batch, from the wallet just
 * credited (see `creditOrder`); a packet order its red packet (packet-send-paid.ts); a
 * pay-to-unlock order its unlock, entitlement and split (unlock-paid.ts).
 */

import { z } from "zod";
import { accountAddress } from "../../domain/accounts";
import type { GuardCode } from "../../domain/guards";
import { assert, LIMITS } from "../../domain/limits";
import { CREDITABLE_STATES, type TransitionCause } from "../../domain/order";
import { type ComposedOperation, composeOperation, dispatchPosted, type Guard, outcomeExpression } from "../ledger";
import { transitionStatements } from "../orders";
import type { OrderRow } from "../reads/orders";
import type { Ledger, LedgerShard } from "../shards";
import { composePaidPacket, type PacketOutcome, packetOutcomeOf } from "./packet-send-paid";
import { composeTip, prepareTip, type RatedTip, rateTip, type TipRules } from "./tip";
import { composePaidUnlock, type UnlockOutcome, unlockOutcomeOf } from "./unlock-paid";

/** A pay-to-tip order's tip as stored on the order (`tip_request`): the room and what was asked. */
const StoredTipOrder = z.intersection(
  z.object({ roomId: z.string().min(1).max(64), confirmed: z.boolean().optional() }),
  z.discriminatedUnion("kind", [
    z.object({
      kind: z.literal("gift"),
      giftId: z.string().min(1).max(32),
      quantity: z.number().int().min(1).max(LIMITS.giftQuantityMax),
    }),
    z.object({ kind: z.literal("custom"), amount: z.string().min(1).max(32) }),
  ]),
);

/** What became of a pay-to-tip order's tip: sent, or the code that stopped it (the money stays in the wallet). */
export type TipOutcome =
  | { readonly kind: "sent"; readonly tipId: string }
  | { readonly kind: "not_sent"; readonly tipId: string; readonly code: string };

export type CreditResult =
  | {
      readonly kind: "credited";
      readonly tip: TipOutcome | null;
      readonly packet: PacketOutcome | null;
      readonly unlock: UnlockOutcome | null;
    }
  /** Another delivery credited the order first; `settledBy` is the transaction it recorded. */
  | { readonly kind: "already_credited"; readonly settledBy: string | null }
  | { readonly kind: "rejected"; readonly code: GuardCode };

export interface CreditFacts {
  readonly order: OrderRow;
  readonly providerTxnId: string | null;
  /** The stored notification or query this credit comes from. */
  readonly ref: string;
  readonly cause: TransitionCause;
  /** The platform's tip rules: a pay-to-tip order prices its tip again when paid. */
  readonly tipRules: TipRules;
}

/** The tip a pay-to-tip order sends: one per order, whichever path reports the payment. */
function tipIdFor(orderId: string): string {
  return `tip_${orderId.slice("order_".length)}`;
}

export async function creditOrder(
  ledger: Ledger,
  shard: LedgerShard,
  facts: CreditFacts,
  nowMs: number,
): Promise<CreditResult> {
  const { db } = shard;
  const { control } = ledger;
  const { order, providerTxnId } = facts;
  const creditable: Guard = {
    // An order credited by another path is "exists" first; failing this means it moved on otherwise.
    code: "order_not_creditable",
    sql: `EXISTS (SELECT 1 FROM payment_orders WHERE id = ? AND state IN (${CREDITABLE_STATES.map(() => "?").join(", ")}))`,
    params: [order.id, ...CREDITABLE_STATES],
  };
  const sameTxn: Guard = {
    code: "provider_txn_settled_other_order",
    sql: "NOT EXISTS (SELECT 1 FROM payment_orders WHERE channel = ? AND provider_txn_id = ? AND id <> ?)",
    params: [order.channel, providerTxnId, order.id],
  };
  const composed = composeOperation(shard, {
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
    metadata: { orderId: order.id, providerTxnId, ref: facts.ref, cause: facts.cause },
    nowMs,
    guards: [creditable, sameTxn],
    extra: (posting) =>
      transitionStatements(db, order.id, CREDITABLE_STATES, "succeeded", facts.cause, facts.ref, nowMs, posting, {
        providerTxnId,
      }),
  });
  const tip = order.kind === "tip" ? await payToTip(shard, control, facts, nowMs) : null;
  const packet =
    order.kind === "packet"
      ? await composePaidPacket(
          ledger,
          shard,
          order,
          facts.tipRules.switchCacheTtlMs ?? LIMITS.switchCacheTtlDefaultMs,
          nowMs,
        )
      : null;
  const unlock = order.kind === "unlock" ? await composePaidUnlock(control, shard, order, facts.tipRules, nowMs) : null;
  const results = await db.batch([
    ...composed.statements,
    ...(tip?.statements ?? []),
    ...(packet?.statements ?? []),
    ...(unlock?.statements ?? []),
    db
      .prepare("SELECT provider_txn_id, tip_outcome, packet_outcome, unlock_outcome FROM payment_orders WHERE id = ?")
      .bind(order.id),
  ]);
  const verdict = composed.verdictFrom(results.slice(0, composed.statements.length));
  if (tip?.composed) {
    const start = composed.statements.length;
    const tipVerdict = tip.composed.verdictFrom(results.slice(start, start + tip.composed.statements.length));
    // The room that rated the tip counts it from now on, or forgets it.
    await tip.rated?.settle(tipVerdict.kind === "posted" ? "posted" : "failed");
    // The creator's part of the tip may be owed to another shard.
    await dispatchPosted(shard, [tip.composed], [tipVerdict]);
  }
  if (packet?.composed) {
    // A packet commits in its sender's shard with everything it touches: nothing crosses.
    const start = composed.statements.length + (tip?.statements.length ?? 0);
    packet.composed.verdictFrom(results.slice(start, start + packet.composed.statements.length));
  }
  if (unlock?.composed) {
    const start = composed.statements.length + (tip?.statements.length ?? 0) + (packet?.statements.length ?? 0);
    const unlockVerdict = unlock.composed.verdictFrom(results.slice(start, start + unlock.composed.statements.length));
    // The creator's tier desk counts the unlock in the month from now on, or forgets it.
    await unlock.rated?.settle(unlockVerdict.kind === "posted" ? "posted" : "failed");
    // The creator's part of the unlock may be owed to another shard, like a tip's.
    await dispatchPosted(shard, [unlock.composed], [unlockVerdict]);
  }
  const settled = results.at(-1)?.results[0] as
    | {
        provider_txn_id: string | null;
        tip_outcome: string | null;
        packet_outcome: string | null;
        unlock_outcome: string | null;
      }
    | undefined;
  switch (verdict.kind) {
    case "posted": {
      const packetOutcome = packet === null ? null : packetOutcomeOf(packet.packetId, settled?.packet_outcome);
      const unlockOutcome = unlock === null ? null : unlockOutcomeOf(unlock.unlockId, settled?.unlock_outcome);
      if (tip === null) return { kind: "credited", tip: null, packet: packetOutcome, unlock: unlockOutcome };
      const outcome = settled?.tip_outcome ?? "unknown";
      return {
        kind: "credited",
        tip:
          outcome === "sent"
            ? { kind: "sent", tipId: tip.tipId }
            : { kind: "not_sent", tipId: tip.tipId, code: outcome },
        packet: packetOutcome,
        unlock: unlockOutcome,
      };
    }
    case "exists":
      return { kind: "already_credited", settledBy: settled?.provider_txn_id ?? null };
    case "rejected":
      return { kind: "rejected", code: verdict.code };
  }
}

/**
 * Pay-to-tip: the tip runs in the credit's batch, after the credit, from the wallet just
 * credited. Its id is fixed by the order; it is attempted only while the order has no tip
 * outcome yet, and the outcome is written in the same batch, so a redelivered success can
 * never send the tip a second time (nor late, into a room that went live again). The tip is
 * priced again now: the room may have ended, or the gift changed, since the order was made;
 * then the money stays in the wallet and the order says why.
 */
async function payToTip(
  shard: LedgerShard,
  control: D1Database,
  facts: CreditFacts,
  nowMs: number,
): Promise<{
  tipId: string;
  composed: ComposedOperation | null;
  rated: RatedTip | null;
  statements: D1PreparedStatement[];
}> {
  const { db } = shard;
  const { order } = facts;
  assert(order.kind === "tip", "only a pay-to-tip order sends a tip");
  const tipId = tipIdFor(order.id);
  const {
    roomId,
    confirmed: _paidAtTheCashier,
    ...ask
  } = StoredTipOrder.parse(JSON.parse(order.tip_request ?? "null"));
  const prepared = await prepareTip(
    control,
    facts.tipRules,
    { id: tipId, roomId, viewerId: order.user_id, ask },
    nowMs,
  );
  const undecided: Guard = {
    code: "tip_already_decided",
    sql: "EXISTS (SELECT 1 FROM payment_orders WHERE id = ? AND tip_outcome IS NULL)",
    params: [order.id],
  };
  // Never from money already in the wallet: only when this batch's credit made the order paid
  // (a credit refused, e.g. `provider_txn_settled_other_order`, leaves it unpaid).
  const paid: Guard = {
    code: "tip_order_unpaid",
    sql: "EXISTS (SELECT 1 FROM payment_orders WHERE id = ? AND state = 'succeeded')",
    params: [order.id],
  };
  // Its tier rate from the room (priced with the room's own tips, exactly: ADR 0011).
  const rated = prepared.ok ? await rateTip(facts.tipRules, prepared.value) : null;
  const composed = rated ? composeTip(shard, rated.tip, { guards: [undecided, paid] }) : null;
  // The tip's outcome as a SQL value, read after the tip's own statements: `sent` once it
  // exists, else the guard that refused it; or the reason it could not even be priced.
  const outcome = outcomeExpression(composed, "sent", prepared.ok ? null : prepared.code);
  return {
    tipId,
    composed,
    rated,
    statements: [
      ...(composed?.statements ?? []),
      db
        .prepare(
          `UPDATE payment_orders SET tip_id = ?, tip_outcome = ${outcome.sql}
           WHERE id = ? AND tip_outcome IS NULL AND state = 'succeeded'`,
        )
        .bind(tipId, ...outcome.params, order.id),
    ],
  };
}
