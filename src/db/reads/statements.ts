/**
 * A creator's statement (账单): income (each tip to them), settlements, withdrawals and
 * reversals, oldest first, in pages with a cursor.
 *
 * Income is the hard part: a tip row lives in its VIEWER's shard, so a creator's income is
 * spread over every shard. `IncomeMerge` is a k-way merge over the shards by (created_at_ms,
 * id) on the tips_creator_created index: each shard is read `pageRows` at a time after its
 * own cursor, and the smallest head is taken next. Memory is bounded by shards × pageRows
 * whatever the period's size, which is what lets the monthly CSV stream. The rest is in the
 * creator's own shard beside their accounts.
 */

import { LIMITS } from "../../domain/limits";
import type { ReversalLine, SettlementLine, WithdrawalLine } from "../../domain/statement-month";

/** Where a page starts: strictly after this (key, id); key is ms, or a day for settlements. */
export interface StatementCursor {
  key: number | string;
  id: string;
}

export function encodeStatementCursor(c: StatementCursor): string {
  return `${typeof c.key === "number" ? `t${c.key}` : `d${c.key}`}~${c.id}`;
}

export function decodeStatementCursor(text: string): StatementCursor | null {
  const m = /^(?:t(\d{1,16})|d(\d{4}-\d{2}-\d{2}))~(.{1,200})$/.exec(text);
  if (!m) return null;
  return { key: m[1] !== undefined ? Number(m[1]) : (m[2] ?? ""), id: m[3] ?? "" };
}

/** A half-open instant range [fromMs, toMs). */
export interface MsRange {
  fromMs: number;
  toMs: number;
}

export interface IncomeRow {
  id: string;
  /** The room it was sent in, or the content item (issue 19): one of the two. */
  roomId: string | null;
  contentId: string | null;
  viewerId: string;
  giftId: string | null;
  quantity: number;
  amountMinor: number;
  platformBps: number | null;
  platformMinor: number;
  creatorMinor: number;
  currency: string;
  createdAtMs: number;
}

interface ShardCursor {
  db: D1Database;
  buffer: IncomeRow[];
  after: { ms: number; id: string };
  done: boolean;
}

const INCOME_SQL = `SELECT id, room_id AS roomId, content_id AS contentId, viewer_id AS viewerId, gift_id AS giftId, quantity,
    amount_minor AS amountMinor, platform_bps AS platformBps, platform_minor AS platformMinor,
    creator_minor AS creatorMinor, currency, created_at_ms AS createdAtMs
  FROM tips
  WHERE creator_id = ?1 AND created_at_ms >= ?2 AND created_at_ms < ?3
    AND (created_at_ms > ?4 OR (created_at_ms = ?4 AND id > ?5))
  ORDER BY created_at_ms, id LIMIT ?6`;

function before(a: IncomeRow, b: IncomeRow): boolean {
  return a.createdAtMs < b.createdAtMs || (a.createdAtMs === b.createdAtMs && a.id < b.id);
}

/** The creator's tips from every shard, one at a time, in (created_at_ms, id) order. */
export class IncomeMerge {
  private readonly shards: ShardCursor[];

  constructor(
    shards: readonly D1Database[],
    private readonly creatorId: string,
    private readonly range: MsRange,
    after: StatementCursor | null,
    private readonly pageRows: number = LIMITS.statementCsvPageRows,
  ) {
    const start = { ms: typeof after?.key === "number" ? after.key : -1, id: after?.id ?? "" };
    this.shards = shards.map((db) => ({ db, buffer: [], after: { ...start }, done: false }));
  }

  /** The next tip, or null when every shard is exhausted. */
  async next(): Promise<IncomeRow | null> {
    await Promise.all(this.shards.filter((s) => s.buffer.length === 0 && !s.done).map((s) => this.refill(s)));
    let best: ShardCursor | null = null;
    for (const s of this.shards) {
      const head = s.buffer[0];
      if (head && (best === null || before(head, best.buffer[0] as IncomeRow))) best = s;
    }
    return best?.buffer.shift() ?? null;
  }

  /** Up to `n` next tips. */
  async take(n: number): Promise<IncomeRow[]> {
    const rows: IncomeRow[] = [];
    while (rows.length < n) {
      const row = await this.next();
      if (row === null) break;
      rows.push(row);
    }
    return rows;
  }

  private async refill(s: ShardCursor): Promise<void> {
    const { results } = await s.db
      .prepare(INCOME_SQL)
      .bind(this.creatorId, this.range.fromMs, this.range.toMs, s.after.ms, s.after.id, this.pageRows)
      .all<IncomeRow>();
    s.buffer = results;
    const last = results.at(-1);
    if (last) s.after = { ms: last.createdAtMs, id: last.id };
    if (results.length < this.pageRows) s.done = true;
  }
}

/** Which of these tips were reversed (tip_reversals is in the creator's shard). */
export async function reversedTipIds(creatorDb: D1Database, tipIds: readonly string[]): Promise<Set<string>> {
  const reversed = new Set<string>();
  for (let i = 0; i < tipIds.length; i += 90) {
    const chunk = tipIds.slice(i, i + 90);
    const { results } = await creatorDb
      .prepare(`SELECT tip_id AS tipId FROM tip_reversals WHERE tip_id IN (${chunk.map(() => "?").join(", ")})`)
      .bind(...chunk)
      .all<{ tipId: string }>();
    for (const r of results) reversed.add(r.tipId);
  }
  return reversed;
}

/** Gift names by id, for income lines (the catalogue is small and bounded: giftsMax). */
export async function giftNames(control: D1Database): Promise<Map<string, string>> {
  const { results } = await control.prepare("SELECT id, name FROM gifts").all<{ id: string; name: string }>();
  return new Map(results.map((g) => [g.id, g.name]));
}

interface Page<T> {
  rows: T[];
  next: StatementCursor | null;
}

function paged<T extends { id: string }>(results: T[], limit: number, keyOf: (row: T) => number | string): Page<T> {
  const rows = results.slice(0, limit);
  const last = rows.at(-1);
  return { rows, next: results.length > limit && last ? { key: keyOf(last), id: last.id } : null };
}

/** A settlement as the statement reads it: the CSV line (domain/statement-month.ts) and when it was due. */
export interface SettlementRow extends SettlementLine {
  dueAtMs: number;
}

/** Settlements of business days `fromDay`..`toDay` (inclusive), by day. */
export async function settlementsPage(
  db: D1Database,
  creatorId: string,
  fromDay: string,
  toDay: string,
  after: StatementCursor | null,
  limit: number,
): Promise<Page<SettlementRow>> {
  const { results } = await db
    .prepare(
      `SELECT id, day, state, due_at_ms AS dueAtMs, gross_minor AS grossMinor, platform_minor AS platformMinor,
         creator_part_minor AS creatorPartMinor, reversed_minor AS reversedMinor, withholding_minor AS withholdingMinor,
         receivable_offset_minor AS receivableOffsetMinor, net_minor AS netMinor, tip_count AS tipCount, currency,
         held_reason AS heldReason, created_at_ms AS createdAtMs
       FROM creator_settlements
       WHERE creator_id = ?1 AND day >= ?2 AND day <= ?3 AND (day > ?4 OR (day = ?4 AND id > ?5))
       ORDER BY day, id LIMIT ?6`,
    )
    .bind(creatorId, fromDay, toDay, typeof after?.key === "string" ? after.key : "", after?.id ?? "", limit + 1)
    .all<SettlementRow>();
  return paged(results, limit, (r) => r.day);
}

/** A withdrawal as the statement reads it: the CSV line, how it was reviewed, when it last changed. */
export interface WithdrawalRow extends WithdrawalLine {
  review: string;
  updatedAtMs: number;
}

export async function withdrawalsPage(
  db: D1Database,
  creatorId: string,
  range: MsRange,
  after: StatementCursor | null,
  limit: number,
): Promise<Page<WithdrawalRow>> {
  const { results } = await db
    .prepare(
      `SELECT id, state, amount_minor AS amountMinor, fee_minor AS feeMinor, currency, channel,
         destination_masked AS destinationMasked, review, reject_reason AS rejectReason,
         failure_reason AS failureReason, created_at_ms AS createdAtMs, updated_at_ms AS updatedAtMs
       FROM withdrawals
       WHERE creator_id = ?1 AND created_at_ms >= ?2 AND created_at_ms < ?3
         AND (created_at_ms > ?4 OR (created_at_ms = ?4 AND id > ?5))
       ORDER BY created_at_ms, id LIMIT ?6`,
    )
    .bind(creatorId, range.fromMs, range.toMs, msAfter(after), after?.id ?? "", limit + 1)
    .all<WithdrawalRow>();
  return paged(results, limit, (r) => r.createdAtMs);
}

/** A reversal as the statement reads it: the CSV line and the reversed tip's day and time. */
export interface ReversalRow extends ReversalLine {
  tipDay: string;
  tipCreatedAtMs: number;
}

export async function reversalsPage(
  db: D1Database,
  creatorId: string,
  range: MsRange,
  after: StatementCursor | null,
  limit: number,
): Promise<Page<ReversalRow>> {
  const { results } = await db
    .prepare(
      `SELECT id, tip_id AS tipId, viewer_id AS viewerId, tip_day AS tipDay, tip_created_at_ms AS tipCreatedAtMs,
         amount_minor AS amountMinor, platform_minor AS platformMinor, creator_minor AS creatorMinor, source, reason,
         currency, created_at_ms AS createdAtMs
       FROM tip_reversals
       WHERE creator_id = ?1 AND created_at_ms >= ?2 AND created_at_ms < ?3
         AND (created_at_ms > ?4 OR (created_at_ms = ?4 AND id > ?5))
       ORDER BY created_at_ms, id LIMIT ?6`,
    )
    .bind(creatorId, range.fromMs, range.toMs, msAfter(after), after?.id ?? "", limit + 1)
    .all<ReversalRow>();
  return paged(results, limit, (r) => r.createdAtMs);
}

function msAfter(after: StatementCursor | null): number {
  return typeof after?.key === "number" ? after.key : -1;
}
