import { describe, expect, it } from "vitest";
import { localDayWindowMs } from "../../../../src/domain/room/periods";
import { statementDays } from "../../../../src/worker/checks/statements";

const HOUR = 3_600_000;

describe("localDayWindowMs", () => {
  it("is local midnight to local midnight in Asia/Shanghai (UTC+8, no DST): 16:00 UTC the day before", () => {
    expect(localDayWindowMs("2026-11-21", "Asia/Shanghai")).toEqual({
      startMs: Date.UTC(2026, 10, 20, 16),
      endMs: Date.UTC(2026, 10, 21, 16),
    });
    // Across a month and a year end alike.
    expect(localDayWindowMs("2027-01-01", "Asia/Shanghai")).toEqual({
      startMs: Date.UTC(2026, 11, 31, 16),
      endMs: Date.UTC(2027, 0, 1, 16),
    });
  });

  it("spans 23 hours on the day clocks go forward and 25 on the day they go back (America/New_York)", () => {
    const spring = localDayWindowMs("2026-03-08", "America/New_York");
    expect(spring).toEqual({ startMs: Date.UTC(2026, 2, 8, 5), endMs: Date.UTC(2026, 2, 9, 4) });
    expect(spring.endMs - spring.startMs).toBe(23 * HOUR);
    const autumn = localDayWindowMs("2026-11-01", "America/New_York");
    expect(autumn).toEqual({ startMs: Date.UTC(2026, 10, 1, 4), endMs: Date.UTC(2026, 10, 2, 5) });
    expect(autumn.endMs - autumn.startMs).toBe(25 * HOUR);
    expect(localDayWindowMs("2026-11-02", "America/New_York").startMs).toBe(autumn.endMs);
  });

  it("finds the day in zones where noon UTC is already the next date (UTC+14) and in UTC itself", () => {
    expect(localDayWindowMs("2026-11-21", "Pacific/Kiritimati")).toEqual({
      startMs: Date.UTC(2026, 10, 20, 10),
      endMs: Date.UTC(2026, 10, 21, 10),
    });
    expect(localDayWindowMs("2026-11-21", "UTC")).toEqual({
      startMs: Date.UTC(2026, 10, 21),
      endMs: Date.UTC(2026, 10, 22),
    });
  });

  it("refuses what is not a calendar day", () => {
    expect(() => localDayWindowMs("2026-02-30", "Asia/Shanghai")).toThrow();
    expect(() => localDayWindowMs("2026-11", "Asia/Shanghai")).toThrow();
  });
});

describe("statementDays", () => {
  it("is yesterday then the look-back days before it, newest first, in the business zone", () => {
    // 01:00 on 2 December in Shanghai is still 1 December in UTC.
    expect(statementDays(Date.UTC(2026, 11, 1, 17), "Asia/Shanghai")).toEqual([
      "2026-12-01",
      "2026-11-30",
      "2026-11-29",
      "2026-11-28",
    ]);
    expect(statementDays(Date.UTC(2026, 2, 9, 12), "America/New_York", 1)).toEqual(["2026-03-08", "2026-03-07"]);
  });
});
