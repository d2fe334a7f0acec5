import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type AlipayApiConfig,
  alipayClient,
  alipayRequestSigningString,
  alipayTime,
  rawJsonMember,
} from "../../../src/channels/alipay-api";
import { ChannelEventSchema } from "../../../src/channels/channel";
import type { ChannelClient, ClientDeps, Outbound, RefundRequest } from "../../../src/channels/client";
import { paymentIdempotencyKey, STRIPE_API_VERSION, stripeClient } from "../../../src/channels/stripe-api";
import { type WechatPayApiConfig, wechatPayClient, wechatTimeExpire } from "../../../src/channels/wechatpay-api";
import {
  AlipayDouble,
  type AlipayTradeStatus,
  pkcs8Pem,
  StripeDouble,
  WechatPayDouble,
  type WechatTradeState,
} from "../../support/provider-apis";
import { type RsaPair, rsaPair } from "../../support/providers";

const NOW = Date.UTC(2026, 10, 22, 2, 0, 0); // 10:00:00 in Beijing
const now = () => NOW;
const deps = (fetch: typeof globalThis.fetch, timeoutMs = 2_000): ClientDeps => ({ fetch, now, timeoutMs });

const order = {
  merchantOrderNo: "ord_01JDQ7Z3K9",
  amountMinor: 1880,
  currency: "CNY",
  description: "giftwire 充值",
  notifyUrl: "https://giftwire.example/payments/callback",
  expiresAtMs: NOW + 15 * 60_000,
};

const refundOf = (o: Partial<RefundRequest> = {}): RefundRequest => ({
  merchantOrderNo: order.merchantOrderNo,
  providerTxnId: null,
  providerRef: null,
  refundNo: "rfd_01JDQ8A1",
  amountMinor: 880,
  totalMinor: order.amountMinor,
  currency: "CNY",
  reason: "viewer asked for a refund",
  ...o,
});

function value<T>(outcome: Outbound<T>): T {
  if (!outcome.ok) throw new Error(`expected success, got ${JSON.stringify(outcome.failure)}`);
  return outcome.value;
}

function failure<T>(outcome: Outbound<T>): { kind: string; code?: string } {
  if (outcome.ok) throw new Error(`expected a failure, got ${JSON.stringify(outcome.value)}`);
  const f = outcome.failure;
  return f.kind === "rejected" ? { kind: f.kind, code: f.code } : { kind: f.kind };
}

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
});

describe("WeChat Pay v3 client", () => {
  const mchId = "1900000109";
  const appId = "wxd678efh567hg6787";
  const merchantSerial = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
  const platformSerial = "PUB_KEY_ID_0114232806022025060500000000";
  let merchant: RsaPair;
  let platform: RsaPair;
  let intruder: RsaPair;
  let config: WechatPayApiConfig;
  let wechat: WechatPayDouble;
  let client: ChannelClient;

  beforeAll(async () => {
    [merchant, platform, intruder] = await Promise.all([rsaPair(), rsaPair(), rsaPair()]);
    config = {
      mchId,
      appId,
      merchantSerial,
      merchantPrivateKey: await pkcs8Pem(merchant.privateKey),
      apiV3Key: "0123456789abcdef0123456789abcdef",
      platformKeys: new Map([[platformSerial, platform.publicPem]]),
    };
  });

  beforeEach(async () => {
    wechat = await WechatPayDouble.create({
      mchId,
      appId,
      merchantSerial,
      merchantPublicPem: merchant.publicPem,
      platformKey: platform.privateKey,
      platformSerial,
      now,
    });
    client = wechatPayClient(config, deps(wechat.fetch));
  });

  it("formats time_expire as RFC 3339 in Beijing time", () => {
    expect(wechatTimeExpire(NOW + 15 * 60_000)).toBe("2026-11-22T10:15:00+08:00");
  });

  it("opens a Native order with the documented signed request and shows its code_url as a QR code", async () => {
    const created = value(await client.createPayment(order));
    const sent = wechat.last;
    expect(sent.method).toBe("POST");
    expect(sent.url.href).toBe("https://api.mch.weixin.qq.com/v3/pay/transactions/native");
    expect(sent.headers.get("accept")).toBe("application/json");
    expect(sent.headers.get("content-type")).toBe("application/json");
    expect(sent.headers.get("user-agent")).toBeTruthy();
    expect(sent.headers.get("authorization")).toMatch(
      new RegExp(
        `^WECHATPAY2-SHA256-RSA2048 mchid="${mchId}",nonce_str="[0-9a-f]{32}",signature="[A-Za-z0-9+/]+={0,2}",timestamp="${NOW / 1000}",serial_no="${merchantSerial}"$`,
      ),
    );
    expect(JSON.parse(sent.body)).toEqual({
      appid: appId,
      mchid: mchId,
      description: "giftwire 充值",
      out_trade_no: order.merchantOrderNo,
      time_expire: "2026-11-22T10:15:00+08:00",
      notify_url: order.notifyUrl,
      amount: { total: 1880, currency: "CNY" },
    });
    const codeUrl = wechat.orders.get(order.merchantOrderNo)?.codeUrl;
    expect(codeUrl).toMatch(/^weixin:\/\/wxpay\/bizpayurl\?pr=/);
    expect(created).toEqual({ step: { kind: "qr_code", codeUrl }, providerRef: null });
  });

  it("queries by out_trade_no with the merchant id in the query string and an empty signed body", async () => {
    await client.createPayment(order);
    await client.queryPayment(order.merchantOrderNo, null);
    const sent = wechat.last;
    expect(sent.method).toBe("GET");
    expect(sent.url.href).toBe(
      `https://api.mch.weixin.qq.com/v3/pay/transactions/out-trade-no/${order.merchantOrderNo}?mchid=${mchId}`,
    );
    expect(sent.body).toBe("");
    expect(sent.headers.get("content-type")).toBeNull();
  });

  it.each(["NOTPAY", "USERPAYING"] as const)("reads %s as still open", async (state) => {
    await client.createPayment(order);
    wechat.setState(order.merchantOrderNo, state);
    expect(value(await client.queryPayment(order.merchantOrderNo, null))).toEqual({ state: "open" });
  });

  it("reads SUCCESS as a final success with the transaction id, the amount in fen and the merchant checks", async () => {
    await client.createPayment(order);
    wechat.pay(order.merchantOrderNo);
    const result = value(await client.queryPayment(order.merchantOrderNo, null));
    expect(result).toEqual({
      state: "final",
      event: {
        kind: "payment",
        status: "succeeded",
        merchantOrderNo: order.merchantOrderNo,
        providerTxnId: wechat.orders.get(order.merchantOrderNo)?.transactionId,
        amountMinor: 1880,
        currency: "CNY",
        merchant: [
          { field: "mchid", expected: mchId, actual: mchId },
          { field: "appid", expected: appId, actual: appId },
        ],
      },
    });
    if (result.state === "final") expect(ChannelEventSchema.safeParse(result.event).success).toBe(true);
  });

  it.each([
    ["CLOSED", "closed"],
    ["REVOKED", "closed"],
    ["PAYERROR", "failed"],
  ] as [WechatTradeState, string][])("reads %s as a final %s", async (state, status) => {
    await client.createPayment(order);
    wechat.setState(order.merchantOrderNo, state);
    const result = value(await client.queryPayment(order.merchantOrderNo, null));
    expect(result.state === "final" && result.event.status).toBe(status);
  });

  it("answers unknown when WeChat signs ORDER_NOT_EXIST, and does not take an unsigned one for it", async () => {
    expect(value(await client.queryPayment("ord_never_opened", null))).toEqual({ state: "unknown" });
    wechat.unsignNext();
    expect(failure(await client.queryPayment("ord_never_opened", null))).toEqual({ kind: "unavailable" });
  });

  it("applies for a refund with out_trade_no, out_refund_no and the amounts in fen", async () => {
    await client.createPayment(order);
    wechat.pay(order.merchantOrderNo);
    const refund = value(await client.refund(refundOf()));
    expect(wechat.last.url.pathname).toBe("/v3/refund/domestic/refunds");
    expect(JSON.parse(wechat.last.body)).toEqual({
      out_trade_no: order.merchantOrderNo,
      out_refund_no: "rfd_01JDQ8A1",
      reason: "viewer asked for a refund",
      amount: { refund: 880, total: 1880, currency: "CNY" },
    });
    expect(refund).toEqual({ providerRefundId: wechat.refunds.get("rfd_01JDQ8A1")?.refundId, status: "pending" });
    // The same out_refund_no again is the same refund.
    expect(value(await client.refund(refundOf()))).toEqual(refund);
    expect(wechat.refunds.size).toBe(1);
  });

  it("reports a refund WeChat answers SUCCESS as succeeded", async () => {
    await client.createPayment(order);
    wechat.pay(order.merchantOrderNo);
    wechat.refundStatus = "SUCCESS";
    expect(value(await client.refund(refundOf())).status).toBe("succeeded");
  });

  it.each(["ABNORMAL", "CLOSED"] as const)("rejects a refund WeChat answers %s", async (status) => {
    await client.createPayment(order);
    wechat.pay(order.merchantOrderNo);
    wechat.refundStatus = status;
    expect(failure(await client.refund(refundOf()))).toEqual({ kind: "rejected", code: `REFUND_${status}` });
  });

  it("rejects with WeChat's code when WeChat refuses the request", async () => {
    await client.createPayment(order);
    wechat.pay(order.merchantOrderNo);
    expect(failure(await client.createPayment(order))).toEqual({ kind: "rejected", code: "ORDERPAID" });
    expect(failure(await client.refund(refundOf({ amountMinor: 5000 })))).toEqual({
      kind: "rejected",
      code: "PARAM_ERROR",
    });
  });

  it.each([500, 502, 503, 429])("is unavailable on HTTP %i", async (status) => {
    wechat.failNext(1, status);
    expect(failure(await client.createPayment(order))).toEqual({ kind: "unavailable" });
  });

  it("is unavailable when WeChat does not answer within the deadline", async () => {
    const impatient = wechatPayClient(config, deps(wechat.fetch, 30));
    wechat.hangNext();
    const outcome = await impatient.queryPayment(order.merchantOrderNo, null);
    expect(!outcome.ok && outcome.failure.detail).toMatch(/timed out/);
  });

  it("does not trust a 2xx whose signature does not verify, is missing, is stale or names an unknown key", async () => {
    await client.createPayment(order);
    wechat.pay(order.merchantOrderNo);
    wechat.tamperNext();
    expect(failure(await client.queryPayment(order.merchantOrderNo, null))).toEqual({ kind: "unavailable" });
    wechat.unsignNext();
    expect(failure(await client.queryPayment(order.merchantOrderNo, null))).toEqual({ kind: "unavailable" });
    wechat.answerClockSkewS = -301;
    expect(failure(await client.queryPayment(order.merchantOrderNo, null))).toEqual({ kind: "unavailable" });
    wechat.answerClockSkewS = 0;
    wechat.answerSerial = "PUB_KEY_ID_NOT_DEPLOYED";
    const outcome = await client.queryPayment(order.merchantOrderNo, null);
    expect(!outcome.ok && outcome.failure.detail).toMatch(/unknown platform serial/);
    wechat.answerSerial = null;
    expect(value(await client.queryPayment(order.merchantOrderNo, null)).state).toBe("final");
  });

  it("retries an order whose answer was not trusted and gets the same code_url from WeChat", async () => {
    wechat.tamperNext();
    expect(failure(await client.createPayment(order))).toEqual({ kind: "unavailable" });
    const again = value(await client.createPayment(order));
    expect(again.step).toEqual({ kind: "qr_code", codeUrl: wechat.orders.get(order.merchantOrderNo)?.codeUrl });
  });

  it("does not trust a signed refusal whose signature does not verify", async () => {
    await client.createPayment(order);
    wechat.pay(order.merchantOrderNo);
    wechat.tamperNext();
    expect(failure(await client.createPayment(order))).toEqual({ kind: "unavailable" });
  });

  it("is refused by WeChat (401 SIGN_ERROR) when the request is signed with another merchant key", async () => {
    const intruding = wechatPayClient(
      { ...config, merchantPrivateKey: await pkcs8Pem(intruder.privateKey) },
      deps(wechat.fetch),
    );
    expect(failure(await intruding.createPayment(order))).toEqual({ kind: "rejected", code: "SIGN_ERROR" });
    expect(wechat.orders.size).toBe(0);
  });
});

describe("Alipay client", () => {
  const appId = "2021000000000001";
  const sellerId = "2088000000000001";
  let app: RsaPair;
  let alipayPair: RsaPair;
  let intruder: RsaPair;
  let config: AlipayApiConfig;
  let alipay: AlipayDouble;
  let client: ChannelClient;

  beforeAll(async () => {
    [app, alipayPair, intruder] = await Promise.all([rsaPair(), rsaPair(), rsaPair()]);
    config = {
      appId,
      sellerId,
      appPrivateKey: await pkcs8Pem(app.privateKey),
      // The console shows Alipay's key as bare base64; the client takes either form.
      alipayPublicKey: alipayPair.publicPem.replace(/-----[A-Z ]+-----|\s/g, ""),
    };
  });

  beforeEach(async () => {
    alipay = await AlipayDouble.create({
      appId,
      sellerId,
      appPublicPem: app.publicPem,
      alipayKey: alipayPair.privateKey,
      now,
    });
    client = alipayClient(config, deps(alipay.fetch));
  });

  const sentParams = () => Object.fromEntries(new URLSearchParams(alipay.last.body));

  it("formats gateway and trade times as yyyy-MM-dd HH:mm:ss in Beijing time", () => {
    expect(alipayTime(NOW)).toBe("2026-11-22 10:00:00");
  });

  it("signs every request parameter but sign, sign_type included, empty values dropped, sorted, unencoded", () => {
    const params = new Map([
      ["timestamp", "2026-11-22 10:00:00"],
      ["sign_type", "RSA2"],
      ["app_id", appId],
      ["sign", "ignored"],
      ["notify_url", ""],
      ["biz_content", '{"out_trade_no":"o&1"}'],
    ]);
    expect(alipayRequestSigningString(params)).toBe(
      `app_id=${appId}&biz_content={"out_trade_no":"o&1"}&sign_type=RSA2&timestamp=2026-11-22 10:00:00`,
    );
  });

  it("cuts a member's raw text out of a JSON body without re-serializing it", () => {
    const body = '{"a_response":{"qr_code":"https:\\/\\/qr.alipay.com\\/x","n":{"s":"}\\""}} ,"sign":"c2ln"}';
    expect(rawJsonMember(body, "a_response")).toBe('{"qr_code":"https:\\/\\/qr.alipay.com\\/x","n":{"s":"}\\""}}');
    expect(rawJsonMember(body, "sign")).toBe('"c2ln"');
    expect(rawJsonMember(body, "missing")).toBeNull();
    expect(rawJsonMember('{"a":', "a")).toBeNull();
  });

  it("precreates a trade with the documented common parameters, signed with the app key, and shows its qr_code", async () => {
    const created = value(await client.createPayment(order));
    const sent = alipay.last;
    expect(sent.method).toBe("POST");
    expect(sent.url.href).toBe("https://openapi.alipay.com/gateway.do");
    expect(sent.headers.get("content-type")).toBe("application/x-www-form-urlencoded;charset=utf-8");
    const { sign, ...params } = sentParams();
    expect(sign).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    expect(params).toEqual({
      app_id: appId,
      method: "alipay.trade.precreate",
      format: "JSON",
      charset: "utf-8",
      sign_type: "RSA2",
      timestamp: "2026-11-22 10:00:00",
      version: "1.0",
      notify_url: order.notifyUrl,
      biz_content: JSON.stringify({
        out_trade_no: order.merchantOrderNo,
        total_amount: "18.80",
        subject: "giftwire 充值",
        seller_id: sellerId,
        time_expire: "2026-11-22 10:15:00",
      }),
    });
    // The double wrote the qr_code as https:\/\/qr.alipay.com\/…: only the raw node verifies.
    const qrCode = alipay.orders.get(order.merchantOrderNo)?.qrCode;
    expect(qrCode).toMatch(/^https:\/\/qr\.alipay\.com\//);
    expect(created).toEqual({ step: { kind: "qr_code", codeUrl: qrCode }, providerRef: null });
  });

  it("answers unknown for a precreated trade nobody has scanned, as Alipay has no trade yet", async () => {
    await client.createPayment(order);
    expect(value(await client.queryPayment(order.merchantOrderNo, null))).toEqual({ state: "unknown" });
    expect(JSON.parse(sentParams().biz_content as string)).toEqual({ out_trade_no: order.merchantOrderNo });
    expect(sentParams().notify_url).toBeUndefined();
  });

  it("reads WAIT_BUYER_PAY as still open", async () => {
    await client.createPayment(order);
    alipay.scan(order.merchantOrderNo);
    expect(value(await client.queryPayment(order.merchantOrderNo, null))).toEqual({ state: "open" });
  });

  it.each([
    ["TRADE_SUCCESS", "succeeded"],
    ["TRADE_FINISHED", "succeeded"],
    ["TRADE_CLOSED", "closed"],
  ] as [AlipayTradeStatus, string][])(
    "reads %s as a final %s with the trade_no and the amount in fen",
    async (tradeStatus, status) => {
      await client.createPayment(order);
      alipay.setStatus(order.merchantOrderNo, tradeStatus);
      const result = value(await client.queryPayment(order.merchantOrderNo, null));
      expect(result).toEqual({
        state: "final",
        event: {
          kind: "payment",
          status,
          merchantOrderNo: order.merchantOrderNo,
          providerTxnId: alipay.orders.get(order.merchantOrderNo)?.tradeNo,
          amountMinor: 1880,
          currency: "CNY",
          merchant: [],
        },
      });
      if (result.state === "final") expect(ChannelEventSchema.safeParse(result.event).success).toBe(true);
    },
  );

  it.each([
    [1880, "18.80"],
    [1, "0.01"],
    [5_000_000, "50000.00"],
    [660, "6.60"],
  ])("sends %i fen as total_amount %s and reads it back exactly", async (amountMinor, yuan) => {
    await client.createPayment({ ...order, amountMinor });
    expect(JSON.parse(sentParams().biz_content as string).total_amount).toBe(yuan);
    alipay.pay(order.merchantOrderNo);
    const result = value(await client.queryPayment(order.merchantOrderNo, null));
    expect(result.state === "final" && result.event.amountMinor).toBe(amountMinor);
  });

  it("refunds with out_request_no and an exact yuan refund_amount; a repeat moves no money and stays pending", async () => {
    await client.createPayment(order);
    alipay.pay(order.merchantOrderNo);
    const refund = value(await client.refund(refundOf()));
    expect(sentParams().method).toBe("alipay.trade.refund");
    expect(JSON.parse(sentParams().biz_content as string)).toEqual({
      out_trade_no: order.merchantOrderNo,
      refund_amount: "8.80",
      refund_reason: "viewer asked for a refund",
      out_request_no: "rfd_01JDQ8A1",
    });
    const tradeNo = alipay.orders.get(order.merchantOrderNo)?.tradeNo;
    expect(refund).toEqual({ providerRefundId: `${tradeNo}:rfd_01JDQ8A1`, status: "succeeded" });
    expect(value(await client.refund(refundOf()))).toEqual({ ...refund, status: "pending" });
    expect(alipay.orders.get(order.merchantOrderNo)?.refunds.size).toBe(1);
  });

  it("rejects with Alipay's sub_code on a business failure", async () => {
    await client.createPayment(order);
    alipay.scan(order.merchantOrderNo);
    expect(failure(await client.refund(refundOf()))).toEqual({ kind: "rejected", code: "ACQ.TRADE_STATUS_ERROR" });
  });

  it("is unavailable when the gateway answers 20000 (service unavailable)", async () => {
    alipay.busyNext();
    expect(failure(await client.createPayment(order))).toEqual({ kind: "unavailable" });
  });

  it.each([500, 502, 503])("is unavailable on HTTP %i", async (status) => {
    alipay.failNext(1, status);
    expect(failure(await client.createPayment(order))).toEqual({ kind: "unavailable" });
  });

  it("is unavailable when Alipay does not answer within the deadline", async () => {
    const impatient = alipayClient(config, deps(alipay.fetch, 30));
    alipay.hangNext();
    const outcome = await impatient.queryPayment(order.merchantOrderNo, null);
    expect(!outcome.ok && outcome.failure.detail).toMatch(/timed out/);
  });

  it("does not trust a success whose sign does not verify or is missing", async () => {
    await client.createPayment(order);
    alipay.pay(order.merchantOrderNo);
    alipay.tamperNext();
    expect(failure(await client.queryPayment(order.merchantOrderNo, null))).toEqual({ kind: "unavailable" });
    alipay.unsignNext();
    expect(failure(await client.queryPayment(order.merchantOrderNo, null))).toEqual({ kind: "unavailable" });
    expect(value(await client.queryPayment(order.merchantOrderNo, null)).state).toBe("final");
  });

  it("does not take an unsigned TRADE_NOT_EXIST for unknown", async () => {
    alipay.unsignNext();
    expect(failure(await client.queryPayment("ord_never_opened", null))).toEqual({ kind: "unavailable" });
  });

  it("does not trust an answer signed with a key other than Alipay's", async () => {
    const misconfigured = alipayClient({ ...config, alipayPublicKey: intruder.publicPem }, deps(alipay.fetch));
    expect(failure(await misconfigured.createPayment(order))).toEqual({ kind: "unavailable" });
  });

  it("is refused by Alipay (isv.invalid-signature) when the request is signed with another app key", async () => {
    const intruding = alipayClient(
      { ...config, appPrivateKey: await pkcs8Pem(intruder.privateKey) },
      deps(alipay.fetch),
    );
    expect(failure(await intruding.createPayment(order))).toEqual({ kind: "rejected", code: "isv.invalid-signature" });
    expect(alipay.orders.size).toBe(0);
  });

  it("refuses a currency Alipay does not trade in without calling it", async () => {
    expect(failure(await client.createPayment({ ...order, currency: "USD" }))).toEqual({
      kind: "rejected",
      code: "unsupported_currency",
    });
    expect(alipay.received).toHaveLength(0);
  });
});
