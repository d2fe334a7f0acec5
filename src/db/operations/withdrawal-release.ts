/**
 * withdrawal_release: a withdrawal rejected by an operator (from `requested`) or confirmed
 * failed by its channel (from `paying`) gives the whole amount back,
 * `creator:{id}:withdrawing` → `creator:{id}:available`, with its transition in the same batch.
 *
 * Exactly once per withdrawal, twice over: the operation id is `{withdrawal id}:release` (a
 * repeat is "exists"), and its guard is the withdrawal being in the state the release leaves
 * (a release racing a payout or another release finds it moved: `withdrawal_state_changed`).
 */

import { accountAddress } from "../../domain/accounts";
import type { Currency } from "../../domain/money";
import { type Attach, type ComposedOperation, composeOperation } from "../ledger";
import type { LedgerShard } from "../shards";
import { setColumns, stepStatements, type WithdrawalRow } from "../withdrawals";

export interface WithdrawalRelease {
  readonly withdrawal: Pick<WithdrawalRow, "id" | "creator_id" | "amount_minor" | "currency">;
  readonly from: "requested" | "paying";
  /** reject (an operator) or failed (the channel, through a callback, a query or the send's answer). */
  readonly cause: string;
  readonly ref: string | null;
  readonly actorId: string;
  /** The reject reason, or the channel's failure reason. */
  readonly reason: string;
  readonly nowMs: number;
}

export const releaseOperationId = (withdrawalId: string) => `${withdrawalId}:release`;

export function composeWithdrawalRelease(shard: LedgerShard, r: WithdrawalRelease, attach?: Attach): ComposedOperation {
  const w = r.withdrawal;
  const to = r.from === "requested" ? "rejected" : "failed";
  const columns =
    to === "rejected"
      ? { reject_reason: r.reason, reviewer_id: r.actorId, next_query_at_ms: null }
      : { failure_reason: r.reason, next_query_at_ms: null };
  return composeOperation(shard, {
    id: releaseOperationId(w.id),
    kind: "withdrawal_release",
    currency: w.currency as Currency,
    postings: [
      {
        from: accountAddress.creatorWithdrawing(w.creator_id),
        to: accountAddress.creatorAvailable(w.creator_id),
        amountMinor: w.amount_minor,
      },
    ],
    actorId: r.actorId,
    reason: r.reason,
    metadata: { withdrawalId: w.id, from: r.from, to, cause: r.cause, ref: r.ref },
    nowMs: r.nowMs,
    guards: [
      {
        code: "withdrawal_state_changed",
        sql: "EXISTS (SELECT 1 FROM withdrawals WHERE id = ? AND state = ?)",
        params: [w.id, r.from],
      },
    ],
    extra: (posting) =>
      stepStatements(
        shard.db,
        {
          id: w.id,
          from: r.from,
          to,
          cause: r.cause,
          ref: r.ref,
          actorId: r.actorId,
          nowMs: r.nowMs,
          set: setColumns(columns),
        },
        posting,
      ),
    attach,
  });
}
