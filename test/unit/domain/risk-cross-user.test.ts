import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type CashOutChainRule,
  type Credit,
  cashOutDetail,
  cashOutFires,
  findCashOut,
  type IncomeTip,
} from "../../../src/domain/risk/cash-out";
import { evaluate, NO_LISTS, NO_STATE, type RiskSignals } from "../../../src/domain/risk/evaluate";
import { RiskRuleSchema } from "../../../src/domain/risk/rules";

const NOW = 1_800_000_000_000;
const MIN = 60_000;

const chain = RiskRuleSchema.parse({
  id: "cash-out",
  kind: "cash_out_chain",
  outcome: "review",
  enabled: true,
  windowSec: 86_400,
  freshSec: 600,
  minShareBps: 5_000,
  minMinor: 10_000,
}) as CashOutChainRule;

describe("cash_out_chain", () => {
  it("counts as fresh the tips paid within freshSec after a credit of their payer, and says so in a sentence", () => {
    const tips: IncomeTip[] = [
      { payerId: "a", creatorMinor: 40_000, atMs: NOW - 60 * MIN },
      { payerId: "b", creatorMinor: 40_000, atMs: NOW - 30 * MIN },
      { payerId: "c", creatorMinor: 21_680, atMs: NOW - 20 * MIN },
      // Old money: c's credit was 11 minutes before.
      { payerId: "c", creatorMinor: 22_320, atMs: NOW - 9 * MIN },
      // Outside the window.
      { payerId: "a", creatorMinor: 99_999, atMs: NOW - 25 * 60 * MIN },
    ];
    const credits: Credit[] = [
      { payerId: "a", atMs: NOW - 61 * MIN },
      { payerId: "b", atMs: NOW - 40 * MIN },
      { payerId: "b", atMs: NOW - 31 * MIN },
      { payerId: "c", atMs: NOW - 20 * MIN },
      // A credit after the tip does not make it fresh.
      { payerId: "c", atMs: NOW - 1 * MIN },
    ];
    const f = findCashOut(tips, credits, NOW - 86_400_000, 600_000);
    expect(f).toEqual({ incomeMinor: 124_000, freshMinor: 101_680, shareBps: 8_200, freshPayers: 3 });
    expect(cashOutFires(chain, f)).toBe(true);
    expect(cashOutDetail(chain, f)).toBe(
      "82% of 1,240.00 received in 24 h came from money topped up ≤ 10 min before the tip by 3 payers",
    );
  });

  it("stays quiet under the share, under the minimum income, or with old money only", () => {
    const tip = (payerId: string, creatorMinor: number): IncomeTip => ({ payerId, creatorMinor, atMs: NOW - MIN });
    const fresh: Credit[] = [{ payerId: "a", atMs: NOW - 2 * MIN }];
    expect(cashOutFires(chain, findCashOut([tip("a", 9_999)], fresh, 0, 600_000))).toBe(false);
    expect(cashOutFires(chain, findCashOut([tip("a", 10_000)], fresh, 0, 600_000))).toBe(true);
    expect(cashOutFires(chain, findCashOut([tip("a", 10_000), tip("b", 10_001)], fresh, 0, 600_000))).toBe(false);
    expect(
      cashOutFires(chain, findCashOut([tip("a", 50_000)], [{ payerId: "a", atMs: NOW - 20 * MIN }], 0, 600_000)),
    ).toBe(false);
    expect(cashOutFires({ ...chain, enabled: false }, findCashOut([tip("a", 10_000)], fresh, 0, 600_000))).toBe(false);
  });

  it("fresh money is never more than the income, and more credits never lower the share", () => {
    const tipArb = fc.record({
      payerId: fc.constantFrom("a", "b", "c"),
      creatorMinor: fc.integer({ min: 0, max: 100_000 }),
      atMs: fc.integer({ min: NOW - 100 * MIN, max: NOW }),
    });
    const creditArb = fc.record({
      payerId: fc.constantFrom("a", "b", "c"),
      atMs: fc.integer({ min: NOW - 100 * MIN, max: NOW }),
    });
    fc.assert(
      fc.property(fc.array(tipArb), fc.array(creditArb), fc.array(creditArb), (tips, credits, more) => {
        const f = findCashOut(tips, credits, NOW - 50 * MIN, 10 * MIN);
        expect(f.freshMinor).toBeLessThanOrEqual(f.incomeMinor);
        expect(f.shareBps).toBeGreaterThanOrEqual(0);
        expect(f.shareBps).toBeLessThanOrEqual(10_000);
        const g = findCashOut(tips, [...credits, ...more], NOW - 50 * MIN, 10 * MIN);
        expect(g.incomeMinor).toBe(f.incomeMinor);
        expect(g.freshMinor).toBeGreaterThanOrEqual(f.freshMinor);
        expect(cashOutFires(chain, f) && !cashOutFires(chain, g)).toBe(false);
      }),
    );
  });

  it("is decided from the ledger, never by evaluate (which stays quiet for it)", () => {
    const signals: RiskSignals = {
      action: "withdrawal",
      userId: "c1",
      deviceId: null,
      ip: null,
      country: null,
      asn: null,
      adult: true,
      amountMinor: 10_000,
      card: null,
      payoutAccount: null,
    };
    expect(evaluate(signals, NO_STATE, [chain], NO_LISTS, NOW).outcome).toBe("allow");
  });

  it("refuses a rule out of bounds (a share above 100%, a window above a week, an outcome of challenge)", () => {
    const base = { ...chain };
    expect(RiskRuleSchema.safeParse({ ...base, minShareBps: 10_001 }).success).toBe(false);
    expect(RiskRuleSchema.safeParse({ ...base, windowSec: 604_801 }).success).toBe(false);
    expect(RiskRuleSchema.safeParse({ ...base, outcome: "challenge" }).success).toBe(false);
  });
});

describe("device_accounts", () => {
  const rule = RiskRuleSchema.parse({
    id: "dev-accounts",
    kind: "device_accounts",
    outcome: "block",
    enabled: true,
    action: "tip",
    maxAccounts: 3,
    windowSec: 3_600,
  });
  const signals: RiskSignals = {
    action: "tip",
    userId: "u9",
    deviceId: "dev-9",
    ip: null,
    country: null,
    asn: null,
    adult: true,
    amountMinor: 100,
    card: null,
    payoutAccount: null,
  };

  it("fires above maxAccounts distinct accounts seen on the device, with the numbers", () => {
    const at = (n: number) =>
      evaluate(signals, { ...NO_STATE, deviceAccounts: new Map([[rule.id, n]]) }, [rule], NO_LISTS, NOW);
    expect(at(3).outcome).toBe("allow");
    expect(at(4)).toEqual({
      outcome: "block",
      fired: [
        {
          ruleId: "dev-accounts",
          outcome: "block",
          reason: "device_accounts",
          detail: "device dev-9 used by 4 accounts in 3600 s (at most 3)",
        },
      ],
    });
    // Not asked (no device, or another action): quiet.
    expect(evaluate(signals, NO_STATE, [rule], NO_LISTS, NOW).outcome).toBe("allow");
    expect(
      evaluate(
        { ...signals, action: "topup" },
        { ...NO_STATE, deviceAccounts: new Map([[rule.id, 9]]) },
        [rule],
        NO_LISTS,
        NOW,
      ).outcome,
    ).toBe("allow");
  });
});

describe("circular_tipping", () => {
  const rule = RiskRuleSchema.parse({
    id: "circle",
    kind: "circular_tipping",
    outcome: "review",
    enabled: true,
    windowSec: 600,
  });
  const signals: RiskSignals = {
    action: "tip",
    userId: "b",
    deviceId: null,
    ip: null,
    country: null,
    asn: null,
    adult: true,
    amountMinor: 100,
    card: null,
    payoutAccount: null,
    recipientId: "a",
  };
  const at = (tippedAtMs: number | null) =>
    evaluate(signals, { ...NO_STATE, recipientTippedPayerAtMs: tippedAtMs }, [rule], NO_LISTS, NOW);

  it("fires on a tip back to whoever tipped the payer within the window", () => {
    expect(at(NOW - 60_000)).toEqual({
      outcome: "review",
      fired: [
        {
          ruleId: "circle",
          outcome: "review",
          reason: "circular_tipping",
          detail: "a tipped b 60 s ago (window 600 s)",
        },
      ],
    });
    expect(at(NOW - 600_000).outcome).toBe("review");
    expect(at(NOW - 600_001).outcome).toBe("allow");
    expect(at(null).outcome).toBe("allow");
  });
});
