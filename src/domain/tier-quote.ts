import { assert, isSafeAmountMinor } from "./limits";
import { type ShareContext, scheduleAt, shareTip, type TieredShare, tierRateBps } from "./revenue-tiers";
import { periodKeys } from "./room/periods";

/**
 * Pricing a tip while earlier tips of the same month are still committing (the room's group
 * commit, durable-objects/live-room.tiers.ts).
 *
 * The month gross a tip is rated by (revenue-tiers.ts `shareTip`) counts every earlier tip that
 * commits. While some have not answered yet, the gross is only known to lie between
 *   lower = committed + this tip            (every uncommitted earlier tip fails), and
 *   upper = committed + uncommitted + this tip (every one commits).
 * Tiers are monotone in the gross, so when the tier at `lower` is the tier at `upper`, every
 * outcome of the uncommitted tips gives this tip the same rate (two tiers with one rate count as one): it is priced now, exactly. When
 * they differ the tip is near a threshold and must `wait` for the outcomes. A tip whose rate
 * does not depend on the gross (a creator override, or no schedule in force) never waits; and
 * without a known book of the month's gross (`load`) only such tips can be priced.
 */
export interface MonthBook {
  readonly month: string;
  /** Gross of the month's committed tips. */
  readonly committedMinor: number;
  /** Gross of the month's tips priced but not answered yet. */
  readonly uncommittedMinor: number;
}

export type TierQuote =
  | { readonly kind: "exact"; readonly share: TieredShare }
  | { readonly kind: "wait" }
  /** The rate depends on the month's gross and no book of it is held: read it first. */
  | { readonly kind: "load"; readonly month: string };

/** Whether a tip at `atMs` is rated by the month's gross (a schedule in force, no override). */
export function dependsOnGross(ctx: ShareContext, atMs: number): boolean {
  return ctx.creatorOverrideBps === null && scheduleAt(ctx.schedules, atMs) !== null;
}

/**
 * Quotes one tip against the book of its month. `book` is null when none is held; a book of an
 * earlier month is the caller's to roll over (a month starts at 0), not this function's.
 */
export function quoteTip(
  ctx: ShareContext,
  book: MonthBook | null,
  tip: { readonly atMs: number; readonly grossMinor: number },
): TierQuote {
  assert(isSafeAmountMinor(tip.grossMinor), "a tip's gross is a positive safe amount");
  const month = periodKeys(tip.atMs, ctx.timeZone).month;
  if (!dependsOnGross(ctx, tip.atMs)) {
    // The gross is irrelevant: any book (even none) gives the same share.
    return { kind: "exact", share: shareTip(ctx, null, tip).share };
  }
  if (book === null || book.month !== month) return { kind: "load", month };
  assert(book.committedMinor >= 0 && book.uncommittedMinor >= 0, "a book's sums are non-negative");
  const schedule = scheduleAt(ctx.schedules, tip.atMs);
  assert(schedule !== null, "a schedule is in force");
  const lower = book.committedMinor + tip.grossMinor;
  const upper = lower + book.uncommittedMinor;
  if (tierRateBps(schedule, lower) !== tierRateBps(schedule, upper)) {
    return { kind: "wait" };
  }
  return { kind: "exact", share: shareTip(ctx, { month, grossMinor: book.committedMinor }, tip).share };
}
