import { dueForQuery } from "../../db/orders";
import { LIMITS } from "../../domain/limits";
import type { Logger } from "../../platform/logger";
import { queryContext, refundContext, reportFailedAttempt } from "../payments/channel-tasks";
import { queryOrder } from "../payments/orders";
import { afterApplied } from "../payments/pay-to-tip";
import { flagStuckRefunds, refundsDue, sendRefund } from "../payments/refunds";

/** Query open orders whose deadline (or retry) is due, send refunds still waiting, flag stuck ones. */
export async function sweepPayments(
  env: Env,
  nowMs: number,
  log: Logger,
): Promise<{ queried: number; refunds: number; stuckRefunds: number }> {
  const ctx = queryContext(env, log, nowMs);
  const due = await dueForQuery(env.DB, nowMs, LIMITS.paymentSweepBatchMax);
  for (const orderId of due) {
    try {
      const verdict = await queryOrder(ctx, orderId);
      if (verdict.kind === "done") await afterApplied(env, verdict.outcome, log);
      if (verdict.kind === "retry") {
        reportFailedAttempt(log, "query", { orderId, attempts: verdict.attempts, detail: verdict.detail });
      }
    } catch (error) {
      log.error("payment_sweep_query_failed", { orderId, error: String(error) });
    }
  }
  const refunds = await refundsDue(env.DB, nowMs, LIMITS.paymentSweepBatchMax);
  const rctx = refundContext(env, log, nowMs);
  for (const refundId of refunds) {
    try {
      const verdict = await sendRefund(rctx, refundId);
      if (verdict.kind === "retry") {
        reportFailedAttempt(log, "refund", { refundId, attempts: verdict.attempts, detail: verdict.detail });
      }
    } catch (error) {
      log.error("payment_sweep_refund_failed", { refundId, error: String(error) });
    }
  }
  const stuck = await flagStuckRefunds(env.DB, nowMs, log, LIMITS.paymentSweepBatchMax);
  return { queried: due.length, refunds: refunds.length, stuckRefunds: stuck };
}
