import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { signSandbox } from "../../dev/sandbox-provider/src/signature";
import { base64Bytes } from "../../src/channels/encoding";
import { applyPaymentReport } from "../../src/db/payment-reports";
import { configFrom } from "../../src/platform/config";
import { handlePaymentCallbacksBatch, type PaymentCallbackMessage } from "../../src/worker/queues/payment-callbacks";
import {
  alipayBody,
  alipayTrade,
  stripeEvent,
  stripeSignature,
  wechatBody,
  wechatHeaders,
  wechatTransaction,
} from "../support/providers";
import { payerDecidesAt } from "../support/sandbox-provider";
import {
  BASE,
  balanceOf,
  call,
  invariantReport,
  key,
  ledger,
  ledgerSnapshot,
  shardDbOfId,
  token,
  until,
} from "./helpers";

const quiet = { info() {}, warn() {}, error() {} };
const WECHAT = {
  mchid: "1900000109",
  appid: "wx-test-app",
  apiV3Key: "test-apiv3-key-0123456789abcdefg",
  serial: "PUB_KEY_ID_0114000000",
};
const ALIPAY = { appId: "2021000000000001", sellerId: "2088000000000001" };
const STRIPE_SECRET = "whsec_test_0123456789abcdef";

let wechatKey: CryptoKey;
let alipayKey: CryptoKey;

beforeAll(async () => {
  const keys = JSON.parse(env.TEST_PROVIDER_KEYS) as Record<string, { privatePkcs8Base64: string }>;
  const load = (b64: string) =>
    crypto.subtle.importKey(
      "pkcs8",
      base64Bytes(b64) as Uint8Array<ArrayBuffer>,
      { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      false,
      ["sign"],
    );
  wechatKey = await load(keys.wechatPlatform?.privatePkcs8Base64 ?? "");
  alipayKey = await load(keys.alipay?.privatePkcs8Base64 ?? "");
});

async function createOrder(userId: string, channel: string, amount: string, idempotencyKey = key()) {
  const res = await call("POST", "/v1/payments/orders", {
    token: await token(userId),
    idempotencyKey,
    body: { kind: "topup", channel, amount },
  });
  return res;
}

async function postCallback(channel: string, body: string | Uint8Array<ArrayBuffer>, headers: Record<string, string>) {
  const { exports } = await import("cloudflare:workers");
  return exports.default.fetch(`${BASE}/v1/payments/callbacks/${channel}`, { method: "POST", headers, body });
}

const control = async () => (await ledger()).control;
const orderState = async (id: string) =>
  (await (
    await shardDbOfId(id)
  )
    .prepare("SELECT state FROM payment_orders WHERE id = ?")
    .bind(id)
    .first<string>("state")) ?? "";
/** Orders in every shard. */
const orderCount = async () => {
  let n = 0;
  for (const shard of (await ledger()).shards) {
    n += (await shard.db.prepare("SELECT COUNT(*) AS n FROM payment_orders").first<number>("n")) ?? 0;
  }
  return n;
};
const wallet = (userId: string) => balanceOf(`user:${userId}:wallet`);
const credits = async (orderId: string) =>
  (await (
    await shardDbOfId(orderId)
  )
    .prepare("SELECT COUNT(*) AS n FROM operations WHERE id = ?")
    .bind(orderId)
    .first<number>("n")) ?? 0;
const unapplied = async () =>
  (await (
    await control()
  )
    .prepare("SELECT COUNT(*) AS n FROM payment_notifications WHERE verified = 1 AND applied_at_ms IS NULL")
    .first<number>("n")) ?? 0;
const flags = async (kind: string) =>
  (await (
    await control()
  )
    .prepare("SELECT COUNT(*) AS n FROM payment_flags WHERE kind = ?")
    .bind(kind)
    .first<number>("n")) ?? 0;

async function wechatCallback(orderNo: string, amountMinor: number, txnId: string, nowMs = Date.now()) {
  const body = await wechatBody(
    wechatTransaction({ appid: WECHAT.appid, mchid: WECHAT.mchid, orderNo, txnId, amountMinor }),
    {
      apiV3Key: WECHAT.apiV3Key,
      platformKey: wechatKey,
      serial: WECHAT.serial,
      nowMs,
    },
  );
  return { body, headers: await wechatHeaders(body, { platformKey: wechatKey, serial: WECHAT.serial, nowMs }) };
}

describe("payment orders", () => {
  it("creates a top-up idempotently and credits the wallet once the sandbox payer approves", async () => {
    const k = key();
    const created = await createOrder("pay-u1", "sandbox", "52.00", k);
    expect(created.status).toBe(201);
    expect(created.body.order).toMatchObject({
      state: "pending",
      amountMinor: 5200,
      channel: "sandbox",
      kind: "topup",
    });
    expect(created.body.order.id).toMatch(/^order_[0-9A-Z]{26}$/);
    // The payer link of the sandbox provider's checkout sheet, which the provider handed out.
    expect(created.body.payment).toEqual({
      kind: "sandbox_approval",
      url: expect.stringMatching(
        new RegExp(`^https://sandbox-provider\\.test/pay\\?order=${created.body.order.id}&code=[0-9a-f]{32}$`),
      ),
    });
    const replay = await createOrder("pay-u1", "sandbox", "52.00", k);
    expect(replay.status).toBe(200);
    expect(replay.body.order.id).toBe(created.body.order.id);
    const reused = await createOrder("pay-u1", "sandbox", "8.80", k);
    expect(reused.status).toBe(422);
    expect(reused.body.error.code).toBe("idempotency_key_reused");

    const orderId = created.body.order.id as string;
    const decided = await payerDecidesAt(created.body.payment.url, "succeeded");
    expect(decided.status).toBe(202);
    expect(decided.body.delivered).toBe(true);
    expect(
      await until(
        () => orderState(orderId),
        (s) => s === "succeeded",
      ),
    ).toBe("succeeded");
    expect(await wallet("pay-u1")).toBe(5200);
    const order = await call("GET", `/v1/payments/orders/${orderId}`, { token: await token("pay-u1") });
    expect(order.body.order).toMatchObject({ state: "succeeded", providerTxnId: `sbx_${orderId.slice(6)}` });
    const history = await (await shardDbOfId(orderId))
      .prepare("SELECT seq, from_state, to_state, cause FROM payment_order_transitions WHERE order_id = ? ORDER BY seq")
      .bind(orderId)
      .all();
    expect(history.results).toEqual([
      { seq: 0, from_state: null, to_state: "created", cause: "created" },
      { seq: 1, from_state: "created", to_state: "pending", cause: "channel_opened" },
      { seq: 2, from_state: "pending", to_state: "succeeded", cause: "callback" },
    ]);
    // Someone else cannot read it.
    expect((await call("GET", `/v1/payments/orders/${orderId}`, { token: await token("pay-other") })).status).toBe(404);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("rejects bad input with a stable code and creates nothing", async () => {
    const before = await orderCount();
    for (const [body, code] of [
      [{ channel: "sandbox", amount: "0" }, "amount_out_of_range"],
      [{ channel: "sandbox", amount: "50000.01" }, "amount_out_of_range"],
      [{ channel: "sandbox", amount: "1.234" }, "malformed_request"],
      [{ channel: "paypal", amount: "1.00" }, "malformed_request"],
    ] as const) {
      const res = await call("POST", "/v1/payments/orders", {
        token: await token("pay-u2"),
        idempotencyKey: key(),
        body,
      });
      expect(res.body.error.code, JSON.stringify(body)).toBe(code);
    }
    const noKey = await call("POST", "/v1/payments/orders", {
      token: await token("pay-u2"),
      body: { channel: "sandbox", amount: "1.00" },
    });
    expect(noKey.body.error.code).toBe("idempotency_key_missing");
    expect(await orderCount()).toBe(before);
  });
});

describe("payment callbacks", () => {
  it("WeChat Pay: a verified callback credits once; 1,000 concurrent deliveries and 10,000 queue redeliveries change nothing more", {
    timeout: 180_000,
  }, async () => {
    const order = (await createOrder("pay-wx1", "wechatpay", "18.80")).body.order;
    const { body, headers } = await wechatCallback(order.id, 1880, "4200000000000001");
    const first = await postCallback("wechatpay", body, headers);
    expect(first.status).toBe(204);
    expect(await first.text()).toBe("");
    expect(
      await until(
        () => wallet("pay-wx1"),
        (b) => b === 1880,
      ),
    ).toBe(1880);

    // The provider resends (same notification id, fresh signature each time), concurrently.
    const resends = await Promise.all(
      Array.from({ length: 1_000 }, async () => {
        const again = await wechatHeaders(body, { platformKey: wechatKey, serial: WECHAT.serial, nowMs: Date.now() });
        return (await postCallback("wechatpay", body, again)).status;
      }),
    );
    expect(resends.every((s) => s === 204)).toBe(true);
    // And the queue redelivers the message 10,000 times, 100 batches of 100 at once.
    const message: PaymentCallbackMessage = {
      kind: "payment.callback",
      notificationId: "ntf_redelivered",
      channel: "wechatpay",
      eventId: "EV-redelivered",
      event: {
        kind: "payment",
        status: "succeeded",
        merchantOrderNo: order.id,
        providerTxnId: "4200000000000001",
        amountMinor: 1880,
        currency: "CNY",
        merchant: [
          { field: "mchid", expected: WECHAT.mchid, actual: WECHAT.mchid },
          { field: "appid", expected: WECHAT.appid, actual: WECHAT.appid },
        ],
      },
    };
    let acked = 0;
    await Promise.all(
      Array.from({ length: 100 }, () =>
        handlePaymentCallbacksBatch(
          {
            queue: "giftwire-payment-callbacks",
            messages: Array.from({ length: 100 }, (_, i) => ({
              id: `m${i}`,
              timestamp: new Date(),
              attempts: 1,
              body: message,
              ack: () => acked++,
              retry: () => {},
            })),
          } as unknown as MessageBatch<unknown>,
          env,
          quiet,
        ),
      ),
    );
    expect(acked).toBe(10_000);
    await until(
      async () =>
        (await (
          await control()
        )
          .prepare(
            "SELECT COUNT(*) AS n FROM payment_notifications WHERE event_id IS NOT NULL AND applied_at_ms IS NULL AND channel = 'wechatpay'",
          )
          .first<number>("n")) ?? 1,
      (n) => n === 0,
      30_000,
    );
    expect(await wallet("pay-wx1")).toBe(1880);
    expect(await credits(order.id)).toBe(1);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("forged or tampered callbacks credit nothing, are stored as refused, and ask the provider to retry", async () => {
    const order = (await createOrder("pay-forge", "wechatpay", "6.60")).body.order;
    const aliOrder = (await createOrder("pay-forge", "alipay", "6.60")).body.order;
    const stOrder = (await createOrder("pay-forge", "stripe", "6.60")).body.order;
    const { body, headers } = await wechatCallback(order.id, 660, "4200000000000002");
    // A refused callback is kept, with its refusal, for disputes: that row is its only write.
    const before = await ledgerSnapshot({ except: ["payment_notifications"] });
    const refusedBefore =
      (await (
        await control()
      )
        .prepare("SELECT COUNT(*) AS n FROM payment_notifications WHERE verified = 0")
        .first<number>("n")) ?? 0;

    const flipped = new TextEncoder().encode(body) as Uint8Array<ArrayBuffer>;
    flipped[60] = (flipped[60] as number) ^ 0x01;
    const other = (await crypto.subtle.generateKey(
      { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
      false,
      ["sign", "verify"],
    )) as CryptoKeyPair;
    const sealedElsewhere = await wechatBody(
      wechatTransaction({ appid: WECHAT.appid, mchid: WECHAT.mchid, orderNo: order.id, txnId: "x", amountMinor: 660 }),
      {
        apiV3Key: "ffffffffffffffffffffffffffffffff",
        platformKey: wechatKey,
        serial: WECHAT.serial,
        nowMs: Date.now(),
      },
    );
    const cases: [string, string | Uint8Array<ArrayBuffer>, Record<string, string>][] = [
      ["flipped body byte", flipped, headers],
      [
        "wrong key",
        body,
        await wechatHeaders(body, { platformKey: other.privateKey, serial: WECHAT.serial, nowMs: Date.now() }),
      ],
      [
        "unknown serial",
        body,
        await wechatHeaders(body, { platformKey: wechatKey, serial: "PUB_KEY_ID_9", nowMs: Date.now() }),
      ],
      [
        "stale timestamp",
        body,
        await wechatHeaders(body, { platformKey: wechatKey, serial: WECHAT.serial, nowMs: Date.now() - 301_000 }),
      ],
      [
        "future timestamp",
        body,
        // 60 s past the ±300 s window: the cases are signed up front and posted one by one, and
        // a loaded machine can spend seconds before this one is sent.
        await wechatHeaders(body, { platformKey: wechatKey, serial: WECHAT.serial, nowMs: Date.now() + 360_000 }),
      ],
      [
        "SIGNTEST probe",
        body,
        { ...headers, "wechatpay-signature": `WECHATPAY/SIGNTEST/${headers["wechatpay-signature"]}` },
      ],
      [
        "sealed with another APIv3 key",
        sealedElsewhere,
        await wechatHeaders(sealedElsewhere, { platformKey: wechatKey, serial: WECHAT.serial, nowMs: Date.now() }),
      ],
    ];
    for (const [name, b, h] of cases) {
      const res = await postCallback("wechatpay", b, h);
      expect(res.status, name).toBe(500);
      expect(await res.json(), name).toMatchObject({ code: "FAIL" });
    }
    // Alipay with SHA1, Stripe with only a v0 signature.
    const sha1 = await alipayBody(
      alipayTrade({ ...ALIPAY, orderNo: aliOrder.id, tradeNo: "2026A", totalAmount: "6.60" }),
      { alipayKey, signType: "RSA" },
    );
    const aliRes = await postCallback("alipay", sha1, { "content-type": "application/x-www-form-urlencoded" });
    expect(await aliRes.text()).not.toBe("success");
    const ev = stripeEvent({ orderNo: stOrder.id, intentId: "pi_forged", amountMinor: 660 });
    const v0 = (await stripeSignature(STRIPE_SECRET, ev, Date.now())).replace("v1=", "v0=");
    expect((await postCallback("stripe", ev, { "stripe-signature": v0 })).status).toBe(500);

    await new Promise((r) => setTimeout(r, 300));
    const refusedAfter =
      (await (
        await control()
      )
        .prepare("SELECT COUNT(*) AS n FROM payment_notifications WHERE verified = 0")
        .first<number>("n")) ?? 0;
    expect(refusedAfter - refusedBefore).toBe(cases.length + 2);
    expect(await ledgerSnapshot({ except: ["payment_notifications"] })).toBe(before);
    expect(await wallet("pay-forge")).toBe(0);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("a valid signature with the wrong amount or an unknown order credits nothing and flags operators", async () => {
    const order = (await createOrder("pay-mis", "wechatpay", "8.80")).body.order;
    const amountBefore = await flags("amount_mismatch");
    const unknownBefore = await flags("unknown_order");
    const wrong = await wechatCallback(order.id, 1, "4200000000000003");
    expect((await postCallback("wechatpay", wrong.body, wrong.headers)).status).toBe(204);
    // WeChat resends the same event (fresh timestamp, nonce and signature): still one flag.
    for (let i = 0; i < 3; i++) {
      const again = await wechatHeaders(wrong.body, {
        platformKey: wechatKey,
        serial: WECHAT.serial,
        nowMs: Date.now(),
      });
      expect((await postCallback("wechatpay", wrong.body, again)).status).toBe(204);
    }
    const unknown = await wechatCallback("order_01JZZZZZZZZZZZZZZZZZZZZZZZ", 880, "4200000000000004");
    expect((await postCallback("wechatpay", unknown.body, unknown.headers)).status).toBe(204);
    expect(
      await until(
        () => flags("amount_mismatch"),
        (n) => n === amountBefore + 1,
      ),
    ).toBe(amountBefore + 1);
    expect(
      await until(
        () => flags("unknown_order"),
        (n) => n === unknownBefore + 1,
      ),
    ).toBe(unknownBefore + 1);
    await until(unapplied, (n) => n === 0);
    expect(await flags("amount_mismatch")).toBe(amountBefore + 1);
    expect(await wallet("pay-mis")).toBe(0);
    expect(await orderState(order.id)).toBe("pending");
    expect((await invariantReport()).ok).toBe(true);
  });

  it("the same payment by callback, by active query and by redelivery after a crash before the ack credits once", async () => {
    const order = (await createOrder("pay-paths", "alipay", "18.80")).body.order;
    const params = alipayTrade({
      ...ALIPAY,
      orderNo: order.id,
      tradeNo: "2026112200000009",
      totalAmount: "18.80",
      notifyId: "nid-9",
    });
    const res = await postCallback("alipay", await alipayBody(params, { alipayKey }), {
      "content-type": "application/x-www-form-urlencoded",
    });
    expect(await res.text()).toBe("success");
    expect(
      await until(
        () => wallet("pay-paths"),
        (b) => b === 1880,
      ),
    ).toBe(1880);
    // The query path reports the same payment.
    const event = {
      kind: "payment" as const,
      status: "succeeded" as const,
      merchantOrderNo: order.id,
      providerTxnId: "2026112200000009",
      amountMinor: 1880,
      currency: "CNY",
      merchant: [{ field: "app_id", expected: ALIPAY.appId, actual: ALIPAY.appId }],
    };
    const queried = await applyPaymentReport(await ledger(), {
      channel: "alipay",
      event,
      ref: "query-1",
      cause: "query",
      nowMs: Date.now(),
      tipRules: configFrom(env),
    });
    expect(queried.kind).toBe("already_credited");
    // A consumer that wrote and crashed before acknowledging: the message comes back.
    const message = {
      kind: "payment.callback",
      notificationId: "ntf_crash",
      channel: "alipay",
      eventId: "nid-9",
      event,
    };
    for (let attempt = 1; attempt <= 3; attempt++) {
      const acks: number[] = [];
      await handlePaymentCallbacksBatch(
        {
          queue: "giftwire-payment-callbacks",
          messages: [
            {
              id: "m",
              timestamp: new Date(),
              attempts: attempt,
              body: message,
              ack: () => acks.push(1),
              retry: () => {},
            },
          ],
        } as unknown as MessageBatch<unknown>,
        env,
        quiet,
      );
      expect(acks).toEqual([1]);
    }
    expect(await wallet("pay-paths")).toBe(1880);
    expect(await credits(order.id)).toBe(1);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("Stripe: a v1-signed payment_intent.succeeded credits once; a second payment for a paid order is flagged, not credited", async () => {
    const order = (await createOrder("pay-st", "stripe", "88.00")).body.order;
    const ev = stripeEvent({ orderNo: order.id, intentId: "pi_ok_1", amountMinor: 8800 });
    const res = await postCallback("stripe", ev, {
      "stripe-signature": await stripeSignature(STRIPE_SECRET, ev, Date.now()),
    });
    expect(res.status).toBe(200);
    expect(
      await until(
        () => wallet("pay-st"),
        (b) => b === 8800,
      ),
    ).toBe(8800);
    const before = await flags("second_payment");
    const again = stripeEvent({ orderNo: order.id, intentId: "pi_ok_2", amountMinor: 8800 });
    await postCallback("stripe", again, {
      "stripe-signature": await stripeSignature(STRIPE_SECRET, again, Date.now()),
    });
    expect(
      await until(
        () => flags("second_payment"),
        (n) => n === before + 1,
      ),
    ).toBe(before + 1);
    expect(await wallet("pay-st")).toBe(8800);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("a failed payment moves the order to failed; the sandbox signature is checked like any provider's", async () => {
    const created = await createOrder("pay-fail", "sandbox", "6.60");
    const order = created.body.order;
    const decided = await payerDecidesAt(created.body.payment.url, "failed");
    expect(decided.status).toBe(202);
    expect(
      await until(
        () => orderState(order.id),
        (s) => s === "failed",
      ),
    ).toBe("failed");
    const forged = JSON.stringify({
      id: "evt_forged1",
      type: "payment.succeeded",
      merchant_id: "giftwire-sandbox",
      order_no: order.id,
      txn_id: "sbx_forged",
      amount_minor: 660,
      currency: "CNY",
    });
    const res = await postCallback("sandbox", forged, {
      "sandbox-signature": await signSandbox("not-the-secret-000000", forged, Date.now()),
    });
    expect(res.status).toBe(503);
    await new Promise((r) => setTimeout(r, 200));
    expect(await wallet("pay-fail")).toBe(0);
    expect(await orderState(order.id)).toBe("failed");
  });
});
