import type { ErrorCode } from "./errors";
import { assert, isSafeAmountMinor, LIMITS } from "./limits";
import { type RevenueSplit, splitRevenue } from "./revenue-share";
import { periodKeys } from "./room/periods";

/**
 * Tiered revenue share (阶梯分成): the platform's rate depends on the creator's gross tips in
 * the calendar month so far, in the business time zone.
 *
 * Rules, exactly:
 * - A schedule is versioned and has an effective-from instant. The schedule in force at a tip's
 *   time applies to that tip; a new schedule never re-rates earlier tips (never retroactive).
 * - A tier covers month gross from its `fromGrossMinor` (inclusive) up to the next tier's.
 * - A tip takes ONE rate, never a blend: the rate of the tier that holds the month's gross
 *   *including this tip*. So the crossing tip (the one whose gross reaches a threshold) already
 *   uses the new tier's rate, and every later tip of the month does too ("from the crossing tip
 *   on"). A tip that jumps over several tiers takes the highest one it reaches.
 * - Month gross counts every tip's gross as it happened; a later reversal does not lower it
 *   (that would re-rate tips already recorded).
 * - A per-creator fixed override (revenue-share.ts) wins over tiers; with no schedule in force
 *   the fixed default applies.
 * - Platform part rounded down to the fen, the creator gets the rest (splitRevenue).
 */
export interface RevenueTier {
  readonly fromGrossMinor: number;
  readonly platformBps: number;
}

export interface TierSchedule {
  readonly version: number;
  readonly effectiveFromMs: number;
  readonly tiers: readonly RevenueTier[];
}

export type ScheduleProblem =
  | "tiers_empty"
  | "tiers_too_many"
  | "first_tier_not_zero"
  | "thresholds_not_ascending"
  | "threshold_out_of_range"
  | "rate_out_of_range"
  | "version_invalid"
  | "effective_from_invalid";

export type ScheduleCheck =
  | { readonly ok: true; readonly value: TierSchedule }
  | { readonly ok: false; readonly code: ErrorCode; readonly problem: ScheduleProblem; readonly message: string };

function problem(p: ScheduleProblem, message: string): ScheduleCheck {
  return { ok: false, code: "malformed_request", problem: p, message };
}

/** Checks a schedule an operator submits: first tier from 0, strictly ascending, rates 0..10000. */
export function validateSchedule(schedule: TierSchedule): ScheduleCheck {
  const { tiers, version, effectiveFromMs } = schedule;
  if (!Number.isSafeInteger(version) || version < 1) return problem("version_invalid", "version is a positive integer");
  if (!Number.isSafeInteger(effectiveFromMs) || effectiveFromMs < 0) {
    return problem("effective_from_invalid", "effectiveFromMs is a non-negative integer instant");
  }
  if (tiers.length === 0) return problem("tiers_empty", "a schedule has at least one tier");
  if (tiers.length > LIMITS.revenueTiersMax) {
    return problem("tiers_too_many", `a schedule has at most ${LIMITS.revenueTiersMax} tiers`);
  }
  for (const [i, tier] of tiers.entries()) {
    const from = tier.fromGrossMinor;
    if (!Number.isSafeInteger(from) || from < 0 || from > LIMITS.revenueTierFromMaxMinor) {
      return problem("threshold_out_of_range", `tier ${i} starts outside 0..${LIMITS.revenueTierFromMaxMinor}`);
    }
    if (!Number.isInteger(tier.platformBps) || tier.platformBps < 0 || tier.platformBps > LIMITS.bpsMax) {
      return problem("rate_out_of_range", `tier ${i}'s rate is outside 0..${LIMITS.bpsMax} bps`);
    }
    if (i === 0 && from !== 0) return problem("first_tier_not_zero", "the first tier starts at 0");
    const prev = tiers[i - 1];
    if (prev && from <= prev.fromGrossMinor) {
      return problem("thresholds_not_ascending", `tier ${i} must start above tier ${i - 1}`);
    }
  }
  return { ok: true, value: schedule };
}

/**
 * The schedule in force at `atMs`: the latest effective-from not after it (a higher version wins
 * a tie). Null when none is in force yet.
 */
export function scheduleAt(schedules: readonly TierSchedule[], atMs: number): TierSchedule | null {
  let best: TierSchedule | null = null;
  for (const s of schedules) {
    if (s.effectiveFromMs > atMs) continue;
    if (
      !best ||
      s.effectiveFromMs > best.effectiveFromMs ||
      (s.effectiveFromMs === best.effectiveFromMs && s.version > best.version)
    ) {
      best = s;
    }
  }
  return best;
}

/** The rate of the tier holding `monthGrossMinor` (the month's gross including the tip). */
export function tierRateBps(schedule: TierSchedule, monthGrossMinor: number): number {
  assert(Number.isSafeInteger(monthGrossMinor) && monthGrossMinor >= 0, "month gross is a non-negative integer");
  let bps: number | null = null;
  for (const tier of schedule.tiers) {
    if (tier.fromGrossMinor > monthGrossMinor) break;
    bps = tier.platformBps;
  }
  assert(bps !== null, "a valid schedule's first tier starts at 0");
  return bps;
}

/** A creator's running month: carried between calls so a month may be shared out in any chunks. */
export interface MonthGross {
  readonly month: string; // 2026-11, in the business time zone
  readonly grossMinor: number;
}

export interface TieredShare extends RevenueSplit {
  readonly platformBps: number;
  /** The schedule version used; null when the fixed default or the creator's override applied. */
  readonly scheduleVersion: number | null;
  readonly month: string;
}

export interface ShareContext {
  readonly schedules: readonly TierSchedule[];
  readonly defaultBps: number;
  readonly creatorOverrideBps: number | null;
  readonly timeZone: string;
}

/** Shares one tip and returns the month carried forward. Tips must come in time order. */
export function shareTip(
  ctx: ShareContext,
  before: MonthGross | null,
  tip: { readonly atMs: number; readonly grossMinor: number },
): { readonly share: TieredShare; readonly after: MonthGross } {
  assert(isSafeAmountMinor(tip.grossMinor), "a tip's gross is a positive safe amount");
  const month = periodKeys(tip.atMs, ctx.timeZone).month;
  const priorMinor = before && before.month === month ? before.grossMinor : 0;
  assert(!before || before.month <= month, "tips are shared in time order");
  const grossMinor = priorMinor + tip.grossMinor;
  assert(Number.isSafeInteger(grossMinor), "month gross stays a safe integer");
  const schedule = ctx.creatorOverrideBps === null ? scheduleAt(ctx.schedules, tip.atMs) : null;
  const platformBps = ctx.creatorOverrideBps ?? (schedule ? tierRateBps(schedule, grossMinor) : ctx.defaultBps);
  const split = splitRevenue(tip.grossMinor, platformBps);
  return {
    share: { ...split, platformBps, scheduleVersion: schedule?.version ?? null, month },
    after: { month, grossMinor },
  };
}

/** Shares a run of tips in time order, starting from `before`; returns each share and the month after. */
export function shareTips(
  ctx: ShareContext,
  before: MonthGross | null,
  tips: readonly { readonly atMs: number; readonly grossMinor: number }[],
): { readonly shares: TieredShare[]; readonly after: MonthGross | null } {
  const shares: TieredShare[] = [];
  let month = before;
  for (const tip of tips) {
    const { share, after } = shareTip(ctx, month, tip);
    shares.push(share);
    month = after;
  }
  return { shares, after: month };
}
