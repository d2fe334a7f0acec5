/**
 * Daily statements: for every enabled channel, yesterday's statement (the business day in
 * BUSINESS_TIME_ZONE) is downloaded by the channel's client and reconciled exactly as an
 * operator's upload is (payments/reconcile.ts: findings stored, queries repair what they can;
 * the same file is reconciled once). Operators can still upload a file through
 * POST /v1/admin/reconciliations.
 *
 * Catch-up: a provider may not have the day's file yet when the check runs (Stripe's data lags,
 * Alipay generates bills the next morning), and a download may fail. So the
 * {@link STATEMENT_LOOKBACK_DAYS} days before yesterday are tried too, each only while the
 * channel has no finished run for it; a day already reconciled (by this check or an upload) is
 * not downloaded again.
 *
 * Findings, per channel and day (the detail starts with the day):
 * - `reconciliation_unrepaired` (warning; value = findings left to operators);
 * - `statement_not_ready` (info): the provider has not produced the file yet; tried again on
 *   the next runs;
 * - `statement_overdue` (warning; a default alert rule): still not ready on the look-back's last
 *   day, after which it is no longer tried — upload it when it comes;
 * - `statement_download_failed` (warning): the channel did not answer or refused;
 * - `statement_malformed` (warning): the file could not be read exactly (a bad zip, a CRC-32
 *   mismatch, a line the parser refuses);
 * - `statement_download_unsupported` (info): the client has no download (upload it instead).
 * One channel's or day's failure does not stop the others.
 */

import { reconciledDates } from "../../db/reconciliation";
import { openLedger } from "../../db/shards";
import type { CheckFinding } from "../../domain/alerts";
import { localDayStartMs, periodKeys } from "../../domain/room/periods";
import { configFrom } from "../../platform/config";
import type { Logger } from "../../platform/logger";
import { ApiError } from "../errors";
import { channelClients } from "../payments/channels";
import { runReconciliation } from "../payments/reconcile";

/** Days before yesterday still tried while a channel has no finished run for them. */
export const STATEMENT_LOOKBACK_DAYS = 3;

/** The business day before the one `nowMs` is in. */
export function previousBusinessDay(nowMs: number, timeZone: string): string {
  return periodKeys(localDayStartMs(nowMs, timeZone) - 1, timeZone).day;
}

/** Yesterday, then the look-back days before it, newest first. */
export function statementDays(nowMs: number, timeZone: string, lookBack = STATEMENT_LOOKBACK_DAYS): string[] {
  const days: string[] = [];
  let startMs = localDayStartMs(nowMs, timeZone);
  for (let i = 0; i <= lookBack; i++) {
    days.push(periodKeys(startMs - 1, timeZone).day);
    startMs = localDayStartMs(startMs - 1, timeZone);
  }
  return days;
}

export async function checkStatements(
  env: Env,
  nowMs: number,
  log: Logger,
): Promise<{ findings: CheckFinding[]; figures: Record<string, unknown> }> {
  const ledger = await openLedger(env);
  const days = statementDays(nowMs, configFrom(env).businessTimeZone);
  const lastTry = days.at(-1);
  const findings: CheckFinding[] = [];
  const runs: Record<string, Record<string, unknown>> = {};
  for (const channel of channelClients(env).keys()) {
    const outcomes: Record<string, unknown> = {};
    runs[channel] = outcomes;
    const done = await reconciledDates(ledger.control, channel, days);
    // Oldest first: a day that is not ready makes the later ones unlikely to be, but they are tried all the same.
    for (const date of [...days].reverse()) {
      if (done.has(date)) {
        outcomes[date] = { skipped: "reconciled" };
        continue;
      }
      const finding = (kind: string, severity: CheckFinding["severity"], value: number, detail: string) =>
        findings.push({ kind, severity, subject: channel, value, detail: `${date}: ${detail}`.slice(0, 500) });
      try {
        const { run } = await runReconciliation(env, ledger, log, { channel, date, actorId: "system:checks", nowMs });
        const unrepaired = run.findings - run.repaired;
        outcomes[date] = { runId: run.id, lines: run.lines, findings: run.findings, unrepaired };
        if (unrepaired > 0) {
          finding(
            "reconciliation_unrepaired",
            "warning",
            unrepaired,
            `${unrepaired} finding(s) for operators (run ${run.id})`,
          );
        }
      } catch (error) {
        if (!(error instanceof ApiError)) {
          outcomes[date] = { error: String(error).slice(0, 200) };
          finding("statement_download_failed", "warning", 1, String(error));
          continue;
        }
        outcomes[date] = { error: error.code, detail: error.message.slice(0, 200) };
        switch (error.code) {
          case "statement_not_ready":
            if (date === lastTry) {
              finding("statement_overdue", "warning", 1, `${error.message} (the last try; upload it when it comes)`);
            } else {
              finding("statement_not_ready", "info", 1, error.message);
            }
            break;
          case "statement_required":
            finding("statement_download_unsupported", "info", 1, error.message);
            break;
          case "statement_malformed":
            finding("statement_malformed", "warning", 1, error.message);
            break;
          default:
            finding("statement_download_failed", "warning", 1, `${error.code}: ${error.message}`);
        }
      }
    }
  }
  return { findings, figures: { date: days[0], days, runs } };
}
