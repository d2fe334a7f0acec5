/**
 * The room's leaderboards: every tip adds to its viewer's row for this stream, today, this
 * week and this month (day, week and month in the leaderboard time zone). Ranks are read
 * here, from the room's SQLite, at once; D1 gets the changed rows at most one window late
 * (rows stay `dirty` until a D1 write of exactly that state succeeded), for the global
 * creator ranking. Synchronous: the D1 statements are built here and awaited by the room.
 */

import type { TipEvent } from "../db/messages/room-events";
import { assert, LIMITS } from "../domain/limits";
import { type Period, periodKeys } from "../domain/room/periods";
import type { Leaderboard } from "./live-room.protocol";

export const LEADERBOARD_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS board (period TEXT NOT NULL, period_key TEXT NOT NULL, viewer_id TEXT NOT NULL,
     total_minor INTEGER NOT NULL, tip_count INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL, dirty INTEGER NOT NULL,
     PRIMARY KEY (period, period_key, viewer_id))`,
  `CREATE INDEX IF NOT EXISTS board_rank ON board (period, period_key, total_minor DESC, viewer_id)`,
  `CREATE INDEX IF NOT EXISTS board_dirty ON board (dirty) WHERE dirty = 1`,
];

/** A board row changed since it was last written to D1. */
export type DirtyRow = {
  period: string;
  period_key: string;
  viewer_id: string;
  total_minor: number;
  tip_count: number;
  updated_at_ms: number;
};

export class Leaderboards {
  constructor(private readonly sql: SqlStorage) {}

  /** Adds a tip to its viewer's row in every period; the tip's own time picks the day, week and month. */
  add(tip: TipEvent, timeZone: string, nowMs: number): void {
    const keys = periodKeys(tip.createdAtMs, timeZone);
    const periods: [Period, string][] = [
      ["live", tip.streamId],
      ["day", keys.day],
      ["week", keys.week],
      ["month", keys.month],
    ];
    for (const [period, key] of periods) {
      this.sql.exec(
        `INSERT INTO board (period, period_key, viewer_id, total_minor, tip_count, updated_at_ms, dirty)
         VALUES (?, ?, ?, ?, 1, ?, 1)
         ON CONFLICT (period, period_key, viewer_id) DO UPDATE SET
           total_minor = total_minor + excluded.total_minor, tip_count = tip_count + 1,
           updated_at_ms = excluded.updated_at_ms, dirty = 1`,
        period,
        key,
        tip.viewerId,
        tip.amountMinor,
        nowMs,
      );
    }
  }

  /**
   * The top `limit` of one period's board, and the viewer's own rank when they are on it.
   * `periodKey` null (no stream yet for `live`) reads as an empty board.
   */
  read(period: Period, periodKey: string | null, viewerId: string | null, limit: number): Leaderboard {
    assert(
      Number.isInteger(limit) && limit >= 1 && limit <= LIMITS.leaderboardTopMax,
      "leaderboard limit within bounds",
    );
    if (periodKey === null) return { period, periodKey: "", top: [], me: null };
    const top = this.sql
      .exec<{ viewer_id: string; total_minor: number; tip_count: number }>(
        "SELECT viewer_id, total_minor, tip_count FROM board WHERE period = ? AND period_key = ? ORDER BY total_minor DESC, viewer_id LIMIT ?",
        period,
        periodKey,
        limit,
      )
      .toArray()
      .map((r, i) => ({ rank: i + 1, viewerId: r.viewer_id, totalMinor: r.total_minor, tipCount: r.tip_count }));
    return { period, periodKey, top, me: viewerId === null ? null : this.rankOf(period, periodKey, viewerId) };
  }

  private rankOf(period: Period, periodKey: string, viewerId: string): Leaderboard["me"] {
    const mine = this.sql
      .exec<{ total_minor: number; tip_count: number }>(
        "SELECT total_minor, tip_count FROM board WHERE period = ? AND period_key = ? AND viewer_id = ?",
        period,
        periodKey,
        viewerId,
      )
      .toArray()[0];
    if (!mine) return null;
    const ahead = this.sql
      .exec<{ n: number }>(
        `SELECT COUNT(*) AS n FROM board WHERE period = ? AND period_key = ?
           AND (total_minor > ? OR (total_minor = ? AND viewer_id < ?))`,
        period,
        periodKey,
        mine.total_minor,
        mine.total_minor,
        viewerId,
      )
      .one().n;
    return { rank: ahead + 1, viewerId, totalMinor: mine.total_minor, tipCount: mine.tip_count };
  }

  hasDirty(): boolean {
    return this.sql.exec<{ n: number }>("SELECT EXISTS (SELECT 1 FROM board WHERE dirty = 1) AS n").one().n === 1;
  }

  /** Changed rows, a D1 batch's worth at a time. */
  dirtyRows(): DirtyRow[] {
    return this.sql
      .exec<DirtyRow>(
        "SELECT period, period_key, viewer_id, total_minor, tip_count, updated_at_ms FROM board WHERE dirty = 1 LIMIT ?",
        LIMITS.leaderboardRowsPerFlushMax,
      )
      .toArray();
  }

  /**
   * The D1 upserts for `rows`. A row never lowers a stored total, so a late write of an older
   * state (a retry racing a newer flush) cannot undo a newer one.
   */
  upserts(db: D1Database, roomId: string, creatorId: string, rows: readonly DirtyRow[]): D1PreparedStatement[] {
    const upsert = db.prepare(
      `INSERT INTO leaderboard_entries (room_id, creator_id, period, period_key, viewer_id, total_minor, tip_count, updated_at_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (room_id, period, period_key, viewer_id) DO UPDATE SET
         total_minor = excluded.total_minor, tip_count = excluded.tip_count, updated_at_ms = excluded.updated_at_ms
       WHERE excluded.total_minor >= leaderboard_entries.total_minor`,
    );
    return rows.map((r) =>
      upsert.bind(roomId, creatorId, r.period, r.period_key, r.viewer_id, r.total_minor, r.tip_count, r.updated_at_ms),
    );
  }

  /** After D1 took `rows`: only rows unchanged since they were read become clean; newer updates stay dirty. */
  markWritten(rows: readonly DirtyRow[]): void {
    for (const r of rows) {
      this.sql.exec(
        "UPDATE board SET dirty = 0 WHERE period = ? AND period_key = ? AND viewer_id = ? AND updated_at_ms = ? AND total_minor = ?",
        r.period,
        r.period_key,
        r.viewer_id,
        r.updated_at_ms,
        r.total_minor,
      );
    }
  }
}
