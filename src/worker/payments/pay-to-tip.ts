import { emitOperationEvents } from "../../db/business-events";
import type { PaymentOutcome } from "../../db/payment-reports";
import { openLedger } from "../../db/shards";
import type { Logger } from "../../platform/logger";
import { deliverAfterCommit } from "../rooms/outbox";

/**
 * Pay-to-tip and pay-to-packet: an order whose payment, once credited to the payer's wallet,
 * sends a tip or a red packet from it in the same batch (src/db/operations/payment-credit.ts,
 * packet-send-paid.ts). After that batch, the room hears of the tip or the packet like any other
 * (the outbox row guarantees it eventually); the row is in the order's shard, where it committed. Every
 * credited order (a top-up too) announces `payment.succeeded` on the business-events queue; a
 * pay-to-unlock order that unlocked also `unlock.created` (unlock-paid.ts).
 */
export async function afterApplied(
  env: Env,
  outcome: PaymentOutcome | { readonly kind: "closed" | "settled_before" },
  log: Logger,
): Promise<void> {
  if (outcome.kind !== "credited" && outcome.kind !== "already_credited") return;
  const ledger = await openLedger(env);
  const shard = ledger.forId(outcome.orderId);
  const unlocked = outcome.kind === "credited" && outcome.unlock?.kind === "unlocked" ? outcome.unlock.unlockId : null;
  if (outcome.kind === "credited") {
    const sent = [
      ...(outcome.tip?.kind === "sent" ? [outcome.tip.tipId] : []),
      ...(outcome.packet?.kind === "sent" ? [outcome.packet.packetId] : []),
    ];
    if (sent.length > 0) await deliverAfterCommit(env, ledger, shard.index, sent, log);
  }
  // payment.succeeded, keyed by the order: a duplicate callback (already credited) sends the
  // same event id again, which the consumer skips; a lost send is the business-event sweeper's.
  await emitOperationEvents(
    env,
    shard,
    [{ id: outcome.orderId, kind: "payment_credit" }, ...(unlocked ? [{ id: unlocked, kind: "unlock" }] : [])],
    log,
  );
}
