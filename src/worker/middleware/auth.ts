import type { Context, MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import { findOperator, type Operator, type OperatorIdentity } from "../../db/operators";
import type { PartnerScope } from "../../domain/partner-keys";
import { may, type Permission } from "../../domain/permissions";
import { verifyAccessAssertion } from "../auth/access";
import { type Principal, type Role, verifyToken } from "../auth/jwt";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { approvedExecution } from "../proposals";
import { requirePartnerKey } from "./partner-auth";
import { countAuthFailure, refusedForAuthFailures } from "./rate-limit";

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
 * - a non-empty role list: a valid bearer token holding at least one of them (403 otherwise);
 *   user roles only (`viewer`, `creator`) — operator routes declare a permission instead.
 * - `{ permission }`: an operator route. The caller is authenticated (Cloudflare Access where
 *   configured, else the bearer token; 401 otherwise), must be an active operator in the control
 *   database, and one of their roles there must hold the permission (403 otherwise).
 * - `{ partnerScope }`: a partner route (/v1/partner): a partner API key (`gw_live_…`,
 *   `gw_test_…`; 401 when absent, unknown, revoked or expired) holding the scope (403 otherwise),
 *   within its per-key rate limit (middleware/partner-auth.ts).
 */
export type RouteAuth =
  | "public"
  | "signature"
  | "socket"
  | "signed-in"
  | readonly [Role, ...Role[]]
  | { readonly permission: Permission }
  | { readonly partnerScope: PartnerScope };

/** True for declarations this middleware enforces with a bearer token (or, for operators, Access). */
export function needsBearer(auth: RouteAuth): boolean {
  return auth !== "public" && auth !== "signature" && auth !== "socket" && partnerScopeOf(auth) === null;
}

/** The scope a partner route declares, or null for any other declaration. */
export function partnerScopeOf(auth: RouteAuth): PartnerScope | null {
  return typeof auth === "object" && "partnerScope" in auth ? auth.partnerScope : null;
}

/** The permission an operator route declares, or null for any other declaration. */
export function permissionOf(auth: RouteAuth): Permission | null {
  return typeof auth === "object" && "permission" in auth ? auth.permission : null;
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
  const permission = permissionOf(auth);
  const partnerScope = partnerScopeOf(auth);
  const middleware: MiddlewareHandler<AppEnv> = partnerScope
    ? requirePartnerKey(partnerScope)
    : permission
      ? requireOperator(permission)
      : needsBearer(auth)
        ? requireAuth(...(typeof auth === "string" || !Array.isArray(auth) ? [] : (auth as readonly Role[])))
        : async (_c, next) => {
            await next();
          };
  declarations.set(middleware, auth);
  return middleware;
}

/**
 * Authenticates the bearer token (401 when absent or invalid) and, when roles are given,
 * requires at least one of them (403). A token presented and refused counts against the
 * caller's address (RATE_LIMITS.authFailures); past that limit the address is answered 429
 * before its tokens are verified. Routes use it only through `authenticate`, which records
 * the declaration the security test reads.
 */
function requireAuth(...anyOf: Role[]) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const nowMs = Date.now();
    const refused = refusedForAuthFailures(c, nowMs);
    if (refused) return refused;
    const header = c.req.header("authorization");
    if (header === undefined) throw new ApiError("unauthenticated");
    const match = BEARER.exec(header);
    const principal = match?.[1] ? await verifyToken(match[1], c.var.config, nowMs) : null;
    if (!principal) {
      const overLimit = await countAuthFailure(c, nowMs);
      if (overLimit) return overLimit;
      throw new ApiError("unauthenticated", match?.[1] ? "The bearer token is invalid or expired." : undefined);
    }
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

const BEARER = /^Bearer ([A-Za-z0-9_.-]{1,4096})$/;
const ACCESS_ASSERTION = /^[A-Za-z0-9_.-]{1,8192}$/;

/**
 * Who is calling, as an operator identity: the Access assertion's email or service-token client
 * id where Access is configured (a bearer token then names no operator), else the bearer
 * token's subject. Null when the request carries no valid credential of that kind.
 */
async function operatorIdentity(c: Context<AppEnv>): Promise<OperatorIdentity | null> {
  const access = c.var.config.access;
  if (access) {
    const assertion = c.req.header("cf-access-jwt-assertion") ?? "";
    if (!ACCESS_ASSERTION.test(assertion)) return null;
    return verifyAccessAssertion(assertion, access, Date.now());
  }
  const match = BEARER.exec(c.req.header("authorization") ?? "");
  if (!match?.[1]) return null;
  const principal = await verifyToken(match[1], c.var.config, Date.now());
  return principal ? { kind: "subject", id: principal.userId } : null;
}

/**
 * The calling operator, active, or null — resolved once per request. For object-level checks in
 * routes any signed-in user may call ("is this your wallet, or may you read anyone's?").
 */
export async function callingOperator(c: Context<AppEnv>): Promise<Operator | null> {
  const known = c.get("operator");
  if (known !== undefined) return known;
  const identity = await operatorIdentity(c);
  const found = identity ? await findOperator(c.var.ledger.control, identity) : null;
  const operator = found?.status === "active" ? found : null;
  c.set("operator", operator);
  return operator;
}

/** True when the caller is an active operator holding `permission`. */
export async function operatorMay(c: Context<AppEnv>, permission: Permission): Promise<boolean> {
  const operator = await callingOperator(c);
  return operator !== null && may(operator.roles, permission);
}

/**
 * An operator route's gate: authenticated (401), an active operator (403), holding the
 * permission through a role in the control database (403). The principal the handlers see is
 * the operator: `userId` is the operator's id, recorded as the actor of what they do.
 */
function requireOperator(permission: Permission) {
  return createMiddleware<AppEnv>(async (c, next) => {
    // An approved four-eyes proposal executing (worker/proposals.ts) acts as its proposer.
    const execution = approvedExecution(c.req.raw);
    const nowMs = Date.now();
    if (!execution) {
      const refused = refusedForAuthFailures(c, nowMs);
      if (refused) return refused;
    }
    const identity: OperatorIdentity | null = execution
      ? { kind: "subject", id: execution.proposerId }
      : await operatorIdentity(c);
    if (!identity) {
      // Only a credential presented and refused counts: a request without one guesses nothing.
      const presented = c.req.header(c.var.config.access ? "cf-access-jwt-assertion" : "authorization") !== undefined;
      const overLimit = presented ? await countAuthFailure(c, nowMs) : null;
      if (overLimit) return overLimit;
      throw new ApiError(
        "unauthenticated",
        c.var.config.access ? "Sign in through Cloudflare Access." : "The bearer token is missing, invalid or expired.",
      );
    }
    const found = await findOperator(c.var.ledger.control, identity);
    if (found?.status !== "active") {
      c.set("operator", null);
      throw new ApiError("forbidden", "You are not an active operator.");
    }
    c.set("operator", found);
    if (!may(found.roles, permission)) {
      throw new ApiError("forbidden", `This needs the permission ${permission}.`);
    }
    c.set("principal", {
      userId: found.id,
      roles: new Set(found.roles),
      follows: null,
      authTimeMs: null,
      adult: false,
    });
    c.set("permission", permission);
    await next();
  });
}
