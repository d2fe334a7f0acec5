import { createRemoteJWKSet, type JWTVerifyGetKey, jwtVerify } from "jose";
import { z } from "zod";
import { LIMITS } from "../../domain/limits";
import type { AccessSettings } from "../../platform/config";

/**
 * Cloudflare Access in front of the operator API (issue 15). Access signs every request it
 * forwards with `Cf-Access-Jwt-Assertion`: RS256 under the team's rotating keys, published at
 * `{team}/cdn-cgi/access/certs`; `iss` is the team domain and `aud` holds the application's
 * AUD tag. A person's token carries `email`; a service token's (machine access) carries
 * `common_name` = its client id and an empty `sub`.
 *
 * Only who the caller is comes from here; whether they are an operator, and with which roles,
 * is the control database's (src/db/operators.ts).
 */
export type AccessIdentity =
  | { readonly kind: "person"; readonly email: string }
  | { readonly kind: "service"; readonly clientId: string };

const Claims = z.union([
  z.object({ email: z.email().max(LIMITS.emailMaxLength) }),
  z.object({ sub: z.literal(""), common_name: z.string().min(1).max(LIMITS.accessClientIdMaxLength) }),
]);

/**
 * One key set per team domain, kept for the isolate's life: jose caches the keys it fetched
 * (refetching at most every 30 s when a token names a `kid` it has not seen, which is how a
 * key rotation arrives) so a request costs no fetch once the set is warm.
 */
const keySets = new Map<string, JWTVerifyGetKey>();

function keySetOf(teamDomain: string): JWTVerifyGetKey {
  let keys = keySets.get(teamDomain);
  if (!keys) {
    keys = createRemoteJWKSet(new URL(`${teamDomain}/cdn-cgi/access/certs`));
    keySets.set(teamDomain, keys);
  }
  return keys;
}

/**
 * Verifies an Access assertion: RS256 only, signature under the team's keys, `iss`, `aud`,
 * `exp`. Null for any failure — the caller answers 401 without saying which check failed.
 */
export async function verifyAccessAssertion(
  assertion: string,
  settings: AccessSettings,
  nowMs: number,
): Promise<AccessIdentity | null> {
  try {
    const { payload } = await jwtVerify(assertion, keySetOf(settings.teamDomain), {
      algorithms: ["RS256"],
      issuer: settings.teamDomain,
      audience: settings.aud,
      currentDate: new Date(nowMs),
      requiredClaims: ["exp"],
    });
    const claims = Claims.safeParse(payload);
    if (!claims.success) return null;
    return "email" in claims.data
      ? { kind: "person", email: claims.data.email.toLowerCase() }
      : { kind: "service", clientId: claims.data.common_name };
  } catch {
    return null;
  }
}
