/**
 * The platform dashboard's rollups (docs/ARCHITECTURE.md, Platform dashboard). Per shard, a
 * business day is recomputed whole from that shard's live `tips`, `entitlements` (paid
 * unlocks), `red_packets` and `red_packet_claims` in one batch — delete the day's rows, insert them again — so a re-run
 * gives the same rows; then the distinct payers of the day's week and month are counted again
 * from the shard's payer sets. Across shards, the tops of a period are merged from every
 * shard's per-entity day sums into the control database.
 */

import { addDays, businessDayOf, dayStartMs } from "../domain/business-day";
import {
  DASHBOARD_LIMITS,
  type EntitySum,
  GRAINS,
  type Grain,
  mergeTops,
  periodDays,
  periodOfDay,
} from "../domain/dashboard";
import { archivedBefore } from "./archive/coverage";

export interface DayRollup {
  readonly day: string;
  readonly final: boolean;
}

const TIPS_OF_DAY = "FROM tips WHERE created_at_ms >= ?2 AND created_at_ms < ?3";
/**
 * The day's paid unlocks: the entitlements their unlocks wrote, revoked ones too (gross: a refund
 * is not deducted, like a tip reversal), never a bucket move's copy (`moved_from_shard`), which
 * the original in the payer's former shard already counts.
 */
const UNLOCKS_OF_DAY =
  "FROM entitlements WHERE created_at_ms >= ?2 AND created_at_ms < ?3 AND moved_from_shard IS NULL";
/** Packets live at most a day; their claims are credited within it (or soon after): two days back is ample. */
const PACKET_LOOKBACK_MS = 2 * 24 * 60 * 60 * 1000;

/**
 * Recomputes one business day of one shard from its ledger rows. `final` when computed at least
 * `finalAfterMs` after the day ended: the cron job stops recomputing it, and archival may take
 * its rows. Claims count on the day their credit posted (their row's time), on packets held in
 * this shard (the sender's). Unlocks count in the day's totals (their platform part in
 * `platform_minor`), payers and creators' tops by amount; a creator top's `tip_count` stays tips.
 */
export async function rollupShardDay(db: D1Database, day: string, timeZone: string, nowMs: number): Promise<DayRollup> {
  const fromMs = dayStartMs(day, timeZone);
  const toMs = dayStartMs(addDays(day, 1), timeZone);
  const final = nowMs >= toMs + DASHBOARD_LIMITS.finalAfterMs;
  const week = periodDays("week", periodOfDay("week", day));
  const month = periodDays("month", periodOfDay("month", day));
  const payerCount = (grain: Grain, first: string, last: string) => [
    db.prepare("DELETE FROM dashboard_payers WHERE grain = ?1 AND period = ?2").bind(grain, periodOfDay(grain, day)),
    db
      .prepare(
        `INSERT INTO dashboard_payers (currency, grain, period, payers)
         SELECT currency, ?1, ?2, COUNT(DISTINCT user_id) FROM dashboard_payer_days
          WHERE day >= ?3 AND day <= ?4 GROUP BY currency`,
      )
      .bind(grain, periodOfDay(grain, day), first, last),
  ];
  const entity = (kind: string, column: string, extra = "") =>
    db
      .prepare(
        `INSERT INTO dashboard_entity_days (day, currency, kind, key, amount_minor, tip_count)
         SELECT ?1, currency, '${kind}', ${column}, SUM(amount_minor), COUNT(*) ${TIPS_OF_DAY} ${extra}
          GROUP BY currency, ${column}`,
      )
      .bind(day, fromMs, toMs);
  // A creator's amount is their tips and their unlocks, gross; `tip_count` counts the tips only.
  const creators = db
    .prepare(
      `INSERT INTO dashboard_entity_days (day, currency, kind, key, amount_minor, tip_count)
       SELECT ?1, currency, 'creator', creator_id, SUM(a), SUM(n) FROM (
         SELECT currency, creator_id, amount_minor AS a, 1 AS n ${TIPS_OF_DAY}
         UNION ALL
         SELECT currency, creator_id, amount_minor, 0 ${UNLOCKS_OF_DAY}
       ) GROUP BY currency, creator_id`,
    )
    .bind(day, fromMs, toMs);
  await db.batch([
    db.prepare("DELETE FROM dashboard_days WHERE day = ?1").bind(day),
    db
      .prepare(
        `INSERT INTO dashboard_days (currency, day, tip_count, tip_minor, platform_minor, packet_paid_minor,
                                     packets_sent, packets_sent_minor, claims, claimed_minor, unlock_count, unlock_minor)
         SELECT currency, ?1, SUM(tc), SUM(tm), SUM(pm), SUM(ppm), SUM(ps), SUM(psm), SUM(c), SUM(cm), SUM(uc), SUM(um)
         FROM (
           SELECT currency, COUNT(*) AS tc, SUM(amount_minor) AS tm, SUM(platform_minor) AS pm,
                  0 AS ppm, 0 AS ps, 0 AS psm, 0 AS c, 0 AS cm, 0 AS uc, 0 AS um
             ${TIPS_OF_DAY} GROUP BY currency
           UNION ALL
           SELECT currency, 0, 0, SUM(platform_minor), 0, 0, 0, 0, 0, COUNT(*), SUM(amount_minor)
             ${UNLOCKS_OF_DAY} GROUP BY currency
           UNION ALL
           SELECT currency, 0, 0, 0, SUM(CASE WHEN funding = 'wallet' THEN total_minor ELSE 0 END),
                  COUNT(*), SUM(total_minor), 0, 0, 0, 0
             FROM red_packets WHERE created_at_ms >= ?2 AND created_at_ms < ?3 GROUP BY currency
           UNION ALL
           SELECT p.currency, 0, 0, 0, 0, 0, 0, COUNT(*), SUM(c.amount_minor), 0, 0
             FROM red_packets p JOIN red_packet_claims c ON c.packet_id = p.id
            WHERE p.created_at_ms >= ?2 - ${PACKET_LOOKBACK_MS} AND p.created_at_ms < ?3
              AND c.credited_at_ms >= ?2 AND c.credited_at_ms < ?3
            GROUP BY p.currency
         ) GROUP BY currency`,
      )
      .bind(day, fromMs, toMs),
    db.prepare("DELETE FROM dashboard_entity_days WHERE day = ?1").bind(day),
    creators,
    // Tips on content items have no room: they count in the creators' and gifts' tops.
    entity("room", "room_id", "AND room_id IS NOT NULL"),
    // Custom amounts are tips without a gift: they count in the creators' and rooms' tops only.
    entity("gift", "gift_id", "AND gift_id IS NOT NULL"),
    db.prepare("DELETE FROM dashboard_payer_days WHERE day = ?1").bind(day),
    db
      .prepare(
        `INSERT INTO dashboard_payer_days (day, currency, user_id)
         SELECT ?1, currency, viewer_id ${TIPS_OF_DAY}
         UNION
         SELECT ?1, currency, user_id ${UNLOCKS_OF_DAY}
         UNION
         SELECT ?1, currency, sender_id FROM red_packets
          WHERE funding = 'wallet' AND created_at_ms >= ?2 AND created_at_ms < ?3`,
      )
      .bind(day, fromMs, toMs),
    ...payerCount("day", day, day),
    ...payerCount("week", week.first, week.last),
    ...payerCount("month", month.first, month.last),
    db
      .prepare(
        `INSERT INTO dashboard_rollups (day, final, computed_at_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (day) DO UPDATE SET final = excluded.final, computed_at_ms = excluded.computed_at_ms`,
      )
      .bind(day, final ? 1 : 0, nowMs),
  ]);
  return { day, final };
}

/** The last day this shard's rollup finalized, and every earlier one it rolled (null: none yet). */
export async function finalThrough(db: D1Database): Promise<string | null> {
  return (
    (await db.prepare("SELECT MAX(day) AS day FROM dashboard_rollups WHERE final = 1").first<string | null>("day")) ??
    null
  );
}

/**
 * The first day this shard's rollup still has to finalize: the day after the last final one;
 * on a shard that never rolled up, the day of its oldest live tip, unlock or packet (but not a day the
 * archive may already hold part of), or `fallback` when that is earlier or there is none.
 */
export async function firstOpenDay(db: D1Database, timeZone: string, fallback: string): Promise<string> {
  const last = await finalThrough(db);
  if (last !== null) return addDays(last, 1);
  const oldest = await db
    .prepare(
      `SELECT MIN(at) AS at FROM (SELECT MIN(created_at_ms) AS at FROM tips
                                  UNION ALL SELECT MIN(created_at_ms) FROM entitlements WHERE moved_from_shard IS NULL
                                  UNION ALL SELECT MIN(created_at_ms) FROM red_packets)`,
    )
    .first<number | null>("at");
  let first = oldest === null || oldest === undefined ? fallback : businessDayOf(oldest, timeZone);
  const archived = await archivedBefore(db);
  if (archived.beforeMs !== null) {
    const afterArchived = addDays(businessDayOf(archived.beforeMs, timeZone), 1);
    if (first < afterArchived) first = afterArchived;
  }
  return first < fallback ? first : fallback;
}

/**
 * One run for one shard: rolls the days from the first unfinished one through `throughDay`, in
 * order, at most `daysPerShardPerRunMax`; a day not final is recomputed only when its last
 * computation is `recomputeEveryMs` old or it can be finalized now. Returns the days rolled.
 */
export async function rollupShard(
  db: D1Database,
  timeZone: string,
  throughDay: string,
  nowMs: number,
): Promise<DayRollup[]> {
  // A shard that never rolled up and holds nothing starts yesterday: the day archival asks for next.
  const first = await firstOpenDay(db, timeZone, addDays(throughDay, -1));
  const { results } = await db
    .prepare("SELECT day, computed_at_ms FROM dashboard_rollups WHERE day >= ?1 AND day <= ?2")
    .bind(first, throughDay)
    .all<{ day: string; computed_at_ms: number }>();
  const computedAt = new Map(results.map((r) => [r.day, r.computed_at_ms]));
  const rolled: DayRollup[] = [];
  for (let day = first; day <= throughDay; day = addDays(day, 1)) {
    if (rolled.length >= DASHBOARD_LIMITS.daysPerShardPerRunMax) break;
    const last = computedAt.get(day);
    const finalizable = nowMs >= dayStartMs(addDays(day, 1), timeZone) + DASHBOARD_LIMITS.finalAfterMs;
    if (last !== undefined && !finalizable && nowMs - last < DASHBOARD_LIMITS.recomputeEveryMs) continue;
    rolled.push(await rollupShardDay(db, day, timeZone, nowMs));
  }
  return rolled;
}

/** Forgets payer sets no open period needs: those more than `payerDaysKept` days before the first open day. */
export async function purgePayerDays(db: D1Database, firstOpenDay: string): Promise<number> {
  const result = await db
    .prepare(
      `DELETE FROM dashboard_payer_days WHERE rowid IN
         (SELECT rowid FROM dashboard_payer_days WHERE day < ?1 LIMIT 5000)`,
    )
    .bind(addDays(firstOpenDay, -DASHBOARD_LIMITS.payerDaysKept))
    .run();
  return result.meta.changes ?? 0;
}

/**
 * Rewrites the exact tops of one period in the control database from every shard's per-entity
 * day sums: read per shard (summed there by entity), merged, ranked, written in one batch.
 * Reads the period's entity rows of every shard: its active creators, rooms and gifts per day.
 */
export async function mergePeriodTops(
  control: D1Database,
  shards: readonly D1Database[],
  grain: Grain,
  period: string,
): Promise<number> {
  const { first, last } = periodDays(grain, period);
  const byCurrency = new Map<string, EntitySum[]>();
  for (const db of shards) {
    const { results } = await db
      .prepare(
        `SELECT currency, kind, key, SUM(amount_minor) AS amountMinor, SUM(tip_count) AS tipCount
           FROM dashboard_entity_days WHERE day >= ?1 AND day <= ?2 GROUP BY currency, kind, key`,
      )
      .bind(first, last)
      .all<EntitySum & { currency: string }>();
    for (const { currency, ...row } of results) {
      const list = byCurrency.get(currency) ?? [];
      list.push(row);
      byCurrency.set(currency, list);
    }
  }
  const statements = [
    control.prepare("DELETE FROM dashboard_tops WHERE grain = ?1 AND period = ?2").bind(grain, period),
  ];
  let rows = 0;
  for (const [currency, parts] of byCurrency) {
    for (const top of mergeTops(parts)) {
      rows += 1;
      statements.push(
        control
          .prepare(
            `INSERT INTO dashboard_tops (grain, period, currency, kind, rank, key, amount_minor, tip_count)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)`,
          )
          .bind(grain, period, currency, top.kind, top.rank, top.key, top.amountMinor, top.tipCount),
      );
    }
  }
  await control.batch(statements);
  return rows;
}

/** The periods (of every grain) the rolled days belong to, each once. */
export function periodsOfDays(days: Iterable<string>): { grain: Grain; period: string }[] {
  const seen = new Map<string, { grain: Grain; period: string }>();
  for (const day of days) {
    for (const grain of GRAINS) {
      const period = periodOfDay(grain, day);
      seen.set(`${grain}:${period}`, { grain, period });
    }
  }
  return [...seen.values()];
}
