import { assert } from "./limits";

/**
 * A k-way merge of sorted, paged sources into one (createdAtMs, id) order: what a creator's
 * statement needs to list income whose rows are spread over every ledger shard and over two
 * tables (tips and paid unlocks). Each source is read `pageRows` at a time strictly after its
 * own position, and the smallest head is taken next, so memory is bounded by sources × pageRows
 * whatever the period's size.
 *
 * Resuming after the last line a page showed (its key) never repeats or skips a line, as long
 * as keys are unique across all sources: every source answers "strictly after (ms, id)".
 */

/** A position in (time, id) order. */
export interface MergeKey {
  readonly ms: number;
  readonly id: string;
}

/** A line in (time, id) order. */
export interface Keyed {
  readonly createdAtMs: number;
  readonly id: string;
}

/** Up to `limit` lines strictly after `after`, in (createdAtMs, id) order. */
export type PageSource<T extends Keyed> = (after: MergeKey, limit: number) => Promise<readonly T[]>;

export function keyBefore(a: Keyed, b: Keyed): boolean {
  return a.createdAtMs < b.createdAtMs || (a.createdAtMs === b.createdAtMs && a.id < b.id);
}

/** Before any line whose time is 0 or later. */
export const MERGE_START: MergeKey = { ms: -1, id: "" };

interface SourceCursor<T extends Keyed> {
  readonly read: PageSource<T>;
  buffer: T[];
  after: MergeKey;
  done: boolean;
}

export class OrderedMerge<T extends Keyed> {
  private readonly sources: SourceCursor<T>[];

  constructor(
    sources: readonly PageSource<T>[],
    after: MergeKey,
    private readonly pageRows: number,
  ) {
    assert(Number.isSafeInteger(pageRows) && pageRows >= 1, "a merge reads at least one row a page");
    this.sources = sources.map((read) => ({ read, buffer: [], after: { ...after }, done: false }));
  }

  /** The next line, or null when every source is exhausted. */
  async next(): Promise<T | null> {
    await Promise.all(this.sources.filter((s) => s.buffer.length === 0 && !s.done).map((s) => this.refill(s)));
    let best: SourceCursor<T> | null = null;
    for (const s of this.sources) {
      const head = s.buffer[0];
      if (head && (best === null || keyBefore(head, best.buffer[0] as T))) best = s;
    }
    return best?.buffer.shift() ?? null;
  }

  /** Up to `n` next lines. */
  async take(n: number): Promise<T[]> {
    const rows: T[] = [];
    while (rows.length < n) {
      const row = await this.next();
      if (row === null) break;
      rows.push(row);
    }
    return rows;
  }

  private async refill(s: SourceCursor<T>): Promise<void> {
    const rows = [...(await s.read(s.after, this.pageRows))];
    assert(rows.length <= this.pageRows, "a source answers at most a page");
    let previous: Keyed = { createdAtMs: s.after.ms, id: s.after.id };
    for (const row of rows) {
      // A source out of order, or repeating its cursor, would break the never-repeat promise.
      assert(keyBefore(previous, row), "a source's lines are strictly after its cursor, in order");
      previous = row;
    }
    s.buffer = rows;
    const last = rows.at(-1);
    if (last) s.after = { ms: last.createdAtMs, id: last.id };
    if (rows.length < this.pageRows) s.done = true;
  }
}
