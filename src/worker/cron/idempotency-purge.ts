/**
 * Completed idempotency records are kept for `LIMITS.idempotencyRetentionMs` (24 h, set when
 * the record is written) and
 * then deleted in bounded chunks, so one cron run never holds D1's single writer for long.
 * An in-flight record's expiry is its retention too: a request that died is forgotten then.
 */
export async function purgeExpiredIdempotencyKeys(
  db: D1Database,
  nowMs: number,
  chunk = 500,
  chunksMax = 20,
): Promise<number> {
  let purged = 0;
  for (let i = 0; i < chunksMax; i++) {
    const result = await db
      .prepare(
        `DELETE FROM idempotency_keys WHERE rowid IN
           (SELECT rowid FROM idempotency_keys WHERE expires_at_ms <= ? LIMIT ?)`,
      )
      .bind(nowMs, chunk)
      .run();
    purged += result.meta.changes;
    if (result.meta.changes < chunk) break;
  }
  return purged;
}
