import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decideHeldTip,
  HELD_TIP_DECISIONS,
  HELD_TIP_STATES,
  type HeldTipDecision,
  type HeldTipState,
  isTerminal,
  refundsPayer,
} from "../../../src/domain/held-tip";

describe("held tip state machine", () => {
  it("allows exactly the documented transitions", () => {
    const moves: string[] = [];
    for (const from of HELD_TIP_STATES) {
      for (const decision of HELD_TIP_DECISIONS) {
        const t = decideHeldTip(from, decision);
        if (t.ok && t.changed) moves.push(`${from} -${decision}-> ${t.state}`);
      }
    }
    expect(moves.sort()).toEqual(["held -approve-> approved", "held -decline-> declined", "held -expire-> expired"]);
  });

  it("answers a repeated decision unchanged and a contrary one held_tip_decided", () => {
    expect(decideHeldTip("approved", "approve")).toEqual({ ok: true, state: "approved", changed: false });
    expect(decideHeldTip("declined", "decline")).toEqual({ ok: true, state: "declined", changed: false });
    expect(decideHeldTip("expired", "expire")).toEqual({ ok: true, state: "expired", changed: false });
    expect(decideHeldTip("approved", "decline")).toEqual({ ok: false, code: "held_tip_decided" });
    expect(decideHeldTip("declined", "approve")).toEqual({ ok: false, code: "held_tip_decided" });
    expect(decideHeldTip("expired", "approve")).toEqual({ ok: false, code: "held_tip_decided" });
    expect(decideHeldTip("expired", "decline")).toEqual({ ok: false, code: "held_tip_decided" });
  });

  it("decides once whatever the order of racing decisions: the first one wins, money moves exactly once", () => {
    const decision = fc.constantFrom<HeldTipDecision>(...HELD_TIP_DECISIONS);
    fc.assert(
      fc.property(fc.array(decision, { minLength: 1, maxLength: 30 }), (decisions) => {
        let state: HeldTipState = "held";
        let moves = 0;
        let refunds = 0;
        for (const d of decisions) {
          const t = decideHeldTip(state, d);
          if (!t.ok) {
            // Refused only once decided, and only for a decision other than the one made.
            expect(isTerminal(state)).toBe(true);
            continue;
          }
          if (t.changed) {
            moves++;
            if (refundsPayer(d)) refunds++;
          }
          state = t.state;
        }
        const first = decisions[0] as HeldTipDecision;
        expect(moves).toBe(1);
        expect(state).toBe({ approve: "approved", decline: "declined", expire: "expired" }[first]);
        expect(refunds).toBe(first === "approve" ? 0 : 1);
        expect(isTerminal(state)).toBe(true);
      }),
    );
  });
});
