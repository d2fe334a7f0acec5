/**
 * Forgetting archived operation ids (operation_tombstones) once no redelivery can carry them:
 * a tombstone older than `LIMITS.operationIdMemoryMs` is deleted, oldest first, at most
 * `limit` per call, so a run stays short however far behind it is (the next run continues).
 * Tombstones a bucket move wrote (archive id `move-…`: the ids of a moved creator's settlements,
 * reversals and withdrawal operations, which stayed in the old shard) are kept for good: the
 * moved rows name them, and a settlement re-run of any day must find "exists".
 */

import { LIMITS } from "../../domain/limits";

export async function purgeOperationTombstones(
  db: D1Database,
  options: { readonly nowMs: number; readonly limit?: number },
): Promise<number> {
  const result = await db
    .prepare(
      `DELETE FROM operation_tombstones WHERE id IN (
         SELECT id FROM operation_tombstones WHERE archived_at_ms < ? AND archive_id NOT LIKE 'move-%'
         ORDER BY archived_at_ms LIMIT ?)`,
    )
    .bind(options.nowMs - LIMITS.operationIdMemoryMs, options.limit ?? LIMITS.operationTombstonesPurgedPerShardMax)
    .run();
  return result.meta.changes ?? 0;
}
