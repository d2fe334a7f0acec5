import { describe, expect, it } from "vitest";
import { addDays, businessDayOf } from "../../../src/domain/business-day";
import { shareTips, type TierSchedule } from "../../../src/domain/revenue-tiers";
import { type SettlementRecord, settleDay, settlementDueAtMs, settleOrHold } from "../../../src/domain/settlement";
import { reversalRoute } from "../../../src/domain/tip-reversal";

const TZ = "Asia/Shanghai";
const N = 7;
const WITHHOLDING_BPS = 100;
const schedule: TierSchedule = {
  version: 3,
  effectiveFromMs: 0,
  tiers: [
    { fromGrossMinor: 0, platformBps: 5000 },
    { fromGrossMinor: 100_000, platformBps: 4000 },
    { fromGrossMinor: 500_000, platformBps: 3000 },
  ],
};
/** Noon in Shanghai on 2026-11-{day} (day may run past 30 into December). */
const noon = (day: number) => Date.UTC(2026, 10, day, 4);

describe("a simulated month: tips on 30 business days crossing two tiers, one reversal before and one after settlement", () => {
  it("every share and settlement is exact to the fen", () => {
    const tips = Array.from({ length: 30 }, (_, i) => ({ atMs: noon(i + 1), grossMinor: 20_001 }));
    const { shares } = shareTips(
      { schedules: [schedule], defaultBps: 5000, creatorOverrideBps: null, timeZone: TZ },
      null,
      tips,
    );
    // Gross after day k is 20,001·k: day 5 reaches 100,005 (tier 2 from that tip), day 25 500,025 (tier 3).
    expect(shares.map((s) => s.platformBps)).toEqual([
      ...Array(4).fill(5000),
      ...Array(20).fill(4000),
      ...Array(6).fill(3000),
    ]);
    expect(shares.map((s) => s.creatorMinor)).toEqual([
      ...Array(4).fill(10_001),
      ...Array(20).fill(12_001),
      ...Array(6).fill(14_001),
    ]);

    // Reversals: day 3's tip on day 6 (unsettled: out of pending), day 2's tip on day 12 (settled on day 9).
    const reversals = [
      { tipIndex: 2, atMs: noon(6) },
      { tipIndex: 1, atMs: noon(12) },
    ];
    const reversedBefore = new Map<string, number>();
    let receivable = 0;
    const records: SettlementRecord[] = [];
    // Walk day starts from Nov 2 to Dec 8: settle what is due, then apply that day's reversals.
    for (let d = 2; d <= 38; d++) {
      const today = businessDayOf(noon(d), TZ);
      const settling = addDays(today, -N);
      const mine = tips.map((t, i) => ({ t, s: shares[i] })).filter((x) => businessDayOf(x.t.atMs, TZ) === settling);
      if (mine.length > 0) {
        const postings = {
          creatorId: "c1",
          day: settling,
          grossMinor: mine.reduce((a, x) => a + x.t.grossMinor, 0),
          platformMinor: mine.reduce((a, x) => a + (x.s?.platformMinor ?? 0), 0),
          reversedMinor: reversedBefore.get(settling) ?? 0,
          withholdingBps: WITHHOLDING_BPS,
          receivableMinor: receivable,
        };
        const outcome = settleOrHold(postings, false, N, TZ);
        if (outcome.kind !== "settled") throw new Error("not held");
        expect(settleDay(postings, N, TZ)).toEqual(outcome.record); // a re-run is the same record
        records.push(outcome.record);
        receivable = outcome.record.receivableAfterMinor;
      }
      for (const r of reversals.filter((x) => businessDayOf(x.atMs, TZ) === today)) {
        const tip = tips[r.tipIndex];
        const share = shares[r.tipIndex];
        if (!tip || !share) throw new Error("tip");
        const tipDay = businessDayOf(tip.atMs, TZ);
        const route = reversalRoute(share.creatorMinor, settlementDueAtMs(tipDay, N, TZ) <= r.atMs, WITHHOLDING_BPS);
        reversedBefore.set(tipDay, (reversedBefore.get(tipDay) ?? 0) + route.pendingMinor);
        receivable += route.receivableMinor;
      }
    }

    expect(records).toHaveLength(30);
    const byDay = new Map(records.map((r) => [r.day, r]));
    expect(byDay.get("2026-11-03")).toMatchObject({ reversedMinor: 10_001, withholdingMinor: 0, netMinor: 0 });
    expect(byDay.get("2026-11-01")).toMatchObject({ withholdingMinor: 100, netMinor: 9_901 });
    // Day 2's tip reversed on day 12 (after its settlement on day 9): a receivable of 10,001 − 100 = 9,901,
    // offset entirely by the next settlement (day 6's, on day 13).
    expect(byDay.get("2026-11-05")).toMatchObject({ receivableOffsetMinor: 0, netMinor: 12_001 - 120 });
    expect(byDay.get("2026-11-06")).toMatchObject({
      creatorPartMinor: 12_001,
      withholdingMinor: 120,
      receivableOffsetMinor: 9_901,
      netMinor: 1_980,
      receivableAfterMinor: 0,
      dueAtMs: Date.UTC(2026, 10, 12, 16),
    });
    const sum = (f: (r: SettlementRecord) => number) => records.reduce((a, r) => a + f(r), 0);
    expect(sum((r) => r.grossMinor)).toBe(600_030);
    expect(sum((r) => r.platformMinor)).toBe(236_000);
    expect(sum((r) => r.creatorPartMinor)).toBe(364_030);
    expect(sum((r) => r.withholdingMinor)).toBe(3 * 100 + 20 * 120 + 6 * 140);
    expect(sum((r) => r.netMinor)).toBe(364_030 - 10_001 - 3_540 - 9_901);
    expect(receivable).toBe(0);
  });

  it("a creator under risk hold is skipped and flagged, not settled", () => {
    expect(
      settleOrHold(
        {
          creatorId: "c1",
          day: "2026-11-05",
          grossMinor: 100,
          platformMinor: 30,
          reversedMinor: 0,
          withholdingBps: 0,
          receivableMinor: 0,
        },
        true,
        N,
        TZ,
      ),
    ).toEqual({ kind: "held", key: "settlement:c1:2026-11-05", creatorId: "c1", day: "2026-11-05" });
  });

  it("routes a reversal by whether its day settled", () => {
    expect(reversalRoute(12_001, false, 100)).toEqual({ from: "pending", pendingMinor: 12_001, receivableMinor: 0 });
    expect(reversalRoute(12_001, true, 100)).toEqual({ from: "receivable", pendingMinor: 0, receivableMinor: 11_881 });
    expect(reversalRoute(12_001, true, 0)).toEqual({ from: "receivable", pendingMinor: 0, receivableMinor: 12_001 });
  });
});
