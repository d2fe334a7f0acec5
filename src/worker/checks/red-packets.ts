/**
 * Red packets, hourly: what was sent covers what was claimed plus what was refunded, per
 * packet and in total (per shard and over all shards). `claimed` is the larger of what was
 * credited to claimers and what the room finally reported claimed, so a claim on its way to a
 * wallet counts. Findings: `packet_overdrawn` (per packet) and `packets_overdrawn_total`
 * (per shard and `all`), both critical: either means money left escrow that was never in it.
 */

import { openLedger } from "../../db/shards";
import type { CheckFinding } from "../../domain/alerts";
import { LIMITS } from "../../domain/limits";
import type { Logger } from "../../platform/logger";

const CLAIMED = "MAX(credited_minor, COALESCE(final_claimed_minor, 0))";

export async function checkRedPackets(
  env: Env,
  _nowMs: number,
  _log: Logger,
): Promise<{ findings: CheckFinding[]; figures: Record<string, unknown> }> {
  const ledger = await openLedger(env);
  const findings: CheckFinding[] = [];
  const all = { sent: 0, claimed: 0, refunded: 0, packets: 0 };
  for (const shard of ledger.shards) {
    const { db } = shard;
    const [over, totals] = await db.batch<Record<string, unknown>>([
      db
        .prepare(
          `SELECT id, total_minor, ${CLAIMED} AS claimed, refunded_minor FROM red_packets
           WHERE total_minor < ${CLAIMED} + refunded_minor LIMIT ?`,
        )
        .bind(LIMITS.checkFindingsStoredMax),
      db.prepare(
        `SELECT COUNT(*) AS packets, COALESCE(SUM(total_minor), 0) AS sent, COALESCE(SUM(${CLAIMED}), 0) AS claimed,
           COALESCE(SUM(refunded_minor), 0) AS refunded FROM red_packets`,
      ),
    ]);
    for (const r of (over?.results ?? []) as {
      id: string;
      total_minor: number;
      claimed: number;
      refunded_minor: number;
    }[]) {
      findings.push({
        kind: "packet_overdrawn",
        severity: "critical",
        subject: r.id,
        value: 1,
        detail: `sent ${r.total_minor} < claimed ${r.claimed} + refunded ${r.refunded_minor} (shard ${shard.index})`,
      });
    }
    const t = ((totals?.results ?? []) as { packets: number; sent: number; claimed: number; refunded: number }[])[0];
    if (!t) continue;
    all.sent += t.sent;
    all.claimed += t.claimed;
    all.refunded += t.refunded;
    all.packets += t.packets;
    if (t.sent < t.claimed + t.refunded) {
      findings.push({
        kind: "packets_overdrawn_total",
        severity: "critical",
        subject: `shard ${shard.index}`,
        value: 1,
        detail: `sent ${t.sent} < claimed ${t.claimed} + refunded ${t.refunded}`,
      });
    }
  }
  if (all.sent < all.claimed + all.refunded) {
    findings.push({
      kind: "packets_overdrawn_total",
      severity: "critical",
      subject: "all",
      value: 1,
      detail: `sent ${all.sent} < claimed ${all.claimed} + refunded ${all.refunded}`,
    });
  }
  return { findings, figures: all };
}
