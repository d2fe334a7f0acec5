/**
 * Pruning a verified archive (state `verified` → `pruned`): deleting the rows it holds from
 * the shard in bounded batches, from its highest transfer id down. Top-down order keeps
 * foreign keys satisfied batch by batch: a red packet's claims come after its sending, so they
 * are gone before the packet row is.
 *
 * One batch: the operation rows of up to a page of transfer ids (outbox, tips, claims,
 * packets), those transfers, the operations left with no transfer (their ids written to
 * `operation_tombstones` first), and the cursor. Batches
 * are atomic and repeatable (deleting what is gone deletes nothing), so a run that stops
 * anywhere resumes at the cursor. The delete triggers (migrations/ledger/0003) refuse any
 * transfer outside a verified archive's runs, and any operation that still has transfers.
 */

import type { AuditAction } from "../../domain/audit-chain";
import { assert } from "../../domain/limits";
import { batchWithAuditEntry } from "../audit";
import { ARCHIVE_TABLES, type ArchiveTuning, type OPERATION_ROW_TABLES, tuningOf } from "./format";
import { type ArchiveRow, requireArchive } from "./state";

export interface PruneProgress {
  readonly state: ArchiveRow["state"];
  readonly batches: number;
}

export async function pruneArchive(
  db: D1Database,
  archiveId: string,
  options: { readonly nowMs: number; readonly batchesMax?: number; readonly tuning?: Partial<ArchiveTuning> },
): Promise<PruneProgress> {
  const page = tuningOf(options.tuning).rowsPerPage;
  const batchesMax = options.batchesMax ?? Number.POSITIVE_INFINITY;
  let batches = 0;
  for (;;) {
    const archive = await requireArchive(db, archiveId);
    if (archive.state !== "verified" || batches >= batchesMax) return { state: archive.state, batches };
    assert(archive.pruneCursor !== null, "a verified archive has its prune cursor");
    const cursor = archive.pruneCursor;
    const run = await db
      .prepare(
        `SELECT from_transfer_id AS "from", to_transfer_id AS "to" FROM ledger_archive_ranges
         WHERE archive_id = ? AND from_transfer_id <= ? ORDER BY from_transfer_id DESC LIMIT 1`,
      )
      .bind(archive.id, cursor)
      .first<{ from: number; to: number }>();
    if (run === null) {
      await db
        .prepare("UPDATE ledger_archives SET state = 'pruned', pruned_at_ms = ? WHERE id = ? AND state = 'verified'")
        .bind(options.nowMs, archive.id)
        .run();
      continue;
    }
    const hi = Math.min(run.to, cursor);
    const lo = Math.max(run.from, hi - page + 1);
    const { results } = await db
      .prepare("SELECT DISTINCT operation_id FROM transfers WHERE id BETWEEN ? AND ?")
      .bind(lo, hi)
      .all<{ operation_id: string }>();
    const ids = JSON.stringify(results.map((r) => r.operation_id));
    const ofOperations = (table: (typeof OPERATION_ROW_TABLES)[number]) =>
      db
        .prepare(`DELETE FROM ${table} WHERE ${ARCHIVE_TABLES[table][0]} IN (SELECT value FROM json_each(?))`)
        .bind(ids);
    // The page's removal carries its audit entry in the shard's chain, appended only if this
    // run moved the prune cursor (the last statement): the audit log itself is never archived.
    const audit: AuditAction = {
      actor: "system:ledger-archive",
      action: "ledger_archive.prune",
      target: archive.id,
      requestId: `archive:${options.nowMs}`,
      before: null,
      after: { fromTransferId: lo, toTransferId: hi, operations: results.length },
    };
    await batchWithAuditEntry(db, audit, [
      // Claims before their packet: a packet's claims in this page go first.
      ofOperations("transit_outbox"),
      ofOperations("tips"),
      ofOperations("red_packet_claims"),
      ofOperations("red_packets"),
      db.prepare("DELETE FROM transfers WHERE id BETWEEN ? AND ?").bind(lo, hi),
      // Every operation that leaves is remembered in the same batch (never in neither place),
      // so composeOperation still answers "exists" for its id (operation_tombstones).
      db
        .prepare(
          `INSERT INTO operation_tombstones (id, archive_id, archived_at_ms)
           SELECT id, ?, ? FROM operations WHERE id IN (SELECT value FROM json_each(?))
             AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.operation_id = operations.id)
           ON CONFLICT (id) DO NOTHING`,
        )
        .bind(archive.id, options.nowMs, ids),
      db
        .prepare(
          `DELETE FROM operations WHERE id IN (SELECT value FROM json_each(?))
             AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.operation_id = operations.id)`,
        )
        .bind(ids),
      db
        .prepare("UPDATE ledger_archives SET prune_cursor = ? WHERE id = ? AND prune_cursor = ?")
        .bind(lo - 1, archive.id, cursor),
    ]);
    batches += 1;
  }
}
