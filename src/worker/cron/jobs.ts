import { expireProposals } from "../../db/proposals";
import { openLedger } from "../../db/shards";
import type { Logger } from "../../platform/logger";
import { evaluateAlerts } from "../checks/alerts";
import { CHECKS, runCheck } from "../checks/registry";
import { expireHeldTips } from "../held-tips";
import { exportAuditAnchors } from "./audit-anchor";
import { sweepBusinessEvents } from "./business-event-sweep";
import { rollupDashboard } from "./dashboard-rollup";
import { purgeExpiredIdempotencyKeys } from "./idempotency-purge";
import { advanceLedgerArchives } from "./ledger-archive";
import { purgePaymentRecords } from "./payment-records-purge";
import { sweepPayments } from "./payment-sweep";
import { sweepPayouts } from "./payout-sweep";
import { sweepRedPackets } from "./red-packet-sweep";
import { sweepTipReversals } from "./reversal-sweep";
import { purgeDeliveredOutbox } from "./room-outbox-purge";
import { sweepRoomOutbox } from "./room-outbox-sweep";
import { runDueSettlements } from "./settlement";
import { sweepTransit } from "./transit-sweep";

/** One housekeeping job: what it returns is logged as its figures. */
export interface CronJob {
  readonly name: string;
  run(env: Env, nowMs: number, log: Logger): Promise<unknown>;
}

/**
 * Every job the minutely trigger runs, in this order: the sweeps first (they move money and
 * events), archival last (nothing waits on it, and it is the longest).
 */
export const CRON_JOBS: readonly CronJob[] = [
  { name: "transit-sweep", run: sweepTransit },
  { name: "room-outbox-sweep", run: sweepRoomOutbox },
  { name: "red-packet-sweep", run: sweepRedPackets },
  { name: "idempotency-purge", run: (env, nowMs) => eachShard(env, nowMs, purgeExpiredIdempotencyKeys) },
  {
    name: "room-outbox-purge",
    run: async (env, nowMs) =>
      (await purgeDeliveredOutbox(env.CONTROL, nowMs)) + (await eachShard(env, nowMs, purgeDeliveredOutbox)),
  },
  { name: "payment-sweep", run: sweepPayments },
  { name: "reversal-sweep", run: sweepTipReversals },
  // Tips held for review that nobody decided in time: declined, the money back to the payers.
  { name: "held-tip-sweep", run: expireHeldTips },
  // After the transit sweep: credits it delivers no longer defer their creators' settlement.
  { name: "settlement", run: runDueSettlements },
  { name: "payout-sweep", run: sweepPayouts },
  // After the sweeps that commit facts (payments, packets, payouts): their events go out this tick.
  { name: "business-event-sweep", run: sweepBusinessEvents },
  { name: "payment-records-purge", run: (env, nowMs) => purgePaymentRecords(env.CONTROL, nowMs) },
  // Four-eyes proposals nobody approved in time (an approval checks expiry itself; this only tidies the queue).
  { name: "proposal-expiry", run: (env, nowMs) => expireProposals(env.CONTROL, nowMs) },
  // Before archival, which waits for a day's rollup to be final before its rows may leave.
  { name: "dashboard-rollup", run: rollupDashboard },
  { name: "ledger-archive", run: advanceLedgerArchives },
  { name: "audit-anchor", run: exportAuditAnchors },
  // The scheduled checks, each its own job (skipped until due: checks/registry.ts), then the
  // alerts they raise: last, so a tick's alerts see its checks' runs.
  ...CHECKS.map((check) => ({
    name: `check:${check.name}`,
    run: (env: Env, nowMs: number, log: Logger) => runCheck(check, env, nowMs, log),
  })),
  { name: "alerts", run: (env, nowMs, log) => evaluateAlerts(env, nowMs, log) },
];

/** Runs a per-database job on every ledger shard, one after another; returns the sum. */
async function eachShard(
  env: Env,
  nowMs: number,
  job: (db: D1Database, nowMs: number) => Promise<number>,
): Promise<number> {
  const ledger = await openLedger(env, nowMs);
  let total = 0;
  for (const shard of ledger.shards) total += await job(shard.db, nowMs);
  return total;
}

export interface CronReport {
  /** Each job that finished, by name, with its figures. */
  readonly done: Record<string, unknown>;
  /** The names of the jobs that threw. */
  readonly failed: readonly string[];
}

/**
 * Runs the jobs one after another — they share the databases' single writers, so running them
 * at once would only make them queue there — each isolated: a job that throws raises
 * `alert_cron_job_failed` with its name and the others still run. Nothing is rethrown: a cron
 * trigger is not retried, so the alert is the signal, and the next minute runs every job again.
 */
export async function runCronJobs(jobs: readonly CronJob[], env: Env, nowMs: number, log: Logger): Promise<CronReport> {
  const done: Record<string, unknown> = {};
  const failed: string[] = [];
  for (const job of jobs) {
    try {
      done[job.name] = await job.run(env, nowMs, log);
    } catch (error) {
      failed.push(job.name);
      log.error("alert_cron_job_failed", {
        job: job.name,
        error: String(error),
        stack: error instanceof Error ? error.stack : undefined,
      });
    }
  }
  log.info("housekeeping", { ...done, failed });
  return { done, failed };
}
