/**
 * Forgetting archived operation ids (operation_tombstones) once no redelivery can carry them:
 * a tombstone older than `LIMITS.operationIdMemoryMs` is deleted, oldest first, at most
 * `limit` per call, so a run stays short however far behind it is (the next run continues).
 */

import { LIMITS } from "../../domain/limits";

export async function purgeOperationTombstones(
  db: D1Database,
  options: { readonly nowMs: number; readonly limit?: number },
): Promise<number> {
  const result = await db
    .prepare(
      `DELETE FROM operation_tombstones WHERE id IN (
         SELECT id FROM operation_tombstones WHERE archived_at_ms < ? ORDER BY archived_at_ms LIMIT ?)`,
    )
    .bind(options.nowMs - LIMITS.operationIdMemoryMs, options.limit ?? LIMITS.operationTombstonesPurgedPerShardMax)
    .run();
  return result.meta.changes ?? 0;
}
