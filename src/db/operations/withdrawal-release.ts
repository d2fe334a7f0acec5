/**
 * withdrawal_release: a withdrawal rejected by an operator (from `requested`) or confirmed
 * failed by its channel (from `paying`) gives the whole amount back, the owner's withdrawing
 * account → its source (`creator:{id}:available`, or a user's `user:{id}:wallet`, whose
 * withdrawable part gets the amount back: docs/adr/0017), with its transition in the same batch.
 *
 * Exactly once per withdrawal, twice over: the operation id is `{withdrawal id}:release` (a
 * repeat is "exists"), and its guard is the withdrawal being in the state the release leaves
 * (a release racing a payout or another release finds it moved: `withdrawal_state_changed`).
 */

import { withdrawalAccounts } from "../../domain/accounts";
import type { Currency } from "../../domain/money";
import { type Attach, type ComposedOperation, composeOperation } from "../ledger";
import type { LedgerShard } from "../shards";
import { setColumns, stepStatements, type WithdrawalRow } from "../withdrawals";

export interface WithdrawalRelease {
  readonly withdrawal: Pick<WithdrawalRow, "id" | "creator_id" | "owner_kind" | "amount_minor" | "currency">;
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
  const accounts = withdrawalAccounts(w.owner_kind, w.creator_id);
  return composeOperation(shard, {
    id: releaseOperationId(w.id),
    kind: "withdrawal_release",
    currency: w.currency as Currency,
    postings: [{ from: accounts.withdrawing, to: accounts.source, amountMinor: w.amount_minor }],
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
    extra: (posting) => [
      ...stepStatements(
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
      // Winnings come back withdrawable (after the wallet's credit, so still within it).
      ...(w.owner_kind === "user"
        ? [
            shard.db
              .prepare(
                `UPDATE user_winnings SET withdrawable_minor = withdrawable_minor + ?, withdrawn_minor = withdrawn_minor - ?,
                   updated_at_ms = ? WHERE user_id = ? AND ${posting.sql}`,
              )
              .bind(w.amount_minor, w.amount_minor, r.nowMs, w.creator_id, ...posting.params),
          ]
        : []),
    ],
    attach,
  });
}
