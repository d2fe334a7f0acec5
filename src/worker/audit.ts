import type { Context } from "hono";
import type { AuditAction } from "../domain/audit-chain";
import type { AppEnv } from "./context";
import { approvedExecution } from "./proposals";

/**
 * An operator's action as an audit entry: the signed-in operator is the actor, the request
 * context's id is the request id (src/db/audit.ts appends it in the action's batch). An
 * approved four-eyes proposal executing (worker/proposals.ts) is its proposer's action; the
 * entry's `after` also names the proposal and the operator who approved it.
 */
export function operatorAction(
  c: Context<AppEnv>,
  what: Pick<AuditAction, "action" | "target" | "before" | "after">,
): AuditAction {
  const execution = approvedExecution(c.req.raw);
  const after = execution
    ? {
        ...(what.after !== null && typeof what.after === "object" ? what.after : { value: what.after ?? null }),
        fourEyes: { proposalId: execution.proposalId, approvedBy: execution.approverId },
      }
    : what.after;
  return { ...what, after, actor: c.var.principal.userId, requestId: c.var.requestId };
}

/** A system job's action: the actor is `system:<job>`, the request id the run's. */
export function systemAction(
  job: string,
  runId: string,
  what: Pick<AuditAction, "action" | "target" | "before" | "after">,
): AuditAction {
  return { ...what, actor: `system:${job}`, requestId: runId };
}
