/**
 * The room's notices to its creator's inbox: tips merged per minute ("23 gifts, ¥188.00 in
 * the last minute") and one notice per big gift. The room sees every committed tip exactly
 * once (live-room.ts applies each tip id once, whether it came from its own group commit or
 * from the outbox), so counting here counts each tip once.
 *
 * A tip counts in the minute the room APPLIED it (its own group commit applies within
 * milliseconds of the commit; an outbox redelivery counts in the minute it arrives). Keyed so,
 * a minute is closed for good once the clock passes its end: no tip can join a minute already
 * sent, so nothing is counted twice and nothing is dropped for arriving late. Minutes are UTC
 * minutes, which are the business time zone's minutes too (zone offsets are whole minutes).
 *
 * Everything is in the room's SQLite and written in the same transaction as the tip's apply,
 * so a restart mid-minute loses nothing: the minute is sent by the next alarm after it closes.
 * Sending: a closed minute becomes an outbox row (same transaction that deletes the minute),
 * the outbox goes to the CREATOR_NOTICES queue, and rows are deleted only after the queue
 * accepted them. A crash between the send and the delete sends again: the notice id
 * (`tips:{creator}:{minuteStartMs}`, `big:{tipId}`) makes the inbox store it once.
 */

import type { TipEvent } from "../db/messages/room-events";
import { type CreatorNotice, CreatorNotice as CreatorNoticeSchema } from "../domain/notices";

export const MINUTE_MS = 60_000;

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS notice_minutes (
     creator_id TEXT NOT NULL, room_id TEXT NOT NULL, minute_ms INTEGER NOT NULL,
     tip_count INTEGER NOT NULL, gift_count INTEGER NOT NULL, gross_minor INTEGER NOT NULL,
     PRIMARY KEY (creator_id, minute_ms))`,
  "CREATE TABLE IF NOT EXISTS notice_outbox (id TEXT PRIMARY KEY, body TEXT NOT NULL)",
];

/** Notices already sent and waiting to be deleted are capped per flush (one queue sendBatch: 100). */
const SEND_BATCH_MAX = 100;

export type NoticeSender = (notices: readonly CreatorNotice[]) => Promise<void>;

export class CreatorNotices {
  private readonly sql: SqlStorage;

  constructor(private readonly storage: DurableObjectStorage) {
    this.sql = storage.sql;
    for (const statement of SCHEMA) this.sql.exec(statement);
  }

  /** Counts a committed tip in its minute, and queues a big one's own notice. Call inside `transactionSync`. */
  add(tip: TipEvent, nowMs: number): void {
    const minuteMs = Math.floor(nowMs / MINUTE_MS) * MINUTE_MS;
    this.sql.exec(
      `INSERT INTO notice_minutes (creator_id, room_id, minute_ms, tip_count, gift_count, gross_minor)
       VALUES (?, ?, ?, 1, ?, ?)
       ON CONFLICT (creator_id, minute_ms) DO UPDATE SET tip_count = tip_count + 1,
         gift_count = gift_count + excluded.gift_count, gross_minor = gross_minor + excluded.gross_minor`,
      tip.creatorId,
      tip.roomId,
      minuteMs,
      tip.quantity,
      tip.amountMinor,
    );
    if (!tip.big) return;
    const notice: CreatorNotice = {
      id: `big:${tip.id}`,
      creatorId: tip.creatorId,
      kind: "big_gift",
      vars: {
        tipId: tip.id,
        roomId: tip.roomId,
        viewerId: tip.viewerId,
        giftName: tip.giftName,
        quantity: tip.quantity,
        amountMinor: tip.amountMinor,
        atMs: tip.createdAtMs,
      },
      atMs: tip.createdAtMs,
    };
    this.sql.exec("INSERT OR IGNORE INTO notice_outbox (id, body) VALUES (?, ?)", notice.id, JSON.stringify(notice));
  }

  /**
   * When the room must next flush: `soonMs` for anything unsent (a big gift just applied, or a
   * send that failed), else the end of the oldest open minute.
   */
  nextDueMs(soonMs: number): number | null {
    if (this.sql.exec("SELECT 1 FROM notice_outbox LIMIT 1").toArray().length > 0) return soonMs;
    const oldest = this.sql.exec<{ m: number | null }>("SELECT MIN(minute_ms) AS m FROM notice_minutes").one().m;
    return oldest === null ? null : oldest + MINUTE_MS;
  }

  /**
   * Turns every minute that ended by `nowMs` into its notice (one transaction), then sends the
   * outbox. A failed send throws and leaves the rows for the next flush (the alarm retries).
   */
  async flush(send: NoticeSender, nowMs: number): Promise<number> {
    this.closeMinutes(nowMs);
    let sent = 0;
    for (;;) {
      const rows = this.sql
        .exec<{ id: string; body: string }>("SELECT id, body FROM notice_outbox ORDER BY id LIMIT ?", SEND_BATCH_MAX)
        .toArray();
      if (rows.length === 0) return sent;
      await send(rows.map((r) => CreatorNoticeSchema.parse(JSON.parse(r.body))));
      for (const r of rows) this.sql.exec("DELETE FROM notice_outbox WHERE id = ?", r.id);
      sent += rows.length;
    }
  }

  private closeMinutes(nowMs: number): void {
    this.storage.transactionSync(() => this.closeMinutesNow(nowMs));
  }

  private closeMinutesNow(nowMs: number): void {
    const closed = this.sql
      .exec<{
        creator_id: string;
        room_id: string;
        minute_ms: number;
        tip_count: number;
        gift_count: number;
        gross_minor: number;
      }>("SELECT * FROM notice_minutes WHERE minute_ms + ? <= ? ORDER BY minute_ms", MINUTE_MS, nowMs)
      .toArray();
    for (const m of closed) {
      const notice: CreatorNotice = {
        id: `tips:${m.creator_id}:${m.minute_ms}`,
        creatorId: m.creator_id,
        kind: "tips_merged",
        vars: {
          roomId: m.room_id,
          minuteStartMs: m.minute_ms,
          tipCount: m.tip_count,
          giftCount: m.gift_count,
          grossMinor: m.gross_minor,
        },
        atMs: m.minute_ms + MINUTE_MS,
      };
      this.sql.exec("INSERT OR IGNORE INTO notice_outbox (id, body) VALUES (?, ?)", notice.id, JSON.stringify(notice));
      this.sql.exec("DELETE FROM notice_minutes WHERE creator_id = ? AND minute_ms = ?", m.creator_id, m.minute_ms);
    }
  }
}
