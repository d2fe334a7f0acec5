import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { applyPayoutAnswer, type PayoutAnswer } from "../../../src/domain/payout-answer";
import type { WithdrawalState } from "../../../src/domain/withdrawal-states";

describe("applyPayoutAnswer", () => {
  it("maps each answer for a paying withdrawal", () => {
    expect(applyPayoutAnswer("paying", "paid")).toEqual({
      kind: "transition",
      transition: { ok: true, state: "paid", changed: true },
    });
    expect(applyPayoutAnswer("paying", "failed")).toEqual({
      kind: "transition",
      transition: { ok: true, state: "failed", changed: true },
    });
    expect(applyPayoutAnswer("paying", "unknown")).toEqual({ kind: "wait", retrySameNumber: true });
    expect(applyPayoutAnswer("paying", "processing")).toEqual({ kind: "wait", retrySameNumber: false });
  });

  it("a callback delivered many times, interleaved with query answers, pays once; a late contrary answer is refused", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom<PayoutAnswer>("paid", "processing", "unknown"), { minLength: 1, maxLength: 1_000 }),
        (answers) => {
          let state: WithdrawalState = "paying";
          let paid = 0;
          for (const a of [...answers, "paid" as const]) {
            const action = applyPayoutAnswer(state, a);
            if (action.kind !== "transition") continue;
            expect(action.transition.ok).toBe(true);
            if (action.transition.ok) {
              if (action.transition.changed) paid++;
              state = action.transition.state;
            }
          }
          expect([state, paid]).toEqual(["paid", 1]);
          const late = applyPayoutAnswer(state, "failed");
          expect(late.kind === "transition" && !late.transition.ok).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});
