import type { Context, MiddlewareHandler } from "hono";
import { isChannel } from "../../channels/channel";
import {
  callbackKey,
  clientAddress,
  ipKey,
  RATE_LIMITS,
  type RateLimitName,
  type RouteRateLimit,
  retryAfterS,
  userKey,
} from "../../domain/rate-limits";
import type { AppEnv } from "../context";
import { errorResponse } from "../errors";

/**
 * The gateway's rate limits (domain/rate-limits.ts), on the Workers Rate Limiting bindings. A
 * refused request is answered 429 `rate_limited` with Retry-After before its handler runs, so
 * nothing is read, verified or moved for it.
 *
 * The client address is CF-Connecting-IP, which Cloudflare sets on every request it forwards
 * (a client cannot choose it). A request without one reaches the Worker only locally (tests,
 * `wrangler dev` run by hand): it is counted by user only, and failed authentications and
 * callbacks are not counted for it.
 */

type RateLimitBinding = Exclude<{ [K in keyof Env]: Env[K] extends RateLimit ? K : never }[keyof Env], undefined>;

function binding(env: Env, name: RateLimitName): RateLimit {
  return env[RATE_LIMITS[name].binding as RateLimitBinding];
}

/** The address a request is counted by, or null (see above). */
export function requestAddress(c: Context<AppEnv>): string | null {
  return clientAddress(c.req.header("cf-connecting-ip"));
}

/** True when `key` is within `name`'s limit (and counts this call). */
async function admitted(env: Env, name: RateLimitName, key: string): Promise<boolean> {
  const { success } = await binding(env, name).limit({ key });
  return success;
}

/** The 429 answer of a refused request, through the one error helper. */
export function rateLimited(c: Context<AppEnv>, name: RateLimitName): Response {
  c.header("Retry-After", String(retryAfterS(name)));
  c.var.log.warn("rate_limited", { limit: name, userId: c.var.principal?.userId });
  return errorResponse(c, "rate_limited", undefined, { limit: name });
}

/** The declaration behind each middleware `limitRoute` made, for tests walking the router. */
const declarations = new WeakMap<object, RouteRateLimit | "callbacks">();

/** The rate limits a router handler carries, or undefined when it is not one of these. */
export function declaredRateLimit(handler: unknown): RouteRateLimit | "callbacks" | undefined {
  return typeof handler === "function" ? declarations.get(handler) : undefined;
}

/**
 * A money route's limits: the per-user one of its kind, then the per-address one. It runs after
 * authentication (the user is known) and before validation, so malformed requests count too.
 */
export function limitRoute(limits: RouteRateLimit): MiddlewareHandler<AppEnv> {
  const middleware: MiddlewareHandler<AppEnv> = async (c, next) => {
    const principal = c.get("principal");
    if (!(await admitted(c.env, limits.user, userKey(principal.userId)))) return rateLimited(c, limits.user);
    const address = requestAddress(c);
    if (address !== null && !(await admitted(c.env, limits.ip, ipKey(address)))) return rateLimited(c, limits.ip);
    await next();
  };
  declarations.set(middleware, limits);
  return middleware;
}

/**
 * A provider callback route's limit, per channel and source address, before the body is read or
 * a signature verified (an unknown channel counts as `unknown`, so inventing channel names does
 * not make fresh counters). Providers treat a 429 as "deliver again later".
 */
export function limitCallbacks(): MiddlewareHandler<AppEnv> {
  const middleware: MiddlewareHandler<AppEnv> = async (c, next) => {
    const address = requestAddress(c);
    if (address !== null) {
      const param = c.req.param("channel") ?? "";
      const channel = isChannel(param) ? param : "unknown";
      if (!(await admitted(c.env, "callbacks", callbackKey(channel, address)))) return rateLimited(c, "callbacks");
    }
    await next();
  };
  declarations.set(middleware, "callbacks");
  return middleware;
}

/**
 * Addresses past their failed-authentication limit, and until when (ms): the binding has no
 * "peek" — every call counts — so the refusal it gave is remembered here, and the address's next
 * requests are refused before their credentials are verified. Per isolate: another isolate
 * learns it from the binding at the address's next failure there (answered 429, not 401, so a
 * guesser learns nothing past the limit). Bounded: the oldest entries go first.
 */
const refusedUntilMs = new Map<string, number>();
const REFUSED_ADDRESSES_MAX = 10_000;

/** The 429 answer when this address is past its failed-authentication limit, else null. */
export function refusedForAuthFailures(c: Context<AppEnv>, nowMs: number): Response | null {
  const address = requestAddress(c);
  if (address === null) return null;
  const until = refusedUntilMs.get(address);
  if (until === undefined) return null;
  if (until > nowMs) return rateLimited(c, "authFailures");
  refusedUntilMs.delete(address);
  return null;
}

/**
 * Counts a failed authentication (a credential presented and refused) against the caller's
 * address. Returns the 429 answer when this failure is past the limit, else null (answer 401).
 */
export async function countAuthFailure(c: Context<AppEnv>, nowMs: number): Promise<Response | null> {
  const address = requestAddress(c);
  if (address === null) return null;
  if (await admitted(c.env, "authFailures", ipKey(address))) return null;
  if (refusedUntilMs.size >= REFUSED_ADDRESSES_MAX) {
    const oldest = refusedUntilMs.keys().next().value;
    if (oldest !== undefined) refusedUntilMs.delete(oldest);
  }
  refusedUntilMs.delete(address);
  refusedUntilMs.set(address, nowMs + retryAfterS("authFailures") * 1000);
  return rateLimited(c, "authFailures");
}
