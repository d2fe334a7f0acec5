import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../../src/domain/limits";
import { effectiveBigThresholdMinor, isBigTip, roomThresholdRefusal } from "../../../src/domain/room/lanes";
import { mergeWindow, type WindowTip } from "../../../src/domain/room/merge";
import { isTimeZone, periodKeys } from "../../../src/domain/room/periods";
import { GIFT_TIERS, priceTip, type TipRequest } from "../../../src/domain/tip";

describe("periodKeys", () => {
  it("cuts days at local midnight in the room's time zone", () => {
    // 2026-11-22 15:59:59Z is 23:59:59 in Shanghai; a second later it is the 23rd there.
    expect(periodKeys(Date.UTC(2026, 10, 22, 15, 59, 59), "Asia/Shanghai").day).toBe("2026-11-22");
    expect(periodKeys(Date.UTC(2026, 10, 22, 16, 0, 0), "Asia/Shanghai").day).toBe("2026-11-23");
    expect(periodKeys(Date.UTC(2026, 10, 22, 16, 0, 0), "UTC").day).toBe("2026-11-22");
  });

  it("uses ISO weeks, including across the new year", () => {
    expect(periodKeys(Date.UTC(2026, 10, 22, 4), "UTC").week).toBe("2026-W47");
    // 2027-01-01 is a Friday: it belongs to ISO week 53 of 2026.
    expect(periodKeys(Date.UTC(2027, 0, 1, 12), "UTC").week).toBe("2026-W53");
    // 2024-12-30 is a Monday in week 1 of 2025.
    expect(periodKeys(Date.UTC(2024, 11, 30, 12), "UTC").week).toBe("2025-W01");
    expect(periodKeys(Date.UTC(2026, 10, 22, 4), "UTC").month).toBe("2026-11");
  });

  it("gives every instant of a local day the same keys", () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2035, 0, 1) }), (ms) => {
        const keys = periodKeys(ms, "Asia/Shanghai");
        // Shanghai has no DST: local midnight is 16:00Z the day before.
        const localMidnightMs = Math.floor((ms + 8 * 3_600_000) / 86_400_000) * 86_400_000 - 8 * 3_600_000;
        expect(periodKeys(localMidnightMs, "Asia/Shanghai")).toEqual(keys);
        expect(periodKeys(localMidnightMs + 86_400_000 - 1, "Asia/Shanghai")).toEqual(keys);
      }),
      { numRuns: 300 },
    );
  });

  it("validates time zones", () => {
    expect(isTimeZone("Asia/Shanghai")).toBe(true);
    expect(isTimeZone("Mars/Olympus")).toBe(false);
  });
});

describe("big-gift lane", () => {
  const PLATFORM = LIMITS.bigGiftThresholdDefaultMinor;
  const bounds = { minMinor: 1, maxMinor: LIMITS.amountMaxMinor };
  const threshold = fc.integer({ min: 1, max: 10_000_000 });
  // A gift of any tier and price in any quantity, or a custom tip: the lane goes by the gross alone.
  const ask = fc.oneof(
    fc.record({
      kind: fc.constant("gift" as const),
      tier: fc.constantFrom(...GIFT_TIERS),
      priceMinor: fc.integer({ min: 1, max: 600_000 }),
      quantity: fc.integer({ min: 1, max: LIMITS.giftQuantityMax }),
    }),
    fc.record({ kind: fc.constant("custom" as const), amountMinor: fc.integer({ min: 1, max: 10_000_000 }) }),
  );
  const request = (a: typeof ask extends fc.Arbitrary<infer T> ? T : never): TipRequest =>
    a.kind === "gift"
      ? { kind: "gift", gift: { id: `g-${a.tier}`, priceMinor: a.priceMinor, enabled: true }, quantity: a.quantity }
      : { kind: "custom", amountMinor: a.amountMinor };

  it("is instant iff the gross reaches the effective threshold, for any tier, quantity or custom tip", () => {
    fc.assert(
      fc.property(ask, threshold, fc.option(threshold, { nil: null }), (a, platform, room) => {
        const priced = priceTip(request(a), bounds, 3_000);
        if (!priced.ok) return;
        const gross = a.kind === "gift" ? a.priceMinor * a.quantity : a.amountMinor;
        expect(priced.value.amountMinor).toBe(gross);
        const effective = effectiveBigThresholdMinor(platform, room);
        // Never above the platform's; the room's when it is lower.
        expect(effective).toBe(room === null || room > platform ? platform : room);
        expect(isBigTip(priced.value.amountMinor, effective)).toBe(gross >= effective);
      }),
      { numRuns: 2_000 },
    );
  });

  it("a room lowering its threshold never sends an instant tip back to the window; raising is refused", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000_000 }), threshold, threshold, (gross, platform, room) => {
        if (isBigTip(gross, platform)) expect(isBigTip(gross, effectiveBigThresholdMinor(platform, room))).toBe(true);
        expect(roomThresholdRefusal(platform, room)).toBe(room > platform ? "threshold_above_platform" : null);
        expect(roomThresholdRefusal(platform, null)).toBeNull();
      }),
    );
  });

  it("at the platform's ¥500.00: a ¥500.00 custom tip and 500 roses are big, ¥499.99 and a sports car's tier alone are not enough", () => {
    expect(PLATFORM).toBe(50_000);
    const at = effectiveBigThresholdMinor(PLATFORM, null);
    expect(isBigTip(50_000, at)).toBe(true);
    expect(isBigTip(100 * 500, at)).toBe(true);
    expect(isBigTip(49_999, at)).toBe(false);
    // An epic-tier gift priced below the threshold (an operator's catalog edit) is merged; 499 roses too.
    expect(isBigTip(49_900, at)).toBe(false);
    // A room at ¥100.00 makes ¥100.00 instant; a room above the platform's is held to it.
    expect(isBigTip(10_000, effectiveBigThresholdMinor(PLATFORM, 10_000))).toBe(true);
    expect(effectiveBigThresholdMinor(PLATFORM, 80_000)).toBe(PLATFORM);
  });
});

const tipArb = fc.record({
  tipId: fc.uuid(),
  viewerId: fc.constantFrom("a", "b", "c", "d"),
  giftId: fc.constantFrom("rose", "heart", null),
  quantity: fc.integer({ min: 1, max: 20 }),
  amountMinor: fc.integer({ min: 1, max: 100_000 }),
  atMs: fc.integer({ min: 0, max: 20_000 }),
});

describe("mergeWindow", () => {
  it("keeps exact totals: per gift and per tipper sums equal the frame total", () => {
    fc.assert(
      fc.property(fc.array(tipArb, { minLength: 1, maxLength: 200 }), (tips: WindowTip[]) => {
        const frame = mergeWindow(tips, 5_000, 100);
        const total = tips.reduce((s, t) => s + t.amountMinor, 0);
        expect(frame.tipCount).toBe(tips.length);
        expect(frame.totalMinor).toBe(total);
        expect(frame.byGift.reduce((s, g) => s + g.amountMinor, 0)).toBe(total);
        expect(frame.byGift.reduce((s, g) => s + g.quantity, 0)).toBe(tips.reduce((s, t) => s + t.quantity, 0));
        expect(frame.topTippers.reduce((s, t) => s + t.amountMinor, 0)).toBe(total);
        for (const combo of frame.combos) expect(combo.tips).toBeGreaterThan(1);
      }),
    );
  });

  it("is independent of arrival order", () => {
    fc.assert(
      fc.property(fc.array(tipArb, { minLength: 1, maxLength: 50 }), (tips: WindowTip[]) => {
        expect(mergeWindow([...tips].reverse(), 5_000, 5)).toEqual(mergeWindow(tips, 5_000, 5));
      }),
    );
  });

  it("groups the same gift from the same viewer within the gap into a combo", () => {
    const t = (tipId: string, viewerId: string, giftId: string | null, atMs: number, quantity = 1): WindowTip => ({
      tipId,
      viewerId,
      giftId,
      quantity,
      amountMinor: 100 * quantity,
      atMs,
    });
    const frame = mergeWindow(
      [
        t("1", "a", "rose", 0, 2),
        t("2", "a", "rose", 4_000, 3),
        t("3", "a", "rose", 9_001),
        t("4", "b", "rose", 100),
        t("5", "a", null, 200),
      ],
      5_000,
      2,
    );
    expect(frame.combos).toEqual([
      { viewerId: "a", giftId: "rose", quantity: 5, tips: 2, firstAtMs: 0, lastAtMs: 4_000 },
    ]);
    expect(frame.topTippers).toEqual([
      { viewerId: "a", amountMinor: 700 },
      { viewerId: "b", amountMinor: 100 },
    ]);
  });
});
