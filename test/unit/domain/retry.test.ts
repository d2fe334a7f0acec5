import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RETRY_CURVES, type RetryCurveName, retryDelayMs } from "../../../src/domain/retry";

const CURVES = Object.keys(RETRY_CURVES) as RetryCurveName[];
const attempt = fc.integer({ min: 1, max: 1_000 });
const random = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

describe("retry curves", () => {
  it("channel calls: first after 5–10 s, then 30 s, 2 min, 10 min and every 30 min", () => {
    expect(retryDelayMs("channelCall", 1, 0)).toBe(5_000);
    expect(retryDelayMs("channelCall", 1, 0.5)).toBe(7_500);
    expect(retryDelayMs("channelCall", 1, 0.9999)).toBe(9_999);
    expect([2, 3, 4, 5, 9, 1_000].map((a) => retryDelayMs("channelCall", a, 0.5))).toEqual([
      30_000, 120_000, 600_000, 1_800_000, 1_800_000, 1_800_000,
    ]);
  });

  it("payment callback messages: 60 s more per attempt, up to 5 min", () => {
    expect([1, 2, 3, 4, 5, 6, 50].map((a) => retryDelayMs("paymentCallback", a, 0.5))).toEqual([
      60_000, 120_000, 180_000, 240_000, 300_000, 300_000, 300_000,
    ]);
  });

  it("room queues: 5 s doubling, up to 5 min", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 50].map((a) => retryDelayMs("roomQueue", a, 0.5))).toEqual([
      5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000,
    ]);
  });

  it("sandbox callbacks: the compressed provider schedule, then it gives up", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9].map((a) => retryDelayMs("sandboxCallback", a, 0.5))).toEqual([
      2_000,
      5_000,
      15_000,
      30_000,
      60_000,
      300_000,
      600_000,
      null,
      null,
    ]);
  });

  it("refuses attempts that do not count from 1 and randomness outside [0, 1)", () => {
    expect(() => retryDelayMs("channelCall", 0, 0.5)).toThrow("attempts count from 1");
    expect(() => retryDelayMs("channelCall", 1.5, 0.5)).toThrow("attempts count from 1");
    expect(() => retryDelayMs("channelCall", 1, 1)).toThrow("random is in [0, 1)");
    expect(() => retryDelayMs("channelCall", 1, -0.1)).toThrow("random is in [0, 1)");
  });

  it("property: the closed forms the ladders were written as before they shared this module", () => {
    fc.assert(
      fc.property(attempt, random, (a, r) => {
        const channelCall = a === 1 ? 5_000 + Math.floor(r * 5_000) : ([30_000, 120_000, 600_000][a - 2] ?? 1_800_000);
        expect(retryDelayMs("channelCall", a, r)).toBe(channelCall);
        expect(retryDelayMs("paymentCallback", a, r)).toBe(Math.min(300, 60 * a) * 1_000);
        expect(retryDelayMs("roomQueue", a, r)).toBe(Math.min(5 * 2 ** (a - 1), 300) * 1_000);
      }),
      { numRuns: 500 },
    );
  });

  it("property: a delay is a whole number of ms inside its step, never shrinks as attempts grow, and a curve that gave up stays given up", () => {
    fc.assert(
      fc.property(fc.constantFrom(...CURVES), attempt, random, random, (curve, a, r1, r2) => {
        const steps = RETRY_CURVES[curve].stepsMs;
        const now = retryDelayMs(curve, a, r1);
        const next = retryDelayMs(curve, a + 1, r2);
        if (now === null) {
          expect(RETRY_CURVES[curve].afterLast).toBe("give_up");
          expect(a).toBeGreaterThan(steps.length);
          expect(next).toBeNull();
          return;
        }
        expect(Number.isSafeInteger(now)).toBe(true);
        const step = steps[Math.min(a, steps.length) - 1];
        if (typeof step === "number") expect(now).toBe(step);
        else {
          expect(now).toBeGreaterThanOrEqual(step?.[0] ?? Number.NaN);
          expect(now).toBeLessThan(step?.[1] ?? Number.NaN);
        }
        if (next !== null) expect(next).toBeGreaterThanOrEqual(now);
      }),
      { numRuns: 1_000 },
    );
  });

  it("property: only the randomness of a jittered step changes a delay", () => {
    fc.assert(
      fc.property(fc.constantFrom(...CURVES), attempt, random, random, (curve, a, r1, r2) => {
        const steps = RETRY_CURVES[curve].stepsMs;
        const jittered = a <= steps.length && typeof steps[a - 1] !== "number";
        if (!jittered) expect(retryDelayMs(curve, a, r1)).toBe(retryDelayMs(curve, a, r2));
      }),
    );
  });
});
