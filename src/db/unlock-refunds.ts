/**
 * Unlock refunds end to end (operations/unlock-refund.ts and unlock-refund-payer.ts are the
 * two legs), as db/tip-reversals.ts does for tips: finding the unlock, deciding where its
 * creator part comes from, and completing the payer's leg, which the route does at once and
 * the reversal sweeper does for a refund a crash left half done.
 */

import { businessDayOf } from "../domain/business-day";
import { fail, ok, type Result } from "../domain/errors";
import { assert, LIMITS } from "../domain/limits";
import type { Currency } from "../domain/money";
import { reversalRoute } from "../domain/tip-reversal";
import { withholdingMinor } from "../domain/withholding";
import { runOperation, type Verdict } from "./ledger";
import type { EntitlementRow, UnlockRefundInput } from "./operations/unlock-refund";
import { composeUnlockRefundPayer, markPayerLeg } from "./operations/unlock-refund-payer";
import type { Ledger, LedgerShard } from "./shards";

export interface UnlockRefundRow {
  readonly id: string;
  readonly unlock_id: string;
  readonly content_id: string;
  readonly creator_id: string;
  readonly user_id: string;
  readonly unlock_day: string;
  readonly unlock_created_at_ms: number;
  readonly amount_minor: number;
  readonly platform_minor: number;
  readonly creator_minor: number;
  readonly source: "pending" | "receivable";
  readonly payer_leg_at_ms: number | null;
  readonly reason: string;
  readonly actor_id: string;
  readonly currency: string;
  readonly created_at_ms: number;
}

/** The unlock's entitlement in its payer's shard (an unlock id carries the payer's bucket), or null. */
export async function findUnlock(ledger: Ledger, unlockId: string): Promise<EntitlementRow | null> {
  return ledger
    .forId(unlockId)
    .db.prepare(
      `SELECT id, content_id, user_id, creator_id, amount_minor, platform_minor, creator_minor, currency, state,
         created_at_ms, revoked_at_ms
       FROM entitlements WHERE id = ?`,
    )
    .bind(unlockId)
    .first<EntitlementRow>();
}

export async function refundOfUnlock(creatorShard: LedgerShard, unlockId: string): Promise<UnlockRefundRow | null> {
  return creatorShard.db
    .prepare("SELECT * FROM unlock_refunds WHERE unlock_id = ?")
    .bind(unlockId)
    .first<UnlockRefundRow>();
}

export interface UnlockRefundAsk {
  readonly id: string;
  readonly reason: string;
  readonly actorId: string;
  /** The rate withholding uses now: only for a day settled before rates were recorded. */
  readonly withholdingBpsNow: number;
  readonly timeZone: string;
  readonly nowMs: number;
}

/**
 * Where the creator part comes from, as the creator's shard says now (planReversal's rule): pending
 * while the unlock's day is not settled, the receivable once it is. The creator leg's guard
 * re-checks the route inside its batch. Both parts must be positive: each leg moves money.
 */
export async function planUnlockRefund(
  creatorShard: LedgerShard,
  unlock: EntitlementRow,
  ask: UnlockRefundAsk,
): Promise<Result<UnlockRefundInput>> {
  if (unlock.creator_minor === 0 || unlock.platform_minor === 0) return fail("unlock_not_refundable");
  const unlockDay = businessDayOf(unlock.created_at_ms, ask.timeZone);
  const settled = await creatorShard.db
    .prepare(
      `SELECT s.state, s.withholding_minor, json_extract(o.metadata, '$.withholdingBps') AS bps
       FROM creator_settlements s LEFT JOIN operations o ON o.id = s.id
       WHERE s.creator_id = ? AND s.day = ?`,
    )
    .bind(unlock.creator_id, unlockDay)
    .first<{ state: "held" | "settled"; withholding_minor: number; bps: number | null }>();
  const daySettled = settled?.state === "settled";
  let bps = 0;
  if (daySettled) bps = settled.withholding_minor === 0 ? 0 : (settled.bps ?? ask.withholdingBpsNow);
  const route = reversalRoute(unlock.creator_minor, daySettled, bps);
  return ok({
    id: ask.id,
    unlock,
    unlockDay,
    route,
    withheldMinor: route.from === "receivable" ? withholdingMinor(unlock.creator_minor, bps) : 0,
    withholdingBps: bps,
    reason: ask.reason,
    actorId: ask.actorId,
    nowMs: ask.nowMs,
  });
}

/**
 * The payer's leg of a committed refund, in the payer's shard (where a bucket move may have
 * carried the entitlement), then the mark on the refund row in the creator's shard. A leg that
 * exists, or an entitlement already revoked (only this leg revokes one), is marked as done.
 */
export async function completePayerLeg(ledger: Ledger, refund: UnlockRefundRow, nowMs: number): Promise<Verdict> {
  const creatorShard = ledger.forOwner(refund.creator_id);
  const payerShard = ledger.forOwner(refund.user_id);
  const composed = composeUnlockRefundPayer(payerShard, {
    refundId: refund.id,
    unlockId: refund.unlock_id,
    userId: refund.user_id,
    platformMinor: refund.platform_minor,
    currency: refund.currency as Currency,
    actorId: refund.actor_id,
    nowMs,
  });
  const { verdict } = await runOperation(payerShard, composed);
  const done =
    verdict.kind !== "rejected" || (verdict.code === "unlock_already_refunded" && (await revoked(payerShard)));
  if (!done) return verdict;
  await markPayerLeg(creatorShard.db, refund.id, nowMs).run();
  return verdict.kind === "rejected" ? { kind: "exists" } : verdict;

  async function revoked(shard: LedgerShard): Promise<boolean> {
    const row = await shard.db
      .prepare("SELECT state FROM entitlements WHERE id = ?")
      .bind(refund.unlock_id)
      .first<{ state: string }>();
    return row?.state === "revoked";
  }
}

export interface PayerLegSweep {
  readonly completed: number;
  readonly refused: readonly { readonly refundId: string; readonly code: string }[];
}

/** Refunds whose payer leg is still missing `graceMs` after they committed, completed now. */
export async function sweepPayerLegs(ledger: Ledger, nowMs: number, graceMs: number): Promise<PayerLegSweep> {
  assert(graceMs >= 0, "a grace period");
  let completed = 0;
  const refused: { refundId: string; code: string }[] = [];
  for (const shard of ledger.shards) {
    const { results } = await shard.db
      .prepare(
        `SELECT * FROM unlock_refunds WHERE payer_leg_at_ms IS NULL AND created_at_ms <= ?
         ORDER BY created_at_ms LIMIT ?`,
      )
      .bind(nowMs - graceMs, LIMITS.reversalPlatformLegsPerSweepMax)
      .all<UnlockRefundRow>();
    for (const refund of results) {
      const verdict = await completePayerLeg(ledger, refund, nowMs);
      if (verdict.kind === "rejected") refused.push({ refundId: refund.id, code: verdict.code });
      else completed += 1;
    }
  }
  return { completed, refused };
}

/** A refund as the API shows it. */
export function unlockRefundView(r: UnlockRefundRow) {
  return {
    id: r.id,
    unlockId: r.unlock_id,
    contentId: r.content_id,
    creatorId: r.creator_id,
    userId: r.user_id,
    unlockDay: r.unlock_day,
    amountMinor: r.amount_minor,
    platformMinor: r.platform_minor,
    creatorMinor: r.creator_minor,
    source: r.source,
    payerLegDone: r.payer_leg_at_ms !== null,
    reason: r.reason,
    actorId: r.actor_id,
    currency: r.currency,
    createdAtMs: r.created_at_ms,
  };
}
