import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ChannelAdapter, VerifyOutcome } from "../../../../src/channels/channel";
import type { ClientDeps } from "../../../../src/channels/client";
import { bytesBase64, utf8Bytes } from "../../../../src/channels/encoding";
import { type WechatPayClient, wechatPayClient } from "../../../../src/channels/wechatpay/api";
import { KEY_RELOAD_INTERVAL_MS, wechatPay } from "../../../../src/channels/wechatpay/webhook";
import { readCertificate } from "../../../../src/channels/x509";
import { NOW, refused } from "../../../support/channels";
import { pkcs8Pem, WechatPayDouble, type WechatPlatformCertificateDouble } from "../../../support/provider-apis";
import { type RsaPair, rsaPair, wechatBody, wechatHeaders, wechatTransaction } from "../../../support/providers";

const mchId = "1900000109";
const appId = "wxd678efh567hg6787";
const apiV3Key = "0123456789abcdef0123456789abcdef";
const merchantSerial = "3775B6A45ACD588826D15E583A95F5DD3A5AE0B5";
const FORGED_SERIAL = "6B2C5E0F4A9D83E1C7B05F2A9D41E8C37B6A0D52";

/** A certificate's public key as the PEM the secret holds. */
function publicPemOf(c: WechatPlatformCertificateDouble): string {
  const facts = readCertificate(c.pem);
  if (!facts) throw new Error("the double's certificate does not parse");
  return `-----BEGIN PUBLIC KEY-----\n${bytesBase64(facts.spki).replace(/(.{64})/g, "$1\n")}\n-----END PUBLIC KEY-----\n`;
}

describe("WeChat Pay platform certificates (certificate mode)", () => {
  let merchant: RsaPair;
  let intruder: RsaPair;
  let clockMs: number;
  let wechat: WechatPayDouble;
  /** The certificate the deployment was configured with. */
  let current: WechatPlatformCertificateDouble;
  let client: WechatPayClient;
  let adapter: ChannelAdapter;

  const now = () => clockMs;
  const deps = (): ClientDeps => ({ fetch: wechat.fetch, now, timeoutMs: 2_000 });
  const downloads = () => wechat.receivedMatching("/v3/certificates").length;

  /** A payment notification signed with `key` under `serial`, delivered at the current clock. */
  const deliver = async (key: CryptoKey, serial: string, to: ChannelAdapter = adapter): Promise<VerifyOutcome> => {
    const resource = wechatTransaction({
      appid: appId,
      mchid: mchId,
      orderNo: "ord_01",
      txnId: "42000001",
      amountMinor: 880,
    });
    const body = await wechatBody(resource, { apiV3Key, platformKey: key, serial, nowMs: clockMs });
    const headers = await wechatHeaders(body, { platformKey: key, serial, nowMs: clockMs });
    return to.verify({ headers: new Headers(headers), body: utf8Bytes(body) }, clockMs);
  };

  beforeAll(async () => {
    [merchant, intruder] = await Promise.all([rsaPair(), rsaPair()]);
  });

  beforeEach(async () => {
    clockMs = NOW;
    wechat = await WechatPayDouble.create({
      mchId,
      appId,
      merchantSerial,
      merchantPublicPem: merchant.publicPem,
      // Unused in certificate mode: answers are signed with the current certificate's key below.
      platformKey: intruder.privateKey,
      platformSerial: "UNUSED",
      now,
      apiV3Key,
    });
    current = await wechat.rotateCertificate();
    wechat.signAnswersWith(current.serial);
    const platformKeys = new Map([[current.serial, publicPemOf(current)]]);
    client = wechatPayClient(
      { mchId, appId, merchantSerial, merchantPrivateKey: await pkcs8Pem(merchant.privateKey), apiV3Key, platformKeys },
      deps(),
    );
    adapter = wechatPay({
      mchId,
      appId,
      apiV3Key,
      platformKeys,
      reloadKeys: () => client.downloadPlatformCertificates(),
    });
  });

  describe("the callback adapter", () => {
    it("verifies a configured certificate serial without downloading anything", async () => {
      expect(refused(await deliver(current.privateKey, current.serial))).toBe("accepted");
      expect(downloads()).toBe(0);
    });

    it("accepts a callback signed with a rotated-in certificate after one download, and downloads no more for it", async () => {
      const next = await wechat.rotateCertificate();
      expect(refused(await deliver(next.privateKey, next.serial))).toBe("accepted");
      expect(downloads()).toBe(1);
      clockMs += 5_000;
      expect(refused(await deliver(next.privateKey, next.serial))).toBe("accepted");
      expect(downloads()).toBe(1);
    });

    it("downloads at most once a minute for a forged serial, and refuses it every time", async () => {
      for (const [atMs, expected] of [
        [0, 1],
        [1_000, 1],
        [KEY_RELOAD_INTERVAL_MS - 1, 1],
        [KEY_RELOAD_INTERVAL_MS, 2],
        [KEY_RELOAD_INTERVAL_MS + 30_000, 2],
        [2 * KEY_RELOAD_INTERVAL_MS, 3],
      ] as const) {
        clockMs = NOW + atMs;
        expect(refused(await deliver(intruder.privateKey, FORGED_SERIAL)), `at +${atMs} ms`).toBe("unknown_key");
        expect(downloads(), `at +${atMs} ms`).toBe(expected);
      }
    });

    it("shares one download among concurrent callbacks under unknown serials", async () => {
      const next = await wechat.rotateCertificate();
      const outcomes = await Promise.all([
        ...Array.from({ length: 5 }, () => deliver(next.privateKey, next.serial)),
        ...Array.from({ length: 5 }, () => deliver(intruder.privateKey, FORGED_SERIAL)),
      ]);
      expect(outcomes.map(refused)).toEqual([...new Array(5).fill("accepted"), ...new Array(5).fill("unknown_key")]);
      expect(downloads()).toBe(1);
    });

    it("counts a failed download against the minute, and finds the key on WeChat's next delivery after it", async () => {
      const next = await wechat.rotateCertificate();
      wechat.failNext(1, 503, "/v3/certificates");
      expect(refused(await deliver(next.privateKey, next.serial))).toBe("unknown_key");
      clockMs += 30_000;
      expect(refused(await deliver(next.privateKey, next.serial))).toBe("unknown_key");
      expect(downloads()).toBe(1);
      clockMs += KEY_RELOAD_INTERVAL_MS;
      expect(refused(await deliver(next.privateKey, next.serial))).toBe("accepted");
      expect(downloads()).toBe(2);
    });

    it.each(["ciphertext", "associated_data"] as const)(
      "adds no key from a certificate whose sealed %s was tampered with",
      async (part) => {
        const next = await wechat.rotateCertificate();
        wechat.tamperCertificatesNext(part);
        expect(refused(await deliver(next.privateKey, next.serial))).toBe("unknown_key");
        expect(downloads()).toBe(1);
        // The untampered entry in the same list is still usable; the tampered one never was.
        expect(refused(await deliver(current.privateKey, current.serial))).toBe("accepted");
      },
    );

    it("ignores a certificate listed under a serial_no that is not its own", async () => {
      const next = await wechat.rotateCertificate();
      next.listedAs = FORGED_SERIAL;
      expect(refused(await deliver(next.privateKey, FORGED_SERIAL))).toBe("unknown_key");
      clockMs += KEY_RELOAD_INTERVAL_MS;
      expect(refused(await deliver(next.privateKey, next.serial))).toBe("unknown_key");
      expect(downloads()).toBe(2);
    });

    it("never downloads for an unknown PUB_KEY_ID_ serial: public keys come only from the merchant console", async () => {
      expect(refused(await deliver(intruder.privateKey, "PUB_KEY_ID_0114232806022025060500000099"))).toBe(
        "unknown_key",
      );
      expect(downloads()).toBe(0);
    });

    it("never downloads for a serial that cannot be a certificate serial", async () => {
      expect(refused(await deliver(intruder.privateKey, "not-a-serial"))).toBe("unknown_key");
      expect(refused(await deliver(intruder.privateKey, "A".repeat(41)))).toBe("unknown_key");
      expect(downloads()).toBe(0);
    });

    it("keeps the configured key for a serial when the download lists another key under it", async () => {
      const impostor = await wechat.rotateCertificate({ serial: current.serial });
      const next = await wechat.rotateCertificate();
      expect(refused(await deliver(next.privateKey, next.serial))).toBe("accepted");
      expect(downloads()).toBe(1);
      expect(refused(await deliver(impostor.privateKey, current.serial))).toBe("bad_signature");
      expect(refused(await deliver(current.privateKey, current.serial))).toBe("accepted");
    });

    it("adds a downloaded certificate only while it is valid", async () => {
      const early = await wechat.rotateCertificate({ notBeforeMs: NOW + 3_600_000 });
      const expired = await wechat.rotateCertificate({ notBeforeMs: NOW - 2 * 3_600_000, notAfterMs: NOW - 3_600_000 });
      expect(refused(await deliver(early.privateKey, early.serial))).toBe("unknown_key");
      clockMs += KEY_RELOAD_INTERVAL_MS;
      expect(refused(await deliver(expired.privateKey, expired.serial))).toBe("unknown_key");
      expect(downloads()).toBe(2);
    });

    it("without a reload hook refuses an unknown certificate serial as before", async () => {
      const next = await wechat.rotateCertificate();
      const plain = wechatPay({
        mchId,
        appId,
        apiV3Key,
        platformKeys: new Map([[current.serial, publicPemOf(current)]]),
      });
      expect(refused(await deliver(next.privateKey, next.serial, plain))).toBe("unknown_key");
      expect(downloads()).toBe(0);
    });
  });

  describe("the client's download", () => {
    it("asks GET /v3/certificates, signed, and returns every listed certificate's serial, key and validity", async () => {
      const next = await wechat.rotateCertificate();
      const outcome = await client.downloadPlatformCertificates();
      expect(outcome.ok).toBe(true);
      if (!outcome.ok) return;
      expect(wechat.last.method).toBe("GET");
      expect(wechat.last.headers.get("authorization")).toMatch(/^WECHATPAY2-SHA256-RSA2048 mchid="1900000109",/);
      expect(outcome.value.map((c) => c.serial)).toEqual([current.serial, next.serial]);
      expect(outcome.value[1]).toMatchObject({ notBeforeMs: next.notBeforeMs, notAfterMs: next.notAfterMs });
      expect(bytesBase64(outcome.value[1]?.spki ?? new Uint8Array())).toBe(
        bytesBase64(readCertificate(next.pem)?.spki ?? new Uint8Array(1)),
      );
    });

    it("trusts a list signed with a certificate it brings, because that certificate is sealed with the APIv3 key", async () => {
      const next = await wechat.rotateCertificate();
      wechat.signAnswersWith(next.serial);
      const outcome = await client.downloadPlatformCertificates();
      expect(outcome.ok && outcome.value.map((c) => c.serial)).toEqual([current.serial, next.serial]);
    });

    it("does not trust a list signed by a listed certificate whose seal was tampered with", async () => {
      const next = await wechat.rotateCertificate();
      wechat.signAnswersWith(next.serial);
      wechat.tamperCertificatesNext("ciphertext");
      const outcome = await client.downloadPlatformCertificates();
      expect(!outcome.ok && outcome.failure.detail).toMatch(/unknown platform serial/);
    });

    it("does not trust a list whose signature does not verify or names a serial neither held nor listed", async () => {
      wechat.tamperNext();
      expect((await client.downloadPlatformCertificates()).ok).toBe(false);
      wechat.answerSerial = FORGED_SERIAL;
      const outcome = await client.downloadPlatformCertificates();
      expect(!outcome.ok && outcome.failure).toMatchObject({ kind: "unavailable" });
      wechat.answerSerial = null;
      expect((await client.downloadPlatformCertificates()).ok).toBe(true);
    });

    it("leaves out a tampered entry and keeps the rest", async () => {
      const next = await wechat.rotateCertificate();
      wechat.tamperCertificatesNext("associated_data");
      const outcome = await client.downloadPlatformCertificates();
      expect(outcome.ok && outcome.value.map((c) => c.serial)).toEqual([current.serial]);
      expect(next.serial).not.toBe(current.serial);
    });

    it("is refused with WeChat's code when the merchant is in public key mode", async () => {
      const publicKeyMode = await WechatPayDouble.create({
        mchId,
        appId,
        merchantSerial,
        merchantPublicPem: merchant.publicPem,
        platformKey: current.privateKey,
        platformSerial: current.serial,
        now,
      });
      const c = wechatPayClient(
        {
          mchId,
          appId,
          merchantSerial,
          merchantPrivateKey: await pkcs8Pem(merchant.privateKey),
          apiV3Key,
          platformKeys: new Map([[current.serial, publicPemOf(current)]]),
        },
        { ...deps(), fetch: publicKeyMode.fetch },
      );
      const outcome = await c.downloadPlatformCertificates();
      expect(!outcome.ok && outcome.failure).toMatchObject({ kind: "rejected", code: "RESOURCE_NOT_EXISTS" });
    });
  });
});
