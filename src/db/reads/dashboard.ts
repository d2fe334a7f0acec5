/**
 * The platform dashboard's read: only rollup rows (src/db/dashboard-rollup.ts), never the
 * ledger — per shard the range's day rows and the grain's payer rows, from the control database
 * one period's tops. `rowsRead` is what D1 reports having read (`meta.rows_read`), bounded by
 * `dashboardRowsReadMax` (domain/dashboard.ts).
 */

import {
  buildSeries,
  type Grain,
  periodOfDay,
  type SeriesPoint,
  TOP_KINDS,
  type TopKind,
  type Totals,
} from "../../domain/dashboard";

export interface DashboardQuery {
  readonly grain: Grain;
  readonly from: string;
  readonly to: string;
  readonly currency: string;
  /** The period whose tops to read (a period of `grain`). */
  readonly topPeriod: string;
}

export interface TopRow {
  readonly rank: number;
  readonly key: string;
  readonly label: string | null;
  readonly amountMinor: number;
  readonly tipCount: number;
}

export interface Dashboard {
  readonly series: SeriesPoint[];
  readonly tops: Record<TopKind, TopRow[]>;
  readonly rowsRead: number;
}

export async function readDashboard(
  control: D1Database,
  shards: readonly D1Database[],
  q: DashboardQuery,
): Promise<Dashboard> {
  let rowsRead = 0;
  const days: ({ day: string } & Totals)[] = [];
  const payers: { period: string; payers: number }[] = [];
  const perShard = await Promise.all(
    shards.map((db) =>
      db.batch([
        db
          .prepare(
            `SELECT day, tip_count AS tipCount, tip_minor AS tipMinor, platform_minor AS platformMinor,
                    packet_paid_minor AS packetPaidMinor, packets_sent AS packetsSent,
                    packets_sent_minor AS packetsSentMinor, claims, claimed_minor AS claimedMinor,
                    unlock_count AS unlockCount, unlock_minor AS unlockMinor
               FROM dashboard_days WHERE currency = ?1 AND day >= ?2 AND day <= ?3`,
          )
          .bind(q.currency, q.from, q.to),
        db
          .prepare(
            `SELECT period, payers FROM dashboard_payers
              WHERE currency = ?1 AND grain = ?2 AND period >= ?3 AND period <= ?4`,
          )
          .bind(q.currency, q.grain, periodOfDay(q.grain, q.from), periodOfDay(q.grain, q.to)),
      ]),
    ),
  );
  for (const [dayRows, payerRows] of perShard) {
    rowsRead += (dayRows?.meta.rows_read ?? 0) + (payerRows?.meta.rows_read ?? 0);
    days.push(...((dayRows?.results ?? []) as ({ day: string } & Totals)[]));
    payers.push(...((payerRows?.results ?? []) as { period: string; payers: number }[]));
  }
  const topRows = await control
    .prepare(
      `SELECT t.kind, t.rank, t.key, t.amount_minor AS amountMinor, t.tip_count AS tipCount,
              CASE t.kind WHEN 'creator' THEN (SELECT display_name FROM creators WHERE user_id = t.key)
                          WHEN 'room' THEN (SELECT title FROM rooms WHERE id = t.key)
                          ELSE (SELECT name FROM gifts WHERE id = t.key) END AS label
         FROM dashboard_tops t WHERE t.grain = ?1 AND t.period = ?2 AND t.currency = ?3
        ORDER BY t.kind, t.rank`,
    )
    .bind(q.grain, q.topPeriod, q.currency)
    .all<TopRow & { kind: TopKind }>();
  rowsRead += topRows.meta.rows_read ?? 0;
  const tops = Object.fromEntries(TOP_KINDS.map((k) => [k, [] as TopRow[]])) as Record<TopKind, TopRow[]>;
  for (const { kind, ...row } of topRows.results) tops[kind].push(row);
  return { series: buildSeries(q.grain, q.from, q.to, days, payers), tops, rowsRead };
}
