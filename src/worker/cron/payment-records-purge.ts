import { purgeChannelCalls } from "../../db/channel-calls";
import { LIMITS } from "../../domain/limits";

/** Raw notifications past their retention, and channel call records older than a day. */
export async function purgePaymentRecords(db: D1Database, nowMs: number): Promise<number> {
  const res = await db
    .prepare(
      `DELETE FROM payment_notifications WHERE id IN (
         SELECT id FROM payment_notifications WHERE retain_until_ms < ? LIMIT ?)`,
    )
    .bind(nowMs, LIMITS.paymentPurgeBatchMax)
    .run();
  return res.meta.changes + (await purgeChannelCalls(db, nowMs));
}
