import type { MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import { type Principal, type Role, verifyToken } from "../auth/jwt";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";

/**
 * Who may call a route. Every route declares one, on the route itself (`defineRoute` in
 * routes/define.ts for OpenAPI routes, `authenticate(...)` first in a plain route's handler
 * list), so a route added without a declaration is caught by test/integration/route-security:
 *
 * - `"public"`: no credentials at all (health, the OpenAPI document, the gift catalog).
 * - `"signature"`: no bearer token; the handler verifies a payment provider's signature.
 * - `"socket"`: a WebSocket upgrade; the handler accepts a bearer token, `?access_token=` or
 *   an overlay key, since browsers cannot set headers on a WebSocket.
 * - `"signed-in"`: any valid bearer token (401 otherwise); object-level checks — "is this your
 *   wallet" — are the handler's, which knows the object.
 * - a non-empty role list: a valid bearer token holding at least one of them (403 otherwise).
 */
export type RouteAuth = "public" | "signature" | "socket" | "signed-in" | readonly [Role, ...Role[]];

/** True for declarations this middleware enforces with a bearer token. */
export function needsBearer(auth: RouteAuth): boolean {
  return auth !== "public" && auth !== "signature" && auth !== "socket";
}

/** The declaration behind each middleware `authenticate` made, for tests walking the router. */
const declarations = new WeakMap<object, RouteAuth>();

/** The route declaration a router handler carries, or undefined when it is not one. */
export function declaredAuth(handler: unknown): RouteAuth | undefined {
  return typeof handler === "function" ? declarations.get(handler) : undefined;
}

/**
 * The middleware that enforces a declaration; it runs before the route's validators, so an
 * unauthenticated caller learns nothing about the request schema. The non-bearer kinds pass
 * through: their handler does the checking, and the declaration documents that it must.
 */
export function authenticate(auth: RouteAuth): MiddlewareHandler<AppEnv> {
  const middleware: MiddlewareHandler<AppEnv> = needsBearer(auth)
    ? requireAuth(...(typeof auth === "string" ? [] : auth))
    : async (_c, next) => {
        await next();
      };
  declarations.set(middleware, auth);
  return middleware;
}

/**
 * Authenticates the bearer token (401 when absent or invalid) and, when roles are given,
 * requires at least one of them (403). Routes use it only through `authenticate`, which records
 * the declaration the security test reads.
 */
function requireAuth(...anyOf: Role[]) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer ([A-Za-z0-9_.-]{1,4096})$/.exec(header);
    if (!match?.[1]) throw new ApiError("unauthenticated");
    const principal = await verifyToken(match[1], c.var.config, Date.now());
    if (!principal) throw new ApiError("unauthenticated", "The bearer token is invalid or expired.");
    c.set("principal", principal);
    if (anyOf.length > 0 && !anyOf.some((r) => principal.roles.has(r))) {
      throw new ApiError("forbidden", `This needs one of the roles: ${anyOf.join(", ")}.`);
    }
    await next();
  });
}

export function hasAnyRole(principal: Principal, roles: readonly Role[]): boolean {
  return roles.some((r) => principal.roles.has(r));
}
