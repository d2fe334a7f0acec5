import { LIMITS } from "../../domain/limits";
import type { Logger } from "../../platform/logger";
import { deliverOutbox } from "../rooms/outbox";

/**
 * The backstop: anything undelivered 30 s after commit is delivered now. An event that has
 * failed `LIMITS.roomOutboxSweepAttemptsMax` times stops being retried and is reported on every sweep
 * (`room_outbox_stuck`) until an operator looks: it is a bug or a poisoned payload.
 */
export async function sweepRoomOutbox(env: Env, nowMs: number, log: Logger): Promise<number> {
  const [due, stuck] = await env.DB.batch<{ id?: string; n?: number }>([
    env.DB.prepare(
      `SELECT id FROM room_outbox WHERE delivered_at_ms IS NULL AND created_at_ms <= ? AND attempts < ?
       ORDER BY created_at_ms LIMIT ?`,
    ).bind(nowMs - LIMITS.roomOutboxSweepAfterMs, LIMITS.roomOutboxSweepAttemptsMax, LIMITS.roomEventsPerDeliveryMax),
    env.DB.prepare("SELECT COUNT(*) AS n FROM room_outbox WHERE delivered_at_ms IS NULL AND attempts >= ?").bind(
      LIMITS.roomOutboxSweepAttemptsMax,
    ),
  ]);
  const stuckCount = stuck?.results[0]?.n ?? 0;
  if (stuckCount > 0)
    log.error("room_outbox_stuck", { events: stuckCount, attemptsMax: LIMITS.roomOutboxSweepAttemptsMax });
  const results = (due?.results ?? []) as { id: string }[];
  if (results.length === 0) return 0;
  const failed = await deliverOutbox(
    env,
    results.map((r) => r.id),
    log,
  );
  if (failed.length > 0) log.error("room_outbox_sweep_failed", { undelivered: failed.length });
  return results.length - failed.length;
}
