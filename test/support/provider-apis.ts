/**
 * The providers' APIs, for tests: one in-memory double per provider, usable as `fetch`.
 * Each checks our requests the way the provider does (WeChat Pay: the Authorization
 * signature with the merchant's public key; Alipay: `sign` with the app's public key;
 * Stripe: the bearer key) and refuses them in the provider's own words otherwise; each
 * answers in the provider's shape and signs its answers as the provider does (WeChat Pay
 * headers with the platform key; Alipay's `sign` over the raw response node). Controls let
 * a test settle orders, fail or hang the next calls, and tamper with or drop signatures.
 * WebCrypto only, so the doubles run in Node and in workerd alike.
 */
import {
  base64Bytes,
  bytesBase64,
  importRsaVerifyKey,
  rsaSignBase64,
  spkiFromPem,
  utf8Bytes,
} from "../../src/channels/encoding";
import { STRIPE_API_VERSION } from "../../src/channels/stripe/api";
import { stripeExponent } from "../../src/channels/stripe/statement";
import { wechatTimeExpire } from "../../src/channels/wechatpay/api";
import { crc32 } from "../../src/channels/zip";
import { formatMinor, parseAmountMinor } from "../../src/domain/money";
import { certificate, certificatePem } from "./der";
import { wechatHeaders, wechatSeal } from "./providers";
import { buildZip, gbkEncode } from "./zip-writer";

/** One request as the double received it. */
export interface Received {
  readonly method: string;
  readonly url: URL;
  readonly headers: Headers;
  readonly body: string;
}

/** A private key as PKCS#8 PEM, the form the clients are configured with. */
export async function pkcs8Pem(privateKey: CryptoKey): Promise<string> {
  const der = new Uint8Array((await crypto.subtle.exportKey("pkcs8", privateKey)) as ArrayBuffer);
  const body = bytesBase64(der).replace(/(.{64})/g, "$1\n");
  return `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`;
}

export async function publicKeyOf(pem: string): Promise<CryptoKey> {
  const spki = spkiFromPem(pem);
  if (!spki) throw new Error("not an SPKI public key");
  return importRsaVerifyKey(spki);
}

export function randomDigits(length: number): string {
  let out = "";
  for (const byte of crypto.getRandomValues(new Uint8Array(length))) out += String(byte % 10);
  return out;
}

export function randomToken(length: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  let out = "";
  for (const byte of crypto.getRandomValues(new Uint8Array(length))) out += alphabet[byte % alphabet.length];
  return out;
}

/** A valid-looking signature over something else: base64 of the right length, wrong bytes. */
export function forged(signature: string): string {
  const first = signature[0] === "A" ? "B" : "A";
  return `${first}${signature.slice(1)}`;
}

/**
 * What every double shares: the request log and the failure controls. Injected failures
 * happen in front of the provider's logic (a load balancer's 503, a rate limiter's 429, a
 * connection that never answers), so nothing is stored for them.
 */
abstract class ProviderDouble {
  readonly received: Received[] = [];
  private failures: { readonly status: number; readonly match: string | null }[] = [];
  private hangs: (string | null)[] = [];
  protected tampers = 0;
  protected unsigned = 0;

  /**
   * The next `count` calls answer HTTP `status` (default 503) without reaching the provider's
   * logic. With `match`, only calls whose URL or body contains it (an order number, a notify
   * URL's host): the doubles are shared by every test file of a run, and a failure meant for
   * one test must not be spent by another's call.
   */
  failNext(count: number, status = 503, match: string | null = null): void {
    for (let i = 0; i < count; i++) this.failures.push({ status, match });
  }

  /** The next `count` calls (that contain `match`, if given) never answer; they end only when the caller aborts. */
  hangNext(count = 1, match: string | null = null): void {
    for (let i = 0; i < count; i++) this.hangs.push(match);
  }

  /** Forgets injected failures and hangs (those with `match` only, if given). */
  reset(match: string | null = null): void {
    this.failures = this.failures.filter((f) => match !== null && f.match !== match);
    this.hangs = this.hangs.filter((h) => match !== null && h !== match);
  }

  /** The requests received whose URL or body contains `match`. */
  receivedMatching(match: string): Received[] {
    return this.received.filter((r) => matches(r, match));
  }

  /** The next `count` answers carry a signature that does not verify. */
  tamperNext(count = 1): void {
    this.tampers += count;
  }

  /** The next `count` answers carry no signature at all. */
  unsignNext(count = 1): void {
    this.unsigned += count;
  }

  get last(): Received {
    const last = this.received.at(-1);
    if (!last) throw new Error("the double has received nothing");
    return last;
  }

  readonly fetch: typeof fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const received: Received = {
      method: request.method,
      url: new URL(request.url),
      headers: request.headers,
      body: await request.text(),
    };
    this.received.push(received);
    const hang = this.hangs.findIndex((m) => m === null || matches(received, m));
    if (hang >= 0) {
      this.hangs.splice(hang, 1);
      const signal = init?.signal;
      if (!signal) throw new Error("a hanging call needs an AbortSignal to end");
      return new Promise<Response>((_, reject) => {
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    }
    const failure = this.failures.findIndex((f) => f.match === null || matches(received, f.match));
    if (failure >= 0) {
      const [injected] = this.failures.splice(failure, 1);
      return this.injectedFailure(injected?.status ?? 503);
    }
    return this.handle(received);
  };

  protected abstract handle(request: Received): Promise<Response>;
  protected abstract injectedFailure(status: number): Promise<Response>;
}

function matches(r: Received, match: string): boolean {
  return r.url.href.includes(match) || r.body.includes(match);
}

// ── Stripe ───────────────────────────────────────────────────────────────────────────────

interface StripeIntent {
  id: string;
  object: "payment_intent";
  amount: number;
  amount_received: number;
  currency: string;
  description: string | null;
  status: string;
  client_secret: string;
  livemode: boolean;
  metadata: Record<string, string>;
  automatic_payment_methods: { enabled: boolean } | null;
  created: number;
  /** When it succeeded: the balance change report lists its charge then (not part of Stripe's object). */
  paidAtMs?: number;
}

interface StripeRefund {
  id: string;
  object: "refund";
  amount: number;
  currency: string;
  payment_intent: string;
  status: string;
  metadata: Record<string, string>;
}

export interface StripeDoubleOptions {
  readonly secretKey: string;
  readonly now: () => number;
}

/**
 * Stripe's API v1 for PaymentIntents, search and Refunds. Only the bearer key it was made
 * with is accepted. POSTs with an Idempotency-Key replay their first answer
 * (`Idempotent-Replayed: true`) and refuse the key with other parameters, as Stripe does.
 */
export class StripeDouble extends ProviderDouble {
  readonly intents = new Map<string, StripeIntent>();
  readonly refunds = new Map<string, StripeRefund>();
  /** The status new refunds get; cards usually succeed at once, other methods stay pending. */
  refundStatus: "succeeded" | "pending" | "requires_action" | "failed" | "canceled" = "succeeded";
  private readonly idempotent = new Map<string, { fingerprint: string; status: number; body: string }>();

  constructor(protected readonly options: StripeDoubleOptions) {
    super();
  }

  /** The payer confirmed and the charge succeeded. */
  pay(intentId: string): void {
    const pi = this.intent(intentId);
    pi.status = "succeeded";
    pi.amount_received = pi.amount;
    pi.paidAtMs ??= this.options.now();
  }

  setStatus(intentId: string, status: string): void {
    this.intent(intentId).status = status;
  }

  intentFor(orderNo: string): StripeIntent {
    const found = [...this.intents.values()].find((pi) => pi.metadata.order_no === orderNo);
    if (!found) throw new Error(`no PaymentIntent for ${orderNo}`);
    return found;
  }

  private intent(id: string): StripeIntent {
    const pi = this.intents.get(id);
    if (!pi) throw new Error(`no PaymentIntent ${id}`);
    return pi;
  }

  protected async injectedFailure(status: number): Promise<Response> {
    const type = status === 429 ? "invalid_request_error" : "api_error";
    const code = status === 429 ? "rate_limit" : undefined;
    return Response.json({ error: { type, code, message: "injected failure" } }, { status });
  }

  protected async handle(request: Received): Promise<Response> {
    if (request.headers.get("authorization") !== `Bearer ${this.options.secretKey}`) {
      const shown = (request.headers.get("authorization") ?? "").slice(-4);
      return stripeError(401, { type: "invalid_request_error", message: `Invalid API Key provided: sk_****${shown}` });
    }
    const version = request.headers.get("stripe-version");
    if (version !== null && version !== STRIPE_API_VERSION) {
      return stripeError(400, { type: "invalid_request_error", message: `Invalid Stripe API version: ${version}` });
    }
    if (request.method !== "POST") return this.route(request);
    const key = request.headers.get("idempotency-key");
    if (key === null) return this.route(request);
    const fingerprint = `${request.url.pathname}\n${request.body}`;
    const saved = this.idempotent.get(key);
    if (saved) {
      if (saved.fingerprint !== fingerprint) {
        return stripeError(400, {
          type: "idempotency_error",
          message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
        });
      }
      return new Response(saved.body, {
        status: saved.status,
        headers: { "content-type": "application/json", "idempotent-replayed": "true" },
      });
    }
    const response = await this.route(request);
    const body = await response.text();
    this.idempotent.set(key, { fingerprint, status: response.status, body });
    return new Response(body, { status: response.status, headers: response.headers });
  }

  protected async route(request: Received): Promise<Response> {
    const path = request.url.pathname;
    const form = new URLSearchParams(request.body);
    if (request.method === "POST" && path === "/v1/payment_intents") return this.createIntent(form);
    if (request.method === "GET" && path === "/v1/payment_intents/search") return this.search(request.url);
    const retrieve = /^\/v1\/payment_intents\/([^/]+)$/.exec(path);
    if (request.method === "GET" && retrieve) {
      const id = decodeURIComponent(retrieve[1] as string);
      const pi = this.intents.get(id);
      if (!pi) return noSuch("payment_intent", id, "intent");
      return Response.json(pi);
    }
    if (request.method === "POST" && path === "/v1/refunds") return this.createRefund(form);
    const reportType = /^\/v1\/reporting\/report_types\/([^/]+)$/.exec(path);
    if (request.method === "GET" && reportType) return this.reportType(decodeURIComponent(reportType[1] as string));
    if (request.method === "POST" && path === "/v1/reporting/report_runs") return this.createReportRun(form);
    const reportRun = /^\/v1\/reporting\/report_runs\/([^/]+)$/.exec(path);
    if (request.method === "GET" && reportRun)
      return this.retrieveReportRun(decodeURIComponent(reportRun[1] as string));
    const file = /^\/v1\/files\/([^/]+)\/contents$/.exec(path);
    if (request.method === "GET" && file && request.url.hostname === "files.stripe.com") {
      const csv = this.files.get(decodeURIComponent(file[1] as string));
      if (csv === undefined) return noSuch("file", file[1] as string, "file");
      return new Response(csv, { status: 200, headers: { "content-type": "text/csv" } });
    }
    return stripeError(404, {
      type: "invalid_request_error",
      message: `Unrecognized request URL (${request.method}: ${path}).`,
    });
  }

  // ── Reporting: the itemized balance change report (docs.stripe.com/reports/api) ──

  readonly reportRuns = new Map<string, StripeReportRun>();
  readonly files = new Map<string, string>();
  /** Charges Stripe has that no PaymentIntent here explains (a payment we never recorded). */
  readonly extraCharges: StripeExtraCharge[] = [];
  /**
   * Up to when balance data is available; by default the start of the current UTC day (Stripe's
   * balance data lags by hours), raised by `dataAvailableUntil`.
   */
  private availableEndMs = 0;
  /** The next report runs created (whose form contains `match`, if given) stay pending for `polls` retrievals. */
  reportPendingPolls: { readonly polls: number; readonly match: string | null }[] = [];
  /** The next report file served has a line cut off (its File object's size no longer matches). */
  truncateReportNext = false;

  dataAvailableUntil(endMs: number): void {
    this.availableEndMs = Math.max(this.availableEndMs, endMs);
  }

  private dataAvailableEndS(): number {
    const now = this.options.now();
    return Math.floor(Math.max(this.availableEndMs, now - (now % 86_400_000)) / 1000);
  }

  private reportType(id: string): Response {
    if (id !== "balance_change_from_activity.itemized.3") return noSuch("reporting.report_type", id, "report_type");
    return Response.json({
      id,
      object: "reporting.report_type",
      data_available_start: 1_600_000_000,
      data_available_end: this.dataAvailableEndS(),
      default_columns: ["balance_transaction_id", "created_utc", "available_on_utc", "currency", "gross", "fee", "net"],
      livemode: this.options.secretKey.includes("_live_"),
      name: "Itemized balance change from activity",
      updated: this.dataAvailableEndS(),
      version: 3,
    });
  }

  private createReportRun(form: URLSearchParams): Response {
    const type = form.get("report_type") ?? "";
    if (type !== "balance_change_from_activity.itemized.3") return noSuch("reporting.report_type", type, "report_type");
    const start = positiveInteger(form.get("parameters[interval_start]"));
    const end = positiveInteger(form.get("parameters[interval_end]"));
    if (start === null || end === null || start >= end) return invalidInteger("parameters[interval_end]");
    if (end > this.dataAvailableEndS()) {
      return stripeError(400, {
        type: "invalid_request_error",
        param: "parameters[interval_end]",
        message: `parameters[interval_end] must be before the data available end (${this.dataAvailableEndS()}).`,
      });
    }
    const columns = [...form].filter(([k]) => /^parameters\[columns\]\[\d*\]$/.test(k)).map(([, v]) => v);
    const known = new Set([...REPORT_COLUMNS]);
    const unknown = columns.find((c) => !known.has(c as (typeof REPORT_COLUMNS)[number]));
    if (unknown !== undefined) {
      return stripeError(400, {
        type: "invalid_request_error",
        param: "parameters[columns]",
        message: `Invalid column: ${unknown}`,
      });
    }
    const id = `frr_${randomToken(24)}`;
    const run: StripeReportRun = {
      id,
      object: "reporting.report_run",
      created: Math.floor(this.options.now() / 1000),
      error: null,
      livemode: this.options.secretKey.includes("_live_"),
      parameters: { interval_start: start, interval_end: end, columns },
      report_type: type,
      result: null,
      status: "pending",
      succeeded_at: null,
      pendingPolls: this.pendingPollsFor(form.toString()),
      csv: this.reportCsv(
        start * 1000,
        end * 1000,
        columns.length > 0 ? columns : ["created_utc", "currency", "gross"],
      ),
    };
    this.reportRuns.set(id, run);
    return Response.json(publicRun(run));
  }

  private pendingPollsFor(body: string): number {
    const at = this.reportPendingPolls.findIndex((p) => p.match === null || body.includes(p.match));
    if (at < 0) return 0;
    const [pending] = this.reportPendingPolls.splice(at, 1);
    return pending?.polls ?? 0;
  }

  private retrieveReportRun(id: string): Response {
    const run = this.reportRuns.get(id);
    if (!run) return noSuch("reporting.report_run", id, "id");
    if (run.status === "pending") {
      if (run.pendingPolls > 0) run.pendingPolls--;
      else {
        const fileId = `file_${randomToken(24)}`;
        const served = this.truncateReportNext
          ? run.csv.slice(0, run.csv.lastIndexOf("\n", run.csv.length - 2) + 1)
          : run.csv;
        this.truncateReportNext = false;
        this.files.set(fileId, served);
        run.status = "succeeded";
        run.succeeded_at = Math.floor(this.options.now() / 1000);
        run.result = {
          id: fileId,
          object: "file",
          created: run.succeeded_at,
          filename: `${fileId}.csv`,
          purpose: "finance_report_run",
          size: utf8Bytes(run.csv).length,
          title: null,
          type: "csv",
          url: `https://files.stripe.com/v1/files/${fileId}/contents`,
        };
      }
    }
    return Response.json(publicRun(run));
  }

  /** The report's CSV: one row per charge (paid intents and extra charges) in `[startMs, endMs)`. */
  private reportCsv(startMs: number, endMs: number, columns: readonly string[]): string {
    const utc = (ms: number) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);
    const major = (minor: number, currency: string) => {
      const exponent = stripeExponent(currency.toUpperCase());
      if (exponent === 0) return String(minor);
      const s = String(minor).padStart(exponent + 1, "0");
      return `${s.slice(0, -exponent)}.${s.slice(-exponent)}`;
    };
    const charges = [
      ...[...this.intents.values()]
        .filter((pi) => pi.status === "succeeded" && pi.paidAtMs !== undefined)
        .map((pi) => ({
          atMs: pi.paidAtMs as number,
          currency: pi.currency,
          amountMinor: pi.amount_received,
          intentId: pi.id,
          orderNo: pi.metadata.order_no ?? "",
        })),
      ...this.extraCharges,
    ].filter((c) => c.atMs >= startMs && c.atMs < endMs);
    const rows = charges.map((c) => {
      const row: Record<(typeof REPORT_COLUMNS)[number], string> = {
        balance_transaction_id: `txn_${randomToken(24)}`,
        created_utc: utc(c.atMs),
        currency: c.currency,
        gross: major(c.amountMinor, c.currency),
        fee: "0.00",
        net: major(c.amountMinor, c.currency),
        reporting_category: "charge",
        source_id: `ch_${randomToken(24)}`,
        payment_intent_id: c.intentId,
        "payment_metadata[order_no]": c.orderNo,
      };
      return columns.map((k) => csvField(row[k as keyof typeof row] ?? "")).join(",");
    });
    return `${[columns.join(","), ...rows].join("\n")}\n`;
  }

  private createIntent(form: URLSearchParams): Response {
    const amount = positiveInteger(form.get("amount"));
    if (amount === null) return invalidInteger("amount");
    const currency = form.get("currency") ?? "";
    if (!/^[a-z]{3}$/.test(currency)) {
      return stripeError(400, {
        type: "invalid_request_error",
        code: "parameter_invalid_empty",
        param: "currency",
        message: "Invalid currency",
      });
    }
    const id = `pi_${randomToken(24)}`;
    const pi: StripeIntent = {
      id,
      object: "payment_intent",
      amount,
      amount_received: 0,
      currency,
      description: form.get("description"),
      status: "requires_payment_method",
      client_secret: `${id}_secret_${randomToken(24)}`,
      livemode: this.options.secretKey.includes("_live_"),
      metadata: metadataOf(form),
      automatic_payment_methods: form.get("automatic_payment_methods[enabled]") === "true" ? { enabled: true } : null,
      created: Math.floor(this.options.now() / 1000),
    };
    this.intents.set(id, pi);
    return Response.json(pi);
  }

  private search(url: URL): Response {
    const query = url.searchParams.get("query") ?? "";
    const match = /^metadata\['([a-z_]+)'\]:'((?:[^'\\]|\\.)*)'$/.exec(query);
    if (!match) {
      return stripeError(400, {
        type: "invalid_request_error",
        code: "parameter_invalid_string",
        param: "query",
        message: `Invalid query: ${query}`,
      });
    }
    const [, field, quoted] = match as unknown as [string, string, string];
    const value = quoted.replace(/\\(.)/g, "$1");
    const data = [...this.intents.values()].filter((pi) => pi.metadata[field] === value);
    return Response.json({
      object: "search_result",
      url: "/v1/payment_intents/search",
      has_more: false,
      next_page: null,
      data,
    });
  }

  private createRefund(form: URLSearchParams): Response {
    const intentId = form.get("payment_intent") ?? "";
    const pi = this.intents.get(intentId);
    if (!pi) return noSuch("payment_intent", intentId, "payment_intent");
    if (pi.status !== "succeeded") {
      return stripeError(400, {
        type: "invalid_request_error",
        code: "payment_intent_unexpected_state",
        message: `This PaymentIntent (${pi.id}) does not have a successful charge to refund.`,
      });
    }
    const amount = positiveInteger(form.get("amount") ?? String(pi.amount_received));
    if (amount === null) return invalidInteger("amount");
    const refunded = [...this.refunds.values()]
      .filter((r) => r.payment_intent === pi.id && r.status !== "failed" && r.status !== "canceled")
      .reduce((sum, r) => sum + r.amount, 0);
    if (refunded + amount > pi.amount_received) {
      return stripeError(400, {
        type: "invalid_request_error",
        code: "amount_too_large",
        param: "amount",
        message: `Refund amount (${amount}) is greater than unrefunded amount on charge (${pi.amount_received - refunded})`,
      });
    }
    const refund: StripeRefund = {
      id: `re_${randomToken(24)}`,
      object: "refund",
      amount,
      currency: pi.currency,
      payment_intent: pi.id,
      status: this.refundStatus,
      metadata: metadataOf(form),
    };
    this.refunds.set(refund.id, refund);
    return Response.json(refund);
  }
}

/** The balance change report's columns the double can fill. */
const REPORT_COLUMNS = [
  "balance_transaction_id",
  "created_utc",
  "currency",
  "gross",
  "fee",
  "net",
  "reporting_category",
  "source_id",
  "payment_intent_id",
  "payment_metadata[order_no]",
] as const;

export interface StripeExtraCharge {
  readonly atMs: number;
  readonly currency: string;
  readonly amountMinor: number;
  readonly intentId: string;
  readonly orderNo: string;
}

interface StripeReportRun {
  id: string;
  object: "reporting.report_run";
  created: number;
  error: string | null;
  livemode: boolean;
  parameters: { interval_start: number; interval_end: number; columns: string[] };
  report_type: string;
  result: Record<string, unknown> | null;
  status: "pending" | "succeeded" | "failed";
  succeeded_at: number | null;
  /** Not Stripe's: retrievals left before it succeeds, and the file it will serve. */
  pendingPolls: number;
  csv: string;
}

function publicRun(run: StripeReportRun): Record<string, unknown> {
  const { pendingPolls: _p, csv: _c, ...visible } = run;
  return visible;
}

function csvField(value: string): string {
  return /[",\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

export function stripeError(
  status: number,
  error: { type: string; code?: string; param?: string; message: string },
): Response {
  return Response.json({ error }, { status });
}

function noSuch(object: string, id: string, param: string): Response {
  return stripeError(404, {
    type: "invalid_request_error",
    code: "resource_missing",
    param,
    message: `No such ${object}: '${id}'`,
  });
}

function invalidInteger(param: string): Response {
  return stripeError(400, {
    type: "invalid_request_error",
    code: "parameter_invalid_integer",
    param,
    message: `Invalid integer: ${param}`,
  });
}

export function positiveInteger(value: string | null): number | null {
  if (value === null || !/^[1-9][0-9]{0,15}$/.test(value)) return null;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : null;
}

export function metadataOf(form: URLSearchParams): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [k, v] of form) {
    const m = /^metadata\[([^\]]+)\]$/.exec(k);
    if (m) metadata[m[1] as string] = v;
  }
  return metadata;
}

// ── WeChat Pay v3 ────────────────────────────────────────────────────────────────────────

export type WechatTradeState = "NOTPAY" | "USERPAYING" | "SUCCESS" | "REFUND" | "CLOSED" | "REVOKED" | "PAYERROR";

interface WechatOrder {
  readonly request: Record<string, unknown>;
  readonly appid: string;
  readonly description: string;
  readonly totalMinor: number;
  readonly currency: string;
  readonly codeUrl: string;
  state: WechatTradeState;
  transactionId: string | null;
  /** When it became SUCCESS: the day its trade bill lists it. */
  paidAtMs?: number;
}

interface WechatRefund {
  readonly refundId: string;
  readonly outRefundNo: string;
  readonly outTradeNo: string;
  readonly refundMinor: number;
  readonly reason: string;
  status: "SUCCESS" | "PROCESSING" | "ABNORMAL" | "CLOSED";
}

export interface WechatPayDoubleOptions {
  readonly mchId: string;
  readonly appId: string;
  readonly merchantSerial: string;
  /** The merchant API certificate's public key, which WeChat verifies our requests with. */
  readonly merchantPublicPem: string;
  /** WeChat's platform private key and its serial, which it signs answers with. */
  readonly platformKey: CryptoKey;
  readonly platformSerial: string;
  readonly now: () => number;
  /**
   * Certificate mode: the merchant's APIv3 key, which `GET /v3/certificates` seals the
   * platform certificates with. Without it the merchant is in public key mode and that call
   * answers 404, as WeChat does.
   */
  readonly apiV3Key?: string;
}

/** A platform certificate the double holds (certificate mode). */
export interface WechatPlatformCertificateDouble {
  /** The certificate's own serial, which callbacks and answers signed with its key name. */
  readonly serial: string;
  readonly privateKey: CryptoKey;
  readonly pem: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  /** The `serial_no` it is listed under; its own serial unless a test lists it wrongly. */
  listedAs: string;
}

interface RefundRefusal {
  readonly code: string;
  readonly status: number;
  readonly match: string | null;
}

const WECHAT_AUTH = /^WECHATPAY2-SHA256-RSA2048 (.+)$/;

/**
 * WeChat Pay API v3 for a direct merchant: Native order, query by out_trade_no, domestic
 * refund. Requests must carry the merchant's Authorization signature (else 401 SIGN_ERROR,
 * unsigned, as WeChat answers requests it cannot authenticate); every other answer is signed
 * with the platform key, including 4xx business errors.
 */
export class WechatPayDouble extends ProviderDouble {
  readonly orders = new Map<string, WechatOrder>();
  readonly refunds = new Map<string, WechatRefund>();
  /** The status new refunds get; WeChat usually answers PROCESSING and settles later. */
  refundStatus: WechatRefund["status"] = "PROCESSING";
  private refundRefusals: RefundRefusal[] = [];
  /** Sign answers under this serial instead (a rotation the merchant has not caught up with). */
  answerSerial: string | null = null;
  /** Shift the timestamp of signed answers (a replayed or delayed answer). */
  answerClockSkewS = 0;
  /** Certificate mode: what `GET /v3/certificates` lists, oldest first. */
  readonly certificates: WechatPlatformCertificateDouble[] = [];
  private signer: { readonly key: CryptoKey; readonly serial: string } | null = null;
  private certificateTampers: ("ciphertext" | "associated_data")[] = [];

  protected constructor(
    protected readonly options: WechatPayDoubleOptions,
    private readonly merchantKey: CryptoKey,
  ) {
    super();
  }

  static async create(options: WechatPayDoubleOptions): Promise<WechatPayDouble> {
    return new WechatPayDouble(options, await publicKeyOf(options.merchantPublicPem));
  }

  setState(orderNo: string, state: WechatTradeState): void {
    const o = this.order(orderNo);
    o.state = state;
    if (state === "SUCCESS" && o.transactionId === null) o.transactionId = `42000${randomDigits(23)}`;
    if (state === "SUCCESS") o.paidAtMs ??= this.options.now();
  }

  pay(orderNo: string): void {
    this.setState(orderNo, "SUCCESS");
  }

  /**
   * The next `count` refund applications (for orders containing `match`, if given) are refused
   * with WeChat's business error `code` (default NOT_ENOUGH, 403: the merchant's refundable
   * balance is short), signed, as WeChat refuses them.
   */
  refuseRefundsNext(count: number, code = "NOT_ENOUGH", status = 403, match: string | null = null): void {
    for (let i = 0; i < count; i++) this.refundRefusals.push({ code, status, match });
  }

  resetRefundRefusals(match: string | null = null): void {
    this.refundRefusals = this.refundRefusals.filter((r) => match !== null && r.match !== match);
  }

  transactionIdOf(orderNo: string): string | null {
    return this.order(orderNo).transactionId;
  }

  /**
   * Certificate mode: WeChat issues a new platform certificate (a fresh RSA key, a real X.509
   * certificate around it, a random serial) and lists it after the current ones. Valid from
   * now for a year unless given; callbacks signed with it are the test's to make.
   */
  async rotateCertificate(
    o: { notBeforeMs?: number; notAfterMs?: number; serial?: string } = {},
  ): Promise<WechatPlatformCertificateDouble> {
    const pair = (await crypto.subtle.generateKey(
      { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
      true,
      ["sign", "verify"],
    )) as CryptoKeyPair;
    // 20 bytes, high bit clear and first byte non-zero: 40 hex digits, as WeChat's serials are.
    const bytes = crypto.getRandomValues(new Uint8Array(20));
    bytes[0] = ((bytes[0] as number) & 0x7f) | 0x10;
    const serial = o.serial ?? [...bytes].map((b) => b.toString(16).padStart(2, "0").toUpperCase()).join("");
    const notBeforeMs = o.notBeforeMs ?? this.options.now() - 60_000;
    const notAfterMs = o.notAfterMs ?? notBeforeMs + 365 * 86_400_000;
    const der = await certificate({
      serialHex: serial,
      subjectPublicKey: pair.publicKey,
      issuerKey: pair.privateKey,
      notBeforeMs,
      notAfterMs,
    });
    const held: WechatPlatformCertificateDouble = {
      serial,
      privateKey: pair.privateKey,
      pem: certificatePem(der),
      notBeforeMs,
      notAfterMs,
      listedAs: serial,
    };
    this.certificates.push(held);
    return held;
  }

  /** Sign answers with a held certificate's key under its serial (WeChat switched to it); null: the configured key. */
  signAnswersWith(serial: string | null): void {
    if (serial === null) {
      this.signer = null;
      return;
    }
    const held = this.certificates.find((c) => c.serial === serial);
    if (!held) throw new Error(`no platform certificate ${serial}`);
    this.signer = { key: held.privateKey, serial };
  }

  /** The next certificate list seals its newest entry wrongly: its ciphertext or its associated_data altered. */
  tamperCertificatesNext(part: "ciphertext" | "associated_data"): void {
    this.certificateTampers.push(part);
  }

  private order(orderNo: string): WechatOrder {
    const o = this.orders.get(orderNo);
    if (!o) throw new Error(`no WeChat order ${orderNo}`);
    return o;
  }

  protected async injectedFailure(status: number): Promise<Response> {
    const code = status === 429 ? "FREQUENCY_LIMITED" : "SYSTEM_ERROR";
    return this.answer(status, { code, message: status === 429 ? "频率超限" : "系统异常，请稍后重试" });
  }

  protected async handle(request: Received): Promise<Response> {
    const refusal = await this.authenticate(request);
    if (refusal) return refusal;
    if (request.headers.get("accept") !== "application/json" || !request.headers.get("user-agent")) {
      return this.answer(400, { code: "INVALID_REQUEST", message: "HTTP 请求不符合微信支付 APIv3 接口规则" });
    }
    return this.route(request);
  }

  /** An authenticated request, by method and path. */
  protected async route(request: Received): Promise<Response> {
    const path = request.url.pathname;
    if (request.method === "POST" && path === "/v3/pay/transactions/native") return this.native(request);
    const query = /^\/v3\/pay\/transactions\/out-trade-no\/([^/]+)$/.exec(path);
    if (request.method === "GET" && query) return this.query(decodeURIComponent(query[1] as string), request.url);
    if (request.method === "POST" && path === "/v3/refund/domestic/refunds") return this.refund(request);
    if (request.method === "GET" && path === "/v3/certificates") return this.certificateList();
    if (request.method === "GET" && path === "/v3/bill/tradebill") return this.tradeBill(request.url);
    if (request.method === "GET" && path === "/v3/billdownload/file") return this.billFile(request.url);
    return this.answer(404, { code: "NOT_FOUND", message: "请求的资源不存在" });
  }

  /** Bills applied for, by download token. */
  private readonly tradeBills = new Map<string, string>();
  /** The next bill file served differs from the one its hash_value was computed over. */
  tamperBillNext = false;
  /** The next tradebill answer names a download URL on another host. */
  foreignDownloadUrlNext = false;

  /**
   * 申请交易账单 (bill_type=ALL): the day's (Beijing) paid orders as WeChat's CSV — BOM, CRLF,
   * backtick-prefixed fields, a summary — behind a download URL on the API host; a day
   * without trades answers NO_STATEMENT_EXIST. Refund rows are not listed (the double's
   * refunds carry no time).
   */
  private async tradeBill(url: URL): Promise<Response> {
    const date = url.searchParams.get("bill_date") ?? "";
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || url.searchParams.get("bill_type") !== "ALL") {
      return this.answer(400, { code: "PARAM_ERROR", message: "参数错误" });
    }
    const beijing = (ms: number) => new Date(ms + 8 * 3_600_000).toISOString().replace("T", " ").slice(0, 19);
    const yuan = (minor: number) => formatMinor(minor);
    const rows = [...this.orders.entries()]
      .filter(([, o]) => o.paidAtMs !== undefined && beijing(o.paidAtMs).startsWith(date))
      .map(([no, o]) =>
        [
          beijing(o.paidAtMs as number),
          o.appid,
          this.options.mchId,
          "0",
          "",
          o.transactionId ?? "",
          no,
          "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
          "NATIVE",
          "SUCCESS",
          "OTHERS",
          "CNY",
          yuan(o.totalMinor),
          "0.00",
          "0",
          "0",
          "0.00",
          "0.00",
          "",
          "",
          o.description,
          "",
          "0.00000",
          "0.60%",
          yuan(o.totalMinor),
          "0.00",
          "",
        ]
          .map((f) => `\`${f}`)
          .join(","),
      );
    if (rows.length === 0) return this.answer(400, { code: "NO_STATEMENT_EXIST", message: "账单不存在" });
    const total = [...this.orders.values()]
      .filter((o) => o.paidAtMs !== undefined && beijing(o.paidAtMs).startsWith(date))
      .reduce((sum, o) => sum + o.totalMinor, 0);
    const file = `\uFEFF${[
      "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注",
      ...rows,
      "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额",
      `\`${rows.length},\`${yuan(total)},\`0.00,\`0.00,\`0.00000,\`${yuan(total)},\`0.00`,
    ].join("\r\n")}\r\n`;
    const token = randomToken(24);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", utf8Bytes(file)));
    this.tradeBills.set(token, this.tamperBillNext ? file.replace(",`SUCCESS,", ",`CLOSED,") : file);
    this.tamperBillNext = false;
    const host = this.foreignDownloadUrlNext ? "https://bills.example.com" : "https://api.mch.weixin.qq.com";
    this.foreignDownloadUrlNext = false;
    return this.answer(200, {
      hash_type: "SHA1",
      hash_value: [...digest].map((b) => b.toString(16).padStart(2, "0")).join(""),
      download_url: `${host}/v3/billdownload/file?token=${token}`,
    });
  }

  /** 下载账单: the file itself, unsigned (its SHA-1 was in the tradebill answer). */
  private async billFile(url: URL): Promise<Response> {
    const file = this.tradeBills.get(url.searchParams.get("token") ?? "");
    if (file === undefined) return this.answer(400, { code: "INVALID_REQUEST", message: "token 无效" });
    return new Response(file, { status: 200, headers: { "content-type": "text/plain; charset=utf-8" } });
  }

  /** "获取平台证书列表": every held certificate, its PEM sealed with the APIv3 key. */
  private async certificateList(): Promise<Response> {
    const apiV3Key = this.options.apiV3Key;
    if (!apiV3Key) return this.answer(404, { code: "RESOURCE_NOT_EXISTS", message: "无可用的平台证书" });
    const tamper = this.certificateTampers.shift();
    const data = await Promise.all(
      this.certificates.map(async (c, i) => {
        const nonce = randomToken(12);
        let ciphertext = await wechatSeal(apiV3Key, c.pem, nonce, "certificate");
        let associatedData = "certificate";
        if (i === this.certificates.length - 1 && tamper === "ciphertext") ciphertext = forged(ciphertext);
        if (i === this.certificates.length - 1 && tamper === "associated_data") associatedData = "certificatf";
        return {
          serial_no: c.listedAs,
          effective_time: wechatTimeExpire(c.notBeforeMs),
          expire_time: wechatTimeExpire(c.notAfterMs),
          encrypt_certificate: {
            algorithm: "AEAD_AES_256_GCM",
            nonce,
            associated_data: associatedData,
            ciphertext,
          },
        };
      }),
    );
    return this.answer(200, { data });
  }

  /** WeChat's check of the Authorization header: schema, merchant, serial, freshness, signature. */
  private async authenticate(request: Received): Promise<Response | null> {
    const refuse = (message: string) =>
      Response.json({ code: "SIGN_ERROR", message }, { status: 401, headers: { "request-id": crypto.randomUUID() } });
    const header = WECHAT_AUTH.exec(request.headers.get("authorization") ?? "");
    if (!header) return refuse("Authorization 头缺失或认证类型错误");
    const params = new Map<string, string>();
    for (const m of (header[1] as string).matchAll(/([a-z_]+)="([^"]*)"/g)) params.set(m[1] as string, m[2] as string);
    const { mchId, merchantSerial, now } = this.options;
    if (params.get("mchid") !== mchId) return refuse("商户号与签名不一致");
    if (params.get("serial_no") !== merchantSerial) return refuse("商户证书序列号有误");
    const timestamp = params.get("timestamp") ?? "";
    if (!/^[0-9]{1,12}$/.test(timestamp) || Math.abs(now() / 1000 - Number(timestamp)) > 300) {
      return refuse("请求时间戳过期");
    }
    const signature = base64Bytes(params.get("signature") ?? "");
    const nonce = params.get("nonce_str") ?? "";
    if (!signature || nonce.length === 0) return refuse("签名或随机串缺失");
    const message = `${request.method}\n${request.url.pathname}${request.url.search}\n${timestamp}\n${nonce}\n${request.body}\n`;
    const valid = await crypto.subtle.verify("RSASSA-PKCS1-v1_5", this.merchantKey, signature, utf8Bytes(message));
    return valid ? null : refuse("签名错误");
  }

  private async native(request: Received): Promise<Response> {
    const body = jsonOf(request.body);
    const amount = body?.amount as { total?: unknown; currency?: unknown } | undefined;
    const fields = [body?.appid, body?.mchid, body?.description, body?.out_trade_no, body?.notify_url];
    if (!body || fields.some((f) => typeof f !== "string") || typeof amount?.total !== "number") {
      return this.answer(400, { code: "PARAM_ERROR", message: "参数错误" });
    }
    if (body.appid !== this.options.appId || body.mchid !== this.options.mchId) {
      return this.answer(400, { code: "APPID_MCHID_NOT_MATCH", message: "AppID和mch_id不匹配" });
    }
    if (!Number.isSafeInteger(amount.total) || amount.total <= 0 || (amount.currency ?? "CNY") !== "CNY") {
      return this.answer(400, { code: "PARAM_ERROR", message: "订单金额或币种错误" });
    }
    const outTradeNo = body.out_trade_no as string;
    const existing = this.orders.get(outTradeNo);
    if (existing) {
      if (existing.state === "SUCCESS" || existing.state === "REFUND") {
        return this.answer(400, { code: "ORDERPAID", message: "该订单已支付" });
      }
      if (existing.state === "CLOSED") return this.answer(400, { code: "ORDER_CLOSED", message: "订单已关闭" });
      // The same order asked again with the same parameters gets its code_url again.
      if (JSON.stringify(existing.request) !== JSON.stringify(body)) {
        return this.answer(403, { code: "OUT_TRADE_NO_USED", message: "商户订单号重复" });
      }
      return this.answer(200, { code_url: existing.codeUrl });
    }
    const order: WechatOrder = {
      request: body,
      appid: body.appid as string,
      description: body.description as string,
      totalMinor: amount.total,
      currency: "CNY",
      codeUrl: `weixin://wxpay/bizpayurl?pr=${randomToken(7)}`,
      state: "NOTPAY",
      transactionId: null,
    };
    this.orders.set(outTradeNo, order);
    return this.answer(200, { code_url: order.codeUrl });
  }

  private async query(outTradeNo: string, url: URL): Promise<Response> {
    if (url.searchParams.get("mchid") !== this.options.mchId) {
      return this.answer(400, { code: "PARAM_ERROR", message: "mchid 参数错误" });
    }
    const o = this.orders.get(outTradeNo);
    if (!o) return this.answer(404, { code: "ORDER_NOT_EXIST", message: "订单不存在" });
    const paid = o.state === "SUCCESS" || o.state === "REFUND";
    return this.answer(200, {
      appid: o.appid,
      mchid: this.options.mchId,
      out_trade_no: outTradeNo,
      ...(o.transactionId ? { transaction_id: o.transactionId } : {}),
      trade_type: "NATIVE",
      trade_state: o.state,
      trade_state_desc: o.state,
      ...(paid
        ? {
            bank_type: "OTHERS",
            success_time: "2026-11-22T10:05:00+08:00",
            payer: { openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" },
          }
        : {}),
      amount: paid
        ? { total: o.totalMinor, payer_total: o.totalMinor, currency: o.currency, payer_currency: o.currency }
        : { total: o.totalMinor, currency: o.currency },
    });
  }

  private async refund(request: Received): Promise<Response> {
    const body = jsonOf(request.body);
    const amount = body?.amount as { refund?: unknown; total?: unknown; currency?: unknown } | undefined;
    if (
      !body ||
      typeof body.out_trade_no !== "string" ||
      typeof body.out_refund_no !== "string" ||
      typeof amount?.refund !== "number" ||
      typeof amount.total !== "number" ||
      amount.currency !== "CNY"
    ) {
      return this.answer(400, { code: "PARAM_ERROR", message: "参数错误" });
    }
    const refusal = this.refundRefusals.findIndex((r) => r.match === null || matches(request, r.match));
    if (refusal >= 0) {
      const [{ code, status }] = this.refundRefusals.splice(refusal, 1) as [RefundRefusal];
      return this.answer(status, { code, message: code === "NOT_ENOUGH" ? "基本账户余额不足" : "退款被拒绝" });
    }
    const o = this.orders.get(body.out_trade_no);
    if (!o) return this.answer(404, { code: "RESOURCE_NOT_EXISTS", message: "订单不存在" });
    const existing = this.refunds.get(body.out_refund_no);
    if (existing) return this.answer(200, this.refundBody(existing, o));
    if (o.state !== "SUCCESS" && o.state !== "REFUND") {
      return this.answer(400, { code: "INVALID_REQUEST", message: "订单未支付，不能退款" });
    }
    if (amount.total !== o.totalMinor)
      return this.answer(400, { code: "PARAM_ERROR", message: "订单金额与原订单不一致" });
    const refunded = [...this.refunds.values()]
      .filter((r) => r.outTradeNo === body.out_trade_no && r.status !== "CLOSED")
      .reduce((sum, r) => sum + r.refundMinor, 0);
    if (amount.refund <= 0 || refunded + amount.refund > o.totalMinor) {
      return this.answer(400, { code: "PARAM_ERROR", message: "申请退款金额超过订单可退金额" });
    }
    const refund: WechatRefund = {
      refundId: `50${randomDigits(27)}`,
      outRefundNo: body.out_refund_no,
      outTradeNo: body.out_trade_no,
      refundMinor: amount.refund,
      reason: typeof body.reason === "string" ? body.reason : "",
      status: this.refundStatus,
    };
    this.refunds.set(refund.outRefundNo, refund);
    o.state = "REFUND";
    return this.answer(200, this.refundBody(refund, o));
  }

  private refundBody(r: WechatRefund, o: WechatOrder): Record<string, unknown> {
    return {
      refund_id: r.refundId,
      out_refund_no: r.outRefundNo,
      transaction_id: o.transactionId,
      out_trade_no: r.outTradeNo,
      channel: "ORIGINAL",
      user_received_account: "支付用户零钱",
      create_time: "2026-11-22T10:10:00+08:00",
      status: r.status,
      funds_account: "AVAILABLE",
      amount: {
        total: o.totalMinor,
        refund: r.refundMinor,
        payer_total: o.totalMinor,
        payer_refund: r.refundMinor,
        settlement_refund: r.refundMinor,
        settlement_total: o.totalMinor,
        discount_refund: 0,
        currency: o.currency,
        refund_fee: 0,
      },
    };
  }

  /** An answer signed as WeChat signs it, then tampered with or stripped when a test asked. */
  protected async answer(status: number, body: Record<string, unknown>): Promise<Response> {
    const text = JSON.stringify(body);
    const headers = await wechatHeaders(text, {
      platformKey: this.signer?.key ?? this.options.platformKey,
      serial: this.answerSerial ?? this.signer?.serial ?? this.options.platformSerial,
      nowMs: this.options.now() + this.answerClockSkewS * 1000,
    });
    headers["content-type"] = "application/json; charset=utf-8";
    headers["request-id"] = crypto.randomUUID();
    if (this.tampers > 0) {
      this.tampers--;
      headers["wechatpay-signature"] = forged(headers["wechatpay-signature"] as string);
    } else if (this.unsigned > 0) {
      this.unsigned--;
      for (const h of ["wechatpay-signature", "wechatpay-timestamp", "wechatpay-nonce", "wechatpay-serial"])
        delete headers[h];
    }
    return new Response(text, { status, headers });
  }
}

export function jsonOf(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

// ── Alipay ───────────────────────────────────────────────────────────────────────────────

export type AlipayTradeStatus = "WAIT_BUYER_PAY" | "TRADE_SUCCESS" | "TRADE_FINISHED" | "TRADE_CLOSED";

interface AlipayOrder {
  readonly totalMinor: number;
  readonly subject: string;
  readonly qrCode: string;
  readonly tradeNo: string;
  /** null until the payer scans the QR code: Alipay creates the trade only then. */
  status: AlipayTradeStatus | null;
  readonly refunds: Map<string, number>;
  /** When it was paid: the day whose bill lists it. */
  paidAtMs?: number;
}

export interface AlipayDoubleOptions {
  readonly appId: string;
  readonly sellerId: string;
  /** The app's public key as uploaded to the open platform: Alipay verifies requests with it. */
  readonly appPublicPem: string;
  /** Alipay's private key, which it signs response nodes with. */
  readonly alipayKey: CryptoKey;
  readonly now: () => number;
}

/**
 * The gateway's own reading of "自行实现签名", written apart from the client's so that the
 * double is an independent check of it: every parameter except `sign`, empty values
 * dropped, keys in ascending code-unit order, `k=v` joined with `&`, nothing URL-encoded.
 */
function gatewaySigningString(params: ReadonlyMap<string, string>): string {
  const keys = [...params.keys()].filter((k) => k !== "sign" && params.get(k) !== "");
  keys.sort();
  return keys.map((k) => `${k}=${params.get(k)}`).join("&");
}

/** 查询对账单下载地址, and the host its download URLs are on. */
const BILL_METHOD = "alipay.data.dataservice.bill.downloadurl.query";
export const BILL_HOST = "dwbillcenter.alipay.com";

/** "yyyy-MM-dd HH:mm:ss" in Beijing time. */
function beijingTime(ms: number): string {
  return new Date(ms + 8 * 3_600_000).toISOString().replace("T", " ").slice(0, 19);
}

/**
 * Alipay's open API gateway for 当面付: precreate, query, refund. Requests must be signed
 * with the app key (else `isv.invalid-signature`, unsigned, as Alipay answers requests it
 * cannot authenticate); other answers are signed over the raw response node, written with
 * Alipay's `\/` escapes so that only a client that verifies the raw text succeeds.
 */
export class AlipayDouble extends ProviderDouble {
  readonly orders = new Map<string, AlipayOrder>();
  private busy = 0;

  protected constructor(
    protected readonly options: AlipayDoubleOptions,
    private readonly appKey: CryptoKey,
  ) {
    super();
  }

  static async create(options: AlipayDoubleOptions): Promise<AlipayDouble> {
    return new AlipayDouble(options, await publicKeyOf(options.appPublicPem));
  }

  /** The next `count` calls answer code 20000 (服务不可用), signed, as a busy gateway does. */
  busyNext(count = 1): void {
    this.busy += count;
  }

  /** The payer scanned the QR code: the trade now exists and waits for payment. */
  scan(orderNo: string): void {
    this.order(orderNo).status = "WAIT_BUYER_PAY";
  }

  setStatus(orderNo: string, status: AlipayTradeStatus): void {
    const o = this.order(orderNo);
    o.status = status;
    if (status === "TRADE_SUCCESS") o.paidAtMs ??= this.options.now();
  }

  pay(orderNo: string): void {
    this.setStatus(orderNo, "TRADE_SUCCESS");
  }

  private order(orderNo: string): AlipayOrder {
    const o = this.orders.get(orderNo);
    if (!o) throw new Error(`no Alipay order ${orderNo}`);
    return o;
  }

  protected async injectedFailure(status: number): Promise<Response> {
    return new Response(`<html><body><h1>${status}</h1></body></html>`, {
      status,
      headers: { "content-type": "text/html" },
    });
  }

  protected async handle(request: Received): Promise<Response> {
    if (request.url.hostname === BILL_HOST) return this.billFile(request.url);
    const params = new Map<string, string>();
    for (const [k, v] of new URLSearchParams(request.body)) params.set(k, v);
    const method = params.get("method") ?? "";
    const known = this.methods.includes(method);
    const node = known ? `${method.replaceAll(".", "_")}_response` : "error_response";
    const invalid = (subCode: string, subMsg: string, signed = true) =>
      this.answer(node, { code: "40002", msg: "Invalid Arguments", sub_code: subCode, sub_msg: subMsg }, signed);
    if (
      request.method !== "POST" ||
      !request.headers.get("content-type")?.startsWith("application/x-www-form-urlencoded")
    ) {
      return invalid("isv.invalid-content-type", "请求的Content-Type不正确");
    }
    if (params.get("app_id") !== this.options.appId) return invalid("isv.invalid-app-id", "无效的AppID参数");
    if (!known) return invalid("isv.invalid-method", "不存在的方法名");
    if (params.get("sign_type") !== "RSA2") return invalid("isv.invalid-signature-type", "无效的签名类型");
    if (params.get("charset") !== "utf-8" || params.get("format") !== "JSON" || params.get("version") !== "1.0") {
      return invalid("isv.invalid-parameter", "公共参数错误");
    }
    if (!/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(params.get("timestamp") ?? "")) {
      return invalid("isv.invalid-timestamp", "非法的时间戳参数");
    }
    const sign = base64Bytes(params.get("sign") ?? "");
    const signed = utf8Bytes(gatewaySigningString(params));
    if (!sign || !(await crypto.subtle.verify("RSASSA-PKCS1-v1_5", this.appKey, sign, signed))) {
      return invalid("isv.invalid-signature", "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配", false);
    }
    const biz = jsonOf(params.get("biz_content") ?? "");
    if (!biz) return invalid("isv.invalid-parameter", "biz_content 不是 JSON");
    if (this.busy > 0) {
      this.busy--;
      return this.answer(node, {
        code: "20000",
        msg: "Service Currently Unavailable",
        sub_code: "isp.unknow-error",
        sub_msg: "系统繁忙",
      });
    }
    return this.dispatch(method, node, biz, params);
  }

  /** The gateway methods this double serves. */
  protected get methods(): readonly string[] {
    return ["alipay.trade.precreate", "alipay.trade.query", "alipay.trade.refund", BILL_METHOD];
  }

  /** A request the gateway authenticated, by method. */
  protected dispatch(
    method: string,
    node: string,
    biz: Record<string, unknown>,
    params: ReadonlyMap<string, string>,
  ): Promise<Response> {
    if (method === "alipay.trade.precreate") return this.precreate(node, biz, params.get("notify_url") ?? null);
    if (method === "alipay.trade.query") return this.query(node, biz);
    if (method === BILL_METHOD) return this.billUrl(node, biz);
    return this.refund(node, biz);
  }

  protected businessFailed(node: string, subCode: string, subMsg: string, extra: Record<string, string> = {}) {
    return this.answer(node, { code: "40004", msg: "Business Failed", sub_code: subCode, sub_msg: subMsg, ...extra });
  }

  private precreate(node: string, biz: Record<string, unknown>, notifyUrl: string | null): Promise<Response> {
    const { out_trade_no: outTradeNo, total_amount: totalAmount, subject } = biz;
    if (
      typeof outTradeNo !== "string" ||
      typeof totalAmount !== "string" ||
      typeof subject !== "string" ||
      !notifyUrl
    ) {
      return this.answer(node, {
        code: "40001",
        msg: "Missing Required Arguments",
        sub_code: "isv.missing-parameter",
        sub_msg: "缺少必选参数",
      });
    }
    if (biz.seller_id !== undefined && biz.seller_id !== this.options.sellerId) {
      return this.businessFailed(node, "ACQ.SELLER_NOT_MATCH", "卖家信息不一致");
    }
    const total = parseAmountMinor(totalAmount);
    if (!total.ok) return this.businessFailed(node, "ACQ.TOTAL_FEE_EXCEED", "订单金额不合法");
    const existing = this.orders.get(outTradeNo);
    if (existing) {
      if (existing.status === "TRADE_SUCCESS" || existing.status === "TRADE_FINISHED") {
        return this.businessFailed(node, "ACQ.TRADE_HAS_SUCCESS", "交易已被支付");
      }
      if (existing.status === "TRADE_CLOSED") return this.businessFailed(node, "ACQ.TRADE_HAS_CLOSE", "交易已经关闭");
      if (existing.totalMinor !== total.value || existing.subject !== subject) {
        return this.businessFailed(node, "ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改");
      }
      return this.answer(node, { code: "10000", msg: "Success", out_trade_no: outTradeNo, qr_code: existing.qrCode });
    }
    const o: AlipayOrder = {
      totalMinor: total.value,
      subject,
      qrCode: `https://qr.alipay.com/bax0${randomToken(20).toLowerCase()}`,
      tradeNo: `2026112222001${randomDigits(15)}`,
      status: null,
      refunds: new Map(),
    };
    this.orders.set(outTradeNo, o);
    return this.answer(node, { code: "10000", msg: "Success", out_trade_no: outTradeNo, qr_code: o.qrCode });
  }

  private query(node: string, biz: Record<string, unknown>): Promise<Response> {
    const outTradeNo = typeof biz.out_trade_no === "string" ? biz.out_trade_no : "";
    const o = this.orders.get(outTradeNo);
    if (!o || o.status === null) {
      return this.businessFailed(node, "ACQ.TRADE_NOT_EXIST", "交易不存在", { out_trade_no: outTradeNo });
    }
    const paid = o.status === "TRADE_SUCCESS" || o.status === "TRADE_FINISHED";
    return this.answer(node, {
      code: "10000",
      msg: "Success",
      trade_no: o.tradeNo,
      out_trade_no: outTradeNo,
      buyer_logon_id: "159****5620",
      trade_status: o.status,
      total_amount: formatMinor(o.totalMinor),
      ...(paid ? { buyer_pay_amount: formatMinor(o.totalMinor), send_pay_date: "2026-11-22 10:05:00" } : {}),
      buyer_user_id: "2088101117955611",
    });
  }

  private refund(node: string, biz: Record<string, unknown>): Promise<Response> {
    const outTradeNo = typeof biz.out_trade_no === "string" ? biz.out_trade_no : "";
    const requestNo = typeof biz.out_request_no === "string" ? biz.out_request_no : outTradeNo;
    const o = this.orders.get(outTradeNo);
    if (!o || o.status === null) return this.businessFailed(node, "ACQ.TRADE_NOT_EXIST", "交易不存在");
    if (o.status !== "TRADE_SUCCESS") return this.businessFailed(node, "ACQ.TRADE_STATUS_ERROR", "交易状态不合法");
    const refunded = () => [...o.refunds.values()].reduce((sum, v) => sum + v, 0);
    const answer = (fundChange: "Y" | "N") =>
      this.answer(node, {
        code: "10000",
        msg: "Success",
        trade_no: o.tradeNo,
        out_trade_no: outTradeNo,
        buyer_logon_id: "159****5620",
        fund_change: fundChange,
        refund_fee: formatMinor(refunded()),
        gmt_refund_pay: "2026-11-22 10:10:00",
        buyer_user_id: "2088101117955611",
      });
    // The same out_request_no again: the refund exists, no money moves this time.
    if (o.refunds.has(requestNo)) return answer("N");
    const amount = parseAmountMinor(typeof biz.refund_amount === "string" ? biz.refund_amount : "");
    if (!amount.ok || refunded() + amount.value > o.totalMinor) {
      return this.businessFailed(node, "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限");
    }
    o.refunds.set(requestNo, amount.value);
    return answer("Y");
  }

  // ── 查询对账单下载地址 and the bill zip ──

  /** Days whose bill is generated whatever the clock says (a test's "next morning"). */
  readonly readyBillDates = new Set<string>();
  /** Days whose bill is not generated yet whatever the clock says (until marked ready). */
  readonly notReadyBillDates = new Set<string>();
  /** Trades Alipay lists that no order here explains (a payment we never recorded). */
  readonly extraTrades: { readonly atMs: number; readonly orderNo: string; readonly totalMinor: number }[] = [];
  /** How the next bill zips for a day are spoiled: a wrong CRC-32, or cut short. */
  readonly spoilBills = new Map<string, "crc" | "truncated">();
  private readonly billFiles = new Map<string, { zip: Uint8Array; expiresAtMs: number }>();

  /**
   * Bills are generated the next day (T+1): a day that is not yet over in Beijing (or is
   * later) answers `isp.bill_not_exist`, unless a test marked it ready.
   */
  private async billUrl(node: string, biz: Record<string, unknown>): Promise<Response> {
    const date = typeof biz.bill_date === "string" ? biz.bill_date : "";
    if (biz.bill_type !== "trade" || !/^\d{4}-\d{2}-\d{2}$/.test(date)) {
      return this.answer(node, {
        code: "40002",
        msg: "Invalid Arguments",
        sub_code: "isv.invalid-arguments",
        sub_msg: "参数不合法",
      });
    }
    const today = beijingTime(this.options.now()).slice(0, 10);
    if (this.notReadyBillDates.has(date) || (date >= today && !this.readyBillDates.has(date))) {
      return this.businessFailed(node, "isp.bill_not_exist", "账单不存在");
    }
    const token = randomToken(24);
    this.billFiles.set(token, { zip: await this.billZip(date), expiresAtMs: this.options.now() + 30_000 });
    const compact = date.replaceAll("-", "");
    return this.answer(node, {
      code: "10000",
      msg: "Success",
      bill_download_url: `https://${BILL_HOST}/downloadBillFile.resource?bizType=trade&userId=${this.options.sellerId}&fileType=csv.zip&bizDates=${compact}&downloadFileName=${compact}.csv.zip&fileId=${token}&timestamp=${this.options.now()}&token=${token}`,
    });
  }

  private billFile(url: URL): Response {
    const file = this.billFiles.get(url.searchParams.get("token") ?? "");
    if (!file || file.expiresAtMs < this.options.now()) return new Response("链接已失效", { status: 404 });
    return new Response(file.zip as Uint8Array<ArrayBuffer>, {
      status: 200,
      headers: { "content-type": "application/zip" },
    });
  }

  /** The day's bill as Alipay zips it: 业务明细 (deflated) and 业务明细(汇总) (stored), GBK. */
  private async billZip(date: string): Promise<Uint8Array> {
    const trades = [
      ...[...this.orders.entries()]
        .filter(([, o]) => o.paidAtMs !== undefined && beijingTime(o.paidAtMs).startsWith(date))
        .map(([orderNo, o]) => ({ atMs: o.paidAtMs as number, orderNo, totalMinor: o.totalMinor, tradeNo: o.tradeNo })),
      ...this.extraTrades
        .filter((t) => beijingTime(t.atMs).startsWith(date))
        .map((t) => ({ ...t, tradeNo: `2026112222001${randomDigits(15)}` })),
    ];
    const total = trades.reduce((sum, t) => sum + t.totalMinor, 0);
    const rows = trades.map((t) =>
      [
        `${t.tradeNo}\t`,
        `${t.orderNo}\t`,
        "交易\t",
        "giftwire 充值",
        beijingTime(t.atMs - 30_000),
        beijingTime(t.atMs),
        "\t",
        "\t",
        "\t",
        "\t",
        "buy***@example.com\t",
        formatMinor(t.totalMinor),
        formatMinor(t.totalMinor),
        "0.00",
        "0.00",
        "0.00",
        "0.00",
        "0.00",
        "",
        "0.00\t",
        "0.00",
        "\t",
        "0.00",
        "0.00",
        "",
      ].join(","),
    );
    const detail = [
      "#支付宝业务明细查询",
      `#账号：[${this.options.sellerId}0156]`,
      `#起始日期：[${date} 00:00:00]   终止日期：[${date} 23:59:59]`,
      "#-----------------------------------------业务明细列表----------------------------------------",
      "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注",
      ...rows,
      "#-----------------------------------------业务明细列表结束------------------------------------",
      `#交易合计：${trades.length}笔，商家实收共${formatMinor(total)}元，商家优惠共0.00元`,
      "#退款合计：0笔，商家实收退款共0.00元，商家优惠退款共0.00元",
      `#导出时间：[${beijingTime(this.options.now())}]`,
      "",
    ].join("\r\n");
    const summary = [
      "#支付宝业务汇总查询",
      "#-----------------------------------------业务汇总列表----------------------------------------",
      "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）",
      `合计,,${trades.length},0,${formatMinor(total)},${formatMinor(total)}`,
      "#-----------------------------------------业务汇总列表结束------------------------------------",
      "",
    ].join("\r\n");
    const spoil = this.spoilBills.get(date);
    this.spoilBills.delete(date);
    const compact = date.replaceAll("-", "");
    const detailBytes = gbkEncode(detail);
    const zip = await buildZip([
      { name: `${this.options.sellerId}0156_${compact}_业务明细(汇总).csv`, data: gbkEncode(summary), method: 0 },
      {
        name: `${this.options.sellerId}0156_${compact}_业务明细.csv`,
        data: detailBytes,
        method: 8,
        ...(spoil === "crc" ? { crcOverride: (crc32(detailBytes) ^ 1) >>> 0 } : {}),
      },
    ]);
    return spoil === "truncated" ? zip.subarray(0, zip.length - 40) : zip;
  }

  /** `{"<node>":{...},"sign":"..."}` as Alipay writes it: slashes escaped, the node's raw text signed. */
  protected async answer(node: string, content: Record<string, unknown>, signed = true): Promise<Response> {
    const raw = JSON.stringify(content).replaceAll("/", "\\/");
    let sign = signed ? await rsaSignBase64(this.options.alipayKey, utf8Bytes(raw)) : null;
    if (sign !== null && this.tampers > 0) {
      this.tampers--;
      sign = forged(sign);
    } else if (sign !== null && this.unsigned > 0) {
      this.unsigned--;
      sign = null;
    }
    const body = sign === null ? `{"${node}":${raw}}` : `{"${node}":${raw},"sign":"${sign}"}`;
    return new Response(body, { status: 200, headers: { "content-type": "text/html;charset=utf-8" } });
  }
}
