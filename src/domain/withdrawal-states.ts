import type { ErrorCode } from "./errors";
import { assert, LIMITS } from "./limits";

/**
 * Withdrawals: money out of `creator:{id}:available`.
 *
 *   requested ──approve──▶ approved ──pay──▶ paying ──paid──▶ paid
 *       │                                      └────failed──▶ failed  (money back to available)
 *       └──────reject───▶ rejected  (money back to available)
 *
 * Money moves: the request holds the amount in `creator:{id}:withdrawing`; `rejected` and
 * `failed` return it to available; `paid` sends it to the channel's clearing account.
 * `paid`, `failed` and `rejected` are terminal. The same event arriving again in the state it
 * led to (a callback delivered twice, a query answering after the callback) is a no-op with
 * `changed: false`, never a second movement; any other event is an illegal transition value.
 * Minting a new channel number after `failed` is a new withdrawal, not a transition.
 */
export const WITHDRAWAL_STATES = ["requested", "approved", "rejected", "paying", "paid", "failed"] as const;
export type WithdrawalState = (typeof WITHDRAWAL_STATES)[number];

export const WITHDRAWAL_EVENTS = ["approve", "reject", "pay", "paid", "failed"] as const;
export type WithdrawalEvent = (typeof WITHDRAWAL_EVENTS)[number];

const NEXT: Readonly<Record<WithdrawalState, Partial<Record<WithdrawalEvent, WithdrawalState>>>> = {
  requested: { approve: "approved", reject: "rejected" },
  approved: { pay: "paying" },
  paying: { paid: "paid", failed: "failed" },
  rejected: {},
  paid: {},
  failed: {},
};

/** The event that leads into each state: its repeat there is a no-op. */
const INTO: Readonly<Record<WithdrawalState, WithdrawalEvent | null>> = {
  requested: null,
  approved: "approve",
  rejected: "reject",
  paying: "pay",
  paid: "paid",
  failed: "failed",
};

export const TERMINAL_WITHDRAWAL_STATES: readonly WithdrawalState[] = ["rejected", "paid", "failed"];

export type WithdrawalTransition =
  | { readonly ok: true; readonly state: WithdrawalState; readonly changed: boolean }
  | {
      readonly ok: false;
      readonly code: ErrorCode;
      readonly reason: "withdrawal_transition_illegal";
      readonly from: WithdrawalState;
      readonly event: WithdrawalEvent;
      readonly message: string;
    };

export function transitionWithdrawal(from: WithdrawalState, event: WithdrawalEvent): WithdrawalTransition {
  const to = NEXT[from][event];
  if (to) return { ok: true, state: to, changed: true };
  if (INTO[from] === event) return { ok: true, state: from, changed: false };
  return {
    ok: false,
    code: "conflict",
    reason: "withdrawal_transition_illegal",
    from,
    event,
    message: `A ${from} withdrawal cannot take "${event}".`,
  };
}

/** Money returns to available on exactly these transitions. */
export function returnsMoney(from: WithdrawalState, event: WithdrawalEvent): boolean {
  const t = transitionWithdrawal(from, event);
  return t.ok && t.changed && (t.state === "rejected" || t.state === "failed");
}

/**
 * A withdrawal in `paying` with no answer for `LIMITS.withdrawalPayingStuckMs` is flagged for
 * an operator (the sweeper keeps querying the channel; flagging does not move money).
 */
export function isStuckInPaying(state: WithdrawalState, payingSinceMs: number, nowMs: number): boolean {
  assert(Number.isSafeInteger(payingSinceMs) && Number.isSafeInteger(nowMs), "instants are integers");
  return state === "paying" && nowMs - payingSinceMs >= LIMITS.withdrawalPayingStuckMs;
}
