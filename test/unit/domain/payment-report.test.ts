import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CREDITABLE_STATES, OPEN_STATES, ORDER_STATES } from "../../../src/domain/order";
import {
  judgePayment,
  judgeRefund,
  matchRefund,
  type OrderFacts,
  type RefundFacts,
  type ReportedPayment,
  type ReportedRefund,
} from "../../../src/domain/payment-report";

const ours = [{ field: "mchid", expected: "1900000109", actual: "1900000109" }];
const order: OrderFacts = {
  id: "order_01",
  channel: "wechatpay",
  amountMinor: 5200,
  currency: "CNY",
  state: "pending",
  providerTxnId: null,
};
const paid: ReportedPayment = {
  status: "succeeded",
  merchantOrderNo: "order_01",
  providerTxnId: "txn_1",
  amountMinor: 5200,
  currency: "CNY",
  merchant: ours,
};

const state = fc.constantFrom(...ORDER_STATES);
const orderArb = fc.record({
  id: fc.constant("order_01"),
  channel: fc.constantFrom("wechatpay", "alipay"),
  amountMinor: fc.integer({ min: 1, max: 100_000 }),
  currency: fc.constantFrom("CNY", "USD"),
  state,
  providerTxnId: fc.option(fc.constantFrom("txn_1", "txn_2"), { nil: null }),
});
const reportArb = fc.record({
  status: fc.constantFrom("succeeded" as const, "failed" as const, "closed" as const),
  merchantOrderNo: fc.constant("order_01"),
  providerTxnId: fc.option(fc.constantFrom("txn_1", "txn_2"), { nil: null }),
  amountMinor: fc.integer({ min: 1, max: 100_000 }),
  currency: fc.constantFrom("CNY", "USD"),
  merchant: fc.constantFrom(ours, [{ field: "mchid", expected: "1900000109", actual: "1900000999" }]),
});

describe("judging a channel's payment report", () => {
  it("credits an open order when channel, merchant, amount and currency all agree", () => {
    expect(judgePayment("wechatpay", paid, order)).toEqual({ kind: "credit" });
  });

  it("flags each mismatch by its own kind, and never credits one", () => {
    expect(judgePayment("wechatpay", paid, null)).toEqual({
      kind: "flag",
      flag: "unknown_order",
      detail: "no order order_01",
    });
    expect(judgePayment("alipay", paid, order)).toMatchObject({ kind: "flag", flag: "channel_mismatch" });
    const foreign = { ...paid, merchant: [{ field: "mchid", expected: "1900000109", actual: "1900000999" }] };
    expect(judgePayment("wechatpay", foreign, order)).toEqual({
      kind: "flag",
      flag: "merchant_mismatch",
      detail: "mchid 1900000999 ≠ 1900000109",
    });
    expect(judgePayment("wechatpay", { ...paid, amountMinor: 5199 }, order)).toEqual({
      kind: "flag",
      flag: "amount_mismatch",
      detail: "paid 5199 CNY, order is 5200 CNY",
    });
  });

  it("answers the usual duplicate (same transaction, order already credited) without a batch", () => {
    expect(judgePayment("wechatpay", paid, { ...order, state: "succeeded", providerTxnId: "txn_1" })).toEqual({
      kind: "already_credited",
    });
    // Another transaction on a credited order goes to the credit, whose "exists" raises second_payment.
    expect(judgePayment("wechatpay", paid, { ...order, state: "succeeded", providerTxnId: "txn_0" })).toEqual({
      kind: "credit",
    });
  });

  it("records a failure only while the order still waits, and credits money that arrives after our clock closed it", () => {
    expect(judgePayment("wechatpay", { ...paid, status: "failed" }, order)).toEqual({
      kind: "settle_unpaid",
      to: "failed",
    });
    expect(judgePayment("wechatpay", { ...paid, status: "closed" }, { ...order, state: "succeeded" })).toEqual({
      kind: "no_change",
    });
    expect(judgePayment("wechatpay", paid, { ...order, state: "closed" })).toEqual({ kind: "credit" });
  });

  it("never credits a report that disagrees with the order, and credits only states that allow it", () => {
    fc.assert(
      fc.property(fc.constantFrom("wechatpay", "alipay"), reportArb, orderArb, (channel, report, o) => {
        const judged = judgePayment(channel, report, o);
        const agrees =
          channel === o.channel &&
          report.merchant.every((m) => m.actual === m.expected) &&
          report.amountMinor === o.amountMinor &&
          report.currency === o.currency;
        if (!agrees) expect(judged.kind).toBe("flag");
        if (judged.kind === "credit") {
          expect(agrees && report.status === "succeeded").toBe(true);
          expect(CREDITABLE_STATES.includes(o.state) || o.providerTxnId !== report.providerTxnId).toBe(true);
        }
        if (judged.kind === "settle_unpaid") expect(OPEN_STATES).toContain(o.state);
      }),
    );
  });
});

describe("judging a refund report and matching it to our refunds", () => {
  const refund: ReportedRefund = {
    merchantOrderNo: "order_01",
    providerRefundId: "rf_9",
    amountMinor: 200,
    refundedTotalMinor: null,
    currency: "CNY",
    merchant: ours,
  };
  const r = (id: string, amountMinor: number, s: RefundFacts["state"], providerRefundId: string | null = null) => ({
    id,
    amountMinor,
    state: s,
    providerRefundId,
  });

  it("flags a refund from a channel the order was never on or for another merchant", () => {
    expect(judgeRefund("alipay", refund, order)).toMatchObject({ kind: "flag", flag: "channel_mismatch" });
    const foreign = { ...refund, merchant: [{ field: "mchid", expected: "1", actual: null }] };
    expect(judgeRefund("wechatpay", foreign, order)).toEqual({
      kind: "flag",
      flag: "merchant_mismatch",
      detail: "mchid (missing) ≠ 1",
    });
    expect(judgeRefund("wechatpay", refund, order)).toEqual({ kind: "match" });
  });

  it("matches by the provider's refund id first, then by this refund's amount, then by the running total", () => {
    const refunds = [r("a", 100, "succeeded", "rf_1"), r("b", 200, "pending"), r("c", 200, "requested")];
    expect(matchRefund(refunds, { ...refund, providerRefundId: "rf_1" })?.id).toBe("a");
    expect(matchRefund(refunds, refund)?.id).toBe("b");
    const total = { ...refund, amountMinor: null, refundedTotalMinor: 500 };
    expect(matchRefund(refunds, total)?.id).toBe("c");
    expect(matchRefund(refunds, { ...total, refundedTotalMinor: 250 })).toBeNull();
    // The running total our confirmed refunds already make: the report of the last of them
    // (Stripe's charge.refunded after a refund its API answered as succeeded), not a stranger's.
    const done = [r("a", 100, "succeeded", "re_1"), r("d", 300, "succeeded", "re_2")];
    expect(matchRefund(done, { ...total, refundedTotalMinor: 400 })?.id).toBe("d");
    expect(matchRefund(done, { ...total, refundedTotalMinor: 401 })).toBeNull();
    expect(matchRefund([], { ...total, refundedTotalMinor: 0 })).toBeNull();
    expect(matchRefund([r("x", 200, "failed", "rf_9")], refund)).toBeNull();
  });

  it("never matches a failed refund, and a match is always one of ours", () => {
    const refundArb = fc.array(
      fc.record({
        id: fc.uuid(),
        amountMinor: fc.integer({ min: 1, max: 1000 }),
        state: fc.constantFrom("requested" as const, "pending" as const, "succeeded" as const, "failed" as const),
        providerRefundId: fc.option(fc.constantFrom("rf_1", "rf_2"), { nil: null }),
      }),
      { maxLength: 8 },
    );
    fc.assert(
      fc.property(
        refundArb,
        fc.option(fc.integer({ min: 1, max: 1000 }), { nil: null }),
        fc.option(fc.integer({ min: 0, max: 5000 }), { nil: null }),
        fc.constantFrom("rf_1", "rf_2", "rf_3"),
        (refunds, amountMinor, refundedTotalMinor, providerRefundId) => {
          const m = matchRefund(refunds, { ...refund, amountMinor, refundedTotalMinor, providerRefundId });
          if (m !== null) {
            expect(refunds).toContain(m);
            expect(m.state).not.toBe("failed");
          }
        },
      ),
    );
  });
});
