/**
 * The control database: what the platform is configured with and what is not money (rooms,
 * streams, creators, the gift catalogue, subsidy campaigns' definitions, raw payment
 * callbacks, channel health, reconciliation, leaderboards) and the ledger's bucket map. One
 * database for the whole platform; the ledger rows live in the shards (./ledger.ts).
 */

import { sql } from "drizzle-orm";
import { check, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const creators = sqliteTable(
  "creators",
  {
    userId: text("user_id").primaryKey(),
    displayName: text("display_name").notNull(),
    /** Overrides the platform default share when set. */
    platformShareBps: integer("platform_share_bps"),
    /** Risk hold (issue 14): settlement skips and flags the creator, withdrawals go to review. */
    riskHold: integer("risk_hold", { mode: "boolean" }).notNull().default(false),
    riskHoldReason: text("risk_hold_reason"),
    /** The creator's locale for the inbox and statements (zh-CN or en). */
    locale: text("locale").notNull().default("zh-CN"),
    createdAtMs: integer("created_at_ms").notNull(),
    updatedAtMs: integer("updated_at_ms").notNull(),
  },
  (t) => [
    check("creators_share_range", sql`${t.platformShareBps} IS NULL OR (${t.platformShareBps} BETWEEN 0 AND 10000)`),
  ],
);

/**
 * A creator's room persists across streams (its daily/weekly/monthly leaderboards span
 * them); going live starts a stream, ending it takes the room offline.
 */
export const rooms = sqliteTable(
  "rooms",
  {
    id: text("id").primaryKey(),
    creatorId: text("creator_id").notNull(),
    title: text("title").notNull(),
    status: text("status", { enum: ["live", "offline"] }).notNull(),
    currentStreamId: text("current_stream_id"),
    /** Tips at or above this go out at once; NULL = by gift tier (big, epic) and 520.00 for custom tips. */
    bigGiftThresholdMinor: integer("big_gift_threshold_minor"),
    /** SHA-256 (hex) of the OBS overlay key; NULL until the creator creates one. */
    overlayKeyHash: text("overlay_key_hash"),
    createdAtMs: integer("created_at_ms").notNull(),
    updatedAtMs: integer("updated_at_ms").notNull(),
  },
  (t) => [
    check("rooms_status", sql`${t.status} IN ('live', 'offline')`),
    check("rooms_live_has_stream", sql`${t.status} = 'offline' OR ${t.currentStreamId} IS NOT NULL`),
    // One room per creator.
    uniqueIndex("rooms_creator").on(t.creatorId),
  ],
);

export const streams = sqliteTable(
  "streams",
  {
    id: text("id").primaryKey(),
    roomId: text("room_id").notNull(),
    title: text("title").notNull(),
    startedAtMs: integer("started_at_ms").notNull(),
    endedAtMs: integer("ended_at_ms"),
  },
  (t) => [index("streams_room_started").on(t.roomId, t.startedAtMs)],
);

export const gifts = sqliteTable(
  "gifts",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    priceMinor: integer("price_minor").notNull(),
    currency: text("currency").notNull(),
    tier: text("tier", { enum: ["small", "medium", "big", "epic"] }).notNull(),
    animationKey: text("animation_key").notNull(),
    enabled: integer("enabled", { mode: "boolean" }).notNull(),
    sortOrder: integer("sort_order").notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
    updatedAtMs: integer("updated_at_ms").notNull(),
  },
  (t) => [
    check("gifts_price_positive", sql`${t.priceMinor} > 0`),
    check("gifts_tier", sql`${t.tier} IN ('small', 'medium', 'big', 'epic')`),
  ],
);

export const tipPresets = sqliteTable("tip_presets", {
  amountMinor: integer("amount_minor").primaryKey(),
  currency: text("currency").notNull(),
  sortOrder: integer("sort_order").notNull(),
});

/** Leaderboards as the rooms last wrote them (at least every 10 s while they change). */
export const leaderboardEntries = sqliteTable(
  "leaderboard_entries",
  {
    roomId: text("room_id").notNull(),
    creatorId: text("creator_id").notNull(),
    period: text("period", { enum: ["live", "day", "week", "month"] }).notNull(),
    periodKey: text("period_key").notNull(),
    viewerId: text("viewer_id").notNull(),
    totalMinor: integer("total_minor").notNull(),
    tipCount: integer("tip_count").notNull(),
    updatedAtMs: integer("updated_at_ms").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.roomId, t.period, t.periodKey, t.viewerId] }),
    index("leaderboard_creator_period").on(t.period, t.periodKey, t.creatorId),
  ],
);

/** Platform-funded (B2C) campaigns: the budget lives in `campaign:{id}:budget`. */
export const subsidyCampaigns = sqliteTable("subsidy_campaigns", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  currency: text("currency").notNull(),
  budgetMinor: integer("budget_minor").notNull(),
  createdBy: text("created_by").notNull(),
  createdAtMs: integer("created_at_ms").notNull(),
  /** A partner's campaign (POST /v1/partner/campaigns): the partner and the creator (and room) it is for; null for an operator's. */
  partnerId: text("partner_id"),
  creatorId: text("creator_id"),
  roomId: text("room_id"),
});

/**
 * Every refused callback, and every verified provider event once (its first delivery), byte
 * for byte (base64 body, selected headers),
 * kept for disputes and reconciliation until `retain_until_ms`. A forged callback is stored
 * with its refusal and changes nothing else.
 */
export const paymentNotifications = sqliteTable(
  "payment_notifications",
  {
    id: text("id").primaryKey(),
    channel: text("channel").notNull(),
    /** The provider's notification id (null when the callback was refused). */
    eventId: text("event_id"),
    verified: integer("verified", { mode: "boolean" }).notNull(),
    refusal: text("refusal"),
    headers: text("headers").notNull(),
    bodyBase64: text("body_base64").notNull(),
    /** What applying it did: null until the consumer ran. */
    outcome: text("outcome"),
    receivedAtMs: integer("received_at_ms").notNull(),
    appliedAtMs: integer("applied_at_ms"),
    retainUntilMs: integer("retain_until_ms").notNull(),
  },
  (t) => [
    // One stored notification per provider event: resends find it (and its outcome) instead
    // of applying, or flagging, the same event again.
    uniqueIndex("payment_notifications_event").on(t.channel, t.eventId).where(sql`${t.verified} = 1`),
    index("payment_notifications_retain").on(t.retainUntilMs),
  ],
);

/**
 * Every outbound call to a channel and whether it worked: the channel's health is read from
 * the last seconds of these (src/domain/channel-health.ts). Purged after a day.
 */
export const channelCalls = sqliteTable(
  "channel_calls",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    channel: text("channel").notNull(),
    op: text("op", { enum: ["create", "query", "refund"] }).notNull(),
    ok: integer("ok", { mode: "boolean" }).notNull(),
    detail: text("detail"),
    atMs: integer("at_ms").notNull(),
  },
  (t) => [index("channel_calls_channel_at").on(t.channel, t.atMs)],
);

/** One reconciliation of a channel's statement for a day, and what it found. */
export const reconciliationRuns = sqliteTable(
  "reconciliation_runs",
  {
    id: text("id").primaryKey(),
    channel: text("channel").notNull(),
    statementDate: text("statement_date").notNull(),
    sourceSha256: text("source_sha256").notNull(),
    /** Which of the channel's files: `trade` (payments, refunds) or `fund_flow` (payouts only). */
    bill: text("bill", { enum: ["trade", "fund_flow"] })
      .notNull()
      .default("trade"),
    lines: integer("lines").notNull(),
    matched: integer("matched").notNull(),
    findings: integer("findings").notNull(),
    repaired: integer("repaired").notNull(),
    actorId: text("actor_id").notNull(),
    startedAtMs: integer("started_at_ms").notNull(),
    finishedAtMs: integer("finished_at_ms"),
  },
  (t) => [index("reconciliation_runs_channel_date").on(t.channel, t.statementDate)],
);

export const reconciliationFindings = sqliteTable(
  "reconciliation_findings",
  {
    id: text("id").primaryKey(),
    runId: text("run_id")
      .notNull()
      .references(() => reconciliationRuns.id),
    kind: text("kind").notNull(),
    orderId: text("order_id"),
    providerRef: text("provider_ref"),
    oursAmountMinor: integer("ours_amount_minor"),
    theirsAmountMinor: integer("theirs_amount_minor"),
    oursStatus: text("ours_status"),
    theirsStatus: text("theirs_status"),
    repair: text("repair").notNull(),
    /** What the automatic repair did (an active query's outcome), or null if left to operators. */
    repairOutcome: text("repair_outcome"),
    detail: text("detail").notNull(),
    /** An operator's resolution (the console's queue): who, when and what they did about it. */
    resolvedAtMs: integer("resolved_at_ms"),
    resolvedBy: text("resolved_by"),
    resolution: text("resolution"),
  },
  (t) => [
    index("reconciliation_findings_run").on(t.runId),
    index("reconciliation_findings_open").on(t.resolvedAtMs, t.id),
  ],
);

/**
 * The ledger's bucket map: which shard holds the owners of each of the 1,024 virtual buckets
 * (domain/shards.ts). Written once, evenly, when a deployment first starts; afterwards only a
 * bucket move (docs/SCALING.md) changes a row.
 */
export const ledgerBuckets = sqliteTable(
  "ledger_buckets",
  {
    bucket: integer("bucket").primaryKey(),
    shard: integer("shard").notNull(),
    /** A bucket being moved: its phase (domain/bucket-move.ts) and where it goes. */
    movePhase: text("move_phase", { enum: ["copying", "frozen", "switched", "verified"] }),
    moveToShard: integer("move_to_shard"),
    updatedAtMs: integer("updated_at_ms").notNull(),
  },
  (t) => [
    check("ledger_buckets_bucket_range", sql`${t.bucket} >= 0 AND ${t.bucket} < 1024`),
    check("ledger_buckets_move_whole", sql`(${t.movePhase} IS NULL) = (${t.moveToShard} IS NULL)`),
  ],
);

/** Things operators must look at: a verified payment that does not match its order, etc. */
export const paymentFlags = sqliteTable(
  "payment_flags",
  {
    id: text("id").primaryKey(),
    kind: text("kind").notNull(),
    channel: text("channel").notNull(),
    orderId: text("order_id"),
    notificationId: text("notification_id"),
    detail: text("detail").notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
    resolvedAtMs: integer("resolved_at_ms"),
    resolvedBy: text("resolved_by"),
    resolution: text("resolution"),
  },
  (t) => [
    // One flag per (notification, kind): a redelivered mismatch does not pile up.
    uniqueIndex("payment_flags_notification_kind").on(t.notificationId, t.kind),
    index("payment_flags_open").on(t.resolvedAtMs, t.createdAtMs),
  ],
);

/**
 * Messages a queue gave up on: the dead-letter queues' consumer (worker/queues/dead-letters.ts)
 * keeps each here, once per (dead-letter queue, message id), until an operator replays it to its
 * original queue (once) or discards it. A Worker cannot read a queue's depth; this table is the
 * count.
 */
export const deadLetters = sqliteTable(
  "dead_letters",
  {
    id: text("id").primaryKey(),
    /** The dead-letter queue it came from, and the queue it died on (and is replayed to). */
    queue: text("queue").notNull(),
    originalQueue: text("original_queue").notNull(),
    messageId: text("message_id").notNull(),
    /** The message body as JSON (null when it was not JSON-serialisable), at most LIMITS.deadLetterBodyMaxBytes. */
    body: text("body"),
    bodyTruncated: integer("body_truncated", { mode: "boolean" }).notNull().default(false),
    /** How many times the dead-letter queue delivered it here (a redelivery after a lost ack adds one). */
    attempts: integer("attempts").notNull(),
    firstSeenAtMs: integer("first_seen_at_ms").notNull(),
    lastSeenAtMs: integer("last_seen_at_ms").notNull(),
    state: text("state", { enum: ["open", "replayed", "discarded"] })
      .notNull()
      .default("open"),
    decidedBy: text("decided_by"),
    decidedAtMs: integer("decided_at_ms"),
    note: text("note"),
  },
  (t) => [
    uniqueIndex("dead_letters_queue_message").on(t.queue, t.messageId),
    index("dead_letters_state_seen").on(t.state, t.firstSeenAtMs),
  ],
);

/*
 * Money out (issue 14): revenue-share schedules, creator verification, payout accounts and
 * the inbox's templates and preferences.
 */

/**
 * Tiered revenue share (domain/revenue-tiers.ts): versioned, each in force from its
 * effective-from instant; never edited or deleted once written (a change is a new version).
 */
export const revenueSchedules = sqliteTable(
  "revenue_schedules",
  {
    version: integer("version").primaryKey(),
    effectiveFromMs: integer("effective_from_ms").notNull(),
    /** JSON [{ fromGrossMinor, platformBps }], validated by domain/revenue-tiers.ts. */
    tiers: text("tiers").notNull(),
    note: text("note"),
    createdBy: text("created_by").notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
  },
  (t) => [index("revenue_schedules_effective").on(t.effectiveFromMs)],
);

/**
 * 实名认证: real name and ID number sealed with AES-GCM under a key from a secret (`key_id`
 * names which, so keys rotate); only the masked forms are ever shown.
 *   unverified → pending_review → verified | rejected (reason) → (resubmit) pending_review
 */
export const creatorVerifications = sqliteTable(
  "creator_verifications",
  {
    creatorId: text("creator_id").primaryKey(),
    state: text("state", { enum: ["pending_review", "verified", "rejected"] }).notNull(),
    /** base64(iv ‖ ciphertext) of the JSON { realName, idNumber }. */
    sealed: text("sealed").notNull(),
    keyId: text("key_id").notNull(),
    realNameMasked: text("real_name_masked").notNull(),
    idNumberMasked: text("id_number_masked").notNull(),
    submittedAtMs: integer("submitted_at_ms").notNull(),
    reviewerId: text("reviewer_id"),
    reviewedAtMs: integer("reviewed_at_ms"),
    rejectReason: text("reject_reason"),
    updatedAtMs: integer("updated_at_ms").notNull(),
  },
  (t) => [index("creator_verifications_state").on(t.state, t.submittedAtMs)],
);

/**
 * Where a creator's withdrawals are paid (domain/payout-account.ts): the account sealed like a
 * verification, shown masked; one default per creator. `cooling_until_ms` blocks withdrawals
 * to a newly bound or changed account (account-takeover defence).
 */
export const payoutAccounts = sqliteTable(
  "payout_accounts",
  {
    id: text("id").primaryKey(),
    creatorId: text("creator_id").notNull(),
    channel: text("channel", { enum: ["wechatpay", "alipay", "stripe", "sandbox"] }).notNull(),
    /** base64(iv ‖ ciphertext) of the channel's account JSON. */
    sealed: text("sealed").notNull(),
    keyId: text("key_id").notNull(),
    masked: text("masked").notNull(),
    isDefault: integer("is_default", { mode: "boolean" }).notNull(),
    coolingUntilMs: integer("cooling_until_ms").notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
    updatedAtMs: integer("updated_at_ms").notNull(),
    removedAtMs: integer("removed_at_ms"),
  },
  (t) => [
    index("payout_accounts_creator").on(t.creatorId),
    uniqueIndex("payout_accounts_one_default")
      .on(t.creatorId)
      .where(sql`${t.isDefault} = 1 AND ${t.removedAtMs} IS NULL`),
  ],
);

/** The inbox's message templates, with `{variable}` placeholders, per kind and locale. */
export const notificationTemplates = sqliteTable(
  "notification_templates",
  {
    kind: text("kind").notNull(),
    locale: text("locale").notNull(),
    title: text("title").notNull(),
    body: text("body").notNull(),
    updatedBy: text("updated_by").notNull(),
    updatedAtMs: integer("updated_at_ms").notNull(),
  },
  (t) => [primaryKey({ columns: [t.kind, t.locale] })],
);

/** Kinds of inbox message a creator muted. */
export const creatorNotificationMutes = sqliteTable(
  "creator_notification_mutes",
  {
    creatorId: text("creator_id").notNull(),
    kind: text("kind").notNull(),
    mutedAtMs: integer("muted_at_ms").notNull(),
  },
  (t) => [primaryKey({ columns: [t.creatorId, t.kind] })],
);

/**
 * Scheduled checks (src/worker/checks): one row per run of a check, with what it found. The
 * latest run of each check is what alerting and GET /v1/admin/health read; runs older than
 * LIMITS.checkRunRetentionMs are purged.
 */
export const checkRuns = sqliteTable(
  "check_runs",
  {
    id: text("id").primaryKey(),
    check: text("check_name").notNull(),
    startedAtMs: integer("started_at_ms").notNull(),
    finishedAtMs: integer("finished_at_ms").notNull(),
    /** `ok`: nothing found; `findings`: something found; `failed`: the check threw (see `error`). */
    status: text("status", { enum: ["ok", "findings", "failed"] }).notNull(),
    findingCount: integer("finding_count").notNull(),
    /** JSON array of findings (domain/alerts.ts CheckFinding), at most LIMITS.checkFindingsStoredMax. */
    findings: text("findings").notNull(),
    /** The check's own figures (JSON), e.g. how many rows it looked at. */
    figures: text("figures"),
    error: text("error"),
  },
  (t) => [index("check_runs_latest").on(t.check, t.startedAtMs)],
);

/**
 * Where alerts go: a webhook of a kind (domain/alerts.ts TARGET_KINDS). The URL (which is itself
 * a credential for Slack, Feishu and WeCom bots) and the signing secret are sealed with the
 * PII key ring (src/platform/sealing.ts); the API shows the URL's host only.
 */
export const alertTargets = sqliteTable("alert_targets", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  kind: text("kind", { enum: ["slack", "feishu", "wecom", "generic"] }).notNull(),
  /** JSON {url, secret|null} sealed: base64(iv ‖ ciphertext). */
  sealed: text("sealed").notNull(),
  keyId: text("key_id").notNull(),
  /** What the API shows of the URL: its origin. */
  urlHint: text("url_hint").notNull(),
  hasSecret: integer("has_secret", { mode: "boolean" }).notNull(),
  /** Messages at most this many in any hour; beyond it they are recorded as rate-limited, not sent. */
  ratePerHour: integer("rate_per_hour").notNull(),
  enabled: integer("enabled", { mode: "boolean" }).notNull(),
  createdBy: text("created_by").notNull(),
  createdAtMs: integer("created_at_ms").notNull(),
  updatedAtMs: integer("updated_at_ms").notNull(),
});

/**
 * Alert rules: a check and a finding kind (null: any of the check's kinds), fired per subject
 * when Σ of the matching findings' values reaches `threshold`, sent to `target_ids` (JSON
 * array; null: every enabled target).
 */
export const alertRules = sqliteTable("alert_rules", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  check: text("check_name").notNull(),
  kind: text("kind"),
  threshold: integer("threshold").notNull(),
  severity: text("severity", { enum: ["info", "warning", "critical"] }).notNull(),
  targetIds: text("target_ids"),
  enabled: integer("enabled", { mode: "boolean" }).notNull(),
  updatedBy: text("updated_by").notNull(),
  updatedAtMs: integer("updated_at_ms").notNull(),
});

/**
 * Incidents: one rule firing for one subject, open until a run of its check no longer fires
 * it. At most one open incident per key (`{rule}|{subject}`): a rule firing again on every
 * run finds it there and sends nothing.
 */
export const alertIncidents = sqliteTable(
  "alert_incidents",
  {
    id: text("id").primaryKey(),
    key: text("incident_key").notNull(),
    ruleId: text("rule_id").notNull(),
    subject: text("subject").notNull(),
    severity: text("severity", { enum: ["info", "warning", "critical"] }).notNull(),
    state: text("state", { enum: ["open", "resolved"] }).notNull(),
    summary: text("summary").notNull(),
    value: integer("value").notNull(),
    openedAtMs: integer("opened_at_ms").notNull(),
    resolvedAtMs: integer("resolved_at_ms"),
  },
  (t) => [
    uniqueIndex("alert_incidents_one_open").on(t.key).where(sql`${t.state} = 'open'`),
    index("alert_incidents_state").on(t.state, t.openedAtMs),
  ],
);

/**
 * One message about one incident to one target: written before it is queued, so a message
 * is sent at most once per (incident, event, target) however often the queue redelivers.
 */
export const alertDeliveries = sqliteTable(
  "alert_deliveries",
  {
    id: text("id").primaryKey(),
    incidentId: text("incident_id").notNull(),
    event: text("event", { enum: ["open", "resolve"] }).notNull(),
    targetId: text("target_id").notNull(),
    /** `queued` → `sent`, `rate_limited` (not sent: the target's hourly budget was spent) or `failed` (retries spent). */
    state: text("state", { enum: ["queued", "sent", "rate_limited", "failed"] }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    lastError: text("last_error"),
    createdAtMs: integer("created_at_ms").notNull(),
    /** When it was last put on the ALERTS queue; a queued one this old is put on again. */
    queuedAtMs: integer("queued_at_ms"),
    sentAtMs: integer("sent_at_ms"),
  },
  (t) => [
    uniqueIndex("alert_deliveries_once").on(t.incidentId, t.event, t.targetId),
    index("alert_deliveries_target_sent").on(t.targetId, t.sentAtMs),
    index("alert_deliveries_state").on(t.state, t.createdAtMs),
  ],
);

/**
 * Runtime switches (src/domain/switches.ts): one row per kind and scope. Every change also
 * bumps `switch_versions` in the same batch, so an isolate's cache asks only that row once per
 * TTL and reads the set again only when it moved (src/db/switches.ts).
 */
export const runtimeSwitches = sqliteTable(
  "runtime_switches",
  {
    kind: text("kind").notNull(),
    /** `platform`, `room:<id>`, `gift:<id>` or `channel:<name>`. */
    scope: text("scope").notNull(),
    /** Only `claims_tightened` has one: claims in flight per packet. */
    value: integer("value"),
    reason: text("reason").notNull(),
    setBy: text("set_by").notNull(),
    setAtMs: integer("set_at_ms").notNull(),
    expiresAtMs: integer("expires_at_ms"),
  },
  (t) => [primaryKey({ columns: [t.kind, t.scope] })],
);

/** The switch set's version: one row, bumped by every change. */
export const switchVersions = sqliteTable(
  "switch_versions",
  {
    id: integer("id").primaryKey(),
    version: integer("version").notNull(),
    changedAtMs: integer("changed_at_ms").notNull(),
  },
  (t) => [check("switch_versions_one_row", sql`${t.id} = 1`)],
);

/**
 * The sensitive-word list (issue 16): tip messages, packet greetings, room titles and creator
 * names are matched against it (src/domain/moderation.ts). Changed by operators through the
 * audited admin routes; every isolate reads it through a short-TTL copy (src/db/moderation-words.ts).
 */
export const moderationWords = sqliteTable(
  "moderation_words",
  {
    word: text("word").primaryKey(),
    /** `mask`: shown with the word masked; `hold`: a message waits for review, a title or name is refused. */
    level: text("level", { enum: ["mask", "hold"] }).notNull(),
    /** Other spellings (traditional forms, inflections), a JSON array of strings. */
    variants: text("variants").notNull().default("[]"),
    createdBy: text("created_by").notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
  },
  (t) => [check("moderation_words_level", sql`${t.level} IN ('mask', 'hold')`)],
);

/** The word list's version: one row, bumped by every change (isolates reread the list when it moved). */
export const moderationListVersions = sqliteTable(
  "moderation_list_versions",
  {
    id: integer("id").primaryKey(),
    version: integer("version").notNull(),
    changedAtMs: integer("changed_at_ms").notNull(),
  },
  (t) => [check("moderation_list_versions_one_row", sql`${t.id} = 1`)],
);

/*
 * Operators (issue 15): who may use the operator API and with which roles — data here, managed
 * through the API, never taken from a token claim alone (src/db/operators.ts).
 */

/**
 * One operator. In production they arrive through Cloudflare Access, identified by `email`
 * (a person) or `service_client_id` (an Access service token); locally and in tests the bearer
 * token's subject stands in, matched on `id`.
 */
export const operators = sqliteTable(
  "operators",
  {
    id: text("id").primaryKey(),
    displayName: text("display_name").notNull(),
    email: text("email"),
    serviceClientId: text("service_client_id"),
    status: text("status", { enum: ["active", "disabled"] }).notNull(),
    createdBy: text("created_by").notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
    updatedAtMs: integer("updated_at_ms").notNull(),
  },
  (t) => [
    uniqueIndex("operators_email").on(t.email).where(sql`${t.email} IS NOT NULL`),
    uniqueIndex("operators_service_client").on(t.serviceClientId).where(sql`${t.serviceClientId} IS NOT NULL`),
    check("operators_status", sql`${t.status} IN ('active', 'disabled')`),
  ],
);

/** The roles an operator holds (domain/permissions.ts maps them to permissions). */
export const operatorRoles = sqliteTable(
  "operator_roles",
  {
    operatorId: text("operator_id").notNull(),
    role: text("role", { enum: ["admin", "finance", "ops", "support", "risk", "auditor"] }).notNull(),
    grantedBy: text("granted_by").notNull(),
    grantedAtMs: integer("granted_at_ms").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.operatorId, t.role] }),
    check("operator_roles_role", sql`${t.role} IN ('admin', 'finance', 'ops', 'support', 'risk', 'auditor')`),
  ],
);

/**
 * Four-eyes proposals (issue 15, src/worker/proposals.ts): an operator action that needs a
 * second operator is kept here as the request that would perform it; a different operator
 * holding the same permission approves (the request then runs once, as the proposer's, its
 * Idempotency-Key derived from the proposal) or rejects it; unapproved proposals expire.
 *   pending → approved → executed | failed;  pending → rejected | withdrawn | expired
 */
export const proposals = sqliteTable(
  "proposals",
  {
    id: text("id").primaryKey(),
    permission: text("permission").notNull(),
    /** What the request does, for the reviewer: "Credit 5,000.00 to viewer-1's wallet". */
    summary: text("summary").notNull(),
    method: text("method").notNull(),
    /** The request's path and query, from /v1. */
    path: text("path").notNull(),
    /** The validated JSON body, or null. */
    body: text("body"),
    state: text("state", {
      enum: ["pending", "approved", "executed", "failed", "rejected", "withdrawn", "expired"],
    }).notNull(),
    proposerId: text("proposer_id").notNull(),
    /** The proposer's Idempotency-Key, when the request had one: proposing again returns this proposal. */
    idempotencyKey: text("idempotency_key"),
    requestId: text("request_id").notNull(),
    proposedAtMs: integer("proposed_at_ms").notNull(),
    expiresAtMs: integer("expires_at_ms").notNull(),
    deciderId: text("decider_id"),
    decidedAtMs: integer("decided_at_ms"),
    decisionReason: text("decision_reason"),
    resultStatus: integer("result_status"),
    resultBody: text("result_body"),
  },
  (t) => [
    index("proposals_state").on(t.state, t.proposedAtMs),
    uniqueIndex("proposals_proposer_key")
      .on(t.proposerId, t.idempotencyKey)
      .where(sql`${t.idempotencyKey} IS NOT NULL`),
    check(
      "proposals_state",
      sql`${t.state} IN ('pending', 'approved', 'executed', 'failed', 'rejected', 'withdrawn', 'expired')`,
    ),
  ],
);

/*
 * Risk (issue 16): rules as data and the lists they read (src/domain/risk/rules.ts). Read by
 * every isolate through a short TTL cache (src/db/risk.ts); changed only through the audited
 * admin routes under /v1/admin/risk.
 */

/** One rule; `rule` is its whole JSON (RiskRuleSchema), the other columns are for reading it. */
export const riskRules = sqliteTable(
  "risk_rules",
  {
    id: text("id").primaryKey(),
    kind: text("kind").notNull(),
    outcome: text("outcome").notNull(),
    enabled: integer("enabled", { mode: "boolean" }).notNull(),
    rule: text("rule").notNull(),
    updatedBy: text("updated_by").notNull(),
    updatedAtMs: integer("updated_at_ms").notNull(),
  },
  (t) => [check("risk_rules_outcome", sql`${t.outcome} IN ('challenge', 'review', 'block')`)],
);

/** One list entry: a blacklisted user, device, IP, CIDR block, card or payout account, or a blocked country or ASN. */
export const riskListEntries = sqliteTable(
  "risk_list_entries",
  {
    kind: text("kind").notNull(),
    /** Normalized (domain/risk/rules.ts normalizeListValue): canonical IPs and blocks, upper-case countries. */
    value: text("value").notNull(),
    reason: text("reason").notNull(),
    addedBy: text("added_by").notNull(),
    addedAtMs: integer("added_at_ms").notNull(),
  },
  (t) => [primaryKey({ columns: [t.kind, t.value] })],
);

/**
 * The platform dashboard's top creators, rooms and gifts per business day, ISO week and month
 * (docs/ARCHITECTURE.md, Platform dashboard): the exact top `DASHBOARD_TOP_N` of each, merged by
 * the `dashboard-rollup` cron job from every shard's per-entity day sums (ledger
 * `dashboard_entity_days`), rewritten whole whenever a day of the period is rolled up.
 */
export const dashboardTops = sqliteTable(
  "dashboard_tops",
  {
    currency: text("currency").notNull(),
    grain: text("grain", { enum: ["day", "week", "month"] }).notNull(),
    period: text("period").notNull(),
    kind: text("kind", { enum: ["creator", "room", "gift"] }).notNull(),
    /** 1 = the largest amount; ties broken by key. */
    rank: integer("rank").notNull(),
    key: text("key").notNull(),
    amountMinor: integer("amount_minor").notNull(),
    tipCount: integer("tip_count").notNull(),
  },
  (t) => [primaryKey({ columns: [t.grain, t.period, t.currency, t.kind, t.rank] })],
);

// ————— The open platform (issue 18): partners, their API keys, outbound webhooks —————

/** A partner app that offers tipping through giftwire; created by operators. */
export const partners = sqliteTable(
  "partners",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    /** Where the owner is told about their endpoints (disabled after failing for 5 days). */
    contactEmail: text("contact_email").notNull(),
    status: text("status", { enum: ["active", "disabled"] }).notNull(),
    createdBy: text("created_by").notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
  },
  (t) => [check("partners_status", sql`${t.status} IN ('active', 'disabled')`)],
);

/** The creators a partner owns: their rooms are the partner's rooms (reads, tips, webhooks). */
export const partnerCreators = sqliteTable(
  "partner_creators",
  {
    partnerId: text("partner_id").notNull(),
    creatorId: text("creator_id").notNull(),
    addedAtMs: integer("added_at_ms").notNull(),
  },
  (t) => [primaryKey({ columns: [t.partnerId, t.creatorId] }), index("partner_creators_creator").on(t.creatorId)],
);

/** A partner's API key: only its SHA-256 is kept (domain/partner-keys.ts). */
export const partnerApiKeys = sqliteTable(
  "partner_api_keys",
  {
    id: text("id").primaryKey(),
    partnerId: text("partner_id").notNull(),
    mode: text("mode", { enum: ["live", "test"] }).notNull(),
    /** `gw_live_` + the key's first 8 characters, for listings. */
    displayPrefix: text("display_prefix").notNull(),
    keyHash: text("key_hash").notNull(),
    /** JSON array of scopes. */
    scopes: text("scopes").notNull(),
    name: text("name").notNull(),
    createdBy: text("created_by").notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
    expiresAtMs: integer("expires_at_ms"),
    revokedAtMs: integer("revoked_at_ms"),
    /** Written at most once a minute per key. */
    lastUsedAtMs: integer("last_used_at_ms"),
  },
  (t) => [
    uniqueIndex("partner_api_keys_hash").on(t.keyHash),
    index("partner_api_keys_partner").on(t.partnerId),
    check("partner_api_keys_mode", sql`${t.mode} IN ('live', 'test')`),
  ],
);

/** A partner's webhook endpoint; its secrets are sealed (PII_KEYS), never returned after creation. */
export const webhookEndpoints = sqliteTable(
  "webhook_endpoints",
  {
    id: text("id").primaryKey(),
    partnerId: text("partner_id").notNull(),
    url: text("url").notNull(),
    /** JSON array of event types. */
    eventTypes: text("event_types").notNull(),
    /** Sealed JSON `{ current, previous, previousUntilMs }` (two secrets sign during a rotation). */
    sealedSecrets: text("sealed_secrets").notNull(),
    keyId: text("key_id").notNull(),
    status: text("status", { enum: ["active", "disabled"] }).notNull(),
    disabledReason: text("disabled_reason"),
    /** The first failure with no success since; cleared by a success. */
    failingSinceMs: integer("failing_since_ms"),
    createdAtMs: integer("created_at_ms").notNull(),
    updatedAtMs: integer("updated_at_ms").notNull(),
  },
  (t) => [
    index("webhook_endpoints_partner").on(t.partnerId),
    check("webhook_endpoints_status", sql`${t.status} IN ('active', 'disabled')`),
  ],
);

/** One event for one partner: the `webhook-id` and the exact body every attempt sends. */
export const webhookMessages = sqliteTable(
  "webhook_messages",
  {
    id: text("id").primaryKey(),
    partnerId: text("partner_id").notNull(),
    eventType: text("event_type").notNull(),
    /** The event's own id (`tip_…`, `stream_…`): one message per partner and event, however often emitted. */
    eventKey: text("event_key").notNull(),
    body: text("body").notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
  },
  (t) => [
    uniqueIndex("webhook_messages_event").on(t.partnerId, t.eventKey, t.eventType),
    index("webhook_messages_partner_time").on(t.partnerId, t.createdAtMs),
  ],
);

/** A message's delivery to one endpoint: pending until it succeeds or its attempts run out. */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    messageId: text("message_id").notNull(),
    endpointId: text("endpoint_id").notNull(),
    state: text("state", { enum: ["pending", "succeeded", "failed"] }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    /** When the next attempt is due (null once settled). */
    nextAttemptAtMs: integer("next_attempt_at_ms"),
    updatedAtMs: integer("updated_at_ms").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.messageId, t.endpointId] }),
    index("webhook_deliveries_endpoint").on(t.endpointId, t.state),
    check("webhook_deliveries_state", sql`${t.state} IN ('pending', 'succeeded', 'failed')`),
  ],
);

/** Every attempt: status (null: no answer), duration and error. */
export const webhookAttempts = sqliteTable(
  "webhook_attempts",
  {
    id: text("id").primaryKey(),
    messageId: text("message_id").notNull(),
    endpointId: text("endpoint_id").notNull(),
    attemptNo: integer("attempt_no").notNull(),
    atMs: integer("at_ms").notNull(),
    status: integer("status"),
    durationMs: integer("duration_ms").notNull(),
    outcome: text("outcome", { enum: ["succeeded", "gone", "failed", "refused"] }).notNull(),
    error: text("error"),
    responseBody: text("response_body"),
  },
  (t) => [index("webhook_attempts_message").on(t.messageId, t.endpointId, t.attemptNo)],
);

/** What a partner is told (an endpoint disabled): read through GET /v1/partner/notices. */
export const partnerNotices = sqliteTable(
  "partner_notices",
  {
    id: text("id").primaryKey(),
    partnerId: text("partner_id").notNull(),
    kind: text("kind").notNull(),
    detail: text("detail").notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
  },
  (t) => [index("partner_notices_partner").on(t.partnerId, t.createdAtMs)],
);

/**
 * Content items (issue 19): what a host (an operator, or a partner for its creators) registers
 * so its users can unlock it (付费阅读). A price is minor units; null is a free item. An archived
 * item is kept (its unlocks refer to it) but can no longer be unlocked.
 */
export const contentItems = sqliteTable(
  "content_items",
  {
    id: text("id").primaryKey(),
    creatorId: text("creator_id").notNull(),
    kind: text("kind", { enum: ["article", "video", "post", "live_room"] }).notNull(),
    title: text("title").notNull(),
    priceMinor: integer("price_minor"),
    currency: text("currency").notNull(),
    status: text("status", { enum: ["active", "archived"] }).notNull(),
    /** The partner that registered it (null: an operator); only that partner may change it. */
    partnerId: text("partner_id"),
    /** The host's own reference (its article id); unique per host when given. */
    externalRef: text("external_ref"),
    createdBy: text("created_by").notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
    updatedAtMs: integer("updated_at_ms").notNull(),
  },
  (t) => [
    check("content_items_kind", sql`${t.kind} IN ('article', 'video', 'post', 'live_room')`),
    check("content_items_status", sql`${t.status} IN ('active', 'archived')`),
    check("content_items_price", sql`${t.priceMinor} IS NULL OR ${t.priceMinor} > 0`),
    index("content_items_creator").on(t.creatorId, t.id),
    index("content_items_partner").on(t.partnerId, t.id),
    uniqueIndex("content_items_external_ref").on(t.partnerId, t.externalRef).where(sql`${t.externalRef} IS NOT NULL`),
  ],
);

/**
 * Business events (issue 19; src/db/business-events.ts): each event the BUSINESS_EVENTS consumer
 * took, once per id (`type:factId`): `received` while it fans out, `done` after. The consumer
 * skips an id already done (a duplicate); the sweeper sends again any fact whose id is not here.
 * Rows older than the retention are purged by the sweeper.
 */
export const businessEvents = sqliteTable(
  "business_events",
  {
    id: text("id").primaryKey(),
    type: text("type").notNull(),
    factId: text("fact_id").notNull(),
    occurredAtMs: integer("occurred_at_ms").notNull(),
    receivedAtMs: integer("received_at_ms").notNull(),
    state: text("state", { enum: ["received", "done"] }).notNull(),
    doneAtMs: integer("done_at_ms"),
  },
  (t) => [index("business_events_received").on(t.receivedAtMs)],
);

/**
 * The business-event sweeper's place in each source it walks (`ledger:{shard}`): the last
 * operation it looked at, by (created_at_ms, id).
 */
export const businessEventCursors = sqliteTable("business_event_cursors", {
  source: text("source").primaryKey(),
  atMs: integer("at_ms").notNull(),
  lastId: text("last_id").notNull(),
  updatedAtMs: integer("updated_at_ms").notNull(),
});
