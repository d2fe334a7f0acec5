/**
 * The merge window and combos. Small tips wait in the window until the alarm closes it, then
 * go out as one merged frame (one frame per window however many tips arrived, the room's
 * answer to a tip storm); the merging itself is pure (`domain/room/merge`). A big gift goes out
 * at once and carries its combo: the same gift from the same viewer within the combo gap
 * counts up one combo. Both tables are in the room's SQLite, so an eviction loses nothing.
 * Synchronous; call the writers inside `transactionSync`.
 */

import type { TipEvent } from "../db/messages/room-events";
import { LIMITS } from "../domain/limits";
import { type MergedFrame, mergeWindow } from "../domain/room/merge";

export const WINDOW_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS window_tips (tip_id TEXT PRIMARY KEY, viewer_id TEXT NOT NULL, gift_id TEXT,
     quantity INTEGER NOT NULL, amount_minor INTEGER NOT NULL, at_ms INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS combos (viewer_id TEXT NOT NULL, gift_id TEXT NOT NULL, combo_id TEXT NOT NULL,
     count INTEGER NOT NULL, last_at_ms INTEGER NOT NULL, PRIMARY KEY (viewer_id, gift_id))`,
  // The window's tip messages (issue 16): the merged frame carries the last few.
  `CREATE TABLE IF NOT EXISTS window_messages (tip_id TEXT PRIMARY KEY, viewer_id TEXT NOT NULL, text TEXT NOT NULL,
     at_ms INTEGER NOT NULL)`,
];

/** A message shown in the room: with its tip in the big-gift lane or a merged frame, or alone once approved. */
export interface ShownMessage {
  readonly tipId: string;
  readonly viewerId: string;
  readonly text: string;
  readonly atMs: number;
}

type WindowRow = {
  tip_id: string;
  viewer_id: string;
  gift_id: string | null;
  quantity: number;
  amount_minor: number;
  at_ms: number;
};

export class MergeWindow {
  constructor(private readonly sql: SqlStorage) {}

  /** A small tip joins the open window. */
  add(tip: TipEvent): void {
    this.sql.exec(
      "INSERT INTO window_tips (tip_id, viewer_id, gift_id, quantity, amount_minor, at_ms) VALUES (?, ?, ?, ?, ?, ?)",
      tip.id,
      tip.viewerId,
      tip.giftId,
      tip.quantity,
      tip.amountMinor,
      tip.createdAtMs,
    );
    if (tip.message !== null) {
      this.sql.exec(
        "INSERT OR IGNORE INTO window_messages (tip_id, viewer_id, text, at_ms) VALUES (?, ?, ?, ?)",
        tip.id,
        tip.viewerId,
        tip.message,
        tip.createdAtMs,
      );
    }
  }

  /** Tips waiting in the open window. */
  size(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM window_tips").one().n;
  }

  /** Closes the window: its tips merged (null when it was empty), and the window emptied. */
  take(): (MergedFrame & { messages: ShownMessage[] }) | null {
    const rows = this.sql
      .exec<WindowRow>("SELECT tip_id, viewer_id, gift_id, quantity, amount_minor, at_ms FROM window_tips")
      .toArray();
    if (rows.length === 0) return null;
    this.sql.exec("DELETE FROM window_tips");
    // Only the last few: a storm of messages must not make the window's one frame big.
    const messages = this.sql
      .exec<{ tip_id: string; viewer_id: string; text: string; at_ms: number }>(
        "SELECT tip_id, viewer_id, text, at_ms FROM window_messages ORDER BY at_ms DESC, tip_id DESC LIMIT ?",
        LIMITS.mergedMessagesMax,
      )
      .toArray()
      .reverse()
      .map((r) => ({ tipId: r.tip_id, viewerId: r.viewer_id, text: r.text, atMs: r.at_ms }));
    this.sql.exec("DELETE FROM window_messages");
    const merged = mergeWindow(
      rows.map((r) => ({
        tipId: r.tip_id,
        viewerId: r.viewer_id,
        giftId: r.gift_id,
        quantity: r.quantity,
        amountMinor: r.amount_minor,
        atMs: r.at_ms,
      })),
      LIMITS.comboGapMs,
      LIMITS.mergedTopTippersMax,
    );
    return { ...merged, messages };
  }

  /** Same gift, same viewer, within the combo gap: the same combo, one more. */
  nextCombo(tip: TipEvent): { id: string; count: number } {
    const giftKey = tip.giftId ?? `custom:${tip.amountMinor}`;
    const row = this.sql
      .exec<{ combo_id: string; count: number; last_at_ms: number }>(
        "SELECT combo_id, count, last_at_ms FROM combos WHERE viewer_id = ? AND gift_id = ?",
        tip.viewerId,
        giftKey,
      )
      .toArray()[0];
    const continues = row !== undefined && tip.createdAtMs - row.last_at_ms <= LIMITS.comboGapMs;
    const comboId = continues ? row.combo_id : `combo_${tip.id}`;
    const count = (continues ? row.count : 0) + tip.quantity;
    this.sql.exec(
      `INSERT INTO combos (viewer_id, gift_id, combo_id, count, last_at_ms) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (viewer_id, gift_id) DO UPDATE SET combo_id = excluded.combo_id, count = excluded.count, last_at_ms = excluded.last_at_ms`,
      tip.viewerId,
      giftKey,
      comboId,
      count,
      Math.max(tip.createdAtMs, row?.last_at_ms ?? 0),
    );
    return { id: comboId, count };
  }

  /** A new stream starts every combo afresh. */
  resetCombos(): void {
    this.sql.exec("DELETE FROM combos");
  }
}
