/**
 * A creator's statement (账单): income (each tip to them and each paid unlock of their content),
 * settlements, withdrawals and reversals (tip reversals and unlock refunds), oldest first, in
 * pages with a cursor.
 *
 * Income is the hard part: a tip row and an unlock's entitlement live in the PAYER's shard, so
 * a creator's income is spread over every shard. `IncomeMerge` is a k-way merge over the shards
 * by (created_at_ms, id) (domain/ordered-merge.ts): each shard is read `pageRows` at a time
 * after its own cursor, tips and unlocks together, and the smallest head is taken next. Memory is bounded by shards × pageRows
 * whatever the period's size, which is what lets the monthly CSV stream. The rest is in the
 * creator's own shard beside their accounts.
 */

import { LIMITS } from "../../domain/limits";
import { MERGE_START, OrderedMerge } from "../../domain/ordered-merge";
import type { SettlementLine, TipReversalLine, UnlockRefundLine, WithdrawalLine } from "../../domain/statement-month";

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

/** A line of income: a tip (in a room or on a content item) or a paid unlock of a content item. */
export type IncomeKind = "tip" | "unlock";

export interface IncomeRow {
  kind: IncomeKind;
  /** The tip's id, or the unlock's (its entitlement's and operation's id). */
  id: string;
  /** The room a tip was sent in; null for a tip on a content item and for an unlock. */
  roomId: string | null;
  /** The content item tipped or unlocked; null for a tip in a room. */
  contentId: string | null;
  /** Who paid: the tipper, or the reader who unlocked. */
  viewerId: string;
  giftId: string | null;
  /** Gifts in a tip; 1 for an unlock. */
  quantity: number;
  amountMinor: number;
  platformBps: number | null;
  platformMinor: number;
  creatorMinor: number;
  currency: string;
  createdAtMs: number;
}

/**
 * One shard's income after a cursor: its tips and its paid unlocks, in one (time, id) order
 * (SQLite merges the two index walks, tips_creator_created and entitlements_creator_created).
 * An entitlement a bucket move copied in (`moved_from_shard`) is the payer's live copy, not a
 * second unlock: only its original counts, as in settlement (reads/settlement-inputs.ts) and
 * the invariant checker. Tip and unlock ids are operation ids with their own prefixes, so the
 * (time, id) key is unique across both tables and every shard.
 */
const INCOME_SQL = `SELECT 'tip' AS kind, id, room_id AS roomId, content_id AS contentId, viewer_id AS viewerId,
    gift_id AS giftId, quantity, amount_minor AS amountMinor, platform_bps AS platformBps,
    platform_minor AS platformMinor, creator_minor AS creatorMinor, currency, created_at_ms AS createdAtMs
  FROM tips
  WHERE creator_id = ?1 AND created_at_ms >= ?2 AND created_at_ms < ?3
    AND (created_at_ms > ?4 OR (created_at_ms = ?4 AND id > ?5))
  UNION ALL
  SELECT 'unlock', id, NULL, content_id, user_id, NULL, 1, amount_minor, platform_bps, platform_minor, creator_minor,
    currency, created_at_ms
  FROM entitlements
  WHERE creator_id = ?1 AND moved_from_shard IS NULL AND created_at_ms >= ?2 AND created_at_ms < ?3
    AND (created_at_ms > ?4 OR (created_at_ms = ?4 AND id > ?5))
  ORDER BY createdAtMs, id LIMIT ?6`;

/** The creator's tips and unlocks from every shard, one at a time, in (created_at_ms, id) order. */
export class IncomeMerge extends OrderedMerge<IncomeRow> {
  constructor(
    shards: readonly D1Database[],
    creatorId: string,
    range: MsRange,
    after: StatementCursor | null,
    pageRows: number = LIMITS.statementCsvPageRows,
  ) {
    const start = typeof after?.key === "number" ? { ms: after.key, id: after.id } : MERGE_START;
    super(
      shards.map((db) => async (from, limit) => {
        const { results } = await db
          .prepare(INCOME_SQL)
          .bind(creatorId, range.fromMs, range.toMs, from.ms, from.id, limit)
          .all<IncomeRow>();
        return results;
      }),
      start,
      pageRows,
    );
  }
}

/**
 * Which of these income lines were taken back: a tip reversed (tip_reversals) or an unlock
 * refunded (unlock_refunds), both rows in the creator's shard. Ids are unique across kinds.
 */
export async function reversedIncomeIds(
  creatorDb: D1Database,
  lines: readonly { kind: IncomeKind; id: string }[],
): Promise<Set<string>> {
  const reversed = new Set<string>();
  const tips = lines.filter((l) => l.kind === "tip").map((l) => l.id);
  const unlocks = lines.filter((l) => l.kind === "unlock").map((l) => l.id);
  if (tips.length + unlocks.length === 0) return reversed;
  const { results } = await creatorDb
    .prepare(
      `SELECT tip_id AS id FROM tip_reversals WHERE tip_id IN (SELECT value FROM json_each(?1))
       UNION ALL SELECT unlock_id FROM unlock_refunds WHERE unlock_id IN (SELECT value FROM json_each(?2))`,
    )
    .bind(JSON.stringify(tips), JSON.stringify(unlocks))
    .all<{ id: string }>();
  for (const r of results) reversed.add(r.id);
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
  review: "auto" | "manual";
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

/**
 * A reversal as the statement reads it: the CSV line, and the day and time of what it took back
 * (a tip reversal keeps its `tipDay`/`tipCreatedAtMs` names; an unlock refund says `unlock…`).
 */
export type ReversalRow =
  | (TipReversalLine & { tipDay: string; tipCreatedAtMs: number })
  | (UnlockRefundLine & { unlockDay: string; unlockCreatedAtMs: number });

interface ReversalSqlRow {
  kind: "tip" | "unlock";
  id: string;
  ref: string;
  contentId: string | null;
  viewerId: string;
  day: string;
  earnedAtMs: number;
  amountMinor: number;
  platformMinor: number;
  creatorMinor: number;
  source: "pending" | "receivable";
  reason: string;
  currency: string;
  createdAtMs: number;
}

function reversalRow(r: ReversalSqlRow): ReversalRow {
  const { kind, ref, contentId, day, earnedAtMs, ...common } = r;
  return kind === "tip"
    ? { kind, ...common, tipId: ref, contentId, tipDay: day, tipCreatedAtMs: earnedAtMs }
    : { kind, ...common, unlockId: ref, contentId: contentId ?? "", unlockDay: day, unlockCreatedAtMs: earnedAtMs };
}

/**
 * Tip reversals and unlock refunds (the creator's leg: what left the creator) made in the range,
 * in one (time, id) order: both tables are in the creator's shard, and their ids are operation
 * ids with their own prefixes.
 */
export async function reversalsPage(
  db: D1Database,
  creatorId: string,
  range: MsRange,
  after: StatementCursor | null,
  limit: number,
): Promise<Page<ReversalRow>> {
  const { results } = await db
    .prepare(
      `SELECT 'tip' AS kind, id, tip_id AS ref, content_id AS contentId, viewer_id AS viewerId, tip_day AS day,
         tip_created_at_ms AS earnedAtMs, amount_minor AS amountMinor, platform_minor AS platformMinor,
         creator_minor AS creatorMinor, source, reason, currency, created_at_ms AS createdAtMs
       FROM tip_reversals
       WHERE creator_id = ?1 AND created_at_ms >= ?2 AND created_at_ms < ?3
         AND (created_at_ms > ?4 OR (created_at_ms = ?4 AND id > ?5))
       UNION ALL
       SELECT 'unlock', id, unlock_id, content_id, user_id, unlock_day, unlock_created_at_ms, amount_minor,
         platform_minor, creator_minor, source, reason, currency, created_at_ms
       FROM unlock_refunds
       WHERE creator_id = ?1 AND created_at_ms >= ?2 AND created_at_ms < ?3
         AND (created_at_ms > ?4 OR (created_at_ms = ?4 AND id > ?5))
       ORDER BY createdAtMs, id LIMIT ?6`,
    )
    .bind(creatorId, range.fromMs, range.toMs, msAfter(after), after?.id ?? "", limit + 1)
    .all<ReversalSqlRow>();
  return paged(results.map(reversalRow), limit, (r) => r.createdAtMs);
}

function msAfter(after: StatementCursor | null): number {
  return typeof after?.key === "number" ? after.key : -1;
}
