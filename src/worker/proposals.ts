import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { insertProposal, type ProposalRow } from "../db/proposals";
import { newId } from "../domain/ids";
import { assert, LIMITS } from "../domain/limits";
import type { AppEnv } from "./context";
import { ApiError } from "./errors";
import { replay } from "./idempotency";
import { jsonResponse } from "./schemas";

/**
 * Four-eyes (maker-checker), issue 15. An operator route whose action needs a second operator
 * asks `fourEyes` first; when the rule applies, the request is not performed but kept as a
 * proposal (the method, path and validated body it would have run with) and answered 202. A
 * different operator holding the same permission approves it (routes/proposals.ts); the kept
 * request then runs once through the same route, as the proposer's — `approvedExecution` marks
 * that request so the gate admits the proposer and `fourEyes` lets it through — with the
 * Idempotency-Key `proposal-{id}`, so a money route's own idempotency makes a repeat answer
 * the stored result rather than move money again.
 *
 * Reusing the route rather than a second code path means an approved action is checked exactly
 * as a direct one (schemas, guards, the proposer still an active operator with the permission).
 */

interface ApprovedExecution {
  readonly proposalId: string;
  readonly proposerId: string;
  /** The operator whose approval runs it (recorded with the action in the audit log). */
  readonly approverId: string;
}

/**
 * Executions in progress in this isolate, by a random ticket the executing request carries in
 * {@link EXECUTION_HEADER} (middleware may rebuild the Request object — the body limit does —
 * so the object itself cannot be the key). A ticket is 122 random bits, lives only while its
 * request runs and exists only in this isolate's memory: nothing from outside can present one.
 */
const approvedExecutions = new Map<string, ApprovedExecution>();
const EXECUTION_HEADER = "x-giftwire-proposal-execution";

export function approvedExecution(request: Request): ApprovedExecution | undefined {
  const ticket = request.headers.get(EXECUTION_HEADER);
  return ticket === null ? undefined : approvedExecutions.get(ticket);
}

type Dispatch = (request: Request, env: Env, ctx: ExecutionContext) => Response | Promise<Response>;
let dispatcher: Dispatch | null = null;

/** The app that executes approved proposals (app.ts registers itself: routes cannot import the app). */
export function setProposalDispatcher(dispatch: Dispatch): void {
  dispatcher = dispatch;
}

/**
 * When a route is four-eyed, in words for its description ("always", "above
 * FOUR_EYES_REFUND_MINOR", "when it grants a role"); declared on the route (routes/define.ts).
 */
export interface FourEyesDeclaration {
  readonly when: string;
}

export interface FourEyesRule {
  /** True when this request needs a second operator (an amount above its threshold, always…). */
  readonly required: boolean;
  /** What the request would do, for the approver: "Credit 5,000.00 to viewer-1's wallet". */
  readonly summary: string;
  /** The validated body the request would run with (null for none). */
  readonly body: unknown;
}

export const PROPOSAL_STATES = [
  "pending",
  "approved",
  "executed",
  "failed",
  "rejected",
  "withdrawn",
  "expired",
] as const;

export const ProposalSchema = z
  .object({
    id: z.string(),
    permission: z.string(),
    summary: z.string(),
    method: z.string(),
    path: z.string(),
    body: z.any(),
    state: z.enum(PROPOSAL_STATES),
    proposerId: z.string(),
    proposedAtMs: z.number().int(),
    expiresAtMs: z.number().int(),
    deciderId: z.string().nullable(),
    decidedAtMs: z.number().int().nullable(),
    decisionReason: z.string().nullable(),
    result: z.object({ status: z.number().int(), body: z.any() }).nullable(),
  })
  .openapi("Proposal");

type ProposalView = z.infer<typeof ProposalSchema>;

/** The 202 a four-eyed route answers when it keeps the request as a proposal (its OpenAPI response). */
export const proposedResponse = {
  202: jsonResponse(
    z.object({ proposal: ProposalSchema }),
    "Needs a second operator: kept as a proposal (GET /v1/admin/proposals/{id}), nothing done yet",
  ),
};

export function proposalView(row: ProposalRow): ProposalView {
  return {
    id: row.id,
    permission: row.permission,
    summary: row.summary,
    method: row.method,
    path: row.path,
    body: row.body === null ? null : (JSON.parse(row.body) as unknown),
    state: row.state,
    proposerId: row.proposer_id,
    proposedAtMs: row.proposed_at_ms,
    expiresAtMs: row.expires_at_ms,
    deciderId: row.decider_id,
    decidedAtMs: row.decided_at_ms,
    decisionReason: row.decision_reason,
    result:
      row.result_status === null
        ? null
        : { status: row.result_status, body: parseJsonOrText(row.result_body ?? "") as unknown },
  };
}

function parseJsonOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Null when the route should perform the request now (the rule does not apply, or this is an
 * approved proposal executing); otherwise the 202 answer carrying the new (or, for a repeated
 * Idempotency-Key, the earlier) proposal.
 */
export async function fourEyes(c: Context<AppEnv>, rule: FourEyesRule): Promise<ProposedResponse | null> {
  assert(c.get("fourEyes") !== undefined, "a route that proposes declares `fourEyes` (routes/define.ts)");
  if (approvedExecution(c.req.raw) || !rule.required) return null;
  const permission = c.get("permission");
  assert(permission !== undefined, "four-eyes applies to operator routes");
  const url = new URL(c.req.url);
  const body = rule.body === null || rule.body === undefined ? null : JSON.stringify(rule.body);
  assert(body === null || body.length <= LIMITS.proposalBodyMaxBytes, "a proposal's body fits the body limit");
  const nowMs = Date.now();
  const { row, created } = await insertProposal(c.var.ledger.control, {
    id: newId("prp", nowMs),
    permission,
    summary: rule.summary.slice(0, LIMITS.proposalSummaryMaxLength),
    method: c.req.method,
    path: `${url.pathname}${url.search}`,
    body,
    proposerId: c.var.principal.userId,
    idempotencyKey: c.req.header("idempotency-key") ?? null,
    requestId: c.var.requestId,
    nowMs,
    expiresAtMs: nowMs + LIMITS.proposalTtlMs,
  });
  if (!created && (row.method !== c.req.method || row.path !== `${url.pathname}${url.search}` || row.body !== body)) {
    throw new ApiError("idempotency_key_reused");
  }
  if (created) {
    c.var.log.info("proposal_created", {
      proposalId: row.id,
      permission,
      summary: row.summary,
      proposerId: row.proposer_id,
    });
  } else if (row.state === "executed" && row.result_status !== null && row.result_body !== null) {
    // The same request again after its approval ran it: the action's stored answer, as a replay.
    return replay(row.result_body, row.result_status, true) as ProposedResponse;
  }
  // Typed `never` for the route: its OpenAPI responses list the 202 (`proposedResponse`), but the
  // handler's inferred success type is the route's own.
  return c.json({ proposal: proposalView(row) }, 202) as ProposedResponse;
}

/** The 202 answer with the proposal (see `fourEyes`). */
type ProposedResponse = never;

/** Runs an approved proposal's request through the app, as its proposer; what it answered. */
export async function executeProposal(
  c: Context<AppEnv>,
  row: ProposalRow,
): Promise<{ readonly status: number; readonly body: string }> {
  assert(dispatcher !== null, "app.ts registered the proposal dispatcher");
  const ticket = crypto.randomUUID();
  const request = new Request(new URL(row.path, c.req.url), {
    method: row.method,
    headers: {
      "idempotency-key": `proposal-${row.id}`,
      "x-request-id": c.var.requestId,
      [EXECUTION_HEADER]: ticket,
      ...(row.body === null ? {} : { "content-type": "application/json" }),
    },
    body: row.body,
  });
  approvedExecutions.set(ticket, {
    proposalId: row.id,
    proposerId: row.proposer_id,
    approverId: c.var.principal.userId,
  });
  try {
    const response = await dispatcher(request, c.env, c.executionCtx as unknown as ExecutionContext);
    return { status: response.status, body: await response.text() };
  } finally {
    approvedExecutions.delete(ticket);
  }
}
