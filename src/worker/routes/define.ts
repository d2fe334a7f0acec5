import { createRoute, type RouteConfig } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { rolesWith } from "../../domain/permissions";
import { RATE_LIMITS, type RouteRateLimit } from "../../domain/rate-limits";
import type { AppEnv } from "../context";
import { authenticate, needsBearer, partnerScopeOf, permissionOf, type RouteAuth } from "../middleware/auth";
import { limitRoute } from "../middleware/rate-limit";
import { type FourEyesDeclaration, proposedResponse } from "../proposals";
import { bearerSecurity, errorResponses, partnerKeySecurity } from "../schemas";

/**
 * `createRoute` with the route's auth as a required field. The declaration becomes the route's
 * first middleware (so auth runs before validation: an unauthenticated caller gets 401, not a
 * schema error), its OpenAPI `security`, and an `x-giftwire-auth` extension holding the
 * declaration verbatim — which the generated security test reads to know what to expect.
 *
 * A money route also declares its `rateLimit` (domain/rate-limits.ts): the per-user limit of its
 * kind and the per-address one. They run right after auth (the user is known), before
 * validation, and are documented as `x-giftwire-rate-limit`; the security test requires them on
 * every money route. Every bearer route documents 429: a caller past its failed-authentication
 * limit gets it there. Further middleware (a route's own body limit) runs after these.
 *
 * An operator route that may keep its request as a four-eyes proposal declares when
 * (`fourEyes: { when }`): the route gets the 202 answer in its responses, a line in its
 * description and an `x-giftwire-four-eyes` extension (the security test holds the set of
 * four-eyed routes to the list), and `fourEyes(c, rule)` refuses to propose for a route
 * that did not declare it.
 */
export function defineRoute<const R extends Omit<RouteConfig, "middleware" | "security">>(
  config: R & {
    auth: RouteAuth;
    rateLimit?: RouteRateLimit;
    fourEyes?: FourEyesDeclaration;
    middleware?: MiddlewareHandler<AppEnv>[];
  },
) {
  const { auth, rateLimit, fourEyes, middleware = [], ...route } = config;
  const permission = permissionOf(auth);
  if (fourEyes !== undefined && permission === null) throw new Error("only operator routes are four-eyed");
  const partnerScope = partnerScopeOf(auth);
  const mayRefuse429 = rateLimit !== undefined || needsBearer(auth) || partnerScope !== null;
  const security: Record<string, string[]>[] | undefined = partnerScope
    ? partnerKeySecurity
    : needsBearer(auth)
      ? bearerSecurity
      : undefined;
  const declareFourEyes: MiddlewareHandler<AppEnv> = async (c, next) => {
    c.set("fourEyes", fourEyes);
    await next();
  };
  return createRoute({
    ...route,
    // An operator route's description says which permission, and so which roles, it needs —
    // from the matrix itself, so the document cannot drift from what the gate enforces; a
    // partner route's says which API key scope.
    ...(permission || partnerScope
      ? {
          description: [
            route.description,
            permission
              ? `Needs the permission \`${permission}\` (roles: ${rolesWith(permission).join(", ")}).`
              : undefined,
            partnerScope
              ? `Needs a partner API key with the scope \`${partnerScope}\` (Authorization: Bearer gw_… or X-Api-Key).`
              : undefined,
            fourEyes
              ? `Four-eyed ${fourEyes.when}: kept as a proposal (202) until another operator with the permission approves it.`
              : undefined,
          ]
            .filter((part) => part !== undefined)
            .join("\n\n"),
        }
      : {}),
    responses: mayRefuse429 ? { ...errorResponses(429), ...route.responses } : route.responses,
    // A four-eyed route may answer 202 with the proposal (the handler's type stays its own).
    ...(fourEyes ? { responses: { ...errorResponses(429), ...route.responses, ...proposedResponse } } : {}),
    middleware: [
      authenticate(auth),
      ...(rateLimit ? [limitRoute(rateLimit)] : []),
      ...(fourEyes ? [declareFourEyes] : []),
      ...middleware,
    ],
    ...(security ? { security } : {}),
    "x-giftwire-auth": auth,
    ...(fourEyes ? { "x-giftwire-four-eyes": fourEyes } : {}),
    ...(rateLimit
      ? {
          "x-giftwire-rate-limit": [rateLimit.user, rateLimit.ip].map((name) => ({
            name,
            key: RATE_LIMITS[name].keyKind,
            limit: RATE_LIMITS[name].limit,
            periodS: RATE_LIMITS[name].periodS,
          })),
        }
      : {}),
  });
}
