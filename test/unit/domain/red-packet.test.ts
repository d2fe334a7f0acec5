import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../../src/domain/limits";
import {
  cryptoRandomInt,
  drawLucky,
  equalShare,
  inFlightClaimsMax,
  nextShare,
  type RandomInt,
  type SplitMode,
  validatePacket,
} from "../../../src/domain/red-packet";

/** Claims a whole packet with the given randomness; returns every share in claim order. */
function claimAll(split: SplitMode, totalMinor: number, shares: number, randomInt: RandomInt): number[] {
  const out: number[] = [];
  let remainingMinor = totalMinor;
  for (let remainingShares = shares; remainingShares > 0; remainingShares--) {
    const amount = nextShare(split, { totalMinor, shares }, { remainingMinor, remainingShares }, randomInt);
    out.push(amount);
    remainingMinor -= amount;
  }
  return out;
}

/** Randomness driven by fast-check: a seeded stream of picks mapped into each requested range. */
function seededRandom(seed: number): RandomInt {
  let state = seed >>> 0 || 1;
  return (min, max) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return min + ((state >>> 0) % (max - min + 1));
  };
}

const shape = fc.integer({ min: 1, max: 2_000 }).chain((shares) =>
  fc.record({
    shares: fc.constant(shares),
    totalMinor: fc.integer({ min: shares, max: Math.min(shares * 20_000, LIMITS.packetTotalMaxMinor) }),
  }),
);

describe("lucky split (double mean)", () => {
  it("every share is ≥ 1 fen, within twice the remaining mean, and the shares sum exactly to the total", () => {
    fc.assert(
      fc.property(shape, fc.integer(), ({ shares, totalMinor }, seed) => {
        const random = seededRandom(seed);
        const amounts: number[] = [];
        let remainingMinor = totalMinor;
        for (let remainingShares = shares; remainingShares > 0; remainingShares--) {
          const amount = drawLucky({ remainingMinor, remainingShares }, random);
          const cap =
            remainingShares > 1 ? Math.max(1, Math.floor((2 * remainingMinor) / remainingShares)) : remainingMinor;
          const ok =
            Number.isSafeInteger(amount) &&
            amount >= 1 &&
            amount <= cap &&
            remainingMinor - amount >= remainingShares - 1;
          if (!ok) expect({ amount, cap, remainingMinor, remainingShares }).toBe("a valid draw");
          amounts.push(amount);
          remainingMinor -= amount;
        }
        expect(amounts.reduce((a, b) => a + b, 0)).toBe(totalMinor);
        expect(remainingMinor).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it("works at the extremes: min and max draws everywhere still sum to the total", () => {
    const alwaysMin: RandomInt = (min) => min;
    const alwaysMax: RandomInt = (_, max) => max;
    for (const random of [alwaysMin, alwaysMax]) {
      for (const [total, shares] of [
        [1, 1],
        [2, 2],
        [10_000, 10_000],
        [LIMITS.packetTotalMaxMinor, 100],
        [LIMITS.packetTotalMaxMinor, LIMITS.packetSharesMax],
        [10_001, 10_000],
      ] as const) {
        const amounts = claimAll("lucky", total, shares, random);
        expect(amounts.length).toBe(shares);
        expect(amounts.reduce((a, b) => a + b, 0)).toBe(total);
        expect(Math.min(...amounts)).toBeGreaterThanOrEqual(1);
      }
    }
  });

  it("with the CSPRNG the mean share is close to total ÷ shares (no systematic bias)", () => {
    const totalMinor = 100_000;
    const shares = 100;
    const firstDraws: number[] = [];
    for (let i = 0; i < 2_000; i++) firstDraws.push(drawLucky({ remainingMinor: totalMinor, remainingShares: shares }));
    const mean = firstDraws.reduce((a, b) => a + b, 0) / firstDraws.length;
    // Uniform on [1, 2000]: mean 1000.5, sd ≈ 577; the mean of 2,000 draws is within ±5 sd (≈ 65) of it.
    expect(Math.abs(mean - 1000.5)).toBeLessThan(65);
    expect(Math.max(...firstDraws)).toBeLessThanOrEqual(2_000);
  });
});

describe("equal split", () => {
  it("gives base or base + 1, the extra fen to the earliest claims, summing exactly", () => {
    fc.assert(
      fc.property(shape, ({ shares, totalMinor }) => {
        const amounts = claimAll("equal", totalMinor, shares, () => {
          throw new Error("equal split uses no randomness");
        });
        const base = Math.floor(totalMinor / shares);
        expect(amounts.reduce((a, b) => a + b, 0)).toBe(totalMinor);
        expect(amounts).toEqual(amounts.map((_, i) => base + (i < totalMinor % shares ? 1 : 0)));
        expect(equalShare({ totalMinor, shares }, shares - 1)).toBe(base);
      }),
      { numRuns: 300 },
    );
  });
});

describe("validatePacket", () => {
  it("accepts shapes inside the named limits", () => {
    expect(validatePacket({ totalMinor: 8_888, shares: 10 }).ok).toBe(true);
    expect(validatePacket({ totalMinor: 10_000, shares: 10_000 }).ok).toBe(true);
    expect(validatePacket({ totalMinor: 1, shares: 1 }).ok).toBe(true);
  });
  it.each([
    ["less than 1 fen per share", 9, 10],
    ["no shares", 100, 0],
    ["too many shares", 20_000, LIMITS.packetSharesMax + 1],
    ["total above the cap", LIMITS.packetTotalMaxMinor + 1, 1_000],
    ["average share above the cap", LIMITS.packetAverageShareMaxMinor * 2 + 1, 2],
    ["fractional shares", 100, 1.5],
    ["zero total", 0, 1],
  ])("rejects %s with amount_out_of_range", (_, totalMinor, shares) => {
    const result = validatePacket({ totalMinor, shares });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.code).toBe("amount_out_of_range");
  });
});

describe("flow control and randomness", () => {
  it("admits about one and a half times the shares left, at least one", () => {
    expect(inFlightClaimsMax(1_000)).toBe(1_500);
    expect(inFlightClaimsMax(1)).toBe(2);
    expect(inFlightClaimsMax(0)).toBe(1);
  });
  it("cryptoRandomInt stays inside its range", () => {
    for (let i = 0; i < 1_000; i++) {
      const v = cryptoRandomInt(1, 3);
      expect(v >= 1 && v <= 3).toBe(true);
    }
    expect(cryptoRandomInt(7, 7)).toBe(7);
  });
});
