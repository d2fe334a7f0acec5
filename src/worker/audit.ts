import type { Context } from "hono";
import type { AuditAction } from "../domain/audit-chain";
import type { AppEnv } from "./context";

/**
 * An operator's action as an audit entry: the signed-in operator is the actor, the request
 * context's id is the request id (src/db/audit.ts appends it in the action's batch).
 */
export function operatorAction(
  c: Context<AppEnv>,
  what: Pick<AuditAction, "action" | "target" | "before" | "after">,
): AuditAction {
  return { ...what, actor: c.var.principal.userId, requestId: c.var.requestId };
}

/** A system job's action: the actor is `system:<job>`, the request id the run's. */
export function systemAction(
  job: string,
  runId: string,
  what: Pick<AuditAction, "action" | "target" | "before" | "after">,
): AuditAction {
  return { ...what, actor: `system:${job}`, requestId: runId };
}
