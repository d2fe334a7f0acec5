import { openLedger } from "../../db/shards";
import { LIMITS } from "../../domain/limits";
import type { Logger } from "../../platform/logger";
import { deliverOutbox, outboxDb, outboxSources } from "../rooms/outbox";

/**
 * The backstop: anything undelivered 30 s after commit is delivered now. An event that has
 * failed `LIMITS.roomOutboxSweepAttemptsMax` times stops being retried and is reported on every sweep
 * (`room_outbox_stuck`) until an operator looks: it is a bug or a poisoned payload.
 */
export async function sweepRoomOutbox(env: Env, nowMs: number, log: Logger): Promise<number> {
  const ledger = await openLedger(env, nowMs);
  let delivered = 0;
  for (const source of outboxSources(ledger)) {
    const db = outboxDb(ledger, source);
    const [due, stuck] = await db.batch<{ id?: string; n?: number }>([
      db
        .prepare(
          `SELECT id FROM room_outbox WHERE delivered_at_ms IS NULL AND created_at_ms <= ? AND attempts < ?
           ORDER BY created_at_ms LIMIT ?`,
        )
        .bind(
          nowMs - LIMITS.roomOutboxSweepAfterMs,
          LIMITS.roomOutboxSweepAttemptsMax,
          LIMITS.roomEventsPerDeliveryMax,
        ),
      db
        .prepare("SELECT COUNT(*) AS n FROM room_outbox WHERE delivered_at_ms IS NULL AND attempts >= ?")
        .bind(LIMITS.roomOutboxSweepAttemptsMax),
    ]);
    const stuckCount = stuck?.results[0]?.n ?? 0;
    if (stuckCount > 0) {
      log.error("room_outbox_stuck", { source, events: stuckCount, attemptsMax: LIMITS.roomOutboxSweepAttemptsMax });
    }
    const results = (due?.results ?? []) as { id: string }[];
    if (results.length === 0) continue;
    const failed = await deliverOutbox(
      env,
      ledger,
      source,
      results.map((r) => r.id),
      log,
    );
    if (failed.length > 0) log.error("room_outbox_sweep_failed", { source, undelivered: failed.length });
    delivered += results.length - failed.length;
  }
  return delivered;
}
