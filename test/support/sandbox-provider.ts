/**
 * The sandbox provider Worker (dev/sandbox-provider) as the workers tests reach it: through
 * giftwire's `SANDBOX` service binding (vitest.config.ts runs it as an auxiliary Worker),
 * with its merchant API key, its control API (the simulation knobs; running its alarm now,
 * which drives its clock) and the payer's endpoints behind a payer link.
 */
import { env } from "cloudflare:workers";
import { vi } from "vitest";

export const SANDBOX_SECRET = (JSON.parse(env.PAYMENT_CHANNELS) as { sandbox: { secret: string; merchantId: string } })
  .sandbox;

/** The provider's record of a payment (dev/sandbox-provider/src/provider.ts, SandboxPayment). */
export interface SandboxPayment {
  orderNo: string;
  merchantId: string;
  txnId: string;
  amountMinor: number;
  currency: string;
  description: string;
  state: "open" | "succeeded" | "failed" | "closed";
  createdAtMs: number;
  expiresAtMs: number;
  decidedAtMs: number | null;
  closedAtMs: number | null;
  refundedMinor: number;
  refunds: { refundNo: string; refundId: string; amountMinor: number; createdAtMs: number }[];
  deliveries: {
    eventId: string;
    type: "payment.succeeded" | "payment.failed" | "payment.closed" | "refund.succeeded";
    state: "scheduled" | "delivered" | "gave_up";
    createdAtMs: number;
    nextAttemptAtMs: number | null;
    deliveredAtMs: number | null;
    attempts: {
      n: number;
      atMs: number;
      duplicate: boolean;
      status: number | null;
      acknowledged: boolean;
      error: string | null;
    }[];
  }[];
}

function binding(): Fetcher {
  if (!env.SANDBOX) throw new Error("the workers project binds SANDBOX (vitest.config.ts)");
  return env.SANDBOX;
}

interface SimReply<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** One request to the simulator; `auth: false` leaves the merchant API key off. */
export async function sim<T = any>(
  method: string,
  path: string,
  options: { body?: unknown; headers?: Record<string, string>; auth?: boolean } = {},
): Promise<SimReply<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.auth !== false) headers.authorization = `Bearer ${SANDBOX_SECRET.secret}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const res = await binding().fetch(`https://sandbox-provider.test${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  const json = res.headers.get("content-type")?.startsWith("application/json");
  return { status: res.status, body: json ? JSON.parse(text) : text, headers: res.headers };
}

/** The provider's record of a payment, through its merchant API. */
export async function providerPayment(orderNo: string): Promise<SandboxPayment> {
  const res = await sim<{ payment: SandboxPayment }>("GET", `/v1/payments/${orderNo}`);
  if (res.status !== 200) throw new Error(`no payment ${orderNo} at the provider: ${res.status}`);
  return res.body.payment;
}

/** Runs the provider's armed alarm now; false when nothing was armed. */
export async function runProviderAlarm(): Promise<boolean> {
  return (await sim<{ ran: boolean }>("POST", "/v1/control/run-due")).body.ran;
}

/** Sets the provider's knobs (defaults: 500–2000 ms, no duplicates). */
export async function simulate(knobs: { deliveryDelayMs?: [number, number]; duplicateRate?: number }): Promise<void> {
  const simulation = { deliveryDelayMs: knobs.deliveryDelayMs ?? [500, 2000], duplicateRate: knobs.duplicateRate ?? 0 };
  const res = await sim("PUT", "/v1/control/simulation", { body: { simulation } });
  if (res.status !== 200) throw new Error(`simulation refused: ${res.status} ${JSON.stringify(res.body)}`);
}

/** A payer link (https://sandbox-provider.test/pay?order=…&code=…) taken apart. */
export function payerLink(url: string): { orderNo: string; code: string } {
  const parsed = new URL(url);
  return { orderNo: parsed.searchParams.get("order") ?? "", code: parsed.searchParams.get("code") ?? "" };
}

/** What the payer's checkout sheet loads. */
export function payerView(orderNo: string, code: string | null) {
  return sim("GET", `/pay/api/payments/${orderNo}`, {
    auth: false,
    headers: code === null ? {} : { "x-pay-code": code },
  });
}

/** The payer approves or declines on the checkout sheet. */
export function payerDecides(orderNo: string, code: string, outcome: "succeeded" | "failed") {
  return sim("POST", `/pay/api/payments/${orderNo}/decision`, {
    auth: false,
    headers: { "x-pay-code": code },
    body: { outcome },
  });
}

/** The payer opens the link an order handed out and decides. */
export function payerDecidesAt(payUrl: string, outcome: "succeeded" | "failed") {
  const { orderNo, code } = payerLink(payUrl);
  return payerDecides(orderNo, code, outcome);
}

/**
 * giftwire's payment-callback queue fails its next `failures` sends, as an unavailable queue
 * does: the callback route stores the raw notification, cannot enqueue it, and answers 503 —
 * a real "retry later" for the provider. Returns the restore.
 */
export function callbackQueueFailing(failures: number): () => void {
  const send = env.PAYMENT_CALLBACKS.send.bind(env.PAYMENT_CALLBACKS);
  let left = failures;
  const spy = vi.spyOn(env.PAYMENT_CALLBACKS, "send").mockImplementation(async (message, options) => {
    if (left > 0) {
      left -= 1;
      throw new Error("queue temporarily unavailable (test)");
    }
    return send(message, options);
  });
  return () => spy.mockRestore();
}
