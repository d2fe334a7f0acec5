/**
 * What a payout channel said about a withdrawal, applied once. The same answer comes from
 * three places in any order and any number of times: the send's own response, a query, and
 * callbacks (resent, duplicated). domain/payout-answer.ts decides; this applies:
 *
 * - paid    → withdrawal_payout (paying → paid, money to the channel's payouts account);
 * - failed  → withdrawal_release (paying → failed, money back to available);
 * - accepted / needs_user_confirm → stays paying, the provider's ref and answer remembered, the
 *   next query scheduled (needs_user_confirm is recorded once as a transition: the creator has
 *   to act in WeChat);
 * - unknown → stays paying, the next query scheduled: the caller retries the SAME number.
 *
 * A repeat is a no-op (the operations' ids and state guards make it "exists" or
 * `withdrawal_state_changed`). A final answer that contradicts a final state (paid after
 * failed) moves nothing and is flagged for an operator, once (control payment_flags).
 */

import type { PayoutOutcome } from "../channels/payout";
import { applyPayoutAnswer } from "../domain/payout-answer";
import { retryDelayMs } from "../domain/retry";
import { runOperation } from "./ledger";
import { composeWithdrawalPayout } from "./operations/withdrawal-payout";
import { composeWithdrawalRelease } from "./operations/withdrawal-release";
import type { Ledger } from "./shards";
import {
  findWithdrawal,
  notePayingAnswer,
  payoutMinorOf,
  runStep,
  setColumns,
  type WithdrawalRow,
} from "./withdrawals";

export interface AnswerSource {
  /** pay (the send's response), query, callback. */
  readonly cause: "pay" | "query" | "callback";
  /** The stored notification of a callback; null otherwise. */
  readonly ref: string | null;
  readonly nowMs: number;
  /** [0, 1): the jitter of the next query's time. */
  readonly random: number;
}

export type AnswerApplied =
  | { readonly kind: "paid" | "failed" }
  | { readonly kind: "waiting"; readonly retrySameNumber: boolean }
  /** The withdrawal is already where this answer leads (a repeat), or past caring (final). */
  | { readonly kind: "unchanged"; readonly state: string }
  | { readonly kind: "flagged"; readonly flag: string }
  | { readonly kind: "unknown_withdrawal" };

export async function applyPayoutOutcome(
  ledger: Ledger,
  withdrawalId: string,
  outcome: PayoutOutcome,
  source: AnswerSource,
  reportedAmountMinor: number | null = null,
): Promise<AnswerApplied> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const row = await findWithdrawal(ledger, withdrawalId);
    if (!row) return { kind: "unknown_withdrawal" };
    const applied = await applyTo(ledger, row, outcome, source, reportedAmountMinor);
    if (applied !== "raced") return applied;
  }
  throw new Error(`withdrawal ${withdrawalId} kept changing under a payout answer`);
}

async function applyTo(
  ledger: Ledger,
  row: WithdrawalRow,
  outcome: PayoutOutcome,
  source: AnswerSource,
  reportedAmountMinor: number | null,
): Promise<AnswerApplied | "raced"> {
  const answer =
    outcome.state === "paid" || outcome.state === "failed"
      ? outcome.state
      : outcome.state === "unknown"
        ? "unknown"
        : "processing";
  const action = applyPayoutAnswer(row.state, answer);
  if (action.kind === "wait") {
    if (row.state !== "paying") return { kind: "unchanged", state: row.state };
    const nextQueryAtMs = source.nowMs + retryDelayMs("channelCall", row.query_attempts + 1, source.random);
    const providerRef = outcome.state === "unknown" ? null : outcome.providerRef;
    if (outcome.state === "needs_user_confirm" && !wasAskedToConfirm(row)) {
      // Recorded once as a step: the creator must confirm in WeChat (package valid 24 h).
      await runStep(ledger, {
        id: row.id,
        from: "paying",
        to: "paying",
        cause: "needs_user_confirm",
        ref: source.ref,
        actorId: null,
        nowMs: source.nowMs,
        set: setColumns({
          provider_ref: providerRef,
          channel_state: JSON.stringify(outcome),
          next_query_at_ms: nextQueryAtMs,
        }),
        only: { sql: "COALESCE(json_extract(channel_state, '$.state'), '') <> 'needs_user_confirm'", params: [] },
      });
    } else {
      const noted = await notePayingAnswer(
        ledger,
        row.id,
        {
          providerRef,
          // An unknown answer does not overwrite what the channel last said for sure.
          channelState: outcome.state === "unknown" ? channelStateOf(row) : outcome,
          nextQueryAtMs,
          countAttempt: true,
        },
        source.nowMs,
      );
      if (!noted) return "raced";
    }
    return { kind: "waiting", retrySameNumber: action.retrySameNumber };
  }
  const t = action.transition;
  if (!t.ok) return flagContradiction(ledger, row, outcome, source);
  if (!t.changed) return { kind: "unchanged", state: row.state };
  if (reportedAmountMinor !== null && reportedAmountMinor !== payoutMinorOf(row)) {
    return flag(ledger, row, "payout_amount_mismatch", source, {
      expectedMinor: payoutMinorOf(row),
      reportedMinor: reportedAmountMinor,
      outcome,
    });
  }
  const shard = ledger.forId(row.id);
  const composed =
    outcome.state === "paid"
      ? composeWithdrawalPayout(shard, {
          withdrawal: row,
          providerRef: outcome.providerRef,
          cause: source.cause,
          ref: source.ref,
          nowMs: source.nowMs,
        })
      : composeWithdrawalRelease(shard, {
          withdrawal: row,
          from: "paying",
          cause: source.cause,
          ref: source.ref,
          actorId: "system:payouts",
          reason: outcome.state === "failed" ? outcome.reason.slice(0, 256) : "failed",
          nowMs: source.nowMs,
        });
  const { verdict } = await runOperation(shard, composed);
  if (verdict.kind === "posted") return { kind: outcome.state === "paid" ? "paid" : "failed" };
  if (verdict.kind === "exists") return { kind: "unchanged", state: row.state };
  if (verdict.code === "withdrawal_state_changed") return "raced";
  throw new Error(`a payout answer's operation was refused: ${verdict.code}`);
}

function wasAskedToConfirm(row: WithdrawalRow): boolean {
  return channelStateOf(row)?.state === "needs_user_confirm";
}

function channelStateOf(row: WithdrawalRow): { state?: string } | null {
  if (row.channel_state === null) return null;
  try {
    return JSON.parse(row.channel_state) as { state?: string };
  } catch {
    return null;
  }
}

function flagContradiction(
  ledger: Ledger,
  row: WithdrawalRow,
  outcome: PayoutOutcome,
  source: AnswerSource,
): Promise<AnswerApplied> {
  return flag(ledger, row, "payout_contradiction", source, { state: row.state, outcome });
}

/**
 * A flag for an operator, once per withdrawal and kind: its id is derived from both, so a
 * repeat of the same answer does not pile flags up. Nothing moves.
 */
export async function flag(
  ledger: Ledger,
  row: Pick<WithdrawalRow, "id" | "channel">,
  kind: "payout_amount_mismatch" | "payout_contradiction" | "payout_stuck" | "payout_risk_held",
  source: { readonly ref: string | null; readonly nowMs: number },
  detail: Record<string, unknown>,
): Promise<AnswerApplied> {
  const id = `${kind}:${row.id}`;
  await ledger.control
    .prepare(
      `INSERT INTO payment_flags (id, kind, channel, order_id, notification_id, detail, created_at_ms)
       VALUES (?, ?, ?, NULL, ?, ?, ?) ON CONFLICT DO NOTHING`,
    )
    .bind(
      id,
      kind,
      row.channel,
      source.ref,
      JSON.stringify({ withdrawalId: row.id, ...detail }).slice(0, 2000),
      source.nowMs,
    )
    .run();
  return { kind: "flagged", flag: id };
}
