/**
 * WeChat Pay 商家转账 (user-confirm mode, single transfer), per ../shared/PAYOUTS-AND-PLATFORM.md §1a:
 * `POST /v3/fund-app/mch-transfer/transfer-bills` with scene 1005 佣金报酬 and its two report
 * infos (岗位类型, 报酬说明); `user_name` RSA-OAEP (SHA-1, MGF1-SHA-1) encrypted with the
 * WeChat Pay public key at ≥ 2,000 元 (200000 fen), naming that key in `Wechatpay-Serial`;
 * query by out_bill_no; cancel. Requests are signed as every v3 request
 * (`WECHATPAY2-SHA256-RSA2048`, see api.ts); a 2xx is trusted only when WeChat's signature
 * over `timestamp\nnonce\nbody\n` verifies.
 *
 * Idempotency: "HTTP status not 200 → do not change out_bill_no; query; only a confirmed
 * FAIL/CANCELLED allows a new number". So 5xx, 429, timeouts, untrusted answers and refusal
 * codes not in {@link DEFINITE_REFUSALS} are `unknown`.
 */
import { z } from "zod";
import { type ClientDeps, callWithDeadline, parseJson } from "../client";
import {
  base64Bytes,
  bytesBase64,
  bytesHex,
  framed,
  importRsaSignKey,
  importRsaVerifyKey,
  pkcs8FromPem,
  rsaSignBase64,
  spkiFromPem,
  utf8Bytes,
} from "../encoding";
import { type PayoutClient, type PayoutOutcome, type PayoutRequest, refusalOutcome, WITHDRAWAL_ID } from "../payout";
import { USER_AGENT } from "./api";

export interface WechatPayoutConfig {
  readonly mchId: string;
  readonly appId: string;
  readonly merchantSerial: string;
  /** PKCS#8 PEM (apiclient_key.pem) or its bare base64. */
  readonly merchantPrivateKey: string;
  /** Platform public keys by serial (`PUB_KEY_ID_…` or certificate serial). */
  readonly platformKeys: ReadonlyMap<string, string>;
  /** The serial whose key encrypts `user_name` (sent as `Wechatpay-Serial`). */
  readonly encryptSerial: string;
  /** HTTPS, no query string. */
  readonly notifyUrl: string;
  /** 1005 佣金报酬 report infos: 岗位类型 (e.g. 主播) and 报酬说明 (e.g. "7月份打赏分成"). */
  readonly postType: string;
  readonly rewardDescription: string;
  readonly apiBase?: string;
}

export const TRANSFER_BILLS_PATH = "/v3/fund-app/mch-transfer/transfer-bills";
export const SCENE_COMMISSION = "1005";
/** At or above 2,000 元 the real name is required, encrypted. */
export const USER_NAME_REQUIRED_FEN = 200_000;
/** Minimum single transfer 0.1 元. */
export const MIN_TRANSFER_FEN = 10;
const REMARK_MAX = 32;
const RESPONSE_WINDOW_S = 300;
const SCHEMA = "WECHATPAY2-SHA256-RSA2048";

/**
 * Refusals after which no bill exists under the number (the request itself was wrong), taken
 * as such only when WeChat signed them; an unsigned refusal (401 SIGN_ERROR…) is `unknown`.
 */
const DEFINITE_REFUSALS = new Set(["PARAM_ERROR", "INVALID_REQUEST", "NO_AUTH", "NOT_ENOUGH"]);

const Bill = z.object({
  out_bill_no: z.string().min(1).max(32),
  transfer_bill_no: z.string().min(1).max(64),
  state: z.string().min(1).max(32),
  fail_reason: z.string().max(64).optional(),
  package_info: z.string().max(2_048).optional(),
  transfer_amount: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
});
type Bill = z.infer<typeof Bill>;
const ErrorBody = z.object({ code: z.string().min(1).max(64), message: z.string().max(1_000).optional() });

/** A bill's state as a provider-neutral outcome (also used for the callback). */
export function wechatBillOutcome(bill: Bill): PayoutOutcome {
  const ref = bill.transfer_bill_no;
  switch (bill.state) {
    case "SUCCESS":
      return { state: "paid", providerRef: ref };
    case "FAIL":
      return { state: "failed", providerRef: ref, reason: bill.fail_reason ?? "FAIL" };
    case "CANCELLED":
      return { state: "failed", providerRef: ref, reason: "CANCELLED" };
    case "WAIT_USER_CONFIRM":
      return bill.package_info
        ? { state: "needs_user_confirm", providerRef: ref, packageInfo: bill.package_info }
        : { state: "accepted", providerRef: ref };
    case "ACCEPTED":
    case "PROCESSING":
    case "TRANSFERING":
    case "CANCELING":
      return { state: "accepted", providerRef: ref };
    default:
      return { state: "unknown", detail: `state ${bill.state.slice(0, 32)} is not documented` };
  }
}

/** RSA-OAEP (SHA-1/MGF1-SHA-1) with WeChat's public key, base64: how sensitive fields are sent. */
export async function encryptSensitive(publicPem: string, plaintext: string): Promise<string> {
  const spki = spkiFromPem(publicPem);
  if (!spki) throw new Error("WeChat Pay encryption key must be an SPKI public key");
  const key = await crypto.subtle.importKey("spki", spki, { name: "RSA-OAEP", hash: "SHA-1" }, false, ["encrypt"]);
  return bytesBase64(new Uint8Array(await crypto.subtle.encrypt({ name: "RSA-OAEP" }, key, utf8Bytes(plaintext))));
}

export interface WechatPayoutClient extends PayoutClient {
  cancel(withdrawalId: string): Promise<PayoutOutcome>;
}

export function wechatPayoutClient(config: WechatPayoutConfig, deps: ClientDeps): WechatPayoutClient {
  const pkcs8 = pkcs8FromPem(config.merchantPrivateKey);
  if (!pkcs8) throw new Error("WeChat Pay merchantPrivateKey must be a PKCS#8 private key");
  const encryptPem = config.platformKeys.get(config.encryptSerial);
  if (!encryptPem) throw new Error("WeChat Pay encryptSerial must name one of platformKeys");
  const apiBase = config.apiBase ?? "https://api.mch.weixin.qq.com";
  const signingKey = importRsaSignKey(pkcs8);
  const verifyKeys = new Map<string, Promise<CryptoKey> | null>();
  const platformKey = (serial: string): Promise<CryptoKey> | null => {
    if (!verifyKeys.has(serial)) {
      const pem = config.platformKeys.get(serial);
      const spki = pem ? spkiFromPem(pem) : null;
      verifyKeys.set(serial, spki ? importRsaVerifyKey(spki) : null);
    }
    return verifyKeys.get(serial) ?? null;
  };

  async function untrusted(headers: Headers, text: string): Promise<string | null> {
    const timestamp = headers.get("wechatpay-timestamp");
    const nonce = headers.get("wechatpay-nonce");
    const signature = headers.get("wechatpay-signature");
    const serial = headers.get("wechatpay-serial") ?? "";
    if (!timestamp || !nonce || !signature) return "no Wechatpay-Signature";
    if (!/^[0-9]{1,12}$/.test(timestamp)) return "malformed Wechatpay-Timestamp";
    if (Math.abs(deps.now() / 1000 - Number(timestamp)) > RESPONSE_WINDOW_S) return "stale timestamp";
    const key = platformKey(serial);
    if (!key) return `unknown platform serial ${serial.slice(0, 64)}`;
    const bytes = base64Bytes(signature);
    if (!bytes) return "signature is not base64";
    const ok = await crypto.subtle.verify(
      "RSASSA-PKCS1-v1_5",
      await key,
      bytes,
      framed(`${timestamp}\n${nonce}\n`, utf8Bytes(text), "\n"),
    );
    return ok ? null : "signature does not verify";
  }

  /** One signed call; the bill it answers with, or the outcome that stands for it. */
  async function call(
    method: "GET" | "POST",
    url: string,
    body: object | null,
    extra: Record<string, string> = {},
  ): Promise<{ bill: Bill } | PayoutOutcome> {
    const text = body === null ? "" : JSON.stringify(body);
    const timestamp = String(Math.floor(deps.now() / 1000));
    const nonce = bytesHex(crypto.getRandomValues(new Uint8Array(16)));
    const signature = await rsaSignBase64(
      await signingKey,
      utf8Bytes(`${method}\n${url}\n${timestamp}\n${nonce}\n${text}\n`),
    );
    const headers: Record<string, string> = {
      ...extra,
      authorization: `${SCHEMA} mchid="${config.mchId}",nonce_str="${nonce}",signature="${signature}",timestamp="${timestamp}",serial_no="${config.merchantSerial}"`,
      accept: "application/json",
      // WeChat refuses v3 requests without a User-Agent (INVALID_REQUEST), as it does payments'.
      "user-agent": USER_AGENT,
    };
    const init: RequestInit = { method, headers };
    if (body !== null) {
      headers["content-type"] = "application/json";
      init.body = text;
    }
    const answer = await callWithDeadline(deps, `${apiBase}${url}`, init);
    if (!answer.ok) return { state: "unknown", detail: answer.failure.detail };
    const { status } = answer.response;
    if (status >= 500 || status === 429) return { state: "unknown", detail: `WeChat Pay HTTP ${status}` };
    const signed = answer.response.headers.has("wechatpay-signature");
    if (signed || (status >= 200 && status <= 299)) {
      const why = await untrusted(answer.response.headers, answer.text);
      if (why) return { state: "unknown", detail: `WeChat Pay HTTP ${status} not trusted: ${why}` };
    }
    if (status >= 200 && status <= 299) {
      const bill = parseJson(answer.text, Bill);
      if (!bill) return { state: "unknown", detail: "bill answer is not the documented shape" };
      return { bill };
    }
    const error = parseJson(answer.text, ErrorBody);
    if (!error) return { state: "unknown", detail: `WeChat Pay HTTP ${status} without { code, message }` };
    if (!signed) return { state: "unknown", detail: `unsigned ${error.code.slice(0, 64)} (HTTP ${status})` };
    return refusalOutcome(error.code, error.message ?? `HTTP ${status}`, DEFINITE_REFUSALS);
  }

  function outcomeFor(withdrawalId: string, result: { bill: Bill } | PayoutOutcome): PayoutOutcome {
    if ("state" in result) return result;
    if (result.bill.out_bill_no !== withdrawalId)
      return { state: "unknown", detail: "the answer is about another bill" };
    return wechatBillOutcome(result.bill);
  }

  const billPath = (id: string) => `${TRANSFER_BILLS_PATH}/out-bill-no/${encodeURIComponent(id)}`;

  return {
    name: "wechatpay",

    async pay(request: PayoutRequest): Promise<PayoutOutcome> {
      if (!WITHDRAWAL_ID.test(request.withdrawalId))
        return { state: "failed", providerRef: null, reason: "invalid_out_bill_no" };
      if (request.currency !== "CNY") return { state: "failed", providerRef: null, reason: "unsupported_currency" };
      if (!Number.isSafeInteger(request.amountMinor) || request.amountMinor < MIN_TRANSFER_FEN)
        return { state: "failed", providerRef: null, reason: "amount_below_minimum" };
      const needsName = request.amountMinor >= USER_NAME_REQUIRED_FEN;
      if (needsName && !request.payeeName) return { state: "failed", providerRef: null, reason: "user_name_required" };
      const body: Record<string, unknown> = {
        appid: config.appId,
        out_bill_no: request.withdrawalId,
        transfer_scene_id: SCENE_COMMISSION,
        openid: request.payee,
        transfer_amount: request.amountMinor,
        transfer_remark: [...request.remark].slice(0, REMARK_MAX).join(""),
        notify_url: config.notifyUrl,
        transfer_scene_report_infos: [
          { info_type: "岗位类型", info_content: config.postType },
          { info_type: "报酬说明", info_content: config.rewardDescription },
        ],
      };
      const extra: Record<string, string> = {};
      if (needsName && request.payeeName) {
        body.user_name = await encryptSensitive(encryptPem, request.payeeName);
        extra["wechatpay-serial"] = config.encryptSerial;
      }
      return outcomeFor(request.withdrawalId, await call("POST", TRANSFER_BILLS_PATH, body, extra));
    },

    async query(withdrawalId: string): Promise<PayoutOutcome> {
      return outcomeFor(withdrawalId, await call("GET", billPath(withdrawalId), null));
    },

    /** Before the user confirms: CANCELING (`accepted`) now, CANCELLED (`failed`) by callback or query. */
    async cancel(withdrawalId: string): Promise<PayoutOutcome> {
      return outcomeFor(withdrawalId, await call("POST", `${billPath(withdrawalId)}/cancel`, {}));
    },
  };
}
