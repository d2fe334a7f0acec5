/**
 * What a creator's console charts: income by business day, top fans and gift preference over
 * the last days. A creator's tips live in their VIEWERS' shards (a tip commits where the payer's
 * wallet is), so each figure is one grouped query per ledger shard over the index
 * tips(creator_id, created_at_ms), merged here:
 *
 * - daily: the days' bounds in the business time zone go in as one JSON parameter (a day is
 *   not always 24 h in a zone with DST), joined to the tips by range;
 * - top fans: a viewer's tips are all in the viewer's shard, so each shard's top K are exact
 *   and the merge of them is the exact global top K;
 * - gifts: summed per gift across shards.
 *
 * Cost: each query reads the creator's tips of the window once per shard (bounded by the
 * window, not the ledger). Issue 17's rollups replace this for long windows.
 */

import { addDays, businessDayOf, dayStartMs } from "../../domain/business-day";
import { assert, LIMITS } from "../../domain/limits";
import type { Ledger } from "../shards";

export interface DailyIncome {
  readonly day: string;
  readonly tips: number;
  readonly grossMinor: number;
  readonly creatorMinor: number;
}

export interface Fan {
  readonly viewerId: string;
  readonly tips: number;
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
            `SELECT d.value ->> 0 AS day, COUNT(t.id) AS tips, COALESCE(SUM(t.amount_minor), 0) AS gross,
                    COALESCE(SUM(t.creator_minor), 0) AS creator
               FROM json_each(?) AS d
               JOIN tips t ON t.creator_id = ? AND t.created_at_ms >= d.value ->> 1 AND t.created_at_ms < d.value ->> 2
              GROUP BY d.value ->> 0`,
          )
          .bind(JSON.stringify(bounds), creatorId),
        db
          .prepare(
            `SELECT viewer_id, COUNT(*) AS tips, SUM(amount_minor) AS gross FROM tips
              WHERE creator_id = ? AND created_at_ms >= ? AND created_at_ms < ?
              GROUP BY viewer_id ORDER BY gross DESC, viewer_id LIMIT ?`,
          )
          .bind(creatorId, startMs, endMs, TOP_FANS),
        db
          .prepare(
            `SELECT gift_id, SUM(quantity) AS count, SUM(amount_minor) AS gross FROM tips
              WHERE creator_id = ? AND created_at_ms >= ? AND created_at_ms < ?
              GROUP BY gift_id`,
          )
          .bind(creatorId, startMs, endMs),
      ]);
      return {
        daily: (daily?.results ?? []) as { day: string; tips: number; gross: number; creator: number }[],
        fans: (fans?.results ?? []) as { viewer_id: string; tips: number; gross: number }[],
        gifts: (gifts?.results ?? []) as { gift_id: string | null; count: number; gross: number }[],
      };
    }),
  );

  const byDay = new Map(bounds.map(([day]) => [day, { day, tips: 0, grossMinor: 0, creatorMinor: 0 }]));
  const fans: Fan[] = [];
  const byGift = new Map<string | null, { giftId: string | null; count: number; grossMinor: number }>();
  for (const shard of perShard) {
    for (const row of shard.daily) {
      const d = byDay.get(row.day);
      assert(d !== undefined, "a day of the window");
      d.tips += row.tips;
      d.grossMinor += row.gross;
      d.creatorMinor += row.creator;
    }
    for (const row of shard.fans) fans.push({ viewerId: row.viewer_id, tips: row.tips, grossMinor: row.gross });
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
