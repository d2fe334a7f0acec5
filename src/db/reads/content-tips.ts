/**
 * A content item's recent tips (issue 19), newest first, for the item's public views. A tip
 * lives in its viewer's shard with its message beside it (a bucket move leaves both behind as
 * history), so every shard is asked for its first `limit + 1` tips on the item after the cursor
 * (index tips_content_created) and the answers are merged exactly as the operator search merges
 * (domain/search.ts `mergeShardPages`): the order (time desc, id desc) is total, so following
 * the cursor lists every tip once.
 *
 * A message is given only when moderation let it through: `shown`, `masked` (its masked text)
 * or `approved` by an operator. A held or rejected message is never given, and neither is the
 * message of a reversed tip (the tip is still listed, flagged `reversed`: the money went back,
 * the record stays).
 */

import { assert } from "../../domain/limits";
import type { Currency } from "../../domain/money";
import { type Keyed, mergeShardPages, type SearchCursor } from "../../domain/search";
import type { Ledger } from "../shards";
import { reversedTips } from "./search";

export interface RecentContentTip {
  readonly id: string;
  readonly viewerId: string;
  readonly giftId: string | null;
  readonly quantity: number;
  readonly amountMinor: number;
  readonly currency: Currency;
  readonly createdAtMs: number;
  /** The message as shown, or null: none, held, rejected, or the tip was reversed. */
  readonly message: string | null;
  readonly reversed: boolean;
}

export interface RecentContentTipsPage {
  readonly tips: readonly RecentContentTip[];
  /** Where the next page starts (the last tip's time and id), or null at the end. */
  readonly next: SearchCursor | null;
}

interface TipRow {
  id: string;
  viewer_id: string;
  creator_id: string;
  gift_id: string | null;
  quantity: number;
  amount_minor: number;
  currency: Currency;
  created_at_ms: number;
  message: string | null;
}

type Merged = Keyed & { readonly row: TipRow };

/** One page of the item's tips after `cursor` (exclusive), newest first, across every shard. */
export async function readRecentContentTips(
  ledger: Ledger,
  contentId: string,
  cursor: SearchCursor | null,
  limit: number,
): Promise<RecentContentTipsPage> {
  assert(Number.isInteger(limit) && limit >= 1, "a page holds at least one tip");
  // `created_at_ms <= ? AND (… < ? OR id < ?)` keeps the index range on the time (as the search does).
  const after = cursor === null ? "" : "AND t.created_at_ms <= ?2 AND (t.created_at_ms < ?2 OR t.id < ?3)";
  const text = `SELECT t.id, t.viewer_id, t.creator_id, t.gift_id, t.quantity, t.amount_minor, t.currency,
      t.created_at_ms,
      (SELECT m.shown FROM tip_messages m WHERE m.tip_id = t.id AND m.status IN ('shown', 'masked', 'approved'))
        AS message
    FROM tips t WHERE t.content_id = ?1 ${after}
    ORDER BY t.created_at_ms DESC, t.id DESC LIMIT ?4`;
  const answers = await Promise.all(
    ledger.shards.map(async (shard) => {
      const { results } = await shard.db
        .prepare(text)
        .bind(contentId, cursor?.atMs ?? 0, cursor?.id ?? "", limit + 1)
        .all<TipRow>();
      return results.map(
        (row): Merged => ({
          atMs: row.created_at_ms,
          id: row.id,
          preferred: ledger.forOwner(row.viewer_id).index === shard.index,
          row,
        }),
      );
    }),
  );
  const { items, more } = mergeShardPages(answers, limit);
  const reversed = await reversedTips(
    ledger,
    items.map((m) => ({ id: m.row.id, creatorId: m.row.creator_id })),
  );
  const last = items.at(-1);
  return {
    tips: items.map(({ row }) => {
      const isReversed = reversed.has(row.id);
      return {
        id: row.id,
        viewerId: row.viewer_id,
        giftId: row.gift_id,
        quantity: row.quantity,
        amountMinor: row.amount_minor,
        currency: row.currency,
        createdAtMs: row.created_at_ms,
        message: isReversed ? null : row.message,
        reversed: isReversed,
      };
    }),
    next: more && last !== undefined ? { atMs: last.atMs, id: last.id } : null,
  };
}
