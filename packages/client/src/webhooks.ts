/**
 * Verifying giftwire's webhooks on the partner's side (Standard Webhooks, v1 symmetric
 * signatures): `webhook-signature` holds one or more space-separated `v1,<base64>` HMAC-SHA-256
 * signatures of `${webhook-id}.${webhook-timestamp}.${raw body}` under the endpoint's secret
 * (`whsec_` + base64 bytes). Two signatures arrive while giftwire rotates a secret; any one
 * matching is enough. Runs wherever WebCrypto does (Node ≥ 20, browsers, Workers, Deno).
 *
 * Verify the raw bytes as received — not JSON parsed and serialized again — and use
 * `webhook-id` to drop duplicates: a retried delivery carries the same id.
 */

/** Why a delivery was refused, one code per reason. */
export type WebhookRefusal =
  | "secret_invalid"
  | "headers_missing"
  | "timestamp_invalid"
  | "timestamp_too_old"
  | "timestamp_too_new"
  | "signature_mismatch"
  | "payload_not_json";

export class WebhookVerificationError extends Error {
  override name = "WebhookVerificationError";
  constructor(readonly reason: WebhookRefusal) {
    super(`webhook refused: ${reason}`);
  }
}

export interface VerifiedWebhook {
  /** `webhook-id`: the same on every retry of one message; the receiver's idempotency key. */
  readonly id: string;
  /** `webhook-timestamp`: when this attempt was signed, in Unix seconds. */
  readonly timestampS: number;
  /** The body, parsed as JSON. */
  readonly payload: unknown;
}

export interface VerifyOptions {
  /** How far the timestamp may be from now, either way (default 300 s, as the reference libraries). */
  readonly toleranceS?: number;
  /** The receiver's clock (default `Date.now()`). */
  readonly nowMs?: number;
}

/** At most this many signatures in one header are tried: a rotation needs two. */
const SIGNATURES_MAX = 8;
const TOLERANCE_DEFAULT_S = 5 * 60;
const SECRET_PREFIX = "whsec_";

function base64Bytes(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1) return null;
  try {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  } catch {
    return null;
  }
}

function header(headers: Headers | Record<string, string | undefined>, name: string): string | null {
  if (headers instanceof Headers) return headers.get(name);
  const found = Object.entries(headers).find(([key]) => key.toLowerCase() === name);
  return found?.[1] ?? null;
}

async function hmacKey(secret: string): Promise<CryptoKey> {
  const bytes = base64Bytes(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret);
  if (!bytes || bytes.length === 0) throw new WebhookVerificationError("secret_invalid");
  return crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
}

/**
 * Verifies one delivery and returns its id, timestamp and parsed body; throws
 * WebhookVerificationError (with `reason`) otherwise. `secrets`: the endpoint's secret, or
 * several while the partner itself moves from one to another. The comparison is WebCrypto's
 * `verify`, which does not leak where two MACs differ.
 */
export async function verifyWebhook(
  secrets: string | readonly string[],
  body: string | Uint8Array,
  headers: Headers | Record<string, string | undefined>,
  options: VerifyOptions = {},
): Promise<VerifiedWebhook> {
  const keys = await Promise.all((typeof secrets === "string" ? [secrets] : secrets).map(hmacKey));
  if (keys.length === 0) throw new WebhookVerificationError("secret_invalid");
  const id = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");
  if (!id || !timestamp || !signatures) throw new WebhookVerificationError("headers_missing");
  if (!/^[0-9]{1,12}$/.test(timestamp)) throw new WebhookVerificationError("timestamp_invalid");
  const timestampS = Number(timestamp);
  const nowS = Math.floor((options.nowMs ?? Date.now()) / 1000);
  const toleranceS = options.toleranceS ?? TOLERANCE_DEFAULT_S;
  if (timestampS < nowS - toleranceS) throw new WebhookVerificationError("timestamp_too_old");
  if (timestampS > nowS + toleranceS) throw new WebhookVerificationError("timestamp_too_new");

  const bodyBytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const prefix = new TextEncoder().encode(`${id}.${timestamp}.`);
  const signed = new Uint8Array(prefix.length + bodyBytes.length);
  signed.set(prefix);
  signed.set(bodyBytes, prefix.length);

  const candidates = signatures
    .split(" ")
    .filter((s) => s.startsWith("v1,"))
    .slice(0, SIGNATURES_MAX)
    .map((s) => base64Bytes(s.slice(3)))
    .filter((mac): mac is Uint8Array<ArrayBuffer> => mac !== null && mac.length === 32);
  let matched = false;
  for (const mac of candidates) {
    for (const key of keys) {
      // Every candidate is checked, so the time taken does not say which one matched.
      if (await crypto.subtle.verify("HMAC", key, mac, signed)) matched = true;
    }
  }
  if (!matched) throw new WebhookVerificationError("signature_mismatch");
  let payload: unknown;
  try {
    payload = JSON.parse(typeof body === "string" ? body : new TextDecoder().decode(body));
  } catch {
    throw new WebhookVerificationError("payload_not_json");
  }
  return { id, timestampS, payload };
}
