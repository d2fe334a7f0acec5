/**
 * withdrawal_hold: a withdrawal request. The whole amount moves from the owner's source to its
 * withdrawing account (domain/accounts.ts `withdrawalAccounts`): a creator's
 * `creator:{id}:available` → `creator:{id}:withdrawing`, or a user's winnings,
 * `user:{id}:wallet` → `user:{id}:withdrawing`, with the withdrawals row and its first
 * transition (and, when auto-approved, its second) in the same batch.
 *
 * A user's withdrawal may take only the wallet's withdrawable part (docs/adr/0017): its guard
 * `winnings_insufficient` reads `user_winnings`, which the batch lowers by the amount *before*
 * the wallet's balance changes (the trigger that keeps the part within the wallet then finds
 * it already there), and counts the amount in `withdrawn_minor`.
 *
 * Guards, all inside the batch, so 50 concurrent requests cannot pass them together: the
 * ledger's own funds guard (available ≥ amount), then the business day's count and amount
 * caps, counted in SQL over the creator's withdrawals created that day (every state counts: a
 * rejected or failed one gave its money back but was still a request). The domain decision
 * (domain/withdrawal-request.ts) ran before, on a read that may be stale; these guards are
 * the rule.
 *
 * The operation id is the withdrawal id (`wd_…`, in the creator's bucket), so the withdrawal
 * lives in the creator's shard beside the accounts it moves.
 */

import { type WithdrawalOwnerKind, withdrawalAccounts } from "../../domain/accounts";
import { encodeReviewReasons, type ReviewReason } from "../../domain/withdrawal-request";
import { type Attach, type ComposedOperation, composeOperation, type Guard } from "../ledger";
import type { LedgerShard } from "../shards";
import { stepStatements } from "../withdrawals";

export interface WithdrawalHold {
  readonly id: string;
  /** `creator` (earnings) or `user` (red-packet winnings). */
  readonly ownerKind: WithdrawalOwnerKind;
  /** The owner's id (the withdrawals row's `creator_id` column holds either kind). */
  readonly creatorId: string;
  readonly amountMinor: number;
  readonly feeMinor: number;
  readonly currency: "CNY";
  readonly channel: string;
  readonly payoutAccountId: string;
  readonly destinationMasked: string;
  readonly approval: "auto" | "review";
  readonly reviewReasons: readonly ReviewReason[];
  readonly reviewDetails?: Readonly<Partial<Record<ReviewReason, string>>>;
  readonly idempotencyKey: string;
  /** The business day the request falls in, as [start, end) instants. */
  readonly dayStartMs: number;
  readonly dayEndMs: number;
  readonly perDayMax: number;
  readonly dailyAmountMaxMinor: number;
  /** An auto-approved withdrawal is sent by the queue; the sweeper sends it from here if not. */
  readonly sendBackstopAtMs: number;
  readonly nowMs: number;
}

export function composeWithdrawalHold(shard: LedgerShard, w: WithdrawalHold, attach?: Attach): ComposedOperation {
  const { db } = shard;
  const today = "FROM withdrawals WHERE creator_id = ? AND owner_kind = ? AND created_at_ms >= ? AND created_at_ms < ?";
  const guardsAfterFunds: Guard[] = [
    {
      code: "withdrawal_daily_count_exceeded",
      sql: `(SELECT COUNT(*) ${today}) < ?`,
      params: [w.creatorId, w.ownerKind, w.dayStartMs, w.dayEndMs, w.perDayMax],
    },
    {
      code: "withdrawal_daily_amount_exceeded",
      sql: `(SELECT COALESCE(SUM(amount_minor), 0) ${today}) + ? <= ?`,
      params: [w.creatorId, w.ownerKind, w.dayStartMs, w.dayEndMs, w.amountMinor, w.dailyAmountMaxMinor],
    },
  ];
  const user = w.ownerKind === "user";
  const guards: Guard[] = user
    ? [
        {
          code: "winnings_insufficient",
          sql: "COALESCE((SELECT withdrawable_minor FROM user_winnings WHERE user_id = ?), 0) >= ?",
          params: [w.creatorId, w.amountMinor],
        },
      ]
    : [];
  const accounts = withdrawalAccounts(w.ownerKind, w.creatorId);
  const auto = w.approval === "auto";
  return composeOperation(shard, {
    id: w.id,
    kind: "withdrawal_hold",
    currency: w.currency,
    postings: [{ from: accounts.source, to: accounts.withdrawing, amountMinor: w.amountMinor }],
    actorId: w.creatorId,
    reason: null,
    metadata: {
      withdrawalId: w.id,
      ownerKind: w.ownerKind,
      channel: w.channel,
      feeMinor: w.feeMinor,
      approval: w.approval,
    },
    nowMs: w.nowMs,
    guards,
    guardsAfterFunds,
    beforeBalances: (posting) =>
      user
        ? [
            db
              .prepare(
                `UPDATE user_winnings SET withdrawable_minor = withdrawable_minor - ?, withdrawn_minor = withdrawn_minor + ?,
                   updated_at_ms = ? WHERE user_id = ? AND ${posting.sql}`,
              )
              .bind(w.amountMinor, w.amountMinor, w.nowMs, w.creatorId, ...posting.params),
          ]
        : [],
    extra: (posting) => [
      db
        .prepare(
          `INSERT INTO withdrawals (id, creator_id, owner_kind, amount_minor, fee_minor, currency, channel, payout_account_id,
             destination_masked, state, review, review_reasons, idempotency_key, transition_count, created_at_ms,
             updated_at_ms)
           SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, 'requested', ?, ?, ?, 1, ?, ? WHERE ${posting.sql}`,
        )
        .bind(
          w.id,
          w.creatorId,
          w.ownerKind,
          w.amountMinor,
          w.feeMinor,
          w.currency,
          w.channel,
          w.payoutAccountId,
          w.destinationMasked,
          auto ? "auto" : "manual",
          auto ? null : encodeReviewReasons(w.reviewReasons, w.reviewDetails),
          w.idempotencyKey,
          w.nowMs,
          w.nowMs,
          ...posting.params,
        ),
      // The request itself is the first transition: into `requested` from nothing.
      db
        .prepare(
          `INSERT INTO withdrawal_transitions (withdrawal_id, seq, from_state, to_state, cause, ref, actor_id, at_ms)
           SELECT ?, 1, NULL, 'requested', 'request', NULL, ?, ? WHERE ${posting.sql}`,
        )
        .bind(w.id, w.creatorId, w.nowMs, ...posting.params),
      ...(auto
        ? stepStatements(
            db,
            {
              id: w.id,
              from: "requested",
              to: "approved",
              cause: "auto_approve",
              ref: null,
              actorId: null,
              nowMs: w.nowMs,
              set: { sql: "next_query_at_ms = ?", params: [w.sendBackstopAtMs] },
            },
            posting,
          )
        : []),
    ],
    attach,
  });
}
