/**
 * Reading an archive back from R2 into a shard that does not hold its rows (a spare, empty
 * D1 database: for an audit, a dispute, or to prove an archive is whole), then proving the
 * copy exact: every file is rendered again from the imported rows (render.ts, the code that
 * wrote it) and must give the manifest's digests, uncompressed and gzip, byte for byte.
 *
 * Several archives of one shard may be loaded into the same database, in any order. The
 * accounts come from the checkpoint files, with a balance of zero: a copy holds part of an
 * account's history, not its balance (the checkpoint rows say what that part moved). The
 * copy's archive row ends `imported`; its rows stay immutable (the delete triggers accept
 * only verified or pruned archives). Loading is idempotent and per file, so an interrupted
 * import is continued by calling it again.
 */

import { checkpointFiles, insertRuns } from "./export";
import {
  ARCHIVE_LIMITS,
  ARCHIVE_TABLE_NAMES,
  ARCHIVE_TABLES,
  type ArchiveTable,
  checkpointDigest,
  type Manifest,
  manifestColumns,
  pack,
} from "./format";
import { accumulateCheckpoint, renderDataFile } from "./render";
import { loadArchive, requireArchive } from "./state";
import { dataLinesProblem, readArchiveFile, readManifest, type VerifyFailure } from "./verify";

const PAGE = ARCHIVE_LIMITS.rowsPerPageMax;

export type ImportFailure = VerifyFailure | "shard_not_empty" | "reexport_mismatch";

export type ImportResult =
  | { readonly ok: true; readonly archiveId: string; readonly rows: Readonly<Record<string, number>> }
  | { readonly ok: false; readonly code: ImportFailure; readonly key: string; readonly detail: string };

export async function importArchive(
  db: D1Database,
  bucket: R2Bucket,
  manifestKey: string,
  nowMs: number,
): Promise<ImportResult> {
  const read = await readManifest(bucket, manifestKey);
  if (!read.ok) return { ...read, key: manifestKey };
  const { manifest } = read;
  const fail = (code: ImportFailure, key: string, detail: string): ImportResult => ({ ok: false, code, key, detail });
  if (JSON.stringify(manifest.columns) !== JSON.stringify(manifestColumns())) {
    return fail("manifest_mismatch", manifestKey, "columns differ from this schema's: load it with that format's code");
  }

  const existing = await loadArchive(db, manifest.archiveId);
  if (existing === null) {
    if (await holdsAnyOf(db, manifest.ranges)) {
      return fail("shard_not_empty", manifestKey, "live transfers inside the archive's runs");
    }
    await db.batch(registerStatements(db, manifest, manifestKey, read.sha256));
  } else if (existing.state !== "importing" && existing.state !== "imported") {
    return fail("shard_not_empty", manifestKey, `this shard's own archive, ${existing.state}`);
  }

  for (const entry of manifest.checkpointFiles) {
    const file = await readArchiveFile(bucket, entry);
    if (!file.ok) return fail(file.code, entry.key, file.detail);
    for (let i = 0; i < file.lines.length; i += PAGE) {
      await db
        .prepare(
          `INSERT INTO accounts (address, currency, balance_minor, may_go_negative, created_at_ms)
           SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), 0, json_extract(value, '$[2]'),
                  json_extract(value, '$[3]')
           FROM json_each(?) WHERE true ON CONFLICT (address) DO NOTHING`,
        )
        .bind(`[${file.lines.slice(i, i + PAGE).join(",")}]`)
        .run();
    }
  }

  const loaded = await db
    .prepare("SELECT seq FROM ledger_archive_files WHERE archive_id = ? AND uploaded_at_ms IS NOT NULL")
    .bind(manifest.archiveId)
    .all<{ seq: number }>();
  const done = new Set(loaded.results.map((r) => r.seq));
  for (const entry of manifest.files) {
    if (done.has(entry.seq)) continue;
    const file = await readArchiveFile(bucket, entry);
    if (!file.ok) return fail(file.code, entry.key, file.detail);
    const problem = dataLinesProblem(file.lines, entry, manifest.columns);
    if (problem !== null) return fail("file_rows_mismatch", entry.key, problem);
    await db.batch(loadStatements(db, manifest.archiveId, entry, file.lines, nowMs));
  }

  return verifyImported(db, manifest, manifestKey);
}

/** Whether any live transfer lies inside the given runs. */
async function holdsAnyOf(db: D1Database, runs: Manifest["ranges"]): Promise<boolean> {
  for (let i = 0; i < runs.length; i += ARCHIVE_LIMITS.rangesPerStatementMax) {
    const hit = await db
      .prepare(
        `SELECT 1 AS hit FROM json_each(?) r
         WHERE EXISTS (SELECT 1 FROM transfers t
                       WHERE t.id BETWEEN json_extract(r.value, '$[0]') AND json_extract(r.value, '$[1]'))
         LIMIT 1`,
      )
      .bind(JSON.stringify(runs.slice(i, i + ARCHIVE_LIMITS.rangesPerStatementMax)))
      .first();
    if (hit !== null) return true;
  }
  return false;
}

function registerStatements(
  db: D1Database,
  manifest: Manifest,
  manifestKey: string,
  manifestSha256: string,
): D1PreparedStatement[] {
  const { archiveId, exported } = manifest;
  const statements = [
    db
      .prepare(
        `INSERT INTO ledger_archives (id, shard, state, from_ms, to_ms, cut_transfer_id, first_transfer_id,
           last_transfer_id, min_created_at_ms, max_created_at_ms, export_cursor, retained, manifest_key,
           manifest_sha256, checkpoint_sha256, created_at_ms)
         VALUES (?, ?, 'importing', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .bind(
        archiveId,
        manifest.shard,
        manifest.period.fromMs,
        manifest.period.toMs,
        manifest.period.cutTransferId,
        exported.firstTransferId,
        exported.lastTransferId,
        exported.minCreatedAtMs,
        exported.maxCreatedAtMs,
        manifest.period.cutTransferId,
        JSON.stringify(manifest.retained),
        manifestKey,
        manifestSha256,
        manifest.checkpointSha256,
        manifest.createdAtMs,
      ),
    db
      .prepare(
        `INSERT INTO ledger_archive_files (archive_id, seq, first_transfer_id, last_transfer_id, key, row_counts,
           raw_sha256, gz_sha256, raw_bytes, gz_bytes, min_created_at_ms, max_created_at_ms)
         SELECT ?, value ->> '$.seq', value ->> '$.firstTransferId', value ->> '$.lastTransferId', value ->> '$.key',
           value -> '$.rows', value ->> '$.rawSha256', value ->> '$.gzSha256', value ->> '$.rawBytes',
           value ->> '$.gzBytes', value ->> '$.minCreatedAtMs', value ->> '$.maxCreatedAtMs'
         FROM json_each(?)`,
      )
      .bind(archiveId, JSON.stringify(manifest.files)),
  ];
  for (let i = 0; i < manifest.ranges.length; i += ARCHIVE_LIMITS.rangesPerStatementMax) {
    statements.push(insertRuns(db, archiveId, manifest.ranges.slice(i, i + ARCHIVE_LIMITS.rangesPerStatementMax)));
  }
  return statements;
}

/** One data file's rows, its checkpoint contribution and its "loaded" mark, as one batch. */
function loadStatements(
  db: D1Database,
  archiveId: string,
  entry: Manifest["files"][number],
  lines: readonly string[],
  nowMs: number,
): D1PreparedStatement[] {
  const byTable = new Map<ArchiveTable, string[]>();
  for (const line of lines) {
    const table = (JSON.parse(line) as [ArchiveTable])[0];
    const list = byTable.get(table) ?? [];
    list.push(line);
    byTable.set(table, list);
  }
  const statements: D1PreparedStatement[] = [];
  for (const table of ARCHIVE_TABLE_NAMES) {
    const columns = ARCHIVE_TABLES[table];
    const values = columns.map((_, i) => `json_extract(value, '$[${i + 1}]')`).join(", ");
    const rows = byTable.get(table) ?? [];
    for (let i = 0; i < rows.length; i += PAGE) {
      statements.push(
        db
          .prepare(
            `INSERT INTO ${table} (${columns.join(", ")}) SELECT ${values} FROM json_each(?)
             WHERE true ON CONFLICT DO NOTHING`,
          )
          .bind(`[${rows.slice(i, i + PAGE).join(",")}]`),
      );
    }
  }
  const notLoaded = {
    sql: "(SELECT uploaded_at_ms FROM ledger_archive_files WHERE archive_id = ? AND seq = ?) IS NULL",
    params: [archiveId, entry.seq],
  };
  statements.push(
    accumulateCheckpoint(db, archiveId, entry.firstTransferId, entry.lastTransferId, notLoaded),
    db
      .prepare(
        "UPDATE ledger_archive_files SET uploaded_at_ms = ? WHERE archive_id = ? AND seq = ? AND uploaded_at_ms IS NULL",
      )
      .bind(nowMs, archiveId, entry.seq),
  );
  return statements;
}

/** Renders every file again from the imported rows; each must match the manifest exactly. */
async function verifyImported(db: D1Database, manifest: Manifest, manifestKey: string): Promise<ImportResult> {
  const mismatch = (key: string, detail: string): ImportResult => ({
    ok: false,
    code: "reexport_mismatch",
    key,
    detail,
  });
  for (const entry of manifest.files) {
    const rendered = await renderDataFile(db, manifest.archiveId, entry.firstTransferId, entry.lastTransferId);
    const packed = await pack(rendered.text);
    if (packed.rawSha256 !== entry.rawSha256) return mismatch(entry.key, `raw sha256 ${packed.rawSha256}`);
    if (packed.gzSha256 !== entry.gzSha256) return mismatch(entry.key, `gzip sha256 ${packed.gzSha256}`);
  }
  const archive = await requireArchive(db, manifest.archiveId);
  const checkpoints = await checkpointFiles(db, archive, null);
  if (JSON.stringify(checkpoints) !== JSON.stringify(manifest.checkpointFiles)) {
    return mismatch(manifestKey, "checkpoint files differ");
  }
  const digest = await checkpointDigest(checkpoints.map((f) => f.rawSha256));
  if (digest !== manifest.checkpointSha256) return mismatch(manifestKey, "checkpoint digest differs");
  await db
    .prepare("UPDATE ledger_archives SET state = 'imported' WHERE id = ? AND state = 'importing'")
    .bind(manifest.archiveId)
    .run();
  return { ok: true, archiveId: manifest.archiveId, rows: manifest.totals.rows };
}
