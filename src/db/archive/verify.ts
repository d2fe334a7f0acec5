/**
 * Verifying an exported archive (state `exported` → `verified`): nothing is deleted from the
 * shard until every file has been read back from R2 and found to be what the export wrote.
 *
 *   - the manifest's SHA-256 is the one recorded in D1, and it lists the files D1 recorded,
 *     with the same digests;
 *   - each file is in R2, its gzip bytes hash to the manifest's digest, they decompress, and
 *     the result hashes to the uncompressed digest;
 *   - each line is a JSON array of a known table with that table's column count, in file
 *     order, with as many lines per table as the manifest says; transfer ids ascend inside
 *     the file's span;
 *   - the checkpoint conserves money: per currency its balances sum to zero (every archived
 *     transfer moved an amount between two accounts of one currency), and its digest matches.
 *
 * A file or manifest that fails sends the archive back to `exporting` (the failed data file
 * marked not uploaded), so the next run writes it again from the rows, still in the shard, and
 * a new manifest; the failure is returned for the caller to report. A checkpoint that does not
 * conserve money is a bug, not damage: the archive stays `exported` and nothing is deleted.
 */

import { assert } from "../../domain/limits";
import { dataFileEntries } from "./export";
import {
  ARCHIVE_TABLE_NAMES,
  CHECKPOINT_COLUMNS,
  checkpointDigest,
  gunzip,
  type Manifest,
  manifestColumns,
  manifestSchema,
  sha256Hex,
} from "./format";
import { type ArchiveRow, requireArchive } from "./state";

export type VerifyFailure =
  | "manifest_missing"
  | "manifest_mismatch"
  | "file_missing"
  | "file_digest_mismatch"
  | "file_rows_mismatch"
  | "checkpoint_not_conserved";

export type VerifyResult =
  | { readonly ok: true; readonly archive: ArchiveRow }
  | { readonly ok: false; readonly code: VerifyFailure; readonly key: string; readonly detail: string };

/** An archive file as read back: its lines, once its digests check out. */
export type FileCheck =
  | { readonly ok: true; readonly lines: readonly string[] }
  | { readonly ok: false; readonly code: "file_missing" | "file_digest_mismatch"; readonly detail: string };

export async function readArchiveFile(
  bucket: R2Bucket,
  entry: { readonly key: string; readonly gzSha256: string; readonly rawSha256: string },
): Promise<FileCheck> {
  const object = await bucket.get(entry.key);
  if (object === null) return { ok: false, code: "file_missing", detail: "not in the bucket" };
  const gz = new Uint8Array(await object.arrayBuffer());
  const gzSha = await sha256Hex(gz);
  if (gzSha !== entry.gzSha256) return { ok: false, code: "file_digest_mismatch", detail: `gzip sha256 ${gzSha}` };
  let raw: Uint8Array;
  try {
    raw = await gunzip(gz);
  } catch {
    return { ok: false, code: "file_digest_mismatch", detail: "does not decompress" };
  }
  const rawSha = await sha256Hex(raw);
  if (rawSha !== entry.rawSha256) return { ok: false, code: "file_digest_mismatch", detail: `raw sha256 ${rawSha}` };
  const text = new TextDecoder().decode(raw);
  const lines = text.split("\n");
  if (lines.pop() !== "") return { ok: false, code: "file_digest_mismatch", detail: "no final newline" };
  return { ok: true, lines };
}

export async function readManifest(
  bucket: R2Bucket,
  key: string,
): Promise<{ ok: true; manifest: Manifest; sha256: string } | { ok: false; code: VerifyFailure; detail: string }> {
  const object = await bucket.get(key);
  if (object === null) return { ok: false, code: "manifest_missing", detail: "not in the bucket" };
  const bytes = new Uint8Array(await object.arrayBuffer());
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return { ok: false, code: "manifest_mismatch", detail: "not JSON" };
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) return { ok: false, code: "manifest_mismatch", detail: parsed.error.message };
  return { ok: true, manifest: parsed.data, sha256: await sha256Hex(bytes) };
}

/** Checks a data file's lines against its manifest entry; null when they agree. */
export function dataLinesProblem(
  lines: readonly string[],
  entry: Manifest["files"][number],
  columns: Manifest["columns"],
): string | null {
  const counts: Record<string, number> = {};
  let tableIndex = 0;
  let lastTransferId = entry.firstTransferId - 1;
  for (const [n, line] of lines.entries()) {
    let cells: unknown;
    try {
      cells = JSON.parse(line);
    } catch {
      return `line ${n + 1} is not JSON`;
    }
    if (!Array.isArray(cells) || typeof cells[0] !== "string") return `line ${n + 1} is not a table row`;
    const table = cells[0];
    const at = ARCHIVE_TABLE_NAMES.indexOf(table as (typeof ARCHIVE_TABLE_NAMES)[number]);
    if (at < tableIndex) return `line ${n + 1}: ${table} out of order`;
    tableIndex = at;
    if (cells.length !== (columns[table]?.length ?? -1) + 1) return `line ${n + 1}: wrong column count`;
    if (table === "transfers") {
      const id = cells[1];
      if (typeof id !== "number" || id <= lastTransferId || id > entry.lastTransferId) {
        return `line ${n + 1}: transfer id outside the file's span or out of order`;
      }
      lastTransferId = id;
    }
    counts[table] = (counts[table] ?? 0) + 1;
  }
  for (const table of ARCHIVE_TABLE_NAMES) {
    if ((counts[table] ?? 0) !== (entry.rows[table] ?? 0)) {
      return `${table}: ${counts[table] ?? 0} lines, manifest says ${entry.rows[table] ?? 0}`;
    }
  }
  return null;
}

export async function verifyArchive(
  db: D1Database,
  bucket: R2Bucket,
  archiveId: string,
  nowMs: number,
): Promise<VerifyResult> {
  const archive = await requireArchive(db, archiveId);
  if (archive.state === "verified" || archive.state === "pruned") return { ok: true, archive };
  assert(archive.state === "exported", "an exported archive is verified");
  assert(archive.manifestKey !== null && archive.manifestSha256 !== null, "an exported archive has its manifest");
  const key = archive.manifestKey;

  const read = await readManifest(bucket, key);
  if (!read.ok) return reexport(db, archive, null, { ...read, key });
  const { manifest } = read;
  const fail = (code: VerifyFailure, where: string, detail: string): VerifyResult => ({
    ok: false,
    code,
    key: where,
    detail,
  });
  const manifestProblem = async (detail: string) => reexport(db, archive, null, fail("manifest_mismatch", key, detail));
  if (read.sha256 !== archive.manifestSha256) return manifestProblem("digest differs from D1's");
  if (manifest.archiveId !== archive.id || manifest.period.cutTransferId !== archive.cutTransferId) {
    return manifestProblem("names another archive");
  }
  const recorded = await dataFileEntries(db, archive.id);
  if (JSON.stringify(recorded) !== JSON.stringify(manifest.files)) {
    return manifestProblem("files differ from those recorded in D1");
  }
  if (JSON.stringify(manifest.columns) !== JSON.stringify(manifestColumns())) {
    return manifestProblem("columns differ from this schema's");
  }

  for (const entry of manifest.files) {
    const file = await readArchiveFile(bucket, entry);
    if (!file.ok) return reexport(db, archive, entry.seq, fail(file.code, entry.key, file.detail));
    const problem = dataLinesProblem(file.lines, entry, manifest.columns);
    if (problem !== null) return reexport(db, archive, entry.seq, fail("file_rows_mismatch", entry.key, problem));
  }

  const sums: Record<string, number> = {};
  for (const entry of manifest.checkpointFiles) {
    const file = await readArchiveFile(bucket, entry);
    if (!file.ok) return reexport(db, archive, null, fail(file.code, entry.key, file.detail));
    if (file.lines.length !== entry.rows.checkpoint) {
      return reexport(db, archive, null, fail("file_rows_mismatch", entry.key, "checkpoint line count"));
    }
    for (const line of file.lines) {
      const cells = JSON.parse(line) as unknown[];
      const currency = String(cells[CHECKPOINT_COLUMNS.indexOf("currency")]);
      sums[currency] = (sums[currency] ?? 0) + Number(cells[CHECKPOINT_COLUMNS.indexOf("balance_minor")]);
    }
  }
  const unbalanced = Object.entries(sums).find(([, sum]) => sum !== 0);
  if (unbalanced !== undefined) {
    return fail("checkpoint_not_conserved", key, `${unbalanced[0]} sums to ${unbalanced[1]}`);
  }
  const digest = await checkpointDigest(manifest.checkpointFiles.map((f) => f.rawSha256));
  if (digest !== manifest.checkpointSha256 || digest !== archive.checkpointSha256) {
    return manifestProblem("checkpoint digest");
  }

  await db
    .prepare(
      `UPDATE ledger_archives SET state = 'verified', verified_at_ms = ?, prune_cursor = COALESCE(last_transfer_id, 0)
       WHERE id = ? AND state = 'exported'`,
    )
    .bind(nowMs, archive.id)
    .run();
  return { ok: true, archive: await requireArchive(db, archive.id) };
}

/**
 * Sends the archive back to `exporting` with the failed data file (if any) to be written
 * again; checkpoint files and the manifest are always rewritten when the export finishes.
 */
async function reexport(
  db: D1Database,
  archive: ArchiveRow,
  dataFileSeq: number | null,
  failure: VerifyResult,
): Promise<VerifyResult> {
  await db.batch([
    db
      .prepare("UPDATE ledger_archive_files SET uploaded_at_ms = NULL WHERE archive_id = ? AND seq = ?")
      .bind(archive.id, dataFileSeq ?? -1),
    db
      .prepare(
        `UPDATE ledger_archives SET state = 'exporting', manifest_key = NULL, manifest_sha256 = NULL,
           checkpoint_sha256 = NULL, exported_at_ms = NULL
         WHERE id = ? AND state = 'exported'`,
      )
      .bind(archive.id),
  ]);
  return failure;
}
