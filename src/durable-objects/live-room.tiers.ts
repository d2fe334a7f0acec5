/**
 * The room's tier desk: prices every tip of its creator by the month's gross, exactly
 * (阶梯分成, domain/revenue-tiers.ts; ADR 0011).
 *
 * One room per creator, so the room is the one place all of a creator's tips are priced:
 * its group commit (live-room.tips.ts) and, by RPC (`LiveRoom.quoteTipRate`), the tips that
 * commit elsewhere (the direct wallet path, pay-to-tip inside a payment's credit batch).
 * Pricing is serialised here: each pricer takes its place in one queue (`turn`) when it takes
 * its instant, so pricing order is instant order.
 *
 * The desk holds a book of the month: the gross of its committed tips, and the tips priced but
 * not answered yet (uncommitted). A tip is priced exactly when every outcome of the uncommitted
 * ones gives it the same rate (domain/tier-quote.ts); otherwise it waits for outcomes (the
 * group commit cuts its flush before it and flushes the rest once an outcome arrives). Only
 * tips near a threshold wait. The book is read from the ledger shards (the creator's tips this
 * month, index tips_creator_created) only when a rate depends on it: a schedule in force and no
 * override. With none in force the desk reads nothing.
 *
 * Reading the book is exact only when no tip of the month can still commit unseen:
 *   - the desk's own uncommitted tips of the month: it waits until they are answered;
 *   - tips priced by an earlier instance of this object (before a restart): every quote carries
 *     `commitByMs` (guard `tip_rate_expired`: the ledger's clock must not have passed it), and the
 *     desk stores the latest one it handed out while schedules exist; a new instance reads the
 *     book only after that instant plus a clock margin;
 *   - tips priced without the room (the direct path when no schedule is in force or due within
 *     `revenueScheduleLeadMs`) expire within `tipRateTtlMs`, and a schedule takes effect at least
 *     the lead after it is created: they have committed or expired before it can be in force.
 * A tip whose answer is lost (a caller that died, a batch that threw) is settled after its
 * `commitByMs` plus the margin by reading whether it exists, with the instant it was priced for.
 */

import { z } from "zod";
import { openLedger } from "../db/shards";
import { addDays, dayStartMs } from "../domain/business-day";
import { assert, LIMITS } from "../domain/limits";
import type { ShareContext, TieredShare, TierSchedule } from "../domain/revenue-tiers";
import { periodKeys } from "../domain/room/periods";
import { type MonthBook, quoteTip } from "../domain/tier-quote";
import { configFrom } from "../platform/config";
import type { Logger } from "../platform/logger";
import type { RoomSettings } from "./live-room.settings";

/** What the desk needs from the world (the room wires D1 and storage; unit tests pass doubles). */
export interface TierDeskPorts {
  now(): number;
  readonly timeZone: string;
  /** Σ gross of the creator's tips and paid unlocks created in [fromMs, toMs), across every ledger shard. */
  readMonthGross(creatorId: string, fromMs: number, toMs: number): Promise<number>;
  /** The created-at of a tip or a paid unlock, or null when it does not exist. */
  readTipCreatedAt(tipId: string): Promise<number | null>;
  /** The latest `commitByMs` handed out (kept across restarts), and keeping it. */
  readonly quiet: { get(): number | null; put(ms: number): void };
  setTimer(fn: () => void, ms: number): void;
  warn(event: string, fields: Record<string, unknown>): void;
}

export interface RateContext {
  readonly schedules: readonly TierSchedule[];
  readonly defaultBps: number;
  readonly creatorOverrideBps: number | null;
}

export interface RatedTip {
  readonly id: string;
  readonly creatorId: string;
  readonly atMs: number;
  readonly grossMinor: number;
}

export interface Quote {
  readonly share: TieredShare;
  readonly atMs: number;
  readonly commitByMs: number;
}

/** One pricer's turn: quote tips in order, then release the turn. */
export interface Pricer {
  /** The tip's share, held as uncommitted until `settle`; or "wait" (near a threshold, or the book not readable yet). */
  quote(ctx: RateContext, tip: RatedTip): Promise<Quote | "wait">;
  /**
   * Resolves once pricing again may go otherwise than the last "wait": an answer arrived since
   * that decision (even one that arrived before this call), or the book became readable.
   */
  afterWait(): Promise<void>;
  release(): void;
}

export type TipFate = "posted" | "failed" | "unknown";

interface Held {
  readonly month: string;
  readonly grossMinor: number;
  readonly atMs: number;
  readonly commitByMs: number;
}

export class TierDesk {
  private book: { month: string; committedMinor: number } | null = null;
  private readonly held = new Map<string, Held>();
  /** Per month: the uncommitted tips' gross and count. */
  private readonly uncommitted = new Map<string, { minor: number; count: number }>();
  private lastTurn: Promise<void> = Promise.resolve();
  private change: { promise: Promise<void>; resolve: () => void } | null = null;
  /** Counts answers (and the book becoming readable); a "wait" remembers the count it saw. */
  private changes = 0;
  private lastWait = { changes: 0, quiet: false };
  /** Until this instant, an earlier instance's quotes may still commit: the book is not read. */
  private readonly quietAfterMs: number;
  private storedCommitByMs: number;

  constructor(private readonly ports: TierDeskPorts) {
    this.storedCommitByMs = ports.quiet.get() ?? 0;
    this.quietAfterMs = this.storedCommitByMs + LIMITS.tipRateClockMarginMs;
  }

  /** Tips priced and not answered yet (tests and stats). */
  uncommittedCount(): number {
    return this.held.size;
  }

  /** The book of the month, if held (tests). */
  bookOf(): { month: string; committedMinor: number } | null {
    return this.book === null ? null : { ...this.book };
  }

  /**
   * Takes the next place in the pricing order, now: call it when taking the instant tips are
   * priced at. Resolves when every earlier pricer released its turn.
   */
  turn(): Promise<Pricer> {
    const before = this.lastTurn;
    let release = () => {};
    this.lastTurn = new Promise<void>((resolve) => {
      release = resolve;
    });
    return before.then(() => {
      let quotedUnderSchedules = 0;
      return {
        afterWait: () => this.afterWait(),
        quote: async (ctx, tip) => {
          const quote = await this.quoteOne(ctx, tip);
          if (quote !== "wait" && ctx.schedules.length > 0) {
            quotedUnderSchedules = Math.max(quotedUnderSchedules, quote.commitByMs);
          }
          return quote;
        },
        release: () => {
          if (quotedUnderSchedules > this.storedCommitByMs) {
            this.storedCommitByMs = quotedUnderSchedules;
            this.ports.quiet.put(quotedUnderSchedules);
          }
          release();
        },
      } satisfies Pricer;
    });
  }

  /** See `Pricer.afterWait`: the last "wait" was decided by the last pricer (pricing is serialised). */
  private afterWait(): Promise<void> {
    const { changes, quiet } = this.lastWait;
    if (this.changes > changes) return Promise.resolve();
    if (quiet) {
      const untilQuiet = this.quietAfterMs - this.ports.now();
      if (untilQuiet <= 0) return Promise.resolve();
      return new Promise<void>((resolve) => this.ports.setTimer(resolve, untilQuiet + 1));
    }
    if (this.change === null) {
      let resolve = () => {};
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.change = { promise, resolve };
    }
    return this.change.promise;
  }

  /**
   * A tip's answer. "unknown" (its batch threw, or its caller vanished): settled after its
   * `commitByMs` plus the margin by whether it exists with the instant it was priced for.
   */
  settle(tipId: string, fate: TipFate): void {
    const held = this.held.get(tipId);
    if (held === undefined) return;
    if (fate === "unknown") {
      const waitMs = Math.max(0, held.commitByMs + LIMITS.tipRateClockMarginMs - this.ports.now());
      this.ports.setTimer(() => void this.resolveUnknown(tipId, held), waitMs);
      return;
    }
    this.held.delete(tipId);
    const sums = this.uncommitted.get(held.month);
    assert(sums !== undefined && sums.count > 0, "a held tip is counted in its month");
    sums.minor -= held.grossMinor;
    sums.count -= 1;
    if (sums.count === 0) this.uncommitted.delete(held.month);
    if (fate === "posted" && this.book?.month === held.month) this.book.committedMinor += held.grossMinor;
    this.changed();
  }

  private async resolveUnknown(tipId: string, held: Held): Promise<void> {
    if (this.held.get(tipId) !== held) return;
    try {
      const createdAtMs = await this.ports.readTipCreatedAt(tipId);
      this.settle(tipId, createdAtMs === held.atMs ? "posted" : "failed");
    } catch (error) {
      this.ports.warn("tier_tip_unresolved", { tipId, error: String(error) });
      this.ports.setTimer(() => void this.resolveUnknown(tipId, held), LIMITS.tipRateClockMarginMs);
    }
  }

  private changed(): void {
    this.changes += 1;
    const change = this.change;
    this.change = null;
    change?.resolve();
  }

  private async quoteOne(ctx: RateContext, tip: RatedTip): Promise<Quote | "wait"> {
    // The same tip asked again while its first quote is unanswered (a redelivered pay-to-tip).
    if (this.held.has(tip.id)) return this.wait(false);
    const share: ShareContext = { ...ctx, timeZone: this.ports.timeZone };
    let quote = quoteTip(share, this.bookFor(tip.atMs), tip);
    if (quote.kind === "load") {
      // Only a rate that depends on the gross reads it, and only when nothing can commit unseen.
      const month = quote.month;
      if ((this.uncommitted.get(month)?.count ?? 0) > 0) return this.wait(false);
      if (this.ports.now() < this.quietAfterMs) return this.wait(true);
      const first = `${month}-01`;
      const fromMs = dayStartMs(first, this.ports.timeZone);
      const toMs = dayStartMs(`${addDays(first, 31).slice(0, 7)}-01`, this.ports.timeZone);
      const committedMinor = await this.ports.readMonthGross(tip.creatorId, fromMs, toMs);
      // Nothing of the month was priced while reading: this caller holds the turn.
      this.book = { month, committedMinor };
      quote = quoteTip(share, this.bookFor(tip.atMs), tip);
    }
    if (quote.kind !== "exact") return this.wait(false);
    const month = quote.share.month;
    const commitByMs = this.ports.now() + LIMITS.tipRateTtlMs;
    this.held.set(tip.id, { month, grossMinor: tip.grossMinor, atMs: tip.atMs, commitByMs });
    const sums = this.uncommitted.get(month) ?? { minor: 0, count: 0 };
    sums.minor += tip.grossMinor;
    sums.count += 1;
    this.uncommitted.set(month, sums);
    return { share: quote.share, atMs: tip.atMs, commitByMs };
  }

  /** A "wait", remembering what it waits for: an answer after this one, or the quiet instant. */
  private wait(quiet: boolean): "wait" {
    this.lastWait = { changes: this.changes, quiet };
    return "wait";
  }

  /** The book for a tip's month; a book of an earlier month rolls over to 0 (every tip since was seen). */
  private bookFor(atMs: number): MonthBook | null {
    if (this.book === null) return null;
    const month = monthOf(atMs, this.ports.timeZone);
    if (this.book.month < month) this.book = { month, committedMinor: 0 };
    if (this.book.month !== month) return null;
    const sums = this.uncommitted.get(month);
    return { month, committedMinor: this.book.committedMinor, uncommittedMinor: sums?.minor ?? 0 };
  }
}

function monthOf(atMs: number, timeZone: string): string {
  return periodKeys(atMs, timeZone).month;
}

/** The desk's ports in a room: the ledger's shards, the room's settings, timers. */
export function roomTierPorts(env: Env, settings: RoomSettings, log: Logger): TierDeskPorts {
  return {
    now: () => Date.now(),
    timeZone: configFrom(env).businessTimeZone,
    async readMonthGross(creatorId, fromMs, toMs) {
      const ledger = await openLedger(env);
      // Tips and paid unlocks (the original entitlement rows: a bucket move's copy counts nowhere).
      const sums = await Promise.all(
        ledger.shards.map((shard) =>
          shard.db
            .prepare(
              `SELECT (SELECT COALESCE(SUM(amount_minor), 0) FROM tips
                       WHERE creator_id = ?1 AND created_at_ms >= ?2 AND created_at_ms < ?3)
                    + (SELECT COALESCE(SUM(amount_minor), 0) FROM entitlements
                       WHERE creator_id = ?1 AND created_at_ms >= ?2 AND created_at_ms < ?3
                         AND moved_from_shard IS NULL) AS gross`,
            )
            .bind(creatorId, fromMs, toMs)
            .first<{ gross: number }>(),
        ),
      );
      return sums.reduce((total, row) => total + (row?.gross ?? 0), 0);
    },
    async readTipCreatedAt(tipId) {
      const ledger = await openLedger(env);
      // A tip's row, or a paid unlock's (its entitlement, written by the payer's shard).
      const row = await ledger
        .forId(tipId)
        .db.prepare(
          `SELECT created_at_ms FROM tips WHERE id = ?1
           UNION ALL SELECT created_at_ms FROM entitlements WHERE id = ?1 AND moved_from_shard IS NULL`,
        )
        .bind(tipId)
        .first<{ created_at_ms: number }>();
      return row?.created_at_ms ?? null;
    },
    quiet: { get: () => settings.get("tierCommitByMs"), put: (ms) => settings.put("tierCommitByMs", ms) },
    setTimer: (fn, ms) => void setTimeout(fn, ms),
    warn: (event, fields) => log.warn(event, fields),
  };
}

const Bps = z.number().int().min(0).max(LIMITS.bpsMax);

/** A tip that commits outside the room (direct wallet path, pay-to-tip) asks its rate (LiveRoom.quoteTipRate). */
export const RateRequest = z.strictObject({
  tipId: z.string().min(1).max(64),
  creatorId: z.string().min(1).max(64),
  grossMinor: z.number().int().positive().max(LIMITS.amountMaxMinor),
  schedules: z
    .array(
      z.strictObject({
        version: z.number().int().positive(),
        effectiveFromMs: z.number().int().nonnegative(),
        tiers: z.array(z.strictObject({ fromGrossMinor: z.number().int().nonnegative(), platformBps: Bps })),
      }),
    )
    .max(LIMITS.revenueSchedulesReadMax),
  defaultBps: Bps,
  creatorOverrideBps: Bps.nullable(),
});
export type RateRequest = z.infer<typeof RateRequest>;

export interface RateAnswer {
  readonly share: TieredShare;
  readonly atMs: number;
  readonly commitByMs: number;
}

/**
 * Quotes a tip that commits elsewhere, at the room's instant and in its pricing order. Near a
 * threshold it waits for the tips committing to be answered, without holding the turn (the
 * room's flushes go on), and is priced again at a new instant. The quote is held as
 * uncommitted until `settle`, or read after its time if the caller never says.
 */
export async function quoteOutside(desk: TierDesk, request: RateRequest, now: () => number): Promise<RateAnswer> {
  for (;;) {
    const atMs = now();
    const pricer = await desk.turn();
    let waited: Promise<void>;
    try {
      const tip = { id: request.tipId, creatorId: request.creatorId, atMs, grossMinor: request.grossMinor };
      const quote = await pricer.quote(request, tip);
      if (quote !== "wait") {
        desk.settle(tip.id, "unknown"); // the fallback: resolved by a read unless the caller answers first
        return quote;
      }
      waited = pricer.afterWait();
    } finally {
      pricer.release();
    }
    await waited;
  }
}
