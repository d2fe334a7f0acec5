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

/**
 * The audit log (src/domain/audit-chain.ts, src/db/audit.ts): one hash chain per database, each
 * entry written in the same batch as the action it records. `seq` is the primary key, so two
 * appenders that read the same head cannot both commit; triggers (custom migrations) refuse
 * an entry that does not link to the head, and every update and delete. Never archived.
 */
export const auditLog = sqliteTable(
  "audit_log",
  {
    seq: integer("seq").primaryKey(),
    atMs: integer("at_ms").notNull(),
    actor: text("actor").notNull(),
    action: text("action").notNull(),
    target: text("target").notNull(),
    requestId: text("request_id").notNull(),
    detail: text("detail").notNull(),
    digest: text("digest").notNull(),
    prevHash: text("prev_hash").notNull(),
    hash: text("hash").notNull(),
  },
  (t) => [
    index("audit_log_actor").on(t.actor, t.seq),
    index("audit_log_action").on(t.action, t.seq),
    index("audit_log_target").on(t.target, t.seq),
    index("audit_log_at").on(t.atMs),
  ],
);
