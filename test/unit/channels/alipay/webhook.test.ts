import { beforeAll, describe, expect, it } from "vitest";
import { alipay } from "../../../../src/channels/alipay/webhook";
import type { ChannelAdapter } from "../../../../src/channels/channel";
import { call, flipByte, refused } from "../../../support/channels";
import { alipayBody, alipayTrade, type RsaPair, rsaPair } from "../../../support/providers";

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
