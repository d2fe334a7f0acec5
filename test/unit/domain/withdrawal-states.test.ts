import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../../src/domain/limits";
import {
  isStuckInPaying,
  returnsMoney,
  TERMINAL_WITHDRAWAL_STATES,
  transitionWithdrawal,
  WITHDRAWAL_EVENTS,
  WITHDRAWAL_STATES,
  type WithdrawalState,
} from "../../../src/domain/withdrawal-states";

describe("withdrawal state machine", () => {
  it("allows exactly the documented transitions", () => {
    const moves: string[] = [];
    for (const from of WITHDRAWAL_STATES) {
      for (const event of WITHDRAWAL_EVENTS) {
        const t = transitionWithdrawal(from, event);
        if (t.ok && t.changed) moves.push(`${from} -${event}-> ${t.state}`);
      }
    }
    expect(moves.sort()).toEqual(
      [
        "approved -pay-> paying",
        "paying -failed-> failed",
        "paying -paid-> paid",
        "requested -approve-> approved",
        "requested -reject-> rejected",
      ].sort(),
    );
  });

  it("every illegal transition is a value with a stable code", () => {
    expect(transitionWithdrawal("paid", "failed")).toMatchObject({
      ok: false,
      code: "conflict",
      reason: "withdrawal_transition_illegal",
      from: "paid",
      event: "failed",
    });
    expect(transitionWithdrawal("requested", "paid").ok).toBe(false);
    expect(transitionWithdrawal("failed", "paid").ok).toBe(false);
    expect(transitionWithdrawal("rejected", "approve").ok).toBe(false);
  });

  it("any sequence of events (duplicated, out of order) ends in a reachable state and returns money at most once", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...WITHDRAWAL_EVENTS), { maxLength: 30 }), (events) => {
        let state: WithdrawalState = "requested";
        let returned = 0;
        let paidTimes = 0;
        for (const e of events) {
          if (returnsMoney(state, e)) returned++;
          const t = transitionWithdrawal(state, e);
          if (!t.ok) continue;
          if (t.changed && t.state === "paid") paidTimes++;
          if (TERMINAL_WITHDRAWAL_STATES.includes(state)) expect(t.changed).toBe(false);
          state = t.state;
        }
        expect(returned + paidTimes).toBeLessThanOrEqual(1);
        if (state === "rejected" || state === "failed") expect(returned).toBe(1);
        if (state === "paid") expect(paidTimes).toBe(1);
      }),
    );
  });

  it("a repeat of the event that led into a state is a no-op", () => {
    for (const [state, event] of [
      ["approved", "approve"],
      ["paying", "pay"],
      ["paid", "paid"],
      ["failed", "failed"],
      ["rejected", "reject"],
    ] as const) {
      expect(transitionWithdrawal(state, event)).toEqual({ ok: true, state, changed: false });
    }
  });

  it("flags only paying withdrawals past the named time", () => {
    const t0 = 1_000_000;
    expect(isStuckInPaying("paying", t0, t0 + LIMITS.withdrawalPayingStuckMs - 1)).toBe(false);
    expect(isStuckInPaying("paying", t0, t0 + LIMITS.withdrawalPayingStuckMs)).toBe(true);
    expect(isStuckInPaying("approved", t0, t0 + LIMITS.withdrawalPayingStuckMs * 2)).toBe(false);
  });
});
