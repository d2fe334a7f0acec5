/**
 * What a creator's console charts: income by business day, top fans and gift preference over
 * the last days. Income is tips (in a room or on content) and paid unlocks of the creator's
 * content (付费阅读), which pay the creator alike. Both live in the PAYERS' shards (they commit
 * where the payer's wallet is), so each figure is one grouped query per ledger shard over the
 * indexes tips(creator_id, created_at_ms) and entitlements(creator_id, created_at_ms), merged
 * here; a bucket move's copy of an entitlement (`moved_from_shard`) is counted by its original:
 *
 * - daily: the days' bounds in the business time zone go in as one JSON parameter (a day is
 *   not always 24 h in a zone with DST), joined to the tips and unlocks by range;
 * - top fans: a viewer's tips and unlocks are all in the viewer's shard, so each shard's top K
 *   are exact and the merge of them is the exact global top K;
 * - gifts: tips only, summed per gift across shards.
 *
 * Cost: each query reads the creator's tips and unlocks of the window once per shard (bounded
 * by the window, not the ledger). Issue 17's rollups replace this for long windows.
 */

import { addDays, businessDayOf, dayStartMs } from "../../domain/business-day";
import { assert, LIMITS } from "../../domain/limits";
import type { Ledger } from "../shards";

export interface DailyIncome {
  readonly day: string;
  readonly tips: number;
  readonly unlocks: number;
  /** Tips and unlocks, gross; `creatorMinor` is the creator's part of both. */
  readonly grossMinor: number;
  readonly creatorMinor: number;
}

export interface Fan {
  readonly viewerId: string;
  readonly tips: number;
  readonly unlocks: number;
  /** What the fan paid the creator in tips and unlocks. */
  readonly grossMinor: number;
}

export interface GiftPreference {
  /** null: custom tips (an amount, no gift). */
  readonly giftId: string | null;
  readonly count: number;
  readonly grossMinor: number;
}

export interface CreatorInsights {
  readonly fromDay: string;
  readonly toDay: string;
  readonly daily: readonly DailyIncome[];
  readonly topFans: readonly Fan[];
  readonly gifts: readonly GiftPreference[];
}

export const INSIGHTS_DAYS_MAX = 92;

/**
 * The creator's income rows of [?3, ?4) in one shard, for creator ?2: each tip and each original
 * unlock, with its payer, gross, creator part and time (`tip`/`unlock` flag which it is).
 */
const INCOME_SQL = `
  SELECT viewer_id, 1 AS tip, 0 AS unlock, amount_minor, creator_minor, created_at_ms FROM tips
   WHERE creator_id = ?2 AND created_at_ms >= ?3 AND created_at_ms < ?4
  UNION ALL
  SELECT user_id, 0, 1, amount_minor, creator_minor, created_at_ms FROM entitlements
   WHERE creator_id = ?2 AND created_at_ms >= ?3 AND created_at_ms < ?4 AND moved_from_shard IS NULL`;
export const TOP_FANS = 10;

export async function readCreatorInsights(
  ledger: Ledger,
  creatorId: string,
  days: number,
  timeZone: string,
  nowMs: number,
): Promise<CreatorInsights> {
  assert(Number.isInteger(days) && days >= 1 && days <= INSIGHTS_DAYS_MAX, "a window of whole days");
  assert(creatorId.length > 0 && creatorId.length <= LIMITS.userIdMaxLength, "a creator id");
  const toDay = businessDayOf(nowMs, timeZone);
  const fromDay = addDays(toDay, -(days - 1));
  const bounds: [string, number, number][] = [];
  for (let i = 0; i < days; i++) {
    const day = addDays(fromDay, i);
    bounds.push([day, dayStartMs(day, timeZone), dayStartMs(addDays(day, 1), timeZone)]);
  }
  const startMs = bounds[0]?.[1] ?? 0;
  const endMs = bounds[bounds.length - 1]?.[2] ?? 0;

  const perShard = await Promise.all(
    ledger.shards.map(async ({ db }) => {
      const [daily, fans, gifts] = await db.batch([
        db
          .prepare(
            `SELECT d.value ->> 0 AS day, COALESCE(SUM(i.tip), 0) AS tips, COALESCE(SUM(i.unlock), 0) AS unlocks,
                    COALESCE(SUM(i.amount_minor), 0) AS gross, COALESCE(SUM(i.creator_minor), 0) AS creator
               FROM json_each(?1) AS d
               JOIN (${INCOME_SQL}) AS i ON i.created_at_ms >= d.value ->> 1 AND i.created_at_ms < d.value ->> 2
              GROUP BY d.value ->> 0`,
          )
          .bind(JSON.stringify(bounds), creatorId, startMs, endMs),
        db
          .prepare(
            `SELECT viewer_id, SUM(tip) AS tips, SUM(unlock) AS unlocks, SUM(amount_minor) AS gross
               FROM (${INCOME_SQL})
              GROUP BY viewer_id ORDER BY gross DESC, viewer_id LIMIT ?5`,
          )
          .bind(null, creatorId, startMs, endMs, TOP_FANS),
        db
          .prepare(
            `SELECT gift_id, SUM(quantity) AS count, SUM(amount_minor) AS gross FROM tips
              WHERE creator_id = ? AND created_at_ms >= ? AND created_at_ms < ?
              GROUP BY gift_id`,
          )
          .bind(creatorId, startMs, endMs),
      ]);
      return {
        daily: (daily?.results ?? []) as {
          day: string;
          tips: number;
          unlocks: number;
          gross: number;
          creator: number;
        }[],
        fans: (fans?.results ?? []) as { viewer_id: string; tips: number; unlocks: number; gross: number }[],
        gifts: (gifts?.results ?? []) as { gift_id: string | null; count: number; gross: number }[],
      };
    }),
  );

  const byDay = new Map(bounds.map(([day]) => [day, { day, tips: 0, unlocks: 0, grossMinor: 0, creatorMinor: 0 }]));
  const fans: Fan[] = [];
  const byGift = new Map<string | null, { giftId: string | null; count: number; grossMinor: number }>();
  for (const shard of perShard) {
    for (const row of shard.daily) {
      const d = byDay.get(row.day);
      assert(d !== undefined, "a day of the window");
      d.tips += row.tips;
      d.unlocks += row.unlocks;
      d.grossMinor += row.gross;
      d.creatorMinor += row.creator;
    }
    for (const row of shard.fans)
      fans.push({ viewerId: row.viewer_id, tips: row.tips, unlocks: row.unlocks, grossMinor: row.gross });
    for (const row of shard.gifts) {
      const g = byGift.get(row.gift_id) ?? { giftId: row.gift_id, count: 0, grossMinor: 0 };
      g.count += row.count;
      g.grossMinor += row.gross;
      byGift.set(row.gift_id, g);
    }
  }
  fans.sort((a, b) => b.grossMinor - a.grossMinor || (a.viewerId < b.viewerId ? -1 : 1));
  return {
    fromDay,
    toDay,
    daily: [...byDay.values()],
    topFans: fans.slice(0, TOP_FANS),
    gifts: [...byGift.values()].sort((a, b) => b.grossMinor - a.grossMinor),
  };
}
