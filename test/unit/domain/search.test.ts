import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  compareNewestFirst,
  decodePageCursor,
  decodeSearchCursor,
  encodePageCursor,
  encodeSearchCursor,
  isAfter,
  type Keyed,
  mergeShardPages,
  type SearchCursor,
} from "../../../src/domain/search";

/** What one shard answers for a cursor: its first `limit + 1` records after it, in order (the SQL). */
function shardAnswer(records: readonly Keyed[], cursor: SearchCursor | null, limit: number): Keyed[] {
  return records
    .filter((r) => isAfter(r, cursor))
    .sort(compareNewestFirst)
    .slice(0, limit + 1);
}

const record = fc.record({
  atMs: fc.integer({ min: 0, max: 20 }),
  id: fc.stringMatching(/^[a-e]{1,3}$/),
});

describe("search pages merged across shards", () => {
  it("walking the pages returns every record exactly once, newest first, whatever the shards and page size", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(record, { maxLength: 30 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 7 }),
        (shards, limit) => {
          // Ids are unique across the ledger: keep each (time, id) in one shard only.
          const seen = new Set<string>();
          const placed = shards.map((rs) =>
            rs.filter((r) => !seen.has(r.id) && seen.add(r.id)).map((r) => ({ ...r, preferred: true })),
          );
          const expected = placed.flat().sort(compareNewestFirst);
          const walked: Keyed[] = [];
          let cursor: SearchCursor | null = null;
          for (let pageNo = 0; pageNo <= expected.length + 1; pageNo++) {
            const { items, more } = mergeShardPages(
              placed.map((rs) => shardAnswer(rs, cursor, limit)),
              limit,
            );
            expect(items.length).toBeLessThanOrEqual(limit);
            walked.push(...items);
            const last = items[items.length - 1];
            if (!more || last === undefined) break;
            expect(items.length).toBe(limit);
            cursor = { atMs: last.atMs, id: last.id };
          }
          expect(walked.map((r) => `${r.atMs}/${r.id}`)).toEqual(expected.map((r) => `${r.atMs}/${r.id}`));
        },
      ),
    );
  });

  it("a record copied into a second shard (a bucket move's copy) is listed once, from the preferred shard", () => {
    const stale = { atMs: 5, id: "order_a", preferred: false, state: "pending" };
    const fresh = { atMs: 5, id: "order_a", preferred: true, state: "succeeded" };
    const other = { atMs: 4, id: "order_b", preferred: true, state: "created" };
    const { items, more } = mergeShardPages([[stale, other], [fresh]], 10);
    expect(items).toEqual([fresh, other]);
    expect(more).toBe(false);
  });

  it("a cursor decodes only for its own kind, and nothing malformed decodes", () => {
    const cursor = encodeSearchCursor("tips", { atMs: 1_764_000_000_000, id: "tip_01KB2" });
    expect(decodeSearchCursor("tips", cursor)).toEqual({ atMs: 1_764_000_000_000, id: "tip_01KB2" });
    expect(decodeSearchCursor("orders", cursor)).toBeNull();
    for (const bad of ["", "!!", "e30", "W10", btoa('["tips",-1,"x"]'), btoa('["tips",1.5,"x"]'), "x".repeat(300)]) {
      expect(decodeSearchCursor("tips", bad)).toBeNull();
    }
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        const decoded = decodeSearchCursor("users", text);
        if (decoded !== null) expect(Number.isSafeInteger(decoded.atMs)).toBe(true);
      }),
    );
  });

  it("another listing's page cursor (a content item's tips) round-trips and is no search's, nor a search's its", () => {
    const at = { atMs: 1_764_000_000_000, id: "tip_01KB2" };
    const page = encodePageCursor("content_tips", at);
    expect(decodePageCursor("content_tips", page)).toEqual(at);
    expect(decodeSearchCursor("tips", page)).toBeNull();
    expect(decodePageCursor("content_tips", encodeSearchCursor("tips", at))).toBeNull();
  });
});
