/**
 * Alipay asynchronous notifications (异步通知), RSA2.
 *
 * Per Alipay's "异步通知验签" (see shared/PAYMENT-CHANNELS.md): the body is an
 * `application/x-www-form-urlencoded` POST, URL-decoded once; `sign` and `sign_type` are
 * removed, the remaining parameters sorted by key (code units) and joined as `k=v` with
 * `&`, empty values kept; the UTF-8 bytes are verified with SHA256withRSA against the
 * Alipay public key (not the app's own key). `sign_type=RSA` (SHA1) is refused. Paid only
 * when `trade_status` is TRADE_SUCCESS or TRADE_FINISHED. Reply: exactly `success`;
 * anything else is retried (about 8 times over 25 h).
 */

import { parseAmountMinor } from "../../domain/money";
import {
  type ChannelAdapter,
  type ChannelEvent,
  type MerchantCheck,
  type RawCallback,
  refuse,
  type VerifyOutcome,
} from "../channel";
import { base64Bytes, importRsaVerifyKey, spkiFromPem, strictUtf8, utf8Bytes } from "../encoding";

export interface AlipayConfig {
  readonly appId: string;
  /** The merchant's Alipay account id (2088…), checked as `seller_id`. */
  readonly sellerId: string;
  /** Alipay's public key: PEM or the bare base64 the console shows. */
  readonly alipayPublicKey: string;
}

const PARAMS_MAX = 64;
const VALUE_LENGTH_MAX = 2_048;

export function alipay(config: AlipayConfig): ChannelAdapter {
  let key: Promise<CryptoKey | null> | null = null;
  return {
    name: "alipay",
    async verify(callback: RawCallback, _nowMs: number): Promise<VerifyOutcome> {
      let params: Map<string, string>;
      try {
        params = decodeForm(strictUtf8(callback.body));
      } catch {
        return refuse("malformed", "not a form body");
      }
      const charset = params.get("charset");
      if (charset !== undefined && charset.toLowerCase() !== "utf-8") {
        return refuse("malformed", `charset ${charset.slice(0, 16)} (payments are created with utf-8)`);
      }
      const sign = params.get("sign");
      const signType = params.get("sign_type");
      if (!sign) return refuse("missing_signature", "sign");
      if (signType !== "RSA2") return refuse("weak_algorithm", `sign_type ${(signType ?? "").slice(0, 16)}`);
      const signatureBytes = base64Bytes(sign);
      if (!signatureBytes) return refuse("bad_signature", "sign is not base64");
      key ??= (async () => {
        const spki = spkiFromPem(config.alipayPublicKey);
        return spki ? importRsaVerifyKey(spki) : null;
      })();
      const publicKey = await key;
      if (!publicKey) return refuse("unknown_key", "ALIPAY_PUBLIC_KEY is not an SPKI public key");
      const valid = await crypto.subtle.verify(
        "RSASSA-PKCS1-v1_5",
        publicKey,
        signatureBytes,
        utf8Bytes(alipaySigningString(params)),
      );
      if (!valid) return refuse("bad_signature", "SHA256withRSA over the sorted parameters");

      const notifyId = params.get("notify_id");
      const outTradeNo = params.get("out_trade_no");
      if (!notifyId || !outTradeNo) return refuse("malformed", "notify_id and out_trade_no are required");
      const event = eventOf(params, outTradeNo, config);
      if (!event) return refuse("malformed", "amounts are not yuan decimals");
      return { ok: true, notification: { channel: "alipay", eventId: notifyId, event } };
    },
    received: () => new Response("success", { status: 200, headers: { "content-type": "text/plain" } }),
    retryLater: (message) =>
      new Response(`fail: ${message.slice(0, 200)}`, { status: 200, headers: { "content-type": "text/plain" } }),
  };
}

/** Decodes once; a repeated key, an over-long value or too many parameters is malformed. */
function decodeForm(body: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const [k, v] of new URLSearchParams(body)) {
    if (params.has(k) || params.size >= PARAMS_MAX || v.length > VALUE_LENGTH_MAX) throw new Error("malformed form");
    params.set(k, v);
  }
  return params;
}

/** The string Alipay signs: every parameter but `sign` and `sign_type`, sorted, `k=v&…`. */
export function alipaySigningString(params: ReadonlyMap<string, string>): string {
  return [...params]
    .filter(([k]) => k !== "sign" && k !== "sign_type")
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

function yuan(value: string | undefined): number | null {
  if (value === undefined) return null;
  const parsed = parseAmountMinor(value);
  return parsed.ok ? parsed.value : null;
}

function eventOf(params: Map<string, string>, outTradeNo: string, config: AlipayConfig): ChannelEvent | null {
  const merchant: MerchantCheck[] = [
    { field: "app_id", expected: config.appId, actual: params.get("app_id") ?? null },
    { field: "seller_id", expected: config.sellerId, actual: params.get("seller_id") ?? null },
  ];
  // A refund is notified on the trade with the cumulative refund_fee and its refund request id.
  const refundFee = params.get("refund_fee");
  if (refundFee !== undefined && params.get("gmt_refund") !== undefined) {
    const refundedTotalMinor = yuan(refundFee);
    if (refundedTotalMinor === null) return null;
    return {
      kind: "refund",
      merchantOrderNo: outTradeNo,
      providerRefundId: params.get("out_biz_no") ?? `${params.get("trade_no") ?? outTradeNo}:${refundFee}`,
      amountMinor: null,
      refundedTotalMinor,
      currency: "CNY",
      merchant,
    };
  }
  const tradeStatus = params.get("trade_status");
  const status =
    tradeStatus === "TRADE_SUCCESS" || tradeStatus === "TRADE_FINISHED"
      ? "succeeded"
      : tradeStatus === "TRADE_CLOSED"
        ? "closed"
        : null;
  if (status === null) return { kind: "ignored", reason: `trade_status ${(tradeStatus ?? "").slice(0, 32)}` };
  const amountMinor = yuan(params.get("total_amount"));
  if (amountMinor === null) return null;
  return {
    kind: "payment",
    status,
    merchantOrderNo: outTradeNo,
    providerTxnId: params.get("trade_no") ?? null,
    amountMinor,
    currency: "CNY",
    merchant,
  };
}
