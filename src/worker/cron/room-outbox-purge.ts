import { LIMITS } from "../../domain/limits";

/** Deletes delivered outbox rows past retention, in bounded chunks. */
export async function purgeDeliveredOutbox(db: D1Database, nowMs: number): Promise<number> {
  const result = await db
    .prepare(
      `DELETE FROM room_outbox WHERE id IN (SELECT id FROM room_outbox
         WHERE delivered_at_ms IS NOT NULL AND delivered_at_ms < ? LIMIT ?)`,
    )
    .bind(nowMs - LIMITS.roomOutboxRetentionMs, LIMITS.roomOutboxPurgeBatchMax)
    .run();
  return result.meta.changes;
}
