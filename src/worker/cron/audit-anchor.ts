import { auditChains } from "../../db/audit";
import { exportDailyAnchors } from "../../db/audit-anchors";
import { openLedger } from "../../db/shards";

/**
 * Exports each audit chain's head to R2 once a UTC day (src/db/audit-anchors.ts): the first
 * run of the day writes every chain's anchor, later runs find them there and write nothing.
 */
export async function exportAuditAnchors(env: Env, nowMs: number): Promise<{ exported: number; present: number }> {
  const ledger = await openLedger(env, nowMs);
  return exportDailyAnchors(env.AUDIT_ANCHORS, auditChains(ledger), nowMs);
}
