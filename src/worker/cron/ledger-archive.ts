import { advanceArchive } from "../../db/archive/advance";
import { ARCHIVE_LIMITS } from "../../db/archive/format";
import { purgeOperationTombstones } from "../../db/archive/tombstones";
import { finalThrough } from "../../db/dashboard-rollup";
import { openLedger } from "../../db/shards";
import { businessDayOf } from "../../domain/business-day";
import { DASHBOARD_LIMITS } from "../../domain/dashboard";
import { LIMITS } from "../../domain/limits";
import { configFrom } from "../../platform/config";
import type { Logger } from "../../platform/logger";

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The end of the last UTC day that closed at least `periodSettleMs` ago: archives cover whole
 * days, and a day is archived once nothing reads its rows by time any more (format.ts); the
 * ids of its operations stay known as tombstones (operation_tombstones).
 */
export function settledPeriodEndMs(nowMs: number): number {
  return Math.floor((nowMs - ARCHIVE_LIMITS.periodSettleMs) / DAY_MS) * DAY_MS;
}

/**
 * The last business day whose rows an archive ending at `beforeMs` may take: rows are cut by
 * transfer id, and one stamped up to an hour (the writers' clocks) after `beforeMs` can fall
 * below the cut. Every day through it must have a final dashboard rollup before that archive starts.
 */
export function rollupNeededThrough(beforeMs: number, timeZone: string): string {
  return businessDayOf(beforeMs + DASHBOARD_LIMITS.finalAfterMs, timeZone);
}

/**
 * `beforeMs` when this shard's dashboard rollup is final through every day an archive ending
 * there may take rows of; null (continue an archive in progress, start none) until it is.
 */
export async function archivableBeforeMs(db: D1Database, beforeMs: number, timeZone: string): Promise<number | null> {
  const final = await finalThrough(db);
  return final !== null && final >= rollupNeededThrough(beforeMs, timeZone) ? beforeMs : null;
}

export interface LedgerArchiveFigures {
  /** Export steps and prune batches done, over all shards. */
  readonly steps: number;
  /** The archives that moved, with the state each reached. */
  readonly archives: readonly { readonly shard: number; readonly archiveId: string; readonly state: string }[];
  /** Operation tombstones past `LIMITS.operationIdMemoryMs` purged, over all shards. */
  readonly tombstonesPurged: number;
  /** Shards that started no archive because the dashboard's rollup of the period is not final yet. */
  readonly rollupPending: number;
  /** Shards whose archive failed verification, or that refused to start one for a reason other than "nothing to do". */
  readonly alerts: number;
}

/**
 * Moves each ledger shard's settled days to R2 (src/db/archive, docs/SCALING.md, Archival):
 * one bounded slice of the state machine per shard per minute, `ledgerArchiveStepsPerShardMax`
 * steps at most, so a day's export and prune spread over many runs and each run stays short.
 * Every slice records its progress with its effect, so a run cut short anywhere is continued
 * by the next. Each run also forgets, per shard, a bounded number of archived operation ids
 * older than `LIMITS.operationIdMemoryMs` (operation_tombstones). A shard that throws is
 * reported and the others still advance; a failed verification has already sent its archive
 * back to export the damaged file again (or, for a checkpoint that does not balance, stopped
 * it: a bug), so the alert is for a human to look.
 */
export async function advanceLedgerArchives(env: Env, nowMs: number, log: Logger): Promise<LedgerArchiveFigures> {
  // The bucket map's cache runs on the wall clock, not on the run's `nowMs` (which tests move).
  const ledger = await openLedger(env);
  const beforeMs = settledPeriodEndMs(nowMs);
  const timeZone = configFrom(env).businessTimeZone;
  let steps = 0;
  let rollupPending = 0;
  let tombstonesPurged = 0;
  let alerts = 0;
  const archives: { shard: number; archiveId: string; state: string }[] = [];
  for (const shard of ledger.shards) {
    try {
      tombstonesPurged += await purgeOperationTombstones(shard.db, { nowMs });
      // The dashboard's rollups are computed from live rows: a period leaves only once they are final.
      const archivable = await archivableBeforeMs(shard.db, beforeMs, timeZone);
      if (archivable === null) rollupPending += 1;
      const outcome = await advanceArchive(shard.db, env.LEDGER_ARCHIVE, {
        shard: shard.index,
        beforeMs: archivable,
        nowMs,
        stepsMax: LIMITS.ledgerArchiveStepsPerShardMax,
      });
      if (outcome.kind === "advanced") {
        steps += outcome.steps;
        archives.push({ shard: shard.index, archiveId: outcome.archiveId, state: outcome.state });
      } else if (outcome.kind === "verify_failed") {
        alerts += 1;
        log.error("alert_ledger_archive_verify_failed", {
          shard: shard.index,
          archiveId: outcome.archiveId,
          code: outcome.code,
          detail: outcome.detail,
        });
      } else if (outcome.refusal !== null && outcome.refusal !== "nothing_to_archive") {
        alerts += 1;
        log.error("alert_ledger_archive_refused", { shard: shard.index, beforeMs, code: outcome.refusal });
      }
    } catch (error) {
      alerts += 1;
      log.error("alert_ledger_archive_failed", {
        shard: shard.index,
        error: String(error),
        stack: error instanceof Error ? error.stack : undefined,
      });
    }
  }
  return { steps, archives, tombstonesPurged, rollupPending, alerts };
}
