/**
 * Daily statements: for every enabled channel, yesterday's statement (the business day in
 * BUSINESS_TIME_ZONE) is downloaded by the channel's client and reconciled exactly as an
 * operator's upload is (payments/reconcile.ts: findings stored, queries repair what they can;
 * the same file is reconciled once). Operators can still upload a file through
 * POST /v1/admin/reconciliations, for a channel whose download is not built or failed.
 *
 * Findings, per channel:
 * - `reconciliation_unrepaired` (warning; value = findings left to operators);
 * - `statement_download_failed` (warning): the channel did not answer or refused;
 * - `statement_malformed` (warning): the file could not be read exactly;
 * - `statement_download_unsupported` (info): the client has no download (upload it instead).
 * One channel's failure does not stop the others.
 */

import { openLedger } from "../../db/shards";
import type { CheckFinding } from "../../domain/alerts";
import { localDayStartMs, periodKeys } from "../../domain/room/periods";
import { configFrom } from "../../platform/config";
import type { Logger } from "../../platform/logger";
import { ApiError } from "../errors";
import { channelClients } from "../payments/channels";
import { runReconciliation } from "../payments/reconcile";

/** The business day before the one `nowMs` is in. */
export function previousBusinessDay(nowMs: number, timeZone: string): string {
  return periodKeys(localDayStartMs(nowMs, timeZone) - 1, timeZone).day;
}

export async function checkStatements(
  env: Env,
  nowMs: number,
  log: Logger,
): Promise<{ findings: CheckFinding[]; figures: Record<string, unknown> }> {
  const ledger = await openLedger(env);
  const date = previousBusinessDay(nowMs, configFrom(env).businessTimeZone);
  const findings: CheckFinding[] = [];
  const runs: Record<string, unknown> = {};
  for (const channel of channelClients(env).keys()) {
    const finding = (kind: string, severity: CheckFinding["severity"], value: number, detail: string) =>
      findings.push({ kind, severity, subject: channel, value, detail: `${date}: ${detail}`.slice(0, 500) });
    try {
      const { run } = await runReconciliation(env, ledger, log, { channel, date, actorId: "system:checks", nowMs });
      const unrepaired = run.findings - run.repaired;
      runs[channel] = { runId: run.id, lines: run.lines, findings: run.findings, unrepaired };
      if (unrepaired > 0) {
        finding(
          "reconciliation_unrepaired",
          "warning",
          unrepaired,
          `${unrepaired} finding(s) for operators (run ${run.id})`,
        );
      }
    } catch (error) {
      runs[channel] = { error: String(error).slice(0, 200) };
      if (!(error instanceof ApiError)) {
        finding("statement_download_failed", "warning", 1, String(error));
        continue;
      }
      switch (error.code) {
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
  return { findings, figures: { date, runs } };
}
