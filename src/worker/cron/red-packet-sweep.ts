import { settleExpiredPacket } from "../../db/operations/packet-refund";
import { type PacketLedgerRow, packetInfoOf } from "../../db/reads/packets";
import { LIMITS } from "../../domain/limits";
import type { Logger } from "../../platform/logger";

export interface SweepSummary {
  readonly settled: number;
  readonly resent: number;
  readonly failed: number;
}

/**
 * The backstop for the room's expiry alarm: every packet still open a minute past expiry is
 * closed in its room and refunded here; every finished packet whose credits have not all
 * landed five minutes on has its credits re-queued by its room. A packet that keeps failing
 * raises `alert_packet_sweep_failing` on every run from the third failure.
 */
export async function sweepRedPackets(env: Env, nowMs: number, log: Logger): Promise<SweepSummary> {
  const { results } = await env.DB.prepare(
    `SELECT p.*, r.creator_id FROM red_packets p JOIN rooms r ON r.id = p.room_id
     WHERE (p.status = 'open' AND p.final_claim_count IS NULL AND p.expires_at_ms <= ?)
        OR (p.final_claim_count IS NOT NULL AND p.credited_count < p.final_claim_count
            AND COALESCE(p.finished_at_ms, p.expires_at_ms) <= ?)
     ORDER BY p.expires_at_ms LIMIT ?`,
  )
    .bind(nowMs - LIMITS.packetSweepGraceMs, nowMs - LIMITS.packetCreditsLagMs, LIMITS.packetSweepBatchMax)
    .all<PacketLedgerRow & { creator_id: string }>();
  let settled = 0;
  let resent = 0;
  let failed = 0;
  for (const row of results) {
    try {
      const stub = env.LIVE_ROOM.getByName(row.room_id);
      const lagging = row.final_claim_count !== null && row.credited_count < row.final_claim_count;
      const final = await stub.closeExpiredPacket(packetInfoOf(row, row.creator_id), lagging);
      if (final === null) throw new Error("the room did not close the packet");
      if (lagging) resent += 1;
      if (row.status === "open" && row.final_claim_count === null) {
        const outcome = await settleExpiredPacket(env.DB, row, final, nowMs);
        if (
          outcome.kind === "refunded" &&
          outcome.verdict.kind === "rejected" &&
          outcome.verdict.code !== "packet_not_open"
        )
          throw new Error(`refund rejected: ${outcome.verdict.code}`);
        settled += 1;
      }
    } catch (error) {
      failed += 1;
      const attempts = row.sweep_attempts + 1;
      await env.DB.prepare("UPDATE red_packets SET sweep_attempts = sweep_attempts + 1 WHERE id = ?")
        .bind(row.id)
        .run()
        .catch(() => undefined);
      const fields = { packetId: row.id, roomId: row.room_id, attempts, error: String(error) };
      if (attempts >= LIMITS.alertAfterAttempts) log.error("alert_packet_sweep_failing", fields);
      else log.warn("packet_sweep_failed", fields);
    }
  }
  return { settled, resent, failed };
}
