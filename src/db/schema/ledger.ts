/**
 * One ledger shard (every shard has this schema). Money moves only through `transfers`
 * (append-only, enforced by triggers in a hand-written migration); `accounts.balance_minor`
 * is the running sum of an account's transfers, kept in the same batch as the transfers and
 * verified by the invariant checker. A row lives in the shard of the owner whose money it
 * records (domain/shards.ts); a credit bound for another shard crosses through the pair of
 * `transit:` accounts and the `transit_outbox` (domain/cross-shard.ts).
 */

import { sql } from "drizzle-orm";
import { check, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const accounts = sqliteTable(
  "accounts",
  {
    address: text("address").primaryKey(),
    currency: text("currency").notNull(),
    balanceMinor: integer("balance_minor").notNull().default(0),
    mayGoNegative: integer("may_go_negative", { mode: "boolean" }).notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
  },
  (t) => [
    // The last line of defence: the SQL guards should make this unreachable.
    check("accounts_protected_non_negative", sql`${t.mayGoNegative} = 1 OR ${t.balanceMinor} >= 0`),
    // The operator search's users, newest first (src/db/reads/search.ts): the wallets only.
    index("accounts_user_wallets_created").on(t.createdAtMs, t.address).where(sql`address LIKE 'user:%:wallet'`),
  ],
);

export const operations = sqliteTable(
  "operations",
  {
    id: text("id").primaryKey(),
    kind: text("kind").notNull(),
    currency: text("currency").notNull(),
    /** The total the operation declares it moves: Σ of its transfers must equal it. */
    amountMinor: integer("amount_minor").notNull(),
    transferCount: integer("transfer_count").notNull(),
    /** `posting` only exists inside the batch that creates the operation. */
    state: text("state", { enum: ["posting", "posted"] }).notNull(),
    actorId: text("actor_id").notNull(),
    reason: text("reason"),
    metadata: text("metadata"),
    createdAtMs: integer("created_at_ms").notNull(),
  },
  (t) => [
    check("operations_amount_positive", sql`${t.amountMinor} > 0`),
    index("operations_kind_created").on(t.kind, t.createdAtMs),
  ],
);

export const transfers = sqliteTable(
  "transfers",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    operationId: text("operation_id")
      .notNull()
      .references(() => operations.id),
    fromAccount: text("from_account")
      .notNull()
      .references(() => accounts.address),
    toAccount: text("to_account")
      .notNull()
      .references(() => accounts.address),
    amountMinor: integer("amount_minor").notNull(),
    currency: text("currency").notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
  },
  (t) => [
    check("transfers_amount_positive", sql`${t.amountMinor} > 0`),
    check("transfers_distinct_accounts", sql`${t.fromAccount} <> ${t.toAccount}`),
    index("transfers_from_id").on(t.fromAccount, t.id),
    index("transfers_to_id").on(t.toAccount, t.id),
    index("transfers_operation").on(t.operationId),
  ],
);

export const idempotencyKeys = sqliteTable(
  "idempotency_keys",
  {
    principalId: text("principal_id").notNull(),
    key: text("key").notNull(),
    requestHash: text("request_hash").notNull(),
    state: text("state", { enum: ["in_flight", "completed"] }).notNull(),
    /** The id the operation will carry, fixed when the key is first seen. */
    operationId: text("operation_id").notNull(),
    lockedUntilMs: integer("locked_until_ms").notNull(),
    responseStatus: integer("response_status"),
    responseBody: text("response_body"),
    createdAtMs: integer("created_at_ms").notNull(),
    expiresAtMs: integer("expires_at_ms").notNull(),
  },
  (t) => [primaryKey({ columns: [t.principalId, t.key] }), index("idempotency_keys_expires").on(t.expiresAtMs)],
);

export const tips = sqliteTable(
  "tips",
  {
    /** Also the id of the ledger operation that moved the money. */
    id: text("id")
      .primaryKey()
      .references(() => operations.id),
    /** The live room and stream it was sent in; null for a tip on a content item. */
    roomId: text("room_id"),
    streamId: text("stream_id"),
    viewerId: text("viewer_id").notNull(),
    creatorId: text("creator_id").notNull(),
    giftId: text("gift_id"),
    quantity: integer("quantity").notNull(),
    amountMinor: integer("amount_minor").notNull(),
    /** Whether the room showed it in the big-gift lane (decided at commit). */
    big: integer("big", { mode: "boolean" }).notNull(),
    platformMinor: integer("platform_minor").notNull(),
    creatorMinor: integer("creator_minor").notNull(),
    currency: text("currency").notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
    /** The platform rate the tip was split at (issue 14); null on tips from before rates were recorded. */
    platformBps: integer("platform_bps"),
    /** The tier schedule version it used; null for the fixed default or the creator's override. */
    scheduleVersion: integer("schedule_version"),
    /**
     * The content item (control `content_items`) it was sent on (issue 19); null for a tip in a
     * room. Last, so an archive manifest written before it lists a prefix of today's columns.
     */
    contentId: text("content_id"),
  },
  (t) => [
    check("tips_parts_sum", sql`${t.platformMinor} + ${t.creatorMinor} = ${t.amountMinor}`),
    // Exactly one target: a room with its stream, or a content item.
    check(
      "tips_target",
      sql`(${t.roomId} IS NOT NULL AND ${t.streamId} IS NOT NULL AND ${t.contentId} IS NULL) OR (${t.roomId} IS NULL AND ${t.streamId} IS NULL AND ${t.contentId} IS NOT NULL)`,
    ),
    index("tips_room_created").on(t.roomId, t.createdAtMs),
    index("tips_viewer_created").on(t.viewerId, t.createdAtMs),
    // A creator's income: settlement sums a day, statements list it (every shard holds some).
    index("tips_creator_created").on(t.creatorId, t.createdAtMs),
    // Settlement sums one business day of every creator per shard (db/reads/settlement-inputs.ts).
    index("tips_created").on(t.createdAtMs),
    // A gift may be deleted from the catalogue only if no shard has a tip of it.
    index("tips_gift").on(t.giftId),
    // A content item's totals and leaderboard: per shard, grouped by viewer (covering).
    index("tips_content_viewer").on(t.contentId, t.viewerId, t.amountMinor),
    // A content item's recent tips, newest first, paged by (time, id) (worker/routes/content-tips.ts).
    index("tips_content_created").on(t.contentId, t.createdAtMs, t.id),
  ],
);

/**
 * A tip's message (issue 16), in the payer's shard beside the tip and written in its batch,
 * only if the tip posts. `shown` is what the room shows (mask-level words masked); a `held`
 * message is not shown until an operator approves it (src/db/tip-messages.ts). The money never
 * waits for it: the tip posts whatever the message's status.
 */
export const tipMessages = sqliteTable(
  "tip_messages",
  {
    tipId: text("tip_id").primaryKey(),
    /** The tip's room, or its content item (issue 19): one of the two, as on the tip. */
    roomId: text("room_id"),
    contentId: text("content_id"),
    viewerId: text("viewer_id").notNull(),
    creatorId: text("creator_id").notNull(),
    /** What the viewer wrote (trimmed, at most LIMITS.tipMessageMaxCodePoints code points). */
    text: text("text").notNull(),
    shown: text("shown").notNull(),
    status: text("status", { enum: ["shown", "masked", "held", "approved", "rejected"] }).notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
    reviewedBy: text("reviewed_by"),
    reviewedAtMs: integer("reviewed_at_ms"),
  },
  (t) => [
    check("tip_messages_status", sql`${t.status} IN ('shown', 'masked', 'held', 'approved', 'rejected')`),
    // The review queue pages through held messages oldest first.
    index("tip_messages_status_created").on(t.status, t.createdAtMs, t.tipId),
  ],
);

/**
 * Tips a risk rule parked for review (issue 16, outcome `review`), in the payer's shard: the
 * money moved from the payer's wallet to `user:{id}:held` in the row's own batch (operation id
 * = the row's id, operations/tip-hold.ts). An operator approves (the money becomes the tip
 * `tip_id`, paid from the held account) or declines (back to the wallet); nobody deciding by
 * `expires_at_ms` declines it by the sweeper (`expired`). Per payer, the held account's balance
 * = Σ amount_minor of their rows in state `held` (the invariant checker holds this).
 */
export const heldTips = sqliteTable(
  "held_tips",
  {
    id: text("id").primaryKey(),
    viewerId: text("viewer_id").notNull(),
    /** The tip's target: a room (`room_id`) or a content item (`content_id`, issue 19), exactly one. */
    roomId: text("room_id"),
    creatorId: text("creator_id").notNull(),
    /** What the payer asked for (JSON: `{kind: "gift", giftId, quantity}` or `{kind: "custom", amount}`). */
    ask: text("ask").notNull(),
    giftId: text("gift_id"),
    quantity: integer("quantity").notNull(),
    amountMinor: integer("amount_minor").notNull(),
    currency: text("currency").notNull(),
    /** The message as moderated at the edge (JSON ModeratedMessage), or null. */
    message: text("message"),
    /** The risk decision that held it (`risk_decisions.id`) and its fired rules (JSON FiredRule[]). */
    decisionId: text("decision_id").notNull(),
    fired: text("fired").notNull(),
    idempotencyKey: text("idempotency_key").notNull(),
    state: text("state", { enum: ["held", "approved", "declined", "expired"] }).notNull(),
    /** The tip an approval makes (fixed when held: `tip_` + this id's time and randomness). */
    tipId: text("tip_id").notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
    expiresAtMs: integer("expires_at_ms").notNull(),
    decidedBy: text("decided_by"),
    decidedAtMs: integer("decided_at_ms"),
    decisionReason: text("decision_reason"),
    contentId: text("content_id"),
  },
  (t) => [
    check("held_tips_target", sql`(${t.roomId} IS NULL) <> (${t.contentId} IS NULL)`),
    check("held_tips_state", sql`${t.state} IN ('held', 'approved', 'declined', 'expired')`),
    check("held_tips_amount", sql`${t.amountMinor} > 0`),
    // The review queue pages by state, oldest first (ids sort by time); the sweeper finds the expired ones.
    index("held_tips_state_id").on(t.state, t.id),
    index("held_tips_state_expires").on(t.state, t.expiresAtMs),
  ],
);

/**
 * A red packet's greeting held for review (issue 16), in the sender's shard beside the packet and
 * written in its send batch, only if the packet posts. While held the packet shows the default
 * greeting; approving it (src/db/packet-greetings.ts) sets the packet's greeting to `shown` and
 * tells the room. Only held greetings get a row; the money never waits for it.
 */
export const packetGreetings = sqliteTable(
  "packet_greetings",
  {
    packetId: text("packet_id").primaryKey(),
    roomId: text("room_id").notNull(),
    senderId: text("sender_id").notNull(),
    creatorId: text("creator_id").notNull(),
    /** What the sender wrote (trimmed, at most LIMITS.packetGreetingMaxLength). */
    text: text("text").notNull(),
    shown: text("shown").notNull(),
    status: text("status", { enum: ["held", "approved", "rejected"] }).notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
    reviewedBy: text("reviewed_by"),
    reviewedAtMs: integer("reviewed_at_ms"),
  },
  (t) => [
    check("packet_greetings_status", sql`${t.status} IN ('held', 'approved', 'rejected')`),
    // The review queue pages through held greetings oldest first, with the tip messages.
    index("packet_greetings_status_created").on(t.status, t.createdAtMs, t.packetId),
  ],
);

/**
 * Red packets. The money sits in `packet:{id}:escrow` from sending until it is claimed
 * (credited claim by claim from the room, through the ledger queue) or refunded at expiry.
 * The room's Durable Object is the authority on claims; these rows are the ledger's view:
 *   escrow balance = total − credited − refunded, always;
 *   once finished, final_claimed − credited is what is still in flight to wallets (→ 0).
 */
export const redPackets = sqliteTable(
  "red_packets",
  {
    /** Also the id of the operation that funded the escrow. */
    id: text("id")
      .primaryKey()
      .references(() => operations.id),
    roomId: text("room_id").notNull(),
    streamId: text("stream_id").notNull(),
    senderId: text("sender_id").notNull(),
    /** C2C from the sender's wallet, or B2C from a subsidy (refunds go back to its campaign). */
    funding: text("funding", { enum: ["wallet", "subsidy"] }).notNull(),
    subsidyId: text("subsidy_id"),
    campaignId: text("campaign_id"),
    currency: text("currency").notNull(),
    totalMinor: integer("total_minor").notNull(),
    shares: integer("shares").notNull(),
    split: text("split", { enum: ["lucky", "equal"] }).notNull(),
    greeting: text("greeting").notNull(),
    audience: text("audience", { enum: ["everyone", "followers"] }).notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
    expiresAtMs: integer("expires_at_ms").notNull(),
    /** open → exhausted (every share credited) | refunded (expired, remainder returned). */
    status: text("status", { enum: ["open", "exhausted", "refunded"] }).notNull(),
    creditedCount: integer("credited_count").notNull().default(0),
    creditedMinor: integer("credited_minor").notNull().default(0),
    /** The room's final count when the packet expired. */
    finalClaimCount: integer("final_claim_count"),
    finalClaimedMinor: integer("final_claimed_minor"),
    refundedMinor: integer("refunded_minor").notNull().default(0),
    finishedAtMs: integer("finished_at_ms"),
    /** Failed attempts of the expiry sweeper; 3 or more raises an operator alert. */
    sweepAttempts: integer("sweep_attempts").notNull().default(0),
    // Last, in the order migration 0007 added them (archives list columns in table order).
    /**
     * Provably fair shares (docs/adr/0008): the secret seed every share is drawn from, kept
     * here and in the room until the packet is finished, and its SHA-256 published at send.
     * Null for packets sent before the scheme.
     */
    seedHex: text("seed_hex"),
    commitmentHex: text("commitment_hex"),
  },
  (t) => [
    check("red_packets_shape", sql`${t.shares} >= 1 AND ${t.totalMinor} >= ${t.shares}`),
    check("red_packets_credited", sql`${t.creditedCount} <= ${t.shares} AND ${t.creditedMinor} <= ${t.totalMinor}`),
    check("red_packets_conserved", sql`${t.creditedMinor} + ${t.refundedMinor} <= ${t.totalMinor}`),
    check("red_packets_funding", sql`${t.funding} = 'wallet' OR ${t.subsidyId} IS NOT NULL`),
    index("red_packets_sender_created").on(t.senderId, t.createdAtMs),
    index("red_packets_room_created").on(t.roomId, t.createdAtMs),
    index("red_packets_open_expiry").on(t.status, t.expiresAtMs),
    // The dashboard's rollup reads a day's packets, and their claims through them.
    index("red_packets_created").on(t.createdAtMs),
  ],
);

/** A claim as credited to the claimer's wallet; the id is the room's claim id and the operation's. */
export const redPacketClaims = sqliteTable(
  "red_packet_claims",
  {
    id: text("id")
      .primaryKey()
      .references(() => operations.id),
    packetId: text("packet_id")
      .notNull()
      .references(() => redPackets.id),
    userId: text("user_id").notNull(),
    claimIndex: integer("claim_index").notNull(),
    amountMinor: integer("amount_minor").notNull(),
    claimedAtMs: integer("claimed_at_ms").notNull(),
    creditedAtMs: integer("credited_at_ms").notNull(),
  },
  (t) => [
    check("red_packet_claims_positive", sql`${t.amountMinor} >= 1`),
    uniqueIndex("red_packet_claims_one_per_user").on(t.packetId, t.userId),
    uniqueIndex("red_packet_claims_index").on(t.packetId, t.claimIndex),
    index("red_packet_claims_user").on(t.userId, t.claimedAtMs),
  ],
);

/** A subsidy issued to a user: spent whole on one red packet. */
export const subsidies = sqliteTable(
  "subsidies",
  {
    id: text("id")
      .primaryKey()
      .references(() => operations.id),
    campaignId: text("campaign_id").notNull(),
    /** The issuing system's id; the same one never issues twice. */
    externalId: text("external_id").notNull(),
    userId: text("user_id").notNull(),
    currency: text("currency").notNull(),
    amountMinor: integer("amount_minor").notNull(),
    status: text("status", { enum: ["issued", "used"] }).notNull(),
    packetId: text("packet_id"),
    issuedAtMs: integer("issued_at_ms").notNull(),
    usedAtMs: integer("used_at_ms"),
  },
  (t) => [
    uniqueIndex("subsidies_campaign_external").on(t.campaignId, t.externalId),
    index("subsidies_user_issued").on(t.userId, t.issuedAtMs),
    check("subsidies_used_has_packet", sql`${t.status} = 'issued' OR ${t.packetId} IS NOT NULL`),
  ],
);

/**
 * Payment orders. `id` is also the merchant order number sent to the channel (32
 * characters: within WeChat's 6–32). The credit of a successful payment is the ledger
 * operation with the same id, so an order is credited at most once however many times and
 * by whichever path (callback, query, redelivery) its payment is reported.
 */
export const paymentOrders = sqliteTable(
  "payment_orders",
  {
    id: text("id").primaryKey(),
    kind: text("kind", { enum: ["topup", "tip", "packet", "unlock"] }).notNull(),
    userId: text("user_id").notNull(),
    /** The channel the order is open on; while still `created` a failover may move it to the method's backup. */
    channel: text("channel").notNull(),
    /** The payment method the payer chose (`qr`, `card`, …); null when they named a channel. */
    method: text("method"),
    currency: text("currency").notNull(),
    amountMinor: integer("amount_minor").notNull(),
    state: text("state", {
      enum: ["created", "pending", "succeeded", "failed", "closed", "refunded"],
    }).notNull(),
    /** The channel's transaction id once known; one payment never settles two orders. */
    providerTxnId: text("provider_txn_id"),
    refundedMinor: integer("refunded_minor").notNull().default(0),
    idempotencyKey: text("idempotency_key").notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
    expiresAtMs: integer("expires_at_ms").notNull(),
    updatedAtMs: integer("updated_at_ms").notNull(),
    /** Transitions recorded so far; the next one is numbered `transition_count`. */
    transitionCount: integer("transition_count").notNull().default(1),
    /** The provider's id for the opened payment where it has one (Stripe `pi_…`). */
    providerRef: text("provider_ref"),
    /** What the payer does next (JSON PayerStep), replayed to a repeated create. */
    payerStep: text("payer_step"),
    /** Pay-to-tip: the tip to send when the payment succeeds (JSON), its id and what became of it. */
    tipRequest: text("tip_request"),
    tipId: text("tip_id"),
    /** `sent`, or the code that kept the tip from happening (the money then stays in the wallet). */
    tipOutcome: text("tip_outcome"),
    /**
     * Cashier-paid red packet: the packet to send when the payment succeeds (JSON, frozen at
     * creation: room, total, shares, split, moderated greeting, audience, ttl), its id and what
     * became of it (`sent`, or the code that kept it from going out: the money then stays in the wallet).
     */
    packetRequest: text("packet_request"),
    packetId: text("packet_id"),
    packetOutcome: text("packet_outcome"),
    /**
     * Pay-to-unlock: the content item to unlock when the payment succeeds (the order's amount is
     * its price when the order was made), the unlock's id and what became of it (`unlocked`,
     * or the code that kept it from happening: the money then stays in the wallet).
     */
    unlockContentId: text("unlock_content_id"),
    unlockId: text("unlock_id"),
    unlockOutcome: text("unlock_outcome"),
    /** Active queries of the channel made for this order, and when the next one is due. */
    queryAttempts: integer("query_attempts").notNull().default(0),
    nextQueryAtMs: integer("next_query_at_ms"),
  },
  (t) => [
    index("payment_orders_next_query").on(t.nextQueryAtMs),
    uniqueIndex("payment_orders_provider_txn").on(t.channel, t.providerTxnId),
    uniqueIndex("payment_orders_user_key").on(t.userId, t.idempotencyKey),
    index("payment_orders_user_created").on(t.userId, t.createdAtMs),
    // The operator search, newest first over every order (src/db/reads/search.ts).
    index("payment_orders_created").on(t.createdAtMs, t.id),
    /** The stuck check (src/worker/checks/stuck.ts): open orders long past their expiry. */
    index("payment_orders_state_expiry").on(t.state, t.expiresAtMs),
    check("payment_orders_amount_positive", sql`${t.amountMinor} > 0`),
    check("payment_orders_refund_bounded", sql`${t.refundedMinor} >= 0 AND ${t.refundedMinor} <= ${t.amountMinor}`),
  ],
);

export const paymentOrderTransitions = sqliteTable(
  "payment_order_transitions",
  {
    orderId: text("order_id")
      .notNull()
      .references(() => paymentOrders.id),
    seq: integer("seq").notNull(),
    fromState: text("from_state"),
    toState: text("to_state").notNull(),
    cause: text("cause").notNull(),
    /** The notification, query or operator behind it. */
    ref: text("ref"),
    atMs: integer("at_ms").notNull(),
  },
  (t) => [primaryKey({ columns: [t.orderId, t.seq] })],
);

/**
 * Refunds of paid orders, by an operator, of what is still in the payer's wallet. The wallet
 * is debited when the refund is requested (in the same batch as this row); a refund the
 * channel refuses is reversed by a new operation, never by editing the first.
 */
export const paymentRefunds = sqliteTable(
  "payment_refunds",
  {
    id: text("id").primaryKey(),
    orderId: text("order_id")
      .notNull()
      .references(() => paymentOrders.id),
    amountMinor: integer("amount_minor").notNull(),
    state: text("state", { enum: ["requested", "pending", "succeeded", "failed"] }).notNull(),
    providerRefundId: text("provider_refund_id"),
    reason: text("reason").notNull(),
    actorId: text("actor_id").notNull(),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAtMs: integer("next_attempt_at_ms"),
    failure: text("failure"),
    createdAtMs: integer("created_at_ms").notNull(),
    updatedAtMs: integer("updated_at_ms").notNull(),
  },
  (t) => [
    index("payment_refunds_order").on(t.orderId),
    index("payment_refunds_next_attempt").on(t.nextAttemptAtMs),
    // The operator search, newest first (src/db/reads/search.ts).
    index("payment_refunds_created").on(t.createdAtMs, t.id),
    check("payment_refunds_amount_positive", sql`${t.amountMinor} > 0`),
  ],
);

/** 小额免密: tips from the wallet without a confirmation, up to limits the user chose. */
export const autopaySettings = sqliteTable("autopay_settings", {
  userId: text("user_id").primaryKey(),
  perTipMaxMinor: integer("per_tip_max_minor").notNull(),
  perDayMaxMinor: integer("per_day_max_minor").notNull(),
  updatedAtMs: integer("updated_at_ms").notNull(),
});

/**
 * A user's payment PIN (domain/pin.ts), in their own shard beside their wallet and limits:
 * PBKDF2-SHA-256 of the PIN with its salt and iteration count, never the PIN. `tries_used`
 * counts tries since the last right one; the try that brings it to `LIMITS.pinTriesMax` sets
 * `locked_until_ms` (0 = not locked). A try is claimed by one conditional UPDATE before the
 * PIN is derived (db/payment-pins.ts), so parallel guesses cannot exceed the count.
 */
export const paymentPins = sqliteTable(
  "payment_pins",
  {
    userId: text("user_id").primaryKey(),
    hashHex: text("hash_hex").notNull(),
    saltHex: text("salt_hex").notNull(),
    iterations: integer("iterations").notNull(),
    triesUsed: integer("tries_used").notNull().default(0),
    lockedUntilMs: integer("locked_until_ms").notNull().default(0),
    createdAtMs: integer("created_at_ms").notNull(),
    updatedAtMs: integer("updated_at_ms").notNull(),
  },
  (t) => [check("payment_pins_tries_non_negative", sql`${t.triesUsed} >= 0`)],
);

/**
 * Credits this shard owes other shards (domain/cross-shard.ts): written in the same batch as
 * the operation that debited here and credited `transit:{destination}`, delivered by the
 * ledger-postings consumer, which posts the legs in the destination from `transit:{origin}`
 * under the id `{operation}>{destination}` and then marks the row delivered.
 */
export const transitOutbox = sqliteTable(
  "transit_outbox",
  {
    operationId: text("operation_id")
      .notNull()
      .references(() => operations.id),
    destinationShard: integer("destination_shard").notNull(),
    /** The operation's kind, so the destination's history shows a tip as a tip. */
    operationKind: text("operation_kind").notNull(),
    /** The legs to post in the destination, each `transit:{origin}` → a real account (JSON). */
    postings: text("postings").notNull(),
    amountMinor: integer("amount_minor").notNull(),
    currency: text("currency").notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
    deliveredAtMs: integer("delivered_at_ms"),
    attempts: integer("attempts").notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.operationId, t.destinationShard] }),
    check("transit_outbox_amount_positive", sql`${t.amountMinor} > 0`),
    index("transit_outbox_pending").on(t.deliveredAtMs, t.createdAtMs),
  ],
);

/**
 * Archives of this shard's closed periods (src/db/archive, docs/SCALING.md, Archival). An archive
 * holds every live transfer up to its cut, `cut_transfer_id`, except those of operations a
 * live row still needs (ledger_archive_holds and the retention rules), together with their
 * operations and the rows that exist only for those operations (tips, red packets and their
 * claims, delivered transit outbox rows). Its files and manifest are in R2; a row leaves D1
 * only once the archive is `verified` (re-read from R2, every digest matching), enforced by
 * the delete triggers of migrations/ledger/0003_archive_triggers.sql.
 *   exporting → exported → verified → pruned      (an archive of this shard)
 *   importing → imported                          (an archive read back into an empty shard)
 */
export const ledgerArchives = sqliteTable(
  "ledger_archives",
  {
    /** `arc-s{shard}-{cut}`: one archive per shard and cut. */
    id: text("id").primaryKey(),
    shard: integer("shard").notNull(),
    state: text("state", {
      enum: ["exporting", "exported", "verified", "pruned", "importing", "imported"],
    }).notNull(),
    /** The period asked for: transfers created before `to_ms`, from the previous archive's `to_ms`. */
    fromMs: integer("from_ms").notNull(),
    toMs: integer("to_ms").notNull(),
    /** The cut: the last transfer id created before `to_ms` (ids are the commit order). */
    cutTransferId: integer("cut_transfer_id").notNull(),
    /** The exported transfers' id and time spans (null until the first file is planned). */
    firstTransferId: integer("first_transfer_id"),
    lastTransferId: integer("last_transfer_id"),
    minCreatedAtMs: integer("min_created_at_ms"),
    maxCreatedAtMs: integer("max_created_at_ms"),
    /** Export progress: every live transfer up to here is classified (exported or retained). */
    exportCursor: integer("export_cursor").notNull().default(0),
    /** Operations kept live by the retention rules, by reason (JSON object of counts). */
    retained: text("retained").notNull().default("{}"),
    /** Prune progress: transfers above this id are gone (null until pruning starts). */
    pruneCursor: integer("prune_cursor"),
    manifestKey: text("manifest_key"),
    manifestSha256: text("manifest_sha256"),
    checkpointSha256: text("checkpoint_sha256"),
    createdAtMs: integer("created_at_ms").notNull(),
    exportedAtMs: integer("exported_at_ms"),
    verifiedAtMs: integer("verified_at_ms"),
    prunedAtMs: integer("pruned_at_ms"),
  },
  (t) => [
    index("ledger_archives_state").on(t.state),
    check("ledger_archives_period", sql`${t.fromMs} <= ${t.toMs}`),
    check(
      "ledger_archives_exported_has_manifest",
      sql`${t.state} IN ('exporting', 'importing') OR (${t.manifestKey} IS NOT NULL AND ${t.manifestSha256} IS NOT NULL)`,
    ),
  ],
);

/**
 * What must stay live for the archive being exported, snapshotted when it starts so that every
 * page of the export decides alike: `account` — every operation touching it (a red packet's
 * escrow while the packet is open or has activity past the cut); `operation` — that operation
 * (a transit outbox row not yet delivered).
 */
export const ledgerArchiveHolds = sqliteTable(
  "ledger_archive_holds",
  {
    archiveId: text("archive_id")
      .notNull()
      .references(() => ledgerArchives.id),
    kind: text("kind", { enum: ["account", "operation"] }).notNull(),
    ref: text("ref").notNull(),
  },
  (t) => [primaryKey({ columns: [t.archiveId, t.kind, t.ref] })],
);

/**
 * The transfer ids an archive holds, as disjoint runs: every live transfer inside a run is in
 * the archive. Runs of all archives are disjoint, so the run that may hold a transfer is the
 * one with the greatest `from_transfer_id` at or below it (how the delete trigger finds it).
 */
export const ledgerArchiveRanges = sqliteTable(
  "ledger_archive_ranges",
  {
    fromTransferId: integer("from_transfer_id").primaryKey(),
    toTransferId: integer("to_transfer_id").notNull(),
    archiveId: text("archive_id")
      .notNull()
      .references(() => ledgerArchives.id),
  },
  (t) => [
    index("ledger_archive_ranges_archive").on(t.archiveId, t.fromTransferId),
    check("ledger_archive_ranges_ordered", sql`${t.fromTransferId} <= ${t.toTransferId}`),
  ],
);

/** An archive's data files in R2: planned (span fixed) before upload, digests once uploaded. */
export const ledgerArchiveFiles = sqliteTable(
  "ledger_archive_files",
  {
    archiveId: text("archive_id")
      .notNull()
      .references(() => ledgerArchives.id),
    seq: integer("seq").notNull(),
    /** The span of transfer ids the file covers; its rows are the archive's runs inside it. */
    firstTransferId: integer("first_transfer_id").notNull(),
    lastTransferId: integer("last_transfer_id").notNull(),
    key: text("key").notNull(),
    /** Rows per table (JSON object), and the digests and sizes of the uncompressed and gzip bytes. */
    rowCounts: text("row_counts"),
    rawSha256: text("raw_sha256"),
    gzSha256: text("gz_sha256"),
    rawBytes: integer("raw_bytes"),
    gzBytes: integer("gz_bytes"),
    minCreatedAtMs: integer("min_created_at_ms"),
    maxCreatedAtMs: integer("max_created_at_ms"),
    uploadedAtMs: integer("uploaded_at_ms"),
  },
  (t) => [
    primaryKey({ columns: [t.archiveId, t.seq] }),
    check("ledger_archive_files_span", sql`${t.firstTransferId} <= ${t.lastTransferId}`),
  ],
);

/**
 * Per account, what the archive's transfers added to its balance (credits − debits). Once an
 * archive's transfers leave `transfers`, an account's balance is the sum of its checkpoints
 * and of its live transfers (src/db/archive/checkpoints.ts).
 */
export const balanceCheckpoints = sqliteTable(
  "balance_checkpoints",
  {
    archiveId: text("archive_id")
      .notNull()
      .references(() => ledgerArchives.id),
    account: text("account").notNull(),
    balanceMinor: integer("balance_minor").notNull(),
  },
  (t) => [primaryKey({ columns: [t.archiveId, t.account] }), index("balance_checkpoints_account").on(t.account)],
);

/**
 * Buckets whose owners this shard must not write (a bucket move, src/db/bucket-move.ts):
 * `incoming` while the bucket is on its way here (the map does not point here yet),
 * `frozen` from the freeze on in the shard the bucket leaves (it stays: the bucket has moved
 * away). Every operation's batch checks it for the buckets of the owner accounts it writes
 * here (src/db/ledger.ts), so a writer with a stale bucket map is refused inside its batch,
 * not by cache timing.
 */
export const bucketFences = sqliteTable(
  "bucket_fences",
  {
    bucket: integer("bucket").primaryKey(),
    reason: text("reason", { enum: ["incoming", "frozen"] }).notNull(),
    /** The move this fence belongs to: where the bucket goes (or comes from). */
    peerShard: integer("peer_shard").notNull(),
    sinceMs: integer("since_ms").notNull(),
  },
  (t) => [check("bucket_fences_bucket_range", sql`${t.bucket} >= 0 AND ${t.bucket} < 1024`)],
);

/**
 * The ids of operations that archival pruned (src/db/archive/prune.ts writes one in the batch
 * that deletes its operation), so that composeOperation still answers "exists" for them: a
 * late redelivery of an archived operation posts nothing. Kept `LIMITS.operationIdMemoryMs`
 * after pruning, then purged by the `ledger-archive` cron job (src/db/archive/tombstones.ts).
 */
export const operationTombstones = sqliteTable(
  "operation_tombstones",
  {
    id: text("id").primaryKey(),
    archiveId: text("archive_id").notNull(),
    archivedAtMs: integer("archived_at_ms").notNull(),
  },
  (t) => [index("operation_tombstones_archived_at").on(t.archivedAtMs)],
);

/*
 * Money out (issue 14): settlement, tip reversals, withdrawals and the creator's inbox. These
 * rows live in the creator's shard (the shard of `creator:{id}:…`), beside the accounts they
 * move. They do not reference `operations` (archival prunes operations; these records are the
 * creator's history and are kept).
 */

/**
 * One row per creator per business day once the settlement run has looked at it: `settled`
 * (the day's net moved from pending to available by the operation with id = `id`, the
 * settlement key) or `held` (the creator was under risk hold; a later run settles it with the
 * same key). Amounts are domain/settlement.ts's SettlementRecord.
 */
export const creatorSettlements = sqliteTable(
  "creator_settlements",
  {
    /** `settlement:{creatorId}:{day}`: also the id of the operation that moved the net. */
    id: text("id").primaryKey(),
    creatorId: text("creator_id").notNull(),
    /** Business day, YYYY-MM-DD in the business time zone. */
    day: text("day").notNull(),
    state: text("state", { enum: ["held", "settled"] }).notNull(),
    dueAtMs: integer("due_at_ms").notNull(),
    grossMinor: integer("gross_minor").notNull(),
    platformMinor: integer("platform_minor").notNull(),
    creatorPartMinor: integer("creator_part_minor").notNull(),
    reversedMinor: integer("reversed_minor").notNull(),
    withholdingMinor: integer("withholding_minor").notNull(),
    receivableOffsetMinor: integer("receivable_offset_minor").notNull(),
    netMinor: integer("net_minor").notNull(),
    tipCount: integer("tip_count").notNull(),
    currency: text("currency").notNull(),
    /** The settlement run (cron or operator) that wrote it. */
    runId: text("run_id").notNull(),
    heldReason: text("held_reason"),
    createdAtMs: integer("created_at_ms").notNull(),
    updatedAtMs: integer("updated_at_ms").notNull(),
  },
  (t) => [
    uniqueIndex("creator_settlements_creator_day").on(t.creatorId, t.day),
    index("creator_settlements_state_day").on(t.state, t.day),
    check(
      "creator_settlements_net",
      sql`${t.netMinor} = ${t.creatorPartMinor} - ${t.reversedMinor} - ${t.withholdingMinor} - ${t.receivableOffsetMinor} AND ${t.netMinor} >= 0`,
    ),
  ],
);

/**
 * Tip reversals (an operator's, e.g. stolen-card money or a chargeback). The creator's part
 * leaves `creator:{id}:pending` when the tip's day is not settled yet (`pending`), otherwise
 * `creator:{id}:receivable` (which may go negative: what the creator owes, offset by later
 * settlements). Both legs refund the viewer. One reversal per tip.
 */
export const tipReversals = sqliteTable(
  "tip_reversals",
  {
    /** Also the id of the operation that took back the creator's part. */
    id: text("id").primaryKey(),
    tipId: text("tip_id").notNull(),
    /** The content item the tip was on; null for a tip in a room (and on rows from before 0034). */
    contentId: text("content_id"),
    creatorId: text("creator_id").notNull(),
    viewerId: text("viewer_id").notNull(),
    /** The tip's business day (it decides which settlement the reversal belongs to). */
    tipDay: text("tip_day").notNull(),
    tipCreatedAtMs: integer("tip_created_at_ms").notNull(),
    amountMinor: integer("amount_minor").notNull(),
    platformMinor: integer("platform_minor").notNull(),
    creatorMinor: integer("creator_minor").notNull(),
    source: text("source", { enum: ["pending", "receivable"] }).notNull(),
    /** The second leg (the platform's part, refunded from the tip's shard); null until posted. */
    platformLegAtMs: integer("platform_leg_at_ms"),
    /**
     * The receivable of a reversal whose operation lives in another shard: set on a row a
     * bucket move copied in (src/db/bucket-move.ts), from its operation's metadata there.
     * Null when the operation is in this shard (its metadata holds the receivable).
     */
    movedReceivableMinor: integer("moved_receivable_minor"),
    reason: text("reason").notNull(),
    actorId: text("actor_id").notNull(),
    currency: text("currency").notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
  },
  (t) => [
    uniqueIndex("tip_reversals_tip").on(t.tipId),
    index("tip_reversals_creator_day").on(t.creatorId, t.tipDay),
    index("tip_reversals_creator_created").on(t.creatorId, t.createdAtMs),
    check("tip_reversals_parts_sum", sql`${t.platformMinor} + ${t.creatorMinor} = ${t.amountMinor}`),
  ],
);

/**
 * Unlock refunds (issue 19): an operator refunds a paid unlock and revokes its entitlement. The
 * row lives in the CREATOR's shard, written by the creator's leg (operations/unlock-refund.ts)
 * like `tip_reversals`: the creator's part leaves pending before the unlock's day settles
 * (`pending`), otherwise the creator owes it as a receivable (`receivable`). The payer's leg
 * (operations/unlock-refund-payer.ts: the platform's part back, the entitlement revoked) follows
 * in the payer's shard; `payer_leg_at_ms` is null until it posted. One refund per unlock.
 */
export const unlockRefunds = sqliteTable(
  "unlock_refunds",
  {
    /** Also the id of the creator leg's operation. */
    id: text("id").primaryKey(),
    unlockId: text("unlock_id").notNull(),
    contentId: text("content_id").notNull(),
    creatorId: text("creator_id").notNull(),
    userId: text("user_id").notNull(),
    /** The unlock's business day (it decides which settlement the refund belongs to). */
    unlockDay: text("unlock_day").notNull(),
    unlockCreatedAtMs: integer("unlock_created_at_ms").notNull(),
    amountMinor: integer("amount_minor").notNull(),
    platformMinor: integer("platform_minor").notNull(),
    creatorMinor: integer("creator_minor").notNull(),
    source: text("source", { enum: ["pending", "receivable"] }).notNull(),
    payerLegAtMs: integer("payer_leg_at_ms"),
    /** As `tip_reversals.moved_receivable_minor`: on a row a bucket move copied in. */
    movedReceivableMinor: integer("moved_receivable_minor"),
    reason: text("reason").notNull(),
    actorId: text("actor_id").notNull(),
    currency: text("currency").notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
  },
  (t) => [
    uniqueIndex("unlock_refunds_unlock").on(t.unlockId),
    index("unlock_refunds_creator_day").on(t.creatorId, t.unlockDay),
    // The creator's statement lists refunds by when they were made, merged with tip reversals.
    index("unlock_refunds_creator_created").on(t.creatorId, t.createdAtMs),
    index("unlock_refunds_payer_leg").on(t.payerLegAtMs),
    check("unlock_refunds_parts_sum", sql`${t.platformMinor} + ${t.creatorMinor} = ${t.amountMinor}`),
  ],
);

/**
 * Entitlements (issue 19, 付费阅读): one row per paid unlock, written in the unlock's batch in
 * the payer's shard (operations/unlock.ts); its id is the unlock operation's id. `active` until
 * a refund revokes it. At most one active row per user and item: the guard `already_unlocked`
 * refuses a second unlock inside the batch, and this unique index is the backstop.
 */
export const entitlements = sqliteTable(
  "entitlements",
  {
    id: text("id").primaryKey(),
    contentId: text("content_id").notNull(),
    userId: text("user_id").notNull(),
    creatorId: text("creator_id").notNull(),
    amountMinor: integer("amount_minor").notNull(),
    platformMinor: integer("platform_minor").notNull(),
    creatorMinor: integer("creator_minor").notNull(),
    platformBps: integer("platform_bps").notNull(),
    currency: text("currency").notNull(),
    state: text("state", { enum: ["active", "revoked"] }).notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
    revokedAtMs: integer("revoked_at_ms"),
    /**
     * Set on a copy a bucket move brought in (src/db/bucket-move.ts): the shard the payer came
     * from, where the unlock's operation and the original row stay. The copy is the payer's live
     * entitlement (the guard, the check, a refund's revocation act on it); settlement and the
     * invariant checker count the original only. Null on the row the unlock wrote.
     */
    movedFromShard: integer("moved_from_shard"),
    /**
     * The tier schedule version that gave `platform_bps` (阶梯分成: an unlock is rated like a tip,
     * by the creator's month gross); null for the fixed default or the creator's override.
     */
    scheduleVersion: integer("schedule_version"),
  },
  (t) => [
    uniqueIndex("entitlements_one_active").on(t.userId, t.contentId).where(sql`${t.state} = 'active'`),
    index("entitlements_created").on(t.createdAtMs),
    // The password-free day total (tips and unlocks together) sums a user's unlocks of the day.
    index("entitlements_user_created").on(t.userId, t.createdAtMs),
    // The creator's month gross (tier rates) sums a creator's unlocks of the month per shard; the
    // console's search by creator walks it newest first.
    index("entitlements_creator_created").on(t.creatorId, t.createdAtMs),
    // The console's search by content item, newest first; a content item's totals.
    index("entitlements_content_created").on(t.contentId, t.createdAtMs),
    check("entitlements_state", sql`${t.state} IN ('active', 'revoked')`),
    check("entitlements_parts_sum", sql`${t.platformMinor} + ${t.creatorMinor} = ${t.amountMinor}`),
  ],
);

/**
 * Withdrawals (domain/withdrawal-states.ts): requested → approved | rejected → paying → paid |
 * failed. The id is the channel's idempotency number (WeChat out_bill_no, Alipay out_biz_no,
 * Stripe Idempotency-Key); a failed withdrawal is final, a retry is a new withdrawal.
 */
export const withdrawals = sqliteTable(
  "withdrawals",
  {
    id: text("id").primaryKey(),
    /** The owner's id: a creator's, or a user's (`owner_kind`; principals share one id space). */
    creatorId: text("creator_id").notNull(),
    /**
     * Whose money: `creator` (held from `creator:{id}:available`) or `user` (winnings, held from
     * `user:{id}:wallet` within `user_winnings.withdrawable_minor`: docs/adr/0017).
     */
    ownerKind: text("owner_kind", { enum: ["creator", "user"] })
      .notNull()
      .default("creator"),
    /** Held from available at the request; `amount − fee` goes to the channel. */
    amountMinor: integer("amount_minor").notNull(),
    feeMinor: integer("fee_minor").notNull().default(0),
    currency: text("currency").notNull(),
    channel: text("channel").notNull(),
    payoutAccountId: text("payout_account_id").notNull(),
    /** The bound account as shown (masked), frozen at the request. */
    destinationMasked: text("destination_masked").notNull(),
    state: text("state", { enum: ["requested", "approved", "rejected", "paying", "paid", "failed"] }).notNull(),
    /** `auto` (checks passed, below the threshold) or `manual` (an operator's queue). */
    review: text("review", { enum: ["auto", "manual"] }).notNull(),
    /** Why it went to manual review (JSON list of check codes), null for auto. */
    reviewReasons: text("review_reasons"),
    reviewerId: text("reviewer_id"),
    rejectReason: text("reject_reason"),
    failureReason: text("failure_reason"),
    /** The channel's id for the transfer once known (WeChat transfer_bill_no, Alipay order_id, Stripe tr_…). */
    providerRef: text("provider_ref"),
    /** The channel's last answer (accepted, needs_user_confirm with its package, …) as JSON. */
    channelState: text("channel_state"),
    payingSinceMs: integer("paying_since_ms"),
    queryAttempts: integer("query_attempts").notNull().default(0),
    nextQueryAtMs: integer("next_query_at_ms"),
    stuckFlaggedAtMs: integer("stuck_flagged_at_ms"),
    idempotencyKey: text("idempotency_key").notNull(),
    transitionCount: integer("transition_count").notNull().default(1),
    createdAtMs: integer("created_at_ms").notNull(),
    updatedAtMs: integer("updated_at_ms").notNull(),
  },
  (t) => [
    uniqueIndex("withdrawals_creator_key").on(t.creatorId, t.idempotencyKey),
    index("withdrawals_creator_created").on(t.creatorId, t.createdAtMs),
    index("withdrawals_state_created").on(t.state, t.createdAtMs),
    index("withdrawals_next_query").on(t.nextQueryAtMs),
    // The operator search, newest first over every withdrawal (src/db/reads/search.ts).
    index("withdrawals_created").on(t.createdAtMs, t.id),
    check("withdrawals_amount_positive", sql`${t.amountMinor} > 0`),
    check("withdrawals_fee_bounded", sql`${t.feeMinor} >= 0 AND ${t.feeMinor} < ${t.amountMinor}`),
  ],
);

/**
 * A user's withdrawable part of `user:{id}:wallet` (docs/adr/0017): red-packet claims add to
 * it, winnings withdrawals take from it (a release gives back), and a trigger on `accounts`
 * (migration) lowers it to the wallet's balance whenever the wallet goes below it, so top-ups
 * are spent first and the part never exceeds the wallet. In the user's shard.
 */
export const userWinnings = sqliteTable(
  "user_winnings",
  {
    userId: text("user_id").primaryKey(),
    currency: text("currency").notNull(),
    withdrawableMinor: integer("withdrawable_minor").notNull().default(0),
    /** Σ claims credited to the wallet here (only grows). */
    claimedMinor: integer("claimed_minor").notNull().default(0),
    /** Σ the user's winnings withdrawals not given back (requested … paid). */
    withdrawnMinor: integer("withdrawn_minor").notNull().default(0),
    updatedAtMs: integer("updated_at_ms").notNull(),
  },
  (t) => [
    check("user_winnings_withdrawable_non_negative", sql`${t.withdrawableMinor} >= 0`),
    check("user_winnings_claimed_non_negative", sql`${t.claimedMinor} >= 0`),
    check("user_winnings_withdrawn_non_negative", sql`${t.withdrawnMinor} >= 0`),
  ],
);

export const withdrawalTransitions = sqliteTable(
  "withdrawal_transitions",
  {
    withdrawalId: text("withdrawal_id")
      .notNull()
      .references(() => withdrawals.id),
    seq: integer("seq").notNull(),
    fromState: text("from_state"),
    toState: text("to_state").notNull(),
    /** request, auto_approve, approve, reject, pay, callback, query, sweeper, … */
    cause: text("cause").notNull(),
    /** The notification, query or operator behind it. */
    ref: text("ref"),
    actorId: text("actor_id"),
    atMs: integer("at_ms").notNull(),
  },
  (t) => [primaryKey({ columns: [t.withdrawalId, t.seq] })],
);

/**
 * The creator's inbox (站内信). Rendered at read time from the operators' templates (control
 * `notification_templates`) in the reader's locale. The id is deterministic per event (e.g.
 * `tips:{creator}:{minute}`), so a redelivered notification is stored once.
 */
export const inboxMessages = sqliteTable(
  "inbox_messages",
  {
    id: text("id").primaryKey(),
    creatorId: text("creator_id").notNull(),
    /** tips_merged, big_gift, settlement_done, withdrawal_state, verification_result, … */
    kind: text("kind").notNull(),
    /** The template's variables (JSON). */
    vars: text("vars").notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
    readAtMs: integer("read_at_ms"),
  },
  (t) => [
    index("inbox_messages_creator_created").on(t.creatorId, t.createdAtMs),
    index("inbox_messages_creator_unread").on(t.creatorId, t.readAtMs),
  ],
);

/**
 * Risk decisions other than allow (issue 16), in the actor's shard: written off the request's
 * path after the answer (a storm of refused attempts spreads over the shards instead of
 * queueing on the control database's one writer). History: it stays in its shard when the
 * owner's bucket moves; the admin listing reads every shard.
 */
export const riskDecisions = sqliteTable(
  "risk_decisions",
  {
    id: text("id").primaryKey(),
    userId: text("user_id").notNull(),
    action: text("action").notNull(),
    outcome: text("outcome").notNull(),
    /** The fired rules' ids (JSON array), and each with its reason and detail (JSON). */
    ruleIds: text("rule_ids").notNull(),
    fired: text("fired").notNull(),
    amountMinor: integer("amount_minor"),
    /** SHA-256 of the signals (device, IP, country, ASN, adult flag), to group attempts without keeping them all. */
    signalsDigest: text("signals_digest").notNull(),
    deviceId: text("device_id"),
    ip: text("ip"),
    atMs: integer("at_ms").notNull(),
  },
  (t) => [index("risk_decisions_user_at").on(t.userId, t.atMs), index("risk_decisions_at").on(t.atMs)],
);

/**
 * The platform dashboard's rollups (docs/ARCHITECTURE.md, Platform dashboard), per shard, kept by
 * the `dashboard-rollup` cron job (src/db/dashboard-rollup.ts) from this shard's own `tips`,
 * `entitlements` (paid unlocks), `red_packets` and `red_packet_claims`. A business day is recomputed whole from the ledger
 * (delete + insert in one batch) until it is `final`: computed at least an hour after the day
 * ended. Archival never starts a period whose days are not final here (cron/ledger-archive.ts),
 * so every row a rollup needs is still live when it is computed for the last time.
 */
export const dashboardRollups = sqliteTable("dashboard_rollups", {
  /** The business day (BUSINESS_TIME_ZONE), YYYY-MM-DD. */
  day: text("day").primaryKey(),
  final: integer("final", { mode: "boolean" }).notNull(),
  computedAtMs: integer("computed_at_ms").notNull(),
});

/** One row per business day and currency with activity: the day's sums in this shard. */
export const dashboardDays = sqliteTable(
  "dashboard_days",
  {
    currency: text("currency").notNull(),
    day: text("day").notNull(),
    tipCount: integer("tip_count").notNull(),
    tipMinor: integer("tip_minor").notNull(),
    platformMinor: integer("platform_minor").notNull(),
    /** Red packets sent from users' wallets (not subsidies): the packets' part of GMV. */
    packetPaidMinor: integer("packet_paid_minor").notNull(),
    packetsSent: integer("packets_sent").notNull(),
    packetsSentMinor: integer("packets_sent_minor").notNull(),
    /** Claims credited that day (by their credit time), on packets held in this shard. */
    claims: integer("claims").notNull(),
    claimedMinor: integer("claimed_minor").notNull(),
    /**
     * Paid unlocks (付费阅读) that day: their entitlements (originals only, not a bucket move's
     * copies), gross — a refund revokes but does not deduct, like a tip reversal. Their platform
     * part is in `platform_minor`. Default 0: rows rolled before unlocks were counted stay valid.
     */
    unlockCount: integer("unlock_count").notNull().default(0),
    unlockMinor: integer("unlock_minor").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.currency, t.day] })],
);

/**
 * Who paid on a day in this shard (a tip, an unlock, or a red packet from the wallet): the set the week's
 * and month's distinct counts are counted from. Purged once no open period needs it.
 */
export const dashboardPayerDays = sqliteTable(
  "dashboard_payer_days",
  {
    currency: text("currency").notNull(),
    day: text("day").notNull(),
    userId: text("user_id").notNull(),
  },
  (t) => [primaryKey({ columns: [t.day, t.currency, t.userId] })],
);

/**
 * Distinct paying users in this shard per day, ISO week and month. A user's payments all live
 * in their own shard, so these sum exactly across shards; they are never sums of days.
 */
export const dashboardPayers = sqliteTable(
  "dashboard_payers",
  {
    currency: text("currency").notNull(),
    grain: text("grain", { enum: ["day", "week", "month"] }).notNull(),
    /** 2026-11-22, 2026-W47 or 2026-11. */
    period: text("period").notNull(),
    payers: integer("payers").notNull(),
  },
  (t) => [primaryKey({ columns: [t.currency, t.grain, t.period] })],
);

/**
 * Per business day, per creator, room and gift: the day's tips in this shard, and for creators
 * also their paid unlocks (`amount_minor` counts both; `tip_count` counts tips only — an unlock
 * has no room or gift). Exact partial sums (not top-K), so the cross-shard tops merged from
 * them (control `dashboard_tops`) are exact. Rows per day: the creators, rooms and gifts tipped
 * or unlocked that day in this shard.
 */
export const dashboardEntityDays = sqliteTable(
  "dashboard_entity_days",
  {
    currency: text("currency").notNull(),
    day: text("day").notNull(),
    kind: text("kind", { enum: ["creator", "room", "gift"] }).notNull(),
    key: text("key").notNull(),
    amountMinor: integer("amount_minor").notNull(),
    tipCount: integer("tip_count").notNull(),
  },
  (t) => [primaryKey({ columns: [t.day, t.currency, t.kind, t.key] })],
);
