import { assert } from "./limits";
import { localDayStartMs, periodKeys } from "./room/periods";

/**
 * Business days: calendar days in the business time zone (default Asia/Shanghai), keyed
 * "YYYY-MM-DD". Settlement, daily withdrawal caps and statements all count in them.
 */
const DAY_KEY = /^(\d{4})-(\d{2})-(\d{2})$/;

export function isDayKey(value: string): boolean {
  const m = DAY_KEY.exec(value);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

/** The business day holding the instant. */
export function businessDayOf(atMs: number, timeZone: string): string {
  return periodKeys(atMs, timeZone).day;
}

/** The day key `days` calendar days after `day` (negative goes back). */
export function addDays(day: string, days: number): string {
  assert(isDayKey(day) && Number.isSafeInteger(days), "a day key and a whole number of days");
  const [y, m, d] = day.split("-").map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

/** The instant the business day begins (local midnight), correct across offset changes. */
export function dayStartMs(day: string, timeZone: string): number {
  assert(isDayKey(day), "a day key");
  const [y, m, d] = day.split("-").map(Number) as [number, number, number];
  // Noon UTC of the date is within a day of the local date anywhere; step until it is on it.
  let probe = Date.UTC(y, m - 1, d, 12);
  for (let i = 0; i < 3 && businessDayOf(probe, timeZone) !== day; i++) {
    probe += businessDayOf(probe, timeZone) < day ? 12 * 3_600_000 : -12 * 3_600_000;
  }
  assert(businessDayOf(probe, timeZone) === day, "found an instant on the day");
  return localDayStartMs(probe, timeZone);
}
