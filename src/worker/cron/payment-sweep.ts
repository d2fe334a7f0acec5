import { dueForQuery } from "../../db/orders";
import { openLedger } from "../../db/shards";
import { LIMITS } from "../../domain/limits";
import type { Logger } from "../../platform/logger";
import { queryContext, refundContext, reportFailedAttempt } from "../payments/channel-tasks";
import { queryOrder } from "../payments/orders";
import { afterApplied } from "../payments/pay-to-tip";
import { flagStuckRefunds, refundsDue, sendRefund } from "../payments/refunds";

/**
 * Query open orders whose deadline (or retry) is due, send refunds still waiting, flag stuck
 * ones: in every ledger shard, each bounded by the batch limit, so one shard's backlog does
 * not keep another's orders waiting.
 */
export async function sweepPayments(
  env: Env,
  nowMs: number,
  log: Logger,
): Promise<{ queried: number; refunds: number; stuckRefunds: number }> {
  // The bucket map's cache runs on the wall clock, not on the sweep's `nowMs` (which tests move).
  const ledger = await openLedger(env);
  const ctx = queryContext(env, ledger, log, nowMs);
  const rctx = refundContext(env, ledger, log, nowMs);
  const totals = { queried: 0, refunds: 0, stuckRefunds: 0 };
  for (const shard of ledger.shards) {
    const due = await dueForQuery(shard.db, nowMs, LIMITS.paymentSweepBatchMax);
    for (const orderId of due) {
      try {
        const verdict = await queryOrder(ctx, orderId);
        if (verdict.kind === "done") await afterApplied(env, verdict.outcome, log);
        if (verdict.kind === "retry") {
          reportFailedAttempt(log, "query", { orderId, attempts: verdict.attempts, detail: verdict.detail });
        }
      } catch (error) {
        log.error("payment_sweep_query_failed", { orderId, shard: shard.index, error: String(error) });
      }
    }
    const refunds = await refundsDue(shard.db, nowMs, LIMITS.paymentSweepBatchMax);
    for (const refundId of refunds) {
      try {
        const verdict = await sendRefund(rctx, refundId);
        if (verdict.kind === "retry") {
          reportFailedAttempt(log, "refund", { refundId, attempts: verdict.attempts, detail: verdict.detail });
        }
      } catch (error) {
        log.error("payment_sweep_refund_failed", { refundId, shard: shard.index, error: String(error) });
      }
    }
    totals.queried += due.length;
    totals.refunds += refunds.length;
    totals.stuckRefunds += await flagStuckRefunds(shard, ledger.control, nowMs, log, LIMITS.paymentSweepBatchMax);
  }
  return totals;
}
