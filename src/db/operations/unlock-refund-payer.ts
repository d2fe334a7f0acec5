/**
 * unlock_refund_payer: the payer's leg of an unlock refund (unlock-refund.ts is the creator's):
 * platform:revenue → the payer's wallet for the unlock's platform part, and the entitlement
 * revoked (`state = 'revoked'`, `revoked_at_ms`) in the SAME batch, in the payer's shard, where
 * the entitlement, the wallet and that revenue are. From this batch on the payer may unlock the
 * item again (a new charge: `entitlements_one_active` is partial on `active`).
 *
 * Its id is the refund's id with `:payer`, so it posts once however often it runs: the refund
 * route runs it right after the creator's leg, and the reversal sweeper
 * (worker/cron/reversal-sweep.ts) runs it for a refund whose row still has no
 * `payer_leg_at_ms` (a crash between the two legs). Guard: the entitlement is still active
 * (`unlock_already_refunded`): only this leg revokes one, so a revoked entitlement means the
 * leg posted (in this shard, or in the shard a bucket move carried the payer from).
 */

import { accountAddress } from "../../domain/accounts";
import type { Currency } from "../../domain/money";
import { type ComposedOperation, composeOperation } from "../ledger";
import type { LedgerShard } from "../shards";

export function payerLegId(refundId: string): string {
  return `${refundId}:payer`;
}

export interface PayerLegInput {
  readonly refundId: string;
  readonly unlockId: string;
  readonly userId: string;
  readonly platformMinor: number;
  readonly currency: Currency;
  readonly actorId: string;
  readonly nowMs: number;
}

export function composeUnlockRefundPayer(shard: LedgerShard, input: PayerLegInput): ComposedOperation {
  return composeOperation(shard, {
    id: payerLegId(input.refundId),
    kind: "unlock_refund_payer",
    currency: input.currency,
    postings: [
      {
        from: accountAddress.platformRevenue(),
        to: accountAddress.userWallet(input.userId),
        amountMinor: input.platformMinor,
      },
    ],
    actorId: input.actorId,
    reason: null,
    metadata: { refundId: input.refundId, unlockId: input.unlockId },
    nowMs: input.nowMs,
    guards: [
      {
        code: "unlock_already_refunded",
        sql: "EXISTS (SELECT 1 FROM entitlements WHERE id = ? AND user_id = ? AND state = 'active')",
        params: [input.unlockId, input.userId],
      },
    ],
    extra: (posting) => [
      shard.db
        .prepare(
          `UPDATE entitlements SET state = 'revoked', revoked_at_ms = ?
           WHERE id = ? AND state = 'active' AND ${posting.sql}`,
        )
        .bind(input.nowMs, input.unlockId, ...posting.params),
    ],
  });
}

/** In the creator's shard, after the payer's leg posted (or was found done): the refund is whole. */
export function markPayerLeg(db: D1Database, refundId: string, nowMs: number): D1PreparedStatement {
  return db
    .prepare("UPDATE unlock_refunds SET payer_leg_at_ms = ? WHERE id = ? AND payer_leg_at_ms IS NULL")
    .bind(nowMs, refundId);
}
