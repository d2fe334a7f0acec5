import { importJWK, jwtVerify } from "jose";
import { z } from "zod";
import { USER_ID_PATTERN } from "../../domain/accounts";
import { LIMITS } from "../../domain/limits";
import { OPERATOR_ROLES } from "../../domain/permissions";
import type { Config } from "../../platform/config";
import { ApiError } from "../errors";
import { HOST_JWT_ALGORITHMS, hostKeySet, isKeysUnavailable } from "./jwks";

/**
 * The roles a host's token may claim. `viewer` and `creator` authorize user routes; an operator
 * role in a token authorizes nothing by itself — operators and their roles are the control
 * database's (src/db/operators.ts, domain/permissions.ts) — but hosts that issue them are not refused.
 */
export const ROLES = ["viewer", "creator", ...OPERATOR_ROLES] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  readonly userId: string;
  readonly roles: ReadonlySet<Role>;
  /**
   * Creators the user follows, when the host's login service says so (the optional
   * `follows` claim). giftwire keeps no social graph; follower-only red packets use this.
   */
  readonly follows: ReadonlySet<string> | null;
  /**
   * When the user last proved who they are to the host (the OIDC `auth_time` claim), if the
   * token says: resetting a forgotten payment PIN needs a recent one.
   */
  readonly authTimeMs: number | null;
  /**
   * The host verified this user is an adult (the optional `adult: true` claim). Risk's
   * `unverified_adult_cap` rule caps tips of users without it; operators' principals have none.
   */
  readonly adult: boolean;
}

const ClaimsSchema = z.object({
  sub: z.string().regex(USER_ID_PATTERN),
  roles: z.array(z.enum(ROLES)).max(ROLES.length),
  follows: z.array(z.string().regex(USER_ID_PATTERN)).max(LIMITS.followsPerTokenMax).optional(),
  auth_time: z.number().int().nonnegative().optional(),
  adult: z.boolean().optional(),
});

type VerifyKey = CryptoKey;

const keyCache = new Map<string, Promise<{ key: VerifyKey; alg: "HS256" | "ES256" }>>();

function verificationKey(config: Config): Promise<{ key: VerifyKey; alg: "HS256" | "ES256" }> {
  const cacheKey = config.jwt.publicJwk || `hs:${config.jwt.secret}`;
  let entry = keyCache.get(cacheKey);
  if (!entry) {
    entry = config.jwt.publicJwk
      ? importJWK(JSON.parse(config.jwt.publicJwk), "ES256").then((key) => ({
          key: key as CryptoKey,
          alg: "ES256" as const,
        }))
      : // Imported once: handing jose raw bytes would import the key again on every request.
        crypto.subtle
          .importKey("raw", new TextEncoder().encode(config.jwt.secret), { name: "HMAC", hash: "SHA-256" }, false, [
            "verify",
          ])
          .then((key) => ({ key, alg: "HS256" as const }));
    keyCache.set(cacheKey, entry);
  }
  return entry;
}

/**
 * Verifies a bearer token: signature (under the host's key set by `kid` where `HOST_JWKS_URL`
 * is set — RS256, ES256 or EdDSA; else HS256 with the shared secret, or ES256 with the host's
 * public key — one of the three, never `none`), `exp`, `iss`, `aud`, then the claims' shape.
 * Returns null for any failure: callers answer 401 without saying which check failed. Throws
 * `host_keys_unavailable` (503) when the host's key set cannot be fetched: that says
 * nothing about the token.
 */
export async function verifyToken(token: string, config: Config, nowMs: number): Promise<Principal | null> {
  try {
    const options = {
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
      currentDate: new Date(nowMs),
      requiredClaims: ["exp", "sub"],
    };
    const { payload } = config.jwt.jwks
      ? await jwtVerify(token, hostKeySet(config.jwt.jwks), { ...options, algorithms: [...HOST_JWT_ALGORITHMS] })
      : await verificationKey(config).then(({ key, alg }) => jwtVerify(token, key, { ...options, algorithms: [alg] }));
    const claims = ClaimsSchema.safeParse(payload);
    if (!claims.success) return null;
    return {
      userId: claims.data.sub,
      roles: new Set(claims.data.roles),
      follows: claims.data.follows === undefined ? null : new Set(claims.data.follows),
      authTimeMs: claims.data.auth_time === undefined ? null : claims.data.auth_time * 1000,
      adult: claims.data.adult === true,
    };
  } catch (error) {
    if (isKeysUnavailable(error)) throw new ApiError("host_keys_unavailable");
    return null;
  }
}
