/**
 * A settlement run for one business day D (T+N, domain/settlement.ts): every creator with tips
 * on D, each settled once in their own shard (operations/settlement.ts).
 *
 *   1. per shard, one grouped query of D's tips (gross, platform share, count per creator), and
 *      the creators with a credit to their pending committed before D ended still in transit;
 *   2. per creator, from the control database: the risk hold; from the creator's shard: the
 *      day's row, its reversals before settlement, the outstanding receivable;
 *   3. per creator: already settled → nothing; credits in transit → deferred to a later run
 *      (never settled short); risk hold → the day recorded `held` and flagged; otherwise the
 *      domain's record, composed with a guard on the inputs it used, group-committed per shard.
 *      A creator whose inputs changed under it (a reversal committed in between) is re-read
 *      and retried, up to `settlementAttemptsMax`; what is still refused is deferred.
 *
 * Idempotent per creator and day: the settlement's id is its key, so a re-run (or ten at once)
 * moves the money once and leaves the same record. A run is `complete` when nothing of the
 * day was deferred; held days are complete for the run and settle on a run after the hold is lifted.
 */

import type { AuditAction } from "../domain/audit-chain";
import { fail, ok, type Result } from "../domain/errors";
import { assert, LIMITS } from "../domain/limits";
import { DEFAULT_CURRENCY } from "../domain/money";
import { type DayPostings, settleDay, settlementDueAtMs } from "../domain/settlement";
import { withAuditEntry } from "./audit";
import { runOperations, type SqlCondition, type Verdict } from "./ledger";
import {
  composeEmptySettlement,
  composeSettlement,
  heldRow,
  type SettlementInput,
  settlementPostings,
} from "./operations/settlement";
import {
  type CreatorDayState,
  creatorDayStateFrom,
  creatorDayStateStatement,
  creatorsWithCreditsInTransit,
  type DayTips,
  dayRangeMs,
  tipsOfDay,
} from "./reads/settlement-inputs";
import type { Ledger, LedgerShard } from "./shards";

export interface SettlementSettings {
  readonly settleAfterDays: number;
  readonly withholdingBps: number;
  readonly timeZone: string;
}

export interface DayRunReport {
  readonly day: string;
  readonly runId: string;
  /** Creators with tips on the day. */
  readonly creators: number;
  readonly settled: readonly string[];
  readonly alreadySettled: number;
  readonly held: readonly string[];
  /** Not settled by this run: credits still in transit, inputs changing, a refused guard. */
  readonly deferred: readonly { readonly creatorId: string; readonly why: string }[];
  readonly complete: boolean;
}

interface Candidate {
  readonly creatorId: string;
  readonly tips: DayTips;
}

export async function settleBusinessDay(
  ledger: Ledger,
  settings: SettlementSettings,
  day: string,
  run: { readonly runId: string; readonly actorId: string },
  nowMs: number,
): Promise<Result<DayRunReport>> {
  const dueAtMs = settlementDueAtMs(day, settings.settleAfterDays, settings.timeZone);
  if (dueAtMs > nowMs) return fail("settlement_not_due", `Day ${day} settles from ${new Date(dueAtMs).toISOString()}.`);
  const { startMs, endMs } = dayRangeMs(day, settings.timeZone);
  const [tips, inTransit] = await Promise.all([
    tipsOfDay(ledger, startMs, endMs),
    creatorsWithCreditsInTransit(ledger, endMs),
  ]);
  const holds = await riskHolds(ledger.control, [...tips.keys()]);

  const settled: string[] = [];
  const held: string[] = [];
  const deferred: { creatorId: string; why: string }[] = [];
  let alreadySettled = 0;

  const byShard = new Map<LedgerShard, Candidate[]>();
  for (const [creatorId, dayTips] of tips) {
    const shard = ledger.forOwner(creatorId);
    byShard.set(shard, [...(byShard.get(shard) ?? []), { creatorId, tips: dayTips }]);
  }
  for (const [shard, candidates] of byShard) {
    for (let i = 0; i < candidates.length; i += LIMITS.settlementsPerBatchMax) {
      let batch = candidates.slice(i, i + LIMITS.settlementsPerBatchMax);
      for (let attempt = 1; batch.length > 0; attempt++) {
        const states = await readStates(shard, batch, day);
        const composed: { candidate: Candidate; input: SettlementInput }[] = [];
        const holdRows: D1PreparedStatement[] = [];
        for (const candidate of batch) {
          const state = states.get(candidate.creatorId);
          assert(state !== undefined, "every candidate's state was read");
          if (state.state === "settled") {
            alreadySettled += 1;
            continue;
          }
          const input = settlementInput(candidate, state, settings, day, run, nowMs);
          const hold = holds.get(candidate.creatorId);
          if (hold !== undefined) {
            holdRows.push(heldRow(shard.db, input, hold));
            held.push(candidate.creatorId);
          } else if (inTransit.has(candidate.creatorId)) {
            deferred.push({ creatorId: candidate.creatorId, why: "credits_in_transit" });
          } else composed.push({ candidate, input });
        }
        if (holdRows.length > 0) await shard.db.batch(holdRows);
        const operations = composed.map(({ input }) =>
          settlementPostings(input.record).length > 0
            ? composeSettlement(shard, input)
            : composeEmptySettlement(shard, input),
        );
        // One audit entry per batch, in the shard's chain, naming the creators the batch settles,
        // appended only if this run settled one of them in it: a duplicate run (every operation
        // `exists`) appends nothing, and so never contends for the chain.
        const audit: AuditAction = {
          actor: run.actorId,
          action: "settlement.run",
          target: `day:${day}`,
          requestId: run.runId,
          before: null,
          after: { creators: composed.map(({ candidate }) => candidate.creatorId) },
        };
        const settledByThisRun: SqlCondition = {
          sql: `EXISTS (SELECT 1 FROM creator_settlements WHERE id IN (SELECT value FROM json_each(?))
                 AND run_id = ? AND state = 'settled')`,
          params: [JSON.stringify(composed.map(({ input }) => input.record.key)), run.runId],
        };
        const verdicts =
          operations.length === 0
            ? []
            : await withAuditEntry(shard.db, audit, (draft) =>
                runOperations(shard, operations, [draft.statement(settledByThisRun)]),
              );
        const retry: Candidate[] = [];
        verdicts.forEach((verdict: Verdict, k) => {
          const entry = composed[k];
          assert(entry !== undefined, "one verdict per settlement");
          const { creatorId } = entry.candidate;
          if (verdict.kind === "posted") settled.push(creatorId);
          else if (verdict.kind === "exists") alreadySettled += 1;
          else if (verdict.code === "settlement_inputs_changed" && attempt < LIMITS.settlementAttemptsMax) {
            retry.push(entry.candidate);
          } else deferred.push({ creatorId, why: verdict.code });
        });
        batch = retry;
      }
    }
  }
  return ok({
    day,
    runId: run.runId,
    creators: tips.size,
    settled,
    alreadySettled,
    held,
    deferred,
    complete: deferred.length === 0,
  });
}

function settlementInput(
  candidate: Candidate,
  state: CreatorDayState,
  settings: SettlementSettings,
  day: string,
  run: { readonly runId: string; readonly actorId: string },
  nowMs: number,
): SettlementInput {
  const postings: DayPostings = {
    creatorId: candidate.creatorId,
    day,
    grossMinor: candidate.tips.grossMinor,
    platformMinor: candidate.tips.platformMinor,
    reversedMinor: state.reversedMinor,
    withholdingBps: settings.withholdingBps,
    receivableMinor: state.receivableMinor,
  };
  return {
    record: settleDay(postings, settings.settleAfterDays, settings.timeZone),
    tipCount: candidate.tips.tipCount,
    currency: DEFAULT_CURRENCY,
    withholdingBps: settings.withholdingBps,
    runId: run.runId,
    actorId: run.actorId,
    nowMs,
    receivableBeforeMinor: state.receivableMinor,
  };
}

async function readStates(
  shard: LedgerShard,
  candidates: readonly Candidate[],
  day: string,
): Promise<Map<string, CreatorDayState>> {
  const results = await shard.db.batch(candidates.map((c) => creatorDayStateStatement(shard.db, c.creatorId, day)));
  return new Map(candidates.map((c, i) => [c.creatorId, creatorDayStateFrom(results[i])]));
}

/** Creators under risk hold among `creatorIds`, with the reason (control database). */
export async function riskHolds(control: D1Database, creatorIds: readonly string[]): Promise<Map<string, string>> {
  const holds = new Map<string, string>();
  const chunk = 90; // D1 binds at most 100 parameters per statement.
  for (let i = 0; i < creatorIds.length; i += chunk) {
    const ids = creatorIds.slice(i, i + chunk);
    const { results } = await control
      .prepare(
        `SELECT user_id, risk_hold_reason FROM creators WHERE risk_hold = 1
         AND user_id IN (${ids.map(() => "?").join(", ")})`,
      )
      .bind(...ids)
      .all<{ user_id: string; risk_hold_reason: string | null }>();
    for (const r of results) holds.set(r.user_id, r.risk_hold_reason ?? "risk hold");
  }
  return holds;
}
