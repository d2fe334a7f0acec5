import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type ShareContext,
  scheduleAt,
  shareTips,
  type TierSchedule,
  tierRateBps,
  validateSchedule,
} from "../../../src/domain/revenue-tiers";

const TZ = "Asia/Shanghai";
// 2026-11-01 00:00 in Shanghai.
const NOV_1 = Date.UTC(2026, 9, 31, 16);
const DEC_1 = Date.UTC(2026, 10, 30, 16);

const schedule: TierSchedule = {
  version: 1,
  effectiveFromMs: 0,
  tiers: [
    { fromGrossMinor: 0, platformBps: 5000 },
    { fromGrossMinor: 10_000, platformBps: 4000 },
    { fromGrossMinor: 100_000, platformBps: 3000 },
  ],
};
const ctx: ShareContext = { schedules: [schedule], defaultBps: 5000, creatorOverrideBps: null, timeZone: TZ };

const tipsArb = fc
  .array(
    fc.record({
      offsetMs: fc.integer({ min: 0, max: 60 * 86_400_000 }),
      grossMinor: fc.integer({ min: 1, max: 50_000 }),
    }),
    {
      maxLength: 80,
    },
  )
  .map((xs) => xs.map((x) => ({ atMs: NOV_1 + x.offsetMs, grossMinor: x.grossMinor })).sort((a, b) => a.atMs - b.atMs));

describe("validateSchedule", () => {
  it.each([
    [{ ...schedule, tiers: [] }, "tiers_empty"],
    [{ ...schedule, tiers: [{ fromGrossMinor: 1, platformBps: 1 }] }, "first_tier_not_zero"],
    [
      {
        ...schedule,
        tiers: [
          { fromGrossMinor: 0, platformBps: 1 },
          { fromGrossMinor: 0, platformBps: 1 },
        ],
      },
      "thresholds_not_ascending",
    ],
    [{ ...schedule, tiers: [{ fromGrossMinor: 0, platformBps: 10_001 }] }, "rate_out_of_range"],
    [{ ...schedule, tiers: [{ fromGrossMinor: 0, platformBps: 0.5 }] }, "rate_out_of_range"],
    [{ ...schedule, tiers: [{ fromGrossMinor: -1, platformBps: 1 }] }, "threshold_out_of_range"],
    [{ ...schedule, version: 0 }, "version_invalid"],
    [{ ...schedule, effectiveFromMs: 1.5 }, "effective_from_invalid"],
    [
      { ...schedule, tiers: Array.from({ length: 21 }, (_, i) => ({ fromGrossMinor: i, platformBps: 1 })) },
      "tiers_too_many",
    ],
  ])("refuses a bad schedule with its problem (%#)", (bad, expected) => {
    const r = validateSchedule(bad as TierSchedule);
    expect(r.ok ? null : [r.code, r.problem]).toEqual(["malformed_request", expected]);
  });

  it("accepts a good one", () => {
    expect(validateSchedule(schedule)).toEqual({ ok: true, value: schedule });
  });
});

describe("scheduleAt", () => {
  it("takes the latest in force, never a future one", () => {
    const v2: TierSchedule = { ...schedule, version: 2, effectiveFromMs: 1000 };
    expect(scheduleAt([v2, schedule], 999)?.version).toBe(1);
    expect(scheduleAt([v2, schedule], 1000)?.version).toBe(2);
    expect(scheduleAt([v2], 999)).toBeNull();
  });
});

describe("tiered shares", () => {
  it("the crossing tip takes the new rate, exactly", () => {
    const { shares } = shareTips(ctx, null, [
      { atMs: NOV_1, grossMinor: 9_999 }, // gross 9,999: 50%
      { atMs: NOV_1 + 1, grossMinor: 2 }, // gross 10,001: crosses → 40%
      { atMs: NOV_1 + 2, grossMinor: 100 }, // 40%
      { atMs: NOV_1 + 3, grossMinor: 200_000 }, // jumps to 30%
      { atMs: DEC_1, grossMinor: 100 }, // new month: 50% again
    ]);
    expect(shares.map((s) => [s.platformBps, s.platformMinor, s.creatorMinor, s.month])).toEqual([
      [5000, 4999, 5000, "2026-11"],
      [4000, 0, 2, "2026-11"],
      [4000, 40, 60, "2026-11"],
      [3000, 60_000, 140_000, "2026-11"],
      [5000, 50, 50, "2026-12"],
    ]);
  });

  it("is never retroactive: a schedule from mid-month re-rates only later tips", () => {
    const v2: TierSchedule = {
      version: 2,
      effectiveFromMs: NOV_1 + 10,
      tiers: [{ fromGrossMinor: 0, platformBps: 1000 }],
    };
    const { shares } = shareTips({ ...ctx, schedules: [schedule, v2] }, null, [
      { atMs: NOV_1 + 9, grossMinor: 100 },
      { atMs: NOV_1 + 10, grossMinor: 100 },
    ]);
    expect(shares.map((s) => [s.scheduleVersion, s.platformBps])).toEqual([
      [1, 5000],
      [2, 1000],
    ]);
  });

  it("a creator override wins over tiers; no schedule means the default", () => {
    expect(
      shareTips({ ...ctx, creatorOverrideBps: 2000 }, null, [{ atMs: NOV_1, grossMinor: 100 }]).shares[0],
    ).toMatchObject({
      platformBps: 2000,
      scheduleVersion: null,
    });
    expect(shareTips({ ...ctx, schedules: [] }, null, [{ atMs: NOV_1, grossMinor: 100 }]).shares[0]).toMatchObject({
      platformBps: 5000,
      scheduleVersion: null,
    });
  });

  it("every share sums exactly and follows the tier of the month's gross including the tip", () => {
    fc.assert(
      fc.property(tipsArb, (tips) => {
        const { shares } = shareTips(ctx, null, tips);
        const gross = new Map<string, number>();
        for (const [i, s] of shares.entries()) {
          const tip = tips[i];
          if (!tip) throw new Error("tip");
          expect(s.platformMinor + s.creatorMinor).toBe(tip.grossMinor);
          const g = (gross.get(s.month) ?? 0) + tip.grossMinor;
          gross.set(s.month, g);
          expect(s.platformBps).toBe(tierRateBps(schedule, g));
          expect(s.platformMinor).toBe(Math.floor((tip.grossMinor * s.platformBps) / 10_000));
        }
      }),
    );
  });

  it("is monotone: with falling tier rates, a month's rate never rises as tips accrue", () => {
    fc.assert(
      fc.property(tipsArb, (tips) => {
        const { shares } = shareTips(ctx, null, tips);
        for (let i = 1; i < shares.length; i++) {
          const [a, b] = [shares[i - 1], shares[i]];
          if (a && b && a.month === b.month) expect(b.platformBps).toBeLessThanOrEqual(a.platformBps);
        }
      }),
    );
  });

  it("a month replayed in any chunking gives the same shares", () => {
    fc.assert(
      fc.property(tipsArb, fc.array(fc.nat(), { maxLength: 10 }), (tips, cuts) => {
        const whole = shareTips(ctx, null, tips).shares;
        const points = [...new Set(cuts.map((c) => c % (tips.length + 1)))].sort((a, b) => a - b);
        let month = null as ReturnType<typeof shareTips>["after"];
        const chunked = [];
        let start = 0;
        for (const end of [...points, tips.length]) {
          const r = shareTips(ctx, month, tips.slice(start, end));
          chunked.push(...r.shares);
          month = r.after;
          start = end;
        }
        expect(chunked).toEqual(whole);
      }),
    );
  });
});
