import { addDays, isDayKey } from "./business-day";
import { assert } from "./limits";

/**
 * The platform dashboard (docs/ARCHITECTURE.md, Platform dashboard): its periods, the sums the
 * rollups keep, how partial sums merge, and the bound on what a query reads. Business days are
 * in BUSINESS_TIME_ZONE; weeks are ISO weeks (Monday first, `2026-W47`), months `2026-11`.
 */
export const GRAINS = ["day", "week", "month"] as const;
export type Grain = (typeof GRAINS)[number];
export const TOP_KINDS = ["creator", "room", "gift"] as const;
export type TopKind = (typeof TOP_KINDS)[number];

export const DASHBOARD_LIMITS = {
  /** The longest range a query may ask for, in business days (a leap year). */
  rangeDaysMax: 366,
  /** Entries kept per top list (per grain, period, currency and kind). */
  topN: 10,
  /**
   * A day is final once computed this long after it ended: writers stamp rows with their own
   * clock and batches can be in flight at midnight (the archive's settle window allows an hour
   * for the same reason, docs/SCALING.md).
   */
  finalAfterMs: 60 * 60 * 1000,
  /** An unfinished day is recomputed at most this often (the cron job runs every minute). */
  recomputeEveryMs: 60 * 60 * 1000,
  /** Days a shard rolls up per cron run at most (a catch-up after an outage spreads over runs). */
  daysPerShardPerRunMax: 4,
  /** Payer sets are kept this many days before the first unfinished day: a month plus a week. */
  payerDaysKept: 40,
} as const;

/**
 * The most rows a dashboard query reads, whatever its range: per shard one `dashboard_days`
 * row per day of the range (each currency's rows are a separate key range) and one
 * `dashboard_payers` row per period of the grain — at most one per day — and from the control
 * database the three top lists of one period, each entry with its name (one primary-key
 * lookup). 366 days on 4 shards: 4 × 732 + 2 × 30 = 2,988, whatever the ledger holds.
 */
export function dashboardRowsReadMax(shards: number): number {
  return shards * 2 * DASHBOARD_LIMITS.rangeDaysMax + 2 * TOP_KINDS.length * DASHBOARD_LIMITS.topN;
}

const pad = (n: number) => String(n).padStart(2, "0");

function dateOf(day: string): Date {
  assert(isDayKey(day), "a day key");
  const [y, m, d] = day.split("-").map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d));
}

/** The ISO week holding the day: the week (Monday to Sunday) with the year's first Thursday is W01. */
export function weekOfDay(day: string): string {
  const date = dateOf(day);
  const weekday = date.getUTCDay() === 0 ? 7 : date.getUTCDay();
  const thursday = new Date(date.getTime() + (4 - weekday) * 86_400_000);
  const isoYear = thursday.getUTCFullYear();
  const week = Math.ceil(((thursday.getTime() - Date.UTC(isoYear, 0, 1)) / 86_400_000 + 1) / 7);
  return `${isoYear}-W${pad(week)}`;
}

export function periodOfDay(grain: Grain, day: string): string {
  assert(isDayKey(day), "a day key");
  if (grain === "day") return day;
  if (grain === "month") return day.slice(0, 7);
  return weekOfDay(day);
}

const WEEK_KEY = /^(\d{4})-W(\d{2})$/;
const MONTH_KEY = /^(\d{4})-(\d{2})$/;

/** The first and last business day of a period. */
export function periodDays(grain: Grain, period: string): { first: string; last: string } {
  if (grain === "day") {
    assert(isDayKey(period), "a day key");
    return { first: period, last: period };
  }
  if (grain === "month") {
    const m = MONTH_KEY.exec(period);
    assert(m !== null, "a month key");
    const first = `${period}-01`;
    const [y, mo] = [Number(m[1]), Number(m[2])];
    const last = new Date(Date.UTC(y, mo, 0)).toISOString().slice(0, 10);
    return { first, last };
  }
  const w = WEEK_KEY.exec(period);
  assert(w !== null, "a week key");
  // 4 January is always in week 1; its week's Monday starts week 1.
  const jan4 = new Date(Date.UTC(Number(w[1]), 0, 4));
  const jan4Weekday = jan4.getUTCDay() === 0 ? 7 : jan4.getUTCDay();
  const week1Monday = jan4.toISOString().slice(0, 10);
  const first = addDays(week1Monday, 1 - jan4Weekday + (Number(w[2]) - 1) * 7);
  return { first, last: addDays(first, 6) };
}

/** The number of days from `from` to `to`, both included (0 when `to` is before `from`). */
export function daysBetween(from: string, to: string): number {
  return Math.max(0, Math.round((dateOf(to).getTime() - dateOf(from).getTime()) / 86_400_000) + 1);
}

/** The periods of the grain that the days `from`..`to` touch, in order. */
export function periodsInRange(grain: Grain, from: string, to: string): string[] {
  const out: string[] = [];
  for (let day = from; day <= to; day = addDays(day, 1)) {
    const p = periodOfDay(grain, day);
    if (out[out.length - 1] !== p) out.push(p);
  }
  return out;
}

/** One shard's (or the merged) sums for a day or a period, in minor units of one currency. */
export interface Totals {
  tipCount: number;
  tipMinor: number;
  platformMinor: number;
  packetPaidMinor: number;
  packetsSent: number;
  packetsSentMinor: number;
  claims: number;
  claimedMinor: number;
  /** Paid unlocks (付费阅读), gross: a refund revokes the entitlement but is not deducted. */
  unlockCount: number;
  unlockMinor: number;
}

export const ZERO_TOTALS: Readonly<Totals> = {
  tipCount: 0,
  tipMinor: 0,
  platformMinor: 0,
  packetPaidMinor: 0,
  packetsSent: 0,
  packetsSentMinor: 0,
  claims: 0,
  claimedMinor: 0,
  unlockCount: 0,
  unlockMinor: 0,
};

export function addTotals(a: Totals, b: Totals): Totals {
  const out = { ...a };
  for (const k of Object.keys(ZERO_TOTALS) as (keyof Totals)[]) out[k] = a[k] + b[k];
  return out;
}

/**
 * GMV: what users paid — tips (gifts and custom), paid unlocks of content items, both gross
 * (reversals and unlock refunds not deducted), and red packets from their wallets.
 */
export function gmvMinor(t: Totals): number {
  return t.tipMinor + t.unlockMinor + t.packetPaidMinor;
}

export interface SeriesPoint extends Totals {
  readonly period: string;
  readonly gmvMinor: number;
  /** Distinct paying users in the period (summed over shards: a user pays from one shard). */
  readonly payingUsers: number;
}

/**
 * The series of a range: every period of the grain the range touches (empty ones as zeros),
 * each the sum of the day rows of its days within the range, with the period's distinct payers.
 * A week or month cut by the range's ends sums only its days in the range, while its payers
 * count the whole period (a distinct count cannot be cut by day); docs say so.
 */
export function buildSeries(
  grain: Grain,
  from: string,
  to: string,
  days: readonly ({ day: string } & Totals)[],
  payers: readonly { period: string; payers: number }[],
): SeriesPoint[] {
  const byPeriod = new Map<string, Totals>(periodsInRange(grain, from, to).map((p) => [p, { ...ZERO_TOTALS }]));
  for (const row of days) {
    if (row.day < from || row.day > to) continue;
    const p = periodOfDay(grain, row.day);
    const sum = byPeriod.get(p);
    assert(sum !== undefined, "a day of the range falls in a period of the range");
    byPeriod.set(p, addTotals(sum, row));
  }
  const payersOf = new Map<string, number>();
  for (const row of payers) payersOf.set(row.period, (payersOf.get(row.period) ?? 0) + row.payers);
  return [...byPeriod].map(([period, t]) => ({
    period,
    ...t,
    gmvMinor: gmvMinor(t),
    payingUsers: payersOf.get(period) ?? 0,
  }));
}

export interface EntitySum {
  readonly kind: TopKind;
  readonly key: string;
  readonly amountMinor: number;
  readonly tipCount: number;
}

export interface TopEntry extends EntitySum {
  readonly rank: number;
}

/**
 * Exact tops from partial sums (any number per entity: one per shard and day): sum by entity
 * first, then rank — largest amount first, ties by key — and keep `n` per kind. Ranking
 * before summing would not be exact: an entity just below the cut in every part is missed.
 */
export function mergeTops(parts: Iterable<EntitySum>, n: number = DASHBOARD_LIMITS.topN): TopEntry[] {
  const sums = new Map<string, { kind: TopKind; key: string; amountMinor: number; tipCount: number }>();
  for (const p of parts) {
    const id = `${p.kind}\u0000${p.key}`;
    const s = sums.get(id);
    if (s) {
      s.amountMinor += p.amountMinor;
      s.tipCount += p.tipCount;
    } else sums.set(id, { ...p });
  }
  const out: TopEntry[] = [];
  for (const kind of TOP_KINDS) {
    const ranked = [...sums.values()]
      .filter((s) => s.kind === kind)
      .sort((a, b) => b.amountMinor - a.amountMinor || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, n);
    ranked.forEach((s, i) => {
      out.push({ ...s, rank: i + 1 });
    });
  }
  return out;
}
