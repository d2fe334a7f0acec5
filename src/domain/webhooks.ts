import type { RandomBytes } from "./ids";
import { assert } from "./limits";
import { hmacSha256 } from "./sha256";

/**
 * Outbound webhooks to partners, in the Standard Webhooks format (standardwebhooks.com; issue 18):
 * every message has a stable `webhook-id` (the same on every attempt, the receiver's idempotency
 * key), a `webhook-timestamp` (unix seconds of the attempt) and a `webhook-signature`: `v1,` and
 * the base64 HMAC-SHA-256 over `${id}.${timestamp}.${body}` under the endpoint's secret
 * (`whsec_` + base64 of its bytes), space-separated when two secrets are live during a rotation.
 */

export const WEBHOOK_EVENT_TYPES = [
  "tip.created",
  "gift.big",
  "red_packet.sent",
  "red_packet.exhausted",
  "red_packet.refunded",
  "payment.succeeded",
  "payment.refunded",
  "tip.reversed",
  "unlock.created",
  "unlock.refunded",
  "withdrawal.paid",
  "room.live",
  "room.ended",
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/**
 * When each attempt is made, in seconds after the previous one: at once, then 5 s, 5 min, 30 min,
 * 2 h, 5 h, 10 h, 10 h (about 27.6 h in all; the Svix schedule). Each wait is a queue message's
 * `delaySeconds`, which Cloudflare Queues caps at 12 h (43,200 s; "delaySeconds (when sending or
 * retrying): 12 hours", https://developers.cloudflare.com/queues/platform/limits/, checked
 * 2026-12-02): every step, 10 h included, is one message's delay, with no chaining needed.
 */
export const WEBHOOK_RETRY_SCHEDULE_S = [0, 5, 300, 1800, 7200, 18000, 36000, 36000] as const;
export const QUEUE_MAX_DELAY_S = 43_200;
export const WEBHOOK_ATTEMPTS_MAX = WEBHOOK_RETRY_SCHEDULE_S.length;

/** The wait before attempt `attemptNo` (1-based; attempt 1 is immediate), or null past the last. */
export function webhookDelayS(attemptNo: number): number | null {
  assert(Number.isSafeInteger(attemptNo) && attemptNo >= 1, "attempts are counted from 1");
  const delay = WEBHOOK_RETRY_SCHEDULE_S[attemptNo - 1];
  if (delay === undefined) return null;
  assert(delay <= QUEUE_MAX_DELAY_S, "a retry fits one queue delay");
  return delay;
}

/** An endpoint failing this long (since its first failure with no success after) is disabled. */
export const WEBHOOK_DISABLE_AFTER_MS = 5 * 24 * 60 * 60 * 1000;
/** How long the receiver may take: Standard Webhooks suggests 15–30 s. */
export const WEBHOOK_TIMEOUT_MS = 15_000;
/** The old secret keeps signing (beside the new) this long after a rotation. */
export const WEBHOOK_SECRET_ROTATION_OVERLAP_MS = 24 * 60 * 60 * 1000;
export const WEBHOOK_ENDPOINTS_PER_PARTNER_MAX = 20;
/** Messages one replay may queue (a time range beyond it is refused: narrow it). */
export const WEBHOOK_REPLAY_MAX = 1_000;
/** The response body kept per attempt, for the partner to read why it failed. */
export const WEBHOOK_RESPONSE_KEEP_CHARS = 500;

export type AttemptOutcome = "succeeded" | "gone" | "failed";

/**
 * What an answer means: any 2xx is success; 410 Gone disables the endpoint; everything else —
 * 3xx included (redirects are never followed), a timeout, a network error — is a failure to retry.
 */
export function attemptOutcome(status: number | null): AttemptOutcome {
  if (status !== null && status >= 200 && status <= 299) return "succeeded";
  if (status === 410) return "gone";
  return "failed";
}

/** True when an endpoint failing since `failingSinceMs` has failed long enough to be disabled. */
export function failingTooLong(failingSinceMs: number | null, nowMs: number): boolean {
  return failingSinceMs !== null && nowMs - failingSinceMs >= WEBHOOK_DISABLE_AFTER_MS;
}

const SECRET_PATTERN = /^whsec_([A-Za-z0-9+/]{32,88}={0,2})$/;
export const WEBHOOK_SECRET_BYTES = 32;

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** A new endpoint secret: `whsec_` + base64 of 32 random bytes (the spec allows 24–64). */
export function newWebhookSecret(randomBytes: RandomBytes): string {
  const bytes = randomBytes(WEBHOOK_SECRET_BYTES);
  assert(bytes.length === WEBHOOK_SECRET_BYTES, "randomBytes returned the requested length");
  return `whsec_${toBase64(bytes)}`;
}

/** The key bytes of a `whsec_` secret, or null when it is not one (24–64 bytes). */
export function webhookSecretKey(secret: string): Uint8Array | null {
  const match = SECRET_PATTERN.exec(secret);
  if (!match?.[1]) return null;
  try {
    const key = fromBase64(match[1]);
    return key.length >= 24 && key.length <= 64 ? key : null;
  } catch {
    return null;
  }
}

/** `v1,<base64 HMAC-SHA-256>` over `${id}.${timestampS}.${body}`. */
export function signWebhook(secret: string, id: string, timestampS: number, body: string): string {
  const key = webhookSecretKey(secret);
  assert(key !== null, "a webhook secret is whsec_ and base64 of 24–64 bytes");
  assert(!id.includes(".") && Number.isSafeInteger(timestampS), "the id and timestamp contain no dot");
  const mac = hmacSha256(key, new TextEncoder().encode(`${id}.${timestampS}.${body}`));
  return `v1,${toBase64(mac)}`;
}

/** The standard headers of one attempt; every live secret signs (two during a rotation). */
export function webhookHeaders(
  secrets: readonly [string, ...string[]],
  id: string,
  timestampS: number,
  body: string,
): Record<string, string> {
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestampS),
    "webhook-signature": secrets.map((s) => signWebhook(s, id, timestampS, body)).join(" "),
    "content-type": "application/json",
  };
}

/** The body sent: the recommended envelope `{ type, timestamp, data }`. */
export function webhookBody(type: WebhookEventType, createdAtMs: number, data: unknown): string {
  return JSON.stringify({ type, timestamp: new Date(createdAtMs).toISOString(), data });
}

// ————— Endpoint URLs: what may be called (SSRF) —————

export type UrlRefusal =
  | "url_malformed"
  | "url_not_https"
  | "url_credentials"
  | "url_ip_literal"
  | "url_localhost"
  | "url_private_address"
  | "url_unresolvable";

export interface UrlRules {
  /** Local development only: http and loopback allowed, for the demo receiver (WEBHOOK_ALLOW_LOOPBACK). */
  readonly allowLoopback: boolean;
}

/**
 * The URL's own rules, before any DNS: HTTPS, no user:password, a name (no IP literal), not
 * `localhost` or a name under it. With `allowLoopback` (development), http and loopback names and
 * addresses are allowed — nothing else private. Returns the host name to resolve, or the refusal.
 */
export function checkWebhookUrl(raw: string, rules: UrlRules): { host: string; loopback: boolean } | UrlRefusal {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "url_malformed";
  }
  if (raw.length > 2048) return "url_malformed";
  if (url.username !== "" || url.password !== "") return "url_credentials";
  const host = url.hostname.toLowerCase().replace(/\.$/, "");
  const loopbackName = host === "localhost" || host.endsWith(".localhost");
  const literal = ipLiteral(host);
  const loopback = loopbackName || (literal !== null && addressKind(literal) === "loopback");
  if (rules.allowLoopback && loopback) {
    return url.protocol === "https:" || url.protocol === "http:" ? { host, loopback: true } : "url_not_https";
  }
  if (url.protocol !== "https:") return "url_not_https";
  if (literal !== null) return "url_ip_literal";
  if (loopbackName) return "url_localhost";
  if (!host.includes(".")) return "url_malformed";
  return { host, loopback: false };
}

/** The address inside a URL host (`10.0.0.1`, `[::1]`), or null for a name. */
export function ipLiteral(host: string): string | null {
  if (host.startsWith("[") && host.endsWith("]")) return host.slice(1, -1);
  if (/^[0-9.]+$/.test(host) || /^0x/i.test(host)) return host;
  return null;
}

export type AddressKind = "public" | "loopback" | "private" | "link-local" | "unique-local" | "reserved";

/**
 * What an address is. Anything not plainly public counts as not public: loopback 127/8 and ::1,
 * private 10/8, 172.16/12, 192.168/16, carrier NAT 100.64/10, link-local 169.254/16 (cloud
 * metadata) and fe80::/10, unique-local fc00::/7, 0/8, multicast and reserved ranges,
 * IPv4-mapped IPv6 by its IPv4, and anything that does not parse.
 */
export function addressKind(address: string): AddressKind {
  const v4 = parseIpv4(address);
  if (v4) return ipv4Kind(v4);
  const v6 = parseIpv6(address.toLowerCase());
  if (!v6) return "reserved";
  if (v6.every((h, i) => h === (i === 7 ? 1 : 0))) return "loopback";
  if (v6.every((h) => h === 0)) return "reserved";
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible: judged by the IPv4 inside.
  if (v6.slice(0, 5).every((h) => h === 0) && (v6[5] === 0xffff || v6[5] === 0)) {
    const [hi = 0, lo = 0] = [v6[6], v6[7]];
    return ipv4Kind([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  }
  const first = v6[0] ?? 0;
  if ((first & 0xffc0) === 0xfe80) return "link-local";
  if ((first & 0xfe00) === 0xfc00) return "unique-local";
  if ((first & 0xff00) === 0xff00) return "reserved";
  // NAT64 (64:ff9b::/96) reaches IPv4 space; documentation 2001:db8::/32; 6to4 2002::/16 embeds IPv4.
  if (first === 0x64 && v6[1] === 0xff9b) return "reserved";
  if (first === 0x2001 && v6[1] === 0x0db8) return "reserved";
  if (first === 0x2002) return "reserved";
  return "public";
}

function ipv4Kind([a, b]: number[]): AddressKind {
  if (a === undefined || b === undefined) return "reserved";
  if (a === 127) return "loopback";
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return "private";
  if (a === 100 && b >= 64 && b <= 127) return "private";
  if (a === 169 && b === 254) return "link-local";
  if (a === 0 || a >= 224 || (a === 192 && b === 0) || (a === 198 && (b === 18 || b === 19))) return "reserved";
  return "public";
}

function parseIpv4(text: string): number[] | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const octets = parts.map((p) => (/^(0|[1-9][0-9]{0,2})$/.test(p) ? Number(p) : Number.NaN));
  return octets.every((o) => o >= 0 && o <= 255) ? octets : null;
}

function parseIpv6(text: string): number[] | null {
  let t = text;
  const zone = t.indexOf("%");
  if (zone !== -1) t = t.slice(0, zone);
  // A trailing dotted IPv4 (::ffff:10.0.0.1) becomes two hextets.
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(t);
  if (dotted?.[1] && dotted[2]) {
    const v4 = parseIpv4(dotted[2]);
    if (!v4) return null;
    const [a = 0, b = 0, c = 0, d = 0] = v4;
    t = `${dotted[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = t.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  if (![...head, ...tail].every((h) => /^[0-9a-f]{1,4}$/.test(h))) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  return [...head, ...Array.from({ length: missing }, () => "0"), ...tail].map((h) => Number.parseInt(h, 16));
}

/**
 * A resolved name's verdict: refused when it has no address, or when any address is not public
 * (one private answer among public ones is enough to refuse: the fetch may pick it). Loopback
 * answers pass only under `allowLoopback`.
 */
export function judgeResolved(addresses: readonly string[], rules: UrlRules): "ok" | UrlRefusal {
  if (addresses.length === 0) return "url_unresolvable";
  for (const a of addresses) {
    const kind = addressKind(a);
    if (kind === "public") continue;
    if (kind === "loopback" && rules.allowLoopback) continue;
    return "url_private_address";
  }
  return "ok";
}
