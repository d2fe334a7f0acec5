/**
 * Alipay open API (openapi.alipay.com/gateway.do), RSA2: 当面付 precreate, trade query, refund.
 *
 * Requests, per the open platform's "公共请求参数" and "自行实现签名": the common parameters
 * `app_id, method, format=JSON, charset=utf-8, sign_type=RSA2, timestamp ("yyyy-MM-dd HH:mm:ss",
 * Beijing time), version=1.0`, `notify_url` where the method notifies, and `biz_content`
 * (the method's parameters as JSON); POSTed as `application/x-www-form-urlencoded;charset=utf-8`.
 * The signed string is every parameter but `sign`, empty values dropped, sorted by key,
 * joined as `k=v` with `&`, values not URL-encoded; SHA256withRSA with the app private key,
 * base64.
 *
 * Answers, per "同步响应验签": `{"<method with _>_response": {...}, "sign": "..."}`; the
 * signature covers the exact text of the response node as it appears in the body (braces,
 * quotes and Alipay's `\/` escapes included), so it is cut out of the raw body, never
 * re-serialized, and verified with the Alipay public key (not the app's own). A success
 * (`code` 10000) without a verifying signature is not trusted: `unavailable`. Alipay leaves
 * some refusals unsigned (e.g. `isv.invalid-signature` for a request it could not
 * authenticate): an unsigned refusal is taken as `rejected`, a signed one must verify.
 *
 * Codes, per "公共错误码": 10000 success; 20000 service unavailable → `unavailable`;
 * 40004 business failure → `rejected(sub_code)`, except `ACQ.SYSTEM_ERROR` (Alipay: "retry")
 * and the query's `ACQ.TRADE_NOT_EXIST` (→ `unknown`); other 400xx → `rejected(sub_code ?? code)`.
 *
 * The daily bill, per "查询对账单下载地址" (alipay.data.dataservice.bill.downloadurl.query,
 * opendocs.alipay.com/apis/api_15/alipay.data.dataservice.bill.downloadurl.query): biz_content
 * `{ bill_type: "trade", bill_date: "yyyy-MM-dd" }` answers `bill_download_url`, valid for 30 s,
 * of a zip holding the day's 业务明细 CSV and its 业务明细(汇总) companion, GBK-encoded. A bill
 * is generated the next day (after about 10:00 Beijing time); before that Alipay answers
 * `isp.bill_not_exist` (账单不存在), which is `not_ready`.
 */

import { z } from "zod";
import { LIMITS } from "../../domain/limits";
import { formatMinor, parseAmountMinor } from "../../domain/money";
import {
  type ChannelClient,
  type ClientDeps,
  type CreatePaymentRequest,
  type CreatePaymentResult,
  callWithDeadline,
  downloadWithDeadline,
  type Outbound,
  parseJson,
  type QueryResult,
  type RefundRequest,
  type RefundResult,
  rejected,
  type StatementDownloadFailure,
  statementMalformed,
  statementNotReady,
  success,
  unavailable,
} from "../client";
import {
  base64Bytes,
  CHINA_STANDARD_TIME_OFFSET_MS,
  importRsaSignKey,
  importRsaVerifyKey,
  pkcs8FromPem,
  rsaSignBase64,
  spkiFromPem,
  utf8Bytes,
} from "../encoding";
import { zipEntries, zipEntryBytes } from "../zip";

export interface AlipayApiConfig {
  readonly appId: string;
  /** The merchant's Alipay account id (2088…), sent as seller_id so money lands there. */
  readonly sellerId: string;
  /** The app private key: PKCS#8 PEM or its bare base64 (Alipay's "PKCS8(JAVA适用)"). */
  readonly appPrivateKey: string;
  /** Alipay's public key: PEM or the bare base64 the console shows. */
  readonly alipayPublicKey: string;
  /** Default https://openapi.alipay.com/gateway.do. */
  readonly gateway?: string;
}

/** `subject` is String(256); `refund_reason` String(256). */
const TEXT_MAX = 256;

export const AlipayCommon = z.object({
  code: z.string().min(1).max(16),
  msg: z.string().max(256).optional(),
  sub_code: z.string().min(1).max(128).optional(),
  sub_msg: z.string().max(2_000).optional(),
});

const Yuan = z.string().max(20);

const Precreate = z.object({ out_trade_no: z.string().min(1).max(64), qr_code: z.string().min(1).max(512) });

const Query = z.object({
  out_trade_no: z.string().min(1).max(64),
  trade_no: z.string().min(1).max(64),
  trade_status: z.string().min(1).max(32),
  total_amount: Yuan,
});

const Refund = z.object({
  out_trade_no: z.string().min(1).max(64),
  trade_no: z.string().min(1).max(64),
  fund_change: z.enum(["Y", "N"]),
  refund_fee: Yuan.optional(),
});

const BillUrl = z.object({ bill_download_url: z.string().min(1).max(2_000) });

/** The sub_codes with which Alipay says a day's bill is not generated yet. */
const BILL_NOT_READY = new Set(["isp.bill_not_exist"]);

/** A bill zip holds two CSVs; a few more are tolerated, hundreds are not Alipay's. */
const BILL_ZIP_ENTRIES_MAX = 16;

/**
 * The 业务明细 CSV out of a bill zip, decoded from GBK: the one entry whose name has 业务明细
 * and not 汇总 (the summary file is named 业务明细(汇总)). Null with why, when the zip does not
 * open, an entry's CRC-32 or size is wrong, or there is not exactly one such entry.
 */
export async function alipayBillCsv(
  zip: Uint8Array,
): Promise<{ ok: true; text: string } | { ok: false; detail: string }> {
  const limits = { entriesMax: BILL_ZIP_ENTRIES_MAX, entryBytesMax: LIMITS.statementMaxBytes };
  const entries = zipEntries(zip, limits);
  if (!entries.ok) return entries;
  const details = entries.value.filter((e) => e.name.includes("业务明细") && !e.name.includes("汇总"));
  if (details.length !== 1) {
    return { ok: false, detail: `the zip holds ${details.length} 业务明细 files, not one` };
  }
  const bytes = await zipEntryBytes(zip, details[0] as (typeof details)[number], limits);
  if (!bytes.ok) return bytes;
  try {
    return { ok: true, text: new TextDecoder("gbk", { fatal: true, ignoreBOM: false }).decode(bytes.value) };
  } catch {
    return { ok: false, detail: "the 业务明细 file is not GBK" };
  }
}

/** "yyyy-MM-dd HH:mm:ss" in Beijing time: the gateway's `timestamp` and the trade's `time_expire`. */
export function alipayTime(atMs: number): string {
  return new Date(atMs + CHINA_STANDARD_TIME_OFFSET_MS).toISOString().slice(0, 19).replace("T", " ");
}

/**
 * The string an app signs for a request. Not the notification rule (`alipaySigningString`):
 * a request signs `sign_type` too and drops empty values, a notification drops `sign_type`
 * and keeps empty values.
 */
export function alipayRequestSigningString(params: ReadonlyMap<string, string>): string {
  return [...params]
    .filter(([k, v]) => k !== "sign" && v !== "")
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

/**
 * The exact text of the value of a top-level member of a JSON object, or null. Alipay signs
 * these bytes, so they are located by scanning, not re-produced by `JSON.stringify`.
 */
export function rawJsonMember(text: string, key: string): string | null {
  let i = skipSpace(text, 0);
  if (text[i] !== "{") return null;
  i++;
  for (;;) {
    i = skipSpace(text, i);
    if (text[i] !== '"') return null;
    const keyEnd = stringEnd(text, i);
    if (keyEnd < 0) return null;
    const name: unknown = JSON.parse(text.slice(i, keyEnd));
    i = skipSpace(text, keyEnd);
    if (text[i] !== ":") return null;
    i = skipSpace(text, i + 1);
    const valueEnd = valueEndAt(text, i);
    if (valueEnd < 0) return null;
    if (name === key) return text.slice(i, valueEnd);
    i = skipSpace(text, valueEnd);
    if (text[i] !== ",") return null;
    i++;
  }
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && " \t\r\n".includes(text[i] as string)) i++;
  return i;
}

/** Index just past the string starting at `i` (a `"`), or -1. */
function stringEnd(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] === "\\") j++;
    else if (text[j] === '"') return j + 1;
  }
  return -1;
}

/** Index just past the JSON value starting at `i`, or -1. */
function valueEndAt(text: string, i: number): number {
  const first = text[i];
  if (first === '"') return stringEnd(text, i);
  if (first === "{" || first === "[") {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const c = text[j];
      if (c === '"') {
        const end = stringEnd(text, j);
        if (end < 0) return -1;
        j = end - 1;
      } else if (c === "{" || c === "[") depth++;
      else if (c === "}" || c === "]") {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    return -1;
  }
  let j = i;
  while (j < text.length && !",}] \t\r\n".includes(text[j] as string)) j++;
  return j > i ? j : -1;
}

/** A response node Alipay's signature vouches for (or an unsigned refusal), with its code. */
export interface AlipayNode {
  readonly common: z.infer<typeof AlipayCommon>;
  readonly raw: string;
  readonly signed: boolean;
}

/** What a signed gateway call needs: the app, its key, Alipay's key, the gateway. */
export interface AlipayGatewayConfig {
  readonly appId: string;
  readonly appPrivateKey: string;
  readonly alipayPublicKey: string;
  readonly gateway?: string;
}

/**
 * One signed open-API call (RSA2 over the sorted parameters), answered with its response node
 * once Alipay's signature over the node's exact bytes verifies (an unsigned node only when it
 * is a refusal). Keys are imported once. Payments and payouts both call through it.
 */
export function alipayGateway(
  config: AlipayGatewayConfig,
  deps: ClientDeps,
): (method: string, biz: Record<string, unknown>, notifyUrl: string | null) => Promise<Outbound<AlipayNode>> {
  const pkcs8 = pkcs8FromPem(config.appPrivateKey);
  if (!pkcs8) throw new Error("Alipay appPrivateKey must be a PKCS#8 private key");
  const spki = spkiFromPem(config.alipayPublicKey);
  if (!spki) throw new Error("Alipay alipayPublicKey must be an SPKI public key");
  const gateway = config.gateway ?? "https://openapi.alipay.com/gateway.do";
  const signingKey = importRsaSignKey(pkcs8);
  const alipayKey = importRsaVerifyKey(spki);

  return async function call(method, biz, notifyUrl) {
    const params = new Map<string, string>([
      ["app_id", config.appId],
      ["method", method],
      ["format", "JSON"],
      ["charset", "utf-8"],
      ["sign_type", "RSA2"],
      ["timestamp", alipayTime(deps.now())],
      ["version", "1.0"],
    ]);
    if (notifyUrl !== null) params.set("notify_url", notifyUrl);
    params.set("biz_content", JSON.stringify(biz));
    const sign = await rsaSignBase64(await signingKey, utf8Bytes(alipayRequestSigningString(params)));
    const form = new URLSearchParams([...params, ["sign", sign]]);
    const answer = await callWithDeadline(deps, gateway, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded;charset=utf-8", accept: "application/json" },
      body: form.toString(),
    });
    if (!answer.ok) return { ok: false, failure: answer.failure };
    // The gateway answers every business outcome with 200; anything else is in front of it.
    if (answer.response.status !== 200) return unavailable(`Alipay gateway HTTP ${answer.response.status}`);
    let document: unknown;
    try {
      document = JSON.parse(answer.text);
    } catch {
      return unavailable("Alipay answer is not JSON");
    }
    const nodeName = `${method.replaceAll(".", "_")}_response`;
    // A call the gateway cannot route (unknown method, app) is answered under error_response.
    const raw = rawJsonMember(answer.text, nodeName) ?? rawJsonMember(answer.text, "error_response");
    const common = raw === null ? null : parseJson(raw, AlipayCommon);
    if (raw === null || common === null) return unavailable(`Alipay answer has no ${nodeName}`);
    const signature = z.object({ sign: z.string().min(1).max(1_024) }).safeParse(document);
    if (signature.success) {
      const bytes = base64Bytes(signature.data.sign);
      const valid =
        bytes !== null && (await crypto.subtle.verify("RSASSA-PKCS1-v1_5", await alipayKey, bytes, utf8Bytes(raw)));
      if (!valid) return unavailable(`${nodeName} signature does not verify`);
      return success({ common, raw, signed: true });
    }
    if (common.code === "10000") return unavailable(`${nodeName} succeeded without a signature`);
    return success({ common, raw, signed: false });
  };
}

export function alipayClient(config: AlipayApiConfig, deps: ClientDeps): ChannelClient {
  const call = alipayGateway(config, deps);

  /** A node whose code is not 10000, classified. */
  function refusal(node: AlipayNode): Outbound<never> {
    const { code, msg, sub_code, sub_msg } = node.common;
    const detail = `${code} ${msg ?? ""} ${sub_msg ?? ""}`.trim();
    if (code === "20000" || sub_code === "ACQ.SYSTEM_ERROR") return unavailable(detail);
    return rejected(sub_code ?? code, detail);
  }

  function body<T>(node: AlipayNode, schema: z.ZodType<T>): Outbound<T> {
    const parsed = parseJson(node.raw, schema);
    return parsed === null ? unavailable("Alipay success is not the documented shape") : success(parsed);
  }

  return {
    name: "alipay",

    async createPayment(request: CreatePaymentRequest): Promise<Outbound<CreatePaymentResult>> {
      // Alipay's domestic trade APIs settle in CNY only: refuse anything else before signing it.
      if (request.currency !== "CNY")
        return rejected("unsupported_currency", `Alipay trades in CNY, not ${request.currency}`);
      const answer = await call(
        "alipay.trade.precreate",
        {
          out_trade_no: request.merchantOrderNo,
          total_amount: formatMinor(request.amountMinor),
          subject: [...request.description].slice(0, TEXT_MAX).join(""),
          seller_id: config.sellerId,
          time_expire: alipayTime(request.expiresAtMs),
        },
        request.notifyUrl,
      );
      if (!answer.ok) return answer;
      if (answer.value.common.code !== "10000") return refusal(answer.value);
      const precreate = body(answer.value, Precreate);
      if (!precreate.ok) return precreate;
      if (precreate.value.out_trade_no !== request.merchantOrderNo)
        return unavailable("the answer is about another order");
      return success({ step: { kind: "qr_code", codeUrl: precreate.value.qr_code }, providerRef: null });
    },

    async queryPayment(merchantOrderNo: string): Promise<Outbound<QueryResult>> {
      const answer = await call("alipay.trade.query", { out_trade_no: merchantOrderNo }, null);
      if (!answer.ok) return answer;
      const node = answer.value;
      if (node.common.code !== "10000") {
        // Alipay creates the trade only when the payer scans the precreate QR code, so a
        // precreated order nobody scanned yet is TRADE_NOT_EXIST too: "unknown" here means
        // "nothing paid and nothing to close", not that the QR code stopped working.
        if (node.common.sub_code === "ACQ.TRADE_NOT_EXIST") {
          return node.signed ? success({ state: "unknown" }) : unavailable("TRADE_NOT_EXIST without a signature");
        }
        return refusal(node);
      }
      const parsed = body(node, Query);
      if (!parsed.ok) return parsed;
      const trade = parsed.value;
      if (trade.out_trade_no !== merchantOrderNo) return unavailable("the answer is about another order");
      if (trade.trade_status === "WAIT_BUYER_PAY") return success({ state: "open" });
      const status =
        trade.trade_status === "TRADE_SUCCESS" || trade.trade_status === "TRADE_FINISHED"
          ? "succeeded"
          : trade.trade_status === "TRADE_CLOSED"
            ? "closed"
            : null;
      if (status === null) return unavailable(`trade_status ${trade.trade_status} is not documented`);
      // total_amount is a yuan decimal string: parsed digit by digit, never through a float.
      const amount = parseAmountMinor(trade.total_amount);
      if (!amount.ok) return unavailable(`total_amount ${trade.total_amount.slice(0, 20)} is not a yuan amount`);
      return success({
        state: "final",
        event: {
          kind: "payment",
          status,
          merchantOrderNo,
          providerTxnId: trade.trade_no,
          amountMinor: amount.value,
          currency: "CNY",
          // The query's answer names no app or seller: it is about our app because Alipay
          // signed an answer to a request our app key signed, and out_trade_no was checked.
          merchant: [],
        },
      });
    },

    async refund(request: RefundRequest): Promise<Outbound<RefundResult>> {
      if (request.currency !== "CNY")
        return rejected("unsupported_currency", `Alipay refunds CNY, not ${request.currency}`);
      // out_request_no makes a repeated request one refund ("同一笔交易多次退款需要保证唯一").
      const answer = await call(
        "alipay.trade.refund",
        {
          out_trade_no: request.merchantOrderNo,
          refund_amount: formatMinor(request.amountMinor),
          refund_reason: [...request.reason].slice(0, TEXT_MAX).join(""),
          out_request_no: request.refundNo,
        },
        null,
      );
      if (!answer.ok) return answer;
      if (answer.value.common.code !== "10000") return refusal(answer.value);
      const parsed = body(answer.value, Refund);
      if (!parsed.ok) return parsed;
      const refund = parsed.value;
      if (refund.out_trade_no !== request.merchantOrderNo) return unavailable("the answer is about another order");
      return success({
        providerRefundId: `${refund.trade_no}:${request.refundNo}`,
        // fund_change Y: this call moved the money. N: it did not — either an earlier call with
        // the same out_request_no already did, or the refund is still in progress; which one
        // is settled by alipay.trade.fastpay.refund.query or the trade notification.
        status: refund.fund_change === "Y" ? "succeeded" : "pending",
      });
    },

    /**
     * The day's trade bill: its download URL from the signed answer, then the zip (unsigned;
     * the URL came in Alipay's signed answer, and each entry's CRC-32 is checked), unzipped
     * and decoded here. A bill not generated yet is `not_ready`; a zip that does not open or
     * whose 业务明细 file fails its CRC-32 is `malformed`.
     */
    async downloadStatement(date: string): Promise<Outbound<string, StatementDownloadFailure>> {
      const answer = await call(
        "alipay.data.dataservice.bill.downloadurl.query",
        { bill_type: "trade", bill_date: date },
        null,
      );
      if (!answer.ok) return answer;
      const node = answer.value;
      if (node.common.code !== "10000") {
        if (node.common.sub_code !== undefined && BILL_NOT_READY.has(node.common.sub_code)) {
          // Only Alipay's signature says "not generated yet"; an unsigned one is a call to retry.
          if (!node.signed) return unavailable(`${node.common.sub_code} without a signature`);
          return statementNotReady(`Alipay has no ${date} bill yet (${node.common.sub_code})`);
        }
        return refusal(node);
      }
      const parsed = body(node, BillUrl);
      if (!parsed.ok) return parsed;
      let url: URL;
      try {
        url = new URL(parsed.value.bill_download_url);
      } catch {
        return unavailable("bill_download_url is not a URL");
      }
      // Alipay serves bills from its own hosts (dwbillcenter.alipay.com), over http as documented.
      if ((url.protocol !== "https:" && url.protocol !== "http:") || !url.hostname.endsWith(".alipay.com")) {
        return unavailable(`bill_download_url is not on an alipay.com host: ${url.host.slice(0, 100)}`);
      }
      const file = await downloadWithDeadline(deps, url.href, { method: "GET" }, LIMITS.statementMaxBytes);
      if (!file.ok) return { ok: false, failure: file.failure };
      if (file.response.status !== 200) return unavailable(`bill download HTTP ${file.response.status}`);
      const csv = await alipayBillCsv(file.bytes);
      if (!csv.ok) return statementMalformed(`the ${date} bill zip: ${csv.detail}`);
      return success(csv.text);
    },
  };
}
