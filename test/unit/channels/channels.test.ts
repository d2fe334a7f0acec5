import { beforeAll, describe, expect, it } from "vitest";
import { alipay } from "../../../src/channels/alipay";
import type { ChannelAdapter, VerifyOutcome } from "../../../src/channels/channel";
import { utf8Bytes } from "../../../src/channels/encoding";
import { sandbox, signSandbox } from "../../../src/channels/sandbox";
import { stripe } from "../../../src/channels/stripe";
import { wechatPay } from "../../../src/channels/wechatpay";
import {
  alipayBody,
  alipayTrade,
  type RsaPair,
  rsaPair,
  stripeEvent,
  stripeSignature,
  wechatBody,
  wechatHeaders,
  wechatTransaction,
} from "../../support/providers";

const NOW = Date.UTC(2026, 10, 22, 2, 0, 0);
const call = (adapter: ChannelAdapter, body: string | Uint8Array<ArrayBuffer>, headers: Record<string, string>) =>
  adapter.verify({ headers: new Headers(headers), body: typeof body === "string" ? utf8Bytes(body) : body }, NOW);

function refused(outcome: VerifyOutcome): string {
  return outcome.ok ? "accepted" : outcome.failure;
}

function flipByte(body: string, at: number): Uint8Array<ArrayBuffer> {
  const bytes = utf8Bytes(body);
  bytes[at] = (bytes[at] as number) ^ 0x01;
  return bytes;
}

describe("WeChat Pay v3 notifications", () => {
  const apiV3Key = "0123456789abcdef0123456789abcdef";
  let platform: RsaPair;
  let other: RsaPair;
  let adapter: ChannelAdapter;
  const keys = new Map<string, string>();
  const tx = wechatTransaction({
    appid: "wx-app",
    mchid: "1900000109",
    orderNo: "order_01",
    txnId: "4200000001",
    amountMinor: 880,
  });

  beforeAll(async () => {
    platform = await rsaPair();
    other = await rsaPair();
    keys.set("PUB_KEY_ID_0001", platform.publicPem);
    adapter = wechatPay({
      mchId: "1900000109",
      appId: "wx-app",
      apiV3Key,
      platformKeys: keys,
    });
  });

  const signed = async (resource = tx, o: { key?: CryptoKey; serial?: string; nowMs?: number } = {}) => {
    const body = await wechatBody(resource, { apiV3Key, platformKey: platform.privateKey, serial: "x", nowMs: NOW });
    const headers = await wechatHeaders(body, {
      platformKey: o.key ?? platform.privateKey,
      serial: o.serial ?? "PUB_KEY_ID_0001",
      nowMs: o.nowMs ?? NOW,
    });
    return { body, headers };
  };

  it("accepts a notification signed and sealed as WeChat does, and reads the transaction from the ciphertext", async () => {
    const { body, headers } = await signed();
    const outcome = await call(adapter, body, headers);
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    expect(outcome.notification.event).toEqual({
      kind: "payment",
      status: "succeeded",
      merchantOrderNo: "order_01",
      providerTxnId: "4200000001",
      amountMinor: 880,
      currency: "CNY",
      merchant: [
        { field: "mchid", expected: "1900000109", actual: "1900000109" },
        { field: "appid", expected: "wx-app", actual: "wx-app" },
      ],
    });
    expect(adapter.received().status).toBe(204);
    const retry = adapter.retryLater("db down");
    expect(retry.status).toBe(500);
    expect(await retry.json()).toEqual({ code: "FAIL", message: "db down" });
  });

  it("refuses a body with one flipped byte", async () => {
    const { body, headers } = await signed();
    expect(refused(await call(adapter, flipByte(body, 40), headers))).toBe("bad_signature");
  });

  it("refuses a signature made with another key under the right serial", async () => {
    const { body, headers } = await signed(tx, { key: other.privateKey });
    expect(refused(await call(adapter, body, headers))).toBe("bad_signature");
  });

  it("refuses a serial it does not hold; during a rotation both listed serials verify", async () => {
    const { body, headers } = await signed(tx, { serial: "PUB_KEY_ID_9999" });
    expect(refused(await call(adapter, body, headers))).toBe("unknown_key");
    const rotating = wechatPay({
      mchId: "1900000109",
      appId: "wx-app",
      apiV3Key,
      platformKeys: new Map([...keys, ["PUB_KEY_ID_0002", other.publicPem]]),
    });
    const rotated = await signed(tx, { key: other.privateKey, serial: "PUB_KEY_ID_0002" });
    expect((await call(rotating, rotated.body, rotated.headers)).ok).toBe(true);
    const old = await signed();
    expect((await call(rotating, old.body, old.headers)).ok).toBe(true);
    // A rotated key signing under the old serial is still refused.
    const mixed = await signed(tx, { key: other.privateKey, serial: "PUB_KEY_ID_0001" });
    expect(refused(await call(rotating, mixed.body, mixed.headers))).toBe("bad_signature");
  });

  it("refuses timestamps more than 300 s old or ahead, and accepts at the edge", async () => {
    for (const [skewS, expected] of [
      [-301, "stale_timestamp"],
      [301, "stale_timestamp"],
      [-300, "accepted"],
      [299, "accepted"],
    ] as const) {
      const { body, headers } = await signed(tx, { nowMs: NOW + skewS * 1000 });
      expect(refused(await call(adapter, body, headers)), `skew ${skewS}s`).toBe(expected);
    }
  });

  it("refuses the WECHATPAY/SIGNTEST/ probe signature", async () => {
    const { body, headers } = await signed();
    headers["wechatpay-signature"] = `WECHATPAY/SIGNTEST/${headers["wechatpay-signature"]}`;
    expect(refused(await call(adapter, body, headers))).toBe("probe_signature");
  });

  it("refuses tampered ciphertext or associated data even under a valid signature", async () => {
    const original = JSON.parse((await signed()).body);
    const sealed = Buffer.from(original.resource.ciphertext, "base64");
    sealed[3] = (sealed[3] as number) ^ 0x01;
    for (const resource of [
      { ...original.resource, ciphertext: sealed.toString("base64") },
      { ...original.resource, associated_data: "refund" },
      { ...original.resource, nonce: "aaaaaaaaaaaa" },
    ]) {
      const body = JSON.stringify({ ...original, resource });
      const headers = await wechatHeaders(body, {
        platformKey: platform.privateKey,
        serial: "PUB_KEY_ID_0001",
        nowMs: NOW,
      });
      expect(refused(await call(adapter, body, headers))).toBe("decrypt_failed");
    }
  });

  it("refuses a resource sealed with another APIv3 key", async () => {
    const body = await wechatBody(tx, {
      apiV3Key: "ffffffffffffffffffffffffffffffff",
      platformKey: platform.privateKey,
      serial: "x",
      nowMs: NOW,
    });
    const headers = await wechatHeaders(body, {
      platformKey: platform.privateKey,
      serial: "PUB_KEY_ID_0001",
      nowMs: NOW,
    });
    expect(refused(await call(adapter, body, headers))).toBe("decrypt_failed");
  });

  it("reports the merchant ids the transaction names, so a foreign mchid can be flagged", async () => {
    const { body, headers } = await signed({ ...tx, mchid: "1230000000" });
    const outcome = await call(adapter, body, headers);
    expect(
      outcome.ok && outcome.notification.event.kind === "payment" && outcome.notification.event.merchant[0],
    ).toEqual({ field: "mchid", expected: "1900000109", actual: "1230000000" });
  });

  it("refuses missing headers and another signature type", async () => {
    const { body, headers } = await signed();
    const { "wechatpay-serial": _, ...noSerial } = headers;
    expect(refused(await call(adapter, body, noSerial))).toBe("missing_signature");
    expect(
      refused(await call(adapter, body, { ...headers, "wechatpay-signature-type": "WECHATPAY2-SM2-WITH-SM3" })),
    ).toBe("weak_algorithm");
  });
});

describe("Alipay asynchronous notifications (RSA2)", () => {
  let alipayKeys: RsaPair;
  let appKeys: RsaPair;
  let adapter: ChannelAdapter;
  const trade = alipayTrade({
    appId: "2021000000000001",
    sellerId: "2088000000000001",
    orderNo: "order_02",
    tradeNo: "2026112222001",
    totalAmount: "18.80",
    notifyId: "notify-1",
  });

  beforeAll(async () => {
    alipayKeys = await rsaPair();
    appKeys = await rsaPair();
    // The bare base64 body, as Alipay's console shows the key.
    const bare = alipayKeys.publicPem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
    adapter = alipay({ appId: "2021000000000001", sellerId: "2088000000000001", alipayPublicKey: bare });
  });

  const form = { "content-type": "application/x-www-form-urlencoded; charset=utf-8" };

  it("accepts a notify signed over the sorted parameters, with the yuan amount parsed to fen exactly", async () => {
    const body = await alipayBody(trade, { alipayKey: alipayKeys.privateKey });
    const outcome = await call(adapter, body, form);
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    expect(outcome.notification.eventId).toBe("notify-1");
    expect(outcome.notification.event).toMatchObject({
      kind: "payment",
      status: "succeeded",
      merchantOrderNo: "order_02",
      providerTxnId: "2026112222001",
      amountMinor: 1880,
    });
    const ack = adapter.received();
    expect(await ack.text()).toBe("success");
  });

  it("keeps empty values and non-ASCII text in the signed string", async () => {
    const body = await alipayBody(
      { ...trade, body: "", subject: "火箭 🚀 & 玫瑰=1" },
      { alipayKey: alipayKeys.privateKey },
    );
    expect((await call(adapter, body, form)).ok).toBe(true);
  });

  it("refuses a flipped byte, a signature by the app's own key, and sign_type RSA (SHA1)", async () => {
    const body = await alipayBody(trade, { alipayKey: alipayKeys.privateKey });
    const at = body.indexOf("total_amount=") + "total_amount=".length;
    expect(refused(await call(adapter, flipByte(body, at), form))).toBe("bad_signature");
    expect(refused(await call(adapter, await alipayBody(trade, { alipayKey: appKeys.privateKey }), form))).toBe(
      "bad_signature",
    );
    expect(
      refused(
        await call(adapter, await alipayBody(trade, { alipayKey: alipayKeys.privateKey, signType: "RSA" }), form),
      ),
    ).toBe("weak_algorithm");
  });

  it("refuses a repeated parameter and amounts that are not exact yuan decimals", async () => {
    const body = await alipayBody(trade, { alipayKey: alipayKeys.privateKey });
    expect(refused(await call(adapter, `${body}&out_trade_no=order_99`, form))).toBe("malformed");
    for (const totalAmount of ["18.805", "1e3", "-1.00", "18,80"]) {
      const bad = await alipayBody({ ...trade, total_amount: totalAmount }, { alipayKey: alipayKeys.privateKey });
      expect(refused(await call(adapter, bad, form)), totalAmount).toBe("malformed");
    }
  });

  it("treats WAIT_BUYER_PAY as nothing to do and TRADE_CLOSED as closed", async () => {
    const waiting = await call(
      adapter,
      await alipayBody({ ...trade, trade_status: "WAIT_BUYER_PAY" }, { alipayKey: alipayKeys.privateKey }),
      form,
    );
    expect(waiting.ok && waiting.notification.event.kind).toBe("ignored");
    const closed = await call(
      adapter,
      await alipayBody({ ...trade, trade_status: "TRADE_CLOSED" }, { alipayKey: alipayKeys.privateKey }),
      form,
    );
    expect(closed.ok && closed.notification.event.kind === "payment" && closed.notification.event.status).toBe(
      "closed",
    );
  });

  it("reads a refund notify: the cumulative refund_fee and the refund request id", async () => {
    const body = await alipayBody(
      { ...trade, refund_fee: "5.00", gmt_refund: "2026-11-22 11:00:00.000", out_biz_no: "rf_1" },
      { alipayKey: alipayKeys.privateKey },
    );
    const outcome = await call(adapter, body, form);
    expect(outcome.ok && outcome.notification.event).toMatchObject({
      kind: "refund",
      providerRefundId: "rf_1",
      refundedTotalMinor: 500,
    });
  });
});

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

describe("sandbox channel", () => {
  const adapter = sandbox({ secret: "sandbox-secret", merchantId: "giftwire-sandbox" });
  const body = JSON.stringify({
    id: "evt_sandbox1",
    type: "payment.succeeded",
    merchant_id: "giftwire-sandbox",
    order_no: "order_04",
    txn_id: "sbx_1",
    amount_minor: 660,
    currency: "CNY",
  });

  it("accepts its own signature and refuses a forged one", async () => {
    const good = await call(adapter, body, { "sandbox-signature": await signSandbox("sandbox-secret", body, NOW) });
    expect(good.ok && good.notification.event).toMatchObject({
      kind: "payment",
      amountMinor: 660,
      providerTxnId: "sbx_1",
    });
    const forged = await call(adapter, body, { "sandbox-signature": await signSandbox("guess", body, NOW) });
    expect(refused(forged)).toBe("bad_signature");
    const tampered = await call(adapter, body.replace("660", "960"), {
      "sandbox-signature": await signSandbox("sandbox-secret", body, NOW),
    });
    expect(refused(tampered)).toBe("bad_signature");
  });
});
