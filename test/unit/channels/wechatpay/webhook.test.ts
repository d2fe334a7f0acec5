import { beforeAll, describe, expect, it } from "vitest";
import type { ChannelAdapter } from "../../../../src/channels/channel";
import { wechatPay } from "../../../../src/channels/wechatpay/webhook";
import { call, flipByte, NOW, refused } from "../../../support/channels";
import { type RsaPair, rsaPair, wechatBody, wechatHeaders, wechatTransaction } from "../../../support/providers";

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
