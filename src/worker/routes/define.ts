import { createRoute, type RouteConfig } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { rolesWith } from "../../domain/permissions";
import type { AppEnv } from "../context";
import { authenticate, needsBearer, permissionOf, type RouteAuth } from "../middleware/auth";
import { type FourEyesDeclaration, proposedResponse } from "../proposals";
import { bearerSecurity } from "../schemas";

/**
 * `createRoute` with the route's auth as a required field. The declaration becomes the route's
 * first middleware (so auth runs before validation: an unauthenticated caller gets 401, not a
 * schema error), its OpenAPI `security`, and an `x-giftwire-auth` extension holding the
 * declaration verbatim — which the generated security test reads to know what to expect.
 * Further middleware (a route's own body limit) runs after auth.
 *
 * An operator route that may keep its request as a four-eyes proposal declares when
 * (`fourEyes: { when }`): the route gets the 202 answer in its responses, a line in its
 * description and an `x-giftwire-four-eyes` extension (the security test holds the set of
 * four-eyed routes to the list), and `fourEyes(c, rule)` refuses to propose for a route
 * that did not declare it.
 */
export function defineRoute<const R extends Omit<RouteConfig, "middleware" | "security">>(
  config: R & { auth: RouteAuth; fourEyes?: FourEyesDeclaration; middleware?: MiddlewareHandler<AppEnv>[] },
) {
  const { auth, fourEyes, middleware = [], ...route } = config;
  const permission = permissionOf(auth);
  if (fourEyes !== undefined && permission === null) throw new Error("only operator routes are four-eyed");
  const declareFourEyes: MiddlewareHandler<AppEnv> = async (c, next) => {
    c.set("fourEyes", fourEyes);
    await next();
  };
  return createRoute({
    ...route,
    ...(fourEyes ? { responses: { ...route.responses, ...proposedResponse } } : {}),
    // An operator route's description says which permission, and so which roles, it needs —
    // from the matrix itself, so the document cannot drift from what the gate enforces.
    ...(permission
      ? {
          description: [
            route.description,
            `Needs the permission \`${permission}\` (roles: ${rolesWith(permission).join(", ")}).`,
            fourEyes
              ? `Four-eyed ${fourEyes.when}: kept as a proposal (202) until another operator with the permission approves it.`
              : undefined,
          ]
            .filter((part) => part !== undefined)
            .join("\n\n"),
        }
      : {}),
    middleware: [authenticate(auth), ...(fourEyes ? [declareFourEyes] : []), ...middleware],
    ...(needsBearer(auth) ? { security: bearerSecurity } : {}),
    "x-giftwire-auth": auth,
    ...(fourEyes ? { "x-giftwire-four-eyes": fourEyes } : {}),
  });
}
