/**
 * Content items and paid unlocks (issue 19, 付费阅读): the pure rules. A host registers an item
 * (an article, a video, a post, a live room) owned by a creator, optionally with a price to
 * unlock; a user unlocks a priced item once from the wallet, which grants an entitlement. The
 * money splits exactly like a tip (`splitRevenue`: the platform's part rounded down, the
 * creator gets the rest).
 */

import { type ErrorCode, fail, ok, type Result } from "./errors";
import { assert, isSafeAmountMinor } from "./limits";
import { parseAmountMinor } from "./money";
import { type RevenueSplit, splitRevenue } from "./revenue-share";

export const CONTENT_KINDS = ["article", "video", "post", "live_room"] as const;
export type ContentKind = (typeof CONTENT_KINDS)[number];

export const CONTENT_STATUSES = ["active", "archived"] as const;
export type ContentStatus = (typeof CONTENT_STATUSES)[number];

/** Bounds on the registry and the entitlement check. */
export const CONTENT_LIMITS = {
  /** A host's own reference for the item (its article id, URL slug). */
  externalRefMaxLength: 128,
  pageMax: 100,
  /**
   * How long an isolate (and a host's HTTP cache, `Cache-Control: max-age`) may answer an
   * entitlement check from its copy: a refund reaches every isolate within this bound.
   */
  entitlementCacheTtlMs: 5_000,
  /** Entries one isolate's entitlement cache keeps (the stalest is dropped first). */
  entitlementCacheMax: 10_000,
  /** A grant token's life: a host verifying it offline honours a refund within this bound. */
  grantTtlSec: 300,
  /**
   * How long an isolate may answer a content item's tip leaderboard from its copy (a new tip
   * shows within this bound; the isolate that took the tip forgets its copy at once).
   */
  leaderboardCacheTtlMs: 5_000,
  /** Leaderboards one isolate keeps (the stalest is dropped first). */
  leaderboardCacheMax: 1_000,
  /** A page of an item's recent tips (`GET /v1/content/{id}/tips`); its first page is cached like the leaderboard. */
  recentTipsPageMax: 50,
  recentTipsPageDefault: 10,
} as const;

/**
 * The unlock price as given ("18.80", or null for a free item): exact minor units within the
 * amount limits, or `invalid_amount` / `amount_out_of_range` as a value.
 */
export function parseUnlockPrice(price: string | null): Result<number | null, ErrorCode> {
  if (price === null) return ok(null);
  return parseAmountMinor(price);
}

/** What the registry knows of an item when a user asks to unlock it. */
export interface UnlockTarget {
  readonly status: ContentStatus;
  readonly priceMinor: number | null;
  readonly creatorId: string;
}

export interface PricedUnlock extends RevenueSplit {
  readonly amountMinor: number;
  readonly shareBps: number;
}

/**
 * Prices an unlock: the item exists, is active and priced, the payer is not its creator, and
 * the price splits at the platform's rate. One result code per reason.
 */
export function priceUnlock(
  item: UnlockTarget | null,
  payerId: string,
  shareBps: number,
): Result<PricedUnlock, ErrorCode> {
  if (item === null) return fail("content_not_found");
  if (item.status !== "active") return fail("content_archived");
  if (item.priceMinor === null) return fail("content_not_priced");
  if (item.creatorId === payerId) return fail("cannot_unlock_own_content");
  assert(isSafeAmountMinor(item.priceMinor), "a stored price is a positive safe amount");
  const split = splitRevenue(item.priceMinor, shareBps);
  return ok({ amountMinor: item.priceMinor, shareBps, ...split });
}

/** The claims of a grant token (signed ES256 by the Worker; verified by hosts against the JWKS). */
export interface GrantClaims {
  readonly sub: string;
  readonly content: string;
  readonly unlock: string;
  readonly iat: number;
  readonly exp: number;
}

export const GRANT_AUDIENCE = "giftwire-content-grant";

/** A grant's claims for an entitlement seen at `nowMs`: valid for `grantTtlSec`. */
export function grantClaims(userId: string, contentId: string, unlockId: string, nowMs: number): GrantClaims {
  const iat = Math.floor(nowMs / 1000);
  return { sub: userId, content: contentId, unlock: unlockId, iat, exp: iat + CONTENT_LIMITS.grantTtlSec };
}

/**
 * A small clock-bounded cache (the isolate's entitlement answers): an entry is served until it
 * is `ttlMs` old; the oldest entry is dropped when it is full. The clock is passed in.
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; atMs: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
  ) {
    assert(ttlMs >= 0 && max >= 1, "a cache with a TTL and room");
  }

  get(key: string, nowMs: number): V | undefined {
    const hit = this.entries.get(key);
    if (hit === undefined) return undefined;
    if (nowMs - hit.atMs >= this.ttlMs || nowMs < hit.atMs) {
      this.entries.delete(key);
      return undefined;
    }
    return hit.value;
  }

  set(key: string, value: V, nowMs: number): void {
    this.entries.delete(key);
    if (this.entries.size >= this.max) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, { value, atMs: nowMs });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}

/** What the registry knows of an item when a user tips it (issue 19: tips on content). */
export interface TipContentTarget {
  readonly status: ContentStatus;
  readonly creatorId: string;
}

/**
 * Whether `viewerId` may tip this item now: it exists, is active and is not the viewer's own.
 * Unlike an unlock, the item need not be priced, and unlike a room, its creator need not be live.
 */
export function contentTipTarget(
  item: TipContentTarget | null,
  viewerId: string,
): Result<{ readonly creatorId: string }, ErrorCode> {
  if (item === null) return fail("content_not_found");
  if (item.status !== "active") return fail("content_archived");
  if (item.creatorId === viewerId) return fail("self_tip");
  return ok({ creatorId: item.creatorId });
}

/** One tipper's total on an item, as one ledger shard sums it (all of a viewer's tips are in their shard). */
export interface TipperTotal {
  readonly userId: string;
  readonly amountMinor: number;
}

export interface RankedTipper extends TipperTotal {
  readonly rank: number;
}

/**
 * The top `limit` tippers from each shard's own top `limit`: exact, because a viewer's tips all
 * live in the viewer's shard, so each shard's totals are whole and no user is in two lists.
 * (A bucket move leaves a moved viewer's older tips in the old shard: such a viewer's parts are
 * summed here, exact whenever each part made its shard's top; docs/ARCHITECTURE.md says so.)
 * Largest first; ties by user id (the order each shard's query uses), ranks 1..n.
 */
export function mergeTopTippers(perShard: readonly (readonly TipperTotal[])[], limit: number): RankedTipper[] {
  assert(Number.isInteger(limit) && limit >= 1, "a leaderboard has a positive limit");
  const totals = new Map<string, number>();
  for (const list of perShard) {
    for (const entry of list) {
      const sum = (totals.get(entry.userId) ?? 0) + entry.amountMinor;
      assert(Number.isSafeInteger(sum) && entry.amountMinor > 0, "a tipper's total is a positive safe integer");
      totals.set(entry.userId, sum);
    }
  }
  return [...totals]
    .sort(([ua, a], [ub, b]) => b - a || (ua < ub ? -1 : ua > ub ? 1 : 0))
    .slice(0, limit)
    .map(([userId, amountMinor], i) => ({ rank: i + 1, userId, amountMinor }));
}
