/**
 * Four-eyes proposals (worker/proposals.ts): list and read them; approve or reject one. Only a
 * different operator holding the proposal's own permission decides it; approving runs the kept
 * request once, as the proposer's, and answers what it answered.
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import {
  decideProposal,
  findProposal,
  listProposals,
  type ProposalRow,
  type ProposalState,
  recordProposalResult,
} from "../../db/proposals";
import { LIMITS } from "../../domain/limits";
import { may, type Permission } from "../../domain/permissions";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { executeProposal, PROPOSAL_STATES, ProposalSchema, proposalView } from "../proposals";
import { errorResponses, jsonBody, jsonResponse, PrefixedId } from "../schemas";
import { defineRoute } from "./define";

const Params = z.object({ proposalId: PrefixedId("prp").openapi({ param: { name: "proposalId", in: "path" } }) });

const Decision = z
  .strictObject({ reason: z.string().min(1).max(LIMITS.reasonMaxLength).optional() })
  .openapi("ProposalDecision", { example: { reason: "Checked against the ticket" } });

export const proposals = new OpenAPIHono<AppEnv>();

proposals.openapi(
  defineRoute({
    method: "get",
    path: "/admin/proposals",
    auth: { permission: "proposal.read" },
    tags: ["operators"],
    summary: "Four-eyes proposals, newest first (`state=pending`: the approval queue)",
    request: {
      query: z.object({
        state: z.enum(PROPOSAL_STATES).optional(),
        before: PrefixedId("prp").optional().openapi({ description: "The last id of the previous page." }),
        limit: z.coerce.number().int().min(1).max(LIMITS.proposalsPageMax).default(20),
      }),
    },
    responses: {
      200: jsonResponse(z.object({ items: z.array(ProposalSchema), next: z.string().nullable() }), "A page"),
      ...errorResponses(400, 401, 403),
    },
  }),
  async (c) => {
    const { state, before, limit } = c.req.valid("query");
    const rows = await listProposals(c.var.ledger.control, {
      state: (state ?? null) as ProposalState | null,
      before: before ?? null,
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    return c.json({ items: page.map(proposalView), next: rows.length > limit ? (page.at(-1)?.id ?? null) : null }, 200);
  },
);

proposals.openapi(
  defineRoute({
    method: "get",
    path: "/admin/proposals/{proposalId}",
    auth: { permission: "proposal.read" },
    tags: ["operators"],
    summary: "One proposal, with the request it keeps and, once approved, what that request answered",
    request: { params: Params },
    responses: { 200: jsonResponse(ProposalSchema, "The proposal"), ...errorResponses(401, 403, 404) },
  }),
  async (c) => {
    const row = await findProposal(c.var.ledger.control, c.req.valid("param").proposalId);
    if (!row) throw new ApiError("proposal_not_found");
    return c.json(proposalView(row), 200);
  },
);

/** The decider may decide this proposal: not its proposer, and holding its permission. */
function assertMayDecide(c: { var: AppEnv["Variables"] }, row: ProposalRow): void {
  if (row.proposer_id === c.var.principal.userId) throw new ApiError("proposal_own");
  const operator = c.var.operator;
  if (!operator || !may(operator.roles, row.permission as Permission)) {
    throw new ApiError("forbidden", `Deciding this proposal needs the permission ${row.permission}.`);
  }
}

proposals.openapi(
  defineRoute({
    method: "post",
    path: "/admin/proposals/{proposalId}/approve",
    auth: { permission: "proposal.decide" },
    tags: ["operators"],
    summary: "Approve another operator's proposal: its request runs now, once, as theirs",
    description:
      "Only an operator other than the proposer, holding the proposal's permission (403 `proposal_own`, " +
      "403 `forbidden`). One approval wins: a decided proposal is 409 `proposal_not_pending`, an expired one 409 " +
      "`proposal_expired`. The answer carries the proposal (`executed` when its request succeeded, `failed` " +
      "when the request was refused — nothing moved then) with the request's status and body in `result`. " +
      "Approving an `approved` proposal whose request has not answered yet (the first execution was cut off) " +
      "runs it again; money routes answer their stored result rather than move money twice.",
    request: { params: Params, body: jsonBody(Decision) },
    responses: {
      200: jsonResponse(ProposalSchema, "Approved, and its request's answer recorded"),
      ...errorResponses(400, 401, 403, 404, 409),
    },
  }),
  async (c) => {
    const { proposalId } = c.req.valid("param");
    const { reason } = c.req.valid("json");
    const db = c.var.ledger.control;
    const row = await proposalToDecide(db, proposalId);
    assertMayDecide(c, row);
    const nowMs = Date.now();
    if (row.state === "pending") {
      if (row.expires_at_ms <= nowMs) {
        await decideProposal(db, proposalId, "pending", "expired", { deciderId: null, reason: null, nowMs });
        throw new ApiError("proposal_expired");
      }
      const won = await decideProposal(db, proposalId, "pending", "approved", {
        deciderId: c.var.principal.userId,
        reason: reason ?? null,
        nowMs,
      });
      if (!won) throw await whyNotPending(db, proposalId);
      c.var.log.info("proposal_approved", {
        proposalId,
        approverId: c.var.principal.userId,
        proposerId: row.proposer_id,
      });
    } else if (!(row.state === "approved" && row.result_status === null)) {
      throw new ApiError(row.state === "expired" ? "proposal_expired" : "proposal_not_pending");
    }
    const result = await executeProposal(c, row);
    if (await recordProposalResult(db, proposalId, result.status, result.body)) {
      c.var.log.info("proposal_executed", { proposalId, status: result.status });
    }
    return c.json(proposalView(await proposalToDecide(db, proposalId)), 200);
  },
);

proposals.openapi(
  defineRoute({
    method: "post",
    path: "/admin/proposals/{proposalId}/reject",
    auth: { permission: "proposal.decide" },
    tags: ["operators"],
    summary: "Reject another operator's proposal, or withdraw your own; its request never runs",
    request: { params: Params, body: jsonBody(Decision) },
    responses: {
      200: jsonResponse(ProposalSchema, "Rejected or withdrawn"),
      ...errorResponses(400, 401, 403, 404, 409),
    },
  }),
  async (c) => {
    const { proposalId } = c.req.valid("param");
    const { reason } = c.req.valid("json");
    const db = c.var.ledger.control;
    const row = await proposalToDecide(db, proposalId);
    const own = row.proposer_id === c.var.principal.userId;
    if (!own) assertMayDecide(c, row);
    const decided = await decideProposal(db, proposalId, "pending", own ? "withdrawn" : "rejected", {
      deciderId: c.var.principal.userId,
      reason: reason ?? null,
      nowMs: Date.now(),
    });
    if (!decided) throw await whyNotPending(db, proposalId);
    c.var.log.info(own ? "proposal_withdrawn" : "proposal_rejected", { proposalId, deciderId: c.var.principal.userId });
    return c.json(proposalView(await proposalToDecide(db, proposalId)), 200);
  },
);

/** The proposal, or `proposal_not_found`. */
async function proposalToDecide(db: D1Database, proposalId: string): Promise<ProposalRow> {
  const row = await findProposal(db, proposalId);
  if (!row) throw new ApiError("proposal_not_found");
  return row;
}

/** Why a decision lost its conditional update: the proposal expired, or someone decided it first. */
async function whyNotPending(db: D1Database, proposalId: string): Promise<ApiError> {
  const now = await findProposal(db, proposalId);
  const expired = now?.state === "expired" || (now?.state === "pending" && now.expires_at_ms <= Date.now());
  return new ApiError(expired ? "proposal_expired" : "proposal_not_pending");
}
