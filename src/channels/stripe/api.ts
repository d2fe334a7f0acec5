/**
 * Stripe REST API v1: PaymentIntents and Refunds.
 *
 * Per Stripe's API reference (docs.stripe.com/api): requests are form-encoded
 * (`application/x-www-form-urlencoded`, nested keys as `metadata[order_no]`), authenticated
 * with `Authorization: Bearer <secret or restricted key>`, pinned with `Stripe-Version`.
 * POSTs carry an `Idempotency-Key` (docs.stripe.com/api/idempotent_requests): Stripe saves
 * the first response for a key once the endpoint began executing — 4xx and even 500 — for
 * at least 24 h, and refuses the key with different parameters (`idempotency_error`). So a
 * create or refund retried after a timeout cannot be applied twice.
 *
 * Errors (docs.stripe.com/api/errors, docs.stripe.com/error-low-level): the body is
 * `{ error: { type, code?, message?, param? } }`. 409 (a concurrent request with the same
 * idempotency key), 424 (an external dependency failed), 429 and 5xx are retryable and so
 * `unavailable`; other 4xx are content errors the same request will not fix: `rejected`
 * with `code` (or `type` where Stripe gives no code, e.g. a bad API key).
 *
 * Stripe does not sign API responses: their authenticity rests on TLS to api.stripe.com.
 *
 * The daily statement, per "Run a report from the API" (docs.stripe.com/reports/api) and the
 * Reporting API reference: `GET /v1/reporting/report_types/{type}` says up to when data is
 * available (`data_available_end`, Unix seconds); `POST /v1/reporting/report_runs` with
 * `report_type` and `parameters[interval_start]` (inclusive) / `parameters[interval_end]`
 * (exclusive), Unix seconds, and `parameters[columns][]`; the run is `pending` until it is
 * `succeeded` (then `result` is a File object whose `url` is
 * `https://files.stripe.com/v1/files/{id}/contents`, fetched with the secret key) or `failed`
 * (`error`). The run's create carries an Idempotency-Key derived from its parameters, so a day
 * tried again while its run is still going finds that same run rather than starting another.
 */

import { z } from "zod";
import { LIMITS } from "../../domain/limits";
import { localDayWindowMs } from "../../domain/room/periods";
import type { MerchantCheck } from "../channel";
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
  statementNotReady,
  success,
  unavailable,
} from "../client";
import { STRIPE_STATEMENT_COLUMNS } from "./statement";

/** The report's columns, in the order ./statement.ts names them (it finds them by name). */
const STATEMENT_COLUMNS = STRIPE_STATEMENT_COLUMNS;

/** The API version every request is pinned to; the same as the webhook endpoint's, so shapes match. */
export const STRIPE_API_VERSION = "2025-10-29.clover";

export interface StripeApiConfig {
  /** A secret (`sk_…`) or restricted (`rk_…`) key; never a publishable `pk_…` key. */
  readonly secretKey: string;
  /** Default https://api.stripe.com. */
  readonly apiBase?: string;
  /** Default https://files.stripe.com: where report files are, and the only origin they are fetched from. */
  readonly filesBase?: string;
  /** The zone whose local day a statement covers (BUSINESS_TIME_ZONE); default UTC. */
  readonly statementTimeZone?: string;
  /** How often a report run is asked after about, and the pause between asks (default 4 × 2 s). */
  readonly reportPolls?: number;
  readonly reportPollIntervalMs?: number;
}

/** The itemized balance change report whose columns ./statement.ts reads. */
export const STATEMENT_REPORT_TYPE = "balance_change_from_activity.itemized.3";

const ReportType = z.object({
  id: z.string().max(128),
  object: z.literal("reporting.report_type"),
  data_available_end: z.number().int().nonnegative(),
});

const ReportRun = z.object({
  id: z.string().startsWith("frr_").max(255),
  object: z.literal("reporting.report_run"),
  status: z.string().max(32),
  error: z.string().max(2_000).nullable().optional(),
  result: z
    .object({
      id: z.string().startsWith("file_").max(255),
      object: z.literal("file"),
      size: z.number().int().nonnegative(),
      url: z.string().max(2_000).nullable(),
    })
    .nullable()
    .optional(),
});

const Minor = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

const PaymentIntent = z.object({
  id: z.string().startsWith("pi_").max(255),
  object: z.literal("payment_intent"),
  amount: Minor,
  amount_received: Minor,
  currency: z.string().length(3),
  status: z.string().max(64),
  client_secret: z.string().max(512).nullable(),
  livemode: z.boolean(),
  metadata: z.record(z.string(), z.string()),
});
type PaymentIntent = z.infer<typeof PaymentIntent>;

const SearchResult = z.object({
  object: z.literal("search_result"),
  data: z.array(PaymentIntent).max(100),
  has_more: z.boolean(),
});

const Refund = z.object({
  id: z.string().startsWith("re_").max(255),
  object: z.literal("refund"),
  amount: Minor,
  status: z.string().max(64).nullable(),
  payment_intent: z.string().max(255).nullable(),
});

const ErrorBody = z.object({
  error: z.object({
    type: z.string().min(1).max(64),
    code: z.string().min(1).max(128).nullable().optional(),
    message: z.string().max(2_000).nullable().optional(),
  }),
});

/** PaymentIntent statuses that still wait on the payer or on Stripe (docs.stripe.com/payments/paymentintents/lifecycle). */
const OPEN_STATUSES = new Set([
  "requires_payment_method", // also where a declined attempt returns to: the payer may try again
  "requires_confirmation",
  "requires_action",
  "processing",
  // Only with manual capture, which this client never asks for; still not money received.
  "requires_capture",
]);

const RETRYABLE_STATUSES = new Set([409, 424, 429]);

/** A non-2xx answer from Stripe, classified. */
function failureOf(status: number, text: string): Outbound<never> {
  if (status >= 500 || RETRYABLE_STATUSES.has(status)) return unavailable(`Stripe HTTP ${status}`);
  const body = parseJson(text, ErrorBody);
  if (!body) return unavailable(`Stripe HTTP ${status} without an error object`);
  const { type, code, message } = body.error;
  return rejected(code ?? type, message ?? `Stripe HTTP ${status}`);
}

/** Stripe's search query language quotes strings with `'`; a quote or backslash inside is escaped. */
function searchString(value: string): string {
  return `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}

export function stripeClient(config: StripeApiConfig, deps: ClientDeps): ChannelClient {
  if (!/^(sk|rk)_(live|test)_[A-Za-z0-9]+$/.test(config.secretKey)) {
    throw new Error("Stripe secretKey must be a secret (sk_…) or restricted (rk_…) key");
  }
  const apiBase = config.apiBase ?? "https://api.stripe.com";
  // The key's mode is the account mode every object it can see was made in.
  const livemode = /^(sk|rk)_live_/.test(config.secretKey);

  async function call<T>(
    method: "GET" | "POST",
    path: string,
    form: URLSearchParams | null,
    idempotencyKey: string | null,
    schema: z.ZodType<T>,
  ): Promise<{ ok: true; value: T } | { ok: false; status: number | null; text: string; failure: Outbound<never> }> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${config.secretKey}`,
      "stripe-version": STRIPE_API_VERSION,
      accept: "application/json",
    };
    if (form) headers["content-type"] = "application/x-www-form-urlencoded";
    if (idempotencyKey) headers["idempotency-key"] = idempotencyKey;
    const init: RequestInit = { method, headers };
    if (form) init.body = form.toString();
    const answer = await callWithDeadline(deps, `${apiBase}${path}`, init);
    if (!answer.ok) return { ok: false, status: null, text: "", failure: { ok: false, failure: answer.failure } };
    const { response, text } = answer;
    if (response.status < 200 || response.status > 299) {
      return { ok: false, status: response.status, text, failure: failureOf(response.status, text) };
    }
    const value = parseJson(text, schema);
    if (value === null) {
      return { ok: false, status: response.status, text, failure: unavailable(`Stripe ${path}: unexpected body`) };
    }
    return { ok: true, value };
  }

  const merchantOf = (pi: PaymentIntent): MerchantCheck[] => [
    { field: "livemode", expected: String(livemode), actual: String(pi.livemode) },
  ];

  function resultOf(pi: PaymentIntent, merchantOrderNo: string): Outbound<QueryResult> {
    if (pi.metadata.order_no !== merchantOrderNo) {
      return unavailable(`Stripe answered with ${pi.id}, which belongs to another order`);
    }
    const base = {
      kind: "payment" as const,
      merchantOrderNo,
      providerTxnId: pi.id,
      currency: pi.currency.toUpperCase(),
      merchant: merchantOf(pi),
    };
    if (pi.status === "succeeded") {
      // amount_received is what was actually collected; the consumer compares it with the order.
      if (pi.amount_received <= 0) return unavailable(`${pi.id} succeeded with nothing received`);
      return success({ state: "final", event: { ...base, status: "succeeded", amountMinor: pi.amount_received } });
    }
    if (pi.status === "canceled") {
      return success({ state: "final", event: { ...base, status: "closed", amountMinor: pi.amount } });
    }
    if (OPEN_STATUSES.has(pi.status)) return success({ state: "open" });
    return unavailable(`${pi.id} has status ${pi.status.slice(0, 64)}, which this client does not know`);
  }

  return {
    name: "stripe",

    async createPayment(request: CreatePaymentRequest): Promise<Outbound<CreatePaymentResult>> {
      const form = new URLSearchParams();
      form.set("amount", String(request.amountMinor));
      form.set("currency", request.currency.toLowerCase());
      form.set("description", request.description);
      form.set("metadata[order_no]", request.merchantOrderNo);
      form.set("automatic_payment_methods[enabled]", "true");
      // One PaymentIntent per order: a retry after a lost answer gets the same intent back.
      const answer = await call(
        "POST",
        "/v1/payment_intents",
        form,
        paymentIdempotencyKey(request.merchantOrderNo),
        PaymentIntent,
      );
      if (!answer.ok) return answer.failure;
      const pi = answer.value;
      if (!pi.client_secret) return unavailable(`${pi.id} came back without a client_secret`);
      return success({ step: { kind: "client_secret", clientSecret: pi.client_secret }, providerRef: pi.id });
    },

    async queryPayment(merchantOrderNo: string, providerRef: string | null): Promise<Outbound<QueryResult>> {
      if (providerRef !== null) {
        const answer = await call(
          "GET",
          `/v1/payment_intents/${encodeURIComponent(providerRef)}`,
          null,
          null,
          PaymentIntent,
        );
        if (answer.ok) return resultOf(answer.value, merchantOrderNo);
        if (answer.status === 404 && parseJson(answer.text, ErrorBody)?.error.code === "resource_missing") {
          return success({ state: "unknown" });
        }
        return answer.failure;
      }
      // Without the intent id (the create's answer was lost), find it by our order number.
      // Search is eventually consistent — Stripe documents under a minute normally, up to an
      // hour during incidents — so "unknown" right after a create may only mean "not indexed
      // yet"; the create is idempotent on the order number, so opening it again is safe.
      const query = new URLSearchParams({
        query: `metadata['order_no']:${searchString(merchantOrderNo)}`,
        limit: "10",
      });
      const answer = await call("GET", `/v1/payment_intents/search?${query}`, null, null, SearchResult);
      if (!answer.ok) return answer.failure;
      const intents = answer.value.data.filter((pi) => pi.metadata.order_no === merchantOrderNo);
      if (intents.length === 0) return success({ state: "unknown" });
      // The idempotency key makes one intent per order, but it expires after 24 h: if a later
      // create made a second one, money received on any of them is what matters.
      const paid = intents.find((pi) => pi.status === "succeeded");
      const open = intents.find((pi) => OPEN_STATUSES.has(pi.status));
      return resultOf(paid ?? open ?? (intents[0] as PaymentIntent), merchantOrderNo);
    },

    async refund(request: RefundRequest): Promise<Outbound<RefundResult>> {
      // The callback adapter records the intent id as the transaction id; either names it.
      const intent = request.providerRef ?? request.providerTxnId;
      if (intent === null) return rejected("payment_intent_unknown", "no PaymentIntent id for this order");
      const form = new URLSearchParams();
      form.set("payment_intent", intent);
      form.set("amount", String(request.amountMinor));
      form.set("metadata[refund_no]", request.refundNo);
      form.set("metadata[order_no]", request.merchantOrderNo);
      const answer = await call("POST", "/v1/refunds", form, request.refundNo, Refund);
      if (!answer.ok) return answer.failure;
      const refund = answer.value;
      // Refund statuses per docs.stripe.com/api/refunds/object.
      switch (refund.status) {
        case "succeeded":
          return success({ providerRefundId: refund.id, status: "succeeded" });
        case "pending":
        case "requires_action":
          return success({ providerRefundId: refund.id, status: "pending" });
        case "failed":
        case "canceled":
          return rejected(`refund_${refund.status}`, `${refund.id} is ${refund.status}`);
        default:
          return unavailable(`${refund.id} has status ${String(refund.status).slice(0, 64)}`);
      }
    },

    /**
     * The day's itemized balance changes (STATEMENT_COLUMNS, as ./statement.ts reads them) over
     * the local day's window. A day whose data Stripe does not have yet, or whose run is still
     * going after the polls, is `not_ready`, not a failure.
     */
    async downloadStatement(date: string): Promise<Outbound<string, StatementDownloadFailure>> {
      const window = localDayWindowMs(date, config.statementTimeZone ?? "UTC");
      const startS = Math.floor(window.startMs / 1000);
      const endS = Math.floor(window.endMs / 1000);
      const type = await call(
        "GET",
        `/v1/reporting/report_types/${encodeURIComponent(STATEMENT_REPORT_TYPE)}`,
        null,
        null,
        ReportType,
      );
      if (!type.ok) return type.failure;
      if (type.value.data_available_end < endS) {
        return statementNotReady(
          `Stripe's ${STATEMENT_REPORT_TYPE} data is available until ${new Date(type.value.data_available_end * 1000).toISOString()}, before the day ends`,
        );
      }
      const form = new URLSearchParams();
      form.set("report_type", STATEMENT_REPORT_TYPE);
      form.set("parameters[interval_start]", String(startS));
      form.set("parameters[interval_end]", String(endS));
      STATEMENT_COLUMNS.forEach((column, i) => {
        form.set(`parameters[columns][${i}]`, column);
      });
      const created = await call(
        "POST",
        "/v1/reporting/report_runs",
        form,
        `giftwire-report-run:${STATEMENT_REPORT_TYPE}:${startS}:${endS}`,
        ReportRun,
      );
      if (!created.ok) return created.failure;
      let run = created.value;
      const polls = config.reportPolls ?? 4;
      for (let i = 0; i < polls && run.status === "pending"; i++) {
        if (i > 0) await new Promise((resolve) => setTimeout(resolve, config.reportPollIntervalMs ?? 2_000));
        const polled = await call(
          "GET",
          `/v1/reporting/report_runs/${encodeURIComponent(run.id)}`,
          null,
          null,
          ReportRun,
        );
        if (!polled.ok) return polled.failure;
        if (polled.value.id !== run.id) return unavailable(`Stripe answered with report run ${polled.value.id}`);
        run = polled.value;
      }
      if (run.status === "pending") return statementNotReady(`report run ${run.id} is still running`);
      if (run.status === "failed") return rejected("report_run_failed", `${run.id}: ${run.error ?? "failed"}`);
      if (run.status !== "succeeded") return unavailable(`report run ${run.id} has status ${run.status.slice(0, 32)}`);
      const file = run.result;
      if (!file?.url) return unavailable(`report run ${run.id} succeeded without a result file`);
      const filesBase = config.filesBase ?? "https://files.stripe.com";
      let url: URL;
      try {
        url = new URL(file.url);
      } catch {
        return unavailable("the result file's url is not a URL");
      }
      // The secret key goes only to Stripe's own file host.
      if (url.origin !== new URL(filesBase).origin) return unavailable(`the result file is not on ${filesBase}`);
      const answer = await downloadWithDeadline(
        deps,
        url.href,
        { method: "GET", headers: { authorization: `Bearer ${config.secretKey}` } },
        LIMITS.statementMaxBytes,
      );
      if (!answer.ok) return { ok: false, failure: answer.failure };
      if (answer.response.status !== 200) return unavailable(`report file download HTTP ${answer.response.status}`);
      // The report has no totals: its size against the File object's is what shows a cut-off download.
      if (answer.bytes.length !== file.size) {
        return unavailable(`the report file is ${answer.bytes.length} bytes, its File object says ${file.size}`);
      }
      try {
        return success(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(answer.bytes));
      } catch {
        return unavailable("the report file is not UTF-8");
      }
    },
  };
}

/** The Idempotency-Key of an order's PaymentIntent create: derived, so every retry reuses it. */
export function paymentIdempotencyKey(merchantOrderNo: string): string {
  return `giftwire-payment-intent:${merchantOrderNo}`;
}
