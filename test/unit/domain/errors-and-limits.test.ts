import { describe, expect, it } from "vitest";
import { mayGoNegative } from "../../../src/domain/accounts";
import { ERROR_CODES, fail, statusOf } from "../../../src/domain/errors";
import { assert, isSafeAmountMinor, LIMITS } from "../../../src/domain/limits";

describe("error codes", () => {
  it("map every code to a 4xx or 5xx status and a message", () => {
    for (const [code, { status, message }] of Object.entries(ERROR_CODES)) {
      expect(status, code).toBeGreaterThanOrEqual(400);
      expect(status, code).toBeLessThan(600);
      expect(message.length, code).toBeGreaterThan(0);
    }
    expect(statusOf("insufficient_funds")).toBe(409);
    expect(statusOf("idempotency_key_reused")).toBe(422);
    expect(fail("self_tip")).toEqual({ ok: false, code: "self_tip", message: ERROR_CODES.self_tip.message });
  });
});

describe("limits", () => {
  it("keep every amount and balance sum a safe integer", () => {
    expect(Number.isSafeInteger(LIMITS.amountMaxMinor * LIMITS.bpsMax)).toBe(true);
    expect(Number.isSafeInteger(LIMITS.balanceAbsMaxMinor * 1_000)).toBe(true);
    expect(isSafeAmountMinor(LIMITS.amountMaxMinor)).toBe(true);
    expect(isSafeAmountMinor(LIMITS.amountMaxMinor + 1)).toBe(false);
    expect(isSafeAmountMinor(0)).toBe(false);
    expect(isSafeAmountMinor(1.5)).toBe(false);
  });

  it("assert throws on a broken invariant", () => {
    expect(() => assert(false, "boom")).toThrow("boom");
  });
});

describe("accounts", () => {
  it("only world and channel clearing accounts may go negative", () => {
    expect(mayGoNegative("world:adjustments")).toBe(true);
    expect(mayGoNegative("channel:alipay:clearing")).toBe(true);
    expect(mayGoNegative("user:a:wallet")).toBe(false);
    expect(mayGoNegative("platform:revenue")).toBe(false);
    expect(mayGoNegative("creator:a:pending")).toBe(false);
  });
});
