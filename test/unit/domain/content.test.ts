import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CONTENT_LIMITS, grantClaims, parseUnlockPrice, priceUnlock, TtlCache } from "../../../src/domain/content";
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
