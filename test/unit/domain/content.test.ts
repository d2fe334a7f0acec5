import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CONTENT_LIMITS,
  contentTipTarget,
  grantClaims,
  mergeTopTippers,
  parseUnlockPrice,
  priceUnlock,
  TtlCache,
} from "../../../src/domain/content";
import { LIMITS } from "../../../src/domain/limits";
import { formatMinor } from "../../../src/domain/money";

const price = fc.integer({ min: 1, max: LIMITS.amountMaxMinor });
const bps = fc.integer({ min: 0, max: LIMITS.bpsMax });

describe("unlock prices", () => {
  it("a formatted amount within the limits parses back to itself; null is a free item", () => {
    fc.assert(
      fc.property(price, (minor) => {
        expect(parseUnlockPrice(formatMinor(minor))).toEqual({ ok: true, value: minor });
      }),
    );
    expect(parseUnlockPrice(null)).toEqual({ ok: true, value: null });
  });

  it("refuses zero, more than the amount limit, and anything that is not an exact decimal", () => {
    expect(parseUnlockPrice("0.00")).toMatchObject({ ok: false, code: "amount_out_of_range" });
    expect(parseUnlockPrice(formatMinor(LIMITS.amountMaxMinor + 1))).toMatchObject({
      ok: false,
      code: "amount_out_of_range",
    });
    for (const bad of ["6.001", "-1.00", "1e3", "", " 6.00", "6,00"]) {
      expect(parseUnlockPrice(bad)).toMatchObject({ ok: false, code: "malformed_request" });
    }
  });
});

describe("pricing an unlock", () => {
  it("splits the price exactly like a tip: parts sum to the price, the platform's part rounded down", () => {
    fc.assert(
      fc.property(price, bps, (priceMinor, shareBps) => {
        const priced = priceUnlock({ status: "active", priceMinor, creatorId: "c" }, "u", shareBps);
        if (!priced.ok) throw new Error(priced.code);
        const { amountMinor, platformMinor, creatorMinor } = priced.value;
        expect(amountMinor).toBe(priceMinor);
        expect(platformMinor + creatorMinor).toBe(priceMinor);
        expect(platformMinor).toBe(Math.floor((priceMinor * shareBps) / LIMITS.bpsMax));
        expect(creatorMinor).toBeGreaterThanOrEqual(priceMinor - platformMinor);
      }),
    );
  });

  it("one code per reason", () => {
    expect(priceUnlock(null, "u", 0)).toMatchObject({ ok: false, code: "content_not_found" });
    expect(priceUnlock({ status: "archived", priceMinor: 100, creatorId: "c" }, "u", 0)).toMatchObject({
      code: "content_archived",
    });
    expect(priceUnlock({ status: "active", priceMinor: null, creatorId: "c" }, "u", 0)).toMatchObject({
      code: "content_not_priced",
    });
    expect(priceUnlock({ status: "active", priceMinor: 100, creatorId: "c" }, "c", 0)).toMatchObject({
      code: "cannot_unlock_own_content",
    });
  });
});

describe("grant claims", () => {
  it("last exactly the grant TTL from the second they were issued", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 47 }), (nowMs) => {
        const claims = grantClaims("u", "cnt_x", "unl_y", nowMs);
        expect(claims.iat).toBe(Math.floor(nowMs / 1000));
        expect(claims.exp - claims.iat).toBe(CONTENT_LIMITS.grantTtlSec);
        expect(claims).toMatchObject({ sub: "u", content: "cnt_x", unlock: "unl_y" });
      }),
    );
  });
});

describe("the TTL cache", () => {
  it("serves an entry until it is ttl old, never after, and never one from the future", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: -20_000, max: 20_000 }), (ttl, dt) => {
        const cache = new TtlCache<number>(ttl, 10);
        cache.set("k", 1, 100_000);
        const got = cache.get("k", 100_000 + dt);
        expect(got).toBe(dt >= 0 && dt < ttl ? 1 : undefined);
      }),
    );
  });

  it("keeps at most `max` entries, dropping the oldest first", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 60 }), (max, n) => {
        const cache = new TtlCache<number>(1_000, max);
        for (let i = 0; i < n; i++) cache.set(`k${i}`, i, 0);
        expect(cache.size).toBe(Math.min(n, max));
        for (let i = 0; i < n; i++) expect(cache.get(`k${i}`, 1)).toBe(i >= n - max ? i : undefined);
      }),
    );
  });
});

describe("content tip targets", () => {
  it("one code per reason: missing, archived, one's own; an active item of another's is its creator", () => {
    expect(contentTipTarget(null, "u1")).toMatchObject({ ok: false, code: "content_not_found" });
    expect(contentTipTarget({ status: "archived", creatorId: "c1" }, "u1")).toMatchObject({
      ok: false,
      code: "content_archived",
    });
    expect(contentTipTarget({ status: "active", creatorId: "u1" }, "u1")).toMatchObject({
      ok: false,
      code: "self_tip",
    });
    expect(contentTipTarget({ status: "active", creatorId: "c1" }, "u1")).toEqual({
      ok: true,
      value: { creatorId: "c1" },
    });
  });
});

describe("merging shards' top tippers", () => {
  /** Tips as (viewer, amount); each viewer lives in one shard (its index mod the shard count). */
  const tips = fc.array(fc.tuple(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 1, max: 1_000 })), {
    maxLength: 200,
  });
  const byAmountThenId = (a: [string, number], b: [string, number]) =>
    b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

  it("equals the top of all tips summed per viewer, when each viewer's tips are in one shard", () => {
    fc.assert(
      fc.property(tips, fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 12 }), (all, shards, limit) => {
        const whole = new Map<string, number>();
        const perShard = Array.from({ length: shards }, () => new Map<string, number>());
        for (const [viewer, amount] of all) {
          const id = `u${viewer}`;
          whole.set(id, (whole.get(id) ?? 0) + amount);
          const shard = perShard[viewer % shards] as Map<string, number>;
          shard.set(id, (shard.get(id) ?? 0) + amount);
        }
        // Each shard answers its own top `limit`, as its query does.
        const lists = perShard.map((m) =>
          [...m]
            .sort(byAmountThenId)
            .slice(0, limit)
            .map(([userId, amountMinor]) => ({ userId, amountMinor })),
        );
        const expected = [...whole]
          .sort(byAmountThenId)
          .slice(0, limit)
          .map(([userId, amountMinor], i) => ({ rank: i + 1, userId, amountMinor }));
        expect(mergeTopTippers(lists, limit)).toEqual(expected);
      }),
    );
  });

  it("sums a viewer found in two shards (older tips left behind by a bucket move)", () => {
    expect(
      mergeTopTippers(
        [
          [
            { userId: "a", amountMinor: 50 },
            { userId: "b", amountMinor: 40 },
          ],
          [{ userId: "b", amountMinor: 20 }],
        ],
        2,
      ),
    ).toEqual([
      { rank: 1, userId: "b", amountMinor: 60 },
      { rank: 2, userId: "a", amountMinor: 50 },
    ]);
    expect(mergeTopTippers([], 3)).toEqual([]);
  });
});
