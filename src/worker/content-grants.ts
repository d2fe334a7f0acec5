import { type CryptoKey, exportJWK, importJWK, type JWK, SignJWT } from "jose";
import type { Ledger } from "../db/shards";
import { CONTENT_LIMITS, GRANT_AUDIENCE, grantClaims, TtlCache } from "../domain/content";
import type { Config } from "../platform/config";

/**
 * Entitlement answers for hosts (issue 19): whether a user holds an active entitlement to a
 * content item, from this isolate's copy when it is younger than
 * `CONTENT_LIMITS.entitlementCacheTtlMs` (5 s), else from the user's ledger shard. A refund or
 * an unlock made through this isolate drops its copy at once; other isolates follow within
 * the TTL, and a host's HTTP cache within the same bound (`Cache-Control: max-age=5`).
 *
 * A positive answer carries a grant token: an ES256 JWT (`sub` the user, `content` the item,
 * `unlock` the entitlement, `aud` giftwire-content-grant, `iss` JWT_ISSUER, 5 minutes) that a
 * host verifies offline against the public keys at /v1/content/grants/jwks.json.
 */

export interface EntitlementAnswer {
  readonly entitled: boolean;
  readonly unlockId: string | null;
  readonly grantedAtMs: number | null;
}

const answers = new TtlCache<EntitlementAnswer>(
  CONTENT_LIMITS.entitlementCacheTtlMs,
  CONTENT_LIMITS.entitlementCacheMax,
);

const cacheKey = (userId: string, contentId: string) => `${userId}\u0000${contentId}`;

/** Drops this isolate's answer for the pair (after an unlock or a refund committed here). */
export function forgetEntitlement(userId: string, contentId: string): void {
  answers.delete(cacheKey(userId, contentId));
}

/** The answer and whether it came from this isolate's copy. */
export async function entitlementOf(
  ledger: Ledger,
  userId: string,
  contentId: string,
  nowMs: number,
): Promise<{ readonly answer: EntitlementAnswer; readonly cached: boolean }> {
  const key = cacheKey(userId, contentId);
  const hit = answers.get(key, nowMs);
  if (hit !== undefined) return { answer: hit, cached: true };
  const row = await ledger
    .forOwner(userId)
    .db.prepare("SELECT id, created_at_ms FROM entitlements WHERE user_id = ? AND content_id = ? AND state = 'active'")
    .bind(userId, contentId)
    .first<{ id: string; created_at_ms: number }>();
  const answer: EntitlementAnswer = row
    ? { entitled: true, unlockId: row.id, grantedAtMs: row.created_at_ms }
    : { entitled: false, unlockId: null, grantedAtMs: null };
  answers.set(key, answer, nowMs);
  return { answer, cached: false };
}

interface SigningKey {
  readonly source: string;
  readonly kid: string;
  readonly privateKey: CryptoKey | Uint8Array;
  readonly publicJwk: JWK;
}

let signing: SigningKey | null = null;

async function signingKey(config: Config): Promise<SigningKey | null> {
  if (config.grantSigningJwk === "") return null;
  if (signing !== null && signing.source === config.grantSigningJwk) return signing;
  const jwk = JSON.parse(config.grantSigningJwk) as JWK;
  if (jwk.kty !== "EC" || jwk.crv !== "P-256" || typeof jwk.d !== "string" || typeof jwk.kid !== "string") {
    throw new Error("GRANT_SIGNING_JWK must be a P-256 private JWK with a kid");
  }
  const privateKey = await importJWK({ ...jwk, alg: "ES256" }, "ES256");
  const { d: _private, ...rest } = jwk;
  const publicJwk = await exportJWK(await importJWK({ ...rest, alg: "ES256" }, "ES256"));
  signing = {
    source: config.grantSigningJwk,
    kid: jwk.kid,
    privateKey,
    publicJwk: { ...publicJwk, kid: jwk.kid, alg: "ES256", use: "sig" },
  };
  return signing;
}

/** A grant token for an active entitlement, or null when no signing key is configured. */
export async function grantToken(
  config: Config,
  userId: string,
  contentId: string,
  unlockId: string,
  nowMs: number,
): Promise<string | null> {
  const key = await signingKey(config);
  if (key === null) return null;
  const claims = grantClaims(userId, contentId, unlockId, nowMs);
  return new SignJWT({ content: claims.content, unlock: claims.unlock })
    .setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "JWT" })
    .setSubject(claims.sub)
    .setIssuer(config.jwt.issuer)
    .setAudience(GRANT_AUDIENCE)
    .setIssuedAt(claims.iat)
    .setExpirationTime(claims.exp)
    .sign(key.privateKey);
}

/** The public key set hosts verify grants against (empty when grants are not configured). */
export async function grantJwks(config: Config): Promise<{ keys: JWK[] }> {
  const key = await signingKey(config);
  return { keys: key === null ? [] : [key.publicJwk] };
}
