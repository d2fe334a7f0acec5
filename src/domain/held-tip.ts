/**
 * A held tip (issue 16, risk outcome `review`): a wallet tip a risk rule parked with the payer's
 * money held, until an operator decides it or its time runs out.
 *
 *   held ─approve─▶ approved   (the held money becomes the tip, as the tip would have been)
 *   held ─decline─▶ declined   (the money goes back to the payer's wallet)
 *   held ─expire──▶ expired    (nobody decided within `LIMITS.heldTipDecideWithinMs`: declined by the sweeper)
 *
 * Every decision is terminal. Deciding the same way again is `changed: false` (the caller answers
 * as the first time, nothing moves a second time); deciding otherwise after a decision is
 * `held_tip_decided`. The ledger holds the same rule in SQL: each outcome's operation is
 * guarded by the row still being `held` inside its batch (operations/tip-hold-release.ts), so
 * concurrent approve / decline / expire races decide once. Pure: no clock, no I/O.
 */

import type { ErrorCode } from "./errors";

export const HELD_TIP_STATES = ["held", "approved", "declined", "expired"] as const;
export type HeldTipState = (typeof HELD_TIP_STATES)[number];

export const HELD_TIP_DECISIONS = ["approve", "decline", "expire"] as const;
export type HeldTipDecision = (typeof HELD_TIP_DECISIONS)[number];

const INTO: Record<HeldTipDecision, Exclude<HeldTipState, "held">> = {
  approve: "approved",
  decline: "declined",
  expire: "expired",
};

export type HeldTipTransition =
  | { readonly ok: true; readonly state: HeldTipState; readonly changed: boolean }
  | { readonly ok: false; readonly code: Extract<ErrorCode, "held_tip_decided"> };

/** What `decision` does to a held tip in `from`. */
export function decideHeldTip(from: HeldTipState, decision: HeldTipDecision): HeldTipTransition {
  const to = INTO[decision];
  if (from === "held") return { ok: true, state: to, changed: true };
  if (from === to) return { ok: true, state: from, changed: false };
  return { ok: false, code: "held_tip_decided" };
}

/** A decision moves money (back to the payer) only when it leaves `held` for a refund. */
export function refundsPayer(decision: HeldTipDecision): boolean {
  return decision !== "approve";
}

export function isTerminal(state: HeldTipState): boolean {
  return state !== "held";
}
