import { fail, ok, type Result } from "./errors";
import { assert } from "./limits";

/**
 * Payment orders: a top-up of the wallet, or a tip paid directly through a channel.
 *
 *   created ──▶ pending ──▶ succeeded ──▶ refunded (partial or full; again while some is left)
 *      │           ├──────▶ failed ─────┐
 *      └───────────┴──────▶ closed ─────┴──▶ succeeded   (money that arrives late is still money)
 *
 * Only these transitions exist; each is recorded with its cause. `failed` and `closed` are
 * terminal for us but not for the payer's bank: if the channel later reports the payment
 * succeeded (a callback racing our expiry, a payer's retry), the money is credited — a
 * payment is never dropped because our clock decided first.
 */
export const ORDER_STATES = ["created", "pending", "succeeded", "failed", "closed", "refunded"] as const;
export type OrderState = (typeof ORDER_STATES)[number];

export const ORDER_KINDS = ["topup", "tip"] as const;
export type OrderKind = (typeof ORDER_KINDS)[number];

/** Why an order moved: kept on every transition row. */
export const TRANSITION_CAUSES = [
  "created",
  "channel_opened",
  "callback",
  "query",
  "expired",
  "operator_refund",
  "channel_refund",
] as const;
export type TransitionCause = (typeof TRANSITION_CAUSES)[number];

const ALLOWED: Readonly<Record<OrderState, readonly OrderState[]>> = {
  created: ["pending", "succeeded", "failed", "closed"],
  pending: ["succeeded", "failed", "closed"],
  succeeded: ["refunded"],
  failed: ["succeeded"],
  closed: ["succeeded"],
  refunded: ["refunded"],
};

export function canTransition(from: OrderState, to: OrderState): boolean {
  return ALLOWED[from].includes(to);
}

/** States an order may be in for a payment to be credited to it. */
export const CREDITABLE_STATES: readonly OrderState[] = ORDER_STATES.filter((s) => canTransition(s, "succeeded"));

/** States the sweeper drives forward (no answer from the channel yet). */
export const OPEN_STATES: readonly OrderState[] = ["created", "pending"];

export function isTerminal(state: OrderState): boolean {
  return !OPEN_STATES.includes(state);
}

export interface RefundCheck {
  readonly state: OrderState;
  readonly amountMinor: number;
  readonly refundedMinor: number;
  /** What the user still holds of the credited money (their wallet balance). */
  readonly walletMinor: number;
}

/**
 * An operator refund returns money to the payer through the channel, so it must first leave
 * the wallet: only what is still there can be refunded, and never more than was paid.
 */
export function refundable(order: RefundCheck, requestedMinor: number): Result<number> {
  assert(Number.isSafeInteger(requestedMinor), "refund amount is an integer");
  if (!canTransition(order.state, "refunded")) {
    return fail("order_not_refundable", `An order in state ${order.state} cannot be refunded.`);
  }
  const leftMinor = order.amountMinor - order.refundedMinor;
  if (requestedMinor <= 0 || requestedMinor > leftMinor) {
    return fail("amount_out_of_range", `At most ${leftMinor} fen of this order can still be refunded.`);
  }
  if (requestedMinor > order.walletMinor) {
    return fail("insufficient_funds", "Only what is still in the wallet can be refunded.");
  }
  return ok(requestedMinor);
}
