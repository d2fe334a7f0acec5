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
import { bytesBase64, importRsaVerifyKey, spkiFromPem } from "../../src/channels/encoding";
import { STRIPE_API_VERSION } from "../../src/channels/stripe-api";

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

function randomToken(length: number): string {
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
  private failures: number[] = [];
  private hangs = 0;
  protected tampers = 0;
  protected unsigned = 0;

  /** The next `count` calls answer HTTP `status` (default 503) without reaching the provider's logic. */
  failNext(count: number, status = 503): void {
    for (let i = 0; i < count; i++) this.failures.push(status);
  }

  /** The next `count` calls never answer; they end only when the caller aborts. */
  hangNext(count = 1): void {
    this.hangs += count;
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
    if (this.hangs > 0) {
      this.hangs--;
      const signal = init?.signal;
      if (!signal) throw new Error("a hanging call needs an AbortSignal to end");
      return new Promise<Response>((_, reject) => {
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    }
    const failure = this.failures.shift();
    if (failure !== undefined) return this.injectedFailure(failure);
    return this.handle(received);
  };

  protected abstract handle(request: Received): Promise<Response>;
  protected abstract injectedFailure(status: number): Promise<Response>;
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

  constructor(private readonly options: StripeDoubleOptions) {
    super();
  }

  /** The payer confirmed and the charge succeeded. */
  pay(intentId: string): void {
    const pi = this.intent(intentId);
    pi.status = "succeeded";
    pi.amount_received = pi.amount;
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

  private async route(request: Received): Promise<Response> {
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
    return stripeError(404, {
      type: "invalid_request_error",
      message: `Unrecognized request URL (${request.method}: ${path}).`,
    });
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

function stripeError(
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

function positiveInteger(value: string | null): number | null {
  if (value === null || !/^[1-9][0-9]{0,15}$/.test(value)) return null;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : null;
}

function metadataOf(form: URLSearchParams): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [k, v] of form) {
    const m = /^metadata\[([^\]]+)\]$/.exec(k);
    if (m) metadata[m[1] as string] = v;
  }
  return metadata;
}
