import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../../src/domain/limits";
import { priceTip } from "../../../src/domain/tip";

const bounds = { minMinor: 100, maxMinor: 5_000_000 };
const rose = { id: "rose", priceMinor: 100, enabled: true };

describe("priceTip", () => {
  it("prices gifts by quantity and splits them", () => {
    expect(priceTip({ kind: "gift", gift: rose, quantity: 3 }, bounds, 3000)).toEqual({
      ok: true,
      value: { amountMinor: 300, giftId: "rose", quantity: 3, platformMinor: 90, creatorMinor: 210 },
    });
  });

  it("names unknown and disabled gifts", () => {
    expect(priceTip({ kind: "gift", gift: null, quantity: 1 }, bounds, 3000)).toMatchObject({
      ok: false,
      code: "gift_not_found",
    });
    expect(priceTip({ kind: "gift", gift: { ...rose, enabled: false }, quantity: 1 }, bounds, 3000)).toMatchObject({
      ok: false,
      code: "gift_disabled",
    });
  });

  it("bounds custom amounts and the total of a gift combo", () => {
    expect(priceTip({ kind: "custom", amountMinor: 99 }, bounds, 3000)).toMatchObject({
      ok: false,
      code: "amount_out_of_range",
    });
    expect(priceTip({ kind: "custom", amountMinor: 5_000_001 }, bounds, 3000)).toMatchObject({
      ok: false,
      code: "amount_out_of_range",
    });
    expect(priceTip({ kind: "custom", amountMinor: 100 }, bounds, 3000).ok).toBe(true);
    const rocket = { id: "rocket", priceMinor: 500_000, enabled: true };
    expect(priceTip({ kind: "gift", gift: rocket, quantity: 201 }, bounds, 3000)).toMatchObject({
      ok: false,
      code: "amount_out_of_range",
    });
  });

  it("treats a quantity outside the limit as a bug (zod guards the boundary)", () => {
    expect(() => priceTip({ kind: "gift", gift: rose, quantity: 0 }, bounds, 3000)).toThrow();
    expect(() => priceTip({ kind: "gift", gift: rose, quantity: LIMITS.giftQuantityMax + 1 }, bounds, 3000)).toThrow();
  });

  it("always splits into parts that sum to the amount", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 1, max: LIMITS.giftQuantityMax }),
        fc.integer({ min: 0, max: 10_000 }),
        (price, quantity, bps) => {
          const result = priceTip(
            { kind: "gift", gift: { id: "g", priceMinor: price, enabled: true }, quantity },
            bounds,
            bps,
          );
          if (price * quantity > LIMITS.amountMaxMinor) {
            expect(result).toMatchObject({ ok: false, code: "amount_out_of_range" });
          } else {
            expect(result.ok).toBe(true);
            if (result.ok) expect(result.value.platformMinor + result.value.creatorMinor).toBe(price * quantity);
          }
        },
      ),
    );
  });
});
