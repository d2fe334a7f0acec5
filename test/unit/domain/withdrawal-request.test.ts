import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../../src/domain/limits";
import {
  DEFAULT_WITHDRAWAL_POLICY,
  decideWithdrawal,
  decodeReviewReasons,
  encodeReviewReasons,
  type WithdrawalFacts,
  type WithdrawalPolicy,
  withdrawalFeeMinor,
} from "../../../src/domain/withdrawal-request";

const NOW = 1_800_000_000_000;
const good: WithdrawalFacts = {
  amountMinor: 10_000,
  availableMinor: 100_000,
  verified: true,
  riskFlagged: false,
  payoutAccountSinceMs: NOW - LIMITS.payoutAccountCoolingMs,
  todayCount: 0,
  todayAmountMinor: 0,
  nowMs: NOW,
};

const reasonOf = (f: Partial<WithdrawalFacts>, policy?: WithdrawalPolicy) => {
  const d = decideWithdrawal({ ...good, ...f }, policy);
  return d.ok ? d.approval : [d.code, d.reason];
};

describe("decideWithdrawal", () => {
  it("approves a small request from a verified creator at once", () => {
    expect(decideWithdrawal(good)).toEqual({
      ok: true,
      amountMinor: 10_000,
      feeMinor: 0,
      payoutMinor: 10_000,
      approval: "auto",
      reviewReasons: [],
      reviewDetails: {},
    });
  });

  it("holds a request whose creator's income is a cash-out chain for review, with the sentence, stored and read back", () => {
    const detail = "82% of 1,240.00 received in 24 h came from money topped up ≤ 10 min before the tip by 3 payers";
    const d = decideWithdrawal({ ...good, cashOutChain: detail });
    expect(d).toMatchObject({
      ok: true,
      approval: "review",
      reviewReasons: ["risk_cash_out_chain"],
      reviewDetails: { risk_cash_out_chain: detail },
    });
    if (!d.ok) throw new Error("decided");
    expect(decodeReviewReasons(encodeReviewReasons(d.reviewReasons, d.reviewDetails))).toEqual({
      reasons: ["risk_cash_out_chain"],
      details: { risk_cash_out_chain: detail },
    });
    // Rows from before details were stored still read.
    expect(decodeReviewReasons('["risk_flagged"]')).toEqual({ reasons: ["risk_flagged"], details: {} });
    expect(decideWithdrawal({ ...good, cashOutChain: null })).toMatchObject({ approval: "auto" });
  });

  it.each([
    [{ amountMinor: LIMITS.withdrawalMinMinor - 1 }, "amount_out_of_range", "withdrawal_below_minimum"],
    [{ amountMinor: 100_001 }, "insufficient_funds", "withdrawal_insufficient_available"],
    [{ todayCount: LIMITS.withdrawalsPerDayMax }, "amount_out_of_range", "withdrawal_daily_count_exceeded"],
    [
      { todayAmountMinor: LIMITS.withdrawalDailyAmountMaxMinor - 9_999 },
      "amount_out_of_range",
      "withdrawal_daily_amount_exceeded",
    ],
    [{ verified: false }, "forbidden", "creator_not_verified"],
    [{ payoutAccountSinceMs: null }, "forbidden", "payout_account_missing"],
    [{ payoutAccountSinceMs: NOW - LIMITS.payoutAccountCoolingMs + 1 }, "forbidden", "payout_account_cooling"],
  ])("refuses %j as %s / %s", (f, code, reason) => {
    expect(reasonOf(f)).toEqual([code, reason]);
  });

  it("refuses a fee that would take everything", () => {
    expect(reasonOf({}, { ...DEFAULT_WITHDRAWAL_POLICY, feeFixedMinor: 10_000 })).toEqual([
      "amount_out_of_range",
      "withdrawal_fee_exceeds_amount",
    ]);
  });

  it("sends large or risk-flagged requests to review with the reasons", () => {
    const d = decideWithdrawal({
      ...good,
      amountMinor: LIMITS.withdrawalAutoApproveBelowMinor,
      riskFlagged: true,
    });
    expect(d).toMatchObject({
      ok: true,
      approval: "review",
      reviewReasons: ["amount_at_or_above_auto_approval", "risk_flagged"],
    });
    expect(reasonOf({ amountMinor: LIMITS.withdrawalAutoApproveBelowMinor - 1 })).toBe("auto");
  });

  it("never lets a day's accepted requests exceed the caps or available, and fee + payout = amount", () => {
    const policyArb = fc.record({
      minMinor: fc.integer({ min: 1, max: 5_000 }),
      perDayMax: fc.integer({ min: 1, max: 5 }),
      dailyAmountMaxMinor: fc.integer({ min: 1, max: 10_000_000 }),
      autoApproveBelowMinor: fc.integer({ min: 1, max: 1_000_000 }),
      coolingMs: fc.constant(0),
      feeFixedMinor: fc.integer({ min: 0, max: 500 }),
      feeBps: fc.integer({ min: 0, max: 1_000 }),
    });
    fc.assert(
      fc.property(
        policyArb,
        fc.integer({ min: 0, max: 20_000_000 }),
        fc.array(fc.integer({ min: 0, max: 5_000_000 }), { maxLength: 12 }),
        (policy, startAvailable, asks) => {
          let available = startAvailable;
          let count = 0;
          let total = 0;
          for (const amountMinor of asks) {
            const d = decideWithdrawal(
              {
                ...good,
                amountMinor,
                availableMinor: available,
                todayCount: count,
                todayAmountMinor: total,
                payoutAccountSinceMs: NOW,
              },
              policy,
            );
            if (!d.ok) continue;
            expect(d.feeMinor + d.payoutMinor).toBe(amountMinor);
            expect(d.payoutMinor).toBeGreaterThan(0);
            expect(d.feeMinor).toBe(withdrawalFeeMinor(amountMinor, policy));
            expect(d.approval === "auto").toBe(amountMinor < policy.autoApproveBelowMinor);
            available -= amountMinor;
            count += 1;
            total += amountMinor;
          }
          expect(available).toBeGreaterThanOrEqual(0);
          expect(count).toBeLessThanOrEqual(policy.perDayMax);
          expect(total).toBeLessThanOrEqual(policy.dailyAmountMaxMinor);
        },
      ),
    );
  });

  it("the fee is monotone in the amount and rounded down", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: LIMITS.amountMaxMinor }),
        fc.integer({ min: 1, max: LIMITS.amountMaxMinor }),
        fc.integer({ min: 0, max: LIMITS.bpsMax }),
        (a, b, feeBps) => {
          const policy = { ...DEFAULT_WITHDRAWAL_POLICY, feeBps };
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          expect(withdrawalFeeMinor(lo, policy)).toBeLessThanOrEqual(withdrawalFeeMinor(hi, policy));
          expect(withdrawalFeeMinor(lo, policy) * 10_000).toBeLessThanOrEqual(lo * feeBps);
        },
      ),
    );
  });
});
