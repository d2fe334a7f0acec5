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

import { z } from "zod";
import {
  type ChannelAdapter,
  type ChannelEvent,
  type RawCallback,
  refuse,
  type VerifyFailure,
  type VerifyOutcome,
} from "../channel";
import type { Outbound } from "../client";
import { base64Bytes, framed, importRsaVerifyKey, spkiFromPem, strictUtf8, utf8Bytes } from "../encoding";

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
   * retired, and callbacks under either verify. A serial not listed (nor downloaded, in
   * certificate mode) is refused ("retry later"), so a callback that raced a rotation is
   * delivered again once the keys are updated.
   */
  readonly platformKeys: ReadonlyMap<string, string>;
  /**
   * Certificate mode: WeChat's current platform certificates (`GET /v3/certificates`). Called
   * on a certificate serial not held — "unknown serial → reload keys, then reject" — at most
   * once per minute per isolate and never for a `PUB_KEY_ID_…` (those keys come only from the
   * merchant console, so there is nothing to download).
   */
  readonly reloadKeys?: () => Promise<Outbound<readonly WechatPlatformCertificate[]>>;
}

/** A platform certificate's key as downloaded, opened and parsed (see api.ts). */
export interface WechatPlatformCertificate {
  /** `serial_no`, which `Wechatpay-Serial` names; equal to the certificate's own serial. */
  readonly serial: string;
  readonly spki: Uint8Array<ArrayBuffer>;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

/**
 * A forged serial must not make us hammer WeChat (its limit is per merchant, shared with
 * every isolate): one download per minute, and concurrent callbacks wait for the same one.
 * A genuine callback that raced a rotation and came within the minute is refused "retry
 * later"; WeChat's next delivery (15 s, 15 s, 30 s, 3 min…) finds the key.
 */
export const KEY_RELOAD_INTERVAL_MS = 60_000;
/** WeChat lists one or two certificates (two during a rotation); keep a few, never a pile. */
const DOWNLOADED_KEYS_MAX = 8;
/** Certificate serials are hex (WeChat's `serial_no` is string[1,40]); anything else is not worth a download. */
const CERTIFICATE_SERIAL = /^[0-9A-Fa-f]{1,40}$/;

/** Public key mode: keys with these ids come only from the merchant console. */
export function isPublicKeyId(serial: string): boolean {
  return serial.startsWith("PUB_KEY_ID_");
}

/** The APIv3 key, for {@link openWechatSealed}. */
export function importApiV3Key(apiV3Key: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", utf8Bytes(apiV3Key), "AES-GCM", false, ["decrypt"]);
}

/**
 * AEAD_AES_256_GCM as WeChat seals callback resources and downloaded platform certificates
 * alike: key = the APIv3 key, IV = the UTF-8 nonce, additional data = the UTF-8
 * associated_data, input = base64(ciphertext ‖ 16-byte tag). The UTF-8 plaintext, or null
 * when it is not base64 with a tag, does not authenticate, or is not UTF-8.
 */
export async function openWechatSealed(
  apiV3Key: CryptoKey,
  sealed: { readonly ciphertext: string; readonly nonce: string; readonly associated_data: string },
): Promise<string | null> {
  const bytes = base64Bytes(sealed.ciphertext);
  if (!bytes || bytes.length <= 16) return null;
  try {
    const opened = await crypto.subtle.decrypt(
      {
        name: "AES-GCM",
        iv: utf8Bytes(sealed.nonce),
        additionalData: utf8Bytes(sealed.associated_data),
        tagLength: 128,
      },
      apiV3Key,
      bytes,
    );
    return strictUtf8(opened);
  } catch {
    return null;
  }
}

export const WechatEnvelope = z.object({
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

export type WechatEnvelope = z.infer<typeof WechatEnvelope>;

/** A callback whose signature, time and sealed resource all check out, or why not. */
export type OpenedWechatCallback =
  | { readonly ok: true; readonly envelope: WechatEnvelope; readonly plaintext: string }
  | { readonly ok: false; readonly failure: VerifyFailure; readonly detail: string };

/**
 * The checks every WeChat Pay v3 callback gets (payments and payouts alike): the Wechatpay-*
 * headers, SHA256withRSA over `timestamp\nnonce\nbody\n` with the key `keyFor` finds for the
 * serial (a string is why there is none), ±300 s, the SIGNTEST probe refused, then the
 * envelope parsed and its resource opened with the APIv3 key.
 */
export async function openWechatCallback(
  callback: RawCallback,
  nowMs: number,
  keyFor: (serial: string) => Promise<CryptoKey | string>,
  aesKey: () => Promise<CryptoKey>,
): Promise<OpenedWechatCallback> {
  const refused = (failure: VerifyFailure, detail: string) => ({ ok: false, failure, detail }) as const;
  const h = callback.headers;
  const timestamp = h.get("wechatpay-timestamp");
  const nonce = h.get("wechatpay-nonce");
  const signature = h.get("wechatpay-signature");
  const serial = h.get("wechatpay-serial");
  if (!timestamp || !nonce || !signature || !serial) return refused("missing_signature", "Wechatpay-* headers");
  const type = h.get("wechatpay-signature-type");
  if (type !== null && type !== SIGNATURE_TYPE) return refused("weak_algorithm", `signature type ${type}`);
  if (signature.startsWith(PROBE_PREFIX)) return refused("probe_signature", "WECHATPAY/SIGNTEST/ probe");
  if (!/^[0-9]{1,12}$/.test(timestamp)) return refused("malformed", "Wechatpay-Timestamp");
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > WECHATPAY_TIMESTAMP_WINDOW_S) {
    return refused("stale_timestamp", `timestamp ${timestamp}`);
  }
  const key = await keyFor(serial);
  if (typeof key === "string") return refused("unknown_key", key);
  const signatureBytes = base64Bytes(signature);
  if (!signatureBytes) return refused("bad_signature", "signature is not base64");
  const message = framed(`${timestamp}\n${nonce}\n`, callback.body, "\n");
  if (!(await crypto.subtle.verify("RSASSA-PKCS1-v1_5", key, signatureBytes, message))) {
    return refused("bad_signature", "SHA256withRSA over timestamp, nonce and body");
  }
  let envelope: WechatEnvelope;
  try {
    envelope = WechatEnvelope.parse(JSON.parse(strictUtf8(callback.body)));
  } catch {
    return refused("malformed", "notification body");
  }
  const plaintext = await openWechatSealed(await aesKey(), envelope.resource);
  if (plaintext === null) return refused("decrypt_failed", "AES-256-GCM: not base64 with a tag, or not authentic");
  return { ok: true, envelope, plaintext };
}

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
  const configuredKey = async (serial: string): Promise<CryptoKey | undefined> => {
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
  // Downloaded certificate keys, by serial, each usable only within its validity.
  const downloaded = new Map<
    string,
    { readonly key: CryptoKey; readonly notBeforeMs: number; readonly notAfterMs: number }
  >();
  const downloadedKey = (serial: string, nowMs: number): CryptoKey | undefined => {
    const d = downloaded.get(serial);
    return d && d.notBeforeMs <= nowMs && nowMs <= d.notAfterMs ? d.key : undefined;
  };
  // Configured keys win: a download can add a serial, never replace one the operator set.
  const keyFor = async (serial: string, nowMs: number): Promise<CryptoKey | undefined> =>
    (await configuredKey(serial)) ?? downloadedKey(serial, nowMs);

  let lastReloadMs = Number.NEGATIVE_INFINITY;
  let reloading: Promise<string> | null = null;
  /** Downloads the current certificates (rate-limited, single-flight); says what happened, for the refusal's detail. */
  const reload = (nowMs: number): Promise<string> => {
    const reloadKeys = config.reloadKeys;
    if (!reloadKeys) return Promise.resolve("no key download configured");
    if (reloading) return reloading;
    if (nowMs - lastReloadMs < KEY_RELOAD_INTERVAL_MS) return Promise.resolve("keys were reloaded under a minute ago");
    // A failed download counts too: an outage must not turn every forged callback into a call.
    lastReloadMs = nowMs;
    reloading = (async () => {
      try {
        const outcome = await reloadKeys();
        if (!outcome.ok) return `key download failed: ${outcome.failure.detail}`;
        let added = 0;
        for (const c of outcome.value) {
          if (c.notBeforeMs > nowMs || nowMs > c.notAfterMs) continue;
          if (await configuredKey(c.serial)) continue;
          downloaded.set(c.serial, {
            key: await importRsaVerifyKey(c.spki),
            notBeforeMs: c.notBeforeMs,
            notAfterMs: c.notAfterMs,
          });
          added++;
        }
        for (const [serial, d] of downloaded) if (d.notAfterMs < nowMs) downloaded.delete(serial);
        // Oldest first in insertion order: a flood of distinct serials cannot grow the map.
        for (const serial of downloaded.keys()) {
          if (downloaded.size <= DOWNLOADED_KEYS_MAX) break;
          downloaded.delete(serial);
        }
        return `downloaded ${outcome.value.length} certificates, ${added} valid now`;
      } finally {
        reloading = null;
      }
    })();
    return reloading;
  };

  let aesKey: Promise<CryptoKey> | null = null;

  return {
    name: "wechatpay",
    async verify(callback: RawCallback, nowMs: number): Promise<VerifyOutcome> {
      const opened = await openWechatCallback(
        callback,
        nowMs,
        async (serial) => {
          const key = await keyFor(serial, nowMs);
          if (key) return key;
          if (!isPublicKeyId(serial) && CERTIFICATE_SERIAL.test(serial)) {
            const reloaded = await reload(nowMs);
            return (await keyFor(serial, nowMs)) ?? `serial ${serial} (${reloaded})`;
          }
          return `serial ${serial.slice(0, 64)}`;
        },
        () => {
          aesKey ??= importApiV3Key(config.apiV3Key);
          return aesKey;
        },
      );
      if (!opened.ok) return refuse(opened.failure, opened.detail);
      const { envelope, plaintext } = opened;
      const event = eventOf(envelope, plaintext, config);
      if (!event) return refuse("malformed", `${envelope.event_type} resource`);
      return { ok: true, notification: { channel: "wechatpay", eventId: envelope.id, event } };
    },
    received: () => new Response(null, { status: 204 }),
    retryLater: (message) => Response.json({ code: "FAIL", message: message.slice(0, 200) }, { status: 500 }),
  };
}

function eventOf(envelope: WechatEnvelope, plaintext: string, config: WechatPayConfig): ChannelEvent | null {
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
