/**
 * Rendering an archive's files from the rows in D1. The export uploads what this renders, and
 * a re-imported archive is checked by rendering it again and comparing digests, so the bytes
 * depend on the rows only: transfers by id, operations in the order of their first transfer,
 * each operation's other rows in that same order, columns in schema order (format.ts).
 */

import { assert } from "../../domain/limits";
import {
  ARCHIVE_LIMITS,
  ARCHIVE_TABLES,
  type ArchiveTable,
  type ArchiveTuning,
  type CellValue,
  CHECKPOINT_COLUMNS,
  cellsOf,
  lineOf,
  OPERATION_ROW_TABLES,
  tuningOf,
} from "./format";

const PAGE = ARCHIVE_LIMITS.rowsPerPageMax;

export interface RenderedFile {
  readonly text: string;
  readonly rows: Record<string, number>;
  readonly minCreatedAtMs: number | null;
  readonly maxCreatedAtMs: number | null;
}

/** The archive's runs of transfer ids inside a file's span, ascending. */
export async function runsIn(
  db: D1Database,
  archiveId: string,
  firstTransferId: number,
  lastTransferId: number,
): Promise<Array<readonly [number, number]>> {
  const { results } = await db
    .prepare(
      `SELECT from_transfer_id AS "from", to_transfer_id AS "to" FROM ledger_archive_ranges
       WHERE archive_id = ? AND from_transfer_id BETWEEN ? AND ? ORDER BY from_transfer_id`,
    )
    .bind(archiveId, firstTransferId, lastTransferId)
    .all<{ from: number; to: number }>();
  for (const r of results) assert(r.to <= lastTransferId, "a run stays inside its file's span");
  return results.map((r) => [r.from, r.to] as const);
}

const select = (table: ArchiveTable) => ARCHIVE_TABLES[table].join(", ");

/** Lines of the tables other than transfers, by the operation they belong to. */
type OperationLines = Record<Exclude<ArchiveTable, "transfers">, Map<string, string[]>>;

/** One data file: the archive's rows for the transfers of its runs inside the span. */
export async function renderDataFile(
  db: D1Database,
  archiveId: string,
  firstTransferId: number,
  lastTransferId: number,
  tuning?: Partial<ArchiveTuning>,
): Promise<RenderedFile> {
  const page = tuningOf(tuning).rowsPerPage;
  const runs = await runsIn(db, archiveId, firstTransferId, lastTransferId);
  const transferLines: string[] = [];
  const operationOrder: string[] = [];
  const transfersOf = new Map<string, number>();
  const linesOf: OperationLines = {
    operations: new Map(),
    red_packets: new Map(),
    red_packet_claims: new Map(),
    tips: new Map(),
    transit_outbox: new Map(),
  };
  const declaredTransfers = new Map<string, number>();
  let minMs: number | null = null;
  let maxMs: number | null = null;

  const createdAt = ARCHIVE_TABLES.transfers.indexOf("created_at_ms");
  for (const [from, to] of runs) {
    let after = from - 1;
    while (after < to) {
      const { results } = await db
        .prepare(`SELECT ${select("transfers")} FROM transfers WHERE id > ? AND id <= ? ORDER BY id LIMIT ?`)
        .bind(after, to, page)
        .all<Record<string, unknown>>();
      if (results.length === 0) break;
      const fresh: string[] = [];
      for (const row of results) {
        const cells = cellsOf(row, ARCHIVE_TABLES.transfers);
        transferLines.push(lineOf("transfers", cells));
        const operationId = String(cells[1]);
        if (!transfersOf.has(operationId)) {
          operationOrder.push(operationId);
          fresh.push(operationId);
        }
        transfersOf.set(operationId, (transfersOf.get(operationId) ?? 0) + 1);
        const ms = cells[createdAt] as number;
        minMs = minMs === null ? ms : Math.min(minMs, ms);
        maxMs = maxMs === null ? ms : Math.max(maxMs, ms);
      }
      after = Number(results[results.length - 1]?.id);
      if (fresh.length > 0) await readOperationRows(db, fresh, linesOf, declaredTransfers);
    }
  }

  for (const id of operationOrder) {
    assert(linesOf.operations.has(id), `operation ${id} of an archived transfer exists`);
    assert(
      declaredTransfers.get(id) === transfersOf.get(id),
      `operation ${id} is whole in its file (${transfersOf.get(id)} of ${declaredTransfers.get(id)} transfers)`,
    );
  }
  const rows: Record<string, number> = {};
  const sections: string[][] = [];
  for (const table of Object.keys(ARCHIVE_TABLES) as ArchiveTable[]) {
    const lines = table === "transfers" ? transferLines : operationOrder.flatMap((id) => linesOf[table].get(id) ?? []);
    rows[table] = lines.length;
    sections.push(lines);
  }
  const text = sections
    .flat()
    .map((line) => `${line}\n`)
    .join("");
  return { text, rows, minCreatedAtMs: minMs, maxCreatedAtMs: maxMs };
}

/** Operations and the rows that exist for them, for up to a page of operation ids. */
async function readOperationRows(
  db: D1Database,
  operationIds: readonly string[],
  linesOf: OperationLines,
  declaredTransfers: Map<string, number>,
): Promise<void> {
  assert(operationIds.length <= ARCHIVE_LIMITS.rowsPerPageMax, "a page of operations");
  const ids = JSON.stringify(operationIds);
  const tables = ["operations", ...OPERATION_ROW_TABLES] as const;
  const results = await db.batch<Record<string, unknown>>(
    tables.map((table) => {
      const key = ARCHIVE_TABLES[table][0];
      return db
        .prepare(
          `SELECT ${select(table)} FROM ${table} WHERE ${key} IN (SELECT value FROM json_each(?))
           ORDER BY ${ARCHIVE_TABLES[table].join(", ")}`,
        )
        .bind(ids);
    }),
  );
  tables.forEach((table, i) => {
    for (const row of results[i]?.results ?? []) {
      const cells = cellsOf(row, ARCHIVE_TABLES[table]);
      const owner = String(cells[0]);
      const lines = linesOf[table].get(owner) ?? [];
      lines.push(lineOf(table, cells));
      linesOf[table].set(owner, lines);
      if (table === "operations") declaredTransfers.set(owner, Number(row.transfer_count));
    }
  });
}

/**
 * Adds what the archive's transfers inside a span contribute to each account's checkpoint:
 * credits − debits. Not idempotent: callers run it in the batch that records the span as done.
 */
export function accumulateCheckpoint(
  db: D1Database,
  archiveId: string,
  firstTransferId: number,
  lastTransferId: number,
  onlyWhen: { readonly sql: string; readonly params: readonly unknown[] } = { sql: "1", params: [] },
): D1PreparedStatement {
  const held = `FROM ledger_archive_ranges r JOIN transfers t ON t.id BETWEEN r.from_transfer_id AND r.to_transfer_id
                WHERE r.archive_id = ? AND r.from_transfer_id BETWEEN ? AND ?`;
  return db
    .prepare(
      `INSERT INTO balance_checkpoints (archive_id, account, balance_minor)
       SELECT ?, address, SUM(delta) FROM (
         SELECT t.to_account AS address, t.amount_minor AS delta ${held}
         UNION ALL
         SELECT t.from_account AS address, -t.amount_minor AS delta ${held}
       ) WHERE ${onlyWhen.sql} GROUP BY address
       ON CONFLICT (archive_id, account) DO UPDATE SET balance_minor = balance_minor + excluded.balance_minor`,
    )
    .bind(
      archiveId,
      archiveId,
      firstTransferId,
      lastTransferId,
      archiveId,
      firstTransferId,
      lastTransferId,
      ...onlyWhen.params,
    );
}

export interface RenderedCheckpointFile extends RenderedFile {
  readonly firstAccount: string;
  readonly lastAccount: string;
  /** Σ balance_minor per currency over the file's lines. */
  readonly sumByCurrency: Readonly<Record<string, number>>;
}

/** The checkpoint files, in address order, each at most `checkpointLinesPerFileMax` lines. */
export async function* renderCheckpointFiles(
  db: D1Database,
  archiveId: string,
): AsyncGenerator<RenderedCheckpointFile> {
  const page = db.prepare(
    `SELECT c.account, a.currency, a.may_go_negative, a.created_at_ms, c.balance_minor
     FROM balance_checkpoints c LEFT JOIN accounts a ON a.address = c.account
     WHERE c.archive_id = ? AND c.account > ? ORDER BY c.account LIMIT ?`,
  );
  let after = "";
  let lines: string[] = [];
  let first = "";
  let sums: Record<string, number> = {};
  const file = (): RenderedCheckpointFile => ({
    text: lines.map((line) => `${line}\n`).join(""),
    rows: { checkpoint: lines.length },
    minCreatedAtMs: null,
    maxCreatedAtMs: null,
    firstAccount: first,
    lastAccount: after,
    sumByCurrency: sums,
  });
  for (;;) {
    const { results } = await page.bind(archiveId, after, PAGE).all<Record<string, unknown>>();
    for (const row of results) {
      assert(row.currency !== null, `checkpoint account ${String(row.account)} exists`);
      const cells: CellValue[] = cellsOf(row, CHECKPOINT_COLUMNS);
      if (lines.length === 0) first = String(row.account);
      lines.push(JSON.stringify(cells));
      after = String(row.account);
      const currency = String(row.currency);
      sums[currency] = (sums[currency] ?? 0) + Number(row.balance_minor);
      if (lines.length === ARCHIVE_LIMITS.checkpointLinesPerFileMax) {
        yield file();
        lines = [];
        sums = {};
      }
    }
    if (results.length < PAGE) break;
  }
  if (lines.length > 0) yield file();
}
