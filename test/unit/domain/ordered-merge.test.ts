import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type Keyed,
  keyBefore,
  MERGE_START,
  type MergeKey,
  OrderedMerge,
  type PageSource,
} from "../../../src/domain/ordered-merge";

interface Line extends Keyed {
  readonly source: number;
}

/** A source over sorted lines in memory, answering like the SQL: strictly after, at most `limit`. */
function memorySource(lines: readonly Line[], reads: { n: number }): PageSource<Line> {
  const sorted = [...lines].sort((a, b) => (keyBefore(a, b) ? -1 : keyBefore(b, a) ? 1 : 0));
  return async (after, limit) => {
    reads.n++;
    return sorted.filter((l) => keyBefore({ createdAtMs: after.ms, id: after.id }, l)).slice(0, limit);
  };
}

/**
 * Lines with unique ids over `sources` sources; times from a small range so that many share a
 * millisecond within and across sources (the ties the id breaks).
 */
const linesArb = (sources: number) =>
  fc
    .uniqueArray(
      fc.record({
        createdAtMs: fc.integer({ min: 0, max: 12 }),
        id: fc.stringMatching(/^(tip|unl)_[a-z0-9]{1,4}$/),
        source: fc.integer({ min: 0, max: sources - 1 }),
      }),
      { selector: (l) => l.id, maxLength: 60 },
    )
    .map((ls) => ls as Line[]);

function merged(lines: readonly Line[], sources: number, after: MergeKey, pageRows: number) {
  const reads = { n: 0 };
  const merge = new OrderedMerge(
    Array.from({ length: sources }, (_, k) =>
      memorySource(
        lines.filter((l) => l.source === k),
        reads,
      ),
    ),
    after,
    pageRows,
  );
  return { merge, reads };
}

const byKey = (a: Keyed, b: Keyed) => (keyBefore(a, b) ? -1 : keyBefore(b, a) ? 1 : 0);

describe("the ordered merge of paged sources", () => {
  it("yields every line of every source once, in (time, id) order, whatever the read size", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }).chain((k) => fc.tuple(fc.constant(k), linesArb(k))),
        fc.integer({ min: 1, max: 8 }),
        async ([sources, lines], pageRows) => {
          const { merge } = merged(lines, sources, MERGE_START, pageRows);
          const out = await merge.take(1_000);
          expect(out.map((l) => l.id)).toEqual([...lines].sort(byKey).map((l) => l.id));
          expect(await merge.next()).toBeNull();
        },
      ),
    );
  });

  it("resumed after the last line of each page, pages of any size list every line exactly once, in order", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }).chain((k) => fc.tuple(fc.constant(k), linesArb(k))),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 8 }),
        async ([sources, lines], limit, pageRows) => {
          // As the route pages: a fresh merge from the cursor, limit + 1 taken to know if there is more.
          const seen: Line[] = [];
          let cursor: MergeKey = MERGE_START;
          for (let pages = 0; ; pages++) {
            expect(pages).toBeLessThanOrEqual(lines.length);
            const rows = await merged(lines, sources, cursor, pageRows).merge.take(limit + 1);
            const page = rows.slice(0, limit);
            seen.push(...page);
            const last = page.at(-1);
            if (rows.length <= limit || last === undefined) break;
            cursor = { ms: last.createdAtMs, id: last.id };
          }
          expect(seen.map((l) => l.id)).toEqual([...lines].sort(byKey).map((l) => l.id));
        },
      ),
    );
  });

  it("reads each source a page at a time, not all at once", async () => {
    const lines: Line[] = Array.from({ length: 30 }, (_, i) => ({ createdAtMs: i, id: `tip_${i}`, source: i % 3 }));
    const { merge, reads } = merged(lines, 3, MERGE_START, 4);
    expect((await merge.take(5)).map((l) => l.createdAtMs)).toEqual([0, 1, 2, 3, 4]);
    // Three first pages of 4, and source 0's second when its first ran out (it gave 0, 3).
    expect(reads.n).toBe(3);
    expect((await merge.take(100)).length).toBe(25);
    // Each source of 10 lines: pages of 4, 4, 2 (the short page ends it).
    expect(reads.n).toBe(9);
  });

  it("refuses a source that answers out of order or repeats its cursor (a bug, not a value)", async () => {
    const backwards: PageSource<Keyed> = async () => [
      { createdAtMs: 2, id: "tip_b" },
      { createdAtMs: 1, id: "tip_a" },
    ];
    await expect(new OrderedMerge([backwards], MERGE_START, 5).take(5)).rejects.toThrow(/strictly after/);
    const repeats: PageSource<Keyed> = async (after) => [{ createdAtMs: after.ms, id: after.id }];
    await expect(new OrderedMerge([repeats], { ms: 3, id: "tip_x" }, 5).take(5)).rejects.toThrow(/strictly after/);
    expect(() => new OrderedMerge([], MERGE_START, 0)).toThrow();
  });
});
