/**
 * The closed set of error codes the API can answer with, and the one place they map to
 * HTTP status. Expected failures travel as values carrying one of these codes; bugs throw
 * and surface as `internal_error`.
 */
export const ERROR_CODES = {
  malformed_request: { status: 400, message: "The request is malformed." },
  idempotency_key_missing: { status: 400, message: "This request moves money and needs an Idempotency-Key header." },
  idempotency_key_invalid: {
    status: 400,
    message: "The Idempotency-Key header must be 1-255 printable ASCII characters.",
  },
  search_filter_unsupported: {
    status: 400,
    message: "This kind of record cannot be searched by that filter, or has no such state.",
  },
  message_too_long: {
    status: 400,
    message: "A message is at most 40 characters, counted as Unicode code points.",
  },
  unauthenticated: { status: 401, message: "A valid bearer token is required." },
  forbidden: { status: 403, message: "You may not do this." },
  packet_followers_only: { status: 403, message: "This red packet is for the creator's followers only." },
  not_found: { status: 404, message: "Not found." },
  record_not_found: { status: 404, message: "No ledger shard holds a record of this kind with that id." },
  gift_not_found: { status: 404, message: "There is no such gift." },
  room_not_found: { status: 404, message: "There is no such room." },
  packet_not_found: { status: 404, message: "There is no such red packet in this room." },
  campaign_not_found: { status: 404, message: "There is no such subsidy campaign." },
  subsidy_not_found: { status: 404, message: "There is no such subsidy of yours." },
  order_not_found: { status: 404, message: "There is no such payment order of yours." },
  channel_not_found: { status: 404, message: "There is no such payment channel." },
  reconciliation_not_found: { status: 404, message: "There is no such reconciliation run." },
  alert_target_not_found: { status: 404, message: "There is no such alert target." },
  partner_not_found: { status: 404, message: "There is no such partner." },
  partner_key_not_found: { status: 404, message: "There is no such API key of this partner." },
  webhook_endpoint_not_found: { status: 404, message: "There is no such webhook endpoint of yours." },
  webhook_message_not_found: { status: 404, message: "There is no such webhook message of yours." },
  alert_rule_not_found: { status: 404, message: "There is no such alert rule." },
  operator_not_found: { status: 404, message: "There is no such operator." },
  proposal_not_found: { status: 404, message: "There is no such proposal." },
  message_not_found: { status: 404, message: "There is no such message." },
  moderation_word_not_found: { status: 404, message: "There is no such word on the moderation list." },
  method_not_allowed: { status: 405, message: "Method not allowed." },
  idempotency_key_in_flight: {
    status: 409,
    message: "A request with this Idempotency-Key is still being processed; retry later.",
  },
  insufficient_funds: { status: 409, message: "The wallet balance is too low." },
  winnings_insufficient: {
    status: 409,
    message: "Only red-packet winnings can be withdrawn, and they are below this amount (top-ups never are).",
  },
  room_not_live: { status: 409, message: "The room is not live." },
  operator_identity_taken: {
    status: 409,
    message: "Another operator holds this email or service token, or this id is taken with another identity.",
  },
  message_not_held: { status: 409, message: "This message is not waiting for review." },
  dead_letter_not_open: { status: 409, message: "This dead letter was already replayed or discarded." },
  dead_letter_not_replayable: {
    status: 409,
    message: "This dead letter cannot be replayed: its body was not JSON or was too large to keep whole.",
  },
  moderation_word_exists: { status: 409, message: "This word is already on the moderation list." },
  proposal_not_pending: { status: 409, message: "This proposal has already been decided." },
  proposal_expired: { status: 409, message: "This proposal expired before a second operator approved it." },
  proposal_own: { status: 403, message: "A proposal needs a second operator: you cannot approve or reject your own." },
  last_admin: { status: 409, message: "This would leave no active admin; grant admin to another operator first." },
  room_already_live: { status: 409, message: "You already have a live room; end it first." },
  packet_exhausted: { status: 409, message: "Every share of this red packet has been claimed." },
  packet_expired: { status: 409, message: "This red packet has expired." },
  campaign_budget_exhausted: { status: 409, message: "The campaign's remaining budget is too low for this subsidy." },
  subsidy_used: { status: 409, message: "This subsidy has already been spent." },
  subsidy_room_mismatch: {
    status: 409,
    message: "This subsidy is from a campaign for another room: send its red packet in that room.",
  },
  external_id_conflict: {
    status: 409,
    message: "This external id already issued a subsidy with different details; nothing was issued.",
  },
  conflict: { status: 409, message: "The resource changed; reload and retry." },
  alert_limit_reached: { status: 409, message: "The deployment holds as many alert targets or rules as it may." },
  partner_limit_reached: {
    status: 409,
    message: "The partner holds as many API keys or webhook endpoints as it may; revoke or remove one first.",
  },
  payload_too_large: { status: 413, message: "The request body is too large." },
  unsupported_media_type: { status: 415, message: "Send JSON with Content-Type: application/json." },
  idempotency_key_reused: { status: 422, message: "This Idempotency-Key was used with a different request." },
  gift_disabled: { status: 422, message: "This gift is not available." },
  webhook_url_refused: {
    status: 422,
    message:
      "The webhook URL is refused: it must be HTTPS, name a host (no IP address, not localhost) that resolves only to public addresses.",
  },
  webhook_replay_too_large: { status: 422, message: "The replay covers too many messages; narrow the time range." },
  text_refused: {
    status: 422,
    message: "This text contains a word that is not allowed here; choose another.",
  },
  self_tip: { status: 422, message: "You cannot tip yourself." },
  amount_out_of_range: { status: 422, message: "The amount is outside the allowed range." },
  threshold_above_platform: {
    status: 422,
    message: "A room may lower the platform's big-gift threshold, not raise it.",
  },
  revenue_schedule_not_future: {
    status: 422,
    message: "A revenue schedule takes effect at least a minute after it is created; it is never retroactive.",
  },
  currency_mismatch: { status: 422, message: "The currencies do not match." },
  room_busy: { status: 429, message: "This room is taking more tips than it can queue right now; retry shortly." },
  packet_busy: { status: 429, message: "Too many people are grabbing this red packet right now; retry shortly." },
  // The gateway's rate limits (domain/rate-limits.ts): the caller's own rate, refused before any work.
  rate_limited: {
    status: 429,
    message: "Too many requests from you; nothing was done. Retry after the Retry-After header.",
  },
  // Payment PIN (domain/pin.ts, db/payment-pins.ts). Never says anything about the PIN tried.
  pin_required: {
    status: 428,
    message: "This needs your payment PIN: send the same request again with `pin`.",
  },
  pin_incorrect: { status: 403, message: "The payment PIN is not correct." },
  pin_locked: {
    status: 423,
    message: "Too many wrong payment PINs: it is locked; retry after the Retry-After header, or reset it.",
  },
  pin_not_set: { status: 409, message: "You have no payment PIN yet; set one first (PUT /v1/me/pin)." },
  pin_too_simple: {
    status: 422,
    message: "This PIN is too easy to guess (one digit repeated, or digits in a row); choose another.",
  },
  reauthentication_required: {
    status: 401,
    message: "Sign in again first: resetting a payment PIN needs a token from a recent sign-in (`auth_time`).",
  },
  order_not_refundable: {
    status: 409,
    message: "Only a paid order can be refunded, and only up to what it paid and is still in the wallet.",
  },
  template_variable_unknown: {
    status: 422,
    message: "The template uses a placeholder its kind of notice does not have.",
  },
  channel_rejected: { status: 422, message: "The payment channel refused this payment." },
  statement_malformed: {
    status: 422,
    message: "The statement cannot be read exactly; nothing was reconciled or stored.",
  },
  statement_required: {
    status: 422,
    message: "This channel's statement is not downloaded by giftwire; give its file.",
  },
  statement_not_ready: {
    status: 409,
    message: "The channel has not produced this day's statement yet; the daily check retries it later.",
  },
  tip_not_found: { status: 404, message: "There is no such tip." },
  tip_already_reversed: { status: 409, message: "This tip has already been reversed." },
  reversal_in_flight: {
    status: 409,
    message:
      "The tip's earnings have not reached the creator's ledger shard yet; retry with the same Idempotency-Key shortly.",
  },
  settlement_not_due: { status: 409, message: "This business day is not due for settlement yet (T+N)." },
  tip_not_reversible: {
    status: 422,
    message: "This tip gave the creator nothing; there is no creator part to reverse.",
  },
  // Verification (实名认证) and payout accounts (issue 14).
  real_name_invalid: { status: 422, message: "The real name must be 1-50 characters." },
  id_number_invalid: { status: 422, message: "The identity document number is not valid." },
  verification_pending: { status: 409, message: "Your verification is under review; wait for its result." },
  already_verified: { status: 409, message: "You are already verified." },
  verification_not_found: { status: 404, message: "This creator has not submitted a verification." },
  verification_not_pending: {
    status: 409,
    message: "This verification was already decided the other way; only a pending one can be reviewed.",
  },
  payout_account_not_found: { status: 404, message: "There is no such payout account of yours." },
  payout_accounts_limit: { status: 409, message: "You have bound as many payout accounts as allowed; remove one." },
  internal_error: { status: 500, message: "Something went wrong on our side." },
  unavailable: { status: 503, message: "The service is temporarily unavailable." },
  host_keys_unavailable: {
    status: 503,
    message: "The host's login keys (HOST_JWKS_URL) cannot be fetched right now; retry after the Retry-After header.",
  },
  audit_busy: {
    status: 503,
    message: "Too many operator actions at once on this database's audit log; nothing was done, retry.",
  },
  shard_moving: {
    status: 503,
    message: "Your account is being moved between ledger shards; retry after the Retry-After header.",
  },
  // Runtime switches (domain/switches.ts): an operator paused this; nothing was done.
  switch_read_only: {
    status: 503,
    message: "Money is read-only for now (an operator switch): nothing was moved; reads still work.",
  },
  switch_tips_paused: { status: 503, message: "Tips are paused here for now (an operator switch); nothing was sent." },
  switch_unlocks_paused: {
    status: 503,
    message: "Paid unlocks are paused here for now (an operator switch); nothing was charged.",
  },
  switch_packets_paused: {
    status: 503,
    message: "Red packets are paused here for now (an operator switch); nothing was sent or claimed.",
  },
  switch_channel_out: {
    status: 503,
    message: "This payment channel is out of service for now (an operator switch); choose another.",
  },
  switch_not_found: { status: 404, message: "There is no such switch set." },
  // Risk (domain/risk): a rule stopped this attempt; nothing was moved.
  risk_blocked: { status: 403, message: "This was refused by a risk rule; nothing was moved." },
  risk_review: {
    status: 403,
    message: "This is held for review by a risk rule; nothing was moved. It may be tried again once reviewed.",
  },
  risk_challenge: {
    status: 428,
    message: "A risk rule asks you to confirm this with your payment PIN; send it again with your PIN.",
  },
  held_tip_not_found: { status: 404, message: "There is no such held tip." },
  held_tip_decided: { status: 409, message: "This held tip has already been decided otherwise." },
  held_tip_changed: {
    status: 409,
    message:
      "The tip cannot be sent as it was held (its room's creator or its price changed); decline it to refund the payer.",
  },
  content_not_found: { status: 404, message: "There is no such content item." },
  content_archived: {
    status: 409,
    message: "This content item is archived: it can no longer be unlocked or tipped.",
  },
  content_not_priced: { status: 409, message: "This content item is free: there is nothing to unlock." },
  cannot_unlock_own_content: { status: 422, message: "A creator cannot unlock their own content." },
  already_unlocked: { status: 409, message: "You have already unlocked this content item; nothing was charged." },
  unlock_not_found: { status: 404, message: "There is no such unlock." },
  unlock_already_refunded: { status: 409, message: "This unlock has already been refunded." },
  unlock_refund_in_flight: {
    status: 409,
    message:
      "The unlock's earnings have not reached the creator's ledger shard yet; retry with the same Idempotency-Key shortly.",
  },
  unlock_not_refundable: {
    status: 422,
    message: "This unlock gave the creator or the platform nothing; it cannot be refunded in two parts.",
  },
  creator_not_linked: { status: 403, message: "This creator is not linked to your partner account." },
  risk_rule_not_found: { status: 404, message: "There is no such risk rule." },
  risk_list_entry_not_found: { status: 404, message: "There is no such entry on this risk list." },
  channel_unavailable: {
    status: 503,
    message: "No payment channel for this method is answering; retry with the same Idempotency-Key.",
  },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];

export function statusOf(code: ErrorCode): number {
  return ERROR_CODES[code].status;
}

/** An expected failure, returned (never thrown) by domain logic. */
export interface Failure<C extends ErrorCode = ErrorCode> {
  readonly ok: false;
  readonly code: C;
  readonly message: string;
}

export interface Success<T> {
  readonly ok: true;
  readonly value: T;
}

export type Result<T, C extends ErrorCode = ErrorCode> = Success<T> | Failure<C>;

export function ok<T>(value: T): Success<T> {
  return { ok: true, value };
}

export function fail<C extends ErrorCode>(code: C, message: string = ERROR_CODES[code].message): Failure<C> {
  return { ok: false, code, message };
}
