import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ChannelEventSchema } from "../../../../src/channels/channel";
import type { ChannelClient, Outbound } from "../../../../src/channels/client";
import { parseStatement } from "../../../../src/channels/statement";
import { type WechatPayApiConfig, wechatPayClient, wechatTimeExpire } from "../../../../src/channels/wechatpay/api";
import { deps, failure, NOW, now, order, refundOf, value } from "../../../support/channels";
import { pkcs8Pem, WechatPayDouble, type WechatTradeState } from "../../../support/provider-apis";
import { type RsaPair, rsaPair } from "../../../support/providers";

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
    // WeChat Pay refuses requests without a User-Agent.
    expect(sent.headers.get("user-agent")).toBe("giftwire/0.1 (Cloudflare Workers; WeChatPay-APIv3)");
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

  describe("trade bill download", () => {
    const day = "2026-11-22"; // NOW is 10:00 on this day in Beijing

    it("applies for the day's ALL bill, downloads it signed from the API host, checks its SHA-1 and reads it", async () => {
      value(await client.createPayment(order));
      wechat.pay(order.merchantOrderNo);
      const text = value((await client.downloadStatement(day)) as Outbound<string>);
      const [apply, download] = wechat.received.slice(-2);
      expect(apply?.url.href).toBe(`https://api.mch.weixin.qq.com/v3/bill/tradebill?bill_date=${day}&bill_type=ALL`);
      expect(download?.url.pathname).toBe("/v3/billdownload/file");
      expect(download?.headers.get("authorization")).toMatch(/^WECHATPAY2-SHA256-RSA2048 /);
      const parsed = parseStatement("wechatpay", text);
      expect(parsed.ok && parsed.lines).toEqual([
        expect.objectContaining({
          kind: "payment",
          status: "succeeded",
          merchantOrderNo: order.merchantOrderNo,
          providerTxnId: wechat.transactionIdOf(order.merchantOrderNo),
          amountMinor: order.amountMinor,
        }),
      ]);
    });

    it("reads a day without trades (NO_STATEMENT_EXIST) as an empty bill", async () => {
      const text = value((await client.downloadStatement("2026-11-20")) as Outbound<string>);
      const parsed = parseStatement("wechatpay", text);
      expect(parsed.ok && parsed.lines).toEqual([]);
    });

    it("refuses a file whose SHA-1 does not match, and a download URL off WeChat's API host", async () => {
      value(await client.createPayment(order));
      wechat.pay(order.merchantOrderNo);
      wechat.tamperBillNext = true;
      expect(failure((await client.downloadStatement(day)) as Outbound<string>)).toEqual({ kind: "unavailable" });
      wechat.foreignDownloadUrlNext = true;
      const before = wechat.received.length;
      expect(failure((await client.downloadStatement(day)) as Outbound<string>)).toEqual({ kind: "unavailable" });
      // Only the application: the foreign URL is never fetched (it would carry our signature).
      expect(wechat.received.length).toBe(before + 1);
    });

    it("passes on WeChat's refusal of the application", async () => {
      expect(failure((await client.downloadStatement("2026-11")) as Outbound<string>)).toEqual({
        kind: "rejected",
        code: "PARAM_ERROR",
      });
    });
  });
});
