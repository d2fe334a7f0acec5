/**
 * Operators (support, admin) review creators' verifications: the queue, oldest first, and
 * approve / reject. A repeated decision is a no-op answering the stored state; the opposite
 * decision after one was made is refused (`verification_not_pending`).
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { reviewVerification, type VerificationRow, verificationQueue } from "../../db/verifications";
import { LIMITS } from "../../domain/limits";
import { REJECT_REASON_MAX_LENGTH, type ReviewAction } from "../../domain/verification";
import { operatorAction } from "../audit";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { errorResponses, jsonBody, jsonResponse, UserId } from "../schemas";
import { onVerificationReviewed } from "../verifications/on-reviewed";
import { defineRoute } from "./define";
import { VerificationSchema, verificationView } from "./verification";

const QueuedVerification = VerificationSchema.extend({
  creatorId: UserId,
  reviewerId: z.string().nullable(),
}).openapi("QueuedVerification");

const ReviewedVerification = VerificationSchema.extend({
  creatorId: UserId,
  changed: z.boolean().openapi({ description: "false: the same decision was already made; nothing changed." }),
}).openapi("ReviewedVerification");

const QUEUE_CURSOR = /^([0-9]{1,16})\.([A-Za-z0-9_-]{1,64})$/;

const QueueQuery = z.object({
  state: z.enum(["pending_review", "verified", "rejected"]).default("pending_review"),
  cursor: z.string().regex(QUEUE_CURSOR).optional().openapi({ description: "The `nextCursor` of the previous page." }),
  limit: z.coerce.number().int().min(1).max(LIMITS.pageSizeMax).default(LIMITS.pageSizeDefault),
});

const CreatorParam = z.object({ creatorId: UserId.openapi({ param: { name: "creatorId", in: "path" } }) });

const RejectRequest = z
  .strictObject({ reason: z.string().trim().min(1).max(REJECT_REASON_MAX_LENGTH).openapi({ example: "照片不清晰" }) })
  .openapi("VerificationReject");

const queued = (row: VerificationRow) => ({
  ...verificationView(row),
  creatorId: row.creator_id,
  reviewerId: row.reviewer_id,
});

export const verificationReview = new OpenAPIHono<AppEnv>();

verificationReview.openapi(
  defineRoute({
    method: "get",
    path: "/admin/verifications",
    auth: { permission: "verification.review" },
    tags: ["operators"],
    summary: "Creators' verifications in a state, oldest submission first",
    request: { query: QueueQuery },
    responses: {
      200: jsonResponse(
        z.object({ items: z.array(QueuedVerification), nextCursor: z.string().nullable() }),
        "One page of the queue",
      ),
      ...errorResponses(400, 401, 403),
    },
  }),
  async (c) => {
    const { state, cursor, limit } = c.req.valid("query");
    const at = cursor === undefined ? null : QUEUE_CURSOR.exec(cursor);
    const page = await verificationQueue(
      c.var.ledger.control,
      state,
      limit,
      at ? { submittedAtMs: Number(at[1]), creatorId: at[2] ?? "" } : null,
    );
    return c.json({ items: page.rows.map(queued), nextCursor: page.nextCursor }, 200);
  },
);

/** Applies a decision; the inbox hook runs only when this call made it. */
async function review(c: Context<AppEnv>, creatorId: string, action: ReviewAction, reason: string | null) {
  const reviewerId = c.var.principal.userId;
  const nowMs = Date.now();
  const audit = operatorAction(c, { action: `verification.${action}`, target: creatorId, before: null, after: null });
  const result = await reviewVerification(
    c.var.ledger.control,
    creatorId,
    action,
    { reviewerId, reason, nowMs },
    audit,
  );
  if ("ok" in result) throw ApiError.from(result);
  if (result.outcome === "transition") {
    await onVerificationReviewed(c.env, c.var.log, {
      creatorId,
      outcome: action === "approve" ? "verified" : "rejected",
      reason: result.row.reject_reason,
      reviewerId,
      reviewedAtMs: nowMs,
    });
  }
  return { ...verificationView(result.row), creatorId, changed: result.outcome === "transition" };
}

verificationReview.openapi(
  defineRoute({
    method: "post",
    path: "/admin/verifications/{creatorId}/approve",
    auth: { permission: "verification.review" },
    tags: ["operators"],
    summary: "Approve a pending verification",
    request: { params: CreatorParam },
    responses: {
      200: jsonResponse(ReviewedVerification, "Verified (or already was)"),
      ...errorResponses(400, 401, 403, 404, 409),
    },
  }),
  async (c) => c.json(await review(c, c.req.valid("param").creatorId, "approve", null), 200),
);

verificationReview.openapi(
  defineRoute({
    method: "post",
    path: "/admin/verifications/{creatorId}/reject",
    auth: { permission: "verification.review" },
    tags: ["operators"],
    summary: "Reject a pending verification with a reason the creator sees",
    request: { params: CreatorParam, body: jsonBody(RejectRequest) },
    responses: {
      200: jsonResponse(ReviewedVerification, "Rejected (or already was)"),
      ...errorResponses(400, 401, 403, 404, 409),
    },
  }),
  async (c) => c.json(await review(c, c.req.valid("param").creatorId, "reject", c.req.valid("json").reason), 200),
);
