import type { PaymentOutcome } from "../../db/payment-reports";
import { openLedger } from "../../db/shards";
import type { Logger } from "../../platform/logger";
import { deliverAfterCommit } from "../rooms/outbox";

/**
 * Pay-to-tip: an order whose payment, once credited to the payer's wallet, sends a tip from
 * it in the same batch (src/db/operations/payment-credit.ts). After that batch, the room
 * hears of the tip like any other (the outbox row guarantees it eventually); the row is in
 * the order's shard, where the tip committed.
 */
export async function afterApplied(
  env: Env,
  outcome: PaymentOutcome | { readonly kind: "closed" | "settled_before" },
  log: Logger,
): Promise<void> {
  if (outcome.kind === "credited" && outcome.tip?.kind === "sent") {
    const ledger = await openLedger(env);
    await deliverAfterCommit(env, ledger, ledger.forId(outcome.orderId).index, [outcome.tip.tipId], log);
  }
}
