/**
 * The cash-out chain at a withdrawal request (docs/ARCHITECTURE.md, Risk): the creator's tips
 * and paid unlocks received in the rule's window, read from every shard (a creator's income
 * lies in its payers' shards), and the payments credited to those payers shortly before, read
 * from each payer's shard; src/domain/risk/cash-out.ts decides. Read here rather than counted by desks on the tip
 * path: a withdrawal is rare (a few a day per creator at most), the tip path pays nothing, and
 * a window of a day outlives a desk's memory (desks are evicted when idle) while the ledger
 * does not forget. Bounded: at most `TIPS_PER_SHARD` tips per shard (the newest) and
 * `PAYERS_MAX` payers.
 */

import type { Ledger } from "../db/shards";
import {
  type CashOutChainRule,
  type Credit,
  cashOutDetail,
  cashOutFires,
  findCashOut,
  type IncomeTip,
} from "../domain/risk/cash-out";

const TIPS_PER_SHARD = 2_000;
const PAYERS_MAX = 500;
/** D1 binds at most 100 parameters per statement. */
const PAYERS_PER_QUERY = 90;
/** A payment order is credited within a day of its creation (orders expire long before). */
const ORDER_TO_CREDIT_MAX_MS = 86_400_000;

export interface CashOutHit {
  readonly rule: CashOutChainRule;
  readonly detail: string;
}

/**
 * The creator's income in the window from every shard: tips (room and content) and paid unlocks
 * (an unlock pays the creator like a tip; a bucket move's copy of an entitlement is counted by
 * its original only), the newest `TIPS_PER_SHARD` per shard.
 */
async function incomeTips(ledger: Ledger, creatorId: string, sinceMs: number): Promise<IncomeTip[]> {
  const perShard = await Promise.all(
    ledger.shards.map(async (shard) => {
      const { results } = await shard.db
        .prepare(
          `SELECT payer_id, creator_minor, created_at_ms FROM (
             SELECT viewer_id AS payer_id, creator_minor, created_at_ms FROM tips
             WHERE creator_id = ? AND created_at_ms >= ?
             UNION ALL
             SELECT user_id, creator_minor, created_at_ms FROM entitlements
             WHERE creator_id = ? AND created_at_ms >= ? AND moved_from_shard IS NULL)
           ORDER BY created_at_ms DESC LIMIT ?`,
        )
        .bind(creatorId, sinceMs, creatorId, sinceMs, TIPS_PER_SHARD)
        .all<{ payer_id: string; creator_minor: number; created_at_ms: number }>();
      return results.map((r) => ({ payerId: r.payer_id, creatorMinor: r.creator_minor, atMs: r.created_at_ms }));
    }),
  );
  return perShard.flat();
}

async function credits(ledger: Ledger, payerIds: readonly string[], sinceMs: number): Promise<Credit[]> {
  const byShard = new Map<number, string[]>();
  for (const id of payerIds) {
    const shard = ledger.forOwner(id).index;
    byShard.set(shard, [...(byShard.get(shard) ?? []), id]);
  }
  const queries: Promise<Credit[]>[] = [];
  for (const [index, ids] of byShard) {
    const db = ledger.shards[index]?.db;
    if (db === undefined) continue;
    for (let i = 0; i < ids.length; i += PAYERS_PER_QUERY) {
      const chunk = ids.slice(i, i + PAYERS_PER_QUERY);
      queries.push(
        db
          .prepare(
            `SELECT o.user_id, t.at_ms FROM payment_orders o
             JOIN payment_order_transitions t ON t.order_id = o.id AND t.to_state = 'succeeded'
             WHERE o.user_id IN (${chunk.map(() => "?").join(", ")}) AND o.created_at_ms >= ? AND t.at_ms >= ?`,
          )
          .bind(...chunk, sinceMs - ORDER_TO_CREDIT_MAX_MS, sinceMs)
          .all<{ user_id: string; at_ms: number }>()
          .then(({ results }) => results.map((r) => ({ payerId: r.user_id, atMs: r.at_ms }))),
      );
    }
  }
  return (await Promise.all(queries)).flat();
}

/** The strongest enabled `cash_out_chain` rule that fires for this creator now, or null. */
export async function cashOutChain(
  ledger: Ledger,
  rules: readonly CashOutChainRule[],
  creatorId: string,
  nowMs: number,
): Promise<CashOutHit | null> {
  const enabled = rules.filter((r) => r.enabled);
  if (enabled.length === 0) return null;
  const longestMs = Math.max(...enabled.map((r) => r.windowSec * 1000));
  const tips = await incomeTips(ledger, creatorId, nowMs - longestMs);
  if (tips.length === 0) return null;
  const payers = [...new Set(tips.map((t) => t.payerId))].slice(0, PAYERS_MAX);
  const freshestMs = Math.max(...enabled.map((r) => r.freshSec * 1000));
  const paid = await credits(ledger, payers, nowMs - longestMs - freshestMs);
  let hit: CashOutHit | null = null;
  for (const rule of enabled) {
    const finding = findCashOut(tips, paid, nowMs - rule.windowSec * 1000, rule.freshSec * 1000);
    if (!cashOutFires(rule, finding)) continue;
    if (hit === null || (hit.rule.outcome === "review" && rule.outcome === "block")) {
      hit = { rule, detail: cashOutDetail(rule, finding) };
    }
  }
  return hit;
}
