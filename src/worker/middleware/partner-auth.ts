import type { Context, MiddlewareHandler } from "hono";
import { findKeyByHash, type KeyForGate, scopesOf, touchKey } from "../../db/partners";
import {
  hashPartnerKey,
  judgePartnerKey,
  lastUsedDue,
  PARTNER_KEY_CACHE_TTL_MS,
  PARTNER_KEY_LAST_USED_INTERVAL_MS,
  type PartnerKeyMode,
  type PartnerScope,
  parsePartnerKey,
} from "../../domain/partner-keys";
import { partnerKeyKey } from "../../domain/rate-limits";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { countAuthFailure, rateLimited, refusedForAuthFailures } from "./rate-limit";

/**
 * Partner API key authentication (issue 18): its own gate beside user tokens, for the
 * /v1/partner routes, each of which declares the one scope it needs (`auth: { partnerScope }`).
 * The key comes as `Authorization: Bearer gw_…` or `X-Api-Key: gw_…`. Order: the caller's
 * failed-authentication limit (429), a well-formed key found by its hash (401, counted as a
 * failed authentication), not revoked or expired (401, counted), its partner active (403), the
 * scope held (403), then the per-key rate limit (429). A user's bearer token is not a key: 401.
 *
 * The bound: an isolate keeps a key's row for PARTNER_KEY_CACHE_TTL_MS (10 s), so a revocation
 * written by any isolate is honoured everywhere within 10 s; expiry is judged on every request
 * from the row's `expires_at_ms`, so it is exact; the isolate that revokes drops its copy at once.
 */

export interface PartnerCaller {
  readonly partnerId: string;
  readonly keyId: string;
  readonly mode: PartnerKeyMode;
  readonly scopes: readonly PartnerScope[];
}

interface Cached {
  row: KeyForGate;
  fetchedAtMs: number;
}

const cache = new Map<string, Cached>();
const CACHE_MAX = 10_000;

/** Drops this isolate's copy of a key (after revoking it here); other isolates follow within the TTL. */
export function forgetPartnerKey(keyId: string): void {
  for (const [hash, entry] of cache) if (entry.row.id === keyId) cache.delete(hash);
}

const BEARER_KEY = /^Bearer (\S{1,200})$/;

/** The key the request presents, from `X-Api-Key` or the bearer header; undefined when neither is there. */
function presentedKey(c: Context<AppEnv>): string | undefined {
  const header = c.req.header("x-api-key");
  if (header !== undefined) return header.trim();
  const authorization = c.req.header("authorization");
  if (authorization === undefined) return undefined;
  return BEARER_KEY.exec(authorization)?.[1] ?? "";
}

async function keyRow(db: D1Database, hash: string, nowMs: number): Promise<KeyForGate | null> {
  const hit = cache.get(hash);
  if (hit && nowMs - hit.fetchedAtMs < PARTNER_KEY_CACHE_TTL_MS) return hit.row;
  const row = await findKeyByHash(db, hash);
  cache.delete(hash);
  if (row) {
    if (cache.size >= CACHE_MAX) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    cache.set(hash, { row, fetchedAtMs: nowMs });
  }
  return row;
}

export function requirePartnerKey(scope: PartnerScope): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const nowMs = Date.now();
    const refused = refusedForAuthFailures(c, nowMs);
    if (refused) return refused;
    const raw = presentedKey(c);
    if (raw === undefined)
      throw new ApiError("unauthenticated", "Send the partner API key: Authorization: Bearer gw_… or X-Api-Key.");
    const refuse = async (message: string) => {
      const overLimit = await countAuthFailure(c, nowMs);
      if (overLimit) return overLimit;
      throw new ApiError("unauthenticated", message);
    };
    if (parsePartnerKey(raw) === null) return refuse("That is not a partner API key.");
    const row = await keyRow(c.var.ledger.control, hashPartnerKey(raw), nowMs);
    if (!row) return refuse("The API key is not known.");
    const scopes = scopesOf(row);
    const verdict = judgePartnerKey(
      {
        revokedAtMs: row.revoked_at_ms,
        expiresAtMs: row.expires_at_ms,
        partnerActive: row.partner_status === "active",
        scopes,
      },
      scope,
      nowMs,
    );
    if (verdict === "revoked") return refuse("The API key is revoked.");
    if (verdict === "expired") return refuse("The API key has expired.");
    if (verdict === "partner_disabled") throw new ApiError("forbidden", "The partner is disabled.");
    if (verdict === "missing_scope") throw new ApiError("forbidden", `This needs the API key scope ${scope}.`);
    const { success } = await c.env.RL_PARTNER_KEY.limit({ key: partnerKeyKey(row.id) });
    if (!success) return rateLimited(c, "partnerKey");
    if (lastUsedDue(row.last_used_at_ms, nowMs)) {
      row.last_used_at_ms = nowMs;
      const write = touchKey(c.var.ledger.control, row.id, nowMs, PARTNER_KEY_LAST_USED_INTERVAL_MS).catch((error) =>
        c.var.log.warn("partner_key_touch_failed", { keyId: row.id, error: String(error) }),
      );
      try {
        c.executionCtx.waitUntil(write);
      } catch {
        await write;
      }
    }
    c.set("partner", { partnerId: row.partner_id, keyId: row.id, mode: row.mode, scopes });
    await next();
  };
}
