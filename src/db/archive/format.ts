/**
 * The archive format (docs/SCALING.md, Archival), version 1. An archive of one shard is a folder in R2,
 * `ledger/shard-{n}/{archive id}/`, holding:
 *
 *   data-000000.ndjson.gz …        the archived rows, one JSON array per line:
 *                                  `["transfers", 1042, "tip_…", "user:u1:wallet", …]` — the
 *                                  table, then its columns in the order `ARCHIVE_TABLES` gives
 *                                  (the schema's declaration order). Tables follow each other
 *                                  in that order (foreign keys first), so a file loads top to
 *                                  bottom; each file covers a span of transfer ids and holds
 *                                  whole operations only.
 *   checkpoint-000000.ndjson.gz …  per account touched: `[address, currency, may_go_negative,
 *                                  created_at_ms, balance_minor]`, the balance the archive's
 *                                  transfers contributed, sorted by address.
 *   manifest.json                  what is where, with counts and SHA-256 digests.
 *
 * Files are bounded (`ARCHIVE_LIMITS`), gzip from CompressionStream (no timestamp in its
 * header, so the same rows give the same bytes: re-exports compare digest to digest).
 */

import { getTableColumns } from "drizzle-orm";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import { z } from "zod";
import { assert } from "../../domain/limits";
import { operations, redPacketClaims, redPackets, tips, transfers, transitOutbox } from "../schema/ledger";

export const ARCHIVE_FORMAT = "giftwire-ledger-archive/1";

/** The longest a local day lasts: 24 h, and 25 h on the day a DST change sets clocks back. */
const LOCAL_DAY_MAX_MS = 25 * 60 * 60 * 1000;

export const ARCHIVE_LIMITS = {
  /**
   * How old a period's end must be before it is archived: 26 h. Ids no longer need the rows:
   * pruning leaves each archived operation's id in operation_tombstones for
   * `LIMITS.operationIdMemoryMs`, and composeOperation answers "exists" for it. What still
   * reads a closed period's rows by time is the autopay daily cap, which sums the viewer's
   * `tips` since the start of the current business day (db/operations/tip.ts): a local day
   * is at most 25 h long (a DST change), so a period that ended more than 25 h ago holds no
   * tip of the current local day in any time zone. One more hour covers writers' clocks and
   * batches still in flight at the period's end. Everything else that needs rows of an ended
   * period is held by retention whatever their age (open packets, undelivered outbox rows,
   * orders, subsidies), and an idempotent replay answers from its idempotency record alone.
   */
  periodSettleMs: LOCAL_DAY_MAX_MS + 60 * 60 * 1000,
  /** Rows read or written per D1 statement: transfers per page, ids per `json_each` list. */
  rowsPerPageMax: 500,
  /** Exported transfers per data file (≈ 3.5 MB uncompressed at three rows per transfer). */
  transfersPerFileMax: 10_000,
  /** Transfer pages one export step walks before it records its progress, file or not. */
  pagesPerStepMax: 40,
  /** Lines per checkpoint file. */
  checkpointLinesPerFileMax: 20_000,
  /** Run bounds per D1 statement when a manifest's runs are loaded into a shard. */
  rangesPerStatementMax: 1_000,
} as const;

/**
 * Page and file sizes for one run. They change how the work is cut, never the bytes of a
 * file: a data file's span is recorded when it is planned and its rows are rendered in id
 * order whatever the page size (tests use small ones to cross page and file boundaries).
 * Checkpoint files are cut at the fixed `checkpointLinesPerFileMax`, as re-imports re-render
 * them.
 */
export interface ArchiveTuning {
  readonly rowsPerPage: number;
  readonly transfersPerFile: number;
}

export const DEFAULT_TUNING: ArchiveTuning = {
  rowsPerPage: ARCHIVE_LIMITS.rowsPerPageMax,
  transfersPerFile: ARCHIVE_LIMITS.transfersPerFileMax,
};

export function tuningOf(overrides: Partial<ArchiveTuning> | undefined): ArchiveTuning {
  const tuning = { ...DEFAULT_TUNING, ...overrides };
  assert(
    Number.isInteger(tuning.rowsPerPage) &&
      tuning.rowsPerPage >= 32 &&
      tuning.rowsPerPage <= ARCHIVE_LIMITS.rowsPerPageMax,
    "a page holds 32 to rowsPerPageMax rows (more than one operation's transfers)",
  );
  assert(
    Number.isInteger(tuning.transfersPerFile) &&
      tuning.transfersPerFile >= 1 &&
      tuning.transfersPerFile <= ARCHIVE_LIMITS.transfersPerFileMax,
    "transfers per file within transfersPerFileMax",
  );
  return tuning;
}

function columnsOf(table: SQLiteTable): readonly string[] {
  return Object.values(getTableColumns(table)).map((column) => column.name);
}

/**
 * The tables an archive holds, in file (and load) order. Each row belongs to one operation,
 * named by its first column: the operation's own id, or `operation_id` for outbox rows.
 */
export const ARCHIVE_TABLES = {
  operations: columnsOf(operations),
  transfers: columnsOf(transfers),
  red_packets: columnsOf(redPackets),
  red_packet_claims: columnsOf(redPacketClaims),
  tips: columnsOf(tips),
  transit_outbox: columnsOf(transitOutbox),
} as const;
export type ArchiveTable = keyof typeof ARCHIVE_TABLES;
export const ARCHIVE_TABLE_NAMES = Object.keys(ARCHIVE_TABLES) as ArchiveTable[];

/** The tables other than operations and transfers: rows that exist only for their operation. */
export const OPERATION_ROW_TABLES = ["red_packets", "red_packet_claims", "tips", "transit_outbox"] as const;

assert(ARCHIVE_TABLES.transfers[0] === "id", "transfers lead with their id");
assert(ARCHIVE_TABLES.transfers[1] === "operation_id", "then their operation");
assert(ARCHIVE_TABLES.transit_outbox[0] === "operation_id", "outbox rows lead with their operation");
for (const table of ["operations", "red_packets", "red_packet_claims", "tips"] as const) {
  assert(ARCHIVE_TABLES[table][0] === "id", `${table} lead with the operation's id`);
}

export const CHECKPOINT_COLUMNS = ["account", "currency", "may_go_negative", "created_at_ms", "balance_minor"] as const;

/** The manifest's `columns`: each table's, then the checkpoint's. */
export function manifestColumns(): Record<string, string[]> {
  const columns: Record<string, string[]> = {};
  for (const [table, names] of Object.entries(ARCHIVE_TABLES)) columns[table] = [...names];
  columns.checkpoint = [...CHECKPOINT_COLUMNS];
  return columns;
}

/** A column value as D1 returns it for these tables (no blobs, no floats). */
export type CellValue = string | number | null;

export function cellsOf(row: Record<string, unknown>, columns: readonly string[]): CellValue[] {
  return columns.map((column) => {
    const value = row[column];
    assert(
      value === null || typeof value === "string" || (typeof value === "number" && Number.isSafeInteger(value)),
      `column ${column} holds text, a safe integer or null`,
    );
    return value;
  });
}

export function lineOf(table: string, cells: readonly CellValue[]): string {
  return JSON.stringify([table, ...cells]);
}

export function archivePrefix(shard: number, archiveId: string): string {
  return `ledger/shard-${shard}/${archiveId}/`;
}

export function dataFileKey(shard: number, archiveId: string, seq: number): string {
  return `${archivePrefix(shard, archiveId)}data-${String(seq).padStart(6, "0")}.ndjson.gz`;
}

export function checkpointFileKey(shard: number, archiveId: string, seq: number): string {
  return `${archivePrefix(shard, archiveId)}checkpoint-${String(seq).padStart(6, "0")}.ndjson.gz`;
}

export function manifestKey(shard: number, archiveId: string): string {
  return `${archivePrefix(shard, archiveId)}manifest.json`;
}

// ── bytes ────────────────────────────────────────────────────────────────────────────

export async function gzip(raw: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([raw]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export async function gunzip(compressed: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([compressed]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** An encoded file: its text as UTF-8, gzip of that, and both digests. */
export interface PackedFile {
  readonly raw: Uint8Array;
  readonly gz: Uint8Array;
  readonly rawSha256: string;
  readonly gzSha256: string;
}

export async function pack(text: string): Promise<PackedFile> {
  const raw = new TextEncoder().encode(text);
  const gz = await gzip(raw);
  return { raw, gz, rawSha256: await sha256Hex(raw), gzSha256: await sha256Hex(gz) };
}

/**
 * The checkpoint's digest: SHA-256 of the checkpoint files' uncompressed digests, one per
 * line, in order (a digest of digests, so no file has to be held with another).
 */
export async function checkpointDigest(rawSha256s: readonly string[]): Promise<string> {
  return sha256Hex(new TextEncoder().encode(rawSha256s.map((d) => `${d}\n`).join("")));
}

// ── manifest ─────────────────────────────────────────────────────────────────────────

const count = z.number().int().nonnegative();
const transferId = z.number().int().positive();
const ms = z.number().int().nonnegative();
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

const fileEntry = z.object({
  seq: count,
  key: z.string().min(1),
  rows: z.record(z.string(), count),
  rawBytes: count,
  gzBytes: count,
  rawSha256: sha256,
  gzSha256: sha256,
});

export const dataFileEntrySchema = fileEntry.extend({
  firstTransferId: transferId,
  lastTransferId: transferId,
  minCreatedAtMs: ms.nullable(),
  maxCreatedAtMs: ms.nullable(),
});
export type DataFileEntry = z.infer<typeof dataFileEntrySchema>;

export const checkpointFileEntrySchema = fileEntry.extend({
  firstAccount: z.string(),
  lastAccount: z.string(),
});
export type CheckpointFileEntry = z.infer<typeof checkpointFileEntrySchema>;

export const manifestSchema = z.object({
  format: z.literal(ARCHIVE_FORMAT),
  archiveId: z.string().min(1),
  shard: count,
  /** The period asked for and the cut it became. */
  period: z.object({ fromMs: ms, toMs: ms, cutTransferId: count }),
  /** What the archive holds: spans of its transfers' ids and creation times (null when empty). */
  exported: z.object({
    firstTransferId: transferId.nullable(),
    lastTransferId: transferId.nullable(),
    minCreatedAtMs: ms.nullable(),
    maxCreatedAtMs: ms.nullable(),
  }),
  /** Columns of each table's lines, and of the checkpoint's. */
  columns: z.record(z.string(), z.array(z.string())),
  /** Runs of transfer ids held, `[from, to]` inclusive, ascending and disjoint. */
  ranges: z.array(z.tuple([transferId, transferId])),
  /** Operations at or below the cut kept live, by reason (src/db/archive/retention.ts). */
  retained: z.record(z.string(), count),
  files: z.array(dataFileEntrySchema),
  checkpointFiles: z.array(checkpointFileEntrySchema),
  /** Rows per table over all data files; accounts in the checkpoint. */
  totals: z.object({ rows: z.record(z.string(), count), checkpointAccounts: count }),
  checkpointSha256: sha256,
  createdAtMs: ms,
});
export type Manifest = z.infer<typeof manifestSchema>;
