import { describe, expect, it } from "vitest";
import { parseStatement } from "../../../../src/channels/statement";
import { stripeExponent } from "../../../../src/channels/stripe/statement";
import { lines, refusal } from "../../../support/statements";

// Stripe balance_change_from_activity.itemized.3, run with payment_metadata[order_no]: quoted
// fields, zero-decimal JPY, a fee row, a refund with its re_ id, a description over two lines.
const STRIPE_FILE = [
  "balance_transaction_id,created_utc,created,available_on_utc,currency,gross,fee,net,reporting_category,source_id,description,customer_facing_amount,customer_facing_currency,charge_id,payment_intent_id,payment_metadata[order_no]",
  'txn_3QaA01,2026-11-21 02:00:00,2026-11-21 02:00:00,2026-11-23 00:00:00,cny,0.01,0.00,0.01,charge,ch_3QaA01,"giftwire top-up, order_31",0.01,cny,ch_3QaA01,pi_3QaA01,order_31',
  'txn_3QaA02,2026-11-21 03:30:00,2026-11-21 03:30:00,2026-11-23 00:00:00,jpy,1000,36,964,charge,ch_3QaA02,"giftwire ""yen""\ntop-up",1000,jpy,ch_3QaA02,pi_3QaA02,order_32',
  "txn_3QaA03,2026-11-21 04:00:00,2026-11-21 04:00:00,2026-11-23 00:00:00,usd,18.80,0.85,17.95,charge,ch_3QaA03,,18.80,usd,ch_3QaA03,pi_3QaA03,order_33",
  "txn_3QaA04,2026-11-21 05:00:00,2026-11-21 05:00:00,2026-11-21 05:00:00,usd,-5.00,0.00,-5.00,refund,re_3QaA04,,5.00,usd,ch_3QaA03,pi_3QaA03,order_33",
  "txn_3QaA05,2026-11-21 06:00:00,2026-11-21 06:00:00,2026-11-21 06:00:00,usd,-2.00,0.00,-2.00,fee,ab_1QaA05,Radar for Fraud Teams,,,,,",
];

describe("Stripe itemized balance change report", () => {
  it("reads charges and refunds in each currency's minor units and lists the rest as skipped", () => {
    const parsed = parseStatement("stripe", `${STRIPE_FILE.join("\n")}\n`);
    expect(lines(parsed)).toEqual([
      {
        kind: "payment",
        status: "succeeded",
        merchantOrderNo: "order_31",
        providerTxnId: "pi_3QaA01",
        providerRefundId: null,
        merchantRefundNo: null,
        amountMinor: 1,
        currency: "CNY",
        occurredAtMs: Date.UTC(2026, 10, 21, 2, 0, 0),
        line: 2,
      },
      expect.objectContaining({ merchantOrderNo: "order_32", currency: "JPY", amountMinor: 1000, line: 3 }),
      // The quoted description spans two physical lines, so this row starts on line 5.
      expect.objectContaining({ merchantOrderNo: "order_33", currency: "USD", amountMinor: 1880, line: 5 }),
      expect.objectContaining({
        kind: "refund",
        providerRefundId: "re_3QaA04",
        providerTxnId: "pi_3QaA03",
        amountMinor: 500,
        line: 6,
      }),
    ]);
    expect(parsed.ok && parsed.summary).toMatchObject({
      declaredTotals: "not_provided",
      skipped: [{ line: 7, reason: "reporting_category fee" }],
      totals: [
        { currency: "CNY", paymentCount: 1, paymentAmountMinor: 1, refundCount: 0, refundAmountMinor: 0 },
        { currency: "JPY", paymentCount: 1, paymentAmountMinor: 1000, refundCount: 0, refundAmountMinor: 0 },
        { currency: "USD", paymentCount: 1, paymentAmountMinor: 1880, refundCount: 1, refundAmountMinor: 500 },
      ],
    });
  });

  it("refuses a report run without the order metadata column", () => {
    const without = STRIPE_FILE.map((l) => l.split(",").slice(0, -1).join(",")).join("\n");
    expect(refusal(parseStatement("stripe", without))).toEqual({
      line: 1,
      detail: "the header lacks the required column(s) payment_metadata[order_no]",
    });
  });

  it("reads Connect transfers as payout lines by their tr_ id, apart from payments and refunds", () => {
    const file = [
      ...STRIPE_FILE.slice(0, 2),
      "txn_3QaT01,2026-11-21 07:00:00,2026-11-21 07:00:00,2026-11-21 07:00:00,usd,-98.00,0.00,-98.00,transfer,tr_3QaT01,giftwire withdrawal,,,,,",
      "txn_3QaT02,2026-11-21 08:00:00,2026-11-21 08:00:00,2026-11-21 08:00:00,usd,98.00,0.00,98.00,transfer_reversal,trr_3QaT02,,,,,,",
    ].join("\n");
    const parsed = parseStatement("stripe", file);
    expect(parsed.ok && parsed.payouts).toEqual([
      {
        kind: "payout",
        withdrawalId: null,
        providerRef: "tr_3QaT01",
        amountMinor: 9_800,
        currency: "USD",
        status: "paid",
        occurredAtMs: Date.UTC(2026, 10, 21, 7, 0, 0),
        line: 3,
      },
    ]);
    expect(lines(parsed)).toHaveLength(1);
    expect(parsed.ok && [parsed.summary.payoutCount, parsed.summary.skipped]).toEqual([
      1,
      [{ line: 4, reason: "reporting_category transfer_reversal" }],
    ]);
    const positive = file.replace("usd,-98.00,0.00,-98.00,transfer", "usd,98.00,0.00,98.00,transfer");
    expect(refusal(parseStatement("stripe", positive))).toEqual({
      line: 3,
      detail: "a transfer whose gross is not negative",
    });
  });

  it("refuses an unclosed quote rather than guessing where the row ends", () => {
    const broken = [...STRIPE_FILE.slice(0, 2), 'txn_x,2026-11-21 02:00:00,,,cny,1.00,0,1.00,charge,ch_x,"oops'].join(
      "\n",
    );
    expect(refusal(parseStatement("stripe", broken))).toEqual({ line: 3, detail: "a quoted field is not closed" });
  });
});

describe("Stripe currency exponents", () => {
  it("uses Stripe's exponents: zero-decimal, three-decimal and two for the rest", () => {
    expect([
      stripeExponent("JPY"),
      stripeExponent("KRW"),
      stripeExponent("KWD"),
      stripeExponent("CNY"),
      stripeExponent("HUF"),
    ]).toEqual([0, 0, 3, 2, 2]);
  });
});
