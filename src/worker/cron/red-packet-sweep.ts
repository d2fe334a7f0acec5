import { emitOperationEvents } from "../../db/business-events";
import { refundOperationId, settleExpiredPacket } from "../../db/operations/packet-refund";
import { markSubsidyUsed } from "../../db/operations/packet-send";
import { type PacketLedgerRow, packetInfoOf } from "../../db/reads/packets";
import { type Ledger, type LedgerShard, openLedger } from "../../db/shards";
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
 *
 * Packets live in their senders' shards: each shard is swept in turn, up to the batch limit
 * each; the rooms' creators (the room's copy of a packet names them) come from the control
 * database.
 */
export async function sweepRedPackets(env: Env, nowMs: number, log: Logger): Promise<SweepSummary> {
  const ledger = await openLedger(env);
  const totals = { settled: 0, resent: 0, failed: 0 };
  for (const shard of ledger.shards) {
    const summary = await sweepShard(env, ledger, shard, nowMs, log);
    totals.settled += summary.settled;
    totals.resent += summary.resent;
    totals.failed += summary.failed;
  }
  return totals;
}

async function sweepShard(
  env: Env,
  ledger: Ledger,
  shard: LedgerShard,
  nowMs: number,
  log: Logger,
): Promise<SweepSummary> {
  const { results } = await shard.db
    .prepare(
      `SELECT * FROM red_packets
       WHERE (status = 'open' AND final_claim_count IS NULL AND expires_at_ms <= ?)
          OR (final_claim_count IS NOT NULL AND credited_count < final_claim_count
              AND COALESCE(finished_at_ms, expires_at_ms) <= ?)
       ORDER BY expires_at_ms LIMIT ?`,
    )
    .bind(nowMs - LIMITS.packetSweepGraceMs, nowMs - LIMITS.packetCreditsLagMs, LIMITS.packetSweepBatchMax)
    .all<PacketLedgerRow>();
  if (results.length === 0) return { settled: 0, resent: 0, failed: 0 };
  const creators = new Map<string, string>();
  const { results: rooms } = await ledger.control
    .prepare("SELECT id, creator_id FROM rooms WHERE id IN (SELECT value FROM json_each(?))")
    .bind(JSON.stringify([...new Set(results.map((r) => r.room_id))]))
    .all<{ id: string; creator_id: string }>();
  for (const room of rooms) creators.set(room.id, room.creator_id);
  let settled = 0;
  let resent = 0;
  let failed = 0;
  for (const row of results) {
    try {
      const creatorId = creators.get(row.room_id);
      if (creatorId === undefined) throw new Error("the packet's room is not in the control database");
      const stub = env.LIVE_ROOM.getByName(row.room_id);
      const lagging = row.final_claim_count !== null && row.credited_count < row.final_claim_count;
      const final = await stub.closeExpiredPacket(packetInfoOf(row, creatorId), lagging);
      if (final === null) throw new Error("the room did not close the packet");
      if (lagging) resent += 1;
      if (row.status === "open" && row.final_claim_count === null) {
        const outcome = await settleExpiredPacket(shard, row, final, nowMs);
        if (
          outcome.kind === "refunded" &&
          outcome.verdict.kind === "rejected" &&
          outcome.verdict.code !== "packet_not_open"
        )
          throw new Error(`refund rejected: ${outcome.verdict.code}`);
        if (outcome.kind === "refunded" && outcome.verdict.kind !== "rejected") {
          // red_packet.refunded now; if the send fails, the business-event sweeper sends it.
          await emitOperationEvents(env, shard, [{ id: refundOperationId(row.id), kind: "packet_refund" }], log);
        }
        await markSubsidyUsed(ledger, row, row.created_at_ms);
        settled += 1;
      }
    } catch (error) {
      failed += 1;
      const attempts = row.sweep_attempts + 1;
      await shard.db
        .prepare("UPDATE red_packets SET sweep_attempts = sweep_attempts + 1 WHERE id = ?")
        .bind(row.id)
        .run()
        .catch(() => undefined);
      const fields = { packetId: row.id, roomId: row.room_id, shard: shard.index, attempts, error: String(error) };
      if (attempts >= LIMITS.alertAfterAttempts) log.error("alert_packet_sweep_failing", fields);
      else log.warn("packet_sweep_failed", fields);
    }
  }
  return { settled, resent, failed };
}
