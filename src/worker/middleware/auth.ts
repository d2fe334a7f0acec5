import { createMiddleware } from "hono/factory";
import { type Principal, type Role, verifyToken } from "../auth/jwt";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";

/**
 * Authenticates the bearer token (401 when absent or invalid) and, when roles are given,
 * requires at least one of them (403). Object-level checks — "is this your wallet" —
 * happen in the handlers, which know the object.
 */
export function requireAuth(...anyOf: Role[]) {
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
