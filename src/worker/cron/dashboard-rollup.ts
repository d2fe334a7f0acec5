import { firstOpenDay, mergePeriodTops, periodsOfDays, purgePayerDays, rollupShard } from "../../db/dashboard-rollup";
import { openLedger } from "../../db/shards";
import { businessDayOf } from "../../domain/business-day";
import { configFrom } from "../../platform/config";

export interface DashboardRollupFigures {
  /** Shard-days recomputed, and how many of them became final. */
  readonly days: number;
  readonly finalized: number;
  /** Periods whose cross-shard tops were merged again. */
  readonly periods: number;
  readonly payerDaysPurged: number;
}

/**
 * The platform dashboard's rollup (src/db/dashboard-rollup.ts), every minute but cheap: per shard
 * it recomputes today and any unfinished earlier day when its last computation is an hour old
 * (or the day can now be finalized), then merges the tops of the periods it touched. It runs
 * before `ledger-archive`, which starts no archive over days not final here.
 */
export async function rollupDashboard(env: Env, nowMs: number): Promise<DashboardRollupFigures> {
  const ledger = await openLedger(env);
  const timeZone = configFrom(env).businessTimeZone;
  const today = businessDayOf(nowMs, timeZone);
  const rolledDays = new Set<string>();
  let days = 0;
  let finalized = 0;
  let payerDaysPurged = 0;
  for (const shard of ledger.shards) {
    const rolled = await rollupShard(shard.db, timeZone, today, nowMs);
    days += rolled.length;
    for (const r of rolled) {
      rolledDays.add(r.day);
      if (r.final) finalized += 1;
    }
    payerDaysPurged += await purgePayerDays(shard.db, await firstOpenDay(shard.db, timeZone, today));
  }
  const periods = periodsOfDays(rolledDays);
  const dbs = ledger.shards.map((s) => s.db);
  for (const { grain, period } of periods) await mergePeriodTops(env.CONTROL, dbs, grain, period);
  return { days, finalized, periods: periods.length, payerDaysPurged };
}
