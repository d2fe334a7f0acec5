import { z } from "zod";
import { type ChannelAdapter, type ChannelEvent, type RawCallback, refuse, type VerifyOutcome } from "./channel";
import { base64Bytes, framed, importRsaVerifyKey, spkiFromPem, strictUtf8, utf8Bytes } from "./encoding";

/**
 * WeChat Pay API v3 payment and refund notifications.
 *
 * Verification, per WeChat Pay's "签名验证" and "回调通知" documents (see
 * shared/PAYMENT-CHANNELS.md): the signed message is
 * `Wechatpay-Timestamp \n Wechatpay-Nonce \n <raw body> \n`, SHA256withRSA (PKCS#1 v1.5)
 * with the platform key named by `Wechatpay-Serial` (a platform certificate serial or a
 * `PUB_KEY_ID_…`); the timestamp must be within 300 s; a signature starting with
 * `WECHATPAY/SIGNTEST/` is the platform's probe and must fail. The `resource` is
 * AES-256-GCM with the merchant's 32-byte APIv3 key, the UTF-8 nonce as IV and the UTF-8
 * `associated_data` as additional data; the ciphertext ends with the 16-byte tag.
 * Reply: 204 with no body is "received"; a 5xx with `{"code":"FAIL","message":…}` asks for
 * a retry (the status decides, not the body).
 */

const WECHATPAY_TIMESTAMP_WINDOW_S = 300;
const SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048";
const PROBE_PREFIX = "WECHATPAY/SIGNTEST/";

export interface WechatPayConfig {
  readonly mchId: string;
  readonly appId: string;
  /** The APIv3 key: exactly 32 bytes of UTF-8. */
  readonly apiV3Key: string;
  /**
   * Platform public keys by serial (certificate serial or `PUB_KEY_ID_…`). WeChat rotates
   * them with an overlap: add the new serial to the deployment's keys before the old one is
   * retired, and callbacks under either verify. A serial not listed is refused ("retry
   * later"), so a callback that raced a rotation is delivered again once the keys are updated.
   */
  readonly platformKeys: ReadonlyMap<string, string>;
}

const Envelope = z.object({
  id: z.string().min(1).max(64),
  create_time: z.string().max(64).optional(),
  event_type: z.string().min(1).max(64),
  resource_type: z.literal("encrypt-resource"),
  summary: z.string().max(256).optional(),
  resource: z.object({
    algorithm: z.literal("AEAD_AES_256_GCM"),
    original_type: z.string().max(32),
    ciphertext: z.string().min(1).max(16_384),
    associated_data: z.string().max(256).optional().default(""),
    nonce: z.string().length(12),
  }),
});

const Transaction = z.object({
  appid: z.string().max(32),
  mchid: z.string().max(32),
  out_trade_no: z.string().min(1).max(64),
  transaction_id: z.string().max(64).optional(),
  trade_state: z.string().max(32),
  amount: z.object({ total: z.number().int().positive().max(Number.MAX_SAFE_INTEGER), currency: z.string().max(8) }),
});

const Refund = z.object({
  mchid: z.string().max(32),
  out_trade_no: z.string().min(1).max(64),
  refund_id: z.string().min(1).max(64),
  refund_status: z.string().max(32),
  amount: z.object({ refund: z.number().int().positive().max(Number.MAX_SAFE_INTEGER) }),
});

export function wechatPay(config: WechatPayConfig): ChannelAdapter {
  // Imported once, on the first callback; an unknown serial is refused without touching them.
  let keys: Promise<Map<string, CryptoKey>> | null = null;
  const keyFor = async (serial: string): Promise<CryptoKey | undefined> => {
    keys ??= (async () => {
      const imported = new Map<string, CryptoKey>();
      for (const [id, pem] of config.platformKeys) {
        const spki = spkiFromPem(pem);
        if (spki) imported.set(id, await importRsaVerifyKey(spki));
      }
      return imported;
    })();
    return (await keys).get(serial);
  };
  let aesKey: Promise<CryptoKey> | null = null;

  return {
    name: "wechatpay",
    async verify(callback: RawCallback, nowMs: number): Promise<VerifyOutcome> {
      const h = callback.headers;
      const timestamp = h.get("wechatpay-timestamp");
      const nonce = h.get("wechatpay-nonce");
      const signature = h.get("wechatpay-signature");
      const serial = h.get("wechatpay-serial");
      if (!timestamp || !nonce || !signature || !serial) return refuse("missing_signature", "Wechatpay-* headers");
      const type = h.get("wechatpay-signature-type");
      if (type !== null && type !== SIGNATURE_TYPE) return refuse("weak_algorithm", `signature type ${type}`);
      if (signature.startsWith(PROBE_PREFIX)) return refuse("probe_signature", "WECHATPAY/SIGNTEST/ probe");
      if (!/^[0-9]{1,12}$/.test(timestamp)) return refuse("malformed", "Wechatpay-Timestamp");
      if (Math.abs(nowMs / 1000 - Number(timestamp)) > WECHATPAY_TIMESTAMP_WINDOW_S) {
        return refuse("stale_timestamp", `timestamp ${timestamp}`);
      }
      const key = await keyFor(serial);
      if (!key) return refuse("unknown_key", `serial ${serial.slice(0, 64)}`);
      const signatureBytes = base64Bytes(signature);
      if (!signatureBytes) return refuse("bad_signature", "signature is not base64");
      const message = framed(`${timestamp}\n${nonce}\n`, callback.body, "\n");
      const valid = await crypto.subtle.verify("RSASSA-PKCS1-v1_5", key, signatureBytes, message);
      if (!valid) return refuse("bad_signature", "SHA256withRSA over timestamp, nonce and body");

      let envelope: z.infer<typeof Envelope>;
      try {
        envelope = Envelope.parse(JSON.parse(strictUtf8(callback.body)));
      } catch {
        return refuse("malformed", "notification body");
      }
      aesKey ??= crypto.subtle.importKey("raw", utf8Bytes(config.apiV3Key), "AES-GCM", false, ["decrypt"]);
      const sealed = base64Bytes(envelope.resource.ciphertext);
      if (!sealed || sealed.length <= 16) return refuse("decrypt_failed", "ciphertext is not base64 with a tag");
      let plaintext: string;
      try {
        const opened = await crypto.subtle.decrypt(
          {
            name: "AES-GCM",
            iv: utf8Bytes(envelope.resource.nonce),
            additionalData: utf8Bytes(envelope.resource.associated_data),
            tagLength: 128,
          },
          await aesKey,
          sealed,
        );
        plaintext = strictUtf8(opened);
      } catch {
        return refuse("decrypt_failed", "AES-256-GCM authentication failed");
      }
      const event = eventOf(envelope, plaintext, config);
      if (!event) return refuse("malformed", `${envelope.event_type} resource`);
      return { ok: true, notification: { channel: "wechatpay", eventId: envelope.id, event } };
    },
    received: () => new Response(null, { status: 204 }),
    retryLater: (message) => Response.json({ code: "FAIL", message: message.slice(0, 200) }, { status: 500 }),
  };
}

function eventOf(envelope: z.infer<typeof Envelope>, plaintext: string, config: WechatPayConfig): ChannelEvent | null {
  let json: unknown;
  try {
    json = JSON.parse(plaintext);
  } catch {
    return null;
  }
  if (envelope.resource.original_type === "transaction") {
    const t = Transaction.safeParse(json);
    if (!t.success) return null;
    const status =
      t.data.trade_state === "SUCCESS"
        ? "succeeded"
        : t.data.trade_state === "CLOSED" || t.data.trade_state === "REVOKED"
          ? "closed"
          : t.data.trade_state === "PAYERROR"
            ? "failed"
            : null;
    if (status === null) return { kind: "ignored", reason: `trade_state ${t.data.trade_state}` };
    return {
      kind: "payment",
      status,
      merchantOrderNo: t.data.out_trade_no,
      providerTxnId: t.data.transaction_id ?? null,
      amountMinor: t.data.amount.total,
      currency: t.data.amount.currency,
      merchant: [
        { field: "mchid", expected: config.mchId, actual: t.data.mchid },
        { field: "appid", expected: config.appId, actual: t.data.appid },
      ],
    };
  }
  if (envelope.resource.original_type === "refund") {
    const r = Refund.safeParse(json);
    if (!r.success) return null;
    if (r.data.refund_status !== "SUCCESS") return { kind: "ignored", reason: `refund_status ${r.data.refund_status}` };
    return {
      kind: "refund",
      merchantOrderNo: r.data.out_trade_no,
      providerRefundId: r.data.refund_id,
      amountMinor: r.data.amount.refund,
      refundedTotalMinor: null,
      currency: "CNY",
      merchant: [{ field: "mchid", expected: config.mchId, actual: r.data.mchid }],
    };
  }
  return { kind: "ignored", reason: `original_type ${envelope.resource.original_type}` };
}
