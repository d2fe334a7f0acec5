/**
 * The engine every daily statement parser runs on (the parsers are in each provider's
 * statement.ts; src/channels/statement.ts picks one by channel): an RFC 4180 reader that
 * keeps physical line numbers, columns found by their header name, exact decimal amounts,
 * and the checks of a file's own totals against its lines. Text in, lines or a refusal out;
 * nothing is fetched here.
 *
 * A statement is refused whole rather than read in part: a line we cannot read exactly, a
 * required column missing, or the provider's own totals disagreeing with the lines (the
 * usual sign of a truncated download) would otherwise turn into findings about money that
 * is really fine, or hide money that is not. Columns are found by their header name, never
 * by position, because providers add columns over time.
 *
 * The caller hands over text: WeChat and Stripe serve UTF-8; Alipay's download is a zip of
 * GBK-encoded CSVs, which the fetcher unzips and decodes first (the 业务明细 file, not its
 * 汇总 companion).
 */

import { assert, LIMITS } from "../domain/limits";
import type { StatementLine } from "../domain/reconcile";
import type { PayoutLine } from "../domain/reconcile-payouts";
import type { ChannelName } from "./channel";
import { CHINA_STANDARD_TIME_OFFSET_MS } from "./encoding";

export interface StatementError {
  readonly code: "statement_malformed";
  /** 1-based physical line of the file; 0 for the file as a whole. */
  readonly line: number;
  readonly detail: string;
}

export interface StatementTotals {
  readonly currency: string;
  readonly paymentCount: number;
  readonly paymentAmountMinor: number;
  readonly refundCount: number;
  readonly refundAmountMinor: number;
}

export interface StatementSummary {
  readonly channel: ChannelName;
  readonly lineCount: number;
  /** Sums of the lines, per currency (all statuses), in currency order. */
  readonly totals: readonly StatementTotals[];
  /** `checked`: the file's own totals matched its lines. Stripe's reports carry none. */
  readonly declaredTotals: "checked" | "not_provided";
  /** Payout lines (transfers to creators), apart from the payment and refund totals. */
  readonly payoutCount: number;
  /** Rows that are neither payments, refunds nor payouts (Stripe fees, bank payouts, disputes…), for operators. */
  readonly skipped: readonly { readonly line: number; readonly reason: string }[];
}

export type StatementParse =
  | {
      readonly ok: true;
      readonly lines: StatementLine[];
      /** Transfers to creators (withdrawals paid out), reconciled by domain/reconcile-payouts.ts. */
      readonly payouts: PayoutLine[];
      readonly summary: StatementSummary;
    }
  | { readonly ok: false; readonly error: StatementError };

/** What a provider's parser makes of a whole file; it calls `refuse` for anything it cannot read exactly. */
export interface ParsedStatement {
  lines: StatementLine[];
  /** Payout lines, for the statements that list transfers to creators (absent: none). */
  payouts?: PayoutLine[];
  declaredTotals: StatementSummary["declaredTotals"];
  skipped: { line: number; reason: string }[];
}

export type StatementParser = (text: string) => ParsedStatement;

/** Runs one provider's parser over a file within the size limit, turning its refusal into a value. */
export function readStatement(channel: ChannelName, text: string, parse: StatementParser): StatementParse {
  try {
    const bytes = utf8Length(text);
    if (bytes > LIMITS.statementMaxBytes) {
      refuse(0, `the file is ${bytes} bytes; at most ${LIMITS.statementMaxBytes} are read`);
    }
    // WeChat's and Excel-saved files start with a BOM; it is not part of the first column's name.
    const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
    const parsed = parse(body);
    return {
      ok: true,
      lines: parsed.lines,
      payouts: parsed.payouts ?? [],
      summary: {
        channel,
        lineCount: parsed.lines.length,
        totals: totalsOf(parsed.lines),
        declaredTotals: parsed.declaredTotals,
        payoutCount: parsed.payouts?.length ?? 0,
        skipped: parsed.skipped,
      },
    };
  } catch (e) {
    if (e instanceof Refusal)
      return { ok: false, error: { code: "statement_malformed", line: e.line, detail: e.detail } };
    throw e;
  }
}

/** China Standard Time in minutes, the wall clock of WeChat's and Alipay's files. */
export const BEIJING_OFFSET_MINUTES = CHINA_STANDARD_TIME_OFFSET_MS / 60_000;

/** One field as RFC 4180 writes it: quoted when it holds a quote, a comma or a line break. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** Thrown by the parsers only; readStatement turns it into a `statement_malformed` value. */
export class Refusal {
  constructor(
    readonly line: number,
    readonly detail: string,
  ) {}
}

export function refuse(line: number, detail: string): never {
  throw new Refusal(line, detail);
}

export interface Row {
  readonly line: number;
  readonly fields: readonly string[];
}

export type CsvItem =
  | { readonly kind: "row"; readonly line: number; readonly fields: string[] }
  | { readonly kind: "comment"; readonly line: number; readonly text: string };

const LF = 10;
const CR = 13;
const QUOTE = 34;
const COMMA = 44;
const HASH = 35;

/**
 * RFC 4180 records: quoted fields may hold commas, doubled quotes and line breaks; CRLF, LF
 * and a lone CR end a record; empty lines are skipped. With `comments`, a line starting
 * with `#` is kept whole as a comment (Alipay's footers contain commas). Each item carries
 * the physical line it starts on.
 */
export function readCsv(text: string, comments: boolean): CsvItem[] {
  const items: CsvItem[] = [];
  const n = text.length;
  let i = 0;
  let line = 1;
  const push = (item: CsvItem) => {
    if (items.length >= LIMITS.statementLinesMax) refuse(item.line, `more than ${LIMITS.statementLinesMax} lines`);
    items.push(item);
  };
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === LF) {
      i += 1;
      line += 1;
      continue;
    }
    if (c === CR) {
      i += text.charCodeAt(i + 1) === LF ? 2 : 1;
      line += 1;
      continue;
    }
    const start = line;
    if (comments && c === HASH) {
      let j = i;
      while (j < n && text.charCodeAt(j) !== LF && text.charCodeAt(j) !== CR) j++;
      push({ kind: "comment", line: start, text: text.slice(i, j) });
      i = j;
      continue;
    }
    const fields: string[] = [];
    for (;;) {
      if (text.charCodeAt(i) === QUOTE) {
        let value = "";
        let j = i + 1;
        for (;;) {
          const q = text.indexOf('"', j);
          if (q < 0) refuse(start, "a quoted field is not closed");
          const chunk = text.slice(j, q);
          line += newlines(chunk);
          value += chunk;
          if (text.charCodeAt(q + 1) === QUOTE) {
            value += '"';
            j = q + 2;
            continue;
          }
          i = q + 1;
          break;
        }
        const d = text.charCodeAt(i);
        if (i < n && d !== COMMA && d !== LF && d !== CR) refuse(line, "text after a closing quote");
        fields.push(value);
      } else {
        let j = i;
        while (j < n) {
          const d = text.charCodeAt(j);
          if (d === COMMA || d === LF || d === CR) break;
          j++;
        }
        fields.push(text.slice(i, j));
        i = j;
      }
      if (i < n && text.charCodeAt(i) === COMMA) {
        i += 1;
        continue;
      }
      break; // the record's line break, if any, is consumed (and counted) by the outer loop
    }
    push({ kind: "row", line: start, fields });
  }
  return items;
}

function newlines(chunk: string): number {
  let count = 0;
  for (let k = 0; k < chunk.length; k++) {
    const c = chunk.charCodeAt(k);
    if (c === LF || (c === CR && chunk.charCodeAt(k + 1) !== LF)) count++;
  }
  return count;
}

/** Rows with `clean` applied to every field; rows that are empty after cleaning are dropped. */
export function rowsOnly(items: readonly CsvItem[], clean: (field: string) => string): Row[] {
  const rows: Row[] = [];
  for (const item of items) {
    if (item.kind !== "row") continue;
    const fields = item.fields.map(clean);
    if (fields.every((f) => f === "")) continue;
    rows.push({ line: item.line, fields });
  }
  return rows;
}

export function columnsOrRefuse<K extends string>(
  header: Row,
  required: readonly K[],
  where: string,
): Record<K, number> {
  const at = new Map<string, number>();
  const repeated = new Set<string>();
  header.fields.forEach((name, index) => {
    if (at.has(name)) repeated.add(name);
    else at.set(name, index);
  });
  const missing = required.filter((k) => !at.has(k));
  if (missing.length > 0) refuse(header.line, `${where} lacks the required column(s) ${missing.join(", ")}`);
  const ambiguous = required.filter((k) => repeated.has(k));
  if (ambiguous.length > 0) refuse(header.line, `${where} repeats the column(s) ${ambiguous.join(", ")}`);
  return Object.fromEntries(required.map((k) => [k, at.get(k)])) as Record<K, number>;
}

export function fieldCountOrRefuse(row: Row, header: Row): void {
  // A short row is most often a download cut mid-line; a long one, a value with an unquoted comma.
  if (row.fields.length !== header.fields.length) {
    refuse(row.line, `${row.fields.length} fields; the header on line ${header.line} has ${header.fields.length}`);
  }
}

/**
 * The file's closing summary: a header row and exactly one row after it at `rows[at]`, nothing
 * after them; each missing or extra part refused at its line. The summary row's line and getter.
 */
export function summaryOrRefuse<K extends string>(
  rows: readonly Row[],
  at: number,
  required: readonly K[],
  firstColumn: string,
): { readonly line: number; readonly get: (k: K) => string } {
  const header = rows[at];
  const summary = rows[at + 1];
  if (!header) refuse((rows.at(-1)?.line ?? 0) + 1, `no summary (${firstColumn},…): the file is truncated`);
  if (!summary) refuse(header.line + 1, "the summary header has no summary row: the file is truncated");
  const extra = rows[at + 2];
  if (extra) refuse(extra.line, "content after the summary row");
  fieldCountOrRefuse(summary, header);
  return { line: summary.line, get: getter(summary, columnsOrRefuse(header, required, "the summary header")) };
}

export function getter<K extends string>(row: Row, col: Record<K, number>): (k: K) => string {
  return (k) => {
    const v = row.fields[col[k]];
    assert(v !== undefined, "a row has every header column");
    return v;
  };
}

export function idOrRefuse(value: string, line: number, column: string, required: true): string;
export function idOrRefuse(value: string, line: number, column: string, required: boolean): string | null;
export function idOrRefuse(value: string, line: number, column: string, required: boolean): string | null {
  if (value === "") return required ? refuse(line, `${column} is empty`) : null;
  if (value.length > LIMITS.statementIdMaxLength) {
    refuse(line, `${column} is longer than ${LIMITS.statementIdMaxLength} characters`);
  }
  return value;
}

export function cnyOrRefuse(value: string, line: number, column: string): string {
  // Yuan-denominated statements: any other currency would make every amount wrong by its exponent.
  if (value !== "CNY") refuse(line, `${column} ${clip(value)} is not CNY`);
  return value;
}

/** Signed decimal: at most 12 integer digits, so every amount and sum of a file is exact. */
const DECIMAL = /^(-?)(0|[1-9][0-9]{0,11})(?:\.([0-9]{1,6}))?$/;

/**
 * "18.80" → 1880 at exponent 2, "1000" → 1000 at exponent 0, "-5.00" → -500. Digits past
 * the currency's exponent must be zeros ("1000.00" JPY is 1000; "0.001" CNY is not money).
 * Never goes through a float.
 */
export function decimalMinor(text: string, exponent: number): number | null {
  assert(Number.isInteger(exponent) && exponent >= 0 && exponent <= 3, "a known exponent");
  const m = DECIMAL.exec(text);
  if (!m) return null;
  const fraction = m[3] ?? "";
  if (/[^0]/.test(fraction.slice(exponent))) return null;
  const kept = fraction.slice(0, exponent).padEnd(exponent, "0");
  const minor = Number(m[2]) * 10 ** exponent + (kept === "" ? 0 : Number(kept));
  assert(Number.isSafeInteger(minor), "a bounded decimal is a safe integer");
  return m[1] === "-" && minor !== 0 ? -minor : minor;
}

export function amountOrRefuse(value: string, exponent: number, line: number, column: string): number {
  const minor = decimalMinor(value, exponent);
  if (minor === null) refuse(line, `${column} "${clip(value)}" is not an exact decimal amount`);
  return minor;
}

export function positiveOrRefuse(value: string, exponent: number, line: number, column: string): number {
  const minor = amountOrRefuse(value, exponent, line, column);
  if (minor <= 0) refuse(line, `${column} "${clip(value)}" is not a positive amount`);
  return minor;
}

export function countOrRefuse(value: string, line: number, column: string): bigint {
  if (!/^(0|[1-9][0-9]{0,8})$/.test(value)) refuse(line, `${column} "${clip(value)}" is not a count`);
  return BigInt(value);
}

export function checkTotal(line: number, what: string, declared: bigint, actual: bigint): void {
  if (declared !== actual) {
    refuse(line, `${what} says ${declared}, the lines add up to ${actual}: the file is truncated or altered`);
  }
}

const WALL_CLOCK = /^([0-9]{4})-([0-9]{2})-([0-9]{2})(?: +|T)([0-9]{2}):([0-9]{2}):([0-9]{2})$/;

/** `YYYY-MM-DD HH:MM:SS` at a fixed UTC offset (China has no daylight saving time). */
export function wallClockOrRefuse(value: string, offsetMinutes: number, line: number, column: string): number {
  const m = WALL_CLOCK.exec(value);
  const [y, mo, d, h, mi, s] = (m ? m.slice(1) : []).map(Number);
  if (
    m &&
    y !== undefined &&
    mo !== undefined &&
    d !== undefined &&
    h !== undefined &&
    mi !== undefined &&
    s !== undefined
  ) {
    const ms = Date.UTC(y, mo - 1, d, h, mi, s);
    const back = new Date(ms);
    // Date.UTC rolls 2026-02-30 and 24:00:00 over; reading the parts back refuses them.
    if (
      back.getUTCFullYear() === y &&
      back.getUTCMonth() === mo - 1 &&
      back.getUTCDate() === d &&
      back.getUTCHours() === h &&
      back.getUTCMinutes() === mi &&
      back.getUTCSeconds() === s
    ) {
      return ms - offsetMinutes * 60_000;
    }
  }
  return refuse(line, `${column} "${clip(value)}" is not a time like 2026-11-21 10:00:00`);
}

function totalsOf(lines: readonly StatementLine[]): StatementTotals[] {
  const by = new Map<
    string,
    { paymentCount: number; paymentAmountMinor: bigint; refundCount: number; refundAmountMinor: bigint }
  >();
  for (const l of lines) {
    const t = by.get(l.currency) ?? { paymentCount: 0, paymentAmountMinor: 0n, refundCount: 0, refundAmountMinor: 0n };
    if (l.kind === "payment") {
      t.paymentCount += 1;
      t.paymentAmountMinor += BigInt(l.amountMinor);
    } else {
      t.refundCount += 1;
      t.refundAmountMinor += BigInt(l.amountMinor);
    }
    by.set(l.currency, t);
  }
  return [...by.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([currency, t]) => ({
      currency,
      paymentCount: t.paymentCount,
      paymentAmountMinor: exactOrRefuse(t.paymentAmountMinor),
      refundCount: t.refundCount,
      refundAmountMinor: exactOrRefuse(t.refundAmountMinor),
    }));
}

function exactOrRefuse(sum: bigint): number {
  if (sum > BigInt(Number.MAX_SAFE_INTEGER)) refuse(0, "the file's totals exceed the exact integer range");
  return Number(sum);
}

function utf8Length(text: string): number {
  let bytes = 0;
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && k + 1 < text.length) {
      bytes += 4; // a surrogate pair is one 4-byte code point
      k++;
    } else bytes += 3;
  }
  return bytes;
}

/** Values quoted back in error details stay short (they may be anything). */
export function clip(value: string): string {
  return value.length > 40 ? `${value.slice(0, 40)}…` : value;
}
