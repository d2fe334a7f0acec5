/**
 * Why an operation did not post: one code per rule, like TigerBeetle's `CreateTransferResult`.
 *
 * A guard is a SQL condition evaluated inside the operation's batch (src/db/ledger.ts); when
 * it fails, the verdict names exactly this code, so a caller branches on the rule that failed
 * and never on a catch-all. Only the HTTP edge turns a guard code into an API error code, from
 * `GUARD_ERRORS` below; several rules may share an API code where the client's remedy is the
 * same (reload and retry), but no caller inside the service ever sees them merged.
 */

import type { ErrorCode } from "./errors";

export const GUARD_ERRORS = {
  // Every operation: the ledger adds these to each one's own guards (src/db/ledger.ts).
  currency_mismatch: "currency_mismatch",
  insufficient_funds: "insufficient_funds",
  balance_ceiling: "amount_out_of_range",
  /**
   * An owner account of a bucket this shard must not write (being moved, moved away, not yet
   * arrived: src/db/bucket-move.ts). The writer's bucket map is stale or the bucket is frozen;
   * retrying after re-reading the map succeeds.
   */
  bucket_fenced: "shard_moving",
  /** A bucket move's debit of an account whose balance changed since the mover read it. */
  bucket_move_balance_changed: "conflict",
  /** A bucket move's debit in a shard where the bucket is not frozen for that move. */
  bucket_move_not_frozen: "conflict",
  // Tips.
  /**
   * The room's group commit (durable-objects/live-room.tips.ts): the tip's Idempotency-Key
   * already has a live record. Never shown as such: the room reads the record and answers as
   * the key's semantics say (replay, reused, in flight), like the Worker's `runIdempotent`.
   */
  idempotency_key_taken: "idempotency_key_in_flight",
  room_not_live: "room_not_live",
  gift_disabled: "gift_disabled",
  gift_price_changed: "conflict",
  autopay_per_tip_exceeded: "pin_required",
  autopay_per_day_exceeded: "pin_required",
  /** Pay-to-tip: the order's tip was already attempted (sent or refused) by another delivery. */
  tip_already_decided: "conflict",
  /** Pay-to-tip: the order is not paid in this batch (its credit was refused): the wallet's money is not the order's. */
  tip_order_unpaid: "conflict",
  /** A tip's quoted tier rate outlived its time before the tip committed (live-room.tiers.ts); retry. */
  tip_rate_expired: "conflict",
  /**
   * A held tip's approval, decline or expiry (operations/tip-hold-release.ts) found it no longer
   * `held` (or, for the sweeper's expiry, not yet expired): another decision came first.
   */
  held_tip_not_held: "held_tip_decided",
  // Red packets.
  room_packets_open_max: "conflict",
  subsidy_used: "subsidy_used",
  packet_not_found: "packet_not_found",
  /** A claim credit beyond the packet's shares: a bug in the room, refused rather than overpaid. */
  packet_shares_credited: "packet_exhausted",
  /** The expiry refund of a packet already refunded or not open. */
  packet_not_open: "conflict",
  /** A cashier-paid packet: the order's packet was already attempted (sent or refused) by another delivery. */
  packet_already_decided: "conflict",
  /** A cashier-paid packet whose order is not paid in this batch (its credit did not post): never from other money. */
  packet_order_unpaid: "conflict",
  /**
   * A cashier-paid packet whose money arrived after the order had failed or expired: the payer
   * was told it did not go out, so it never does; the money stays in the wallet.
   */
  packet_order_lapsed: "conflict",
  // Subsidy campaigns.
  subsidy_external_id_taken: "external_id_conflict",
  campaign_budget_exhausted: "campaign_budget_exhausted",
  // Payments.
  /** The credit of an order that is not waiting for its money: another path settled it first. */
  order_not_creditable: "internal_error",
  /** The channel's transaction already paid another of our orders (a second payment). */
  provider_txn_settled_other_order: "conflict",
  order_not_refundable: "order_not_refundable",
  /** A refund reversal for a refund that is no longer `requested` (confirmed or reversed already). */
  refund_not_requested: "conflict",
  // Settlement and tip reversals (issue 14).
  /** A reversal or settlement of the same creator committed since the settlement read its inputs: re-read. */
  settlement_inputs_changed: "conflict",
  /** The tip already has a reversal (one per tip). */
  tip_already_reversed: "tip_already_reversed",
  /** An unlock: the payer already holds an active entitlement to the item (operations/unlock.ts). */
  already_unlocked: "already_unlocked",
  /** A pay-to-unlock order (operations/unlock-paid.ts): its unlock was already attempted (made or refused) by another delivery. */
  unlock_already_decided: "conflict",
  /** A pay-to-unlock order not paid in this batch (its credit did not post): never from other money. */
  unlock_order_unpaid: "conflict",
  /**
   * A pay-to-unlock order whose money arrived after the order had failed or expired: the payer was
   * told it did not unlock, so it never does; the money stays in the wallet.
   */
  unlock_order_lapsed: "conflict",
  /**
   * A pay-to-unlock order whose item was repriced after the order was made: decided before the
   * batch (the price is a control fact), the money stays in the wallet.
   */
  unlock_price_changed: "conflict",
  /** The tip's creator part has not reached the creator's shard yet (transit): retry shortly. */
  reversal_in_flight: "reversal_in_flight",
  /** The tip's day settled since the reversal read it (it now comes from the receivable): re-read. */
  reversal_route_changed: "conflict",
  /**
   * An unlock refund (operations/unlock-refund.ts, -payer.ts): the unlock already has its refund
   * (the creator's leg), or its entitlement is no longer active (the payer's leg).
   */
  unlock_already_refunded: "unlock_already_refunded",
  /** An unlock refund before the unlock's creator part reached the creator's shard (transit). */
  unlock_refund_in_flight: "unlock_refund_in_flight",
  // Withdrawals (operations/withdrawal-*.ts).
  /** The business day's withdrawal count cap, counted in the batch (concurrent requests cannot pass it). */
  withdrawal_daily_count_exceeded: "amount_out_of_range",
  /** The business day's withdrawal amount cap, summed in the batch. */
  withdrawal_daily_amount_exceeded: "amount_out_of_range",
  /**
   * A winnings withdrawal above the withdrawable part of the wallet (docs/adr/0017): top-up
   * money is never withdrawn, however much the wallet holds.
   */
  winnings_insufficient: "winnings_insufficient",
  /** A release or payout of a withdrawal no longer in the state it expects (another path moved it first). */
  withdrawal_state_changed: "conflict",
} as const satisfies Record<string, ErrorCode>;

export type GuardCode = keyof typeof GUARD_ERRORS;

export const GUARD_CODES = Object.keys(GUARD_ERRORS) as [GuardCode, ...GuardCode[]];

/** The API error a failed guard answers with: the one table the HTTP edge uses. */
export function errorForGuard(code: GuardCode): ErrorCode {
  return GUARD_ERRORS[code];
}
