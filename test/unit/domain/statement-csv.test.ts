import { describe, expect, it } from "vitest";
import { businessTime, csvField, csvLine, isMonthKey, nextMonth } from "../../../src/domain/statement-csv";

describe("the statement CSV", () => {
  it("quotes per RFC 4180 and defuses spreadsheet formulas", () => {
    expect(["plain", "a,b", 'say "hi"', "line\nbreak", "=SUM(A1)", "+1", "-2", "@x", "玫瑰"].map(csvField)).toEqual([
      "plain",
      '"a,b"',
      '"say ""hi"""',
      '"line\nbreak"',
      "'=SUM(A1)",
      "'+1",
      "'-2",
      "'@x",
      "玫瑰",
    ]);
    expect(csvLine(["a", "b,c"])).toBe('a,"b,c"\r\n');
  });

  it("writes business time", () => {
    expect(businessTime(Date.parse("2026-10-31T16:30:05Z"), "Asia/Shanghai")).toBe("2026-11-01 00:30:05");
    expect(businessTime(Date.parse("2026-12-31T23:59:59Z"), "UTC")).toBe("2026-12-31 23:59:59");
  });

  it("knows months", () => {
    expect([isMonthKey("2026-11"), isMonthKey("2026-13"), isMonthKey("2026-00"), isMonthKey("26-1")]).toEqual([
      true,
      false,
      false,
      false,
    ]);
    expect([nextMonth("2026-11"), nextMonth("2026-12")]).toEqual(["2026-12", "2027-01"]);
  });
});
