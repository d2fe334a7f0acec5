/**
 * Reconciliation of one channel's daily statement, end to end: parse, match against what D1
 * recorded for that day (src/domain/reconcile.ts), store the run and its findings, then
 * repair what the channel itself can settle and leave the rest to operators.
 *
 * Repairs go through the paths payments already take. A `query_channel` finding on a
 * payment is an active query of the order (`queryOrder`), which applies the channel's final
 * answer exactly as a callback would, crediting at most once: a payment whose callback never
 * came is credited now. One on a refund that we have not yet sent is sent again under the
 * same refund number, which the channel dedupes. Everything else is logged as an alert.
 *
 * Where the statement comes from: the request gives it, or the channel's client downloads it
 * (`downloadStatement`; the daily `statements` check, src/worker/checks, asks every enabled
 * channel): the sandbox's file, WeChat Pay's trade bill, Alipay's bill zip (unzipped and decoded
 * from GBK by its client) and Stripe's balance change report run. A file the channel has not
 * produced yet is `statement_not_ready` (409), tried again by the check's look-back.
 *
 * Our records are read from every ledger shard (orders live in their payers' shards); the run
 * and its findings are stored in the control database, where operators read them.
 */

import type { ChannelName } from "../../channels/channel";
import { hasFundFlowBill, parseStatement, type StatementBill, statementListsPayouts } from "../../channels/statement";
import type { StatementError } from "../../channels/statement-csv";
import { loadOurWithdrawals } from "../../db/payout-reconciliation";
import {
  type DayWindow,
  finishRun,
  loadOurRecords,
  type RunRow,
  storeRun,
  unrepairedQueries,
} from "../../db/reconciliation";
import type { Ledger } from "../../db/shards";
import { LIMITS } from "../../domain/limits";
import { reconcile, statementOrderIds } from "../../domain/reconcile";
import { reconcilePayouts, statementTransferRefs, statementWithdrawalIds } from "../../domain/reconcile-payouts";
import { localDayWindowMs } from "../../domain/room/periods";
import { configFrom } from "../../platform/config";
import type { Logger } from "../../platform/logger";
import { ApiError } from "../errors";
import { queryContext, refundContext } from "./channel-tasks";
import { channelClients } from "./channels";
import { queryOrder } from "./orders";
import { afterApplied } from "./pay-to-tip";
import { sendRefund } from "./refunds";

/** Repair outcomes after which the finding no longer stands. */
const REPAIRED_OUTCOMES = ["credited", "already_credited", "refund_succeeded"] as const;

export interface RunRequest {
  readonly channel: ChannelName;
  /** `YYYY-MM-DD`, a day in BUSINESS_TIME_ZONE. */
  readonly date: string;
  /** The statement file's text; when omitted, the channel's client downloads it. */
  readonly statementText?: string | undefined;
  /**
   * `trade` (default): payments and refunds (and Stripe's transfers); `fund_flow`: WeChat's
   * 资金账单 or Alipay's 账务明细, reconciled for payouts only, always given as text.
   */
  readonly bill?: StatementBill | undefined;
  readonly actorId: string;
  readonly nowMs: number;
}

export interface RunResult {
  readonly run: RunRow;
  /** False when this statement was reconciled before and the stored run is returned. */
  readonly created: boolean;
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The statement to reconcile: the one given, or the one the channel's client downloads. A
 * channel whose download is not built asks for the file (`statement_required`).
 */
async function statementFor(env: Env, request: RunRequest): Promise<string> {
  if (request.statementText !== undefined) return request.statementText;
  if (request.bill === "fund_flow") {
    throw new ApiError("statement_required", `Give the ${request.channel} fund-flow bill file as \`statement\`.`);
  }
  const client = channelClients(env).get(request.channel);
  if (!client) {
    throw new ApiError(
      "channel_not_found",
      `The ${request.channel} channel is not enabled here, so its statement cannot be downloaded; give the file as \`statement\`.`,
    );
  }
  const downloaded = await client.downloadStatement(request.date);
  if (downloaded.ok) return downloaded.value;
  const failure = downloaded.failure;
  switch (failure.kind) {
    case "unsupported":
      throw new ApiError(
        "statement_required",
        `${failure.detail}; give the ${request.channel} statement file as \`statement\`.`,
      );
    case "not_ready":
      throw new ApiError(
        "statement_not_ready",
        `The ${request.channel} statement for ${request.date} is not ready yet: ${failure.detail}`,
      );
    case "malformed":
      throw new ApiError("statement_malformed", `The downloaded ${request.channel} statement: ${failure.detail}`, {
        line: 0,
        detail: failure.detail,
      });
    case "unavailable":
      throw new ApiError("channel_unavailable", `The ${request.channel} statement download failed: ${failure.detail}`);
    case "rejected":
      throw new ApiError(
        "channel_rejected",
        `The ${request.channel} channel refused the statement download (${failure.code}): ${failure.detail}`,
      );
  }
}

/**
 * Reconciles the channel's statement for the day. A statement that cannot be read exactly
 * is refused (`statement_malformed`, with its line) and nothing is stored. The same
 * statement for the same channel and day returns the run already stored (resuming its
 * repairs if that run died before finishing them).
 */
export async function runReconciliation(
  env: Env,
  ledger: Ledger,
  log: Logger,
  request: RunRequest,
): Promise<RunResult> {
  const bill = request.bill ?? "trade";
  if (bill === "fund_flow" && !hasFundFlowBill(request.channel)) {
    throw new ApiError(
      "malformed_request",
      `The ${request.channel} channel has no fund-flow bill here; its payouts are in its trade statement or not listed.`,
    );
  }
  const text = await statementFor(env, request);
  const parsed = parseStatement(request.channel, text, bill);
  if (!parsed.ok) throw malformed(parsed.error);
  const config = configFrom(env);
  const day: DayWindow = localDayWindowMs(request.date, config.businessTimeZone);
  const sourceSha256 = await sha256Hex(text);

  // A fund-flow bill is not the record of payments: matching the day's orders against it would
  // report every one of them missing. Payments are reconciled from the trade statement only.
  const ours =
    bill === "trade" ? await loadOurRecords(ledger, request.channel, day, statementOrderIds(parsed.lines)) : [];
  const result = reconcile(parsed.lines, ours);
  // Payout lines against withdrawals, where the file lists payouts at all (else every paid
  // withdrawal would be "missing" from a file that never shows them).
  const payouts =
    bill === "fund_flow" || statementListsPayouts(request.channel)
      ? reconcilePayouts(
          parsed.payouts,
          await loadOurWithdrawals(
            ledger,
            request.channel,
            day,
            statementWithdrawalIds(parsed.payouts),
            statementTransferRefs(parsed.payouts),
          ),
        )
      : null;
  const findings = [...result.findings, ...(payouts?.findings ?? [])];
  const { run, created } = await storeRun(
    ledger.control,
    {
      channel: request.channel,
      statementDate: request.date,
      sourceSha256,
      bill,
      lines: parsed.summary.lineCount + parsed.summary.payoutCount,
      matched: result.counts.matchedPayments + result.counts.matchedRefunds + (payouts?.counts.matchedPayouts ?? 0),
      findingsTotal: findings.length,
      actorId: request.actorId,
      nowMs: request.nowMs,
    },
    findings.slice(0, LIMITS.reconciliationFindingsStoredMax),
  );
  if (!created) {
    const stale =
      run.finished_at_ms === null && request.nowMs - run.started_at_ms >= LIMITS.reconciliationResumeAfterMs;
    if (!stale) return { run, created: false };
    log.warn("reconciliation_resumed", { runId: run.id, channel: run.channel, date: run.statement_date });
  }
  const finished = await repair(env, ledger, log, run.id, request.nowMs, request.actorId);
  const unrepaired = finished.findings - finished.repaired;
  if (unrepaired > 0) {
    // Operators' queue: everything a query could not settle, by kind, with where to look.
    log.error("alert_reconciliation_findings", {
      runId: finished.id,
      channel: finished.channel,
      date: finished.statement_date,
      findings: finished.findings,
      repaired: finished.repaired,
      unrepaired,
      byKind: result.counts.findings,
      payoutFindings: payouts?.findings.length ?? 0,
    });
  } else {
    log.info("reconciliation_clean", { runId: finished.id, channel: finished.channel, date: finished.statement_date });
  }
  return { run: finished, created };
}

function malformed(error: StatementError): ApiError {
  const where = error.line === 0 ? "the file" : `line ${error.line}`;
  return new ApiError("statement_malformed", `The statement cannot be read exactly (${where}): ${error.detail}`, {
    line: error.line,
    detail: error.detail,
  });
}

/** Runs the repairs a run is owed, each once, and records their outcomes. */
async function repair(
  env: Env,
  ledger: Ledger,
  log: Logger,
  runId: string,
  nowMs: number,
  actorId: string,
): Promise<RunRow> {
  const owed = await unrepairedQueries(ledger.control, runId, LIMITS.reconciliationRepairsPerRunMax);
  const qctx = queryContext(env, ledger, log, nowMs);
  const rctx = refundContext(env, ledger, log, nowMs);
  const outcomes: { findingId: string; outcome: string }[] = [];
  // One at a time: each is a call to the channel, and a channel under reconciliation load is one we do not want to flood.
  for (const f of owed) {
    let outcome: string;
    try {
      if (f.subject === "refund" && f.refundNo !== null) {
        const verdict = await sendRefund(rctx, f.refundNo);
        outcome = verdict.kind === "done" ? `refund_${verdict.state}` : `refund_retry: ${verdict.detail}`;
      } else if (f.orderId !== null) {
        const verdict = await queryOrder(qctx, f.orderId, { settledToo: true });
        if (verdict.kind === "done") {
          await afterApplied(env, verdict.outcome, log);
          const o = verdict.outcome;
          outcome =
            o.kind === "flagged"
              ? `flagged: ${o.flag}`
              : o.kind === "state_recorded" || o.kind === "no_change"
                ? `${o.kind}: ${o.state}`
                : o.kind;
        } else if (verdict.kind === "later") {
          outcome = "channel_still_open";
        } else {
          outcome = `query_failed: ${verdict.detail}`;
        }
      } else {
        outcome = "no_order_to_query";
      }
    } catch (error) {
      // One repair that throws must not keep the others, or the run's record, from happening.
      log.error("reconciliation_repair_failed", { runId, findingId: f.id, orderId: f.orderId, error: String(error) });
      outcome = "error";
    }
    outcomes.push({ findingId: f.id, outcome: outcome.slice(0, 300) });
  }
  return finishRun(ledger.control, runId, outcomes, REPAIRED_OUTCOMES, Date.now(), actorId);
}
