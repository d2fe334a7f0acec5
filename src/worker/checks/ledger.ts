/**
 * The ledger invariant checker, hourly: every shard's own invariants and the cross-shard ones
 * (transit pairing, deliveries lost or unmatched, operation ids repeated), as
 * src/db/sharded-invariants.ts checks them for `npm run ledger:verify`. Each violation is a
 * critical finding of its own kind (`currency_not_conserved`, `transit_pair_mismatch`, …)
 * about the row it names; violations past the reported list are one `violations_unlisted`.
 */

import { checkShardedInvariants, type ShardedViolation } from "../../db/sharded-invariants";
import { openLedger } from "../../db/shards";
import type { CheckFinding } from "../../domain/alerts";
import type { Logger } from "../../platform/logger";

/** What a violation is about: its shard(s) and the first id-like field it carries. */
export function subjectOf(v: ShardedViolation): string {
  const record = v as unknown as Record<string, unknown>;
  const where =
    "shard" in v
      ? `shard ${v.shard}`
      : "shardA" in v
        ? `shards ${v.shardA}-${v.shardB}`
        : "origin" in v
          ? `shards ${v.origin}>${v.destination}`
          : "ledger";
  for (const field of [
    "account",
    "address",
    "currency",
    "operationId",
    "transferId",
    "packetId",
    "orderId",
    "deliveryId",
    "creatorId",
    "reversalId",
    "settlementId",
    "withdrawalId",
  ]) {
    const value = record[field];
    if (typeof value === "string" || typeof value === "number") return `${where}: ${value}`;
  }
  return where;
}

export async function checkLedger(
  env: Env,
  nowMs: number,
  _log: Logger,
): Promise<{ findings: CheckFinding[]; figures: Record<string, unknown> }> {
  const ledger = await openLedger(env);
  const report = await checkShardedInvariants(ledger, nowMs);
  const findings: CheckFinding[] = report.violations.map((v) => ({
    kind: v.kind,
    severity: "critical",
    subject: subjectOf(v),
    value: 1,
    detail: JSON.stringify(v).slice(0, 500),
  }));
  const unlisted = report.violationCount - report.violations.length;
  if (unlisted > 0) {
    findings.push({
      kind: "violations_unlisted",
      severity: "critical",
      subject: "ledger",
      value: unlisted,
      detail: `${unlisted} more violation(s) beyond the reported list`,
    });
  }
  return { findings, figures: { shards: report.shards, counts: report.counts, violations: report.violationCount } };
}
