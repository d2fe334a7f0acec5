import { describe, expect, it } from "vitest";
import { parseStatement } from "../../../src/channels/statement";
import { decimalMinor } from "../../../src/channels/statement-csv";
import { LIMITS } from "../../../src/domain/limits";
import { refusal } from "../../support/statements";

describe("exact decimal amounts", () => {
  it.each([
    ["0.01", 2, 1],
    ["50000.00", 2, 5_000_000],
    ["18.80", 2, 1880],
    ["18.8", 2, 1880],
    ["0", 2, 0],
    ["-18.80", 2, -1880],
    ["1000", 0, 1000],
    ["1000.00", 0, 1000],
    ["1.234", 3, 1234],
    ["999999999999.99", 2, 99_999_999_999_999],
  ])('"%s" at exponent %i is %i', (text, exponent, minor) => {
    expect(decimalMinor(text, exponent)).toBe(minor);
  });

  it.each([
    ["18.801", 2],
    ["1000.5", 0],
    ["1e3", 2],
    ["01", 2],
    [".5", 2],
    ["1.", 2],
    [" 1", 2],
    ["+1", 2],
    ["1,000.00", 2],
    ["NaN", 2],
    ["1000000000000", 2],
  ])('"%s" at exponent %i is not money', (text, exponent) => {
    expect(decimalMinor(text, exponent)).toBeNull();
  });
});

describe("bounds", () => {
  it(`refuses more than ${LIMITS.statementLinesMax} lines before reading further`, () => {
    const huge = "x\n".repeat(LIMITS.statementLinesMax + 1);
    expect(refusal(parseStatement("wechatpay", huge))).toEqual({
      line: LIMITS.statementLinesMax + 1,
      detail: `more than ${LIMITS.statementLinesMax} lines`,
    });
  });
});
