import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CREDITABLE_STATES, canTransition, ORDER_STATES, type OrderState } from "../../../src/domain/order";

describe("payment order state machine", () => {
  it("allows exactly the documented transitions", () => {
    const allowed = ORDER_STATES.flatMap((from) =>
      ORDER_STATES.filter((to) => canTransition(from, to)).map((to) => `${from}→${to}`),
    );
    expect(allowed.sort()).toEqual(
      [
        "created→pending",
        "created→succeeded",
        "created→failed",
        "created→closed",
        "pending→succeeded",
        "pending→failed",
        "pending→closed",
        "succeeded→refunded",
        "failed→succeeded",
        "closed→succeeded",
        "refunded→refunded",
      ].sort(),
    );
  });

  it("credits only orders that have not been credited: once succeeded, never succeeded again", () => {
    expect([...CREDITABLE_STATES].sort()).toEqual(["closed", "created", "failed", "pending"]);
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...ORDER_STATES), { maxLength: 30 }), (targets) => {
        let state: OrderState = "created";
        let successes = 0;
        for (const to of targets) {
          if (!canTransition(state, to)) continue;
          if (to === "succeeded") successes++;
          state = to;
        }
        expect(successes).toBeLessThanOrEqual(1);
        // Refunds happen only after a success.
        if (state === "refunded") expect(successes).toBe(1);
      }),
    );
  });
});
