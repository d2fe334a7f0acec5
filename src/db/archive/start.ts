/**
 * Starting an archive of a shard's closed period: fixing its cut and what must stay live.
 *
 * The period is asked for in time — "everything created before `beforeMs`" — and cut by
 * transfer id. Ids are AUTOINCREMENT, so they are the commit order and never reused: every
 * transfer that exists or will ever exist with an id at or below the cut is known when the
 * archive starts, and "every row before X" is exact. `created_at_ms` is the writing Worker's
 * clock, increasing with id nearly but not strictly (clocks of different Workers, operations
 * grouped in one batch), so the cut is where the clock crosses `beforeMs`, found by binary
 * search on the primary key: a transfer a skewed clock stamped just before `beforeMs` may land
 * after the cut (it goes in the next archive) and one stamped just after may land before. The
 * archive records the actual time span of what it holds, and history reads use that span
 * (coverage.ts), so neither case is misreported.
 */

import { assert } from "../../domain/limits";
import { ARCHIVE_LIMITS } from "./format";
import { holdStatements } from "./retention";
import { type ArchiveRow, archiveInProgress, lastPrunedArchive, requireArchive } from "./state";

export type StartRefusal =
  /** The period ends less than `periodSettleMs` ago: its rows may still be read by time (format.ts). */
  | "period_not_closed"
  /** The shard's previous archive is not finished (exporting, exported or verified). */
  | "archive_in_progress"
  /** No transfer after the previous cut was created before `beforeMs`. */
  | "nothing_to_archive";

export type StartResult =
  | { readonly ok: true; readonly archive: ArchiveRow }
  | { readonly ok: false; readonly code: StartRefusal; readonly archiveId: string | null };

export interface StartRequest {
  /** The shard's index (LEDGER_{shard}); names the archive and its folder in R2. */
  readonly shard: number;
  /** The period ends here (exclusive); it starts where the previous archive's ended. */
  readonly beforeMs: number;
  readonly nowMs: number;
}

/** One archive per shard and cut. */
export function archiveIdFor(shard: number, cutTransferId: number): string {
  return `arc-s${shard}-${String(cutTransferId).padStart(12, "0")}`;
}

export async function startArchive(db: D1Database, request: StartRequest): Promise<StartResult> {
  const { shard, beforeMs, nowMs } = request;
  assert(Number.isSafeInteger(shard) && shard >= 0, "a shard index");
  assert(Number.isSafeInteger(beforeMs) && Number.isSafeInteger(nowMs), "times in whole ms");
  if (beforeMs > nowMs - ARCHIVE_LIMITS.periodSettleMs)
    return { ok: false, code: "period_not_closed", archiveId: null };
  const current = await archiveInProgress(db);
  if (current !== null) return { ok: false, code: "archive_in_progress", archiveId: current.id };

  const previous = await lastPrunedArchive(db);
  const previousCut = previous?.cutTransferId ?? 0;
  const fromMs = previous?.toMs ?? 0;
  if (beforeMs <= fromMs) return { ok: false, code: "nothing_to_archive", archiveId: null };
  const cut = await findCut(db, previousCut, beforeMs);
  if (cut <= previousCut) return { ok: false, code: "nothing_to_archive", archiveId: null };

  const id = archiveIdFor(shard, cut);
  await db.batch([
    db
      .prepare(
        `INSERT INTO ledger_archives (id, shard, state, from_ms, to_ms, cut_transfer_id, created_at_ms)
         VALUES (?, ?, 'exporting', ?, ?, ?, ?)`,
      )
      .bind(id, shard, fromMs, beforeMs, cut, nowMs),
    ...holdStatements(db, id, cut),
  ]);
  return { ok: true, archive: await requireArchive(db, id) };
}

/**
 * The last transfer id before the clock crosses `beforeMs`, searching ids after `afterId`:
 * about log2(ids) primary-key probes, each "the first live transfer at or after this id".
 */
async function findCut(db: D1Database, afterId: number, beforeMs: number): Promise<number> {
  const max = await db.prepare("SELECT COALESCE(MAX(id), 0) AS id FROM transfers").first<{ id: number }>();
  const probe = db.prepare("SELECT id, created_at_ms FROM transfers WHERE id >= ? ORDER BY id LIMIT 1");
  // Invariant: the first transfer at or after `hi` (if any) was created at or after beforeMs;
  // every transfer in (afterId, lo) was created before it.
  let lo = afterId + 1;
  let hi = (max?.id ?? 0) + 1;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const row = await probe.bind(mid).first<{ id: number; created_at_ms: number }>();
    if (row === null || row.id >= hi || row.created_at_ms >= beforeMs) hi = mid;
    else lo = row.id + 1;
  }
  return lo - 1;
}
