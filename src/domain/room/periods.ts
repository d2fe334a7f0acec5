import { assert } from "../limits";

/**
 * Leaderboard periods. Day, ISO week and month boundaries fall at local midnight in the
 * configured time zone (default Asia/Shanghai), not UTC: a 23:30 tip in Shanghai counts for
 * that Shanghai day.
 */
export const PERIODS = ["live", "day", "week", "month"] as const;
export type Period = (typeof PERIODS)[number];

export interface PeriodKeys {
  readonly day: string; // 2026-11-22
  readonly week: string; // 2026-W47 (ISO week-numbering year)
  readonly month: string; // 2026-11
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function localDate(nowMs: number, timeZone: string): { year: number; month: number; day: number } {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" });
    formatters.set(timeZone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(new Date(nowMs)).map((p) => [p.type, p.value]));
  const year = Number(parts.year);
  const month = Number(parts.month);
  const day = Number(parts.day);
  assert(Number.isInteger(year) && month >= 1 && month <= 12 && day >= 1 && day <= 31, "a calendar date");
  return { year, month, day };
}

const pad = (n: number) => String(n).padStart(2, "0");

export function periodKeys(nowMs: number, timeZone: string): PeriodKeys {
  const { year, month, day } = localDate(nowMs, timeZone);
  // ISO week: the week with the year's first Thursday is week 1; weeks start on Monday.
  const date = new Date(Date.UTC(year, month - 1, day));
  const weekday = date.getUTCDay() === 0 ? 7 : date.getUTCDay();
  const thursday = new Date(date);
  thursday.setUTCDate(date.getUTCDate() + 4 - weekday);
  const isoYear = thursday.getUTCFullYear();
  const week = Math.ceil(((thursday.getTime() - Date.UTC(isoYear, 0, 1)) / 86_400_000 + 1) / 7);
  return { day: `${year}-${pad(month)}-${pad(day)}`, week: `${isoYear}-W${pad(week)}`, month: `${year}-${pad(month)}` };
}

export function isTimeZone(value: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

/** The instant local midnight began the day containing `nowMs` in `timeZone`. */
export function localDayStartMs(nowMs: number, timeZone: string): number {
  const { year, month, day } = localDate(nowMs, timeZone);
  const midnightAsUtc = Date.UTC(year, month - 1, day);
  // The zone's offset at (about) that midnight; a second pass settles days where it changes.
  let start = midnightAsUtc - offsetMs(midnightAsUtc, timeZone);
  start = midnightAsUtc - offsetMs(start, timeZone);
  return start;
}

/**
 * The instants the local day `day` (`YYYY-MM-DD`) spans in `timeZone`: `[startMs, endMs)`,
 * 23 to 25 hours where clocks change. A statement's day is this window in BUSINESS_TIME_ZONE.
 */
export function localDayWindowMs(day: string, timeZone: string): { startMs: number; endMs: number } {
  assert(/^\d{4}-\d{2}-\d{2}$/.test(day), "a YYYY-MM-DD day");
  const noonUtcMs = Date.parse(`${day}T12:00:00Z`);
  assert(Number.isSafeInteger(noonUtcMs), "a calendar date");
  // Noon UTC is on that local date everywhere but the UTC+13/+14 zones, where it is the next one.
  let startMs = localDayStartMs(noonUtcMs, timeZone);
  if (periodKeys(startMs, timeZone).day !== day) startMs = localDayStartMs(noonUtcMs - 86_400_000, timeZone);
  assert(periodKeys(startMs, timeZone).day === day, "the window starts on the requested day");
  // 26 h on is past the longest day and inside the next one.
  const endMs = localDayStartMs(startMs + 26 * 3_600_000, timeZone);
  return { startMs, endMs };
}

const offsetFormatters = new Map<string, Intl.DateTimeFormat>();

function offsetMs(atMs: number, timeZone: string): number {
  let f = offsetFormatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    offsetFormatters.set(timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(atMs)).map((x) => [x.type, x.value]));
  const asUtc = Date.UTC(
    Number(p.year),
    Number(p.month) - 1,
    Number(p.day),
    Number(p.hour),
    Number(p.minute),
    Number(p.second),
  );
  return asUtc - Math.floor(atMs / 1000) * 1000;
}
