/**
 * The creator's earning returned to the one who paid it: the leg a tip reversal
 * (operations/tip-reversal.ts) and an unlock refund (operations/unlock-refund.ts) share,
 * committed in the creator's shard. Each operation file composes its own kind around it.
 *
 * Where the creator's part comes from (domain/tip-reversal.ts):
 *   - the earning's day not settled yet: creator:{id}:pending → payer wallet;
 *   - settled: platform:receivables → payer wallet (the creator part less the withholding it
 *     was settled with) and platform:tax_payable → payer wallet (that withholding).
 *
 * Guards, in order: the creator's bucket not fenced here (`bucket_fenced`); one return per
 * earning (the caller's done-guard table and code); the earning's creator part has reached this
 * shard (the caller's in-flight code); the route is still right (`reversal_route_changed`).
 */

import { accountAddress, type Posting } from "../domain/accounts";
import { businessDayOf } from "../domain/business-day";
import type { GuardCode } from "../domain/guards";
import { assert, LIMITS } from "../domain/limits";
import { bucketOf } from "../domain/shards";
import { type ReversalRoute, reversalRoute } from "../domain/tip-reversal";
import { withholdingMinor } from "../domain/withholding";
import type { Guard, Verdict } from "./ledger";
import { deliveryId } from "./operations/transit-delivery";
import type { Ledger, LedgerShard } from "./shards";

export interface EarningReturn {
  /** The earning's operation id (the tip's, the unlock's). */
  readonly earningId: string;
  readonly creatorId: string;
  /** Whose wallet the creator's part goes back to. */
  readonly payerId: string;
  readonly creatorMinor: number;
  /** The earning's settlement day. */
  readonly day: string;
  readonly route: ReversalRoute;
  /** Receivable route: the withholding the day was settled with, returned from tax payable. */
  readonly withheldMinor: number;
  /** `the creator leg returns exactly the ${noun} creator part`. */
  readonly noun: string;
}

export interface EarningReturnGuards {
  /** One return per earning: `NOT EXISTS (SELECT 1 FROM ${table} WHERE ${column} = ?)` fails with `code`. */
  readonly done: { readonly table: string; readonly column: string; readonly code: GuardCode };
  /** The earning (or its delivery) not here yet. */
  readonly inFlightCode: GuardCode;
}

/** The creator's part back to the payer's wallet, from pending or from receivables and tax payable. */
export function earningReturnPostings(e: EarningReturn): Posting[] {
  const wallet = accountAddress.userWallet(e.payerId);
  const postings: Posting[] =
    e.route.from === "pending"
      ? [{ from: accountAddress.creatorPending(e.creatorId), to: wallet, amountMinor: e.route.pendingMinor }]
      : [
          { from: accountAddress.platformReceivables(), to: wallet, amountMinor: e.route.receivableMinor },
          { from: accountAddress.platformTaxPayable(), to: wallet, amountMinor: e.withheldMinor },
        ];
  const moved = postings.reduce((sum, p) => sum + p.amountMinor, 0);
  assert(moved === e.creatorMinor, `the creator leg returns exactly the ${e.noun} creator part`);
  return postings.filter((p) => p.amountMinor > 0);
}

export function earningReturnGuards(shard: LedgerShard, e: EarningReturn, g: EarningReturnGuards): Guard[] {
  const settled = "EXISTS (SELECT 1 FROM creator_settlements WHERE creator_id = ? AND day = ? AND state = 'settled')";
  const delivery = deliveryId(e.earningId, shard.index);
  return [
    {
      // The creator's bucket, fenced here (moving away, moved away, or not arrived yet): the
      // receivable route writes no account of the creator, so the ledger's own fence cannot see it.
      code: "bucket_fenced",
      sql: "NOT EXISTS (SELECT 1 FROM bucket_fences WHERE bucket = ?)",
      params: [bucketOf(e.creatorId)],
    },
    {
      code: g.done.code,
      sql: `NOT EXISTS (SELECT 1 FROM ${g.done.table} WHERE ${g.done.column} = ?)`,
      params: [e.earningId],
    },
    {
      // The earning itself (same shard) or its delivery here; archived ones count (tombstones).
      code: g.inFlightCode,
      sql: `(EXISTS (SELECT 1 FROM operations WHERE id IN (?, ?))
             OR EXISTS (SELECT 1 FROM operation_tombstones WHERE id IN (?, ?)))`,
      params: [e.earningId, delivery, e.earningId, delivery],
    },
    {
      code: "reversal_route_changed",
      sql: e.route.from === "pending" ? `NOT ${settled}` : settled,
      params: [e.creatorId, e.day],
    },
  ];
}

export interface EarningReturnPlanAsk {
  /** The rate withholding uses now: only for a day settled before rates were recorded. */
  readonly withholdingBpsNow: number;
  readonly timeZone: string;
}

export interface EarningReturnPlan {
  readonly day: string;
  readonly route: ReversalRoute;
  readonly withheldMinor: number;
  readonly withholdingBps: number;
}

/**
 * Where the creator part comes from, as the creator's shard says now: pending while the
 * earning's day is not settled, the receivable once it is, at the withholding rate that
 * settlement used (in its operation's metadata; a day that settled with nothing to move withheld
 * nothing). The creator leg's guard re-checks the route inside its batch.
 */
export async function planEarningReturn(
  creatorShard: LedgerShard,
  earning: { readonly creator_id: string; readonly creator_minor: number; readonly created_at_ms: number },
  ask: EarningReturnPlanAsk,
): Promise<EarningReturnPlan> {
  const day = businessDayOf(earning.created_at_ms, ask.timeZone);
  const settled = await creatorShard.db
    .prepare(
      `SELECT s.state, s.withholding_minor, json_extract(o.metadata, '$.withholdingBps') AS bps
       FROM creator_settlements s LEFT JOIN operations o ON o.id = s.id
       WHERE s.creator_id = ? AND s.day = ?`,
    )
    .bind(earning.creator_id, day)
    .first<{ state: "held" | "settled"; withholding_minor: number; bps: number | null }>();
  const daySettled = settled?.state === "settled";
  let bps = 0;
  if (daySettled) bps = settled.withholding_minor === 0 ? 0 : (settled.bps ?? ask.withholdingBpsNow);
  const route = reversalRoute(earning.creator_minor, daySettled, bps);
  const withheldMinor = route.from === "receivable" ? withholdingMinor(earning.creator_minor, bps) : 0;
  return { day, route, withheldMinor, withholdingBps: bps };
}

export interface SecondLegSweep {
  readonly completed: number;
  readonly refused: readonly { readonly id: string; readonly code: string }[];
}

/**
 * Rows of `table` whose second leg (`legColumn` still null) is missing `graceMs` after they
 * committed, in every shard, each completed by `complete`.
 */
export async function sweepSecondLegs<R>(
  ledger: Ledger,
  table: "tip_reversals" | "unlock_refunds",
  legColumn: "platform_leg_at_ms" | "payer_leg_at_ms",
  nowMs: number,
  graceMs: number,
  complete: (row: R & { readonly id: string }) => Promise<Verdict>,
): Promise<SecondLegSweep> {
  assert(graceMs >= 0, "a grace period");
  let completed = 0;
  const refused: { id: string; code: string }[] = [];
  for (const shard of ledger.shards) {
    const { results } = await shard.db
      .prepare(
        `SELECT * FROM ${table} WHERE ${legColumn} IS NULL AND created_at_ms <= ?
         ORDER BY created_at_ms LIMIT ?`,
      )
      .bind(nowMs - graceMs, LIMITS.reversalPlatformLegsPerSweepMax)
      .all<R & { readonly id: string }>();
    for (const row of results) {
      const verdict = await complete(row);
      if (verdict.kind === "rejected") refused.push({ id: row.id, code: verdict.code });
      else completed += 1;
    }
  }
  return { completed, refused };
}
