import { type JWTPayload, SignJWT } from "jose";
import type { Config } from "../src/platform/config";
import type { Role } from "../src/worker/auth/jwt";

/**
 * Mints an HS256 token with the deployment's JWT_SECRET, as the host's login service would.
 * Development and tests only (the `/v1/dev/tokens` route of dev/giftwire-dev.ts, the demo
 * seed, test helpers): giftwire itself only verifies tokens, and the production bundle holds
 * no way to make one.
 */
export async function mintToken(
  config: Pick<Config, "jwt">,
  subject: { userId: string; roles: readonly Role[] },
  nowMs: number,
  ttlSeconds = 12 * 60 * 60,
  extra: JWTPayload = {},
): Promise<string> {
  const nowS = Math.floor(nowMs / 1000);
  return new SignJWT({ roles: [...subject.roles], ...extra })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(subject.userId)
    .setIssuer(config.jwt.issuer)
    .setAudience(config.jwt.audience)
    .setIssuedAt(nowS)
    .setExpirationTime(nowS + ttlSeconds)
    .sign(new TextEncoder().encode(config.jwt.secret));
}
