import { describe, expect, it } from "vitest";
import {
  incomeFields,
  type ReversalLine,
  reversalFields,
  type SettlementLine,
  STATEMENT_CSV_COLUMNS,
  StatementTotals,
  settlementFields,
  type WithdrawalLine,
  withdrawalFields,
} from "../../../src/domain/statement-month";

/** A row as column → value, without the blanks. */
function named(row: string[]): Record<string, string> {
  expect(row).toHaveLength(STATEMENT_CSV_COLUMNS.length);
  const out: Record<string, string> = {};
  STATEMENT_CSV_COLUMNS.forEach((c, i) => {
    if (row[i] !== "") out[c] = row[i] as string;
  });
  return out;
}

const tip = {
  kind: "tip" as const,
  id: "tip_1",
  contentId: null,
  viewerId: "v-1",
  giftId: "rose",
  giftName: "玫瑰",
  quantity: 3,
  amountMinor: 300,
  platformBps: 3000,
  platformMinor: 90,
  creatorMinor: 210,
  currency: "CNY",
  createdAtMs: Date.parse("2026-10-31T16:30:05Z"),
  reversed: true,
};

const unlock = {
  kind: "unlock" as const,
  id: "unl_1",
  contentId: "cnt_1",
  viewerId: "reader-1",
  giftId: null,
  giftName: null,
  quantity: 1,
  amountMinor: 600,
  platformBps: 2500,
  platformMinor: 150,
  creatorMinor: 450,
  currency: "CNY",
  createdAtMs: Date.parse("2026-11-02T04:00:00Z"),
  reversed: false,
};

const refund = {
  kind: "unlock" as const,
  id: "urf_1",
  unlockId: "unl_1",
  contentId: "cnt_1",
  viewerId: "reader-1",
  amountMinor: 600,
  platformMinor: 150,
  creatorMinor: 450,
  source: "pending",
  reason: "withdrawn article",
  currency: "CNY",
  createdAtMs: Date.parse("2026-11-02T05:00:00Z"),
} satisfies ReversalLine;

const reversal = {
  kind: "tip" as const,
  id: "rev_1",
  tipId: "tip_1",
  contentId: null,
  viewerId: "v-1",
  amountMinor: 300,
  platformMinor: 90,
  creatorMinor: 210,
  source: "receivable",
  reason: "chargeback",
  currency: "CNY",
  createdAtMs: Date.parse("2026-11-03T02:00:00Z"),
} satisfies ReversalLine;

const settlement = {
  id: "settlement:c:2026-11-01",
  day: "2026-11-01",
  state: "settled",
  grossMinor: 10_000,
  platformMinor: 3_000,
  creatorPartMinor: 7_000,
  reversedMinor: 210,
  withholdingMinor: 679,
  receivableOffsetMinor: 11,
  netMinor: 6_100,
  tipCount: 12,
  currency: "CNY",
  heldReason: null,
  createdAtMs: Date.parse("2026-11-08T01:00:00Z"),
} satisfies SettlementLine;

const withdrawal = {
  id: "wd_1",
  state: "paid",
  amountMinor: 5_000,
  feeMinor: 150,
  currency: "CNY",
  channel: "sandbox",
  destinationMasked: "sandbox:****01",
  rejectReason: null,
  failureReason: null,
  createdAtMs: Date.parse("2026-11-09T01:00:00Z"),
} satisfies WithdrawalLine;

describe("the monthly statement's lines", () => {
  it("starts every line with its section, under one header", () => {
    expect(STATEMENT_CSV_COLUMNS[0]).toBe("section");
    expect(new Set(STATEMENT_CSV_COLUMNS).size).toBe(STATEMENT_CSV_COLUMNS.length);
  });

  it("writes a tip with exact decimals, its rate as a percent (blank when unrecorded), business time", () => {
    expect(named(incomeFields(tip, "Asia/Shanghai"))).toEqual({
      section: "income",
      kind: "tip",
      time: "2026-11-01 00:30:05",
      business_day: "2026-11-01",
      id: "tip_1",
      tip_id: "tip_1",
      viewer_id: "v-1",
      gift_id: "rose",
      gift_name: "玫瑰",
      quantity: "3",
      gross: "3.00",
      platform_rate_percent: "30.00",
      platform_share: "0.90",
      creator_part: "2.10",
      state: "reversed",
      currency: "CNY",
    });
    const plain = named(
      incomeFields({ ...tip, platformBps: null, giftId: null, giftName: null, reversed: false }, "UTC"),
    );
    expect([plain.time, plain.business_day, plain.platform_rate_percent, plain.gift_id, plain.state]).toEqual([
      "2026-10-31 16:30:05",
      "2026-10-31",
      undefined,
      undefined,
      "received",
    ]);
    expect(named(incomeFields({ ...tip, contentId: "cnt_9" }, "UTC")).content_id).toBe("cnt_9");
  });

  it("writes an unlock as income of kind unlock: its id as unlock_id, the item, no gift or quantity", () => {
    expect(named(incomeFields(unlock, "Asia/Shanghai"))).toEqual({
      section: "income",
      kind: "unlock",
      time: "2026-11-02 12:00:00",
      business_day: "2026-11-02",
      id: "unl_1",
      unlock_id: "unl_1",
      content_id: "cnt_1",
      viewer_id: "reader-1",
      gross: "6.00",
      platform_rate_percent: "25.00",
      platform_share: "1.50",
      creator_part: "4.50",
      state: "received",
      currency: "CNY",
    });
    expect(named(incomeFields({ ...unlock, reversed: true }, "UTC")).state).toBe("refunded");
  });

  it("writes an unlock refund as a reversal of kind unlock, with the unlock and the item", () => {
    expect(named(reversalFields(refund, "Asia/Shanghai"))).toEqual({
      section: "reversal",
      kind: "unlock",
      time: "2026-11-02 13:00:00",
      business_day: "2026-11-02",
      id: "urf_1",
      unlock_id: "unl_1",
      content_id: "cnt_1",
      viewer_id: "reader-1",
      gross: "6.00",
      platform_share: "1.50",
      creator_part: "4.50",
      reversed: "4.50",
      source: "pending",
      reason: "withdrawn article",
      currency: "CNY",
    });
  });

  it("writes a reversal with its source and the creator's part taken back", () => {
    expect(named(reversalFields(reversal, "Asia/Shanghai"))).toEqual({
      section: "reversal",
      kind: "tip",
      time: "2026-11-03 10:00:00",
      business_day: "2026-11-03",
      id: "rev_1",
      tip_id: "tip_1",
      viewer_id: "v-1",
      gross: "3.00",
      platform_share: "0.90",
      creator_part: "2.10",
      reversed: "2.10",
      source: "receivable",
      reason: "chargeback",
      currency: "CNY",
    });
    // A tip on a content item names the item, as its income line does.
    expect(named(reversalFields({ ...reversal, contentId: "cnt_9" }, "Asia/Shanghai"))).toMatchObject({
      kind: "tip",
      tip_id: "tip_1",
      content_id: "cnt_9",
    });
  });

  it("writes a settlement by its business day, every deduction and the net", () => {
    expect(named(settlementFields(settlement, "Asia/Shanghai"))).toEqual({
      section: "settlement",
      time: "2026-11-08 09:00:00",
      business_day: "2026-11-01",
      id: "settlement:c:2026-11-01",
      tip_count: "12",
      gross: "100.00",
      platform_share: "30.00",
      creator_part: "70.00",
      reversed: "2.10",
      withholding: "6.79",
      receivable_offset: "0.11",
      net: "61.00",
      state: "settled",
      currency: "CNY",
    });
    expect(named(settlementFields({ ...settlement, state: "held", heldReason: "risk_hold" }, "UTC")).reason).toBe(
      "risk_hold",
    );
  });

  it("writes a withdrawal's fee and payout once paid, its reason when refused or failed", () => {
    expect(named(withdrawalFields(withdrawal, "Asia/Shanghai"))).toEqual({
      section: "withdrawal",
      time: "2026-11-09 09:00:00",
      business_day: "2026-11-09",
      id: "wd_1",
      amount: "50.00",
      fee: "1.50",
      payout: "48.50",
      state: "paid",
      channel: "sandbox",
      destination: "sandbox:****01",
      currency: "CNY",
    });
    const failed = named(withdrawalFields({ ...withdrawal, state: "failed", failureReason: "bank refused" }, "UTC"));
    expect([failed.fee, failed.payout, failed.reason]).toEqual([undefined, undefined, "bank refused"]);
    const rejected = named(withdrawalFields({ ...withdrawal, state: "rejected", rejectReason: "kyc" }, "UTC"));
    expect(rejected.reason).toBe("kyc");
  });

  it("adds up the summary as lines go by: tips and unlocks alike, settled settlements and paid withdrawals only", () => {
    const t = new StatementTotals();
    t.income(tip);
    t.income({ ...tip, amountMinor: 1_001, platformMinor: 300, creatorMinor: 701 });
    t.income(unlock);
    t.reversal(reversal);
    t.reversal(refund);
    t.settlement(settlement);
    t.settlement({ ...settlement, state: "held", withholdingMinor: 5, netMinor: 99 });
    t.withdrawal(withdrawal);
    t.withdrawal({ ...withdrawal, state: "failed" });
    t.withdrawal({ ...withdrawal, state: "paying" });
    const rows = t.summaryRows("CNY").map(named);
    expect(rows.map((r) => [r.section, r.id, r.amount, r.currency])).toEqual([
      ["summary", "gross", "19.01", "CNY"],
      ["summary", "platform_share", "5.40", "CNY"],
      ["summary", "creator_part", "13.61", "CNY"],
      ["summary", "reversed", "6.60", "CNY"],
      ["summary", "withholding", "6.79", "CNY"],
      ["summary", "settled_net", "61.00", "CNY"],
      ["summary", "withdrawn", "50.00", "CNY"],
      ["summary", "fees", "1.50", "CNY"],
    ]);
    expect(new StatementTotals().summaryRows("CNY").map((r) => named(r).amount)).toEqual(Array(8).fill("0.00"));
  });
});
