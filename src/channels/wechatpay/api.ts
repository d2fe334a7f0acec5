/**
 * WeChat Pay API v3 (direct merchant): Native order, query by out_trade_no, domestic refund.
 *
 * Requests, per "签名生成" (pay.weixin.qq.com/wiki/doc/apiv3/wechatpay/wechatpay4_0.shtml):
 * `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",timestamp="…",serial_no="…"`
 * where signature is base64 SHA256withRSA, with the merchant API private key, over
 * `METHOD\nURL\ntimestamp\nnonce\nbody\n` — URL is the path with its query string, body is
 * empty for GET, every line ends with `\n`. Per "基本规则" requests send
 * `Accept: application/json` (and `Content-Type: application/json` with a body) and a
 * User-Agent.
 *
 * Answers, per "签名验证" (…/wechatpay4_1.shtml) and "签名" (…/wechatpay3_3.shtml): WeChat signs
 * every answer to a request whose signature it accepted, with the platform key named by
 * `Wechatpay-Serial`, over `Wechatpay-Timestamp\nWechatpay-Nonce\nbody\n` — the same framing as
 * callbacks. "A 2xx without a signature must be treated as forged or tampered", so a 2xx is
 * trusted only when it verifies; an unknown serial, a stale timestamp (±300 s) or the
 * `WECHATPAY/SIGNTEST/` probe is not trusted either: `unavailable`. A 4xx that carries a
 * signature must verify too; a 4xx without one is WeChat refusing a request it could not
 * authenticate (401 SIGN_ERROR carries none), taken as `rejected` — except where the answer
 * asserts a fact about money (ORDER_NOT_EXIST), which must be signed.
 *
 * Errors, per "基本规则 · 错误信息": 4xx with `{ code, message }` is the request's fault
 * (`rejected(code)`); 429 (RATELIMIT_EXCEEDED / FREQUENCY_LIMITED) and 5xx (SYSTEM_ERROR, ...)
 * ask for a retry (`unavailable`).
 *
 * Platform certificates, per "获取平台证书列表" (GET /v3/certificates,
 * pay.weixin.qq.com/wiki/doc/apiv3/wechatpay/wechatpay5_1.shtml, now
 * pay.weixin.qq.com/doc/v3/merchant/4012551764): `{ data: [{ serial_no, effective_time,
 * expire_time, encrypt_certificate: { algorithm: "AEAD_AES_256_GCM", nonce, associated_data:
 * "certificate", ciphertext } }] }`, the PEM sealed with the APIv3 key like callback
 * resources. WeChat adds a new certificate to the list 24 h before it starts signing with it;
 * a merchant in public key mode (`PUB_KEY_ID_…`) has no certificates (the call answers 404).
 */

import { z } from "zod";
import {
  type ChannelClient,
  type ClientDeps,
  type CreatePaymentRequest,
  type CreatePaymentResult,
  callWithDeadline,
  type Outbound,
  type PaymentEvent,
  parseJson,
  type QueryResult,
  type RefundRequest,
  type RefundResult,
  rejected,
  type StatementDownloadFailure,
  success,
  unavailable,
} from "../client";
import {
  base64Bytes,
  bytesHex,
  CHINA_STANDARD_TIME_OFFSET_MS,
  framed,
  importRsaSignKey,
  importRsaVerifyKey,
  pkcs8FromPem,
  rsaSignBase64,
  spkiFromPem,
  utf8Bytes,
} from "../encoding";
import { readCertificate } from "../x509";
import { importApiV3Key, openWechatSealed, type WechatPlatformCertificate } from "./webhook";

export interface WechatPayApiConfig {
  readonly mchId: string;
  readonly appId: string;
  /** The serial of the merchant API certificate whose private key signs our requests. */
  readonly merchantSerial: string;
  /** The merchant API private key (`apiclient_key.pem`): PKCS#8 PEM or its bare base64. */
  readonly merchantPrivateKey: string;
  /** The APIv3 key (32 bytes of UTF-8): downloaded platform certificates are sealed with it. */
  readonly apiV3Key: string;
  /** Platform public keys by serial (certificate serial or `PUB_KEY_ID_…`), as for callbacks. */
  readonly platformKeys: ReadonlyMap<string, string>;
  /** Default https://api.mch.weixin.qq.com (api2.mch.weixin.qq.com is the documented backup). */
  readonly apiBase?: string;
}

const SCHEMA = "WECHATPAY2-SHA256-RSA2048";
const RESPONSE_WINDOW_S = 300;
const PROBE_PREFIX = "WECHATPAY/SIGNTEST/";
export const USER_AGENT = "giftwire/0.1 (Cloudflare Workers; WeChatPay-APIv3)";
/** WeChat's `reason` is string(80). */
const REFUND_REASON_MAX = 80;

const Total = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

const NativeAnswer = z.object({ code_url: z.string().min(1).max(512) });

// "商户订单号查询订单" (pay.weixin.qq.com/doc/v3/merchant/4012556352): trade_state is one of
// SUCCESS, REFUND, NOTPAY, CLOSED, REVOKED, USERPAYING, PAYERROR.
const Transaction = z.object({
  appid: z.string().max(32).optional(),
  mchid: z.string().max(32),
  out_trade_no: z.string().min(1).max(32),
  transaction_id: z.string().min(1).max(32).optional(),
  trade_state: z.string().min(1).max(32),
  amount: z.object({ total: Total.optional(), currency: z.string().max(16).optional() }).optional(),
});
type Transaction = z.infer<typeof Transaction>;

// "退款申请" (POST /v3/refund/domestic/refunds): status is SUCCESS, CLOSED, PROCESSING or ABNORMAL.
const RefundAnswer = z.object({
  refund_id: z.string().min(1).max(32),
  out_refund_no: z.string().min(1).max(64),
  status: z.string().min(1).max(32),
});

const ErrorBody = z.object({ code: z.string().min(1).max(64), message: z.string().max(1_000).optional() });

/** WeChat lists one certificate, two during a rotation; a long list is not WeChat's. */
const CERTIFICATES_MAX = 16;
const CertificateList = z.object({ data: z.array(z.unknown()).max(CERTIFICATES_MAX) });
const CertificateEntry = z.object({
  serial_no: z.string().regex(/^[0-9A-Fa-f]{1,40}$/),
  encrypt_certificate: z.object({
    algorithm: z.literal("AEAD_AES_256_GCM"),
    nonce: z.string().length(12),
    associated_data: z.string().max(64).optional().default(""),
    ciphertext: z.string().min(1).max(16_384),
  }),
});

/** Serials compared as numbers: upper-case hex with leading zeros dropped (SDKs print both ways). */
function sameSerial(a: string, b: string): boolean {
  const canonical = (s: string) => s.toUpperCase().replace(/^0+(?=.)/, "");
  return canonical(a) === canonical(b);
}

export interface WechatPayClient extends ChannelClient {
  /**
   * WeChat's current platform certificates (certificate mode), each opened with the APIv3 key,
   * parsed, and kept only when its own serial is the `serial_no` it is listed under. An entry
   * that does not open or parse is left out, so it can add no key.
   */
  downloadPlatformCertificates(): Promise<Outbound<WechatPlatformCertificate[]>>;
}

/** RFC 3339 in Beijing time, as `time_expire` is documented: `2015-05-20T13:29:35+08:00`. */
export function wechatTimeExpire(atMs: number): string {
  return `${new Date(atMs + CHINA_STANDARD_TIME_OFFSET_MS).toISOString().slice(0, 19)}+08:00`;
}

/** What came back, once it is known whether WeChat's signature vouches for it. */
interface Answer {
  readonly status: number;
  readonly text: string;
  readonly signed: boolean;
}

/** 申请交易账单. */
export const TRADEBILL_PATH = "/v3/bill/tradebill";

const TradeBill = z.object({
  hash_type: z.literal("SHA1"),
  hash_value: z.string().regex(/^[0-9a-fA-F]{40}$/),
  download_url: z.string().min(1).max(2_000),
});

/** WeChat's trade bill (ALL) of a day without trades: its header and a zero summary. */
export const EMPTY_TRADE_BILL = [
  "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注",
  "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额",
  "`0,`0.00,`0.00,`0.00,`0.00000,`0.00,`0.00",
  "",
].join("\r\n");

export function wechatPayClient(config: WechatPayApiConfig, deps: ClientDeps): WechatPayClient {
  const pkcs8 = pkcs8FromPem(config.merchantPrivateKey);
  if (!pkcs8) throw new Error("WeChat Pay merchantPrivateKey must be a PKCS#8 private key");
  const apiBase = config.apiBase ?? "https://api.mch.weixin.qq.com";
  const signingKey = importRsaSignKey(pkcs8);
  // Imported once, on the first answer; an answer under an unknown serial is not trusted.
  let platform: Promise<Map<string, CryptoKey>> | null = null;
  const platformKey = async (serial: string): Promise<CryptoKey | undefined> => {
    platform ??= (async () => {
      const keys = new Map<string, CryptoKey>();
      for (const [id, pem] of config.platformKeys) {
        const spki = spkiFromPem(pem);
        if (spki) keys.set(id, await importRsaVerifyKey(spki));
      }
      return keys;
    })();
    return (await platform).get(serial);
  };
  let aesKey: Promise<CryptoKey> | null = null;

  async function authorization(method: string, url: string, body: string): Promise<string> {
    const timestamp = String(Math.floor(deps.now() / 1000));
    const nonce = bytesHex(crypto.getRandomValues(new Uint8Array(16)));
    const message = `${method}\n${url}\n${timestamp}\n${nonce}\n${body}\n`;
    const signature = await rsaSignBase64(await signingKey, utf8Bytes(message));
    return `${SCHEMA} mchid="${config.mchId}",nonce_str="${nonce}",signature="${signature}",timestamp="${timestamp}",serial_no="${config.merchantSerial}"`;
  }

  /** Why an answer's signature does not vouch for it, or null when it does. */
  async function distrust(
    headers: Headers,
    text: string,
    keyFor: (serial: string) => Promise<CryptoKey | undefined>,
  ): Promise<string | null> {
    const timestamp = headers.get("wechatpay-timestamp");
    const nonce = headers.get("wechatpay-nonce");
    const signature = headers.get("wechatpay-signature");
    const serial = headers.get("wechatpay-serial") ?? "";
    if (!timestamp || !nonce || !signature) return "no Wechatpay-Signature";
    if (signature.startsWith(PROBE_PREFIX)) return "WECHATPAY/SIGNTEST/ probe";
    if (!/^[0-9]{1,12}$/.test(timestamp)) return "malformed Wechatpay-Timestamp";
    if (Math.abs(deps.now() / 1000 - Number(timestamp)) > RESPONSE_WINDOW_S) return `stale timestamp ${timestamp}`;
    const key = await keyFor(serial);
    if (!key) return `unknown platform serial ${serial.slice(0, 64)}`;
    const bytes = base64Bytes(signature);
    if (!bytes) return "signature is not base64";
    const message = framed(`${timestamp}\n${nonce}\n`, utf8Bytes(text), "\n");
    const valid = await crypto.subtle.verify("RSASSA-PKCS1-v1_5", key, bytes, message);
    return valid ? null : "signature does not verify";
  }

  /**
   * One signed request, and its answer once WeChat's signature vouches for it. `keyFor` finds
   * the platform key the signature names; it sees the answer's text, because the certificate
   * list brings the key that may sign it.
   */
  async function call(
    method: "GET" | "POST",
    url: string,
    body: object | null,
    keyFor: (serial: string, text: string) => Promise<CryptoKey | undefined> = platformKey,
  ): Promise<Outbound<Answer>> {
    const text = body === null ? "" : JSON.stringify(body);
    const headers: Record<string, string> = {
      authorization: await authorization(method, url, text),
      accept: "application/json",
      "user-agent": USER_AGENT,
    };
    const init: RequestInit = { method, headers };
    if (body !== null) {
      headers["content-type"] = "application/json";
      init.body = text;
    }
    const answer = await callWithDeadline(deps, `${apiBase}${url}`, init);
    if (!answer.ok) return { ok: false, failure: answer.failure };
    const { response } = answer;
    // Retryable whatever the body says, so there is nothing to authenticate.
    if (response.status >= 500 || response.status === 429) return unavailable(`WeChat Pay HTTP ${response.status}`);
    const hasSignature = response.headers.has("wechatpay-signature");
    const is2xx = response.status >= 200 && response.status <= 299;
    if (hasSignature || is2xx) {
      const why = await distrust(response.headers, answer.text, (serial) => keyFor(serial, answer.text));
      if (why !== null) return unavailable(`WeChat Pay HTTP ${response.status} not trusted: ${why}`);
    }
    return success({ status: response.status, text: answer.text, signed: hasSignature });
  }

  /** A non-2xx that is not retryable: WeChat's `{ code, message }`. */
  function refusal(answer: Answer): Outbound<never> {
    const error = parseJson(answer.text, ErrorBody);
    if (answer.status < 400 || !error) return unavailable(`WeChat Pay HTTP ${answer.status} without { code, message }`);
    return rejected(error.code, error.message ?? `HTTP ${answer.status}`);
  }

  function eventOf(t: Transaction, merchantOrderNo: string): Outbound<QueryResult> {
    const status =
      // REFUND (转入退款): the payment succeeded and a refund has since been applied to it.
      t.trade_state === "SUCCESS" || t.trade_state === "REFUND"
        ? "succeeded"
        : t.trade_state === "CLOSED" || t.trade_state === "REVOKED"
          ? "closed"
          : t.trade_state === "PAYERROR"
            ? "failed"
            : null;
    if (status === null) {
      if (t.trade_state === "NOTPAY" || t.trade_state === "USERPAYING") return success({ state: "open" });
      return unavailable(`trade_state ${t.trade_state} is not documented`);
    }
    const total = t.amount?.total;
    if (total === undefined) return unavailable(`trade_state ${t.trade_state} without amount.total`);
    if (status === "succeeded" && !t.transaction_id) return unavailable("SUCCESS without transaction_id");
    const event: PaymentEvent = {
      kind: "payment",
      status,
      merchantOrderNo,
      providerTxnId: t.transaction_id ?? null,
      amountMinor: total,
      currency: t.amount?.currency ?? "CNY",
      // The same checks the callback adapter makes: the answer is about our merchant and app.
      merchant: [
        { field: "mchid", expected: config.mchId, actual: t.mchid },
        { field: "appid", expected: config.appId, actual: t.appid ?? null },
      ],
    };
    return success({ state: "final", event });
  }

  /** The certificates in a list's text that open, parse and carry the serial they are listed under. */
  async function certificatesIn(text: string): Promise<WechatPlatformCertificate[] | null> {
    const list = parseJson(text, CertificateList);
    if (!list) return null;
    aesKey ??= importApiV3Key(config.apiV3Key);
    const certificates: WechatPlatformCertificate[] = [];
    for (const item of list.data) {
      const entry = CertificateEntry.safeParse(item);
      if (!entry.success) continue;
      const pem = await openWechatSealed(await aesKey, entry.data.encrypt_certificate);
      const facts = pem === null ? null : readCertificate(pem);
      if (!facts || !sameSerial(facts.serial, entry.data.serial_no)) continue;
      // The certificate's own validity, not effective_time / expire_time: those sit outside the
      // AEAD, and WeChat notes they may differ from the PEM's during a rotation.
      certificates.push({
        serial: entry.data.serial_no,
        spki: facts.spki,
        notBeforeMs: facts.notBeforeMs,
        notAfterMs: facts.notAfterMs,
      });
    }
    return certificates;
  }

  return {
    name: "wechatpay",

    async downloadPlatformCertificates(): Promise<Outbound<WechatPlatformCertificate[]>> {
      let opened: WechatPlatformCertificate[] | null = null;
      const answer = await call("GET", "/v3/certificates", null, async (serial, text) => {
        const configured = await platformKey(serial);
        if (configured) return configured;
        // The answer may be signed with a certificate we do not hold yet — the one it brings.
        // That is sound because each certificate is sealed under our APIv3 key, which only
        // WeChat and we know: the AEAD is the trust anchor, so a certificate that opens is
        // WeChat's, and an answer its key signs (serial_no and all) is WeChat's too.
        opened = await certificatesIn(text);
        const signer = opened?.find(
          (c) => c.serial === serial && c.notBeforeMs <= deps.now() && deps.now() <= c.notAfterMs,
        );
        return signer ? importRsaVerifyKey(signer.spki) : undefined;
      });
      if (!answer.ok) return answer;
      if (answer.value.status !== 200) return refusal(answer.value);
      opened ??= await certificatesIn(answer.value.text);
      if (!opened) return unavailable("certificate list is not the documented shape");
      return success(opened);
    },

    async createPayment(request: CreatePaymentRequest): Promise<Outbound<CreatePaymentResult>> {
      // "Native下单" (pay.weixin.qq.com/doc/v3/merchant/4012525171).
      const answer = await call("POST", "/v3/pay/transactions/native", {
        appid: config.appId,
        mchid: config.mchId,
        description: request.description,
        out_trade_no: request.merchantOrderNo,
        time_expire: wechatTimeExpire(request.expiresAtMs),
        notify_url: request.notifyUrl,
        amount: { total: request.amountMinor, currency: request.currency },
      });
      if (!answer.ok) return answer;
      if (answer.value.status !== 200) return refusal(answer.value);
      const native = parseJson(answer.value.text, NativeAnswer);
      if (!native) return unavailable("Native order answer without code_url");
      return success({ step: { kind: "qr_code", codeUrl: native.code_url }, providerRef: null });
    },

    async queryPayment(merchantOrderNo: string): Promise<Outbound<QueryResult>> {
      const url = `/v3/pay/transactions/out-trade-no/${encodeURIComponent(merchantOrderNo)}?mchid=${encodeURIComponent(config.mchId)}`;
      const answer = await call("GET", url, null);
      if (!answer.ok) return answer;
      const { status, text, signed } = answer.value;
      if (status === 404 && parseJson(text, ErrorBody)?.code === "ORDER_NOT_EXIST") {
        // "Never opened there" lets the caller give the order up; only WeChat's signature says so.
        return signed ? success({ state: "unknown" }) : unavailable("ORDER_NOT_EXIST without a signature");
      }
      if (status !== 200) return refusal(answer.value);
      const transaction = parseJson(text, Transaction);
      if (!transaction) return unavailable("transaction answer is not the documented shape");
      if (transaction.out_trade_no !== merchantOrderNo) return unavailable("the answer is about another order");
      return eventOf(transaction, merchantOrderNo);
    },

    async refund(request: RefundRequest): Promise<Outbound<RefundResult>> {
      // "退款申请" (POST /v3/refund/domestic/refunds): out_refund_no makes a repeat one refund.
      const answer = await call("POST", "/v3/refund/domestic/refunds", {
        out_trade_no: request.merchantOrderNo,
        out_refund_no: request.refundNo,
        reason: [...request.reason].slice(0, REFUND_REASON_MAX).join(""),
        amount: { refund: request.amountMinor, total: request.totalMinor, currency: request.currency },
      });
      if (!answer.ok) return answer;
      if (answer.value.status !== 200) return refusal(answer.value);
      const refund = parseJson(answer.value.text, RefundAnswer);
      if (!refund) return unavailable("refund answer is not the documented shape");
      if (refund.out_refund_no !== request.refundNo) return unavailable("the answer is about another refund");
      switch (refund.status) {
        case "SUCCESS":
          return success({ providerRefundId: refund.refund_id, status: "succeeded" });
        case "PROCESSING":
          return success({ providerRefundId: refund.refund_id, status: "pending" });
        // CLOSED: the refund was given up (e.g. 7 days without funds); ABNORMAL: the payer's card
        // refused it and an operator must redirect it (发起异常退款). Neither changes on a retry.
        case "CLOSED":
        case "ABNORMAL":
          return rejected(`REFUND_${refund.status}`, `refund ${refund.refund_id} is ${refund.status}`);
        default:
          return unavailable(`refund status ${refund.status} is not documented`);
      }
    },

    /**
     * 申请交易账单 then 下载账单: `GET /v3/bill/tradebill?bill_date=&bill_type=ALL` (signed answer:
     * `download_url` and the file's SHA-1), then a signed GET of the download URL, which must be
     * on WeChat's API host; the file's answer is not signed, so its SHA-1 must match. A day with
     * no trades (NO_STATEMENT_EXIST) is an empty bill: reconciled, it shows every order we think
     * was paid that day as missing.
     */
    async downloadStatement(date: string): Promise<Outbound<string, StatementDownloadFailure>> {
      const listed = await call("GET", `${TRADEBILL_PATH}?bill_date=${encodeURIComponent(date)}&bill_type=ALL`, null);
      if (!listed.ok) return listed;
      if (listed.value.status !== 200) {
        const error = parseJson(listed.value.text, ErrorBody);
        if (error?.code === "NO_STATEMENT_EXIST") return success(EMPTY_TRADE_BILL);
        return refusal(listed.value);
      }
      const bill = parseJson(listed.value.text, TradeBill);
      if (!bill) return unavailable("tradebill answer is not the documented shape");
      let url: URL;
      try {
        url = new URL(bill.download_url);
      } catch {
        return unavailable("download_url is not a URL");
      }
      if (url.origin !== new URL(apiBase).origin) return unavailable(`download_url is not on ${apiBase}`);
      const target = `${url.pathname}${url.search}`;
      const answer = await callWithDeadline(deps, `${apiBase}${target}`, {
        method: "GET",
        headers: {
          authorization: await authorization("GET", target, ""),
          accept: "application/json",
          "user-agent": USER_AGENT,
        },
      });
      if (!answer.ok) return answer;
      if (answer.response.status !== 200) return unavailable(`bill download HTTP ${answer.response.status}`);
      // The file starts with a BOM, which decoding the answer as text dropped.
      const sha1 = async (t: string) => bytesHex(new Uint8Array(await crypto.subtle.digest("SHA-1", utf8Bytes(t))));
      const expected = bill.hash_value.toLowerCase();
      if ((await sha1(answer.text)) !== expected && (await sha1(`\uFEFF${answer.text}`)) !== expected) {
        return unavailable("the bill's SHA-1 does not match hash_value");
      }
      return success(answer.text);
    },
  };
}
