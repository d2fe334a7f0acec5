import type { PaymentOutcome } from "../../db/payment-reports";
import type { Logger } from "../../platform/logger";
import { deliverAfterCommit } from "../rooms/outbox";

/**
 * Pay-to-tip: an order whose payment, once credited to the payer's wallet, sends a tip from
 * it in the same batch (src/db/operations/payment-credit.ts). After that batch, the room
 * hears of the tip like any other (the outbox row guarantees it eventually).
 */
export async function afterApplied(
  env: Env,
  outcome: PaymentOutcome | { readonly kind: "closed" | "settled_before" },
  log: Logger,
): Promise<void> {
  if (outcome.kind === "credited" && outcome.tip?.kind === "sent") {
    await deliverAfterCommit(env, [outcome.tip.tipId], log);
  }
}
