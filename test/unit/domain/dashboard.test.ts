import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { addDays } from "../../../src/domain/business-day";
import {
  buildSeries,
  DASHBOARD_LIMITS,
  dashboardRowsReadMax,
  daysBetween,
  type EntitySum,
  gmvMinor,
  mergeTops,
  periodDays,
  periodOfDay,
  periodsInRange,
  weekOfDay,
  ZERO_TOTALS,
} from "../../../src/domain/dashboard";
import { periodKeys } from "../../../src/domain/room/periods";

describe("dashboard periods", () => {
  it("name ISO weeks across year ends the way the leaderboards do", () => {
    expect(weekOfDay("2026-01-01")).toBe("2026-W01");
    expect(weekOfDay("2027-01-01")).toBe("2026-W53");
    expect(weekOfDay("2024-12-30")).toBe("2025-W01");
    expect(weekOfDay("2031-03-03")).toBe("2031-W10");
    // The same key as the room leaderboards' periods (noon UTC is on the same date in UTC).
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 30_000 }), (n) => {
        const day = addDays("2000-01-01", n);
        expect(weekOfDay(day)).toBe(periodKeys(Date.parse(`${day}T12:00:00Z`), "UTC").week);
      }),
    );
  });

  it("give each period its first and last day, and every day falls in its own period", () => {
    expect(periodDays("week", "2026-W01")).toEqual({ first: "2025-12-29", last: "2026-01-04" });
    expect(periodDays("week", "2026-W53")).toEqual({ first: "2026-12-28", last: "2027-01-03" });
    expect(periodDays("month", "2028-02")).toEqual({ first: "2028-02-01", last: "2028-02-29" });
    expect(periodDays("month", "2031-12")).toEqual({ first: "2031-12-01", last: "2031-12-31" });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 30_000 }), fc.constantFrom("day", "week", "month" as const), (n, g) => {
        const day = addDays("2000-01-01", n);
        const { first, last } = periodDays(g, periodOfDay(g, day));
        expect(first <= day && day <= last).toBe(true);
        expect(periodOfDay(g, first)).toBe(periodOfDay(g, day));
        expect(periodOfDay(g, addDays(first, -1))).not.toBe(periodOfDay(g, day));
        expect(periodOfDay(g, addDays(last, 1))).not.toBe(periodOfDay(g, day));
      }),
    );
  });

  it("list the periods a range touches, and count its days", () => {
    expect(periodsInRange("month", "2031-01-31", "2031-03-01")).toEqual(["2031-01", "2031-02", "2031-03"]);
    expect(periodsInRange("week", "2031-03-02", "2031-03-10")).toEqual(["2031-W09", "2031-W10", "2031-W11"]);
    expect(daysBetween("2031-01-01", "2031-12-31")).toBe(365);
    expect(daysBetween("2032-01-01", "2032-12-31")).toBe(DASHBOARD_LIMITS.rangeDaysMax);
    expect(daysBetween("2031-01-02", "2031-01-01")).toBe(0);
    // At most one period per day, so the payer rows a query reads are bounded by the range's days.
    expect(periodsInRange("day", "2032-01-01", "2032-12-31")).toHaveLength(366);
    expect(periodsInRange("week", "2032-01-01", "2032-12-31")).toHaveLength(53);
  });

  it("bound a query's rows: per shard a day row and a payer row per day, plus one period's tops with names", () => {
    expect(dashboardRowsReadMax(4)).toBe(4 * 732 + 60);
    expect(dashboardRowsReadMax(1)).toBe(792);
  });
});

describe("the dashboard's series", () => {
  it("sums days into periods, fills empty periods with zeros, sums payers over shards, and GMV is tips plus unlocks plus wallet packets", () => {
    const day = (d: string, tipMinor: number, packetPaidMinor: number, unlockMinor = 0) => ({
      ...ZERO_TOTALS,
      day: d,
      tipCount: 1,
      tipMinor,
      platformMinor: tipMinor / 10 + unlockMinor / 10,
      packetPaidMinor,
      packetsSent: packetPaidMinor > 0 ? 1 : 0,
      packetsSentMinor: packetPaidMinor,
      unlockCount: unlockMinor > 0 ? 1 : 0,
      unlockMinor,
    });
    const series = buildSeries(
      "month",
      "2031-01-15",
      "2031-03-15",
      [
        day("2031-01-20", 1000, 0),
        day("2031-01-20", 500, 200, 600),
        day("2031-03-01", 100, 0),
        day("2031-04-01", 9, 9, 90),
      ],
      [
        { period: "2031-01", payers: 2 },
        { period: "2031-01", payers: 3 },
        { period: "2031-03", payers: 1 },
      ],
    );
    expect(
      series.map((p) => [
        p.period,
        p.gmvMinor,
        p.tipMinor,
        p.unlockMinor,
        p.unlockCount,
        p.platformMinor,
        p.tipCount,
        p.payingUsers,
      ]),
    ).toEqual([
      ["2031-01", 2300, 1500, 600, 1, 210, 2, 5],
      ["2031-02", 0, 0, 0, 0, 0, 0, 0],
      ["2031-03", 100, 100, 0, 0, 10, 1, 1],
    ]);
  });

  it("GMV is exactly tips + unlocks + wallet packets, and a period's GMV is the sum of its days' GMV", () => {
    const totals = fc.record({
      tipCount: fc.nat(50),
      tipMinor: fc.nat(1_000_000),
      platformMinor: fc.nat(1_000_000),
      packetPaidMinor: fc.nat(1_000_000),
      packetsSent: fc.nat(50),
      packetsSentMinor: fc.nat(1_000_000),
      claims: fc.nat(50),
      claimedMinor: fc.nat(1_000_000),
      unlockCount: fc.nat(50),
      unlockMinor: fc.nat(1_000_000),
    });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(27), totals), { maxLength: 20 }), (rows) => {
        const days = rows.map(([d, t]) => ({ ...t, day: addDays("2031-02-01", d) }));
        for (const d of days) expect(gmvMinor(d)).toBe(d.tipMinor + d.unlockMinor + d.packetPaidMinor);
        const [point] = buildSeries("month", "2031-02-01", "2031-02-28", days, []);
        const sum = (k: "tipMinor" | "unlockMinor" | "packetPaidMinor" | "unlockCount") =>
          days.reduce((s, d) => s + d[k], 0);
        expect(point?.gmvMinor).toBe(days.reduce((s, d) => s + gmvMinor(d), 0));
        expect(point?.unlockMinor).toBe(sum("unlockMinor"));
        expect(point?.unlockCount).toBe(sum("unlockCount"));
        // Packets sent beyond the wallet's (subsidies) and claims are not GMV.
        expect(point?.gmvMinor).toBe(sum("tipMinor") + sum("unlockMinor") + sum("packetPaidMinor"));
      }),
    );
  });
});

describe("merging tops", () => {
  it("is exact where per-part top-K is not: an entity just below the cut in every shard still wins", () => {
    // In each of 3 shards, ten creators at 100 each beat "steady" at 90; summed, steady has 270.
    const parts: EntitySum[] = [];
    for (let shard = 0; shard < 3; shard++) {
      for (let i = 0; i < 10; i++) {
        parts.push({ kind: "creator", key: `s${shard}-c${i}`, amountMinor: 100, tipCount: 1 });
      }
      parts.push({ kind: "creator", key: "steady", amountMinor: 90, tipCount: 1 });
    }
    const top = mergeTops(parts, 10);
    expect(top[0]).toEqual({ kind: "creator", key: "steady", amountMinor: 270, tipCount: 3, rank: 1 });
    expect(top).toHaveLength(10);
    expect(top.map((t) => t.rank)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // Ties by key.
    expect(top.slice(1, 3).map((t) => t.key)).toEqual(["s0-c0", "s0-c1"]);
  });

  it("equals ranking the whole, whatever the split into parts", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            kind: fc.constantFrom("creator" as const, "room" as const, "gift" as const),
            key: fc.constantFrom("a", "b", "c", "d", "e", "f"),
            amountMinor: fc.integer({ min: 1, max: 1000 }),
            tipCount: fc.integer({ min: 1, max: 5 }),
          }),
        ),
        fc.integer({ min: 1, max: 4 }),
        (rows, n) => {
          const whole = new Map<string, EntitySum>();
          for (const r of rows) {
            const id = `${r.kind}:${r.key}`;
            const s = whole.get(id);
            whole.set(
              id,
              s ? { ...s, amountMinor: s.amountMinor + r.amountMinor, tipCount: s.tipCount + r.tipCount } : r,
            );
          }
          expect(mergeTops(rows, n)).toEqual(mergeTops(whole.values(), n));
        },
      ),
    );
  });
});
