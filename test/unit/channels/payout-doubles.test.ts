/**
 * The payout doubles refuse what the providers refuse: these requests are signed correctly
 * (so only the rule under test can refuse them) but break one documented rule each.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { alipayGateway } from "../../../src/channels/alipay/api";
import { base64Bytes, bytesHex, rsaSignBase64, utf8Bytes } from "../../../src/channels/encoding";
import { wechatPayoutClient } from "../../../src/channels/wechatpay/payout";
import { deps, now } from "../../support/channels";
import { AlipayPayoutDouble, StripePayoutDouble, WechatPayoutDouble } from "../../support/payout-apis";
import { pkcs8Pem } from "../../support/provider-apis";
import { type RsaPair, rsaPair } from "../../support/providers";

const mchId = "1900000109";
const appId = "wx-test-app";
const merchantSerial = "TEST_MERCHANT_SERIAL_0001";
const platformSerial = "PUB_KEY_ID_0114000000";
const PATH = "/v3/fund-app/mch-transfer/transfer-bills";

describe("WeChat 商家转账 double", () => {
  let merchant: RsaPair;
  let platform: RsaPair;
  let wechat: WechatPayoutDouble;

  beforeAll(async () => {
    [merchant, platform] = await Promise.all([rsaPair(), rsaPair()]);
    const pkcs8 = await crypto.subtle.exportKey("pkcs8", platform.privateKey);
    wechat = await WechatPayoutDouble.createPayout({
      mchId,
      appId,
      merchantSerial,
      merchantPublicPem: merchant.publicPem,
      platformKey: platform.privateKey,
      platformSerial,
      now,
      platformDecryptKey: await crypto.subtle.importKey("pkcs8", pkcs8, { name: "RSA-OAEP", hash: "SHA-1" }, false, [
        "decrypt",
      ]),
      notifyApiV3Key: "0123456789abcdef0123456789abcdef",
    });
  });

  /** A transfer request signed as the merchant signs it. */
  async function send(body: Record<string, unknown>, headers: Record<string, string> = {}, key = merchant.privateKey) {
    const text = JSON.stringify(body);
    const timestamp = String(Math.floor(now() / 1000));
    const nonce = bytesHex(crypto.getRandomValues(new Uint8Array(16)));
    const signature = await rsaSignBase64(key, utf8Bytes(`POST\n${PATH}\n${timestamp}\n${nonce}\n${text}\n`));
    const res = await wechat.fetch(`https://api.mch.weixin.qq.com${PATH}`, {
      method: "POST",
      headers: {
        authorization: `WECHATPAY2-SHA256-RSA2048 mchid="${mchId}",nonce_str="${nonce}",signature="${signature}",timestamp="${timestamp}",serial_no="${merchantSerial}"`,
        accept: "application/json",
        "user-agent": "test",
        "content-type": "application/json",
        ...headers,
      },
      body: text,
    });
    return {
      status: res.status,
      body: (await res.json()) as { code?: string; state?: string },
      signed: res.headers.has("wechatpay-signature"),
    };
  }

  const bill = (no: string, o: Record<string, unknown> = {}) => ({
    appid: appId,
    out_bill_no: no,
    transfer_scene_id: "1005",
    openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    transfer_amount: 10_000,
    transfer_remark: "提现",
    transfer_scene_report_infos: [
      { info_type: "岗位类型", info_content: "主播" },
      { info_type: "报酬说明", info_content: "打赏分成" },
    ],
    ...o,
  });

  it("accepts a well-formed transfer and keeps one bill per out_bill_no", async () => {
    expect(await send(bill("wdA1"))).toMatchObject({ status: 200, body: { state: "WAIT_USER_CONFIRM" }, signed: true });
    expect((await send(bill("wdA1"))).status).toBe(200);
    expect(await send(bill("wdA1", { transfer_amount: 10_001 }))).toMatchObject({
      status: 400,
      body: { code: "INVALID_REQUEST" },
    });
    expect([...wechat.bills.keys()].filter((k) => k === "wdA1")).toHaveLength(1);
  });

  it("refuses another merchant's signature, unsigned, with 401 SIGN_ERROR", async () => {
    const intruder = await rsaPair();
    expect(await send(bill("wdA2"), {}, intruder.privateKey)).toEqual({
      status: 401,
      body: { code: "SIGN_ERROR", message: "签名错误" },
      signed: false,
    });
  });

  it("refuses a scene not applied for, and scene 1005 without exactly its two report infos", async () => {
    expect(await send(bill("wdA3", { transfer_scene_id: "1000" }))).toMatchObject({
      status: 403,
      body: { code: "NO_AUTH" },
    });
    const one = bill("wdA4", { transfer_scene_report_infos: [{ info_type: "岗位类型", info_content: "主播" }] });
    expect(await send(one)).toMatchObject({ status: 400, body: { code: "PARAM_ERROR" } });
    const wrong = bill("wdA5", {
      transfer_scene_report_infos: [
        { info_type: "活动名称", info_content: "x" },
        { info_type: "奖励说明", info_content: "y" },
      ],
    });
    expect(await send(wrong)).toMatchObject({ status: 400, body: { code: "PARAM_ERROR" } });
  });

  it("requires user_name at 2,000 元, encrypted to the key Wechatpay-Serial names, and decrypts it", async () => {
    expect(await send(bill("wdA6", { transfer_amount: 200_000 }))).toMatchObject({
      status: 400,
      body: { code: "PARAM_ERROR" },
    });
    const client = wechatPayoutClient(
      {
        mchId,
        appId,
        merchantSerial,
        merchantPrivateKey: await pkcs8Pem(merchant.privateKey),
        platformKeys: new Map([[platformSerial, platform.publicPem]]),
        encryptSerial: platformSerial,
        notifyUrl: "https://giftwire.example/v1/payouts/callbacks/wechatpay",
        postType: "主播",
        rewardDescription: "打赏分成",
      },
      deps(wechat.fetch),
    );
    const paid = await client.pay({
      withdrawalId: "wdA7",
      amountMinor: 200_000,
      currency: "CNY",
      payee: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
      payeeName: "王五",
      remark: "提现",
    });
    expect(paid.state).toBe("needs_user_confirm");
    expect(wechat.bills.get("wdA7")?.userName).toBe("王五");
    // The ciphertext under another serial than the one it names: refused.
    const sent = JSON.parse(wechat.last.body) as Record<string, unknown>;
    expect(await send({ ...sent, out_bill_no: "wdA8" }, { "wechatpay-serial": "PUB_KEY_ID_OTHER" })).toMatchObject({
      status: 400,
      body: { code: "PARAM_ERROR" },
    });
    expect(base64Bytes(sent.user_name as string)?.length).toBe(256);
  });
});

describe("Alipay uni.transfer double", () => {
  let app: RsaPair;
  let alipayKeys: RsaPair;
  let alipay: AlipayPayoutDouble;
  let call: ReturnType<typeof alipayGateway>;

  beforeAll(async () => {
    [app, alipayKeys] = await Promise.all([rsaPair(), rsaPair()]);
    alipay = await AlipayPayoutDouble.createPayout({
      appId: "2021000000000001",
      sellerId: "2088000000000001",
      appPublicPem: app.publicPem,
      alipayKey: alipayKeys.privateKey,
      now,
      appGatewayUrl: "https://giftwire.example/v1/payouts/callbacks/alipay",
    });
    call = alipayGateway(
      {
        appId: "2021000000000001",
        appPrivateKey: await pkcs8Pem(app.privateKey),
        alipayPublicKey: alipayKeys.publicPem,
      },
      deps(alipay.fetch),
    );
  });

  const transfer = (no: string, o: Record<string, unknown> = {}) => ({
    out_biz_no: no,
    trans_amount: "12.34",
    product_code: "TRANS_ACCOUNT_NO_PWD",
    biz_scene: "DIRECT_TRANSFER",
    order_title: "提现",
    payee_info: { identity: "2088101117955611", identity_type: "ALIPAY_USER_ID" },
    ...o,
  });
  async function subCode(method: string, biz: Record<string, unknown>) {
    const answer = await call(method, biz, null);
    if (!answer.ok) throw new Error(answer.failure.detail);
    expect(answer.value.signed).toBe(true);
    return answer.value.common.sub_code ?? answer.value.common.code;
  }

  it("transfers once per out_bill_no and refuses the number reused with other parameters", async () => {
    expect(await subCode("alipay.fund.trans.uni.transfer", transfer("wdB1"))).toBe("10000");
    expect(await subCode("alipay.fund.trans.uni.transfer", transfer("wdB1"))).toBe("10000");
    expect(await subCode("alipay.fund.trans.uni.transfer", transfer("wdB1", { trans_amount: "12.35" }))).toBe(
      "PAYMENT_INFO_INCONSISTENCY",
    );
    expect([...alipay.transfers.keys()].filter((k) => k === "wdB1")).toHaveLength(1);
  });

  it("refuses amounts below 0.10 or not in yuan with two decimals, a logon id without its name, other products", async () => {
    for (const biz of [
      transfer("wdB2", { trans_amount: "0.09" }),
      transfer("wdB3", { trans_amount: "12.3" }),
      transfer("wdB4", { payee_info: { identity: "a@example.com", identity_type: "ALIPAY_LOGON_ID" } }),
      transfer("wdB5", { product_code: "STD_RED_PACKET" }),
    ]) {
      expect(await subCode("alipay.fund.trans.uni.transfer", biz)).toBe("INVALID_PARAMETER");
    }
    expect(alipay.transfers.size).toBe(1);
  });

  it("queries by out_biz_no only with product_code and biz_scene", async () => {
    expect(await subCode("alipay.fund.trans.common.query", { out_biz_no: "wdB1" })).toBe("INVALID_PARAMETER");
    expect(
      await subCode("alipay.fund.trans.common.query", {
        out_biz_no: "wdB1",
        product_code: "TRANS_ACCOUNT_NO_PWD",
        biz_scene: "DIRECT_TRANSFER",
      }),
    ).toBe("10000");
  });
});

describe("Stripe transfers double", () => {
  it("wants the withdrawal id as the Idempotency-Key", async () => {
    const stripe = new StripePayoutDouble({
      secretKey: "sk_test_0123456789abcdef",
      now,
      payoutWebhookSecret: "whsec_x",
      webhookUrl: "https://giftwire.example/v1/payouts/callbacks/stripe",
    });
    const post = (key: string | null) =>
      stripe.fetch("https://api.stripe.com/v1/transfers", {
        method: "POST",
        headers: {
          authorization: "Bearer sk_test_0123456789abcdef",
          "content-type": "application/x-www-form-urlencoded",
          ...(key ? { "idempotency-key": key } : {}),
        },
        body: "amount=100&currency=usd&destination=acct_1&metadata%5Bwithdrawal_id%5D=wdC1",
      });
    expect((await post(null)).status).toBe(400);
    expect((await post("another-key")).status).toBe(400);
    const first = (await (await post("wdC1")).json()) as { id: string };
    const again = await post("wdC1");
    const replayed = (await again.json()) as { id: string };
    expect([again.headers.get("idempotent-replayed"), replayed.id]).toEqual(["true", first.id]);
    expect(stripe.transfers.size).toBe(1);
  });
});
