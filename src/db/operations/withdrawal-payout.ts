/**
 * withdrawal_payout: the channel confirmed a withdrawal paid. Its amount leaves the owner's
 * withdrawing account (`creator:{id}:withdrawing` or `user:{id}:withdrawing`): amount − fee to `channel:{ch}:payouts` (what the platform paid
 * out through that channel) and the fee, if any, to `platform:fees`, with the transition
 * paying → paid in the same batch.
 *
 * Once per withdrawal: the operation id is `{withdrawal id}:payout`, and its guard is the
 * withdrawal being in `paying` (a callback and a query answer racing each other, or a failure
 * that came first, find it moved).
 */

import { accountAddress, type Posting, withdrawalAccounts } from "../../domain/accounts";
import type { Currency } from "../../domain/money";
import { type ComposedOperation, composeOperation } from "../ledger";
import type { LedgerShard } from "../shards";
import { payoutMinorOf, setColumns, stepStatements, type WithdrawalRow } from "../withdrawals";

export interface WithdrawalPayout {
  readonly withdrawal: Pick<
    WithdrawalRow,
    "id" | "creator_id" | "owner_kind" | "amount_minor" | "fee_minor" | "currency" | "channel"
  >;
  readonly providerRef: string;
  /** callback, query or pay (the send answered paid at once). */
  readonly cause: string;
  readonly ref: string | null;
  readonly nowMs: number;
}

export const payoutOperationId = (withdrawalId: string) => `${withdrawalId}:payout`;

export function composeWithdrawalPayout(shard: LedgerShard, p: WithdrawalPayout): ComposedOperation {
  const w = p.withdrawal;
  const { withdrawing } = withdrawalAccounts(w.owner_kind, w.creator_id);
  const postings: Posting[] = [
    { from: withdrawing, to: accountAddress.channelPayouts(w.channel), amountMinor: payoutMinorOf(w) },
  ];
  if (w.fee_minor > 0)
    postings.push({ from: withdrawing, to: accountAddress.platformFees(), amountMinor: w.fee_minor });
  return composeOperation(shard, {
    id: payoutOperationId(w.id),
    kind: "withdrawal_payout",
    currency: w.currency as Currency,
    postings,
    actorId: "system:payouts",
    reason: null,
    metadata: { withdrawalId: w.id, channel: w.channel, providerRef: p.providerRef, cause: p.cause, ref: p.ref },
    nowMs: p.nowMs,
    guards: [
      {
        code: "withdrawal_state_changed",
        sql: "EXISTS (SELECT 1 FROM withdrawals WHERE id = ? AND state = 'paying')",
        params: [w.id],
      },
    ],
    extra: (posting) =>
      stepStatements(
        shard.db,
        {
          id: w.id,
          from: "paying",
          to: "paid",
          cause: p.cause,
          ref: p.ref,
          actorId: null,
          nowMs: p.nowMs,
          set: setColumns({ provider_ref: p.providerRef, next_query_at_ms: null }),
        },
        posting,
      ),
  });
}
