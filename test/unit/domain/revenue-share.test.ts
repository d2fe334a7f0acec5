import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../../src/domain/limits";
import { effectiveShareBps, splitRevenue } from "../../../src/domain/revenue-share";

describe("splitRevenue", () => {
  it("parts always sum to the price and the platform's part is the exact share rounded down", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: LIMITS.amountMaxMinor }),
        fc.integer({ min: 0, max: LIMITS.bpsMax }),
        (price, bps) => {
          const { platformMinor, creatorMinor } = splitRevenue(price, bps);
          // floor(price × bps / 10,000) in integers: price × bps stays far below 2^53.
          const shareMinor = (price * bps - ((price * bps) % LIMITS.bpsMax)) / LIMITS.bpsMax;
          expect({ platformMinor, creatorMinor }).toEqual({
            platformMinor: shareMinor,
            creatorMinor: price - shareMinor,
          });
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it("is monotone in the share: a larger share never gives the platform less", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: LIMITS.amountMaxMinor }),
        fc.integer({ min: 0, max: LIMITS.bpsMax }),
        fc.integer({ min: 0, max: LIMITS.bpsMax }),
        (price, a, b) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          expect(splitRevenue(price, lo).platformMinor).toBeLessThanOrEqual(splitRevenue(price, hi).platformMinor);
        },
      ),
    );
  });

  it.each([
    [100, 3000, 30, 70],
    [1, 3000, 0, 1],
    [667, 3000, 200, 467],
    [999, 5000, 499, 500],
    [1880, 0, 0, 1880],
    [1880, 10_000, 1880, 0],
  ])("splits %i fen at %i bps into platform %i / creator %i", (price, bps, platform, creator) => {
    expect(splitRevenue(price, bps)).toEqual({ platformMinor: platform, creatorMinor: creator });
  });

  it("refuses floats, zero, negative and out-of-range inputs as bugs", () => {
    expect(() => splitRevenue(18.8, 3000)).toThrow();
    expect(() => splitRevenue(0, 3000)).toThrow();
    expect(() => splitRevenue(-1, 3000)).toThrow();
    expect(() => splitRevenue(100, 10_001)).toThrow();
    expect(() => splitRevenue(100, 12.5)).toThrow();
  });

  it("uses a creator's override over the default", () => {
    expect(effectiveShareBps(3000, null)).toBe(3000);
    expect(effectiveShareBps(3000, 1500)).toBe(1500);
    expect(effectiveShareBps(3000, 0)).toBe(0);
  });
});
