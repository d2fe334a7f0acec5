/**
 * Exporting an archive (state `exporting` → `exported`): walk the live transfers up to the
 * cut in pages, decide for each operation whether it goes or stays (retention.ts), and every
 * ~`transfersPerFileMax` transfers that go, plan a data file, then upload it.
 *
 *   plan    one D1 batch: the file's span, the runs of ids it holds, their contribution to
 *           the balance checkpoints, the export cursor. Atomic, and refused if the file
 *           number is taken, so a repeated or concurrent run cannot count a span twice.
 *   upload  render the file from D1 (render.ts), put it in R2 with its SHA-256 (R2 checks the
 *           bytes it received), record its digests. A crash before the record just means the
 *           next run renders and puts the same bytes again.
 *
 * When the cursor reaches the cut: the checkpoint files, then the manifest, then the state.
 * Each of those is rendered from D1 as well, so a re-run writes the same bytes.
 */

import { assert } from "../../domain/limits";
import {
  ARCHIVE_FORMAT,
  ARCHIVE_LIMITS,
  ARCHIVE_TABLES,
  type ArchiveTuning,
  type CheckpointFileEntry,
  checkpointDigest,
  checkpointFileKey,
  type DataFileEntry,
  dataFileKey,
  type Manifest,
  manifestColumns,
  manifestKey,
  type PackedFile,
  pack,
  tuningOf,
} from "./format";
import { accumulateCheckpoint, renderCheckpointFiles, renderDataFile } from "./render";
import { RETENTION_REASON_SQL, retentionParams } from "./retention";
import { type ArchiveRow, requireArchive } from "./state";

export interface ExportProgress {
  readonly state: ArchiveRow["state"];
  /** Steps taken by this call: spans planned and data files uploaded. */
  readonly steps: number;
}

/**
 * Continues the archive's export for at most `stepsMax` steps — a span planned or a data file
 * uploaded, each a bounded number of D1 queries — so a cron invocation stays within its share,
 * then writes the manifest once every file is up.
 */
export async function exportArchive(
  db: D1Database,
  bucket: R2Bucket,
  archiveId: string,
  options: { readonly nowMs: number; readonly stepsMax?: number; readonly tuning?: Partial<ArchiveTuning> },
): Promise<ExportProgress> {
  const tuning = tuningOf(options.tuning);
  const stepsMax = options.stepsMax ?? Number.POSITIVE_INFINITY;
  let steps = 0;
  for (;;) {
    const archive = await requireArchive(db, archiveId);
    if (archive.state !== "exporting" || steps >= stepsMax) return { state: archive.state, steps };
    const pending = await db
      .prepare(
        `SELECT seq, first_transfer_id, last_transfer_id, key FROM ledger_archive_files
         WHERE archive_id = ? AND uploaded_at_ms IS NULL ORDER BY seq LIMIT 1`,
      )
      .bind(archiveId)
      .first<{ seq: number; first_transfer_id: number; last_transfer_id: number; key: string }>();
    if (pending !== null) await uploadDataFile(db, bucket, archiveId, pending, options.nowMs, tuning);
    else if (archive.exportCursor < archive.cutTransferId) await planNextSpan(db, archive, tuning);
    else await finishExport(db, bucket, archive, options.nowMs);
    steps += 1;
  }
}

interface Classified {
  readonly id: number;
  readonly operationId: string;
  readonly createdAtMs: number;
}

/**
 * Walks pages of live transfers after the cursor, up to a file's worth of exported transfers
 * or `pagesPerStepMax` pages, and records the span: as a file when anything in it goes, as a
 * bare cursor move when everything in it stays.
 */
async function planNextSpan(db: D1Database, archive: ArchiveRow, tuning: ArchiveTuning): Promise<void> {
  const retained: Record<string, number> = { ...archive.retained };
  const runs: Array<[number, number]> = [];
  let runOpen = false;
  let exported = 0;
  let minMs: number | null = null;
  let maxMs: number | null = null;
  let cursor = archive.exportCursor;

  const pageOf = db.prepare(
    "SELECT id, operation_id, created_at_ms FROM transfers WHERE id > ? AND id <= ? ORDER BY id LIMIT ?",
  );
  for (let pages = 0; pages < ARCHIVE_LIMITS.pagesPerStepMax; pages++) {
    if (cursor >= archive.cutTransferId || exported >= tuning.transfersPerFile) break;
    const { results } = await pageOf
      .bind(cursor, archive.cutTransferId, tuning.rowsPerPage)
      .all<{ id: number; operation_id: string; created_at_ms: number }>();
    if (results.length === 0) {
      cursor = archive.cutTransferId;
      break;
    }
    const page = wholeOperations(
      results.map((r) => ({ id: r.id, operationId: r.operation_id, createdAtMs: r.created_at_ms })),
      results.length === tuning.rowsPerPage,
    );
    const reasons = await retentionReasons(db, archive, [...new Set(page.map((t) => t.operationId))]);
    const counted = new Set<string>();
    for (const t of page) {
      const reason = reasons.get(t.operationId);
      assert(reason !== undefined, `operation ${t.operationId} of transfer ${t.id} exists`);
      if (reason === null) {
        const run = runs[runs.length - 1];
        if (runOpen && run !== undefined) run[1] = t.id;
        else runs.push([t.id, t.id]);
        runOpen = true;
        exported += 1;
        minMs = minMs === null ? t.createdAtMs : Math.min(minMs, t.createdAtMs);
        maxMs = maxMs === null ? t.createdAtMs : Math.max(maxMs, t.createdAtMs);
      } else {
        runOpen = false;
        if (!counted.has(t.operationId)) retained[reason] = (retained[reason] ?? 0) + 1;
        counted.add(t.operationId);
      }
    }
    cursor = page[page.length - 1]?.id ?? cursor;
  }

  const moveCursor = db
    .prepare(
      `UPDATE ledger_archives SET export_cursor = ?, retained = ?,
         first_transfer_id = COALESCE(first_transfer_id, ?), last_transfer_id = COALESCE(?, last_transfer_id),
         min_created_at_ms = MIN(COALESCE(min_created_at_ms, ?), COALESCE(?, min_created_at_ms)),
         max_created_at_ms = MAX(COALESCE(max_created_at_ms, ?), COALESCE(?, max_created_at_ms))
       WHERE id = ? AND export_cursor = ?`,
    )
    .bind(
      cursor,
      JSON.stringify(retained),
      runs[0]?.[0] ?? null,
      runs[runs.length - 1]?.[1] ?? null,
      minMs,
      minMs,
      maxMs,
      maxMs,
      archive.id,
      archive.exportCursor,
    );
  if (runs.length === 0) {
    await moveCursor.run();
    return;
  }
  const seq = await db
    .prepare("SELECT COALESCE(MAX(seq) + 1, 0) AS seq FROM ledger_archive_files WHERE archive_id = ?")
    .bind(archive.id)
    .first<{ seq: number }>();
  const fileSeq = seq?.seq ?? 0;
  const first = archive.exportCursor + 1;
  const statements: D1PreparedStatement[] = [
    db
      .prepare(
        `INSERT INTO ledger_archive_files (archive_id, seq, first_transfer_id, last_transfer_id, key)
         VALUES (?, ?, ?, ?, ?)`,
      )
      .bind(archive.id, fileSeq, first, cursor, dataFileKey(archive.shard, archive.id, fileSeq)),
  ];
  for (let i = 0; i < runs.length; i += ARCHIVE_LIMITS.rangesPerStatementMax) {
    statements.push(insertRuns(db, archive.id, runs.slice(i, i + ARCHIVE_LIMITS.rangesPerStatementMax)));
  }
  statements.push(accumulateCheckpoint(db, archive.id, first, cursor), moveCursor);
  await db.batch(statements);
}

export function insertRuns(db: D1Database, archiveId: string, runs: ReadonlyArray<readonly [number, number]>) {
  return db
    .prepare(
      `INSERT INTO ledger_archive_ranges (from_transfer_id, to_transfer_id, archive_id)
       SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), ? FROM json_each(?)`,
    )
    .bind(archiveId, JSON.stringify(runs));
}

/**
 * A full page may end inside an operation; its last operation is left for the next page so
 * that each operation is decided once, whole. Asserts an operation's transfers are
 * consecutive (composeOperation inserts them together).
 */
function wholeOperations(page: readonly Classified[], full: boolean): readonly Classified[] {
  const seen = new Set<string>();
  let previous: string | null = null;
  for (const t of page) {
    if (t.operationId !== previous) {
      assert(!seen.has(t.operationId), `operation ${t.operationId}'s transfers are consecutive`);
      seen.add(t.operationId);
    }
    previous = t.operationId;
  }
  if (!full) return page;
  const last = page[page.length - 1]?.operationId;
  const kept = page.filter((t) => t.operationId !== last);
  assert(kept.length > 0, "a page holds more than one operation");
  return kept;
}

async function retentionReasons(
  db: D1Database,
  archive: ArchiveRow,
  operationIds: readonly string[],
): Promise<Map<string, string | null>> {
  const { results } = await db
    .prepare(
      `SELECT o.id, ${RETENTION_REASON_SQL} AS reason FROM operations o
       WHERE o.id IN (SELECT value FROM json_each(?))`,
    )
    .bind(...retentionParams(archive.id, archive.cutTransferId), JSON.stringify(operationIds))
    .all<{ id: string; reason: string | null }>();
  return new Map(results.map((r) => [r.id, r.reason]));
}

async function putFile(bucket: R2Bucket, key: string, file: PackedFile): Promise<void> {
  await bucket.put(key, file.gz, {
    sha256: file.gzSha256,
    httpMetadata: { contentType: "application/gzip" },
    customMetadata: { rawSha256: file.rawSha256 },
  });
}

async function uploadDataFile(
  db: D1Database,
  bucket: R2Bucket,
  archiveId: string,
  file: { seq: number; first_transfer_id: number; last_transfer_id: number; key: string },
  nowMs: number,
  tuning: ArchiveTuning,
): Promise<void> {
  const rendered = await renderDataFile(db, archiveId, file.first_transfer_id, file.last_transfer_id, tuning);
  const packed = await pack(rendered.text);
  await putFile(bucket, file.key, packed);
  await db
    .prepare(
      `UPDATE ledger_archive_files SET row_counts = ?, raw_sha256 = ?, gz_sha256 = ?, raw_bytes = ?, gz_bytes = ?,
         min_created_at_ms = ?, max_created_at_ms = ?, uploaded_at_ms = ?
       WHERE archive_id = ? AND seq = ? AND uploaded_at_ms IS NULL`,
    )
    .bind(
      JSON.stringify(rendered.rows),
      packed.rawSha256,
      packed.gzSha256,
      packed.raw.byteLength,
      packed.gz.byteLength,
      rendered.minCreatedAtMs,
      rendered.maxCreatedAtMs,
      nowMs,
      archiveId,
      file.seq,
    )
    .run();
}

interface FileRow {
  seq: number;
  key: string;
  first_transfer_id: number;
  last_transfer_id: number;
  row_counts: string;
  raw_sha256: string;
  gz_sha256: string;
  raw_bytes: number;
  gz_bytes: number;
  min_created_at_ms: number | null;
  max_created_at_ms: number | null;
}

export async function dataFileEntries(db: D1Database, archiveId: string): Promise<DataFileEntry[]> {
  const { results } = await db
    .prepare("SELECT * FROM ledger_archive_files WHERE archive_id = ? ORDER BY seq")
    .bind(archiveId)
    .all<FileRow>();
  return results.map((f) => {
    assert(f.raw_sha256 !== null && f.gz_sha256 !== null, `file ${f.seq} is uploaded`);
    return {
      seq: f.seq,
      key: f.key,
      rows: JSON.parse(f.row_counts) as Record<string, number>,
      rawBytes: f.raw_bytes,
      gzBytes: f.gz_bytes,
      rawSha256: f.raw_sha256,
      gzSha256: f.gz_sha256,
      firstTransferId: f.first_transfer_id,
      lastTransferId: f.last_transfer_id,
      minCreatedAtMs: f.min_created_at_ms,
      maxCreatedAtMs: f.max_created_at_ms,
    };
  });
}

export async function archiveRuns(db: D1Database, archiveId: string): Promise<Array<[number, number]>> {
  const { results } = await db
    .prepare(
      `SELECT from_transfer_id AS "from", to_transfer_id AS "to" FROM ledger_archive_ranges
       WHERE archive_id = ? ORDER BY from_transfer_id`,
    )
    .bind(archiveId)
    .all<{ from: number; to: number }>();
  return results.map((r) => [r.from, r.to]);
}

/** Renders (and with a bucket, uploads) the checkpoint files; returns their manifest entries. */
export async function checkpointFiles(
  db: D1Database,
  archive: Pick<ArchiveRow, "id" | "shard">,
  bucket: R2Bucket | null,
): Promise<CheckpointFileEntry[]> {
  const entries: CheckpointFileEntry[] = [];
  for await (const file of renderCheckpointFiles(db, archive.id)) {
    const packed = await pack(file.text);
    const key = checkpointFileKey(archive.shard, archive.id, entries.length);
    if (bucket !== null) await putFile(bucket, key, packed);
    entries.push({
      seq: entries.length,
      key,
      rows: file.rows,
      rawBytes: packed.raw.byteLength,
      gzBytes: packed.gz.byteLength,
      rawSha256: packed.rawSha256,
      gzSha256: packed.gzSha256,
      firstAccount: file.firstAccount,
      lastAccount: file.lastAccount,
    });
  }
  return entries;
}

function totalRows(files: readonly DataFileEntry[]): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const table of Object.keys(ARCHIVE_TABLES)) {
    totals[table] = files.reduce((sum, f) => sum + (f.rows[table] ?? 0), 0);
  }
  return totals;
}

async function finishExport(db: D1Database, bucket: R2Bucket, archive: ArchiveRow, nowMs: number): Promise<void> {
  const files = await dataFileEntries(db, archive.id);
  const checkpoints = await checkpointFiles(db, archive, bucket);
  const manifest: Manifest = {
    format: ARCHIVE_FORMAT,
    archiveId: archive.id,
    shard: archive.shard,
    period: { fromMs: archive.fromMs, toMs: archive.toMs, cutTransferId: archive.cutTransferId },
    exported: {
      firstTransferId: archive.firstTransferId,
      lastTransferId: archive.lastTransferId,
      minCreatedAtMs: archive.minCreatedAtMs,
      maxCreatedAtMs: archive.maxCreatedAtMs,
    },
    columns: manifestColumns(),
    ranges: await archiveRuns(db, archive.id),
    retained: { ...archive.retained },
    files,
    checkpointFiles: checkpoints,
    totals: {
      rows: totalRows(files),
      checkpointAccounts: checkpoints.reduce((sum, f) => sum + (f.rows.checkpoint ?? 0), 0),
    },
    checkpointSha256: await checkpointDigest(checkpoints.map((f) => f.rawSha256)),
    createdAtMs: archive.createdAtMs,
  };
  const packed = await pack(`${JSON.stringify(manifest)}\n`);
  const key = manifestKey(archive.shard, archive.id);
  await bucket.put(key, packed.raw, {
    sha256: packed.rawSha256,
    httpMetadata: { contentType: "application/json" },
  });
  await db
    .prepare(
      `UPDATE ledger_archives SET state = 'exported', manifest_key = ?, manifest_sha256 = ?, checkpoint_sha256 = ?,
         exported_at_ms = ?
       WHERE id = ? AND state = 'exporting'`,
    )
    .bind(key, packed.rawSha256, manifest.checkpointSha256, nowMs, archive.id)
    .run();
}
