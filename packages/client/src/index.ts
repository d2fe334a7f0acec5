/**
 * The giftwire client: typed calls generated from the API's OpenAPI document
 * (generated/schema.d.ts, by openapi-typescript; runtime openapi-fetch), plus what a money API
 * asks of every caller — an Idempotency-Key per logical request, kept across its retries, and
 * retries only where they are safe and useful.
 *
 * ```ts
 * const api = createGiftwireClient({ baseUrl: "https://api.example.com/v1", token: () => session.token });
 * const { data, error } = await api.POST("/rooms/{roomId}/tips", {
 *   params: { path: { roomId } },
 *   body: { kind: "gift", giftId: "rose", quantity: 1 },
 * });
 * ```
 */
import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "../generated/schema";

export type { components, operations, paths } from "../generated/schema";
export {
  type VerifiedWebhook,
  type VerifyOptions,
  verifyWebhook,
  type WebhookRefusal,
  WebhookVerificationError,
} from "./webhooks";

export interface RetryPolicy {
  /** Attempts in all, the first included (default 4). */
  readonly attemptsMax: number;
  /** The first backoff; each retry doubles it, up to `delayMaxMs` (defaults 200 ms and 5 s). */
  readonly delayBaseMs: number;
  readonly delayMaxMs: number;
  /** A `Retry-After` longer than this is not waited for: the answer is returned (default 30 s). */
  readonly retryAfterMaxMs: number;
}

export const RETRY_DEFAULTS: RetryPolicy = {
  attemptsMax: 4,
  delayBaseMs: 200,
  delayMaxMs: 5_000,
  retryAfterMaxMs: 30_000,
};

export interface GiftwireClientOptions {
  /** The API's `/v1` root, e.g. `https://api.example.com/v1`. */
  readonly baseUrl: string;
  /** The user's bearer token (the host's login), or a function returning the current one. */
  readonly token?: string | (() => string | Promise<string>);
  /** The fetch to send with (default `globalThis.fetch`): a test's, a service binding's. */
  readonly fetch?: (request: Request) => Promise<Response>;
  readonly retry?: Partial<RetryPolicy>;
  /** Makes Idempotency-Keys (default `crypto.randomUUID()`). */
  readonly idempotencyKey?: () => string;
  /** Waits between attempts (default setTimeout); `random` draws the jitter (default Math.random). */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

export type GiftwireClient = Client<paths>;

/** Methods that change something: each call gets its own Idempotency-Key unless it brings one. */
const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * Whether an answer is worth another attempt: 503 (the service, a shard move, a host's login
 * keys — temporarily unavailable) and 409 `idempotency_key_in_flight` (the same request is still
 * running: the retry gets its result). Every other 4xx is final: retrying a refusal repeats it.
 */
async function retryable(response: Response): Promise<boolean> {
  if (response.status === 503) return true;
  if (response.status !== 409) return false;
  try {
    const body = (await response.clone().json()) as { error?: { code?: unknown } };
    return body.error?.code === "idempotency_key_in_flight";
  } catch {
    return false;
  }
}

/** `Retry-After` in ms (delta seconds or an HTTP date), or null when absent or unreadable. */
export function retryAfterMs(value: string | null, nowMs: number): number | null {
  if (value === null) return null;
  const trimmed = value.trim();
  if (/^[0-9]{1,6}$/.test(trimmed)) return Number(trimmed) * 1000;
  // An HTTP date (IMF-fixdate); Date.parse alone would take "-3" for a year.
  if (!/^[A-Za-z]{3}, [0-9]{2} [A-Za-z]{3} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$/.test(trimmed)) return null;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}

/** Exponential backoff with full jitter: a random wait in [0, min(max, base · 2^retry)). */
export function backoffMs(retry: number, policy: RetryPolicy, random: () => number): number {
  return Math.floor(random() * Math.min(policy.delayMaxMs, policy.delayBaseMs * 2 ** retry));
}

/**
 * The fetch the typed client sends through: one call is one logical request. A write gets an
 * Idempotency-Key once, before its first attempt, and every retry carries the same key and the
 * same body, so the server runs it at most once and a retry after a lost answer gets the
 * recorded one (`Idempotent-Replayed: true`). Network errors are retried too (the key makes
 * that safe); the last answer or error is the caller's.
 */
export function retryingFetch(options: GiftwireClientOptions): (request: Request) => Promise<Response> {
  const policy: RetryPolicy = { ...RETRY_DEFAULTS, ...options.retry };
  const send = options.fetch ?? ((request: Request) => fetch(request));
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const random = options.random ?? Math.random;
  const newKey = options.idempotencyKey ?? (() => crypto.randomUUID());
  return async (request) => {
    const headers = new Headers(request.headers);
    if (WRITES.has(request.method) && !headers.has("idempotency-key")) headers.set("idempotency-key", newKey());
    if (options.token !== undefined && !headers.has("authorization")) {
      const token = typeof options.token === "string" ? options.token : await options.token();
      headers.set("authorization", `Bearer ${token}`);
    }
    // Read once: every attempt sends the same bytes.
    const body = request.body === null ? null : await request.arrayBuffer();
    const attempt = () =>
      send(new Request(request.url, { method: request.method, headers, body, signal: request.signal }));
    for (let retry = 0; ; retry++) {
      const last = retry + 1 >= policy.attemptsMax;
      let response: Response;
      try {
        response = await attempt();
      } catch (error) {
        if (last || request.signal.aborted) throw error;
        await sleep(backoffMs(retry, policy, random));
        continue;
      }
      if (last || !(await retryable(response))) return response;
      const asked = retryAfterMs(response.headers.get("retry-after"), Date.now());
      if (asked !== null && asked > policy.retryAfterMaxMs) return response;
      await response.body?.cancel();
      await sleep(Math.max(asked ?? 0, backoffMs(retry, policy, random)));
    }
  };
}

/** A tip that was sent (201): the tip, and the wallet's balance after it. */
export type Tip = components["schemas"]["Tip"];
/** A tip a risk rule held for review (202): the amount is held from the wallet until an operator decides. */
export type HeldTipReceipt = components["schemas"]["HeldTipReceipt"];
/** What `POST /rooms/{roomId}/tips` answers on success: 201 a tip, or 202 a held tip. */
export type TipAnswer = Tip | HeldTipReceipt;

/**
 * Whether a tip's answer is a held tip (202) rather than a sent one (201). Both are successes,
 * so openapi-fetch's `data` is either; this narrows it:
 *
 * ```ts
 * const { data } = await api.POST("/rooms/{roomId}/tips", { params: { path: { roomId } }, body });
 * if (data && isHeldTip(data)) showPending(data.heldTip.id);
 * else if (data) showSent(data.tip.id);
 * ```
 */
export function isHeldTip(answer: TipAnswer): answer is HeldTipReceipt {
  return "heldTip" in answer;
}

/** A typed giftwire client (see the module comment). */
export function createGiftwireClient(options: GiftwireClientOptions): GiftwireClient {
  return createClient<paths>({ baseUrl: options.baseUrl, fetch: retryingFetch(options) });
}
