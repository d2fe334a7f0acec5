import { beforeEach, describe, expect, it } from "vitest";
import { ChannelEventSchema } from "../../../../src/channels/channel";
import type { ChannelClient } from "../../../../src/channels/client";
import { paymentIdempotencyKey, STRIPE_API_VERSION, stripeClient } from "../../../../src/channels/stripe/api";
import { deps, expectStatementDownloadNotBuilt, failure, now, order, refundOf, value } from "../../../support/channels";
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

  it("does not download statements yet: answers unsupported without calling the provider", async () => {
    await expectStatementDownloadNotBuilt((d) => stripeClient({ secretKey }, d), stripe.fetch);
  });
});
