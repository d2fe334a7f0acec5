/**
 * The scheduled checks (docs/ARCHITECTURE.md, Scheduled checks and alerts). Each is its own
 * cron job (cron/jobs.ts): the minutely trigger asks each whether it is due (its schedule
 * against its last run in check_runs), runs it, and records the run — what it found, or that
 * it threw — whatever happens; one check throwing stops none of the others. The alerts job
 * (./alerts.ts) runs after them and turns the latest runs into incidents and messages.
 */

import { latestCheckRuns, recordCheckRun } from "../../db/alerts";
import { type CheckFinding, type CheckSchedule, isDue } from "../../domain/alerts";
import { localDayStartMs } from "../../domain/room/periods";
import { configFrom } from "../../platform/config";
import type { Logger } from "../../platform/logger";
import { metricsFor } from "../../platform/metrics";
import { checkChannels } from "./channels";
import { checkLedger } from "./ledger";
import { checkRedPackets } from "./red-packets";
import { checkStatements } from "./statements";
import { checkStuck } from "./stuck";

export interface Check {
  readonly name: string;
  readonly schedule: CheckSchedule;
  run(env: Env, nowMs: number, log: Logger): Promise<{ findings: CheckFinding[]; figures?: unknown }>;
}

const MINUTE = 60_000;

export const CHECKS: readonly Check[] = [
  { name: "channels", schedule: { everyMs: MINUTE }, run: checkChannels },
  { name: "stuck", schedule: { everyMs: 5 * MINUTE }, run: checkStuck },
  { name: "red-packets", schedule: { everyMs: 60 * MINUTE }, run: checkRedPackets },
  { name: "ledger", schedule: { everyMs: 60 * MINUTE }, run: checkLedger },
  // WeChat Pay's bills are ready from 10:00 Beijing time, Alipay's from 09:00.
  { name: "statements", schedule: { dailyFromHour: 10 }, run: checkStatements },
];

/**
 * Runs `check` if it is due (or `force`), recording the run. A check that throws is recorded
 * as failed and the error rethrown, so the cron runner reports the job failed too.
 */
export async function runCheck(
  check: Check,
  env: Env,
  nowMs: number,
  log: Logger,
  force = false,
): Promise<{ ran: false } | { ran: true; findings: number; figures?: unknown }> {
  if (!force) {
    const [last] = await latestCheckRuns(env.CONTROL, [check.name]);
    const timeZone = configFrom(env).businessTimeZone;
    if (!isDue(check.schedule, last?.started_at_ms ?? null, nowMs, (at) => localDayStartMs(at, timeZone))) {
      return { ran: false };
    }
  }
  const startedAtMs = nowMs;
  let result: { findings: CheckFinding[]; figures?: unknown };
  try {
    result = await check.run(env, nowMs, log);
  } catch (error) {
    metricsFor(env).count("check_run", check.name, "failed");
    await recordCheckRun(env.CONTROL, {
      check: check.name,
      startedAtMs,
      finishedAtMs: Math.max(startedAtMs, Date.now()),
      findings: null,
      figures: undefined,
      error: String(error),
    });
    throw error;
  }
  await recordCheckRun(env.CONTROL, {
    check: check.name,
    startedAtMs,
    finishedAtMs: Math.max(startedAtMs, Date.now()),
    findings: result.findings,
    figures: result.figures,
    error: null,
  });
  metricsFor(env).count(
    "check_run",
    check.name,
    result.findings.length > 0 ? "findings" : "ok",
    result.findings.length,
  );
  if (result.findings.length > 0) {
    log.warn("check_findings", {
      check: check.name,
      findings: result.findings.length,
      kinds: [...new Set(result.findings.map((f) => f.kind))],
    });
  }
  return { ran: true, findings: result.findings.length, figures: result.figures };
}
