/**
 * Tip reversals end to end (operations/tip-reversal.ts and tip-reversal-platform.ts are the
 * two legs): finding the tip, deciding where its creator part comes from, and completing the
 * platform's leg, which the route does at once and the sweeper does for a reversal a crash
 * left half done.
 */

import { fail, ok, type Result } from "../domain/errors";
import type { Currency } from "../domain/money";
import { planEarningReturn, sweepSecondLegs } from "./earning-return";
import { runOperation, type Verdict } from "./ledger";
import type { TipReversalInput, TipRow } from "./operations/tip-reversal";
import { composeTipReversalPlatform, markPlatformLeg } from "./operations/tip-reversal-platform";
import type { Ledger, LedgerShard } from "./shards";

export interface ReversalRow {
  readonly id: string;
  readonly tip_id: string;
  /** The content item tipped; null for a tip in a room (and on rows from before ledger 0034). */
  readonly content_id: string | null;
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
      `SELECT id, viewer_id, creator_id, content_id, amount_minor, platform_minor, creator_minor, currency,
         created_at_ms
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
  const plan = await planEarningReturn(creatorShard, tip, ask);
  return ok({
    id: ask.id,
    tip,
    tipShard: tipShard.index,
    tipDay: plan.day,
    route: plan.route,
    withheldMinor: plan.withheldMinor,
    withholdingBps: plan.withholdingBps,
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
  const sweep = await sweepSecondLegs<ReversalRow>(ledger, "tip_reversals", "platform_leg_at_ms", nowMs, graceMs, (r) =>
    completePlatformLeg(ledger, r, nowMs),
  );
  return { completed: sweep.completed, refused: sweep.refused.map(({ id, code }) => ({ reversalId: id, code })) };
}

/** A reversal as the API shows it. */
export function reversalView(r: ReversalRow) {
  return {
    id: r.id,
    tipId: r.tip_id,
    contentId: r.content_id,
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
