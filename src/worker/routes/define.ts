import { createRoute, type RouteConfig } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { rolesWith } from "../../domain/permissions";
import type { AppEnv } from "../context";
import { authenticate, needsBearer, permissionOf, type RouteAuth } from "../middleware/auth";
import { bearerSecurity } from "../schemas";

/**
 * `createRoute` with the route's auth as a required field. The declaration becomes the route's
 * first middleware (so auth runs before validation: an unauthenticated caller gets 401, not a
 * schema error), its OpenAPI `security`, and an `x-giftwire-auth` extension holding the
 * declaration verbatim — which the generated security test reads to know what to expect.
 * Further middleware (a route's own body limit) runs after auth.
 */
export function defineRoute<const R extends Omit<RouteConfig, "middleware" | "security">>(
  config: R & { auth: RouteAuth; middleware?: MiddlewareHandler<AppEnv>[] },
) {
  const { auth, middleware = [], ...route } = config;
  const permission = permissionOf(auth);
  return createRoute({
    ...route,
    // An operator route's description says which permission, and so which roles, it needs —
    // from the matrix itself, so the document cannot drift from what the gate enforces.
    ...(permission
      ? {
          description: [
            route.description,
            `Needs the permission \`${permission}\` (roles: ${rolesWith(permission).join(", ")}).`,
          ]
            .filter((part) => part !== undefined)
            .join("\n\n"),
        }
      : {}),
    middleware: [authenticate(auth), ...middleware],
    ...(needsBearer(auth) ? { security: bearerSecurity } : {}),
    "x-giftwire-auth": auth,
  });
}
