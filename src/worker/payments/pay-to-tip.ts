import type { PaymentOutcome } from "../../db/payment-reports";
import { openLedger } from "../../db/shards";
import type { Logger } from "../../platform/logger";
import { deliverAfterCommit } from "../rooms/outbox";

/**
 * Pay-to-tip and pay-to-packet: an order whose payment, once credited to the payer's wallet,
 * sends a tip or a red packet from it in the same batch (src/db/operations/payment-credit.ts,
 * pay-to-packet.ts). After that batch, the room hears of the tip or the packet like any other
 * (the outbox row guarantees it eventually); the row is in the order's shard, where it committed.
 */
export async function afterApplied(
  env: Env,
  outcome: PaymentOutcome | { readonly kind: "closed" | "settled_before" },
  log: Logger,
): Promise<void> {
  if (outcome.kind !== "credited") return;
  const sent = [
    ...(outcome.tip?.kind === "sent" ? [outcome.tip.tipId] : []),
    ...(outcome.packet?.kind === "sent" ? [outcome.packet.packetId] : []),
  ];
  if (sent.length === 0) return;
  const ledger = await openLedger(env);
  await deliverAfterCommit(env, ledger, ledger.forId(outcome.orderId).index, sent, log);
}
