import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

/**
 * Events for a room's Durable Object, written in the same batch as the fact they announce
 * (a tip, a stream starting or ending), so the room can never miss one: delivered directly
 * after commit, retried through the ROOM_EVENTS queue, swept by cron. The room applies each
 * event id at most once.
 */
export const roomOutbox = sqliteTable(
  "room_outbox",
  {
    id: text("id").primaryKey(),
    roomId: text("room_id").notNull(),
    payload: text("payload").notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
    deliveredAtMs: integer("delivered_at_ms"),
    attempts: integer("attempts").notNull().default(0),
  },
  (t) => [index("room_outbox_pending").on(t.deliveredAtMs, t.createdAtMs)],
);
