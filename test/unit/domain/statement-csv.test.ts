import { describe, expect, it } from "vitest";
import {
  businessTime,
  csvField,
  csvLine,
  incomeCsvFields,
  isMonthKey,
  nextMonth,
} from "../../../src/domain/statement-csv";

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

  it("writes a tip line with exact decimals, the rate as a percent (blank when unrecorded), business time", () => {
    const line = {
      id: "tip_1",
      viewerId: "v-1",
      giftId: "rose",
      giftName: "玫瑰",
      quantity: 3,
      amountMinor: 300,
      platformBps: 3000,
      platformMinor: 90,
      creatorMinor: 210,
      currency: "CNY",
      createdAtMs: Date.parse("2026-10-31T16:30:05Z"),
      reversed: true,
    };
    expect(incomeCsvFields(line, "Asia/Shanghai")).toEqual([
      "2026-11-01 00:30:05",
      "tip_1",
      "v-1",
      "rose",
      "玫瑰",
      "3",
      "3.00",
      "30.00",
      "0.90",
      "2.10",
      "yes",
      "CNY",
    ]);
    expect(
      incomeCsvFields({ ...line, platformBps: null, giftId: null, giftName: null, reversed: false }, "UTC"),
    ).toEqual(["2026-10-31 16:30:05", "tip_1", "v-1", "", "", "3", "3.00", "", "0.90", "2.10", "no", "CNY"]);
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
