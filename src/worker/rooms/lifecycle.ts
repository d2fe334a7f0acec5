/**
 * Going live and ending a stream. Each is one D1 batch that also writes the room's
 * announcement to the outbox, so the LiveRoom hears of every stream start and end.
 */

import type { RoomEvent } from "../../db/messages/room-events";
import type { RoomRow } from "../../db/reads/rooms";
import { outboxInsert } from "../../db/room-outbox";
import { newId } from "../../domain/ids";

export type GoLiveResult = { kind: "live"; room: RoomRow; outboxId: string } | { kind: "already_live" };

export async function goLive(
  db: D1Database,
  creator: { userId: string; displayName: string | null },
  title: string,
  nowMs: number,
  ids: { roomId: string; streamId: string } = { roomId: newId("room", nowMs), streamId: newId("stream", nowMs) },
): Promise<GoLiveResult> {
  const { roomId, streamId } = ids;
  const outboxId = `${streamId}:started`;
  const announcement: RoomEvent = {
    type: "stream.started",
    id: outboxId,
    roomId: "", // filled from the row by json_set below
    streamId,
    creatorId: creator.userId,
    title,
    atMs: nowMs,
  };
  const [, upserted] = await db.batch([
    db
      .prepare(
        `INSERT INTO creators (user_id, display_name, platform_share_bps, created_at_ms, updated_at_ms)
         VALUES (?, ?, NULL, ?, ?)
         ON CONFLICT (user_id) DO UPDATE SET display_name = COALESCE(?, display_name), updated_at_ms = excluded.updated_at_ms`,
      )
      .bind(creator.userId, creator.displayName ?? creator.userId, nowMs, nowMs, creator.displayName),
    // Insert the creator's room, or bring an offline one back live; a live one stays as it is.
    db
      .prepare(
        `INSERT INTO rooms (id, creator_id, title, status, current_stream_id, created_at_ms, updated_at_ms)
         VALUES (?, ?, ?, 'live', ?, ?, ?)
         ON CONFLICT (creator_id) DO UPDATE SET status = 'live', current_stream_id = excluded.current_stream_id,
           title = excluded.title, updated_at_ms = excluded.updated_at_ms
         WHERE rooms.status = 'offline'
         RETURNING *`,
      )
      .bind(roomId, creator.userId, title, streamId, nowMs, nowMs),
    db
      .prepare(
        `INSERT INTO streams (id, room_id, title, started_at_ms, ended_at_ms)
         SELECT ?, id, ?, ?, NULL FROM rooms WHERE creator_id = ? AND current_stream_id = ?`,
      )
      .bind(streamId, title, nowMs, creator.userId, streamId),
    // The announcement commits with the stream; the room id comes from the row.
    db
      .prepare(
        `INSERT INTO room_outbox (id, room_id, payload, created_at_ms)
         SELECT ?, id, json_set(?, '$.roomId', id), ?
         FROM rooms WHERE creator_id = ? AND current_stream_id = ? AND status = 'live'`,
      )
      .bind(outboxId, JSON.stringify(announcement), nowMs, creator.userId, streamId),
  ]);
  const room = upserted?.results[0] as RoomRow | undefined;
  return room ? { kind: "live", room, outboxId } : { kind: "already_live" };
}

/** Ends the room's current stream; returns the outbox id, or null if it was not live. */
export async function endStream(db: D1Database, room: RoomRow, nowMs: number): Promise<string | null> {
  if (room.status !== "live" || room.current_stream_id === null) return null;
  const streamId = room.current_stream_id;
  const outboxId = `${streamId}:ended`;
  const [updated] = await db.batch([
    db
      .prepare(
        "UPDATE rooms SET status = 'offline', updated_at_ms = ? WHERE id = ? AND status = 'live' AND current_stream_id = ?",
      )
      .bind(nowMs, room.id, streamId),
    db
      .prepare("UPDATE streams SET ended_at_ms = ? WHERE id = ? AND ended_at_ms IS NULL AND changes() = 1")
      .bind(nowMs, streamId),
    outboxInsert(db, { type: "stream.ended", id: outboxId, roomId: room.id, streamId, atMs: nowMs }, nowMs, {
      sql: "EXISTS (SELECT 1 FROM streams WHERE id = ? AND ended_at_ms = ?)",
      params: [streamId, nowMs],
    }),
  ]);
  return updated?.meta.changes === 1 ? outboxId : null;
}
