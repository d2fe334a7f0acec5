/**
 * unlock_refund: an operator refunds a paid unlock (付费阅读, issue 19) and its entitlement is
 * revoked. Shaped like a tip reversal (tip-reversal.ts), for the same reason: the unlock's
 * creator part sits in the CREATOR's shard, its platform part, the payer's wallet and the
 * entitlement in the PAYER's. This is the creator's leg, committed in the creator's shard; the
 * payer's leg is unlock-refund-payer.ts (the platform's part back and the entitlement revoked,
 * in one batch). The payer's wallet is credited by both; from here it crosses through transit
 * when the payer lives in another shard (domain/cross-shard.ts).
 *
 * Where the creator's part comes from (domain/tip-reversal.ts, the same rule as a tip's):
 *   - the unlock's day not settled yet: creator:{id}:pending → payer wallet; that day's
 *     settlement shows it under `reversed` (db/reads/settlement-inputs.ts counts unlock refunds
 *     beside tip reversals);
 *   - settled: platform:receivables → payer wallet (the receivable: the creator part less the
 *     withholding it was settled with; later settlements offset it) and platform:tax_payable →
 *     payer wallet (that withholding). Nothing is taken from available.
 *
 * Guards, in order: the creator's bucket not fenced here (`bucket_fenced`); one refund per
 * unlock (`unlock_already_refunded`, with the unique index `unlock_refunds_unlock` behind it);
 * the unlock's creator part has reached this shard (`unlock_refund_in_flight`); the route is
 * still right (`reversal_route_changed`: the day settled since the read). The `unlock_refunds`
 * row commits in the same batch with `payer_leg_at_ms` null until the payer's leg posted.
 */

import type { Posting } from "../../domain/accounts";
import type { Currency } from "../../domain/money";
import type { ReversalRoute } from "../../domain/tip-reversal";
import { type EarningReturn, earningReturnGuards, earningReturnPostings } from "../earning-return";
import { type Attach, type ComposedOperation, composeOperation } from "../ledger";
import type { LedgerShard } from "../shards";

/** An unlock as its entitlement row in the payer's shard holds it. */
export interface EntitlementRow {
  readonly id: string;
  readonly content_id: string;
  readonly user_id: string;
  readonly creator_id: string;
  readonly amount_minor: number;
  readonly platform_minor: number;
  readonly creator_minor: number;
  readonly currency: string;
  readonly state: "active" | "revoked";
  readonly created_at_ms: number;
  readonly revoked_at_ms: number | null;
}

export interface UnlockRefundInput {
  readonly id: string;
  readonly unlock: EntitlementRow;
  readonly unlockDay: string;
  readonly route: ReversalRoute;
  /** Receivable route: the withholding the day was settled with, returned from tax payable. */
  readonly withheldMinor: number;
  readonly withholdingBps: number;
  readonly reason: string;
  readonly actorId: string;
  readonly nowMs: number;
}

function earning(input: UnlockRefundInput): EarningReturn {
  const { unlock } = input;
  return {
    earningId: unlock.id,
    creatorId: unlock.creator_id,
    payerId: unlock.user_id,
    creatorMinor: unlock.creator_minor,
    day: input.unlockDay,
    route: input.route,
    withheldMinor: input.withheldMinor,
    noun: "unlock's",
  };
}

/** The creator's part back to the payer's wallet, from pending or from receivables and tax payable. */
export function refundPostings(input: UnlockRefundInput): Posting[] {
  return earningReturnPostings(earning(input));
}

export function composeUnlockRefund(shard: LedgerShard, input: UnlockRefundInput, attach?: Attach): ComposedOperation {
  const { db } = shard;
  const { unlock, route } = input;
  const guards = earningReturnGuards(shard, earning(input), {
    done: { table: "unlock_refunds", column: "unlock_id", code: "unlock_already_refunded" },
    inFlightCode: "unlock_refund_in_flight",
  });
  const postings = refundPostings(input);
  return composeOperation(shard, {
    id: input.id,
    kind: "unlock_refund",
    currency: unlock.currency as Currency,
    postings,
    actorId: input.actorId,
    reason: input.reason,
    metadata: {
      unlockId: unlock.id,
      contentId: unlock.content_id,
      source: route.from,
      receivableMinor: route.receivableMinor,
      withheldMinor: input.withheldMinor,
      withholdingBps: input.withholdingBps,
    },
    nowMs: input.nowMs,
    guards,
    extra: (posting) => [
      db
        .prepare(
          `INSERT INTO unlock_refunds (id, unlock_id, content_id, creator_id, user_id, unlock_day, unlock_created_at_ms,
             amount_minor, platform_minor, creator_minor, source, payer_leg_at_ms, reason, actor_id, currency,
             created_at_ms)
           SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ? WHERE ${posting.sql}`,
        )
        .bind(
          input.id,
          unlock.id,
          unlock.content_id,
          unlock.creator_id,
          unlock.user_id,
          input.unlockDay,
          unlock.created_at_ms,
          unlock.amount_minor,
          unlock.platform_minor,
          unlock.creator_minor,
          route.from,
          input.reason,
          input.actorId,
          unlock.currency,
          input.nowMs,
          ...posting.params,
        ),
    ],
    attach,
  });
}
