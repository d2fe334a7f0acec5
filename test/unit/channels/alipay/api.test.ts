import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type AlipayApiConfig,
  alipayClient,
  alipayRequestSigningString,
  alipayTime,
  rawJsonMember,
} from "../../../../src/channels/alipay/api";
import { ChannelEventSchema } from "../../../../src/channels/channel";
import type { ChannelClient, Outbound } from "../../../../src/channels/client";
import { parseStatement } from "../../../../src/channels/statement";
import { deps, failure, NOW, now, order, refundOf, value } from "../../../support/channels";
import { AlipayDouble, type AlipayTradeStatus, pkcs8Pem } from "../../../support/provider-apis";
import { type RsaPair, rsaPair } from "../../../support/providers";

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

  describe("the daily bill", () => {
    const day = "2026-11-21";
    // 12:00 on the 21st in Beijing: the 21st's bill lists it.
    const paidAt = Date.UTC(2026, 10, 21, 4);
    const outcome = async (date: string) => {
      const o = await client.downloadStatement(date);
      return o.ok ? { ok: true } : { ok: false, kind: o.failure.kind };
    };

    it("asks for the download URL (trade, the day), fetches the zip and hands over its 业务明细 CSV decoded from GBK", async () => {
      value(await client.createPayment(order));
      alipay.scan(order.merchantOrderNo);
      alipay.pay(order.merchantOrderNo);
      (alipay.orders.get(order.merchantOrderNo) as { paidAtMs?: number }).paidAtMs = paidAt;
      alipay.extraTrades.push({ atMs: paidAt + 60_000, orderNo: "ord_nobody_knows", totalMinor: 500 });
      const text = value((await client.downloadStatement(day)) as Outbound<string>);
      const [ask, download] = alipay.received.slice(-2);
      const params = Object.fromEntries(new URLSearchParams(ask?.body));
      expect(params.method).toBe("alipay.data.dataservice.bill.downloadurl.query");
      expect(JSON.parse(params.biz_content ?? "")).toEqual({ bill_type: "trade", bill_date: day });
      expect(download?.url.hostname).toBe("dwbillcenter.alipay.com");
      expect(download?.method).toBe("GET");
      expect(text.startsWith("#支付宝业务明细查询\r\n")).toBe(true);
      const parsed = parseStatement("alipay", text);
      if (!parsed.ok) throw new Error(parsed.error.detail);
      expect(parsed.lines.map((l) => [l.kind, l.merchantOrderNo, l.amountMinor, l.occurredAtMs])).toEqual([
        ["payment", order.merchantOrderNo, 1880, paidAt],
        ["payment", "ord_nobody_knows", 500, paidAt + 60_000],
      ]);
    });

    it("answers not_ready while Alipay says the bill does not exist yet (today's), only when signed", async () => {
      expect(await outcome("2026-11-22")).toEqual({ ok: false, kind: "not_ready" });
      alipay.unsignNext();
      expect(await outcome("2026-11-22")).toEqual({ ok: false, kind: "unavailable" });
      alipay.readyBillDates.add("2026-11-22");
      expect(await outcome("2026-11-22")).toEqual({ ok: true });
    });

    it("refuses a zip whose 业务明细 CRC-32 is wrong, or that is cut short, as malformed", async () => {
      alipay.spoilBills.set(day, "crc");
      expect(await outcome(day)).toEqual({ ok: false, kind: "malformed" });
      alipay.spoilBills.set(day, "truncated");
      expect(await outcome(day)).toEqual({ ok: false, kind: "malformed" });
      expect(await outcome(day)).toEqual({ ok: true });
    });

    it("does not trust a bill URL whose answer's signature does not verify", async () => {
      alipay.tamperNext();
      expect(await outcome(day)).toEqual({ ok: false, kind: "unavailable" });
      expect(alipay.received.filter((r) => r.url.hostname === "dwbillcenter.alipay.com")).toHaveLength(0);
    });
  });
});
