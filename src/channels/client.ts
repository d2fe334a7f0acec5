/**
 * Outbound calls to a payment channel: open a payment, ask what became of one, refund one,
 * download a day's statement. Each provider's client implements this against its documented API (WeChat Pay v3,
 * Alipay open API, Stripe REST, the local sandbox); `fetch` and the clock are injected so
 * tests run the exact requests against test doubles that verify them as the provider would.
 *
 * Failures are values. `unavailable` (network error, timeout, 5xx, a reply we cannot
 * authenticate) is retryable and counts against the channel's health; `rejected` is the
 * provider refusing the request itself (4xx with a business code) and retrying the same
 * request will not change it.
 */
import type { z } from "zod";
import type { ChannelEvent, ChannelName } from "./channel";

export type PaymentEvent = Extract<ChannelEvent, { kind: "payment" }>;

/** What the payer does next, per channel. */
export type PayerStep =
  /** WeChat Native: show `codeUrl` as a QR code. */
  | { readonly kind: "qr_code"; readonly codeUrl: string }
  /** Alipay precreate answers a QR string too; a page-pay form would be a redirect. */
  | { readonly kind: "redirect"; readonly url: string }
  /** Stripe: confirm the PaymentIntent in the browser with this client secret. */
  | { readonly kind: "client_secret"; readonly clientSecret: string }
  /** Sandbox: the payer approves or declines on this page. */
  | { readonly kind: "sandbox_approval"; readonly url: string };

export interface CreatePaymentRequest {
  /** Our order id; the provider's `out_trade_no` / metadata.order_no. */
  readonly merchantOrderNo: string;
  readonly amountMinor: number;
  readonly currency: string;
  /** Shown to the payer (WeChat `description`, Alipay `subject`). ≤ 127 bytes. */
  readonly description: string;
  /** Absolute URL the provider posts its notification to. */
  readonly notifyUrl: string;
  /** The order's deadline; providers that take one (WeChat `time_expire`, Alipay) get it. */
  readonly expiresAtMs: number;
}

export interface CreatePaymentResult {
  readonly step: PayerStep;
  /** The provider's own id for the payment when it has one at creation (Stripe `pi_…`). */
  readonly providerRef: string | null;
}

export type QueryResult =
  /** The provider has a final answer: paid, failed, or closed. Applied like a callback. */
  | { readonly state: "final"; readonly event: PaymentEvent }
  /** Still waiting for the payer (NOTPAY, USERPAYING, WAIT_BUYER_PAY, requires_action). */
  | { readonly state: "open" }
  /** The provider has never heard of this order (it was never opened there). */
  | { readonly state: "unknown" };

export interface RefundRequest {
  readonly merchantOrderNo: string;
  readonly providerTxnId: string | null;
  readonly providerRef: string | null;
  /** Our refund id; providers dedupe on it (`out_refund_no`, Stripe Idempotency-Key). */
  readonly refundNo: string;
  readonly amountMinor: number;
  /** The original payment's amount (WeChat needs it). */
  readonly totalMinor: number;
  readonly currency: string;
  readonly reason: string;
}

export interface RefundResult {
  readonly providerRefundId: string;
  /** Most providers settle refunds asynchronously; `pending` is confirmed by a notify or query. */
  readonly status: "succeeded" | "pending";
}

export type OutboundFailure =
  | { readonly kind: "unavailable"; readonly detail: string }
  | { readonly kind: "rejected"; readonly code: string; readonly detail: string };

export type Outbound<T, F = OutboundFailure> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly failure: F };

/**
 * Why a day's statement did not come: the call failed as any call can; the provider has not
 * produced that day's file yet (`not_ready`: Stripe's data is not available or its report is
 * still running, Alipay's bill is not generated; the day is tried again later); the file came
 * but cannot be read as the provider lays it out (`malformed`: a zip that does not open, a
 * CRC-32 that does not match); or this channel's download is not built (`unsupported`: the
 * statement must be given as a file).
 */
export type StatementDownloadFailure =
  | OutboundFailure
  | { readonly kind: "not_ready"; readonly detail: string }
  | { readonly kind: "malformed"; readonly detail: string }
  | { readonly kind: "unsupported"; readonly detail: string };

export interface ChannelClient {
  readonly name: ChannelName;
  createPayment(request: CreatePaymentRequest): Promise<Outbound<CreatePaymentResult>>;
  queryPayment(merchantOrderNo: string, providerRef: string | null): Promise<Outbound<QueryResult>>;
  refund(request: RefundRequest): Promise<Outbound<RefundResult>>;
  /** The channel's statement file for `date` (`YYYY-MM-DD`, the provider's own day), as text. */
  downloadStatement(date: string): Promise<Outbound<string, StatementDownloadFailure>>;
}

/** What every client is built with besides its credentials. */
export interface ClientDeps {
  readonly fetch: typeof fetch;
  readonly now: () => number;
  /** Per-call timeout; a call that takes longer is `unavailable`. */
  readonly timeoutMs: number;
}

export function unavailable(detail: string): Outbound<never> {
  return { ok: false, failure: { kind: "unavailable", detail: detail.slice(0, 300) } };
}

export function rejected(code: string, detail: string): Outbound<never> {
  return { ok: false, failure: { kind: "rejected", code: code.slice(0, 64), detail: detail.slice(0, 300) } };
}

/** The provider has not produced the day's statement yet: not a failure, the day is tried later. */
export function statementNotReady(detail: string): Outbound<never, StatementDownloadFailure> {
  return { ok: false, failure: { kind: "not_ready", detail: detail.slice(0, 300) } };
}

/** The downloaded file cannot be read as the provider lays it out. */
export function statementMalformed(detail: string): Outbound<never, StatementDownloadFailure> {
  return { ok: false, failure: { kind: "malformed", detail: detail.slice(0, 300) } };
}

export function success<T>(value: T): Outbound<T> {
  return { ok: true, value };
}

/** A provider's JSON answer parsed with its schema; null when it is not JSON or not that shape. */
export function parseJson<T>(text: string, schema: z.ZodType<T>): T | null {
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/**
 * One HTTP call with a deadline. Network errors and timeouts become `unavailable`; the
 * response (any status) is returned for the client to interpret.
 */
export async function callWithDeadline(
  deps: ClientDeps,
  input: string,
  init: RequestInit,
): Promise<{ ok: true; response: Response; text: string } | { ok: false; failure: OutboundFailure }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), deps.timeoutMs);
  try {
    const response = await deps.fetch(input, { ...init, signal: controller.signal });
    const text = await response.text();
    return { ok: true, response, text };
  } catch (error) {
    const detail = controller.signal.aborted ? `timed out after ${deps.timeoutMs} ms` : String(error);
    return { ok: false, failure: { kind: "unavailable", detail: detail.slice(0, 300) } };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One HTTP GET of a file with a deadline, its body kept as bytes (a zip is not text) and cut
 * off past `maxBytes`. Network errors, timeouts and an oversized body become `unavailable`.
 */
export async function downloadWithDeadline(
  deps: ClientDeps,
  input: string,
  init: RequestInit,
  maxBytes: number,
): Promise<{ ok: true; response: Response; bytes: Uint8Array } | { ok: false; failure: OutboundFailure }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), deps.timeoutMs);
  try {
    const response = await deps.fetch(input, { ...init, signal: controller.signal });
    const chunks: Uint8Array[] = [];
    let total = 0;
    const reader = response.body?.getReader();
    while (reader) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > maxBytes) {
        await reader.cancel();
        return { ok: false, failure: { kind: "unavailable", detail: `the file is over ${maxBytes} bytes` } };
      }
      chunks.push(value);
    }
    const bytes = new Uint8Array(total);
    let offset = 0;
    for (const c of chunks) {
      bytes.set(c, offset);
      offset += c.length;
    }
    return { ok: true, response, bytes };
  } catch (error) {
    const detail = controller.signal.aborted ? `timed out after ${deps.timeoutMs} ms` : String(error);
    return { ok: false, failure: { kind: "unavailable", detail: detail.slice(0, 300) } };
  } finally {
    clearTimeout(timer);
  }
}
