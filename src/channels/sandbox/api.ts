/**
 * The sandbox channel's client: the simulated provider's merchant API (dev/sandbox-provider,
 * a separate Worker), called over the `SANDBOX` service binding the way the other clients call
 * their provider's REST API over the network. That binding exists only in the development and
 * test configuration (scripts/dev-workers.ts, vitest.config.ts); the production wrangler.toml has none,
 * so there the sandbox channel has no client and is unavailable whatever PAYMENT_CHANNELS says.
 *
 * Requests carry `Authorization: Bearer <secret>` (the simulator's signing secret doubles as
 * the merchant's API key). Answers: 2xx with the resource; 4xx `{ error: { code, detail } }`,
 * the provider refusing the request (`rejected`); anything else, or no answer within the
 * deadline, is `unavailable`, as a network failure to a real provider would be.
 */
import { z } from "zod";
import { LIMITS } from "../../domain/limits";
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

/**
 * The sandbox provider Worker (dev/sandbox-provider), bound only in the development and test
 * configuration. Declared here by hand, optional, because `wrangler types` derives Env from the
 * production wrangler.toml, which must not have it; this is the one place that declares it.
 */
interface SandboxBinding {
  SANDBOX?: Fetcher;
}

declare global {
  interface Env extends SandboxBinding {}
  namespace Cloudflare {
    interface Env extends SandboxBinding {}
  }
}

interface SandboxClientConfig {
  /** The simulator's signing secret, which is also our API key there. */
  readonly secret: string;
  /** Our merchant id at the sandbox; its callbacks carry it and the adapter checks it. */
  readonly merchantId: string;
}

/** Over a service binding the host is not looked up; it only makes the URL whole. */
const BASE = "https://sandbox-provider.internal";

/** The statement download's deadline; the payer-facing calls keep the channel's shorter one. */
const STATEMENT_TIMEOUT_MS = 30_000;

const Minor = z.number().int().positive().max(LIMITS.amountMaxMinor);

/** The provider's record of a payment, as far as the merchant reads it. */
const Payment = z.object({
  orderNo: z.string().min(1).max(64),
  merchantId: z.string().min(1).max(64),
  txnId: z.string().min(1).max(64),
  amountMinor: Minor,
  currency: z.string().length(3),
  state: z.enum(["open", "succeeded", "failed", "closed"]),
});
type Payment = z.infer<typeof Payment>;

const Opened = z.object({ payment: Payment, payUrl: z.url().max(1024) });
const Found = z.object({ payment: Payment });
const Refunded = z.object({
  refund: z.object({ refundId: z.string().min(1).max(64), amountMinor: Minor, status: z.literal("succeeded") }),
});
const Refusal = z.object({ error: z.object({ code: z.string().min(1).max(64), detail: z.string().max(2000) }) });

/** What the provider's record says, as the event its callback would carry. */
function paymentEvent(payment: Payment, config: SandboxClientConfig): PaymentEvent | null {
  if (payment.state === "open") return null;
  return {
    kind: "payment",
    status: payment.state,
    merchantOrderNo: payment.orderNo,
    providerTxnId: payment.txnId,
    amountMinor: payment.amountMinor,
    currency: payment.currency,
    merchant: [{ field: "merchant_id", expected: config.merchantId, actual: payment.merchantId }],
  };
}

export function sandboxClient(
  binding: Fetcher,
  config: SandboxClientConfig,
  deps: Omit<ClientDeps, "fetch">,
): ChannelClient {
  const call = { ...deps, fetch: ((input, init) => binding.fetch(input, init)) as typeof fetch };

  /** One call: the 2xx answer's text; a 4xx refusal is `rejected`; anything else `unavailable`. */
  async function send(
    what: string,
    path: string,
    init: RequestInit,
    timeoutMs = deps.timeoutMs,
  ): Promise<Outbound<string>> {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${config.secret}`);
    const answer = await callWithDeadline({ ...call, timeoutMs }, `${BASE}${path}`, { ...init, headers });
    if (!answer.ok) return unavailable(`sandbox ${what}: ${answer.failure.detail}`);
    const { response, text } = answer;
    if (response.status >= 200 && response.status < 300) return success(text);
    const refusal = response.status >= 400 && response.status < 500 ? parseJson(text, Refusal) : null;
    if (refusal) return rejected(refusal.error.code, refusal.error.detail);
    return unavailable(`sandbox ${what}: HTTP ${response.status}`);
  }

  /** One call whose 2xx answer is JSON of `schema`. */
  async function request<T>(what: string, path: string, init: RequestInit, schema: z.ZodType<T>): Promise<Outbound<T>> {
    const answer = await send(what, path, init);
    if (!answer.ok) return answer;
    const body = parseJson(answer.value, schema);
    return body === null ? unavailable(`sandbox ${what}: an answer of another shape`) : success(body);
  }

  const post = (body: unknown): RequestInit => ({
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

  return {
    name: "sandbox",

    async createPayment(req: CreatePaymentRequest): Promise<Outbound<CreatePaymentResult>> {
      const answer = await request(
        "create",
        "/v1/payments",
        post({
          merchantId: config.merchantId,
          merchantOrderNo: req.merchantOrderNo,
          amountMinor: req.amountMinor,
          currency: req.currency,
          description: req.description,
          notifyUrl: req.notifyUrl,
          expiresAtMs: req.expiresAtMs,
        }),
        Opened,
      );
      if (!answer.ok) return answer;
      const { payment, payUrl } = answer.value;
      return success({ step: { kind: "sandbox_approval", url: payUrl }, providerRef: payment.txnId });
    },

    async queryPayment(merchantOrderNo: string): Promise<Outbound<QueryResult>> {
      const answer = await request(
        "query",
        `/v1/payments/${encodeURIComponent(merchantOrderNo)}`,
        { method: "GET" },
        Found,
      );
      if (!answer.ok) {
        const f = answer.failure;
        return f.kind === "rejected" && f.code === "unknown_payment" ? success({ state: "unknown" }) : answer;
      }
      const event = paymentEvent(answer.value.payment, config);
      return success(event ? { state: "final", event } : { state: "open" });
    },

    async refund(req: RefundRequest): Promise<Outbound<RefundResult>> {
      const answer = await request(
        "refund",
        "/v1/refunds",
        post({
          merchantOrderNo: req.merchantOrderNo,
          refundNo: req.refundNo,
          amountMinor: req.amountMinor,
          totalMinor: req.totalMinor,
          currency: req.currency,
          reason: req.reason.slice(0, 80),
        }),
        Refunded,
      );
      if (!answer.ok) return answer;
      const { refund } = answer.value;
      return success({ providerRefundId: refund.refundId, status: refund.status });
    },

    async downloadStatement(date: string): Promise<Outbound<string, StatementDownloadFailure>> {
      // A whole day's statement is a bulk read that an operator waits for: a longer deadline.
      return send("statement", `/v1/statements/${encodeURIComponent(date)}`, { method: "GET" }, STATEMENT_TIMEOUT_MS);
    },
  };
}
