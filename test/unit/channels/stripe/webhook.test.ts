import { describe, expect, it } from "vitest";
import { stripe } from "../../../../src/channels/stripe/webhook";
import { call, flipByte, NOW, refused } from "../../../support/channels";
import { stripeEvent, stripeSignature } from "../../../support/providers";

describe("Stripe webhooks", () => {
  const secret = "whsec_test_0123456789abcdef";
  const adapter = stripe({ webhookSecrets: [secret], livemode: false });
  const body = stripeEvent({ id: "evt_1", orderNo: "order_03", intentId: "pi_1", amountMinor: 5200 });

  it("accepts a v1 signature over t.body and reads the payment intent", async () => {
    const outcome = await call(adapter, body, { "stripe-signature": await stripeSignature(secret, body, NOW) });
    expect(outcome.ok && outcome.notification).toMatchObject({
      eventId: "evt_1",
      event: {
        kind: "payment",
        status: "succeeded",
        merchantOrderNo: "order_03",
        providerTxnId: "pi_1",
        amountMinor: 5200,
      },
    });
  });

  it("accepts when any of several v1 signatures matches (a secret rolling over)", async () => {
    const real = await stripeSignature(secret, body, NOW);
    const header = `t=${Math.floor(NOW / 1000)},v1=${"ab".repeat(32)},${real.split(",")[1]}`;
    expect((await call(adapter, body, { "stripe-signature": header })).ok).toBe(true);
  });

  it("refuses a v0-only header, a flipped byte, a wrong secret and a stale t", async () => {
    const real = await stripeSignature(secret, body, NOW);
    const v0Only = real.replace("v1=", "v0=");
    expect(refused(await call(adapter, body, { "stripe-signature": v0Only }))).toBe("missing_signature");
    expect(refused(await call(adapter, flipByte(body, 20), { "stripe-signature": real }))).toBe("bad_signature");
    expect(
      refused(await call(adapter, body, { "stripe-signature": await stripeSignature("whsec_other", body, NOW) })),
    ).toBe("bad_signature");
    expect(
      refused(await call(adapter, body, { "stripe-signature": await stripeSignature(secret, body, NOW - 301_000) })),
    ).toBe("stale_timestamp");
  });

  it("acknowledges event types it does not act on", async () => {
    const other = stripeEvent({ type: "customer.created", orderNo: "x", intentId: "cus_1", amountMinor: 1 });
    const outcome = await call(adapter, other, { "stripe-signature": await stripeSignature(secret, other, NOW) });
    expect(outcome.ok && outcome.notification.event.kind).toBe("ignored");
  });
});
