/**
 * WeChat Pay 商家转账 payouts: every request checked by an independent implementation
 * (node:crypto) as WeChat checks it; answers and callbacks signed and sealed by node:crypto.
 */
import {
  constants,
  createCipheriv,
  createSign,
  createVerify,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
  randomBytes,
} from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { utf8Bytes } from "../../../../src/channels/encoding";
import type { PayoutRequest } from "../../../../src/channels/payout";
import {
  encryptSensitive,
  TRANSFER_BILLS_PATH,
  type WechatPayoutConfig,
  wechatPayoutClient,
} from "../../../../src/channels/wechatpay/payout";
import { wechatPayoutWebhook } from "../../../../src/channels/wechatpay/payout-webhook";
import { deps, NOW } from "../../../support/channels";

const mchId = "1900000109";
const appId = "wxd678efh567hg6787";
const merchantSerial = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const platformSerial = "PUB_KEY_ID_0114232806022025060500000000";
const apiV3Key = "0123456789abcdef0123456789abcdef";

interface Pair {
  readonly publicKey: KeyObject;
  readonly privateKey: KeyObject;
  readonly publicPem: string;
  readonly privatePem: string;
}
function pair(): Pair {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return {
    publicKey,
    privateKey,
    publicPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    privatePem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
}

let merchant: Pair;
let platform: Pair;
let intruder: Pair;
let config: WechatPayoutConfig;

beforeAll(() => {
  [merchant, platform, intruder] = [pair(), pair(), pair()];
  config = {
    mchId,
    appId,
    merchantSerial,
    merchantPrivateKey: merchant.privatePem,
    platformKeys: new Map([[platformSerial, platform.publicPem]]),
    encryptSerial: platformSerial,
    notifyUrl: "https://giftwire.example/payouts/wechatpay",
    postType: "主播",
    rewardDescription: "11月份打赏分成",
  };
});

/** WeChat's signature over an answer or callback: `timestamp\nnonce\nbody\n`. */
function wechatSigned(body: string, key: KeyObject = platform.privateKey, timestamp = String(NOW / 1000)) {
  const nonce = randomBytes(16).toString("hex");
  const signature = createSign("RSA-SHA256").update(`${timestamp}\n${nonce}\n${body}\n`).sign(key, "base64");
  return {
    "wechatpay-timestamp": timestamp,
    "wechatpay-nonce": nonce,
    "wechatpay-signature": signature,
    "wechatpay-serial": platformSerial,
    "wechatpay-signature-type": "WECHATPAY2-SHA256-RSA2048",
  };
}

interface Seen {
  method: string;
  url: string;
  headers: Headers;
  body: string;
}

/** A WeChat double: verifies the Authorization as WeChat does, then answers `reply`. */
function double(reply: (seen: Seen) => { status: number; body: string; signed?: boolean; key?: KeyObject }) {
  const seen: Seen[] = [];
  const fetch = (async (input: string, init: RequestInit) => {
    const url = new URL(input);
    const headers = new Headers(init.headers);
    const body = (init.body as string | undefined) ?? "";
    const s = { method: init.method ?? "GET", url: url.pathname + url.search, headers, body };
    seen.push(s);
    const auth = headers.get("authorization") ?? "";
    const m = /^WECHATPAY2-SHA256-RSA2048 (.*)$/.exec(auth);
    const fields = Object.fromEntries(
      [...(m?.[1] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1] as string, x[2] as string]),
    );
    const message = `${s.method}\n${s.url}\n${fields.timestamp}\n${fields.nonce_str}\n${body}\n`;
    const ok =
      fields.mchid === mchId &&
      fields.serial_no === merchantSerial &&
      createVerify("RSA-SHA256")
        .update(message)
        .verify(merchant.publicKey, fields.signature ?? "", "base64");
    const r = ok ? reply(s) : { status: 401, body: JSON.stringify({ code: "SIGN_ERROR", message: "签名错误" }) };
    const h: Record<string, string> = { "content-type": "application/json" };
    if (r.signed !== false && ok) Object.assign(h, wechatSigned(r.body, r.key));
    return new Response(r.body === "" ? null : r.body, { status: r.status, headers: h });
  }) as typeof globalThis.fetch;
  return { fetch, seen };
}

const request = (o: Partial<PayoutRequest> = {}): PayoutRequest => ({
  withdrawalId: "wd01JDQ7Z3K9",
  amountMinor: 12_345,
  currency: "CNY",
  payee: "o-MYE42l80oelYMDE34nYD456Xoy",
  payeeName: "张三",
  remark: "giftwire 提现",
  ...o,
});

const bill = (state: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    out_bill_no: "wd01JDQ7Z3K9",
    transfer_bill_no: "1330000071100999991182020050700019480001",
    create_time: "2026-11-22T10:00:00+08:00",
    state,
    ...extra,
  });

describe("WeChat Pay transfer-bills client", () => {
  it("sends the documented signed body: scene 1005, its two report infos, amount in fen, no user_name below 2,000 元", async () => {
    const w = double(() => ({
      status: 200,
      body: bill("WAIT_USER_CONFIRM", { package_info: "affffddafdfafddffda==" }),
    }));
    const outcome = await wechatPayoutClient(config, deps(w.fetch)).pay(request());
    expect(outcome).toEqual({
      state: "needs_user_confirm",
      providerRef: "1330000071100999991182020050700019480001",
      packageInfo: "affffddafdfafddffda==",
    });
    const [s] = w.seen;
    expect(s?.method).toBe("POST");
    expect(s?.url).toBe(TRANSFER_BILLS_PATH);
    expect(s?.headers.get("content-type")).toBe("application/json");
    expect(s?.headers.get("accept")).toBe("application/json");
    expect(s?.headers.has("wechatpay-serial")).toBe(false);
    expect(JSON.parse(s?.body ?? "")).toEqual({
      appid: appId,
      out_bill_no: "wd01JDQ7Z3K9",
      transfer_scene_id: "1005",
      openid: "o-MYE42l80oelYMDE34nYD456Xoy",
      transfer_amount: 12345,
      transfer_remark: "giftwire 提现",
      notify_url: "https://giftwire.example/payouts/wechatpay",
      transfer_scene_report_infos: [
        { info_type: "岗位类型", info_content: "主播" },
        { info_type: "报酬说明", info_content: "11月份打赏分成" },
      ],
    });
  });

  it("at 200000 fen encrypts user_name with RSA-OAEP (SHA-1) under the platform key and names it in Wechatpay-Serial", async () => {
    const w = double(() => ({ status: 200, body: bill("ACCEPTED") }));
    const outcome = await wechatPayoutClient(config, deps(w.fetch)).pay(request({ amountMinor: 200_000 }));
    expect(outcome.state).toBe("accepted");
    const s = w.seen[0] as Seen;
    expect(s.headers.get("wechatpay-serial")).toBe(platformSerial);
    const sent = JSON.parse(s.body) as { user_name: string; transfer_amount: number };
    expect(sent.transfer_amount).toBe(200000);
    const name = privateDecrypt(
      { key: platform.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" },
      Buffer.from(sent.user_name, "base64"),
    ).toString("utf8");
    expect(name).toBe("张三");
    // 199999 fen: no name sent.
    const below = double(() => ({ status: 200, body: bill("ACCEPTED") }));
    await wechatPayoutClient(config, deps(below.fetch)).pay(request({ amountMinor: 199_999 }));
    expect(JSON.parse(below.seen[0]?.body ?? "")).not.toHaveProperty("user_name");
  });

  it("refuses before calling: no name at ≥ 2,000 元, below 0.1 元, a number with other than digits and letters", async () => {
    const w = double(() => ({ status: 200, body: bill("ACCEPTED") }));
    const client = wechatPayoutClient(config, deps(w.fetch));
    expect(await client.pay(request({ amountMinor: 200_000, payeeName: null }))).toMatchObject({
      state: "failed",
      reason: "user_name_required",
    });
    expect(await client.pay(request({ amountMinor: 9 }))).toMatchObject({ reason: "amount_below_minimum" });
    expect(await client.pay(request({ withdrawalId: "wd_1" }))).toMatchObject({ reason: "invalid_out_bill_no" });
    expect(w.seen).toHaveLength(0);
  });

  it("encryptSensitive output is decrypted by node:crypto OAEP-SHA1", async () => {
    const c = await encryptSensitive(platform.publicPem, "李四");
    const plain = privateDecrypt(
      { key: platform.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" },
      Buffer.from(c, "base64"),
    );
    expect(plain.toString("utf8")).toBe("李四");
  });

  it("5xx, 429, timeouts, unsigned or forged 200s and unknown codes are unknown; PARAM_ERROR is failed", async () => {
    const cases: [Parameters<typeof double>[0], string][] = [
      [() => ({ status: 500, body: JSON.stringify({ code: "SYSTEM_ERROR", message: "x" }) }), "unknown"],
      [() => ({ status: 429, body: JSON.stringify({ code: "FREQUENCY_LIMITED", message: "x" }) }), "unknown"],
      [() => ({ status: 200, body: bill("SUCCESS"), signed: false }), "unknown"],
      [() => ({ status: 200, body: bill("SUCCESS"), key: intruder.privateKey }), "unknown"],
      [() => ({ status: 400, body: JSON.stringify({ code: "SOMETHING_NEW", message: "x" }) }), "unknown"],
      [
        () => ({ status: 400, body: JSON.stringify({ code: "PARAM_ERROR", message: "需传入转账场景报备信息" }) }),
        "failed",
      ],
    ];
    for (const [reply, state] of cases) {
      const w = double(reply);
      expect((await wechatPayoutClient(config, deps(w.fetch)).pay(request())).state).toBe(state);
    }
    const hang = ((_: string, init: RequestInit) =>
      new Promise((_resolve, reject) =>
        init.signal?.addEventListener("abort", () => reject(new Error("aborted"))),
      )) as unknown as typeof fetch;
    const timedOut = await wechatPayoutClient(config, deps(hang, 20)).pay(request());
    expect(timedOut.state).toBe("unknown");
  });

  it("queries by out_bill_no and maps SUCCESS, FAIL with its reason, CANCELLED and an answer about another bill", async () => {
    const answers: [string, unknown][] = [
      [bill("SUCCESS", { transfer_amount: 12345 }), { state: "paid" }],
      [bill("FAIL", { fail_reason: "OVERDUE_CLOSE" }), { state: "failed", reason: "OVERDUE_CLOSE" }],
      [bill("CANCELLED"), { state: "failed", reason: "CANCELLED" }],
      [bill("TRANSFERING"), { state: "accepted" }],
      [bill("SUCCESS", { out_bill_no: "other1" }), { state: "unknown" }],
    ];
    for (const [body, expected] of answers) {
      const w = double(() => ({ status: 200, body }));
      const outcome = await wechatPayoutClient(config, deps(w.fetch)).query("wd01JDQ7Z3K9");
      expect(outcome).toMatchObject(expected as object);
      expect(w.seen[0]?.method).toBe("GET");
      expect(w.seen[0]?.url).toBe(`${TRANSFER_BILLS_PATH}/out-bill-no/wd01JDQ7Z3K9`);
      expect(w.seen[0]?.body).toBe("");
    }
  });

  it("cancels with a signed POST to …/cancel", async () => {
    const w = double(() => ({ status: 200, body: bill("CANCELING") }));
    const outcome = await wechatPayoutClient(config, deps(w.fetch)).cancel("wd01JDQ7Z3K9");
    expect(outcome.state).toBe("accepted");
    expect(w.seen[0]?.url).toBe(`${TRANSFER_BILLS_PATH}/out-bill-no/wd01JDQ7Z3K9/cancel`);
    expect(w.seen[0]?.body).toBe("{}");
  });
});

/** A MCHTRANSFER.BILL.FINISHED callback sealed and signed by node:crypto. */
function callback(plain: object, o: { id?: string; key?: string; aad?: string } = {}) {
  const nonce = randomBytes(6).toString("hex");
  const aad = o.aad ?? "mch_payment";
  const cipher = createCipheriv("aes-256-gcm", Buffer.from(o.key ?? apiV3Key, "utf8"), Buffer.from(nonce, "utf8"));
  cipher.setAAD(Buffer.from(aad, "utf8"));
  const sealed = Buffer.concat([cipher.update(JSON.stringify(plain), "utf8"), cipher.final(), cipher.getAuthTag()]);
  return JSON.stringify({
    id: o.id ?? "EV-2018022511223320873",
    create_time: "2026-11-22T10:00:00+08:00",
    resource_type: "encrypt-resource",
    event_type: "MCHTRANSFER.BILL.FINISHED",
    summary: "商家转账单据终态通知",
    resource: {
      original_type: "mch_payment",
      algorithm: "AEAD_AES_256_GCM",
      ciphertext: sealed.toString("base64"),
      associated_data: aad,
      nonce,
    },
  });
}

const finished = {
  out_bill_no: "wd01JDQ7Z3K9",
  transfer_bill_no: "1330000071100999991182020050700019480001",
  state: "SUCCESS",
  mch_id: mchId,
  transfer_amount: 12345,
  openid: "o-MYE42l80oelYMDE34nYD456Xoy",
  create_time: "2026-11-22T10:00:00+08:00",
  update_time: "2026-11-22T10:01:00+08:00",
};

describe("WeChat Pay MCHTRANSFER.BILL.FINISHED callback", () => {
  const verify = (body: string | Uint8Array<ArrayBuffer>, headers: Record<string, string>) =>
    wechatPayoutWebhook({ mchId, apiV3Key, platformKeys: config.platformKeys }).verify(
      { headers: new Headers(headers), body: typeof body === "string" ? utf8Bytes(body) : body },
      NOW,
    );

  it("verifies and decrypts a paid bill and a failed one with its reason", async () => {
    const body = callback(finished);
    const outcome = await verify(body, wechatSigned(body));
    expect(outcome).toEqual({
      ok: true,
      notification: {
        channel: "wechatpay",
        eventId: "EV-2018022511223320873",
        withdrawalId: "wd01JDQ7Z3K9",
        outcome: { state: "paid", providerRef: "1330000071100999991182020050700019480001" },
        amountMinor: 12345,
      },
    });
    const failed = callback({ ...finished, state: "FAIL", fail_reason: "OVERDUE_CLOSE" });
    const f = await verify(failed, wechatSigned(failed));
    expect(f.ok && f.notification?.outcome).toMatchObject({ state: "failed", reason: "OVERDUE_CLOSE" });
  });

  it("refuses tampering with stable codes", async () => {
    const body = callback(finished);
    const headers = wechatSigned(body);
    const flipped = utf8Bytes(body);
    flipped[10] = (flipped[10] as number) ^ 1;
    const code = async (b: string | Uint8Array<ArrayBuffer>, h: Record<string, string>) => {
      const o = await verify(b, h);
      return o.ok ? "accepted" : o.failure;
    };
    expect(await code(flipped, headers)).toBe("bad_signature");
    expect(await code(body, wechatSigned(body, intruder.privateKey))).toBe("bad_signature");
    expect(await code(body, wechatSigned(body, platform.privateKey, String(NOW / 1000 - 301)))).toBe("stale_timestamp");
    expect(await code(body, { ...headers, "wechatpay-serial": "PUB_KEY_ID_OTHER" })).toBe("unknown_key");
    expect(await code(body, { ...headers, "wechatpay-signature": "WECHATPAY/SIGNTEST/abc" })).toBe("probe_signature");
    const { "wechatpay-signature": _, ...unsigned } = headers;
    expect(await code(body, unsigned)).toBe("missing_signature");
    const wrongKey = callback(finished, { key: "fedcba9876543210fedcba9876543210" });
    expect(await code(wrongKey, wechatSigned(wrongKey))).toBe("decrypt_failed");
    const other = callback({ ...finished, mch_id: "1900000999" });
    expect(await code(other, wechatSigned(other))).toBe("malformed");
  });
});
