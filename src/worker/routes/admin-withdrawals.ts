/**
 * The withdrawal review queue, for finance: list withdrawals by state (oldest first), approve
 * one (it is sent to its channel through the PAYOUTS queue), or reject one with a reason (the
 * money goes back to the creator's available balance, once: a second reject is a no-op).
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import { withAuditEntry } from "../../db/audit";
import { runOperation } from "../../db/ledger";
import { composeWithdrawalRelease } from "../../db/operations/withdrawal-release";
import { withdrawalsInState, withdrawalWithSteps } from "../../db/reads/withdrawals";
import { findWithdrawal, moveWithdrawal, setColumns } from "../../db/withdrawals";
import { LIMITS } from "../../domain/limits";
import { transitionWithdrawal, WITHDRAWAL_STATES } from "../../domain/withdrawal-states";
import { operatorAction } from "../audit";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { money } from "../money-view";
import { noticeWithdrawalNow } from "../notifications/notice";
import { fourEyes } from "../proposals";
import { enqueuePayoutSend } from "../queues/payouts";
import { errorResponses, jsonBody, jsonResponse, PageQuery, PrefixedId } from "../schemas";
import { WithdrawalSchema, withdrawalView } from "../withdrawal-view";
import { SEND_BACKSTOP_MS } from "./creator-withdrawals";
import { defineRoute } from "./define";

const params = z.object({
  withdrawalId: PrefixedId("wd").openapi({ param: { name: "withdrawalId", in: "path" } }),
});
const Reply = z.object({ withdrawal: WithdrawalSchema });
const RejectRequest = z
  .strictObject({ reason: z.string().trim().min(1).max(LIMITS.reasonMaxLength) })
  .openapi("WithdrawalRejection");

export const adminWithdrawalRoutes = new OpenAPIHono<AppEnv>();

async function reply(ledger: AppEnv["Variables"]["ledger"], id: string) {
  const found = await withdrawalWithSteps(ledger, id);
  if (!found) throw new ApiError("not_found", "There is no such withdrawal.");
  return { withdrawal: withdrawalView(found) };
}

adminWithdrawalRoutes.openapi(
  defineRoute({
    method: "get",
    path: "/admin/withdrawals",
    auth: { permission: "withdrawal.read" },
    tags: ["operators"],
    summary: "Withdrawals in a state, oldest first: `requested` is the review queue",
    request: {
      query: PageQuery.extend({ state: z.enum(WITHDRAWAL_STATES).default("requested") }),
    },
    responses: {
      200: jsonResponse(
        z.object({ withdrawals: z.array(WithdrawalSchema), nextCursor: z.string().nullable() }),
        "A page of withdrawals",
      ),
      ...errorResponses(400, 401, 403),
    },
  }),
  async (c) => {
    const { state, cursor, limit } = c.req.valid("query");
    const page = await withdrawalsInState(c.var.ledger, state, cursor ?? null, limit + 1);
    const shown = page.slice(0, limit);
    return c.json(
      {
        withdrawals: shown.map(withdrawalView),
        nextCursor: page.length > limit ? (shown.at(-1)?.row.id ?? null) : null,
      },
      200,
    );
  },
);

adminWithdrawalRoutes.openapi(
  defineRoute({
    method: "post",
    path: "/admin/withdrawals/{withdrawalId}/approve",
    auth: { permission: "withdrawal.approve" },
    fourEyes: { when: "above `FOUR_EYES_WITHDRAWAL_MINOR` (default 5,000.00)" },
    tags: ["operators"],
    summary: "Approve a requested withdrawal; it is sent to its channel",
    description:
      "Approving an approved withdrawal again changes nothing; any other state is `conflict`. Above " +
      "`FOUR_EYES_WITHDRAWAL_MINOR` (default 5,000.00) the approval needs a second operator: it is kept as a " +
      "proposal (202) and made when another operator with `withdrawal.approve` approves it.",
    request: { params },
    responses: {
      200: jsonResponse(Reply, "Approved"),
      ...errorResponses(400, 401, 403, 404, 409),
    },
  }),
  async (c) => {
    const { withdrawalId } = c.req.valid("param");
    const pending = await findWithdrawal(c.var.ledger, withdrawalId);
    if (!pending) throw new ApiError("not_found", "There is no such withdrawal.");
    const proposed = await fourEyes(c, {
      required: pending.state === "requested" && pending.amount_minor > c.var.config.fourEyes.withdrawalMinor,
      summary: `Approve withdrawal ${withdrawalId}: ${money(pending.amount_minor).amount} to ${pending.creator_id}'s ${pending.channel} account`,
      body: null,
    });
    if (proposed) return proposed;
    const nowMs = Date.now();
    const actorId = c.var.principal.userId;
    const moved = await moveWithdrawal(
      c.var.ledger,
      withdrawalId,
      "approve",
      {
        cause: "approve",
        ref: null,
        actorId,
        nowMs,
        set: setColumns({ reviewer_id: actorId, next_query_at_ms: nowMs + SEND_BACKSTOP_MS }),
      },
      operatorAction(c, {
        action: "withdrawal.approve",
        target: withdrawalId,
        before: null,
        after: { state: "approved" },
      }),
    );
    if (moved.kind === "not_found") throw new ApiError("not_found", "There is no such withdrawal.");
    if (moved.kind === "illegal")
      throw new ApiError("conflict", moved.transition.ok ? undefined : moved.transition.message);
    if (moved.kind === "changed") {
      c.var.log.info("withdrawal_approved", { withdrawalId, actorId });
      c.executionCtx.waitUntil(enqueuePayoutSend(c.env, withdrawalId, c.var.log));
    }
    c.executionCtx.waitUntil(noticeWithdrawalNow(c.env, c.var.ledger, withdrawalId, Date.now(), c.var.log));
    return c.json(await reply(c.var.ledger, withdrawalId), 200);
  },
);

adminWithdrawalRoutes.openapi(
  defineRoute({
    method: "post",
    path: "/admin/withdrawals/{withdrawalId}/reject",
    auth: { permission: "withdrawal.approve" },
    tags: ["operators"],
    summary: "Reject a requested withdrawal with a reason; the money returns to available",
    description:
      "Rejecting a rejected withdrawal again changes nothing (the money returned once); any other state is `conflict`.",
    request: { params, body: jsonBody(RejectRequest) },
    responses: { 200: jsonResponse(Reply, "Rejected"), ...errorResponses(400, 401, 403, 404, 409) },
  }),
  async (c) => {
    const { withdrawalId } = c.req.valid("param");
    const { reason } = c.req.valid("json");
    const ledger = c.var.ledger;
    const actorId = c.var.principal.userId;
    for (let attempt = 0; attempt < 3; attempt++) {
      const row = await findWithdrawal(ledger, withdrawalId);
      if (!row) throw new ApiError("not_found", "There is no such withdrawal.");
      const t = transitionWithdrawal(row.state, "reject");
      if (!t.ok) throw new ApiError("conflict", t.message);
      if (!t.changed) return c.json(await reply(ledger, withdrawalId), 200);
      const shard = ledger.forId(withdrawalId);
      const audit = operatorAction(c, {
        action: "withdrawal.reject",
        target: withdrawalId,
        before: { state: row.state },
        after: { state: "rejected", amountMinor: row.amount_minor, reason },
      });
      const { verdict } = await withAuditEntry(shard.db, audit, (draft) =>
        runOperation(
          shard,
          composeWithdrawalRelease(
            shard,
            { withdrawal: row, from: "requested", cause: "reject", ref: null, actorId, reason, nowMs: Date.now() },
            (posting) => [draft.statement(posting)],
          ),
        ),
      );
      if (verdict.kind === "rejected" && verdict.code === "withdrawal_state_changed") continue;
      if (verdict.kind === "rejected") throw new ApiError("conflict", `The rejection was refused: ${verdict.code}.`);
      if (verdict.kind === "posted") {
        c.var.log.info("withdrawal_rejected", { withdrawalId, actorId });
        c.executionCtx.waitUntil(noticeWithdrawalNow(c.env, ledger, withdrawalId, Date.now(), c.var.log));
      }
      return c.json(await reply(ledger, withdrawalId), 200);
    }
    throw new ApiError("conflict");
  },
);
