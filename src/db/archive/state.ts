/**
 * An archive's row in `ledger_archives`, read as a value. One archive of a shard is in
 * progress at a time (exporting, exported or verified); it moves forward only:
 *
 *   exporting ──files written, manifest put──▶ exported ──re-read from R2, digests match──▶
 *   verified ──rows deleted in bounded batches──▶ pruned
 *
 * Each step records its progress in the same D1 batch as its effect, so whatever stops it
 * (a crash, the end of a cron invocation) the next run continues where it stopped.
 */

import { assert } from "../../domain/limits";
import type { ledgerArchives } from "../schema/ledger";

export type ArchiveState = (typeof ledgerArchives.state.enumValues)[number];

export interface ArchiveRow {
  readonly id: string;
  readonly shard: number;
  readonly state: ArchiveState;
  readonly fromMs: number;
  readonly toMs: number;
  readonly cutTransferId: number;
  readonly firstTransferId: number | null;
  readonly lastTransferId: number | null;
  readonly minCreatedAtMs: number | null;
  readonly maxCreatedAtMs: number | null;
  readonly exportCursor: number;
  readonly retained: Readonly<Record<string, number>>;
  readonly pruneCursor: number | null;
  readonly manifestKey: string | null;
  readonly manifestSha256: string | null;
  readonly checkpointSha256: string | null;
  readonly createdAtMs: number;
}

interface Row {
  id: string;
  shard: number;
  state: ArchiveState;
  from_ms: number;
  to_ms: number;
  cut_transfer_id: number;
  first_transfer_id: number | null;
  last_transfer_id: number | null;
  min_created_at_ms: number | null;
  max_created_at_ms: number | null;
  export_cursor: number;
  retained: string;
  prune_cursor: number | null;
  manifest_key: string | null;
  manifest_sha256: string | null;
  checkpoint_sha256: string | null;
  created_at_ms: number;
}

function fromRow(r: Row): ArchiveRow {
  return {
    id: r.id,
    shard: r.shard,
    state: r.state,
    fromMs: r.from_ms,
    toMs: r.to_ms,
    cutTransferId: r.cut_transfer_id,
    firstTransferId: r.first_transfer_id,
    lastTransferId: r.last_transfer_id,
    minCreatedAtMs: r.min_created_at_ms,
    maxCreatedAtMs: r.max_created_at_ms,
    exportCursor: r.export_cursor,
    retained: JSON.parse(r.retained) as Record<string, number>,
    pruneCursor: r.prune_cursor,
    manifestKey: r.manifest_key,
    manifestSha256: r.manifest_sha256,
    checkpointSha256: r.checkpoint_sha256,
    createdAtMs: r.created_at_ms,
  };
}

export async function loadArchive(db: D1Database, archiveId: string): Promise<ArchiveRow | null> {
  const row = await db.prepare("SELECT * FROM ledger_archives WHERE id = ?").bind(archiveId).first<Row>();
  return row === null ? null : fromRow(row);
}

export async function requireArchive(db: D1Database, archiveId: string): Promise<ArchiveRow> {
  const archive = await loadArchive(db, archiveId);
  assert(archive !== null, `archive ${archiveId} exists`);
  return archive;
}

/** The shard's archive that is not finished yet, if any (there is at most one). */
export async function archiveInProgress(db: D1Database): Promise<ArchiveRow | null> {
  const { results } = await db
    .prepare("SELECT * FROM ledger_archives WHERE state IN ('exporting', 'exported', 'verified')")
    .all<Row>();
  assert(results.length <= 1, "one archive in progress per shard");
  const row = results[0];
  return row === undefined ? null : fromRow(row);
}

/** The shard's latest finished archive (the highest cut), if any. */
export async function lastPrunedArchive(db: D1Database): Promise<ArchiveRow | null> {
  const row = await db
    .prepare("SELECT * FROM ledger_archives WHERE state = 'pruned' ORDER BY cut_transfer_id DESC LIMIT 1")
    .first<Row>();
  return row === null ? null : fromRow(row);
}
