/**
 * Whether a shard's history for a time range is all live, or partly archived. A read of
 * history (a statement, a tip list, an account's transfers) that reaches into an archived
 * period answers with what is live and says which archives hold the rest, e.g.
 * `"archived": [{ "archiveId": "arc-s0-000000123456", … }]`: the rows are in R2, under the
 * archive's manifest, and can be read back into a spare shard (reimport.ts).
 *
 * An archive counts from the moment it is verified (its rows may start leaving then). Its time
 * span is that of the transfers it actually holds, not the period asked for: an archive may
 * hold older operations that stayed live through earlier archives (retention.ts), and rows
 * stamped near its cut by a skewed clock may fall either side of it (start.ts).
 */

export interface ArchivedSpan {
  readonly archiveId: string;
  readonly shard: number;
  readonly state: "verified" | "pruned";
  /** The creation times of the archived transfers, `[fromMs, toMs)`. */
  readonly fromMs: number;
  readonly toMs: number;
  readonly manifestKey: string;
}

export interface HistoryCoverage {
  /** True when no archive holds anything from the range: live rows are the whole history. */
  readonly complete: boolean;
  readonly archived: readonly ArchivedSpan[];
}

interface Row {
  id: string;
  shard: number;
  state: "verified" | "pruned";
  min_created_at_ms: number;
  max_created_at_ms: number;
  manifest_key: string;
}

const spanOf = (r: Row): ArchivedSpan => ({
  archiveId: r.id,
  shard: r.shard,
  state: r.state,
  fromMs: r.min_created_at_ms,
  toMs: r.max_created_at_ms + 1,
  manifestKey: r.manifest_key,
});

const ARCHIVED = `SELECT id, shard, state, min_created_at_ms, max_created_at_ms, manifest_key FROM ledger_archives
  WHERE state IN ('verified', 'pruned') AND min_created_at_ms IS NOT NULL`;

/** The archives holding transfers created in `[fromMs, toMs)`, oldest first. */
export async function historyCoverage(
  db: D1Database,
  fromMs: number,
  toMs: number = Number.MAX_SAFE_INTEGER,
): Promise<HistoryCoverage> {
  const { results } = await db
    .prepare(`${ARCHIVED} AND min_created_at_ms < ? AND max_created_at_ms >= ? ORDER BY min_created_at_ms, id`)
    .bind(toMs, fromMs)
    .all<Row>();
  return { complete: results.length === 0, archived: results.map(spanOf) };
}

/**
 * The time before which the shard's live history may be incomplete (null when nothing is
 * archived), with the archives that hold the rest.
 */
export async function archivedBefore(
  db: D1Database,
): Promise<{ readonly beforeMs: number | null; readonly archived: readonly ArchivedSpan[] }> {
  const { results } = await db.prepare(`${ARCHIVED} ORDER BY min_created_at_ms, id`).all<Row>();
  const archived = results.map(spanOf);
  return { beforeMs: archived.length === 0 ? null : Math.max(...archived.map((a) => a.toMs)), archived };
}
