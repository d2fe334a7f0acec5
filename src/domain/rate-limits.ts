/**
 * The gateway's rate limits: one Workers Rate Limiting binding each (`[[ratelimits]]` in
 * wrangler.toml, which holds the same limit and period; a unit test keeps the two equal).
 *
 * The binding counts calls per key in a fixed window of `periodS` seconds, per Cloudflare
 * location, approximately ("permissive, eventually consistent"): it stops floods and scripted
 * abuse, it is not an accounting of money. Per-user limits are set well above what a person
 * does by hand (a viewer combo-tapping a gift sends a few tips a second); per-IP limits are
 * higher still, because carrier-grade NAT puts many users behind one address.
 *
 * Keys: `user:<id>` for the signed-in user, `ip:<addr>` for the client address (an IPv6
 * address by its /64, which one subscriber holds whole), `cb:<channel>:<addr>` for a payment
 * or payout channel's callbacks from one source address.
 */

/** What a limit counts by. */
export type RateLimitKeyKind = "user" | "ip" | "callback-source" | "partner-key";

export interface RateLimitSpec {
  /** The Env binding (wrangler.toml `[[ratelimits]] name`). */
  readonly binding: string;
  /** wrangler.toml `namespace_id`: unique per account; bindings sharing one share counters. */
  readonly namespaceId: string;
  readonly keyKind: RateLimitKeyKind;
  /** Calls allowed per key per window. */
  readonly limit: number;
  /** The window, in seconds: the binding accepts only 10 or 60. */
  readonly periodS: 10 | 60;
  /** What it protects, for the docs and the OpenAPI document. */
  readonly description: string;
}

export const RATE_LIMITS = {
  /** Wallet tips (POST /v1/rooms/{roomId}/tips): 10 a second sustained, above any combo by hand. */
  tips: {
    binding: "RL_TIPS_USER",
    namespaceId: "1601",
    keyKind: "user",
    limit: 100,
    periodS: 10,
    description: "wallet tips per user",
  },
  /** Red packets sent and claimed: a person grabs a packet when it drops, not 3 a second. */
  packets: {
    binding: "RL_PACKETS_USER",
    namespaceId: "1602",
    keyKind: "user",
    limit: 30,
    periodS: 10,
    description: "red packets sent and claimed per user",
  },
  /** Payment orders (top-ups and pay-to-tip): each opens a cashier page at a channel. */
  payments: {
    binding: "RL_PAYMENTS_USER",
    namespaceId: "1603",
    keyKind: "user",
    limit: 20,
    periodS: 60,
    description: "payment orders (top-up, pay-to-tip) per user",
  },
  /** Withdrawals: a creator asks for one now and then; a burst is a script or a takeover. */
  withdrawals: {
    binding: "RL_WITHDRAWALS_USER",
    namespaceId: "1604",
    keyKind: "user",
    limit: 10,
    periodS: 60,
    description: "withdrawal requests per creator",
  },
  /** Every money route together, per client address (NAT: many users behind one address). */
  moneyIp: {
    binding: "RL_MONEY_IP",
    namespaceId: "1605",
    keyKind: "ip",
    limit: 600,
    periodS: 10,
    description: "money requests per client address, all money routes together",
  },
  /**
   * Failed authentications per client address: a credential presented and refused. Past the
   * limit, the address's requests to authenticated routes are refused before any verifying.
   * Expired tokens fail too (a client refreshes after its 401), hence not lower.
   */
  authFailures: {
    binding: "RL_AUTH_FAILURES_IP",
    namespaceId: "1606",
    keyKind: "ip",
    limit: 30,
    periodS: 60,
    description: "failed authentications per client address",
  },
  /** Payment and payout callbacks per channel and source address (providers retry a 429). */
  callbacks: {
    binding: "RL_CALLBACKS_SOURCE",
    namespaceId: "1607",
    keyKind: "callback-source",
    limit: 600,
    periodS: 10,
    description: "provider callbacks per channel and source address",
  },
  /**
   * Partner API requests per key (issue 18): every /v1/partner route, counted by the key's id
   * (`pk:<id>`), after the key is verified. 10 a second sustained is a busy server, not a loop.
   */
  partnerKey: {
    binding: "RL_PARTNER_KEY",
    namespaceId: "1608",
    keyKind: "partner-key",
    limit: 100,
    periodS: 10,
    description: "partner API requests per API key",
  },
} as const satisfies Record<string, RateLimitSpec>;

export type RateLimitName = keyof typeof RATE_LIMITS;
export type UserRateLimit = {
  [K in RateLimitName]: (typeof RATE_LIMITS)[K]["keyKind"] extends "user" ? K : never;
}[RateLimitName];
export type IpRateLimit = "moneyIp";

/** What a money route declares: the per-user limit of its kind and the per-address one. */
export interface RouteRateLimit {
  readonly user: UserRateLimit;
  readonly ip: IpRateLimit;
}

/**
 * The seconds a refused caller should wait: the binding's period. The binding says only
 * "refused", not when its window ends; its windows are fixed and `periodS` long, so the current
 * one ends within `periodS` seconds, and a caller that waits that long meets a fresh counter.
 */
export function retryAfterS(name: RateLimitName): number {
  return RATE_LIMITS[name].periodS;
}

export function userKey(userId: string): string {
  return `user:${userId}`;
}

export function ipKey(address: string): string {
  return `ip:${address}`;
}

export function partnerKeyKey(keyId: string): string {
  return `pk:${keyId}`;
}

export function callbackKey(channel: string, address: string): string {
  return `cb:${channel}:${address}`;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HEXTET = /^[0-9a-f]{1,4}$/;

/**
 * The address a client is counted by, from CF-Connecting-IP: an IPv4 address as it is; an
 * IPv6 address by its /64 (`2001:db8:1:2::/64`), since a subscriber is given a whole /64 and
 * could otherwise take a fresh address per request; an IPv4-mapped IPv6 address as its IPv4.
 * Null for anything else (absent or not an address): such a request is counted by user only.
 */
export function clientAddress(header: string | null | undefined): string | null {
  if (!header) return null;
  const raw = header.trim().toLowerCase();
  if (raw.length === 0 || raw.length > 45) return null;
  const v4 = IPV4.exec(raw);
  if (v4) return v4.slice(1).every((octet) => Number(octet) <= 255) ? raw : null;
  if (!raw.includes(":")) return null;
  const mapped = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(raw);
  if (mapped?.[1]) return clientAddress(mapped[1]);
  const halves = raw.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  if (![...head, ...tail].every((h) => HEXTET.test(h))) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const groups = [...head, ...Array.from({ length: missing }, () => "0"), ...tail];
  const prefix = groups.slice(0, 4).map((h) => h.replace(/^0+(?=.)/, ""));
  return `${prefix.join(":")}::/64`;
}
