import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../../src/domain/limits";
import { formatMinor, parseAmountMinor } from "../../../src/domain/money";

describe("parseAmountMinor", () => {
  it.each([
    ["18.80", 1880],
    ["18.8", 1880],
    ["6.6", 660],
    ["52", 5200],
    ["0.01", 1],
    ["1000000.00", 100_000_000],
  ])("parses %s to %i fen exactly", (input, expected) => {
    expect(parseAmountMinor(input)).toEqual({ ok: true, value: expected });
  });

  it.each([
    "18.801",
    "1e3",
    "-1",
    "-0.01",
    "01",
    "1.",
    ".5",
    " 1",
    "1 ",
    "1,00",
    "0x10",
    "NaN",
    "Infinity",
    "",
    "١٢",
    "+1",
  ])('rejects "%s" as malformed', (input) => {
    const result = parseAmountMinor(input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.code).toBe("malformed_request");
  });

  it.each(["0", "0.00", "1000000.01", "99999999999"])('rejects "%s" as out of range', (input) => {
    const result = parseAmountMinor(input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.code).toBe("amount_out_of_range");
  });

  it("honours a smaller maximum", () => {
    expect(parseAmountMinor("5.01", 500).ok).toBe(false);
    expect(parseAmountMinor("5.00", 500)).toEqual({ ok: true, value: 500 });
  });

  it("round-trips every amount through formatMinor", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: LIMITS.amountMaxMinor }), (minor) => {
        expect(parseAmountMinor(formatMinor(minor))).toEqual({ ok: true, value: minor });
      }),
    );
  });

  it("agrees with exact decimal arithmetic on random decimal strings", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999_999 }), fc.integer({ min: 0, max: 99 }), (whole, cents) => {
        const input = `${whole}.${String(cents).padStart(2, "0")}`;
        const expected = whole * 100 + cents;
        const result = parseAmountMinor(input);
        if (expected === 0) expect(result.ok).toBe(false);
        else expect(result).toEqual({ ok: true, value: expected });
      }),
    );
  });
});

describe("formatMinor", () => {
  it("formats fen as a decimal with two places", () => {
    expect(formatMinor(1880)).toBe("18.80");
    expect(formatMinor(5)).toBe("0.05");
    expect(formatMinor(0)).toBe("0.00");
    expect(formatMinor(-5)).toBe("-0.05");
    expect(formatMinor(123_456_789)).toBe("1234567.89");
  });

  it("refuses a float", () => {
    expect(() => formatMinor(18.8)).toThrow(/safe integer/);
  });
});
