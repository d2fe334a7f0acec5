import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../../src/domain/limits";
import {
  buildWinnerFilter,
  mayHaveWon,
  WINNER_FILTER_MAX_BYTES,
  winnerFilterBytes,
} from "../../../src/domain/winner-filter";

describe("the winners' Bloom filter", () => {
  it("never rules out a winner (no false negatives), for any set of ids", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 64 }), { maxLength: 300 }), (ids) => {
        const filter = buildWinnerFilter(ids);
        expect(ids.filter((id) => !mayHaveWon(filter, id))).toEqual([]);
      }),
    );
  });

  it("10,000 winners fit in 15,000 bytes and let through under 1% of 40,000 losers", () => {
    const winners = Array.from({ length: LIMITS.packetSharesMax }, (_, i) => `u${i}`);
    const filter = buildWinnerFilter(winners);
    expect(filter.byteLength).toBe(15_000);
    expect(WINNER_FILTER_MAX_BYTES).toBe(15_000);
    expect(winners.every((id) => mayHaveWon(filter, id))).toBe(true);
    const losers = Array.from({ length: 40_000 }, (_, i) => `u${LIMITS.packetSharesMax + i}`);
    const falsePositives = losers.filter((id) => mayHaveWon(filter, id)).length;
    // 12 bits and 8 hashes a winner: about 0.3% in theory.
    expect(falsePositives).toBeLessThan(400);
  });

  it("is sized by the winners, with a small floor", () => {
    expect(winnerFilterBytes(0)).toBe(8);
    expect(winnerFilterBytes(3)).toBe(8);
    expect(winnerFilterBytes(1_000)).toBe(1_500);
    expect(() => buildWinnerFilter(Array.from({ length: LIMITS.packetSharesMax + 1 }, (_, i) => `x${i}`))).toThrow(
      "no packet has more winners than shares",
    );
    const empty = buildWinnerFilter([]);
    expect(mayHaveWon(empty, "anyone")).toBe(false);
  });
});
