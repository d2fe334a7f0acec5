/**
 * The archival state machine for one shard, one bounded slice per call (what a cron job
 * runs): continue the archive in progress — export, verify, prune — or, when there is none
 * and a period is due, start the next one. Every step is idempotent and records its progress
 * with its effect, so calling this again after any failure continues where it stopped.
 */

import { exportArchive } from "./export";
import { pruneArchive } from "./prune";
import { type StartRefusal, startArchive } from "./start";
import { type ArchiveState, archiveInProgress } from "./state";
import { type VerifyFailure, verifyArchive } from "./verify";

export interface AdvanceRequest {
  readonly shard: number;
  /** The end of the next period to start, if one is due (null: only continue). */
  readonly beforeMs: number | null;
  readonly nowMs: number;
  /** Export steps (a span planned or a file uploaded) plus prune batches, in this call. */
  readonly stepsMax: number;
}

export type AdvanceOutcome =
  | { readonly kind: "idle"; readonly refusal: StartRefusal | null }
  | { readonly kind: "advanced"; readonly archiveId: string; readonly state: ArchiveState; readonly steps: number }
  | {
      readonly kind: "verify_failed";
      readonly archiveId: string;
      readonly code: VerifyFailure;
      readonly detail: string;
    };

export async function advanceArchive(
  db: D1Database,
  bucket: R2Bucket,
  request: AdvanceRequest,
): Promise<AdvanceOutcome> {
  const { nowMs } = request;
  let archive = await archiveInProgress(db);
  if (archive === null) {
    if (request.beforeMs === null) return { kind: "idle", refusal: null };
    const started = await startArchive(db, { shard: request.shard, beforeMs: request.beforeMs, nowMs });
    if (!started.ok) return { kind: "idle", refusal: started.code };
    archive = started.archive;
  }
  let steps = 0;
  let state = archive.state;
  if (state === "exporting") {
    const progress = await exportArchive(db, bucket, archive.id, { nowMs, stepsMax: request.stepsMax });
    steps += progress.steps;
    state = progress.state;
  }
  if (state === "exported") {
    const verified = await verifyArchive(db, bucket, archive.id, nowMs);
    if (!verified.ok) {
      return { kind: "verify_failed", archiveId: archive.id, code: verified.code, detail: verified.detail };
    }
    state = verified.archive.state;
  }
  if (state === "verified" && steps < request.stepsMax) {
    const progress = await pruneArchive(db, archive.id, { nowMs, batchesMax: request.stepsMax - steps });
    steps += progress.batches;
    state = progress.state;
  }
  return { kind: "advanced", archiveId: archive.id, state, steps };
}
