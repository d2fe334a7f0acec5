/**
 * The operator console's work queues (issue 17): each queue's size for the console's badges,
 * and the queues whose list and resolve actions had no API yet — payment flags (stuck payouts
 * are the flags of kind `payout_stuck`), reconciliation findings and dead letters. The other
 * queues have their own routes: withdrawals (admin-withdrawals.ts), verifications
 * (verification-review.ts), held messages (moderation.ts), held tips (admin-risk-reviews.ts),
 * proposals (proposals.ts).
 *
 * Resolving a flag or a finding records who, when and a note, audited in the same batch; a
 * second resolution answers the stored one (`changed: false`). A dead letter is replayed to its
 * original queue at most once (a conditional claim, then the send; a failed send reopens it) or
 * discarded; either is audited.
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import {
  countWorkQueues,
  type DeadLetterRow,
  decideDeadLetter,
  type FindingRow,
  findDeadLetter,
  listDeadLetters,
  listFindings,
  listPaymentFlags,
  type PaymentFlagRow,
  type Resolved,
  reopenDeadLetter,
  resolveFinding,
  resolvePaymentFlag,
  WORK_QUEUES,
  type WorkQueue,
} from "../../db/work-queues";
import type { AuditAction } from "../../domain/audit-chain";
import { assert, LIMITS } from "../../domain/limits";
import { may, type Permission } from "../../domain/permissions";
import { operatorAction } from "../audit";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { REPLAY_TARGETS } from "../queues/dead-letters";
import { errorResponses, jsonBody, jsonResponse, PrefixedId } from "../schemas";
import { defineRoute } from "./define";

export const workQueues = new OpenAPIHono<AppEnv>();

/** The permission that reads each queue: the counts answer only the queues the caller may read. */
const QUEUE_READ: Record<WorkQueue, Permission> = {
  paymentFlags: "payment.read",
  payoutsStuck: "payment.read",
  findings: "reconcile.read",
  withdrawals: "withdrawal.read",
  verifications: "verification.review",
  heldMessages: "moderation.read",
  proposals: "proposal.read",
  deadLetters: "deadletter.read",
  riskReviews: "risk.read",
};

workQueues.openapi(
  defineRoute({
    method: "get",
    path: "/admin/queues",
    auth: { permission: "self.read" },
    tags: ["operators"],
    summary: "How many items wait in each work queue the caller may read (for the console's badges)",
    description:
      `Each count reads at most ${LIMITS.workQueueCountMax} rows (per ledger shard for withdrawals, held ` +
      `messages and held tips, then capped again): a count of ${LIMITS.workQueueCountMax} means "at least". A queue the caller ` +
      "may not read is absent.",
    responses: {
      200: jsonResponse(
        z.object({
          counts: z.object(Object.fromEntries(WORK_QUEUES.map((q) => [q, z.number().int().optional()]))),
          countMax: z.number().int(),
        }),
        "The counts",
      ),
      ...errorResponses(401, 403),
    },
  }),
  async (c) => {
    const roles = c.var.operator?.roles ?? [];
    const readable = WORK_QUEUES.filter((q) => may(roles, QUEUE_READ[q]));
    const counts = await countWorkQueues(c.var.ledger, readable, Date.now());
    return c.json({ counts, countMax: LIMITS.workQueueCountMax }, 200);
  },
);

/* Payment flags */

const TIME_CURSOR = /^([0-9]{1,16})\.([A-Za-z0-9_:.-]{1,120})$/;
const timeCursor = (cursor: string | undefined) => {
  const m = cursor === undefined ? null : TIME_CURSOR.exec(cursor);
  return m ? { atMs: Number(m[1]), id: m[2] ?? "" } : null;
};

const PaymentFlagSchema = z
  .object({
    id: z.string(),
    kind: z.string(),
    channel: z.string(),
    orderId: z.string().nullable(),
    withdrawalId: z.string().nullable().openapi({ description: "For payout flags: the withdrawal." }),
    notificationId: z.string().nullable(),
    detail: z.unknown(),
    createdAtMs: z.number().int(),
    resolvedAtMs: z.number().int().nullable(),
    resolvedBy: z.string().nullable(),
    resolution: z.string().nullable(),
  })
  .openapi("PaymentFlag");

function parsedDetail(detail: string): unknown {
  try {
    return JSON.parse(detail);
  } catch {
    return detail;
  }
}

function flagView(row: PaymentFlagRow) {
  const detail = parsedDetail(row.detail);
  const withdrawalId =
    detail !== null && typeof detail === "object" && "withdrawalId" in detail && typeof detail.withdrawalId === "string"
      ? detail.withdrawalId
      : null;
  return {
    id: row.id,
    kind: row.kind,
    channel: row.channel,
    orderId: row.order_id,
    withdrawalId,
    notificationId: row.notification_id,
    detail,
    createdAtMs: row.created_at_ms,
    resolvedAtMs: row.resolved_at_ms,
    resolvedBy: row.resolved_by,
    resolution: row.resolution,
  };
}

const Resolution = z
  .strictObject({
    note: z.string().trim().min(1).max(LIMITS.resolutionMaxLength).openapi({ example: "Refunded by hand" }),
  })
  .openapi("Resolution");

const Open = z.enum(["open", "resolved"]).default("open");
const Limit = z.coerce.number().int().min(1).max(LIMITS.pageSizeMax).default(LIMITS.pageSizeDefault);

/**
 * A queue whose items are resolved with a note (payment flags, reconciliation findings): one
 * route each, `POST {path}` with `queue.resolve`, audited in the resolution's batch; resolving
 * again answers the stored resolution with `changed: false`.
 */
function resolveRoute<Row>(queue: {
  path: string;
  param: string;
  id: z.ZodString;
  example?: string;
  noun: string;
  description: string;
  action: string;
  answer: string;
  schema: z.ZodType;
  view: (row: Row) => unknown;
  resolve: (
    control: D1Database,
    id: string,
    resolution: { actorId: string; note: string; nowMs: number },
    audit: AuditAction,
  ) => Promise<Resolved<Row>>;
}) {
  const idParam = queue.id.openapi({
    param: { name: queue.param, in: "path" },
    ...(queue.example === undefined ? {} : { example: queue.example }),
  });
  workQueues.openapi(
    defineRoute({
      method: "post",
      path: queue.path,
      auth: { permission: "queue.resolve" },
      tags: ["operators"],
      summary: `Resolve a ${queue.noun} with a note (audited); resolving it again changes nothing`,
      description: queue.description,
      request: { params: z.object({ [queue.param]: idParam }), body: jsonBody(Resolution) },
      responses: {
        // Typed as a record: the answer's key is the queue's (`flag`, `finding`); the document
        // still describes the item's schema.
        200: jsonResponse(
          z.object({ [queue.answer]: queue.schema, changed: z.boolean() }) as z.ZodType<Record<string, unknown>>,
          "Resolved (or already was)",
        ),
        ...errorResponses(400, 401, 403, 404),
      },
    }),
    async (c) => {
      const id = c.req.param(queue.param);
      assert(id !== undefined, "the path names the item");
      const { note } = c.req.valid("json");
      const result = await queue.resolve(
        c.var.ledger.control,
        id,
        { actorId: c.var.principal.userId, note, nowMs: Date.now() },
        operatorAction(c, { action: queue.action, target: id, before: null, after: { note } }),
      );
      if (result.kind === "not_found") throw new ApiError("not_found", `There is no such ${queue.noun}.`);
      return c.json({ [queue.answer]: queue.view(result.row), changed: result.kind === "resolved" }, 200);
    },
  );
}

workQueues.openapi(
  defineRoute({
    method: "get",
    path: "/admin/payment-flags",
    auth: { permission: "payment.read" },
    tags: ["operators"],
    summary: "Payment flags, oldest first: `group=payments` (mismatches, contradictions…) or `payouts_stuck`",
    request: {
      query: z.object({
        group: z.enum(["payments", "payouts_stuck"]).default("payments"),
        state: Open,
        cursor: z
          .string()
          .regex(TIME_CURSOR)
          .optional()
          .openapi({ description: "The `nextCursor` of the previous page." }),
        limit: Limit,
      }),
    },
    responses: {
      200: jsonResponse(
        z.object({ flags: z.array(PaymentFlagSchema), nextCursor: z.string().nullable() }),
        "A page of flags",
      ),
      ...errorResponses(400, 401, 403),
    },
  }),
  async (c) => {
    const { group, state, cursor, limit } = c.req.valid("query");
    const at = timeCursor(cursor);
    const page = await listPaymentFlags(
      c.var.ledger.control,
      group,
      state === "open",
      at && { createdAtMs: at.atMs, id: at.id },
      limit,
    );
    return c.json({ flags: page.rows.map(flagView), nextCursor: page.next }, 200);
  },
);

resolveRoute({
  path: "/admin/payment-flags/{flagId}/resolve",
  param: "flagId",
  id: z.string().regex(/^[A-Za-z0-9_:.-]{1,120}$/),
  example: "payout_stuck:wd_01JQ0000000000000000000000",
  noun: "payment flag",
  description:
    "Moves no money: whatever the flag asks for (a refund, an adjustment) is its own action. A stuck payout's " +
    "flag, resolved, still leaves the withdrawal to the payout sweep until it is paid or failed.",
  action: "payment_flag.resolve",
  answer: "flag",
  schema: PaymentFlagSchema,
  view: flagView,
  resolve: resolvePaymentFlag,
});

/* Reconciliation findings */

const FindingSchema = z
  .object({
    id: z.string(),
    runId: z.string(),
    channel: z.string(),
    statementDate: z.string(),
    kind: z.string(),
    orderId: z.string().nullable(),
    providerRef: z.string().nullable(),
    oursAmountMinor: z.number().int().nullable(),
    theirsAmountMinor: z.number().int().nullable(),
    oursStatus: z.string().nullable(),
    theirsStatus: z.string().nullable(),
    repair: z.string(),
    repairOutcome: z.string().nullable(),
    detail: z.string(),
    resolvedAtMs: z.number().int().nullable(),
    resolvedBy: z.string().nullable(),
    resolution: z.string().nullable(),
  })
  .openapi("ReconciliationFindingItem");

const findingView = (r: FindingRow) => ({
  id: r.id,
  runId: r.run_id,
  channel: r.channel,
  statementDate: r.statement_date,
  kind: r.kind,
  orderId: r.order_id,
  providerRef: r.provider_ref,
  oursAmountMinor: r.ours_amount_minor,
  theirsAmountMinor: r.theirs_amount_minor,
  oursStatus: r.ours_status,
  theirsStatus: r.theirs_status,
  repair: r.repair,
  repairOutcome: r.repair_outcome,
  detail: r.detail,
  resolvedAtMs: r.resolved_at_ms,
  resolvedBy: r.resolved_by,
  resolution: r.resolution,
});

const FindingId = PrefixedId("finding");

workQueues.openapi(
  defineRoute({
    method: "get",
    path: "/admin/reconciliation-findings",
    auth: { permission: "reconcile.read" },
    tags: ["operators"],
    summary: "Reconciliation findings across runs, oldest first: the open ones are the queue",
    request: {
      query: z.object({
        state: Open,
        cursor: FindingId.optional().openapi({ description: "The `nextCursor` of the previous page." }),
        limit: Limit,
      }),
    },
    responses: {
      200: jsonResponse(
        z.object({ findings: z.array(FindingSchema), nextCursor: z.string().nullable() }),
        "A page of findings",
      ),
      ...errorResponses(400, 401, 403),
    },
  }),
  async (c) => {
    const { state, cursor, limit } = c.req.valid("query");
    const page = await listFindings(c.var.ledger.control, state === "open", cursor ?? null, limit);
    return c.json({ findings: page.rows.map(findingView), nextCursor: page.next }, 200);
  },
);

resolveRoute({
  path: "/admin/reconciliation-findings/{findingId}/resolve",
  param: "findingId",
  id: FindingId,
  noun: "reconciliation finding",
  description: "Moves no money: a repair (a refund, an adjustment) is its own action, named in the note.",
  action: "reconciliation.finding.resolve",
  answer: "finding",
  schema: FindingSchema,
  view: findingView,
  resolve: resolveFinding,
});

/* Dead letters */

const DeadLetterSchema = z
  .object({
    id: z.string(),
    queue: z.string().openapi({ description: "The dead-letter queue it came from." }),
    originalQueue: z.string().openapi({ description: "The queue it died on; a replay sends it there." }),
    messageId: z.string(),
    body: z.unknown().openapi({ description: "The message body (null: not JSON; a string when truncated)." }),
    bodyTruncated: z.boolean(),
    attempts: z.number().int().openapi({ description: "Deliveries from the dead-letter queue to its consumer." }),
    firstSeenAtMs: z.number().int(),
    lastSeenAtMs: z.number().int(),
    state: z.enum(["open", "replayed", "discarded"]),
    decidedBy: z.string().nullable(),
    decidedAtMs: z.number().int().nullable(),
    note: z.string().nullable(),
  })
  .openapi("DeadLetter");

function deadLetterView(r: DeadLetterRow) {
  let body: unknown = r.body;
  if (r.body !== null && !r.body_truncated) body = parsedDetail(r.body);
  return {
    id: r.id,
    queue: r.queue,
    originalQueue: r.original_queue,
    messageId: r.message_id,
    body,
    bodyTruncated: Boolean(r.body_truncated),
    attempts: r.attempts,
    firstSeenAtMs: r.first_seen_at_ms,
    lastSeenAtMs: r.last_seen_at_ms,
    state: r.state,
    decidedBy: r.decided_by,
    decidedAtMs: r.decided_at_ms,
    note: r.note,
  };
}

const DeadLetterParam = z.object({
  deadLetterId: PrefixedId("dlq").openapi({ param: { name: "deadLetterId", in: "path" } }),
});

workQueues.openapi(
  defineRoute({
    method: "get",
    path: "/admin/dead-letters",
    auth: { permission: "deadletter.read" },
    tags: ["operators"],
    summary: "Messages the queues gave up on, oldest first (the dead-letter queues' consumer keeps them)",
    request: {
      query: z.object({
        state: z.enum(["open", "replayed", "discarded"]).default("open"),
        cursor: z
          .string()
          .regex(TIME_CURSOR)
          .optional()
          .openapi({ description: "The `nextCursor` of the previous page." }),
        limit: Limit,
      }),
    },
    responses: {
      200: jsonResponse(
        z.object({ deadLetters: z.array(DeadLetterSchema), nextCursor: z.string().nullable() }),
        "A page of dead letters",
      ),
      ...errorResponses(400, 401, 403),
    },
  }),
  async (c) => {
    const { state, cursor, limit } = c.req.valid("query");
    const at = timeCursor(cursor);
    const page = await listDeadLetters(c.var.ledger.control, state, at && { firstSeenAtMs: at.atMs, id: at.id }, limit);
    return c.json({ deadLetters: page.rows.map(deadLetterView), nextCursor: page.next }, 200);
  },
);

workQueues.openapi(
  defineRoute({
    method: "get",
    path: "/admin/dead-letters/{deadLetterId}",
    auth: { permission: "deadletter.read" },
    tags: ["operators"],
    summary: "One dead letter with its body",
    request: { params: DeadLetterParam },
    responses: {
      200: jsonResponse(z.object({ deadLetter: DeadLetterSchema }), "The dead letter"),
      ...errorResponses(400, 401, 403, 404),
    },
  }),
  async (c) => {
    const row = await findDeadLetter(c.var.ledger.control, c.req.valid("param").deadLetterId);
    if (!row) throw new ApiError("not_found", "There is no such dead letter.");
    return c.json({ deadLetter: deadLetterView(row) }, 200);
  },
);

const DecideRequest = z
  .strictObject({ note: z.string().trim().min(1).max(LIMITS.resolutionMaxLength).optional() })
  .openapi("DeadLetterDecision");

workQueues.openapi(
  defineRoute({
    method: "post",
    path: "/admin/dead-letters/{deadLetterId}/replay",
    auth: { permission: "deadletter.manage" },
    tags: ["operators"],
    summary: "Send an open dead letter to its original queue again, once (audited)",
    description:
      "The consumers are idempotent, so a replayed message applies at most once. Only an open letter is replayed " +
      "(409 `dead_letter_not_open` otherwise: replayed or discarded already); one whose body was truncated or not " +
      "JSON cannot be (409 `dead_letter_not_replayable`). If the send fails the letter is open again.",
    request: { params: DeadLetterParam, body: jsonBody(DecideRequest) },
    responses: {
      200: jsonResponse(z.object({ deadLetter: DeadLetterSchema }), "Replayed"),
      ...errorResponses(400, 401, 403, 404, 409),
    },
  }),
  async (c) => {
    const { deadLetterId } = c.req.valid("param");
    const { note } = c.req.valid("json");
    const control = c.var.ledger.control;
    const row = await findDeadLetter(control, deadLetterId);
    if (!row) throw new ApiError("not_found", "There is no such dead letter.");
    if (row.state !== "open") throw new ApiError("dead_letter_not_open");
    const target = Object.hasOwn(REPLAY_TARGETS, row.original_queue)
      ? REPLAY_TARGETS[row.original_queue as keyof typeof REPLAY_TARGETS]
      : undefined;
    if (row.body === null || row.body_truncated || target === undefined) {
      throw new ApiError("dead_letter_not_replayable");
    }
    const claimed = await decideDeadLetter(
      control,
      deadLetterId,
      "replayed",
      { actorId: c.var.principal.userId, note: note ?? null, nowMs: Date.now() },
      operatorAction(c, {
        action: "dead_letter.replay",
        target: deadLetterId,
        before: { state: "open" },
        after: { state: "replayed", queue: row.original_queue, messageId: row.message_id },
      }),
    );
    if (!claimed) throw new ApiError("dead_letter_not_open");
    try {
      await (c.env[target] as Queue<unknown>).send(JSON.parse(row.body), { contentType: "json" });
    } catch (error) {
      await reopenDeadLetter(control, deadLetterId);
      c.var.log.error("alert_dead_letter_replay_failed", {
        deadLetterId,
        queue: row.original_queue,
        error: String(error),
      });
      throw error;
    }
    c.var.log.info("dead_letter_replayed", { deadLetterId, queue: row.original_queue });
    const after = await findDeadLetter(control, deadLetterId);
    return c.json({ deadLetter: deadLetterView(after ?? row) }, 200);
  },
);

workQueues.openapi(
  defineRoute({
    method: "post",
    path: "/admin/dead-letters/{deadLetterId}/discard",
    auth: { permission: "deadletter.manage" },
    tags: ["operators"],
    summary: "Discard an open dead letter (audited): it stays listed under `state=discarded`",
    request: { params: DeadLetterParam, body: jsonBody(DecideRequest) },
    responses: {
      200: jsonResponse(z.object({ deadLetter: DeadLetterSchema }), "Discarded"),
      ...errorResponses(400, 401, 403, 404, 409),
    },
  }),
  async (c) => {
    const { deadLetterId } = c.req.valid("param");
    const { note } = c.req.valid("json");
    const control = c.var.ledger.control;
    const row = await findDeadLetter(control, deadLetterId);
    if (!row) throw new ApiError("not_found", "There is no such dead letter.");
    const decided = await decideDeadLetter(
      control,
      deadLetterId,
      "discarded",
      { actorId: c.var.principal.userId, note: note ?? null, nowMs: Date.now() },
      operatorAction(c, {
        action: "dead_letter.discard",
        target: deadLetterId,
        before: { state: "open" },
        after: { state: "discarded", queue: row.original_queue, messageId: row.message_id },
      }),
    );
    if (!decided) throw new ApiError("dead_letter_not_open");
    const after = await findDeadLetter(control, deadLetterId);
    return c.json({ deadLetter: deadLetterView(after ?? row) }, 200);
  },
);
