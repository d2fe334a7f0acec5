/**
 * Alipay payouts: each request's RSA2 signature and parameters checked by node:crypto as the
 * gateway does; answers and notifies signed by node:crypto with "Alipay's" key.
 */
import { createSign, createVerify, generateKeyPairSync, type KeyObject } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type AlipayPayoutConfig,
  alipayPayoutClient,
  BIZ_SCENE,
  PRODUCT_CODE,
  QUERY_METHOD,
  TRANSFER_METHOD,
} from "../../../../src/channels/alipay/payout";
import { alipayPayoutWebhook } from "../../../../src/channels/alipay/payout-webhook";
import { utf8Bytes } from "../../../../src/channels/encoding";
import type { PayoutRequest } from "../../../../src/channels/payout";
import { deps, NOW } from "../../../support/channels";

const appId = "2021000122671234";
let app: { publicKey: KeyObject; privatePem: string };
let ali: { privateKey: KeyObject; publicPem: string };
let intruder: KeyObject;
let config: AlipayPayoutConfig;

beforeAll(() => {
  const a = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const b = generateKeyPairSync("rsa", { modulusLength: 2048 });
  intruder = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  app = { publicKey: a.publicKey, privatePem: a.privateKey.export({ type: "pkcs8", format: "pem" }).toString() };
  ali = { privateKey: b.privateKey, publicPem: b.publicKey.export({ type: "spki", format: "pem" }).toString() };
  config = { appId, appPrivateKey: app.privatePem, alipayPublicKey: ali.publicPem };
});

/** The gateway's check of a request, written independently: sorted k=v without sign, empty values dropped. */
function gatewayVerifies(form: URLSearchParams): boolean {
  const text = [...form]
    .filter(([k, v]) => k !== "sign" && v !== "")
    .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  return createVerify("RSA-SHA256")
    .update(text)
    .verify(app.publicKey, form.get("sign") ?? "", "base64");
}

function gateway(node: (method: string, biz: Record<string, unknown>) => object, signer: KeyObject | null = null) {
  const seen: URLSearchParams[] = [];
  const fetch = (async (_input: string, init: RequestInit) => {
    const form = new URLSearchParams(init.body as string);
    seen.push(form);
    if (!gatewayVerifies(form)) throw new Error("request signature does not verify");
    const method = form.get("method") ?? "";
    const raw = JSON.stringify(node(method, JSON.parse(form.get("biz_content") ?? "{}")));
    const sign = createSign("RSA-SHA256")
      .update(raw)
      .sign(signer ?? ali.privateKey, "base64");
    return new Response(`{"${method.replaceAll(".", "_")}_response":${raw},"sign":"${sign}"}`, { status: 200 });
  }) as typeof globalThis.fetch;
  return { fetch, seen };
}

const request = (o: Partial<PayoutRequest> = {}): PayoutRequest => ({
  withdrawalId: "wd01JDQ7Z3K9",
  amountMinor: 1234,
  currency: "CNY",
  payee: "2088123412341234",
  payeeName: null,
  remark: "giftwire 提现",
  ...o,
});

const ok = (status: string, extra: object = {}) => ({
  code: "10000",
  msg: "Success",
  out_biz_no: "wd01JDQ7Z3K9",
  order_id: "20261122110070000006210000000001",
  pay_fund_order_id: "20261122110070001506210000000002",
  status,
  trans_date: "2026-11-22 10:00:01",
  ...extra,
});

describe("Alipay uni.transfer client", () => {
  it("signs the documented request: TRANS_ACCOUNT_NO_PWD, DIRECT_TRANSFER, trans_amount as exact yuan", async () => {
    const g = gateway(() => ok("SUCCESS"));
    const client = alipayPayoutClient(config, deps(g.fetch));
    expect(await client.pay(request())).toEqual({ state: "paid", providerRef: "20261122110070000006210000000001" });
    const form = g.seen[0] as URLSearchParams;
    expect(form.get("method")).toBe(TRANSFER_METHOD);
    expect(form.get("sign_type")).toBe("RSA2");
    expect(form.get("app_id")).toBe(appId);
    expect(form.get("timestamp")).toBe("2026-11-22 10:00:00");
    expect(JSON.parse(form.get("biz_content") ?? "")).toEqual({
      out_biz_no: "wd01JDQ7Z3K9",
      trans_amount: "12.34",
      product_code: PRODUCT_CODE,
      biz_scene: BIZ_SCENE,
      order_title: "giftwire 提现",
      payee_info: { identity: "2088123412341234", identity_type: "ALIPAY_USER_ID" },
    });
    for (const [fen, yuan] of [
      [10, "0.10"],
      [100, "1.00"],
      [100_005, "1000.05"],
    ] as const) {
      await client.pay(request({ amountMinor: fen }));
      expect(JSON.parse(g.seen.at(-1)?.get("biz_content") ?? "").trans_amount).toBe(yuan);
    }
  });

  it("a logon id goes with the name; without one, or below 0.1 元, it refuses before calling", async () => {
    const g = gateway(() => ok("DEALING"));
    const client = alipayPayoutClient(config, deps(g.fetch));
    expect((await client.pay(request({ payee: "creator@example.com", payeeName: "张三" }))).state).toBe("accepted");
    expect(JSON.parse(g.seen[0]?.get("biz_content") ?? "").payee_info).toEqual({
      identity: "creator@example.com",
      identity_type: "ALIPAY_LOGON_ID",
      name: "张三",
    });
    expect(await client.pay(request({ payee: "creator@example.com" }))).toMatchObject({
      reason: "payee_name_required",
    });
    expect(await client.pay(request({ amountMinor: 9 }))).toMatchObject({ reason: "amount_out_of_range" });
    expect(g.seen).toHaveLength(1);
  });

  it("20000, SYSTEM_ERROR, unknown sub_codes and forged answers are unknown; PAYEE_NOT_EXIST is failed", async () => {
    const cases: [object, KeyObject | null, string][] = [
      [{ code: "20000", msg: "Service Currently Unavailable", sub_code: "isp.unknow-error" }, null, "unknown"],
      [{ code: "40004", msg: "Business Failed", sub_code: "SYSTEM_ERROR" }, null, "unknown"],
      [{ code: "40004", msg: "Business Failed", sub_code: "SOMETHING_NEW" }, null, "unknown"],
      [ok("SUCCESS"), intruder, "unknown"],
      [{ code: "40004", msg: "Business Failed", sub_code: "PAYEE_NOT_EXIST" }, null, "failed"],
    ];
    for (const [node, signer, state] of cases) {
      const g = gateway(() => node, signer);
      expect((await alipayPayoutClient(config, deps(g.fetch)).pay(request())).state).toBe(state);
    }
  });

  it("queries by out_biz_no with product_code and biz_scene and maps the statuses", async () => {
    const cases: [object, object][] = [
      [ok("SUCCESS"), { state: "paid" }],
      [ok("DEALING"), { state: "accepted" }],
      [
        ok("FAIL", { error_code: "PAYEE_ACCOUNT_STATUS_ERROR" }),
        { state: "failed", reason: "PAYEE_ACCOUNT_STATUS_ERROR" },
      ],
      [ok("REFUND"), { state: "failed", reason: "REFUND" }],
      [ok("SUCCESS", { out_biz_no: "other" }), { state: "unknown" }],
    ];
    for (const [node, expected] of cases) {
      const g = gateway(() => node);
      expect(await alipayPayoutClient(config, deps(g.fetch)).query("wd01JDQ7Z3K9")).toMatchObject(expected);
      expect(g.seen[0]?.get("method")).toBe(QUERY_METHOD);
      expect(JSON.parse(g.seen[0]?.get("biz_content") ?? "")).toEqual({
        out_biz_no: "wd01JDQ7Z3K9",
        product_code: PRODUCT_CODE,
        biz_scene: BIZ_SCENE,
      });
    }
  });
});

/** A notify as Alipay sends it, signed by node:crypto ("V1": without sign and sign_type). */
function notify(biz: object, o: { signer?: KeyObject; v2?: boolean; extra?: Record<string, string> } = {}) {
  const params: Record<string, string> = {
    msg_method: "alipay.fund.trans.order.changed",
    app_id: appId,
    utc_timestamp: String(NOW),
    version: "1.1",
    sign_type: "RSA2",
    notify_id: "2026112200222100000000000000001",
    charset: "utf-8",
    biz_content: JSON.stringify(biz),
    ...o.extra,
  };
  const text = Object.entries(params)
    .filter(([k]) => k !== "sign" && (o.v2 || k !== "sign_type"))
    .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  params.sign = createSign("RSA-SHA256")
    .update(text)
    .sign(o.signer ?? ali.privateKey, "base64");
  return new URLSearchParams(params).toString();
}

const changed = {
  pay_fund_order_id: "20261122110070001506210000000002",
  out_biz_no: "wd01JDQ7Z3K9",
  order_id: "20261122110070000006210000000001",
  product_code: "TRANS_ACCOUNT_NO_PWD",
  biz_scene: "DIRECT_TRANSFER",
  origin_interface: "alipay.fund.trans.uni.transfer",
  status: "SUCCESS",
  action_type: "FINISH",
  trans_amount: "12.34",
  pay_date: "2026-11-22 10:00:01",
};

describe("Alipay alipay.fund.trans.order.changed notify", () => {
  const verify = (body: string) =>
    alipayPayoutWebhook({ appId, alipayPublicKey: ali.publicPem }).verify(
      { headers: new Headers(), body: utf8Bytes(body) },
      NOW,
    );
  const code = async (body: string) => {
    const o = await verify(body);
    return o.ok ? "accepted" : o.failure;
  };

  it("verifies V1 and V2 signatures and maps SUCCESS with the amount in fen, FAIL with its error_code", async () => {
    const expected = {
      ok: true,
      notification: {
        channel: "alipay",
        eventId: "2026112200222100000000000000001",
        withdrawalId: "wd01JDQ7Z3K9",
        outcome: { state: "paid", providerRef: "20261122110070000006210000000001" },
        amountMinor: 1234,
      },
    };
    expect(await verify(notify(changed))).toEqual(expected);
    expect(await verify(notify(changed, { v2: true }))).toEqual(expected);
    const failed = await verify(notify({ ...changed, status: "FAIL", error_code: "PAYEE_NOT_EXIST" }));
    expect(failed.ok && failed.notification?.outcome).toMatchObject({ state: "failed", reason: "PAYEE_NOT_EXIST" });
    const response = alipayPayoutWebhook({ appId, alipayPublicKey: ali.publicPem }).received();
    expect(await response.text()).toBe("success");
  });

  it("refuses tampering with stable codes", async () => {
    const good = notify(changed);
    expect(await code(good.replace("12.34", "99.34"))).toBe("bad_signature");
    expect(await code(notify(changed, { signer: intruder }))).toBe("bad_signature");
    expect(await code(good.replace("sign_type=RSA2", "sign_type=RSA"))).toBe("weak_algorithm");
    expect(await code(good.replace(/&?sign=[^&]*/, ""))).toBe("missing_signature");
    expect(await code(notify(changed, { extra: { app_id: "2021000999999999" } }))).toBe("malformed");
    expect(await code(notify(changed, { extra: { msg_method: "alipay.trade.order.changed" } }))).toBe("malformed");
  });
});
