import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../../src/domain/errors";
import { errorForGuard, GUARD_CODES, GUARD_ERRORS } from "../../../src/domain/guards";

describe("guard codes", () => {
  it("are SQL-safe identifiers (they are spliced into the verdict as literals)", () => {
    for (const code of GUARD_CODES) expect(code).toMatch(/^[a-z_]+$/);
  });

  it("map each to an API error code from the one table", () => {
    for (const code of GUARD_CODES) expect(Object.keys(ERROR_CODES)).toContain(errorForGuard(code));
    expect(errorForGuard("gift_price_changed")).toBe("conflict");
    expect(errorForGuard("autopay_per_day_exceeded")).toBe("pin_required");
    expect(errorForGuard("balance_ceiling")).toBe("amount_out_of_range");
  });

  it("name one rule each: no guard code is the catch-all `conflict`", () => {
    expect(Object.keys(GUARD_ERRORS)).not.toContain("conflict");
    expect(new Set(GUARD_CODES).size).toBe(GUARD_CODES.length);
  });
});
