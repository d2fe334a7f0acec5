import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { addDays, businessDayOf, dayStartMs, isDayKey } from "../../../src/domain/business-day";
import { splitRevenue } from "../../../src/domain/revenue-share";
import {
  checkSettlementConfig,
  type DayPostings,
  dayToSettle,
  type SettlementRecord,
  settleDay,
  settlementDueAtMs,
  settlementKey,
} from "../../../src/domain/settlement";
import { withholdingMinor } from "../../../src/domain/withholding";

const TZ = "Asia/Shanghai";

const postingsArb = fc
  .record({
    grossMinor: fc.integer({ min: 0, max: 100_000_000 }),
    platformBps: fc.integer({ min: 0, max: 10_000 }),
    reversedPermille: fc.integer({ min: 0, max: 1000 }),
    withholdingBps: fc.integer({ min: 0, max: 10_000 }),
    receivableMinor: fc.integer({ min: 0, max: 100_000_000 }),
  })
  .map((r): DayPostings => {
    const platformMinor = Math.floor((r.grossMinor * r.platformBps) / 10_000);
    const creatorPart = r.grossMinor - platformMinor;
    return {
      creatorId: "c1",
      day: "2026-11-05",
      grossMinor: r.grossMinor,
      platformMinor,
      reversedMinor: Math.floor((creatorPart * r.reversedPermille) / 1000),
      withholdingBps: r.withholdingBps,
      receivableMinor: r.receivableMinor,
    };
  });

describe("business days", () => {
  it("begin at local midnight in the business time zone", () => {
    expect(dayStartMs("2026-11-05", TZ)).toBe(Date.UTC(2026, 10, 4, 16));
    expect(businessDayOf(Date.UTC(2026, 10, 4, 16), TZ)).toBe("2026-11-05");
    expect(businessDayOf(Date.UTC(2026, 10, 4, 16) - 1, TZ)).toBe("2026-11-04");
    expect(dayStartMs("2026-03-08", "America/New_York")).toBe(Date.UTC(2026, 2, 8, 5));
    expect(dayStartMs("2026-03-09", "America/New_York")).toBe(Date.UTC(2026, 2, 9, 4));
    expect(dayStartMs("2026-11-05", "Pacific/Kiritimati")).toBe(Date.UTC(2026, 10, 4, 10));
    expect(addDays("2026-12-30", 3)).toBe("2027-01-02");
    expect(isDayKey("2026-02-30")).toBe(false);
  });
});

describe("settleDay", () => {
  it("settles a day exactly, T+N due at local midnight of D+N, one key per creator and day", () => {
    const r = settleDay(
      {
        creatorId: "c1",
        day: "2026-11-05",
        grossMinor: 10_000,
        platformMinor: 3_000,
        reversedMinor: 500,
        withholdingBps: 333,
        receivableMinor: 1_000,
      },
      7,
      TZ,
    );
    expect(r).toEqual({
      key: "settlement:c1:2026-11-05",
      creatorId: "c1",
      day: "2026-11-05",
      dueAtMs: Date.UTC(2026, 10, 11, 16),
      grossMinor: 10_000,
      platformMinor: 3_000,
      creatorPartMinor: 7_000,
      reversedMinor: 500,
      withholdingMinor: 216, // floor(6,500 × 3.33%) = floor(216.45)
      receivableOffsetMinor: 1_000,
      netMinor: 5_284,
      receivableAfterMinor: 0,
    });
    expect(dayToSettle("2026-11-12", 7)).toBe("2026-11-05");
    expect(settlementKey("c1", "2026-11-05")).toBe(r.key);
    expect(() => settlementDueAtMs("2026-11-05", 0, TZ)).toThrow();
    expect(checkSettlementConfig(7, 0)).toEqual({ ok: true, value: { settleAfterDays: 7, withholdingBps: 0 } });
    expect(checkSettlementConfig(0, 0)).toMatchObject({ ok: false, code: "malformed_request" });
    expect(checkSettlementConfig(31, 0)).toMatchObject({ ok: false, code: "malformed_request" });
    expect(checkSettlementConfig(7, 10_001)).toMatchObject({ ok: false, code: "malformed_request" });
    expect(checkSettlementConfig(1.5, 0)).toMatchObject({ ok: false, code: "malformed_request" });
  });

  it("conserves money, never goes negative, and re-runs to the same record", () => {
    fc.assert(
      fc.property(postingsArb, fc.integer({ min: 1, max: 30 }), (p, n) => {
        const r = settleDay(p, n, TZ);
        expect(r.platformMinor + r.creatorPartMinor).toBe(r.grossMinor);
        expect(r.netMinor).toBe(r.creatorPartMinor - r.reversedMinor - r.withholdingMinor - r.receivableOffsetMinor);
        expect(r.netMinor).toBeGreaterThanOrEqual(0);
        expect(r.receivableAfterMinor).toBeGreaterThanOrEqual(0);
        expect(r.receivableOffsetMinor + r.receivableAfterMinor).toBe(p.receivableMinor);
        // The receivable carries only when the day could not take it all.
        if (r.receivableAfterMinor > 0) expect(r.netMinor).toBe(0);
        expect(settleDay(p, n, TZ)).toEqual(r);
      }),
      { numRuns: 1_000 },
    );
  });

  it("withholding is the rate rounded down to the fen, 0 by default", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000_000_000 }), fc.integer({ min: 0, max: 10_000 }), (base, bps) => {
        const w = withholdingMinor(base, bps);
        const exact = BigInt(base) * BigInt(bps);
        expect(BigInt(w)).toBe(exact / 10_000n);
        expect(withholdingMinor(base)).toBe(0);
      }),
    );
  });

  it("a month of days with reversals before and after settlement settles exactly", () => {
    const tipArb = fc.record({
      day: fc.integer({ min: 0, max: 29 }),
      grossMinor: fc.integer({ min: 1, max: 1_000_000 }),
      reversedOn: fc.option(fc.integer({ min: 0, max: 45 }), { freq: 3 }),
    });
    fc.assert(
      fc.property(
        fc.array(tipArb, { maxLength: 120 }),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 0, max: 2_000 }),
        (tips, n, withholdingBps) => {
          const day0 = "2026-11-01";
          const parts = tips.map((t) => splitRevenue(t.grossMinor, 3000));
          let receivable = 0;
          let reversedAfter = 0;
          const records: SettlementRecord[] = [];
          // Walk 50 business days: settle day d−n at the start of day d, then apply day d's reversals.
          for (let d = 0; d < 50; d++) {
            const settling = d - n;
            if (settling >= 0 && settling < 30) {
              const mine = tips.map((t, i) => ({ t, p: parts[i] })).filter((x) => x.t.day === settling);
              const r = settleDay(
                {
                  creatorId: "c1",
                  day: addDays(day0, settling),
                  grossMinor: mine.reduce((s, x) => s + x.t.grossMinor, 0),
                  platformMinor: mine.reduce((s, x) => s + (x.p?.platformMinor ?? 0), 0),
                  reversedMinor: mine
                    .filter(
                      (x) => x.t.reversedOn !== null && x.t.reversedOn >= x.t.day && x.t.reversedOn < settling + n,
                    )
                    .reduce((s, x) => s + (x.p?.creatorMinor ?? 0), 0),
                  withholdingBps,
                  receivableMinor: receivable,
                },
                n,
                TZ,
              );
              records.push(r);
              receivable = r.receivableAfterMinor;
            }
            for (const [i, t] of tips.entries()) {
              // A reversal of a tip whose day has already settled becomes a receivable.
              if (t.reversedOn === d && t.reversedOn >= t.day && t.day + n <= d) {
                receivable += parts[i]?.creatorMinor ?? 0;
                reversedAfter += parts[i]?.creatorMinor ?? 0;
              }
            }
          }
          const sum = (f: (r: SettlementRecord) => number) => records.reduce((s, r) => s + f(r), 0);
          const creatorTotal = parts.reduce((s, p) => s + p.creatorMinor, 0);
          expect(records).toHaveLength(30);
          expect(sum((r) => r.grossMinor)).toBe(tips.reduce((s, t) => s + t.grossMinor, 0));
          expect(sum((r) => r.creatorPartMinor)).toBe(creatorTotal);
          // Every fen the creator earned is settled, withheld, reversed before, or offset against a receivable.
          expect(sum((r) => r.netMinor + r.withholdingMinor + r.reversedMinor + r.receivableOffsetMinor)).toBe(
            creatorTotal,
          );
          expect(sum((r) => r.receivableOffsetMinor) + receivable).toBe(reversedAfter);
          for (const r of records) expect(r.netMinor).toBeGreaterThanOrEqual(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
