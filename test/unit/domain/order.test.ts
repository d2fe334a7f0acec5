import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CREDITABLE_STATES,
  canTransition,
  isTerminal,
  ORDER_STATES,
  type OrderState,
  refundable,
} from "../../../src/domain/order";

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

  it("treats only created and pending as open (the sweeper's work)", () => {
    expect(ORDER_STATES.filter((s) => !isTerminal(s))).toEqual(["created", "pending"]);
  });
});

describe("refundable", () => {
  it("refunds at most what was paid minus earlier refunds and at most what is still in the wallet", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.nat(1_000_000),
        fc.nat(2_000_000),
        fc.integer({ min: -10, max: 2_000_000 }),
        (amountMinor, refundedRaw, walletMinor, requestedMinor) => {
          const refundedMinor = Math.min(refundedRaw, amountMinor);
          const state: OrderState = refundedMinor > 0 ? "refunded" : "succeeded";
          const r = refundable({ state, amountMinor, refundedMinor, walletMinor }, requestedMinor);
          const fits =
            requestedMinor > 0 && requestedMinor <= amountMinor - refundedMinor && requestedMinor <= walletMinor;
          expect(r.ok).toBe(fits);
          if (r.ok) expect(r.value).toBe(requestedMinor);
        },
      ),
    );
  });

  it("refuses orders that were never paid", () => {
    for (const state of ["created", "pending", "failed", "closed"] as const) {
      const r = refundable({ state, amountMinor: 100, refundedMinor: 0, walletMinor: 100 }, 50);
      expect(r.ok ? "ok" : r.code).toBe("order_not_refundable");
    }
  });
});
