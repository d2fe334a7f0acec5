/**
 * Tip reversals end to end (operations/tip-reversal.ts and tip-reversal-platform.ts are the
 * two legs): finding the tip, deciding where its creator part comes from, and completing the
 * platform's leg, which the route does at once and the sweeper does for a reversal a crash
 * left half done.
 */

import { businessDayOf } from "../domain/business-day";
import { fail, ok, type Result } from "../domain/errors";
import { assert, LIMITS } from "../domain/limits";
import type { Currency } from "../domain/money";
import { reversalRoute } from "../domain/tip-reversal";
import { withholdingMinor } from "../domain/withholding";
import { runOperation, type Verdict } from "./ledger";
import type { TipReversalInput, TipRow } from "./operations/tip-reversal";
import { composeTipReversalPlatform, markPlatformLeg } from "./operations/tip-reversal-platform";
import type { Ledger, LedgerShard } from "./shards";

export interface ReversalRow {
  readonly id: string;
  readonly tip_id: string;
  readonly creator_id: string;
  readonly viewer_id: string;
  readonly tip_day: string;
  readonly tip_created_at_ms: number;
  readonly amount_minor: number;
  readonly platform_minor: number;
  readonly creator_minor: number;
  readonly source: "pending" | "receivable";
  readonly platform_leg_at_ms: number | null;
  readonly reason: string;
  readonly actor_id: string;
  readonly currency: string;
  readonly created_at_ms: number;
}

/** The tip and its shard (a tip id carries its viewer's bucket), or null. */
export async function findTip(ledger: Ledger, tipId: string): Promise<{ shard: LedgerShard; tip: TipRow } | null> {
  const shard = ledger.forId(tipId);
  const tip = await shard.db
    .prepare(
      `SELECT id, viewer_id, creator_id, amount_minor, platform_minor, creator_minor, currency, created_at_ms
       FROM tips WHERE id = ?`,
    )
    .bind(tipId)
    .first<TipRow>();
  return tip === null ? null : { shard, tip };
}

export async function reversalOfTip(creatorShard: LedgerShard, tipId: string): Promise<ReversalRow | null> {
  return creatorShard.db.prepare("SELECT * FROM tip_reversals WHERE tip_id = ?").bind(tipId).first<ReversalRow>();
}

export interface ReversalAsk {
  readonly id: string;
  readonly reason: string;
  readonly actorId: string;
  /** The rate withholding uses now: only for a day settled before rates were recorded (see below). */
  readonly withholdingBpsNow: number;
  readonly timeZone: string;
  readonly nowMs: number;
}

/**
 * Where the creator part comes from, as the creator's shard says now: pending while the tip's
 * day is not settled, the receivable once it is, at the withholding rate that settlement used
 * (in its operation's metadata; a day that settled with nothing to move withheld nothing).
 * The reversal's guard re-checks the route inside its batch.
 */
export async function planReversal(
  creatorShard: LedgerShard,
  tipShard: LedgerShard,
  tip: TipRow,
  ask: ReversalAsk,
): Promise<Result<TipReversalInput>> {
  if (tip.creator_minor === 0) return fail("tip_not_reversible");
  const tipDay = businessDayOf(tip.created_at_ms, ask.timeZone);
  const settled = await creatorShard.db
    .prepare(
      `SELECT s.state, s.withholding_minor, json_extract(o.metadata, '$.withholdingBps') AS bps
       FROM creator_settlements s LEFT JOIN operations o ON o.id = s.id
       WHERE s.creator_id = ? AND s.day = ?`,
    )
    .bind(tip.creator_id, tipDay)
    .first<{ state: "held" | "settled"; withholding_minor: number; bps: number | null }>();
  const daySettled = settled?.state === "settled";
  let bps = 0;
  if (daySettled) bps = settled.withholding_minor === 0 ? 0 : (settled.bps ?? ask.withholdingBpsNow);
  const route = reversalRoute(tip.creator_minor, daySettled, bps);
  const withheld = route.from === "receivable" ? withholdingMinor(tip.creator_minor, bps) : 0;
  return ok({
    id: ask.id,
    tip,
    tipShard: tipShard.index,
    tipDay,
    route,
    withheldMinor: withheld,
    withholdingBps: bps,
    reason: ask.reason,
    actorId: ask.actorId,
    nowMs: ask.nowMs,
  });
}

/**
 * The platform's leg of a committed reversal, in the tip's shard, then the mark on the
 * reversal row in the creator's shard. Idempotent: a leg that exists is marked and reported so.
 */
export async function completePlatformLeg(ledger: Ledger, reversal: ReversalRow, nowMs: number): Promise<Verdict> {
  const creatorShard = ledger.forOwner(reversal.creator_id);
  if (reversal.platform_minor === 0) return { kind: "exists" };
  const tipShard = ledger.forId(reversal.tip_id);
  const composed = composeTipReversalPlatform(tipShard, {
    reversalId: reversal.id,
    tipId: reversal.tip_id,
    viewerId: reversal.viewer_id,
    platformMinor: reversal.platform_minor,
    currency: reversal.currency as Currency,
    actorId: reversal.actor_id,
    nowMs,
  });
  const { verdict } = await runOperation(tipShard, composed);
  if (verdict.kind !== "rejected") await markPlatformLeg(creatorShard.db, reversal.id, nowMs).run();
  return verdict;
}

export interface PlatformLegSweep {
  readonly completed: number;
  readonly refused: readonly { readonly reversalId: string; readonly code: string }[];
}

/** Reversals whose platform leg is still missing `graceMs` after they committed, completed now. */
export async function sweepPlatformLegs(ledger: Ledger, nowMs: number, graceMs: number): Promise<PlatformLegSweep> {
  assert(graceMs >= 0, "a grace period");
  let completed = 0;
  const refused: { reversalId: string; code: string }[] = [];
  for (const shard of ledger.shards) {
    const { results } = await shard.db
      .prepare(
        `SELECT * FROM tip_reversals WHERE platform_leg_at_ms IS NULL AND created_at_ms <= ?
         ORDER BY created_at_ms LIMIT ?`,
      )
      .bind(nowMs - graceMs, LIMITS.reversalPlatformLegsPerSweepMax)
      .all<ReversalRow>();
    for (const reversal of results) {
      const verdict = await completePlatformLeg(ledger, reversal, nowMs);
      if (verdict.kind === "rejected") refused.push({ reversalId: reversal.id, code: verdict.code });
      else completed += 1;
    }
  }
  return { completed, refused };
}

/** A reversal as the API shows it. */
export function reversalView(r: ReversalRow) {
  return {
    id: r.id,
    tipId: r.tip_id,
    creatorId: r.creator_id,
    viewerId: r.viewer_id,
    tipDay: r.tip_day,
    amountMinor: r.amount_minor,
    platformMinor: r.platform_minor,
    creatorMinor: r.creator_minor,
    source: r.source,
    platformLegDone: r.platform_leg_at_ms !== null,
    reason: r.reason,
    actorId: r.actor_id,
    currency: r.currency,
    createdAtMs: r.created_at_ms,
  };
}
