import type { OpenResult, RefundOutcome, SandboxPayment, SandboxProvider } from "../durable-objects/sandbox-provider";
import {
  type ChannelClient,
  type CreatePaymentRequest,
  type CreatePaymentResult,
  type Outbound,
  type PaymentEvent,
  type QueryResult,
  type RefundRequest,
  type RefundResult,
  rejected,
  type StatementDownloadFailure,
  success,
  unavailable,
} from "./client";

/**
 * The sandbox channel's client: the same calls as a real provider's API, made over
 * RPC to the SandboxProvider object that plays the provider. A call that throws or takes
 * too long (the object is overloaded, being reset, or the deploy is mid-migration) is
 * `unavailable`, as a network failure to a real provider would be.
 */

/**
 * The sandbox block of PAYMENT_CHANNELS fits here. Its simulation knobs (deliveryDelayMs,
 * duplicateRate) are the provider's behaviour, not the merchant's: the provider object reads
 * them from the same secret itself.
 */
export interface SandboxClientConfig {
  /** Our merchant id at the sandbox; its callbacks carry it and the adapter checks it. */
  readonly merchantId: string;
}

/** One provider per deployment, as there is one sandbox "company" behind the channel. */
export const SANDBOX_PROVIDER_NAME = "sandbox";

/** An RPC to the provider object that has not answered by then is `unavailable`. */
const CALL_TIMEOUT_MS = 5_000;

/** The page where the sandbox payer approves or declines (public/sandbox/pay.html). */
export function sandboxPayerUrl(orderNo: string): string {
  return `/sandbox/pay.html?order=${encodeURIComponent(orderNo)}`;
}

async function rpc<T>(what: string, call: () => Promise<T>): Promise<Outbound<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), CALL_TIMEOUT_MS);
  });
  try {
    const answer = await Promise.race([call(), deadline]);
    if (answer === "timeout") return unavailable(`sandbox ${what} timed out after ${CALL_TIMEOUT_MS} ms`);
    return success(answer);
  } catch (error) {
    return unavailable(`sandbox ${what}: ${String(error)}`);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** What the provider's record says, as the event its callback would carry. */
export function sandboxPaymentEvent(payment: SandboxPayment, config: SandboxClientConfig): PaymentEvent | null {
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
  namespace: DurableObjectNamespace<SandboxProvider>,
  config: SandboxClientConfig,
): ChannelClient {
  const provider = () => namespace.getByName(SANDBOX_PROVIDER_NAME);
  return {
    name: "sandbox",

    async createPayment(request: CreatePaymentRequest): Promise<Outbound<CreatePaymentResult>> {
      const answer = await rpc<OpenResult>("openPayment", async () =>
        provider().openPayment({
          merchantId: config.merchantId,
          merchantOrderNo: request.merchantOrderNo,
          amountMinor: request.amountMinor,
          currency: request.currency,
          description: request.description,
          notifyUrl: request.notifyUrl,
          expiresAtMs: request.expiresAtMs,
        }),
      );
      if (!answer.ok) return answer;
      const opened = answer.value;
      if (opened.kind === "rejected") return rejected(opened.code, opened.detail);
      return success({
        step: { kind: "sandbox_approval", url: sandboxPayerUrl(opened.payment.orderNo) },
        providerRef: opened.payment.txnId,
      });
    },

    async queryPayment(merchantOrderNo: string): Promise<Outbound<QueryResult>> {
      const answer = await rpc<SandboxPayment | null>("payment", async () => provider().payment(merchantOrderNo));
      if (!answer.ok) return answer;
      const payment = answer.value;
      if (!payment) return success({ state: "unknown" });
      const event = sandboxPaymentEvent(payment, config);
      return success(event ? { state: "final", event } : { state: "open" });
    },

    async refund(request: RefundRequest): Promise<Outbound<RefundResult>> {
      const answer = await rpc<RefundOutcome>("refund", async () =>
        provider().refund({
          merchantOrderNo: request.merchantOrderNo,
          refundNo: request.refundNo,
          amountMinor: request.amountMinor,
          totalMinor: request.totalMinor,
          currency: request.currency,
          reason: request.reason.slice(0, 80),
        }),
      );
      if (!answer.ok) return answer;
      const outcome = answer.value;
      if (outcome.kind === "rejected") return rejected(outcome.code, outcome.detail);
      return success({ providerRefundId: outcome.refundId, status: outcome.status });
    },

    async downloadStatement(date: string): Promise<Outbound<string, StatementDownloadFailure>> {
      // No deadline here, unlike the payer-facing calls: a whole day's statement is a bulk
      // read that an operator waits for, and today's reconciliation never cut it short.
      try {
        return success(await provider().statement(date));
      } catch (error) {
        return unavailable(`sandbox statement: ${String(error)}`);
      }
    },
  };
}
