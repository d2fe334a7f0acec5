/**
 * Unlock refunds end to end (operations/unlock-refund.ts and unlock-refund-payer.ts are the
 * two legs), as db/tip-reversals.ts does for tips: finding the unlock, deciding where its
 * creator part comes from, and completing the payer's leg, which the route does at once and
 * the reversal sweeper does for a refund a crash left half done.
 */

import { fail, ok, type Result } from "../domain/errors";
import type { Currency } from "../domain/money";
import { planEarningReturn, sweepSecondLegs } from "./earning-return";
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
  const plan = await planEarningReturn(creatorShard, unlock, ask);
  return ok({
    id: ask.id,
    unlock,
    unlockDay: plan.day,
    route: plan.route,
    withheldMinor: plan.withheldMinor,
    withholdingBps: plan.withholdingBps,
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
  const sweep = await sweepSecondLegs<UnlockRefundRow>(
    ledger,
    "unlock_refunds",
    "payer_leg_at_ms",
    nowMs,
    graceMs,
    (r) => completePayerLeg(ledger, r, nowMs),
  );
  return { completed: sweep.completed, refused: sweep.refused.map(({ id, code }) => ({ refundId: id, code })) };
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
