/**
 * Payment orders: money entering through a channel (a wallet top-up).
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

/**
 * `topup` credits the wallet; `tip` credits it and sends a tip from it in the same batch;
 * `packet` credits it and sends a red packet from it in the same batch (paid at the cashier);
 * `unlock` credits it and unlocks a priced content item from it in the same batch (pay-to-unlock).
 */
export const ORDER_KINDS = ["topup", "tip", "packet", "unlock"] as const;
export type OrderKind = (typeof ORDER_KINDS)[number];

/** Why an order moved: kept on every transition row. */
export type TransitionCause =
  | "created"
  | "channel_opened"
  | "channel_rejected"
  | "callback"
  | "query"
  | "expired"
  | "refund";

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

/** States still waiting for the channel's answer. */
export const OPEN_STATES: readonly OrderState[] = ["created", "pending"];
