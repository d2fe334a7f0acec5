/**
 * What a creator's settlement of one business day is computed from (domain/settlement.ts),
 * as SQL shared by the reads, the settlement's guard and the invariant checker, so that all
 * three agree on the same numbers:
 *
 *   - gross, platform share and tip count of the day: the `tips` rows of EVERY shard (a tip
 *     lives in its viewer's shard), summed per creator, with the day's paid unlocks
 *     (`entitlements`, operations/unlock.ts: the creator's part reached pending like a tip's);
 *   - reversals before settlement: the creator's shard, `tip_reversals` and `unlock_refunds` of
 *     that day from pending;
 *   - the outstanding receivable: the creator's shard, Σ receivables of reversals after a
 *     settlement (in each reversal operation's metadata) − Σ offsets of settled days.
 */

import { accountAddress } from "../../domain/accounts";
import { addDays, dayStartMs } from "../../domain/business-day";
import { assert } from "../../domain/limits";
import type { SqlCondition } from "../ledger";
import type { Ledger } from "../shards";

/**
 * Tip reversals and unlock refunds (operations/unlock-refund.ts) as one set: both take a
 * creator part back, from pending before the day settled or as a receivable after, by one rule.
 */
export const CREATOR_REVERSALS_SQL = `(SELECT id, creator_id, tip_day AS day, creator_minor, source, moved_receivable_minor
    FROM tip_reversals
  UNION ALL SELECT id, creator_id, unlock_day, creator_minor, source, moved_receivable_minor FROM unlock_refunds)`;

/** Σ creator part of the day's tips and unlocks reversed before the day settled (they left pending). Binds creator, day. */
export const REVERSED_BEFORE_SQL = `(SELECT COALESCE(SUM(creator_minor), 0) FROM ${CREATOR_REVERSALS_SQL}
  WHERE creator_id = ? AND day = ? AND source = 'pending')`;

/**
 * What the creator owes: receivables of reversals after settlement − what settlements have
 * offset. The receivable of a reversal is in its operation's metadata (`receivableMinor`):
 * the creator part less the withholding it was settled with; on a row a bucket move copied
 * in, whose operation stayed in the old shard, in `moved_receivable_minor`. `creator` is an SQL expression
 * naming the creator (a bound `?`, or an outer query's column).
 */
export function receivableSqlFor(creator: string): string {
  return `((SELECT COALESCE(SUM(COALESCE(r.moved_receivable_minor, json_extract(o.metadata, '$.receivableMinor'))), 0)
    FROM ${CREATOR_REVERSALS_SQL} r LEFT JOIN operations o ON o.id = r.id
    WHERE r.creator_id = ${creator} AND r.source = 'receivable')
  - (SELECT COALESCE(SUM(s.receivable_offset_minor), 0) FROM creator_settlements s
    WHERE s.creator_id = ${creator} AND s.state = 'settled'))`;
}

/** `receivableSqlFor` of a bound creator id: binds it twice. */
export const RECEIVABLE_SQL = receivableSqlFor("?");

export function receivableOf(creatorId: string): SqlCondition {
  return { sql: RECEIVABLE_SQL, params: [creatorId, creatorId] };
}

/** [start, end) of a business day in ms. */
export function dayRangeMs(day: string, timeZone: string): { startMs: number; endMs: number } {
  return { startMs: dayStartMs(day, timeZone), endMs: dayStartMs(addDays(day, 1), timeZone) };
}

export interface DayTips {
  readonly grossMinor: number;
  readonly platformMinor: number;
  readonly tipCount: number;
}

/**
 * Per creator, the day's tips over every shard: one grouped query per shard. An entitlement a
 * bucket move copied (`moved_from_shard`) is counted by its original in the old shard only.
 */
export async function tipsOfDay(ledger: Ledger, startMs: number, endMs: number): Promise<Map<string, DayTips>> {
  const perShard = await Promise.all(
    ledger.shards.map(({ db }) =>
      db
        .prepare(
          `SELECT creator_id, SUM(amount_minor) AS gross, SUM(platform_minor) AS platform, COUNT(*) AS n FROM (
             SELECT creator_id, amount_minor, platform_minor FROM tips WHERE created_at_ms >= ?1 AND created_at_ms < ?2
             UNION ALL
             SELECT creator_id, amount_minor, platform_minor FROM entitlements
             WHERE created_at_ms >= ?1 AND created_at_ms < ?2 AND moved_from_shard IS NULL
           ) GROUP BY creator_id`,
        )
        .bind(startMs, endMs)
        .all<{ creator_id: string; gross: number; platform: number; n: number }>(),
    ),
  );
  const byCreator = new Map<string, DayTips>();
  for (const { results } of perShard) {
    for (const r of results) {
      const before = byCreator.get(r.creator_id) ?? { grossMinor: 0, platformMinor: 0, tipCount: 0 };
      byCreator.set(r.creator_id, {
        grossMinor: before.grossMinor + r.gross,
        platformMinor: before.platformMinor + r.platform,
        tipCount: before.tipCount + r.n,
      });
    }
  }
  return byCreator;
}

const PENDING_ADDRESS = /^creator:(.+):pending$/;

/**
 * Creators with a credit to their pending committed before `endMs` and not yet delivered to
 * their shard (any shard's transit outbox): settling them now would settle short, so they wait.
 */
export async function creatorsWithCreditsInTransit(ledger: Ledger, endMs: number): Promise<Set<string>> {
  const perShard = await Promise.all(
    ledger.shards.map(({ db }) =>
      db
        .prepare(
          `SELECT DISTINCT json_extract(leg.value, '$.to') AS account
           FROM transit_outbox o, json_each(o.postings) leg
           WHERE o.delivered_at_ms IS NULL AND o.created_at_ms < ?
             AND json_extract(leg.value, '$.to') LIKE 'creator:%:pending'`,
        )
        .bind(endMs)
        .all<{ account: string }>(),
    ),
  );
  const creators = new Set<string>();
  for (const { results } of perShard) {
    for (const r of results) {
      const id = PENDING_ADDRESS.exec(r.account)?.[1];
      if (id !== undefined) creators.add(id);
    }
  }
  return creators;
}

export interface CreatorDayState {
  readonly state: "held" | "settled" | null;
  readonly reversedMinor: number;
  readonly receivableMinor: number;
}

/** In the creator's shard: the day's settlement row state, reversals before settlement, the receivable. */
export function creatorDayStateStatement(db: D1Database, creatorId: string, day: string): D1PreparedStatement {
  return db
    .prepare(
      `SELECT (SELECT state FROM creator_settlements WHERE creator_id = ? AND day = ?) AS state,
         ${REVERSED_BEFORE_SQL} AS reversed, ${RECEIVABLE_SQL} AS receivable`,
    )
    .bind(creatorId, day, creatorId, day, creatorId, creatorId);
}

export function creatorDayStateFrom(result: D1Result | undefined): CreatorDayState {
  const row = result?.results[0] as
    | { state: "held" | "settled" | null; reversed: number; receivable: number }
    | undefined;
  assert(row !== undefined, "one row of a creator's day state");
  return { state: row.state, reversedMinor: row.reversed, receivableMinor: row.receivable };
}

/** A creator's money-out balances, in their shard. */
export async function creatorBalances(
  db: D1Database,
  creatorId: string,
): Promise<{ pendingMinor: number; availableMinor: number; withdrawingMinor: number; receivableMinor: number }> {
  const addresses = [
    accountAddress.creatorPending(creatorId),
    accountAddress.creatorAvailable(creatorId),
    accountAddress.creatorWithdrawing(creatorId),
  ];
  const [balances, receivable] = await db.batch([
    db.prepare(`SELECT address, balance_minor FROM accounts WHERE address IN (?, ?, ?)`).bind(...addresses),
    db.prepare(`SELECT ${RECEIVABLE_SQL} AS receivable`).bind(creatorId, creatorId),
  ]);
  const of = new Map(
    ((balances?.results ?? []) as { address: string; balance_minor: number }[]).map((r) => [
      r.address,
      r.balance_minor,
    ]),
  );
  return {
    pendingMinor: of.get(addresses[0] as string) ?? 0,
    availableMinor: of.get(addresses[1] as string) ?? 0,
    withdrawingMinor: of.get(addresses[2] as string) ?? 0,
    receivableMinor: (receivable?.results[0] as { receivable: number } | undefined)?.receivable ?? 0,
  };
}
