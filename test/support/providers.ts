/**
 * The providers' side, for tests: key pairs generated here, and callbacks signed exactly
 * as WeChat Pay, Alipay and Stripe sign theirs (shared/PAYMENT-CHANNELS.md). WebCrypto
 * only, so the same helpers run in Node (unit) and in workerd (integration).
 */
import { signSandbox } from "../../dev/sandbox-provider/src/signature";
import { alipaySigningString } from "../../src/channels/alipay/webhook";
import { bytesBase64, framed, utf8Bytes } from "../../src/channels/encoding";

export interface RsaPair {
  readonly privateKey: CryptoKey;
  readonly publicPem: string;
}

export async function rsaPair(): Promise<RsaPair> {
  const pair = (await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  )) as CryptoKeyPair;
  const spki = new Uint8Array((await crypto.subtle.exportKey("spki", pair.publicKey)) as ArrayBuffer);
  const body = bytesBase64(spki).replace(/(.{64})/g, "$1\n");
  return { privateKey: pair.privateKey, publicPem: `-----BEGIN PUBLIC KEY-----\n${body}\n-----END PUBLIC KEY-----\n` };
}

async function rsaSign(key: CryptoKey, message: Uint8Array<ArrayBuffer>): Promise<string> {
  return bytesBase64(new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key, message)));
}

// ── WeChat Pay v3 ────────────────────────────────────────────────────────────────────────

export async function wechatSeal(
  apiV3Key: string,
  plaintext: string,
  nonce: string,
  associatedData: string,
): Promise<string> {
  const key = await crypto.subtle.importKey("raw", utf8Bytes(apiV3Key), "AES-GCM", false, ["encrypt"]);
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv: utf8Bytes(nonce), additionalData: utf8Bytes(associatedData), tagLength: 128 },
    key,
    utf8Bytes(plaintext),
  );
  return bytesBase64(new Uint8Array(sealed));
}

export interface WechatNotifyOptions {
  readonly apiV3Key: string;
  readonly platformKey: CryptoKey;
  readonly serial: string;
  readonly nowMs: number;
  readonly id?: string;
  readonly eventType?: string;
  readonly originalType?: "transaction" | "refund" | "mch_payment";
  readonly associatedData?: string;
  readonly nonce?: string;
}

export async function wechatBody(resource: Record<string, unknown>, o: WechatNotifyOptions): Promise<string> {
  const nonce = o.nonce ?? "fdasflkja484";
  const associatedData = o.associatedData ?? "transaction";
  return JSON.stringify({
    id: o.id ?? `EV-${crypto.randomUUID()}`,
    create_time: new Date(o.nowMs).toISOString(),
    resource_type: "encrypt-resource",
    event_type: o.eventType ?? "TRANSACTION.SUCCESS",
    summary: "支付成功",
    resource: {
      original_type: o.originalType ?? "transaction",
      algorithm: "AEAD_AES_256_GCM",
      ciphertext: await wechatSeal(o.apiV3Key, JSON.stringify(resource), nonce, associatedData),
      associated_data: associatedData,
      nonce,
    },
  });
}

export async function wechatHeaders(
  body: string | Uint8Array<ArrayBuffer>,
  o: { platformKey: CryptoKey; serial: string; nowMs: number; nonce?: string },
): Promise<Record<string, string>> {
  const timestamp = String(Math.floor(o.nowMs / 1000));
  const nonce = o.nonce ?? crypto.randomUUID().replaceAll("-", "");
  const bytes = typeof body === "string" ? utf8Bytes(body) : body;
  const message = framed(`${timestamp}\n${nonce}\n`, bytes, "\n");
  return {
    "content-type": "application/json",
    "wechatpay-timestamp": timestamp,
    "wechatpay-nonce": nonce,
    "wechatpay-serial": o.serial,
    "wechatpay-signature-type": "WECHATPAY2-SHA256-RSA2048",
    "wechatpay-signature": await rsaSign(o.platformKey, message),
  };
}

export function wechatTransaction(t: {
  appid: string;
  mchid: string;
  orderNo: string;
  txnId: string;
  amountMinor: number;
  state?: string;
}): Record<string, unknown> {
  return {
    appid: t.appid,
    mchid: t.mchid,
    out_trade_no: t.orderNo,
    transaction_id: t.txnId,
    trade_type: "NATIVE",
    trade_state: t.state ?? "SUCCESS",
    trade_state_desc: "支付成功",
    bank_type: "OTHERS",
    success_time: "2026-11-22T10:00:00+08:00",
    payer: { openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" },
    amount: { total: t.amountMinor, payer_total: t.amountMinor, currency: "CNY", payer_currency: "CNY" },
  };
}

// ── Alipay ───────────────────────────────────────────────────────────────────────────────

/** A signed notify body, form-encoded the way Alipay posts it. */
export async function alipayBody(
  params: Record<string, string>,
  o: { alipayKey: CryptoKey; signType?: string },
): Promise<string> {
  const map = new Map(Object.entries(params));
  const sign = await rsaSign(o.alipayKey, utf8Bytes(alipaySigningString(map)));
  const form = new URLSearchParams({ ...params, sign_type: o.signType ?? "RSA2", sign });
  return form.toString();
}

export function alipayTrade(t: {
  appId: string;
  sellerId: string;
  orderNo: string;
  tradeNo: string;
  totalAmount: string;
  status?: string;
  notifyId?: string;
}): Record<string, string> {
  return {
    notify_time: "2026-11-22 10:00:00",
    notify_type: "trade_status_sync",
    notify_id: t.notifyId ?? `ac05099524730693a8b330c5ecf72da${Math.floor(Math.random() * 1e6)}`,
    charset: "utf-8",
    version: "1.0",
    app_id: t.appId,
    seller_id: t.sellerId,
    buyer_id: "2088102122524333",
    trade_no: t.tradeNo,
    out_trade_no: t.orderNo,
    trade_status: t.status ?? "TRADE_SUCCESS",
    total_amount: t.totalAmount,
    receipt_amount: t.totalAmount,
    subject: "giftwire 充值",
    body: "",
    gmt_payment: "2026-11-22 10:00:00",
  };
}

// ── Stripe ───────────────────────────────────────────────────────────────────────────────

/** Stripe's v1 scheme; the sandbox signs its callbacks the same way. */
export async function stripeSignature(secret: string, body: string, nowMs: number, extra = ""): Promise<string> {
  return `${await signSandbox(secret, body, nowMs)}${extra}`;
}

export function stripeEvent(e: {
  id?: string;
  type?: string;
  orderNo: string;
  intentId: string;
  amountMinor: number;
  livemode?: boolean;
}): string {
  return JSON.stringify({
    id: e.id ?? `evt_${crypto.randomUUID().replaceAll("-", "")}`,
    object: "event",
    api_version: "2025-10-29.clover",
    created: 1_790_000_000,
    type: e.type ?? "payment_intent.succeeded",
    livemode: e.livemode ?? false,
    data: {
      object: {
        id: e.intentId,
        object: "payment_intent",
        amount: e.amountMinor,
        amount_received: e.amountMinor,
        currency: "cny",
        status: "succeeded",
        metadata: { order_no: e.orderNo },
      },
    },
  });
}
