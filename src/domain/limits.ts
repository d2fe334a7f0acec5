/**
 * Every input and every collection has a named limit. They live here, are enforced
 * at the boundary (zod schemas, body size) and asserted again inside.
 *
 * Names read what, then the qualifier, then the unit last: `packetTtlMaxMs`,
 * `orderAmountMaxMinor`, `bodyMaxBytes`, `titleMaxLength`; a count has no unit
 * (`packetSharesMax`, `pageSizeDefault`).
 */
export const LIMITS = {
  /** Largest amount any single request may move: 1,000,000.00 CNY, far below 2^53. */
  amountMaxMinor: 100_000_000,
  /** Largest absolute balance an account may reach; keeps every sum a safe integer. */
  balanceAbsMaxMinor: 1_000_000_000_000,
  /** Gifts sent in one tip (a "combo" of 1314 roses is a classic). */
  giftQuantityMax: 9_999,
  /** Transfers in one operation. */
  transfersPerOperationMax: 16,
  /** Ledger shards a deployment may have (each one D1 database, one binding). */
  ledgerShardsMax: 64,
  /** How long an isolate keeps the ledger's bucket map before reading it again. */
  bucketMapCacheMs: 10_000,
  /** Retry-After (seconds) of a write refused because its owner's bucket is moving. */
  shardMovingRetryAfterS: 2,
  /** Transit deliveries (cross-shard credits) posted in one destination batch. */
  transitDeliveriesPerBatchMax: 100,
  /** A transit outbox row undelivered this long is sent again by the sweeper. */
  transitRedeliverAfterMs: 30_000,
  /** Transit outbox rows the sweeper sends again per shard per run. */
  transitSweepBatchMax: 500,
  /** Request body size for JSON APIs. */
  bodyMaxBytes: 16 * 1024,
  /** Idempotency-Key header length (printable ASCII). */
  idempotencyKeyMaxLength: 255,
  /** How long a completed idempotency record is kept and replayed. */
  idempotencyRetentionMs: 24 * 60 * 60 * 1000,
  /** How long an in-flight idempotency record locks its key before it may be taken over. */
  idempotencyLockMs: 30 * 1000,
  /** Page size for cursor-paginated lists. */
  pageSizeDefault: 20,
  pageSizeMax: 100,
  /** Free-text fields. */
  reasonMaxLength: 500,
  titleMaxLength: 100,
  nameMaxLength: 50,
  userIdMaxLength: 64,
  giftIdMaxLength: 32,
  animationKeyMaxLength: 64,
  /** Gifts in the catalog. */
  giftsMax: 500,
  /** Tip presets the viewer page offers (buttons above the custom amount). */
  tipPresetsMax: 8,
  /** Violations reported by one invariant check (the count is always exact). */
  invariantViolationsReportedMax: 1_000,
  /** Live room: sockets one room accepts (one workerd process holds ~9,900 here). */
  roomSocketsMax: 10_000,
  /** Fan-out: shards a room may spread its viewer sockets over (each a RoomFanOut object). */
  fanOutShardsMax: 1_024,
  /** Fan-out: the most viewer sockets a room holds itself before spreading them (a config bound). */
  fanOutThresholdMax: 10_000,
  /** Fan-out: sequenced frames the room sends a shard in one call. */
  fanOutFramesPerPushMax: 200,
  /** Fan-out: recent frames a shard keeps in memory to catch up a socket that joined or lagged. */
  fanOutRingMax: 1_024,
  /** Fan-out: the longest a room waits before retrying a shard that failed a push. */
  fanOutRetryMaxMs: 5_000,
  /** Live room: largest frame a client may send. */
  wsClientFrameMaxBytes: 2_048,
  /** Live room: frames a client may send per minute before it is disconnected. */
  wsClientMessagesPerMinuteMax: 120,
  /** Live room: merged-broadcast window bounds and default. */
  mergeWindowMinMs: 3_000,
  mergeWindowMaxMs: 5_000,
  /** Same gift from the same viewer within this gap continues a combo. */
  comboGapMs: 5_000,
  /**
   * Live room: the platform's big-gift threshold by default (config `BIG_GIFT_THRESHOLD_MINOR`):
   * a tip of at least ¥500.00 gross takes the instant lane, per the tipping design.
   */
  bigGiftThresholdDefaultMinor: 50_000,
  /** Entries in a leaderboard answer, and the most a client may ask for. */
  leaderboardTopDefault: 10,
  leaderboardTopMax: 100,
  /** Biggest tippers listed in a merged frame. */
  mergedTopTippersMax: 5,
  /** Events a room keeps for overlay replay; an overlay further behind gets a fresh snapshot. */
  replayLogMax: 2_000,
  /** How long a room remembers an applied event id (far beyond any redelivery). */
  roomAppliedEventsRetentionMs: 7 * 24 * 60 * 60 * 1000,
  /** Delivered outbox rows are kept this long in D1 for audit, then purged. */
  roomOutboxRetentionMs: 7 * 24 * 60 * 60 * 1000,
  /** Room events delivered per Durable Object call. */
  roomEventsPerDeliveryMax: 200,
  /** Delivered outbox rows purged per cron run. */
  roomOutboxPurgeBatchMax: 1_000,
  /** Leaderboard rows written to D1 per statement batch. */
  leaderboardRowsPerFlushMax: 500,
  /** Red packets: the most one packet holds (20,000.00), its shares, and the average share cap. */
  packetTotalMaxMinor: 2_000_000,
  packetSharesMax: 10_000,
  packetAverageShareMaxMinor: 20_000,
  /** Tip messages: the most a message may hold, in Unicode code points (not graphemes: 👍🏽 counts 2). */
  tipMessageMaxCodePoints: 40,
  /** Moderation: words on the list, one word's length (code points), variants per word. */
  moderationWordsMax: 2_000,
  moderationWordMaxLength: 32,
  moderationVariantsMax: 8,
  /** Messages a merged frame carries: the window's last few, so a storm's frame stays small. */
  mergedMessagesMax: 5,
  /** Held messages per page of the review queue. */
  heldMessagesPageMax: 100,
  heldMessagesPageDefault: 50,
  /** Red packets: greeting length. */
  packetGreetingMaxLength: 60,
  /** Red packets: lifetime bounds and default (refunded at expiry). */
  packetTtlMinMs: 60 * 1000,
  packetTtlMaxMs: 24 * 60 * 60 * 1000,
  packetTtlDefaultMs: 24 * 60 * 60 * 1000,
  /** Red packets open at once in one room (listed in every snapshot). */
  packetsOpenPerRoomMax: 50,
  /** Claim credits sent to the ledger queue per message batch (the Queues limit is 100). */
  packetCreditsPerSendMax: 100,
  /** Claims listed per page of a packet's claim list. */
  packetClaimsPageMax: 100,
  /**
   * Edge answers to claims on an exhausted packet (docs/ARCHITECTURE.md, "Claims at the edge"):
   * the winners travel as a Bloom filter of this many bits per winner (8 hashes, about 0.3%
   * false positives, each merely forwarded to the room), so 10,000 winners are 15,000 bytes.
   */
  packetWinnerFilterBitsPerWinner: 12,
  /** Room ids one Worker isolate remembers as existing (worker/rooms/known-rooms.ts). */
  knownRoomsMax: 10_000,
  /** Exhausted packets one Worker isolate remembers (least recently used first out). */
  edgeExhaustedPacketsMax: 64,
  /** Winners' claims one isolate remembers per exhausted packet, to answer their repeats itself. */
  edgeClaimsPerPacketMax: 2_000,
  /** Claim credits leave for the ledger queue once claims pause this long (live-room.claims CreditPacer)… */
  packetCreditQuietMs: 50,
  /** …and at the latest this long after the first credit waiting (the promise: credited within seconds). */
  packetCreditDelayMaxMs: 2_000,
  /** Claim frames one socket may send per minute (within `wsClientMessagesPerMinuteMax`). */
  wsClaimsPerMinuteMax: 30,
  /** Creators a token's `follows` claim may list (follower-only red packets check it in the room). */
  followsPerTokenMax: 500,
  /** Subsidy campaigns: the largest budget (10,000,000.00) and external id length. */
  campaignBudgetMaxMinor: 1_000_000_000,
  /** A partner's campaign (scope `campaigns.write`): the largest budget it may ask of the platform (10,000.00). */
  partnerCampaignBudgetMaxMinor: 1_000_000,
  externalIdMaxLength: 128,
  /** Payments: one top-up order's bounds (0.01 … 50,000.00). */
  orderAmountMaxMinor: 5_000_000,
  /** Payments: how long an order waits for its payment before the sweeper asks the channel. */
  orderTtlMs: 15 * 60 * 1000,
  /** Payments: callback body size (WeChat and Stripe bodies are a few KiB). */
  callbackBodyMaxBytes: 64 * 1024,
  /** Payments: callback headers kept with the raw notification. */
  callbackHeadersMax: 16,
  /** Payments: orders queried and refunds sent per sweeper run; raw notifications purged per run. */
  paymentSweepBatchMax: 25,
  paymentPurgeBatchMax: 500,
  /** Payments: the most one refund request may say about why. */
  refundReasonMaxLength: 200,
  /** 小额免密: the highest limits a user may choose (5,000.00 per tip, 20,000.00 a day). */
  autopayPerTipMaxMinor: 500_000,
  autopayPerDayMaxMinor: 2_000_000,
  /** Payment PIN: wrong tries in a row before it locks (a right PIN starts the count again). */
  pinTriesMax: 5,
  /** Payment PIN: how long the fifth wrong try locks it; every further try is refused unevaluated. */
  pinLockMs: 15 * 60 * 1000,
  /** Payment PIN: a forgotten PIN is reset only with a token whose `auth_time` is at most this old. */
  pinReauthMaxAgeMs: 5 * 60 * 1000,
  /** Basis points: 10000 = 100%. */
  bpsMax: 10_000,
  /** Reconciliation: lines (records) in one channel's daily statement file. */
  statementLinesMax: 200_000,
  /** Reconciliation: one statement file's UTF-8 size; held whole in a Worker's 128 MB as UTF-16. */
  statementMaxBytes: 32 * 1024 * 1024,
  /** Reconciliation: an order number, transaction or refund id read from a statement. */
  statementIdMaxLength: 255,
  /** Operators are alerted from this many failed attempts of one task (a queue message, a refund, a sweep). */
  alertAfterAttempts: 3,
  /**
   * A room's tip group commit (durable-objects/live-room.tips.ts): a flush starts when this
   * many tips wait, or `tipBatchWaitMs` after the first of them arrived, whichever is first;
   * while one flush commits, the next one's tips gather. Each of a flush's statements binds
   * at most 100 parameters whatever the count; a flush is one D1 batch per shard of ~15
   * statements per tip, well inside D1's per-batch limits.
   */
  tipBatchMax: 64,
  tipBatchWaitMs: 4,
  /**
   * Flushes of one room committing at once: the next flush's control read and batches overlap
   * the current commit, so a tip that arrives mid-commit waits `tipBatchWaitMs`, not a whole
   * flush. The room still applies flushes in the order they began.
   */
  tipFlushesInFlightMax: 2,
  /** Tips one room holds waiting for the next flush; beyond it the room answers `room_busy`. */
  tipQueueMax: 2_000,
  /** Distinct gifts priced by one control read (a flush's tips ask for at most tipBatchMax). */
  tipGiftsPerReadMax: 64,
  /** Room events: how long the Worker waits for the room's direct delivery before queueing them. */
  roomDeliveryTimeoutMs: 5_000,
  /** Room events: the sweeper redelivers what is still undelivered this long after commit… */
  roomOutboxSweepAfterMs: 30_000,
  /** …and stops after this many attempts per event, reporting it as stuck on every sweep. */
  roomOutboxSweepAttemptsMax: 10,
  /** How soon a room retries a ledger hand-off (queue send, refund) that failed. */
  roomRetryMs: 5_000,
  /** Red packets: grace after expiry before the sweeper steps in for the room's own alarm. */
  packetSweepGraceMs: 60_000,
  /** Red packets: credits not all landed this long after a packet finished are re-queued by its room. */
  packetCreditsLagMs: 5 * 60_000,
  /** Red packets: credits still in flight this long after a packet finished are an invariant violation. */
  packetCreditsInFlightMaxMs: 15 * 60_000,
  /** Red packets: packets the sweeper handles per run. */
  packetSweepBatchMax: 20,
  /** Payments: outbound channel calls slower than this are `unavailable` (and count against the channel). */
  channelCallTimeoutMs: 4_000,
  /** Payments: a refund's first attempt goes through the queue; the sweeper sends it from this long after. */
  refundFirstSweepAfterMs: 15_000,
  /** Payments: a refund the channel accepted for later and has not confirmed in this long needs an operator. */
  refundPendingAlertMs: 24 * 60 * 60 * 1000,
  /** Reconciliation: findings kept per run; a statement with more is almost surely another merchant's. */
  reconciliationFindingsStoredMax: 10_000,
  /** Reconciliation: channel calls one run makes for repairs; the deadline queries settle any left over. */
  reconciliationRepairsPerRunMax: 200,
  /** Reconciliation: a run unfinished this long after it started died mid-repair; a repeat resumes it. */
  reconciliationResumeAfterMs: 2 * 60_000,
  /**
   * Ledger archival: steps (an export span planned, a data file uploaded, a prune batch of up
   * to 500 transfer ids) per shard per cron run. A step is tens of D1 calls at most, so a run
   * stays well inside the minute before the next one; 4 a minute is 5,760 a day per shard,
   * about twice what a day of 600,000 tips takes (240 export steps, 2,400 prune batches).
   */
  ledgerArchiveStepsPerShardMax: 4,
  /**
   * How long a shard remembers the id of an operation archival pruned (operation_tombstones),
   * so a late redelivery of it is "exists". Longer than every redelivery path by days:
   * idempotency records 24 h, queue and sweeper retries minutes (docs/SCALING.md, Archival).
   */
  operationIdMemoryMs: 8 * 24 * 60 * 60 * 1000,
  /**
   * Tombstones past `operationIdMemoryMs` purged per shard per cron run (one DELETE):
   * 2,000 a minute is 2.88 million a day per shard, above the operations a shard archives
   * in a day at its storage ceiling.
   */
  operationTombstonesPurgedPerShardMax: 2_000,
  /** Revenue share: tiers in one schedule (阶梯), and the highest threshold a tier may start at. */
  revenueTiersMax: 20,
  revenueTierFromMaxMinor: 1_000_000_000_000,
  /**
   * Tier rates (durable-objects/live-room.tiers.ts): a quoted rate must commit within this time
   * by the ledger's clock (guard `tip_rate_expired`), so a tip whose answer was lost is settled by
   * reading it after `tipRateTtlMs + tipRateClockMarginMs`; the margin covers clock skew.
   */
  tipRateTtlMs: 10_000,
  tipRateClockMarginMs: 1_000,
  /**
   * A revenue schedule takes effect at least this long after it is created (never in the past),
   * longer than a quote lives: a tip priced before it existed has committed or expired by then.
   */
  revenueScheduleLeadMs: 60_000,
  /** Schedules a tip's control read returns at most (the one in force and those due within the lead). */
  revenueSchedulesReadMax: 8,
  /** Settlement T+N: a day's earnings become available N business days later; N's bounds and default. */
  settlementDaysMin: 1,
  settlementDaysMax: 30,
  settlementDaysDefault: 7,
  /** Withdrawals: the smallest request (10.00), and per business day the count and amount caps. */
  withdrawalMinMinor: 1_000,
  withdrawalsPerDayMax: 3,
  withdrawalDailyAmountMaxMinor: 5_000_000,
  /** Withdrawals below this (500.00) are approved without review when every check passes. */
  withdrawalAutoApproveBelowMinor: 50_000,
  /** Withdrawals: one stuck in `paying` this long without an answer is flagged for an operator. */
  withdrawalPayingStuckMs: 6 * 60 * 60 * 1000,
  /** Withdrawals the payout sweeper sends or queries per shard per run, and flags as stuck. */
  payoutSweepBatchMax: 25,
  /** An approved withdrawal of a creator under risk hold is not sent; the sweeper looks again after this long. */
  payoutRiskHoldRecheckMs: 15 * 60 * 1000,
  /** Payout accounts: a newly bound or changed account blocks withdrawals this long (account takeover). */
  payoutAccountCoolingMs: 72 * 60 * 60 * 1000,
  /** Payout accounts: an account identifier (openid, Alipay id, Stripe account id) and a payee name. */
  payoutAccountIdMaxLength: 128,
  payeeNameMaxLength: 50,
  /** Withdrawal fee: the highest rate a deployment may charge (10 %). */
  withdrawalFeeBpsMax: 1_000,
  /** Payout accounts a creator may have bound at once (removed ones do not count). */
  payoutAccountsPerCreatorMax: 10,
  /** Personal-data re-sealing after a key rotation: rows per run of the job. */
  piiResealRowsPerRunMax: 500,
  /** Queues: of a malformed message's body, the most that goes into the alert. */
  queueMalformedBodyLoggedMaxBytes: 1_024,
  /** Dead letters: of a message's body (JSON), the most kept in D1 (a queue message is at most 128 KiB). */
  deadLetterBodyMaxBytes: 131_072,
  /** Work queues: the most rows a queue's count reads (a badge shows "1000+" beyond). */
  workQueueCountMax: 1_000,
  /** Work queues: an operator's resolution note or reason. */
  resolutionMaxLength: 500,
  /** Settlement: how many due days back a cold run looks for days not settled yet (cron down, deferred). */
  settlementCatchUpDaysMax: 7,
  /** Settlement: attempts per creator and day when a concurrent reversal changed its inputs. */
  settlementAttemptsMax: 3,
  /** Settlement: creators settled per shard batch (each settlement is ~12 statements). */
  settlementsPerBatchMax: 20,
  /** Tip reversal: a platform leg still missing this long after its reversal is completed by the sweeper. */
  reversalPlatformLegGraceMs: 60_000,
  /** Tip reversal: platform legs the sweeper completes per run. */
  reversalPlatformLegsPerSweepMax: 100,
  /** Held tips (risk `review`): an operator decides within this, else the sweeper declines it (refund). */
  heldTipDecideWithinMs: 72 * 60 * 60 * 1000,
  /** Held tips the sweeper declines per shard per run. */
  heldTipsExpiredPerSweepMax: 100,
  /** Creator inbox: a notice id (`tips:{creator}:{minute}`, `big:{tipId}`…). */
  noticeIdMaxLength: 200,
  /** Creator inbox: tips one room applies in a minute, bounding a merged notice's counts. */
  noticeTipsPerMinuteMax: 1_000_000,
  /** Creator inbox: an operator's template title and body. */
  noticeTemplateTitleMaxLength: 100,
  noticeTemplateBodyMaxLength: 500,
  /** Creator inbox: ids one mark-read request names. */
  inboxMarkReadIdsMax: 100,
  /** Statements: rows per page read from each shard while the monthly CSV streams. */
  statementCsvPageRows: 200,
  /** Scheduled checks (src/worker/checks): findings one run stores (the count is always exact). */
  checkFindingsStoredMax: 500,
  /** Scheduled checks: runs are kept this long for GET /v1/admin/health and history. */
  checkRunRetentionMs: 14 * 24 * 60 * 60 * 1000,
  /** Stuck check: an order still created/pending this long past its expiry (queries and callbacks gave up). */
  orderPendingStuckMs: 60 * 60 * 1000,
  /** Stuck check: a red packet past expiry still open (not refunded) this long (the sweep runs every minute). */
  packetRefundOverdueMs: 15 * 60 * 1000,
  /** Stuck check: a transit outbox row or room event undelivered this long (the sweeps redeliver after 30 s). */
  outboxUndeliveredAlertMs: 10 * 60 * 1000,
  /** Stuck check: rows it reads per kind and shard (the finding's value counts them, up to this). */
  stuckRowsReadMax: 100,
  /** Channel check: calls over this window give a channel's error rate, once there are this many. */
  channelErrorRateWindowMs: 15 * 60 * 1000,
  channelErrorRateMinCalls: 10,
  /** Alert targets: messages per hour when the operator names no rate. */
  alertTargetRatePerHourDefault: 30,
  alertTargetRatePerHourMax: 1_000,
  /** Alerts: a delivery still queued this long is queued again (its queue send was lost). */
  alertDeliveryRequeueAfterMs: 5 * 60 * 1000,
  /** Alerts: a target's name and URL, an alert rule's name and finding kind. */
  alertNameMaxLength: 100,
  alertUrlMaxLength: 2_000,
  alertSecretMaxLength: 200,
  /** Alerts: targets and rules a deployment may hold. */
  alertTargetsMax: 50,
  alertRulesMax: 200,
  /**
   * Audit log: attempts at appending one entry when a concurrent appender took the next
   * sequence. Each round of racing appenders commits at least one of them, so this many
   * operator actions at once on one database all get through (twenty refunds of one order do).
   */
  auditAppendAttemptsMax: 32,
  /** Audit log: the random wait before another attempt is below this many ms times the attempts made (at most 8). */
  auditAppendJitterMs: 10,
  /** Audit log: the before/after detail of one entry, as canonical JSON. */
  auditDetailMaxBytes: 8_192,
  /** Audit log: actor, action and target strings. */
  auditFieldMaxLength: 200,
  /** Audit log: entries read per page when a chain is walked (and per listing page). */
  auditWalkPageRows: 1_000,
  auditListPageMax: 200,
  auditListPageDefault: 50,
  /**
   * Runtime switches (domain/switches.ts): the promise that a switch changed through the API
   * is honoured by every isolate (Workers and rooms) within this long. Each isolate reads the
   * set again at most once per TTL (`SWITCH_CACHE_TTL_MS`, at most `switchCacheTtlMaxMs`), so a
   * decision includes every change committed more than one TTL plus one read's time before it.
   */
  switchPropagationMaxMs: 10_000,
  /** Switches: the default and the largest TTL of an isolate's copy of the switch set. */
  switchCacheTtlDefaultMs: 5_000,
  switchCacheTtlMaxMs: 5_000,
  /** Switches: how many may be set at once (one row per kind and scope). */
  switchesMax: 500,
  /** Switches: the tightest claim admission a `claims_tightened` switch may set is 1; this is the loosest. */
  claimsTightenedMax: 1_000,
  /** Operators (issue 15): an operator's email (RFC 5321's path limit) and an Access service token's client id. */
  emailMaxLength: 254,
  accessClientIdMaxLength: 128,
  /** Operators: the operator directory's page and an operator id (the bearer subject stands in for it locally). */
  operatorsPageMax: 200,
  /** Four-eyes: how long a proposal waits for a second operator before it expires. */
  proposalTtlMs: 24 * 60 * 60 * 1000,
  /** Four-eyes: a proposal's summary, its stored request body, a decision's reason. */
  proposalSummaryMaxLength: 300,
  proposalBodyMaxBytes: 16 * 1024,
  /** Four-eyes: proposals one list request returns. */
  proposalsPageMax: 100,
  /**
   * Host identity through JWKS (src/worker/auth/jwks.ts): an isolate asks the host's key set
   * again when a token names a key it has not seen, at most once per cooldown
   * (`HOST_JWKS_COOLDOWN_MS`, default and maximum here), and in any case once its copy is older
   * than the cache age (`HOST_JWKS_CACHE_MAX_AGE_MS`): a key the host removed is refused by every
   * isolate within that age. One fetch waits at most the timeout and reads at most the bytes.
   */
  hostJwksCooldownDefaultMs: 30_000,
  hostJwksCooldownMaxMs: 300_000,
  hostJwksCacheMaxAgeDefaultMs: 600_000,
  hostJwksCacheMaxAgeMinMs: 1_000,
  hostJwksCacheMaxAgeMaxMs: 3_600_000,
  hostJwksTimeoutMs: 5_000,
  hostJwksBytesMax: 64 * 1024,
  /** Host identity: the Retry-After of a 503 when the host's key set cannot be fetched. */
  hostJwksRetryAfterS: 5,
} as const;

export class AssertionError extends Error {
  override name = "AssertionError";
}

/** Invariants that must hold if the code is right; a failure is a bug and throws. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function isSafeAmountMinor(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0 && value <= LIMITS.amountMaxMinor;
}
