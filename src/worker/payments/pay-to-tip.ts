import { z } from "zod";
import { composeOperation } from "../../db/ledger";
import { type PaymentOutcome, type TipComposer, tipUndecidedGuard } from "../../db/payments";
import { configFrom } from "../config";
import type { Logger } from "../context";
import { ApiError } from "../errors";
import { deliverAfterCommit } from "../rooms/outbox";
import { composeTip, type TipRequestBody, TipRequestSchema } from "../tips/compose";

/**
 * Pay-to-tip: an order whose payment, once credited to the payer's wallet, sends a tip from
 * it in the same batch. The tip is composed when the payment is applied, because the room
 * may have ended, or the gift changed, since the order was made; if it cannot happen the
 * money stays in the wallet and the order says why (`tip.outcome`).
 */

const StoredTip = z.intersection(z.object({ roomId: z.string().min(1).max(64) }), TipRequestSchema);

export function tipComposer(env: Env): TipComposer {
  return async (order, tipId, nowMs) => {
    const stored = StoredTip.parse(JSON.parse(order.tip_request ?? "null"));
    const { roomId, ...request } = stored;
    try {
      const tip = await composeTip(
        env.DB,
        configFrom(env),
        { roomId, viewerId: order.user_id, request: request as TipRequestBody },
        tipId,
        nowMs,
        [tipUndecidedGuard(order.id)],
      );
      return { composed: composeOperation(env.DB, tip.spec) };
    } catch (error) {
      if (error instanceof ApiError) return { failed: error.code };
      throw error;
    }
  };
}

/** After a pay-to-tip credit sent its tip: the room hears of it (the outbox row guarantees it eventually). */
export async function afterApplied(
  env: Env,
  outcome: PaymentOutcome | { readonly kind: string },
  log: Logger,
): Promise<void> {
  if (outcome.kind === "credited" && "tip" in outcome && outcome.tip?.sent)
    await deliverAfterCommit(env, [outcome.tip.tipId], log);
}
