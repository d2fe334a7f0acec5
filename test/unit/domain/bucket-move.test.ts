import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { advance, type BucketMove, copyAllowed, readShards, writeShard } from "../../../src/domain/bucket-move";

const BUCKET = 7;
const start: BucketMove = { bucket: BUCKET, fromShard: 0, toShard: 1, phase: "copying" };

/**
 * A model of two shards holding one bucket's rows (row id → value), a copier that copies the
 * old shard's rows to the new one whenever it runs, writers that insert new rows or update
 * existing ones, and the operator advancing the move. Only the copy made while frozen is
 * required before switching, as the procedure says.
 */
const steps = fc.array(
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constant("write" as const),
        row: fc.integer({ min: 0, max: 20 }),
        value: fc.integer(),
      }),
    },
    { weight: 2, arbitrary: fc.constant({ kind: "copy" as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: "advance" as const }) },
  ),
  { maxLength: 80 },
);

describe("moving a bucket between shards", () => {
  it("routes writes to the old shard while copying, refuses them while frozen, then sends them to the new one", () => {
    const phases = [start, advance(start), advance(advance(start)), advance(advance(advance(start)))];
    expect(phases.map((m) => writeShard(BUCKET, 0, m))).toEqual([0, "retry", 1, 1]);
    expect(phases.map((m) => readShards(BUCKET, 0, m))).toEqual([[0], [0], [1, 0], [1]]);
    // Other buckets are untouched by the move.
    expect(writeShard(8, 0, { ...start, phase: "frozen" })).toBe(0);
    expect(readShards(8, 3, { ...start, phase: "switched" })).toEqual([3]);
  });

  it("copies only before the switch", () => {
    const phases = [start, advance(start), advance(advance(start)), advance(advance(advance(start)))];
    expect(phases.map(copyAllowed)).toEqual([true, true, false, false]);
  });

  it("only goes forward, and stops at done", () => {
    let move = start;
    for (let i = 0; i < 4; i++) move = advance(move);
    expect(move.phase).toBe("done");
    expect(() => advance(move)).toThrow("a move that is done does not advance");
  });

  it("loses, doubles and misroutes nothing: after any interleaving, the new shard holds every row's last write", () => {
    fc.assert(
      fc.property(steps, (plan) => {
        const shards = [new Map<number, number>(), new Map<number, number>()];
        const truth = new Map<number, number>(); // what the writers were told succeeded
        let move = start;
        let copiedWhileFrozen = false;
        const copy = () => {
          for (const [row, value] of shards[0] as Map<number, number>)
            (shards[1] as Map<number, number>).set(row, value);
          if (move.phase === "frozen") copiedWhileFrozen = true;
        };
        for (const step of plan) {
          if (step.kind === "copy") {
            if (copyAllowed(move)) copy();
          } else if (step.kind === "advance") {
            if (move.phase === "done") continue;
            // The procedure: switch only after a copy made while frozen; finish only what is verified.
            if (move.phase === "frozen" && !copiedWhileFrozen) copy();
            move = advance(move);
          } else {
            const shard = writeShard(BUCKET, 0, move);
            if (shard === "retry") continue; // the writer retries later; nothing was written
            (shards[shard] as Map<number, number>).set(step.row, step.value);
            truth.set(step.row, step.value);
          }
          // Every read finds the last acknowledged write of every row, in every phase.
          for (const [row, value] of truth) {
            const found = readShards(BUCKET, 0, move)
              .map((s) => shards[s]?.get(row))
              .find((v) => v !== undefined);
            expect(found).toBe(value);
          }
        }
        // Finish the move and check the new shard alone.
        while (move.phase !== "done") {
          if (move.phase === "frozen" && !copiedWhileFrozen) copy();
          move = advance(move);
        }
        expect(new Map(shards[1])).toEqual(truth);
      }),
    );
  });
});
