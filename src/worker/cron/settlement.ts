import { riskHolds, type SettlementSettings, settleBusinessDay } from "../../db/settlement-run";
import { type Ledger, openLedger } from "../../db/shards";
import { addDays, businessDayOf } from "../../domain/business-day";
import { LIMITS } from "../../domain/limits";
import { dayToSettle } from "../../domain/settlement";
import { configFrom } from "../../platform/config";
import type { Logger } from "../../platform/logger";
import { noticeSettledDay } from "../notifications/notice";

/**
 * The settlement job (minutely): settles the business day that became due today (T+N), and
 * catches up on the days before it a run has not completed (the cron was down, a creator was
 * deferred because credits were still in transit), and re-runs the days of creators whose risk
 * hold an operator lifted. Days are settled oldest first, so receivables are offset in order.
 *
 * Cheap when nothing is due: an isolate remembers the days it completed, so a warm minute reads
 * only the `held` rows (an index) of each shard. A cold isolate re-runs the last
 * `settlementCatchUpDaysMax` + 1 days once; they are idempotent and find them settled.
 */
const completedDays = new WeakMap<D1Database, Set<string>>();

export interface SettlementJobReport {
  readonly days: number;
  readonly settled: number;
  readonly held: number;
  readonly deferred: number;
}

export function settlementSettings(env: Env): SettlementSettings {
  const config = configFrom(env);
  return { ...config.settlement, timeZone: config.businessTimeZone };
}

export async function runDueSettlements(env: Env, nowMs: number, log: Logger): Promise<SettlementJobReport> {
  const settings = settlementSettings(env);
  const ledger = await openLedger(env, nowMs);
  const completed = completedDays.get(env.CONTROL) ?? new Set<string>();
  completedDays.set(env.CONTROL, completed);

  const last = dayToSettle(businessDayOf(nowMs, settings.timeZone), settings.settleAfterDays);
  const days = new Set<string>();
  for (let back = LIMITS.settlementCatchUpDaysMax; back >= 0; back--) {
    const day = addDays(last, -back);
    if (!completed.has(day)) days.add(day);
  }
  for (const day of await releasedHeldDays(ledger)) days.add(day);

  const report = { days: days.size, settled: 0, held: 0, deferred: 0 };
  for (const day of [...days].sort()) {
    const run = await settleBusinessDay(
      ledger,
      settings,
      day,
      { runId: `cron:${nowMs}`, actorId: "system:settlement" },
      nowMs,
    );
    if (!run.ok) continue; // a released hold of a day not due: impossible, a held day was due
    const { settled, held, deferred } = run.value;
    report.settled += settled.length;
    report.held += held.length;
    report.deferred += deferred.length;
    await noticeSettledDay(env, ledger, day, settled, nowMs, log);
    if (held.length > 0) log.warn("alert_settlement_held", { day, creators: held });
    if (deferred.length > 0) log.info("settlement_deferred", { day, deferred });
    if (run.value.complete) completed.add(day);
  }
  return report;
}

/** Days with a `held` row whose creator's hold has since been lifted. */
async function releasedHeldDays(ledger: Ledger): Promise<Set<string>> {
  const rows: { creator_id: string; day: string }[] = [];
  for (const shard of ledger.shards) {
    const { results } = await shard.db
      .prepare("SELECT creator_id, day FROM creator_settlements WHERE state = 'held' ORDER BY day LIMIT 500")
      .all<{ creator_id: string; day: string }>();
    rows.push(...results);
  }
  if (rows.length === 0) return new Set();
  const holds = await riskHolds(ledger.control, [...new Set(rows.map((r) => r.creator_id))]);
  return new Set(rows.filter((r) => !holds.has(r.creator_id)).map((r) => r.day));
}
