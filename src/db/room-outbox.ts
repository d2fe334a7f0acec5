import type { SqlCondition } from "./ledger";
import type { RoomEvent } from "./messages/room-events";

/**
 * The room outbox row for an event, written in the same batch as the fact it announces (a
 * tip, a packet, a stream starting or ending) and, for an operation's event, only if the
 * operation posts. Delivery to the room is the Worker's job (src/worker/rooms/outbox.ts).
 *
 * The event's shape is the room's protocol; this is a type-only import of the schema's type,
 * so nothing of the Durable Object is loaded here.
 */
export function outboxInsert(
  db: D1Database,
  event: RoomEvent,
  nowMs: number,
  when: SqlCondition | null,
): D1PreparedStatement {
  const payload = JSON.stringify(event);
  if (when === null) {
    return db
      .prepare(
        "INSERT INTO room_outbox (id, room_id, payload, created_at_ms) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
      )
      .bind(event.id, event.roomId, payload, nowMs);
  }
  return db
    .prepare(`INSERT INTO room_outbox (id, room_id, payload, created_at_ms) SELECT ?, ?, ?, ? WHERE ${when.sql}`)
    .bind(event.id, event.roomId, payload, nowMs, ...when.params);
}
