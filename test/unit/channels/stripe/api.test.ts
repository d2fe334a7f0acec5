import { beforeEach, describe, expect, it } from "vitest";
import { ChannelEventSchema } from "../../../../src/channels/channel";
import type { ChannelClient, Outbound } from "../../../../src/channels/client";
import { parseStatement } from "../../../../src/channels/statement";
import { paymentIdempotencyKey, STRIPE_API_VERSION, stripeClient } from "../../../../src/channels/stripe/api";
import { STRIPE_STATEMENT_COLUMNS } from "../../../../src/channels/stripe/statement";
import { deps, failure, now, order, refundOf, value } from "../../../support/channels";
import { StripeDouble } from "../../../support/provider-apis";

describe("Stripe client", () => {
  const secretKey = "sk_test_51Giftwire0123456789";
  let stripe: StripeDouble;
  let client: ChannelClient;

  beforeEach(() => {
    stripe = new StripeDouble({ secretKey, now });
    client = stripeClient({ secretKey }, deps(stripe.fetch));
  });

  it("creates a PaymentIntent with the documented form, bearer key, pinned version and an order-derived idempotency key", async () => {
    const created = value(await client.createPayment(order));
    const sent = stripe.last;
    expect(sent.method).toBe("POST");
    expect(sent.url.href).toBe("https://api.stripe.com/v1/payment_intents");
    expect(sent.headers.get("authorization")).toBe(`Bearer ${secretKey}`);
    expect(sent.headers.get("stripe-version")).toBe(STRIPE_API_VERSION);
    expect(sent.headers.get("idempotency-key")).toBe(paymentIdempotencyKey(order.merchantOrderNo));
    expect(sent.headers.get("content-type")).toBe("application/x-www-form-urlencoded");
    expect([...new URLSearchParams(sent.body)]).toEqual([
      ["amount", "1880"],
      ["currency", "cny"],
      ["description", "giftwire 充值"],
      ["metadata[order_no]", order.merchantOrderNo],
      ["automatic_payment_methods[enabled]", "true"],
    ]);
    const pi = stripe.intentFor(order.merchantOrderNo);
    expect(created).toEqual({ step: { kind: "client_secret", clientSecret: pi.client_secret }, providerRef: pi.id });
  });

  it("gets the same PaymentIntent back when a create is retried, because the idempotency key is the order's", async () => {
    const first = value(await client.createPayment(order));
    const again = value(await client.createPayment(order));
    expect(again).toEqual(first);
    expect(stripe.intents.size).toBe(1);
  });

  it.each([
    ["requires_payment_method", { state: "open" }],
    ["requires_confirmation", { state: "open" }],
    ["requires_action", { state: "open" }],
    ["processing", { state: "open" }],
  ] as const)("reads a PaymentIntent in %s as still open", async (status, expected) => {
    const { providerRef } = value(await client.createPayment(order));
    stripe.setStatus(providerRef as string, status);
    expect(value(await client.queryPayment(order.merchantOrderNo, providerRef))).toEqual(expected);
  });

  it("reads a succeeded PaymentIntent as a final success for the amount received, with its id and mode", async () => {
    const { providerRef } = value(await client.createPayment(order));
    stripe.pay(providerRef as string);
    const result = value(await client.queryPayment(order.merchantOrderNo, providerRef));
    expect(result).toEqual({
      state: "final",
      event: {
        kind: "payment",
        status: "succeeded",
        merchantOrderNo: order.merchantOrderNo,
        providerTxnId: providerRef,
        amountMinor: 1880,
        currency: "CNY",
        merchant: [{ field: "livemode", expected: "false", actual: "false" }],
      },
    });
    expect(stripe.last.method).toBe("GET");
    expect(stripe.last.url.pathname).toBe(`/v1/payment_intents/${providerRef}`);
    if (result.state === "final") expect(ChannelEventSchema.safeParse(result.event).success).toBe(true);
  });

  it("reads a canceled PaymentIntent as closed", async () => {
    const { providerRef } = value(await client.createPayment(order));
    stripe.setStatus(providerRef as string, "canceled");
    const result = value(await client.queryPayment(order.merchantOrderNo, providerRef));
    expect(result.state === "final" && result.event.status).toBe("closed");
  });

  it("finds the PaymentIntent by the order number with Stripe search when the create's answer was lost", async () => {
    const { providerRef } = value(await client.createPayment(order));
    stripe.pay(providerRef as string);
    const result = value(await client.queryPayment(order.merchantOrderNo, null));
    expect(stripe.last.url.pathname).toBe("/v1/payment_intents/search");
    expect(stripe.last.url.searchParams.get("query")).toBe(`metadata['order_no']:'${order.merchantOrderNo}'`);
    expect(result.state === "final" && result.event.providerTxnId).toBe(providerRef);
  });

  it("answers unknown when search finds nothing or the intent id does not exist", async () => {
    expect(value(await client.queryPayment("ord_never_opened", null))).toEqual({ state: "unknown" });
    expect(value(await client.queryPayment("ord_never_opened", "pi_missing"))).toEqual({ state: "unknown" });
  });

  it("refunds against the PaymentIntent with the refund number as idempotency key", async () => {
    const { providerRef } = value(await client.createPayment(order));
    stripe.pay(providerRef as string);
    const refund = value(await client.refund(refundOf({ providerRef })));
    const sent = stripe.last;
    expect(sent.url.pathname).toBe("/v1/refunds");
    expect(sent.headers.get("idempotency-key")).toBe("rfd_01JDQ8A1");
    expect(Object.fromEntries(new URLSearchParams(sent.body))).toEqual({
      payment_intent: providerRef,
      amount: "880",
      "metadata[refund_no]": "rfd_01JDQ8A1",
      "metadata[order_no]": order.merchantOrderNo,
    });
    expect(refund).toEqual({ providerRefundId: [...stripe.refunds.keys()][0], status: "succeeded" });
    // The same refund number again is the same refund, not a second one.
    expect(value(await client.refund(refundOf({ providerRef })))).toEqual(refund);
    expect(stripe.refunds.size).toBe(1);
  });

  it.each([
    ["pending", "pending"],
    ["requires_action", "pending"],
  ] as const)("reports a refund Stripe answers %s as pending", async (status, expected) => {
    const { providerRef } = value(await client.createPayment(order));
    stripe.pay(providerRef as string);
    stripe.refundStatus = status;
    expect(value(await client.refund(refundOf({ providerRef }))).status).toBe(expected);
  });

  it("rejects a refund Stripe answers failed", async () => {
    const { providerRef } = value(await client.createPayment(order));
    stripe.pay(providerRef as string);
    stripe.refundStatus = "failed";
    expect(failure(await client.refund(refundOf({ providerRef })))).toEqual({
      kind: "rejected",
      code: "refund_failed",
    });
  });

  it("rejects with Stripe's error code when Stripe refuses the request", async () => {
    const { providerRef } = value(await client.createPayment(order));
    expect(failure(await client.refund(refundOf({ providerRef })))).toEqual({
      kind: "rejected",
      code: "payment_intent_unexpected_state",
    });
  });

  it.each([500, 503, 429, 409])("is unavailable on HTTP %i", async (status) => {
    stripe.failNext(1, status);
    expect(failure(await client.createPayment(order))).toEqual({ kind: "unavailable" });
  });

  it("is unavailable when Stripe does not answer within the deadline", async () => {
    const impatient = stripeClient({ secretKey }, deps(stripe.fetch, 30));
    stripe.hangNext();
    const outcome = await impatient.createPayment(order);
    expect(failure(outcome)).toEqual({ kind: "unavailable" });
    expect(!outcome.ok && outcome.failure.detail).toMatch(/timed out/);
  });

  it("is refused by Stripe under a key Stripe does not know", async () => {
    const intruder = stripeClient({ secretKey: "sk_test_51Intruder9876543210" }, deps(stripe.fetch));
    expect(failure(await intruder.createPayment(order))).toEqual({ kind: "rejected", code: "invalid_request_error" });
    expect(stripe.intents.size).toBe(0);
  });

  it("refuses to be built with a publishable key", () => {
    expect(() => stripeClient({ secretKey: "pk_test_123" }, deps(stripe.fetch))).toThrow(/secret/);
  });

  describe("the daily statement (a balance change report run)", () => {
    const day = "2026-11-21";
    // The business day in Asia/Shanghai: 16:00 UTC the day before to 16:00 UTC.
    const startS = Date.UTC(2026, 10, 20, 16) / 1000;
    const endS = Date.UTC(2026, 10, 21, 16) / 1000;
    let reporter: ChannelClient;
    const outcome = async (date: string) => {
      const o = await reporter.downloadStatement(date);
      return o.ok ? { ok: true } : { ok: false, kind: o.failure.kind };
    };

    beforeEach(() => {
      reporter = stripeClient(
        { secretKey, statementTimeZone: "Asia/Shanghai", reportPolls: 3, reportPollIntervalMs: 1 },
        deps(stripe.fetch),
      );
    });

    it("checks the data is available, runs the report over the local day with our columns, and downloads its file", async () => {
      const created = value(await client.createPayment(order));
      const intentId = created.providerRef as string;
      stripe.pay(intentId);
      const intent = stripe.intents.get(intentId) as { paidAtMs?: number };
      intent.paidAtMs = Date.UTC(2026, 10, 21, 15, 59, 59); // 23:59:59 in Shanghai: still the 21st
      stripe.extraCharges.push({
        atMs: Date.UTC(2026, 10, 20, 16), // 00:00:00 in Shanghai
        currency: "cny",
        amountMinor: 500,
        intentId: "pi_nobody_knows",
        orderNo: "ord_nobody_knows",
      });
      stripe.extraCharges.push({
        atMs: endS * 1000,
        currency: "cny",
        amountMinor: 7,
        intentId: "pi_next",
        orderNo: "x",
      });
      const before = stripe.received.length;
      const text = value((await reporter.downloadStatement(day)) as Outbound<string>);
      const [type, run, poll, file] = stripe.received.slice(before);
      expect(type?.url.href).toBe(
        "https://api.stripe.com/v1/reporting/report_types/balance_change_from_activity.itemized.3",
      );
      expect(run?.url.pathname).toBe("/v1/reporting/report_runs");
      expect(run?.headers.get("idempotency-key")).toBe(
        `giftwire-report-run:balance_change_from_activity.itemized.3:${startS}:${endS}`,
      );
      expect([...new URLSearchParams(run?.body)]).toEqual([
        ["report_type", "balance_change_from_activity.itemized.3"],
        ["parameters[interval_start]", String(startS)],
        ["parameters[interval_end]", String(endS)],
        ...STRIPE_STATEMENT_COLUMNS.map((c, i) => [`parameters[columns][${i}]`, c]),
      ]);
      expect(poll?.url.pathname).toMatch(/^\/v1\/reporting\/report_runs\/frr_/);
      expect(file?.url.href).toMatch(/^https:\/\/files\.stripe\.com\/v1\/files\/file_[A-Za-z0-9]+\/contents$/);
      expect(file?.headers.get("authorization")).toBe(`Bearer ${secretKey}`);
      const parsed = parseStatement("stripe", text);
      if (!parsed.ok) throw new Error(parsed.error.detail);
      expect(parsed.lines.map((l) => [l.merchantOrderNo, l.providerTxnId, l.amountMinor, l.currency])).toEqual([
        [order.merchantOrderNo, intentId, 1880, "CNY"],
        ["ord_nobody_knows", "pi_nobody_knows", 500, "CNY"],
      ]);
    });

    it("is not_ready while Stripe's data ends before the day does, and starts no run then", async () => {
      // The double's data reaches the start of the current UTC day (22 November 00:00 UTC).
      expect(await outcome("2026-11-22")).toEqual({ ok: false, kind: "not_ready" });
      expect(stripe.reportRuns.size).toBe(0);
      stripe.dataAvailableUntil(Date.UTC(2026, 10, 22, 16));
      expect(await outcome("2026-11-22")).toEqual({ ok: true });
    });

    it("is not_ready while the run is pending, and picks the same run up on the next try", async () => {
      stripe.reportPendingPolls.push({ polls: 4, match: null });
      expect(await outcome(day)).toEqual({ ok: false, kind: "not_ready" });
      expect(stripe.reportRuns.size).toBe(1);
      expect(await outcome(day)).toEqual({ ok: true });
      expect(stripe.reportRuns.size).toBe(1);
    });

    it("does not take a file shorter than its File object says, nor a failed run", async () => {
      stripe.truncateReportNext = true;
      stripe.extraCharges.push({
        atMs: startS * 1000 + 1,
        currency: "cny",
        amountMinor: 1,
        intentId: "pi_a",
        orderNo: "a",
      });
      expect(await outcome(day)).toEqual({ ok: false, kind: "unavailable" });
      const failed = [...stripe.reportRuns.values()][0] as { status: string; error: string | null };
      failed.status = "failed";
      failed.error = "internal";
      expect(await reporter.downloadStatement(day)).toMatchObject({
        ok: false,
        failure: { kind: "rejected", code: "report_run_failed" },
      });
    });
  });
});
