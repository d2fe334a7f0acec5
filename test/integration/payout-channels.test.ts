/**
 * The three real payout channels wired into the Worker: clients built from PAYMENT_CHANNELS
 * (payoutClientFor) paying through the providers' doubles, which verify every request as
 * the provider does (test/support/payout-apis.ts); and the callback route
 * /v1/payouts/callbacks/{channel}, observed at its queue: the Worker runs with a PAYOUTS
 * binding that records what is sent, so each test reads exactly the messages it caused.
 */

import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { alipayPayoutClient } from "../../src/channels/alipay/payout";
import { base64Bytes } from "../../src/channels/encoding";
import type { PayoutRequest } from "../../src/channels/payout";
import { stripePayoutClient } from "../../src/channels/stripe/payout";
import { type WechatPayoutClient, wechatPayoutClient } from "../../src/channels/wechatpay/payout";
import type { PayoutCallbackMessage } from "../../src/db/messages/payouts";
import { createApp } from "../../src/worker/app";
import { payoutClientFor } from "../../src/worker/payouts/clients";
import { forged, pkcs8Pem } from "../support/provider-apis";
import { stripeSignature, wechatHeaders } from "../support/providers";
import { ledger } from "./helpers";

const sent: PayoutCallbackMessage[] = [];
/** The Worker's env with a PAYOUTS queue that records messages instead of delivering them. */
const recordingEnv: Env = {
  ...env,
  PAYOUTS: {
    async send(message: unknown) {
      sent.push(message as PayoutCallbackMessage);
    },
    async sendBatch(messages: Iterable<{ body: unknown }>) {
      for (const m of messages) sent.push(m.body as PayoutCallbackMessage);
    },
  } as unknown as Queue,
};
const app = createApp();

let wechatPlatformKey: CryptoKey;
const WECHAT_SERIAL = "PUB_KEY_ID_0114000000";
const STRIPE_PAYOUT_SECRET = "whsec_test_payouts_0123456789abcdef";

beforeAll(async () => {
  const keys = JSON.parse(env.TEST_PROVIDER_KEYS) as Record<string, { privatePkcs8Base64: string }>;
  wechatPlatformKey = await crypto.subtle.importKey(
    "pkcs8",
    base64Bytes(keys.wechatPlatform?.privatePkcs8Base64 ?? "") as Uint8Array<ArrayBuffer>,
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["sign"],
  );
});

let serial = 0;
/** A withdrawal number of digits and letters only, unique in the run (the doubles are shared). */
const withdrawalId = (prefix: string) =>
  `${prefix}${Date.now().toString(36)}${(serial++).toString(36)}${crypto.randomUUID().slice(0, 6)}`.replace(
    /[^0-9A-Za-z]/g,
    "",
  );

async function double<T>(provider: string, action: string, args: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch(`https://doubles.test/${provider}/${action}`, { method: "POST", body: JSON.stringify(args) });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

interface Delivered {
  url: string;
  headers: Record<string, string>;
  body: string;
}
interface ReceivedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** Delivers a callback to the Worker as the provider would; the messages it enqueued come back with the answer. */
async function deliver(callback: Delivered, headers = callback.headers) {
  const before = sent.length;
  const ctx = createExecutionContext();
  const res = await app.fetch(
    new Request(callback.url, { method: "POST", headers, body: callback.body }),
    recordingEnv,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return { status: res.status, text: await res.text(), messages: sent.slice(before) };
}

async function rows(channel: string, like: string) {
  const { control } = await ledger();
  const { results } = await control
    .prepare(
      "SELECT id, event_id, verified, refusal, applied_at_ms FROM payment_notifications WHERE channel = ? AND body_base64 = ? ORDER BY received_at_ms",
    )
    .bind(channel, like)
    .all<{
      id: string;
      event_id: string | null;
      verified: number;
      refusal: string | null;
      applied_at_ms: number | null;
    }>();
  return results;
}
const b64 = (text: string) => btoa(String.fromCharCode(...new TextEncoder().encode(text)));

function request(id: string, o: Partial<PayoutRequest> = {}): PayoutRequest {
  return {
    withdrawalId: id,
    amountMinor: 12_345,
    currency: "CNY",
    payee: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    payeeName: null,
    remark: "giftwire 主播提现",
    ...o,
  };
}

describe("WeChat Pay 商家转账", () => {
  const client = () => {
    const c = payoutClientFor(env, "wechatpay");
    if (!c) throw new Error("wechatpay pays out in the test configuration");
    return c;
  };

  it("a transfer below 2,000 元 is signed, sent under scene 1005 with its two report infos, and answered WAIT_USER_CONFIRM; the same number again is the same bill", async () => {
    const id = withdrawalId("wx");
    const first = await client().pay(request(id));
    expect(first.state).toBe("needs_user_confirm");
    if (first.state !== "needs_user_confirm") return;
    expect(first.packageInfo).toContain(first.providerRef);

    const [sentRequest] = await double<ReceivedRequest[]>("wechatpay", "received", { match: id });
    const body = JSON.parse(sentRequest?.body ?? "{}");
    expect(sentRequest?.url).toBe("https://api.mch.weixin.qq.com/v3/fund-app/mch-transfer/transfer-bills");
    expect(body).toMatchObject({
      appid: "wx-test-app",
      out_bill_no: id,
      transfer_scene_id: "1005",
      transfer_amount: 12_345,
      notify_url: "https://giftwire.test/v1/payouts/callbacks/wechatpay",
      transfer_scene_report_infos: [
        { info_type: "岗位类型", info_content: "主播" },
        { info_type: "报酬说明", info_content: "直播打赏分成" },
      ],
    });
    expect(body.user_name).toBeUndefined();

    // Retried with the same number (a timeout on our side): the same bill, no second one.
    expect(await client().pay(request(id))).toEqual(first);
    expect(await double<unknown[]>("wechatpay", "transfers", { match: id })).toHaveLength(1);
    // WeChat's query answer has no package_info (the initiate answer is where it comes, again on a
    // retry with the same number): the bill is waiting, which the client reads as accepted.
    expect(await client().query(id)).toEqual({ state: "accepted", providerRef: first.providerRef });
  });

  it("at 2,000 元 the real name is RSA-OAEP encrypted to the platform key the serial names, and WeChat decrypts it", async () => {
    const id = withdrawalId("wxname");
    await double("wechatpay", "transfer-answer", { state: "ACCEPTED", match: id });
    const outcome = await client().pay(request(id, { amountMinor: 200_000, payeeName: "张三" }));
    expect(outcome.state).toBe("accepted");
    const [sentRequest] = await double<ReceivedRequest[]>("wechatpay", "received", { match: id });
    expect(sentRequest?.headers["wechatpay-serial"]).toBe(WECHAT_SERIAL);
    const userName = JSON.parse(sentRequest?.body ?? "{}").user_name as string;
    expect(userName).not.toContain("张三");
    expect(base64Bytes(userName)?.length).toBe(256); // one RSA-2048 block
    const [bill] = await double<{ userName: string; amountMinor: number }[]>("wechatpay", "transfers", { match: id });
    expect(bill).toMatchObject({ userName: "张三", amountMinor: 200_000 });
    // The encryption is randomized; WeChat compares the name, so the retry is the same bill.
    expect(await client().pay(request(id, { amountMinor: 200_000, payeeName: "张三" }))).toEqual(outcome);
    // Without the name WeChat would refuse; the client never sends it.
    expect(await client().pay(request(withdrawalId("wxnoname"), { amountMinor: 200_000 }))).toEqual({
      state: "failed",
      providerRef: null,
      reason: "user_name_required",
    });
  });

  it("MCHTRANSFER.BILL.FINISHED: stored raw, sent to PAYOUTS with the outcome and amount; a resend keeps one verified row", async () => {
    const id = withdrawalId("wxcb");
    const paid = await client().pay(request(id, { amountMinor: 8_800 }));
    const callback = await double<Delivered>("wechatpay", "transfer-finish", { withdrawalId: id, state: "SUCCESS" });
    expect(callback.url).toBe("https://giftwire.test/v1/payouts/callbacks/wechatpay");

    const first = await deliver(callback);
    expect(first.status).toBe(204);
    expect(first.messages).toEqual([
      {
        kind: "payout.callback",
        notificationId: expect.stringMatching(/^ntf_/),
        channel: "wechatpay",
        eventId: JSON.parse(callback.body).id,
        withdrawalId: id,
        outcome: { state: "paid", providerRef: paid.state === "needs_user_confirm" ? paid.providerRef : "" },
        amountMinor: 8_800,
      },
    ]);
    // WeChat resends (a fresh signature each time) before we applied it: the same notification again.
    const again = await deliver(
      callback,
      await wechatHeaders(callback.body, { platformKey: wechatPlatformKey, serial: WECHAT_SERIAL, nowMs: Date.now() }),
    );
    expect(again.status).toBe(204);
    expect(again.messages.map((m) => m.notificationId)).toEqual([first.messages[0]?.notificationId]);
    const stored = await rows("payout:wechatpay", b64(callback.body));
    expect(stored.map((r) => [r.verified, r.event_id])).toEqual([[1, JSON.parse(callback.body).id]]);
    // Once applied, a resend is acknowledged and enqueues nothing.
    await (await ledger()).control
      .prepare("UPDATE payment_notifications SET applied_at_ms = ? WHERE id = ?")
      .bind(Date.now(), stored[0]?.id ?? "")
      .run();
    expect((await deliver(callback)).messages).toEqual([]);
    expect(await client().query(id)).toEqual({ state: "paid", providerRef: expect.any(String) });
  });

  it("a forged or stale callback is stored with its refusal, enqueues nothing, and asks WeChat to retry", async () => {
    const id = withdrawalId("wxforge");
    await client().pay(request(id));
    const callback = await double<Delivered>("wechatpay", "transfer-finish", {
      withdrawalId: id,
      state: "FAIL",
      reason: "NAME_NOT_CORRECT",
    });
    const tampered = {
      ...callback.headers,
      "wechatpay-signature": forged(callback.headers["wechatpay-signature"] ?? ""),
    };
    const refused = await deliver(callback, tampered);
    expect(refused.status).toBe(500);
    expect(refused.messages).toEqual([]);
    const stale = await deliver(
      callback,
      await wechatHeaders(callback.body, {
        platformKey: wechatPlatformKey,
        serial: WECHAT_SERIAL,
        nowMs: Date.now() - 10 * 60_000,
      }),
    );
    expect(stale.status).toBe(500);
    expect(stale.messages).toEqual([]);
    const stored = await rows("payout:wechatpay", b64(callback.body));
    expect(stored.map((r) => [r.verified, r.event_id, r.refusal?.split(":")[0]])).toEqual([
      [0, null, "bad_signature"],
      [0, null, "stale_timestamp"],
    ]);
    // The genuine one still goes through, with WeChat's reason.
    const genuine = await deliver(callback);
    expect(genuine.messages[0]?.outcome).toEqual({
      state: "failed",
      providerRef: expect.any(String),
      reason: "NAME_NOT_CORRECT",
    });
  });
});

describe("Alipay uni.transfer", () => {
  const client = () => {
    const c = payoutClientFor(env, "alipay");
    if (!c) throw new Error("alipay pays out in the test configuration");
    return c;
  };

  it("a transfer to a user id is RSA2-signed, answered SUCCESS and signed back; the same out_biz_no is the same transfer", async () => {
    const id = withdrawalId("ali");
    const outcome = await client().pay(request(id, { payee: "2088101117955611" }));
    expect(outcome).toEqual({ state: "paid", providerRef: expect.stringMatching(/^2026/) });
    const [sentRequest] = await double<ReceivedRequest[]>("alipay", "received", { match: id });
    const params = new URLSearchParams(sentRequest?.body ?? "");
    expect(params.get("method")).toBe("alipay.fund.trans.uni.transfer");
    expect(JSON.parse(params.get("biz_content") ?? "{}")).toMatchObject({
      out_biz_no: id,
      trans_amount: "123.45",
      product_code: "TRANS_ACCOUNT_NO_PWD",
      biz_scene: "DIRECT_TRANSFER",
      payee_info: { identity: "2088101117955611", identity_type: "ALIPAY_USER_ID" },
    });
    expect(await client().pay(request(id, { payee: "2088101117955611" }))).toEqual(outcome);
    expect(await double<unknown[]>("alipay", "transfers", { match: id })).toHaveLength(1);
    expect(await client().query(id)).toEqual(outcome);
  });

  it("a logon id carries the payee's name; a DEALING transfer is accepted, then order.changed says paid", async () => {
    const id = withdrawalId("alilogon");
    await double("alipay", "transfer-answer", { state: "DEALING", match: id });
    const outcome = await client().pay(
      request(id, { payee: "creator@example.com", payeeName: "李四", amountMinor: 50_000 }),
    );
    expect(outcome).toEqual({ state: "accepted", providerRef: expect.any(String) });
    const [held] = await double<{ payee: Record<string, string> }[]>("alipay", "transfers", { match: id });
    expect(held?.payee).toEqual({ identity: "creator@example.com", identity_type: "ALIPAY_LOGON_ID", name: "李四" });
    expect(await client().query(id)).toEqual(outcome);

    const notify = await double<Delivered>("alipay", "transfer-finish", { withdrawalId: id, state: "SUCCESS" });
    const first = await deliver(notify);
    expect([first.status, first.text]).toEqual([200, "success"]);
    expect(first.messages).toEqual([
      {
        kind: "payout.callback",
        notificationId: expect.stringMatching(/^ntf_/),
        channel: "alipay",
        eventId: new URLSearchParams(notify.body).get("notify_id"),
        withdrawalId: id,
        outcome: { state: "paid", providerRef: outcome.state === "accepted" ? outcome.providerRef : "" },
        amountMinor: 50_000,
      },
    ]);
    await deliver(notify);
    expect((await rows("payout:alipay", b64(notify.body))).map((r) => r.verified)).toEqual([1]);
  });

  it("a notify whose content was altered after signing is refused, stored, and enqueues nothing", async () => {
    const id = withdrawalId("aliforge");
    await double("alipay", "transfer-answer", { state: "DEALING", match: id });
    await client().pay(request(id, { payee: "2088101117955611" }));
    const notify = await double<Delivered>("alipay", "transfer-finish", { withdrawalId: id, state: "SUCCESS" });
    const params = new URLSearchParams(notify.body);
    params.set("biz_content", (params.get("biz_content") ?? "").replace('"123.45"', '"999.45"'));
    const altered = { ...notify, body: params.toString() };
    const refused = await deliver(altered);
    expect(refused.status).toBe(200);
    expect(refused.text).toMatch(/^fail/);
    expect(refused.messages).toEqual([]);
    const [row] = await rows("payout:alipay", b64(altered.body));
    expect([row?.verified, row?.refusal?.split(":")[0]]).toEqual([0, "bad_signature"]);
  });
});

describe("Stripe Connect transfers", () => {
  const client = () => {
    const c = payoutClientFor(env, "stripe");
    if (!c) throw new Error("stripe pays out in the test configuration");
    return c;
  };
  const toAccount = (id: string, o: Partial<PayoutRequest> = {}) =>
    request(id, { payee: "acct_1PgTestCreator", currency: "USD", amountMinor: 2_500, ...o });

  it("a transfer carries the withdrawal id as its Idempotency-Key; the same key again replays the same transfer, other parameters are refused", async () => {
    const id = withdrawalId("st");
    const outcome = await client().pay(toAccount(id));
    expect(outcome).toEqual({ state: "paid", providerRef: expect.stringMatching(/^tr_/) });
    const [sentRequest] = await double<ReceivedRequest[]>("stripe", "received", { match: id });
    expect(sentRequest?.headers["idempotency-key"]).toBe(id);
    expect(Object.fromEntries(new URLSearchParams(sentRequest?.body ?? ""))).toMatchObject({
      amount: "2500",
      currency: "usd",
      destination: "acct_1PgTestCreator",
      transfer_group: id,
      "metadata[withdrawal_id]": id,
    });
    expect(await client().pay(toAccount(id))).toEqual(outcome);
    // Same key, other amount: Stripe's idempotency_error, which says nothing definite about money.
    expect(await client().pay(toAccount(id, { amountMinor: 2_600 }))).toEqual({
      state: "unknown",
      detail: expect.stringContaining("idempotency_error"),
    });
    expect(await double<unknown[]>("stripe", "transfers", { match: id })).toHaveLength(1);
    expect(await client().query(id)).toEqual(outcome);
  });

  it("transfer.created and transfer.reversed events reach PAYOUTS once each; a forged or stale signature is refused", async () => {
    const id = withdrawalId("stcb");
    const paid = await client().pay(toAccount(id));
    const created = await double<Delivered>("stripe", "transfer-finish", {
      withdrawalId: id,
      type: "transfer.created",
    });
    const first = await deliver(created);
    expect(first.status).toBe(200);
    expect(first.messages).toEqual([
      {
        kind: "payout.callback",
        notificationId: expect.stringMatching(/^ntf_/),
        channel: "stripe",
        eventId: JSON.parse(created.body).id,
        withdrawalId: id,
        outcome: paid,
        amountMinor: 2_500,
      },
    ]);
    await deliver(created);
    expect((await rows("payout:stripe", b64(created.body))).map((r) => r.verified)).toEqual([1]);

    const reversed = await double<Delivered>("stripe", "transfer-finish", {
      withdrawalId: id,
      type: "transfer.reversed",
    });
    const forgedSignature = reversed.headers["stripe-signature"]?.replace(
      /v1=([0-9a-f])/,
      (_, c) => `v1=${c === "0" ? "1" : "0"}`,
    );
    const refused = await deliver(reversed, { ...reversed.headers, "stripe-signature": forgedSignature ?? "" });
    expect([refused.status, refused.messages]).toEqual([500, []]);
    const stale = await deliver(reversed, {
      ...reversed.headers,
      "stripe-signature": await stripeSignature(STRIPE_PAYOUT_SECRET, reversed.body, Date.now() - 10 * 60_000),
    });
    expect([stale.status, stale.messages]).toEqual([500, []]);
    const genuine = await deliver(reversed);
    expect(genuine.messages.map((m) => m.outcome)).toEqual([
      { state: "failed", providerRef: paid.state === "paid" ? paid.providerRef : "", reason: "reversed" },
    ]);
    expect(
      (await rows("payout:stripe", b64(reversed.body))).map((r) => [r.verified, r.refusal?.split(":")[0] ?? null]),
    ).toEqual([
      [0, "bad_signature"],
      [0, "stale_timestamp"],
      [1, null],
    ]);
    expect(await client().query(id)).toEqual({ state: "failed", providerRef: expect.any(String), reason: "reversed" });
  });
});

describe("the doubles check who signed", () => {
  it("a request signed with keys the provider does not hold is refused, and each client reads that as unknown, never failed", async () => {
    const other = (await crypto.subtle.generateKey(
      { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
      true,
      ["sign", "verify"],
    )) as CryptoKeyPair;
    const otherPem = await pkcs8Pem(other.privateKey);
    const deps = {
      fetch: (i: RequestInfo | URL, init?: RequestInit) => fetch(i, init),
      now: Date.now,
      timeoutMs: 4_000,
    };
    const secrets = JSON.parse(env.PAYMENT_CHANNELS);
    const wx = wechatPayoutClient(
      {
        ...secrets.wechatpay,
        ...secrets.wechatpay.payouts,
        merchantPrivateKey: otherPem,
        platformKeys: new Map(Object.entries(secrets.wechatpay.platformKeys)),
      },
      deps,
    );
    const ali = alipayPayoutClient({ ...secrets.alipay, appPrivateKey: otherPem }, deps);
    const st = stripePayoutClient({ secretKey: "sk_test_notthekey0123456789" }, deps);
    const ids = [withdrawalId("wxkey"), withdrawalId("alikey"), withdrawalId("stkey")] as const;
    const outcomes = [
      await wx.pay(request(ids[0])),
      await ali.pay(request(ids[1], { payee: "2088101117955611" })),
      await st.pay(request(ids[2], { payee: "acct_1PgTestCreator", currency: "USD" })),
    ];
    expect(outcomes.map((o) => o.state)).toEqual(["unknown", "unknown", "unknown"]);
    expect(outcomes.map((o) => (o.state === "unknown" ? o.detail : ""))).toEqual([
      expect.stringContaining("SIGN_ERROR"),
      expect.stringContaining("isv.invalid-signature"),
      expect.stringContaining("invalid_request_error"),
    ]);
    expect(await double<unknown[]>("wechatpay", "transfers", { match: ids[0] })).toEqual([]);
    expect(await double<unknown[]>("alipay", "transfers", { match: ids[1] })).toEqual([]);
    expect(await double<unknown[]>("stripe", "transfers", { match: ids[2] })).toEqual([]);
  });
});

describe("Stripe Connect payout events", () => {
  it("payout.paid and payout.failed of the creator's bank payout reach PAYOUTS when they name the withdrawal", async () => {
    const client = payoutClientFor(env, "stripe");
    const id = withdrawalId("stpo");
    await client?.pay(request(id, { payee: "acct_1PgTestCreator", currency: "USD", amountMinor: 4_200 }));
    const paid = await deliver(
      await double<Delivered>("stripe", "transfer-finish", { withdrawalId: id, type: "payout.paid" }),
    );
    const failed = await deliver(
      await double<Delivered>("stripe", "transfer-finish", {
        withdrawalId: id,
        type: "payout.failed",
        reason: "account_closed",
      }),
    );
    expect([...paid.messages, ...failed.messages].map((m) => [m.withdrawalId, m.outcome, m.amountMinor])).toEqual([
      [id, { state: "paid", providerRef: expect.stringMatching(/^po_/) }, 4_200],
      [id, { state: "failed", providerRef: expect.stringMatching(/^po_/), reason: "account_closed" }, 4_200],
    ]);
  });
});

describe("which channels pay out", () => {
  it("a channel pays out only when its PAYMENT_CHANNELS entry has a payouts block", () => {
    const secrets = JSON.parse(env.PAYMENT_CHANNELS);
    const { payouts: _w, ...wechatpay } = secrets.wechatpay;
    const { payouts: _a, ...alipay } = secrets.alipay;
    const without: Env = { ...env, PAYMENT_CHANNELS: JSON.stringify({ ...secrets, wechatpay, alipay }) };
    expect([
      payoutClientFor(without, "wechatpay"),
      payoutClientFor(without, "alipay"),
      payoutClientFor(without, "stripe")?.name,
    ]).toEqual([null, null, "stripe"]);
  });

  it("WeChat: a bill the creator has not confirmed can be cancelled; the CANCELLED callback says failed", async () => {
    const client = payoutClientFor(env, "wechatpay") as WechatPayoutClient;
    const id = withdrawalId("wxcancel");
    const sentBill = await client.pay(request(id));
    expect(sentBill.state).toBe("needs_user_confirm");
    expect(await client.cancel(id)).toEqual({ state: "accepted", providerRef: expect.any(String) });
    const callback = await double<Delivered>("wechatpay", "transfer-finish", { withdrawalId: id, state: "CANCELLED" });
    expect((await deliver(callback)).messages.map((m) => m.outcome)).toEqual([
      { state: "failed", providerRef: expect.any(String), reason: "CANCELLED" },
    ]);
    expect(await client.query(id)).toEqual({ state: "failed", providerRef: expect.any(String), reason: "CANCELLED" });
  });
});

describe("the payout callback route", () => {
  it("answers 404 for a channel it does not know, storing nothing", async () => {
    const res = await deliver({ url: "https://giftwire.test/v1/payouts/callbacks/paypal", headers: {}, body: "{}" });
    expect(res.status).toBe(404);
    expect(JSON.parse(res.text).error.code).toBe("channel_not_found");
    expect(res.messages).toEqual([]);
  });
});
