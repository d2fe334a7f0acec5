import { transitionWithdrawal, type WithdrawalState, type WithdrawalTransition } from "./withdrawal-states";

/**
 * What a payout channel's answer (the send's response, a query, a callback) means for a
 * withdrawal in `paying`. The withdrawal id is the channel's idempotency number
 * (WeChat out_bill_no, Alipay out_biz_no, Stripe Idempotency-Key):
 *
 * - `paid` / `failed`: confirmed by the channel → the transition (a repeat is a no-op).
 * - `processing` (accepted, WAIT_USER_CONFIRM, in transit): stay in paying; query later.
 * - `unknown` (timeout, 5xx, unreadable): stay in paying; retry the SAME number or query it.
 *   Never mint a new number here: only a confirmed `failed` ends the number, and a retry after
 *   that is a new withdrawal.
 */
export type PayoutAnswer = "paid" | "failed" | "processing" | "unknown";

export type PayoutAnswerAction =
  | { readonly kind: "transition"; readonly transition: WithdrawalTransition }
  | { readonly kind: "wait"; readonly retrySameNumber: boolean };

export function applyPayoutAnswer(state: WithdrawalState, answer: PayoutAnswer): PayoutAnswerAction {
  if (answer === "paid" || answer === "failed")
    return { kind: "transition", transition: transitionWithdrawal(state, answer) };
  return { kind: "wait", retrySameNumber: answer === "unknown" };
}
