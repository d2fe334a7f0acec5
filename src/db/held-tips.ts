/**
 * Held tips (issue 16, risk outcome `review`): the rows in the payers' shards
 * (schema `held_tips`; money moves only in operations/tip-hold.ts and tip-hold-release.ts).
 * One held tip is read in the shard its id routes to; the review queue merges every shard's
 * page (ids sort by time, so the merged page is oldest first).
 */

import type { HeldTipState } from "../domain/held-tip";
import type { ModeratedMessage } from "../domain/moderation";
import type { Currency } from "../domain/money";
import type { FiredRule } from "../domain/risk/evaluate";
import type { TipAsk } from "./operations/tip";
import type { Ledger } from "./shards";

export interface HeldTipRow {
  id: string;
  viewer_id: string;
  room_id: string | null;
  content_id: string | null;
  creator_id: string;
  ask: string;
  gift_id: string | null;
  quantity: number;
  amount_minor: number;
  currency: Currency;
  message: string | null;
  decision_id: string;
  fired: string;
  idempotency_key: string;
  state: HeldTipState;
  tip_id: string;
  created_at_ms: number;
  expires_at_ms: number;
  decided_by: string | null;
  decided_at_ms: number | null;
  decision_reason: string | null;
}

export interface HeldTip {
  readonly id: string;
  readonly viewerId: string;
  /** The target, exactly one of the two (issue 19: a tip on a content item). */
  readonly roomId: string | null;
  readonly contentId: string | null;
  readonly creatorId: string;
  readonly ask: TipAsk;
  readonly giftId: string | null;
  readonly quantity: number;
  readonly amountMinor: number;
  readonly currency: Currency;
  readonly message: ModeratedMessage | null;
  readonly decisionId: string;
  readonly fired: readonly FiredRule[];
  readonly state: HeldTipState;
  readonly tipId: string;
  readonly createdAtMs: number;
  readonly expiresAtMs: number;
  readonly decidedBy: string | null;
  readonly decidedAtMs: number | null;
  readonly decisionReason: string | null;
}

export function heldTipOf(r: HeldTipRow): HeldTip {
  return {
    id: r.id,
    viewerId: r.viewer_id,
    roomId: r.room_id,
    contentId: r.content_id,
    creatorId: r.creator_id,
    ask: JSON.parse(r.ask) as TipAsk,
    giftId: r.gift_id,
    quantity: r.quantity,
    amountMinor: r.amount_minor,
    currency: r.currency,
    message: r.message === null ? null : (JSON.parse(r.message) as ModeratedMessage),
    decisionId: r.decision_id,
    fired: JSON.parse(r.fired) as FiredRule[],
    state: r.state,
    tipId: r.tip_id,
    createdAtMs: r.created_at_ms,
    expiresAtMs: r.expires_at_ms,
    decidedBy: r.decided_by,
    decidedAtMs: r.decided_at_ms,
    decisionReason: r.decision_reason,
  };
}

/**
 * One held tip: in the shard its id routes to, else (decided before its payer's bucket moved: the
 * rows stay in the old shard as history; a bucket with tips still held does not move) any other.
 */
export async function findHeldTip(ledger: Ledger, id: string): Promise<HeldTip | null> {
  const home = ledger.forId(id);
  const read = (db: D1Database) => db.prepare("SELECT * FROM held_tips WHERE id = ?").bind(id).first<HeldTipRow>();
  let row = await read(home.db);
  for (const shard of ledger.shards) {
    if (row !== null) break;
    if (shard.index !== home.index) row = await read(shard.db);
  }
  return row === null ? null : heldTipOf(row);
}

/** A page of held tips in `state` (every state when null), oldest first, after the cursor id. */
export async function heldTipsPage(
  ledger: Ledger,
  state: HeldTipState | null,
  after: string | null,
  limit: number,
): Promise<HeldTip[]> {
  const pages = await Promise.all(
    ledger.shards.map(async ({ db }) => {
      const { results } = await db
        .prepare(
          `SELECT * FROM held_tips WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR id > ?2)
           ORDER BY id LIMIT ?3`,
        )
        .bind(state, after, limit)
        .all<HeldTipRow>();
      return results;
    }),
  );
  return pages
    .flat()
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .slice(0, limit)
    .map(heldTipOf);
}

/** How many tips wait for a decision, over every shard (the console's badge). */
export async function heldTipsWaiting(ledger: Ledger): Promise<number> {
  const counts = await Promise.all(
    ledger.shards.map(({ db }) =>
      db.prepare("SELECT COUNT(*) AS n FROM held_tips WHERE state = 'held'").first<{ n: number }>(),
    ),
  );
  return counts.reduce((sum, c) => sum + (c?.n ?? 0), 0);
}

/** Held tips of one shard whose time ran out, oldest first (the sweeper declines them). */
export async function expiredHeldTips(db: D1Database, nowMs: number, limit: number): Promise<HeldTip[]> {
  const { results } = await db
    .prepare("SELECT * FROM held_tips WHERE state = 'held' AND expires_at_ms <= ? ORDER BY expires_at_ms LIMIT ?")
    .bind(nowMs, limit)
    .all<HeldTipRow>();
  return results.map(heldTipOf);
}
