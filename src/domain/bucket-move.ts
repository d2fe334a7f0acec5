/**
 * Moving one bucket of owners from one ledger shard to another (docs/SCALING.md has the
 * procedure an operator runs). The move is a small state machine; these pure functions say,
 * in each phase, where an owner's writes go and where their reads look, so that no write is
 * lost, doubled or sent to the wrong shard while rows are copied.
 *
 *   copying ──▶ frozen ──▶ switched ──▶ verified ──▶ done
 *
 * - copying: writes still go to the old shard; a copier copies the bucket's rows to the new
 *   one (idempotent, by primary key), as often as it likes.
 * - frozen: writes for the bucket are refused as retryable (a few seconds) while the last
 *   rows are copied, so nothing is written after the final copy.
 * - switched: the bucket map points at the new shard; writes go there; reads look there
 *   first and fall back to the old shard (the dual-read window).
 * - verified: per-owner balances and row digests agree between the two shards; reads stop
 *   falling back, and the old shard's rows of the bucket may be deleted (done).
 */

import { assert } from "./limits";

export const MOVE_PHASES = ["copying", "frozen", "switched", "verified", "done"] as const;
export type MovePhase = (typeof MOVE_PHASES)[number];

export interface BucketMove {
  readonly bucket: number;
  readonly fromShard: number;
  readonly toShard: number;
  readonly phase: MovePhase;
}

/** The next phase; a move only goes forward, one phase at a time. */
export function advance(move: BucketMove): BucketMove {
  const i = MOVE_PHASES.indexOf(move.phase);
  assert(i >= 0 && i < MOVE_PHASES.length - 1, "a move that is done does not advance");
  return { ...move, phase: MOVE_PHASES[i + 1] as MovePhase };
}

/** Where a write for an owner of `bucket` goes: a shard, or "retry" while the bucket is frozen. */
export function writeShard(bucket: number, mappedShard: number, move: BucketMove | null): number | "retry" {
  if (move === null || move.bucket !== bucket) return mappedShard;
  switch (move.phase) {
    case "copying":
      return move.fromShard;
    case "frozen":
      return "retry";
    case "switched":
    case "verified":
    case "done":
      return move.toShard;
  }
}

/** Where a read for an owner of `bucket` looks, in order (a row found in the first wins). */
export function readShards(bucket: number, mappedShard: number, move: BucketMove | null): readonly number[] {
  if (move === null || move.bucket !== bucket) return [mappedShard];
  switch (move.phase) {
    case "copying":
    case "frozen":
      return [move.fromShard];
    case "switched":
      return [move.toShard, move.fromShard];
    case "verified":
    case "done":
      return [move.toShard];
  }
}

/**
 * Whether the copier may copy the bucket's rows from the old shard to the new one. Only
 * before the switch: afterwards the new shard takes writes, and a late copy of an old row
 * would overwrite a newer one (the model test finds exactly that if this says yes).
 */
export function copyAllowed(move: BucketMove): boolean {
  return move.phase === "copying" || move.phase === "frozen";
}
