import { mergePeriodTops, periodsOfDays, rollupShardDay } from "../src/db/dashboard-rollup";
import type { Ledger } from "../src/db/shards";
import { addDays, businessDayOf } from "../src/domain/business-day";
import type { Config } from "../src/platform/config";

/** The demo's history reaches this many days back (dev/seed-earnings.ts: 14). */
const DAYS = 15;

/**
 * Rolls the demo's days up at once, so `npm start`'s dashboard is filled before the hourly
 * cron job (which would catch up four days per shard per run) gets to them. The same
 * idempotent rollup the cron job runs: a second seed recomputes the same rows.
 */
export async function seedDemoDashboard(ledger: Ledger, config: Config, nowMs: number): Promise<number> {
  const today = businessDayOf(nowMs, config.businessTimeZone);
  const days = Array.from({ length: DAYS + 1 }, (_, i) => addDays(today, i - DAYS));
  for (const shard of ledger.shards) {
    for (const day of days) await rollupShardDay(shard.db, day, config.businessTimeZone, nowMs);
  }
  const periods = periodsOfDays(days);
  const dbs = ledger.shards.map((s) => s.db);
  for (const { grain, period } of periods) await mergePeriodTops(ledger.control, dbs, grain, period);
  return days.length;
}
