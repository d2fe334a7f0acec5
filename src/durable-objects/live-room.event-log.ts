/**
 * The room's event log, both ways. Inbound: the ids of events already applied, so an event
 * delivered twice (direct call, queue, sweeper) changes the room once. Outbound: every frame
 * the room broadcasts gets the next seq and is kept (the last `replayLogMax`) so an overlay
 * that reconnects is sent exactly what it missed, in order. Synchronous; call the writers
 * inside `transactionSync`, so a seq is never handed out for a frame that rolls back.
 */

import { LIMITS } from "../domain/limits";
import type { BigGift, SequencedFrame, UnsequencedFrame } from "./live-room.protocol";
import type { RoomSettings } from "./live-room.settings";

export const EVENT_LOG_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS applied_events (id TEXT PRIMARY KEY, applied_at_ms INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, frame TEXT NOT NULL, created_at_ms INTEGER NOT NULL)`,
];

/** Applied-event ids forgotten per alarm, so one alarm's cleanup stays short. */
const FORGET_BATCH_MAX = 1_000;

export class EventLog {
  constructor(
    private readonly sql: SqlStorage,
    private readonly settings: RoomSettings,
  ) {}

  /** Records an inbound event id; false when it was applied before (a redelivery). */
  firstDelivery(eventId: string, nowMs: number): boolean {
    const inserted = this.sql.exec(
      "INSERT INTO applied_events (id, applied_at_ms) VALUES (?, ?) ON CONFLICT (id) DO NOTHING RETURNING id",
      eventId,
      nowMs,
    );
    return inserted.toArray().length === 1;
  }

  /**
   * Redeliveries stop within about half an hour of commit (queue: 10 tries, ≤ 5 min apart;
   * sweeper: 10 tries, a minute apart), so ids older than the retention can never come back.
   */
  forgetApplied(nowMs: number): void {
    this.sql.exec(
      "DELETE FROM applied_events WHERE id IN (SELECT id FROM applied_events WHERE applied_at_ms < ? LIMIT ?)",
      nowMs - LIMITS.roomAppliedEventsRetentionMs,
      FORGET_BATCH_MAX,
    );
  }

  /** The last seq handed out. */
  seq(): number {
    return this.settings.get("seq") ?? 0;
  }

  /** Numbers a frame, stores it in the replay log (bounded), and returns it for sending. */
  append(frame: UnsequencedFrame, nowMs: number): SequencedFrame {
    const seq = this.seq() + 1;
    this.settings.put("seq", seq);
    const sequenced = { ...frame, seq } as SequencedFrame;
    this.sql.exec(
      "INSERT INTO events (seq, type, frame, created_at_ms) VALUES (?, ?, ?, ?)",
      seq,
      sequenced.type,
      JSON.stringify(sequenced),
      nowMs,
    );
    if (seq % 100 === 0) this.sql.exec("DELETE FROM events WHERE seq <= ?", seq - LIMITS.replayLogMax);
    return sequenced;
  }

  /** Every kept frame after `seq`, in order (what a resuming overlay is sent). */
  after(seq: number): SequencedFrame[] {
    return this.sql
      .exec<{ frame: string }>("SELECT frame FROM events WHERE seq > ? ORDER BY seq", seq)
      .toArray()
      .map((r) => JSON.parse(r.frame) as SequencedFrame);
  }

  /** Up to `limit` kept frames after `seq`, in order, as stored (what the room pushes to its fan-out shards). */
  textsAfter(seq: number, limit: number): { seq: number; text: string }[] {
    return this.sql
      .exec<{ seq: number; frame: string }>(
        "SELECT seq, frame FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
        seq,
        limit,
      )
      .toArray()
      .map((r) => ({ seq: r.seq, text: r.frame }));
  }

  /**
   * Where a viewer's replay starts: after the seq it names, never past the current seq; a
   * viewer that names none gets the snapshot alone (null).
   */
  viewerResumePoint(fromClient: number | null): number | null {
    return fromClient === null ? null : Math.min(fromClient, this.seq());
  }

  /** The gift of the big-gift alert at `seq`, if the log still holds one there. */
  bigGift(seq: number): BigGift | null {
    const row = this.sql
      .exec<{ frame: string }>("SELECT frame FROM events WHERE seq = ? AND type = 'gift.big'", seq)
      .toArray()[0];
    return row ? (JSON.parse(row.frame) as Extract<SequencedFrame, { type: "gift.big" }>).gift : null;
  }

  /**
   * Where an overlay's replay starts: after the seq it names, else after what overlays last
   * acknowledged, else now; never past the current seq.
   */
  overlayResumePoint(fromClient: number | null): number {
    const seq = this.seq();
    return Math.min(fromClient ?? this.settings.get("overlayAckSeq") ?? seq, seq);
  }

  /** An overlay has shown everything up to `seq`; acks only move forward, and never past the log. */
  overlayAck(seq: number): void {
    const acked = this.settings.get("overlayAckSeq") ?? 0;
    if (seq > acked && seq <= this.seq()) this.settings.put("overlayAckSeq", seq);
  }
}
