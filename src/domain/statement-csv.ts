import { businessDayOf } from "./business-day";

/**
 * The monthly statement file's format (its lines: domain/statement-month.ts). Written for Excel
 * as much as for programs: UTF-8 with a byte-order mark (without it Excel reads UTF-8 as the system code page and 礼物 turns to mojibake), CRLF
 * line ends, RFC 4180 quoting, amounts as exact decimal strings ("188.00", never a float), and
 * any text field that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) prefixed
 * with an apostrophe (CSV injection).
 */
export const CSV_BOM = "\uFEFF";

export function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

export function csvLine(fields: readonly string[]): string {
  return `${fields.map(csvField).join(",")}\r\n`;
}

const clocks = new Map<string, Intl.DateTimeFormat>();

/** "2026-11-22 20:31:05" in the business time zone. */
export function businessTime(atMs: number, timeZone: string): string {
  let f = clocks.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-CA", {
      timeZone,
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
    });
    clocks.set(timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(atMs)).map((x) => [x.type, x.value]));
  return `${businessDayOf(atMs, timeZone)} ${p.hour}:${p.minute}:${p.second}`;
}

/** "2026-11" → true for a real month. */
export function isMonthKey(value: string): boolean {
  const m = /^(\d{4})-(\d{2})$/.exec(value);
  return m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 12;
}

/** The month after "2026-12" is "2027-01". */
export function nextMonth(month: string): string {
  const [y, m] = month.split("-").map(Number) as [number, number];
  return m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, "0")}`;
}
