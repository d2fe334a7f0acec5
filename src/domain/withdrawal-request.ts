import type { ErrorCode } from "./errors";
import { assert, isSafeAmountMinor, LIMITS } from "./limits";

/**
 * A creator's withdrawal request: the checks that refuse it, the fee, and whether it is
 * approved at once or goes to an operator's review.
 *
 * Refused (nothing is held; the request is a value with a stable reason):
 * - below the named minimum, above the single-request maximum, or above `available`;
 * - the business day's count or amount cap would be exceeded (counting today's requests that
 *   were not rejected: a rejected or failed one gave its money back but still counts, so a
 *   refusal cannot be retried into more payouts than the caps allow);
 * - the creator is not verified (实名认证), or has no payout account;
 * - the payout account is still in its cooling period after being bound or changed;
 * - the fee would take the whole amount.
 * Held and sent to review (the reasons are returned): the amount is at or above the
 * auto-approval threshold, the creator carries a risk flag, or the `cash_out_chain` risk rule
 * fired (with its sentence). Otherwise approved at once.
 *
 * Fee: `fixedMinor + floor(amount × bps / 10000)`, rounded down to the fen (favours the
 * creator). The whole amount leaves available; the fee goes to the platform and the payout
 * is amount − fee.
 */
export interface WithdrawalPolicy {
  readonly minMinor: number;
  readonly perDayMax: number;
  readonly dailyAmountMaxMinor: number;
  readonly autoApproveBelowMinor: number;
  readonly coolingMs: number;
  readonly feeFixedMinor: number;
  readonly feeBps: number;
}

export const DEFAULT_WITHDRAWAL_POLICY: WithdrawalPolicy = {
  minMinor: LIMITS.withdrawalMinMinor,
  perDayMax: LIMITS.withdrawalsPerDayMax,
  dailyAmountMaxMinor: LIMITS.withdrawalDailyAmountMaxMinor,
  autoApproveBelowMinor: LIMITS.withdrawalAutoApproveBelowMinor,
  coolingMs: LIMITS.payoutAccountCoolingMs,
  feeFixedMinor: 0,
  feeBps: 0,
};

export interface WithdrawalFacts {
  readonly amountMinor: number;
  readonly availableMinor: number;
  readonly verified: boolean;
  readonly riskFlagged: boolean;
  /** Why the `cash_out_chain` risk rule fired for this creator, in a sentence; null: it did not. */
  readonly cashOutChain?: string | null;
  /** When the payout account was bound or last changed; null when there is none. */
  readonly payoutAccountSinceMs: number | null;
  /** Today's (business day) requests so far, not counting this one. */
  readonly todayCount: number;
  readonly todayAmountMinor: number;
  readonly nowMs: number;
}

export type WithdrawalRefusal =
  | "withdrawal_below_minimum"
  | "withdrawal_above_maximum"
  | "withdrawal_insufficient_available"
  | "withdrawal_daily_count_exceeded"
  | "withdrawal_daily_amount_exceeded"
  | "creator_not_verified"
  | "payout_account_missing"
  | "payout_account_cooling"
  | "withdrawal_fee_exceeds_amount";

/** The API code each refusal answers with (the reason travels alongside it). */
export const WITHDRAWAL_REFUSAL_ERRORS: Readonly<Record<WithdrawalRefusal, ErrorCode>> = {
  withdrawal_below_minimum: "amount_out_of_range",
  withdrawal_above_maximum: "amount_out_of_range",
  withdrawal_insufficient_available: "insufficient_funds",
  withdrawal_daily_count_exceeded: "amount_out_of_range",
  withdrawal_daily_amount_exceeded: "amount_out_of_range",
  creator_not_verified: "forbidden",
  payout_account_missing: "forbidden",
  payout_account_cooling: "forbidden",
  withdrawal_fee_exceeds_amount: "amount_out_of_range",
};

export type ReviewReason = "amount_at_or_above_auto_approval" | "risk_flagged" | "risk_cash_out_chain";

export type WithdrawalDecision =
  | {
      readonly ok: true;
      readonly amountMinor: number;
      readonly feeMinor: number;
      readonly payoutMinor: number;
      readonly approval: "auto" | "review";
      readonly reviewReasons: readonly ReviewReason[];
      /** A readable sentence per reason that has one (`risk_cash_out_chain`). */
      readonly reviewDetails: Readonly<Partial<Record<ReviewReason, string>>>;
    }
  | { readonly ok: false; readonly code: ErrorCode; readonly reason: WithdrawalRefusal };

export function withdrawalFeeMinor(amountMinor: number, policy: WithdrawalPolicy): number {
  assert(isSafeAmountMinor(amountMinor), "an amount");
  assert(Number.isSafeInteger(policy.feeFixedMinor) && policy.feeFixedMinor >= 0, "a fixed fee");
  assert(Number.isInteger(policy.feeBps) && policy.feeBps >= 0 && policy.feeBps <= LIMITS.bpsMax, "a fee rate");
  return policy.feeFixedMinor + Math.floor((amountMinor * policy.feeBps) / LIMITS.bpsMax);
}

const refuse = (reason: WithdrawalRefusal): WithdrawalDecision => ({
  ok: false,
  code: WITHDRAWAL_REFUSAL_ERRORS[reason],
  reason,
});

export function decideWithdrawal(
  f: WithdrawalFacts,
  policy: WithdrawalPolicy = DEFAULT_WITHDRAWAL_POLICY,
): WithdrawalDecision {
  assert(Number.isSafeInteger(f.amountMinor), "the amount is an integer");
  assert(Number.isSafeInteger(f.availableMinor) && f.availableMinor >= 0, "available is never negative");
  assert(Number.isSafeInteger(f.todayCount) && f.todayCount >= 0, "a count");
  assert(Number.isSafeInteger(f.todayAmountMinor) && f.todayAmountMinor >= 0, "an amount");
  if (f.amountMinor < policy.minMinor) return refuse("withdrawal_below_minimum");
  if (f.amountMinor > LIMITS.amountMaxMinor) return refuse("withdrawal_above_maximum");
  if (f.amountMinor > f.availableMinor) return refuse("withdrawal_insufficient_available");
  if (f.todayCount + 1 > policy.perDayMax) return refuse("withdrawal_daily_count_exceeded");
  if (f.todayAmountMinor + f.amountMinor > policy.dailyAmountMaxMinor)
    return refuse("withdrawal_daily_amount_exceeded");
  if (!f.verified) return refuse("creator_not_verified");
  if (f.payoutAccountSinceMs === null) return refuse("payout_account_missing");
  if (f.nowMs - f.payoutAccountSinceMs < policy.coolingMs) return refuse("payout_account_cooling");
  const feeMinor = withdrawalFeeMinor(f.amountMinor, policy);
  if (feeMinor >= f.amountMinor) return refuse("withdrawal_fee_exceeds_amount");
  const reviewReasons: ReviewReason[] = [];
  if (f.amountMinor >= policy.autoApproveBelowMinor) reviewReasons.push("amount_at_or_above_auto_approval");
  if (f.riskFlagged) reviewReasons.push("risk_flagged");
  const reviewDetails: Partial<Record<ReviewReason, string>> = {};
  if (f.cashOutChain != null) {
    reviewReasons.push("risk_cash_out_chain");
    reviewDetails.risk_cash_out_chain = f.cashOutChain;
  }
  return {
    ok: true,
    amountMinor: f.amountMinor,
    feeMinor,
    payoutMinor: f.amountMinor - feeMinor,
    approval: reviewReasons.length === 0 ? "auto" : "review",
    reviewReasons,
    reviewDetails,
  };
}

/**
 * The `review_reasons` column: a JSON array whose entries are a reason, or `{reason, detail}`
 * for a reason with a sentence (older rows hold bare reasons only, and still read).
 */
export function encodeReviewReasons(
  reasons: readonly ReviewReason[],
  details: Readonly<Partial<Record<ReviewReason, string>>> = {},
): string {
  return JSON.stringify(
    reasons.map((reason) => (details[reason] === undefined ? reason : { reason, detail: details[reason] })),
  );
}

export function decodeReviewReasons(json: string | null): { reasons: string[]; details: Record<string, string> } {
  const reasons: string[] = [];
  const details: Record<string, string> = {};
  if (json === null) return { reasons, details };
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return { reasons, details };
  }
  if (!Array.isArray(parsed)) return { reasons, details };
  for (const entry of parsed) {
    if (typeof entry === "string") reasons.push(entry);
    else if (typeof entry === "object" && entry !== null && typeof entry.reason === "string") {
      reasons.push(entry.reason);
      if (typeof entry.detail === "string") details[entry.reason] = entry.detail;
    }
  }
  return { reasons, details };
}
