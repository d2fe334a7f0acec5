/**
 * Getting room events (tips, streams starting and ending) from D1 to the room's Durable
 * Object, never missing one and never applying one twice:
 *
 *   1. the event is written to `room_outbox` in the same batch as the fact it announces;
 *   2. right after commit, the Worker delivers it to the room (RPC), sends its business event
 *      (db/webhook-room-events.ts: the BUSINESS_EVENTS queue, partner webhooks included) and
 *      marks it delivered;
 *   3. if that fails or times out, the event ids go on the ROOM_EVENTS queue, whose consumer
 *      (queues/room-events.ts) retries with backoff (5 s → 5 min) and, after 10 attempts, the
 *      dead-letter queue;
 *   4. every minute a sweeper (cron/room-outbox-sweep.ts) redelivers anything still
 *      undelivered after 30 s.
 *
 * Every path may deliver an event more than once; the room applies each id at most once.
 *
 * An outbox lives in each database that writes room events: the control database (streams
 * starting and ending) and every ledger shard (tips, written with the viewer's payment), so
 * a delivery names its `source`.
 */

import type { RoomEvent } from "../../db/messages/room-events";
import type { Ledger } from "../../db/shards";
import { publishRoomEvents } from "../../db/webhook-room-events";
import { LIMITS } from "../../domain/limits";
import type { Logger } from "../../platform/logger";
import type { RoomEventsMessage } from "../queues/room-events";

interface OutboxRow {
  id: string;
  room_id: string;
  payload: string;
}

/** Which database's outbox: the control database's, or a ledger shard's (its index). */
export type OutboxSource = "control" | number;

export function outboxDb(ledger: Ledger, source: OutboxSource): D1Database {
  return source === "control" ? ledger.control : ledger.shard(source).db;
}

/** Every outbox there is: the control database's, then each shard's. */
export function outboxSources(ledger: Ledger): OutboxSource[] {
  return ["control", ...ledger.shards.map((s) => s.index)];
}

/**
 * Delivers the given outbox rows of `source` (those not yet delivered) to their rooms.
 * Returns the ids that could not be delivered; never throws for a room's failure.
 */
export async function deliverOutbox(
  env: Env,
  ledger: Ledger,
  source: OutboxSource,
  ids: readonly string[],
  log: Logger,
): Promise<string[]> {
  if (ids.length === 0) return [];
  const db = outboxDb(ledger, source);
  const rows: OutboxRow[] = [];
  for (let i = 0; i < ids.length; i += 90) {
    const chunk = ids.slice(i, i + 90);
    const { results } = await db
      .prepare(
        `SELECT id, room_id, payload FROM room_outbox WHERE delivered_at_ms IS NULL AND id IN (${chunk.map(() => "?").join(", ")})
       ORDER BY created_at_ms, id`,
      )
      .bind(...chunk)
      .all<OutboxRow>();
    rows.push(...results);
  }
  const byRoom = new Map<string, OutboxRow[]>();
  for (const row of rows) byRoom.set(row.room_id, [...(byRoom.get(row.room_id) ?? []), row]);

  const failed: string[] = [];
  await Promise.all(
    [...byRoom].map(async ([roomId, roomRows]) => {
      const roomIds = roomRows.map((r) => r.id);
      try {
        const stub = env.LIVE_ROOM.getByName(roomId);
        const events = roomRows.map((r) => JSON.parse(r.payload) as RoomEvent);
        await withTimeout(stub.deliver(events), LIMITS.roomDeliveryTimeoutMs);
        // Business events (and through them partner webhooks) before the mark: if the send
        // fails, the row is delivered and sent again, with the same event ids.
        await publishRoomEvents(env, events);
        await markDelivered(db, roomIds, Date.now());
      } catch (error) {
        failed.push(...roomIds);
        log.warn("room_delivery_failed", { roomId, events: roomIds.length, error: String(error) });
        await db
          .prepare(`UPDATE room_outbox SET attempts = attempts + 1 WHERE id IN (${roomIds.map(() => "?").join(", ")})`)
          .bind(...roomIds)
          .run()
          .catch(() => undefined);
      }
    }),
  );
  return failed;
}

async function markDelivered(db: D1Database, ids: readonly string[], nowMs: number): Promise<void> {
  for (let i = 0; i < ids.length; i += 90) {
    const chunk = ids.slice(i, i + 90);
    await db
      .prepare(
        `UPDATE room_outbox SET delivered_at_ms = ? WHERE id IN (${chunk.map(() => "?").join(", ")}) AND delivered_at_ms IS NULL`,
      )
      .bind(nowMs, ...chunk)
      .run();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`room delivery timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => {
    if (timer !== null) clearTimeout(timer);
  });
}

/** After commit: deliver now; what fails goes to the queue; what cannot be queued, the sweeper finds. */
export async function deliverAfterCommit(
  env: Env,
  ledger: Ledger,
  source: OutboxSource,
  ids: readonly string[],
  log: Logger,
): Promise<void> {
  const failed = await deliverOutbox(env, ledger, source, ids, log);
  if (failed.length === 0) return;
  try {
    await env.ROOM_EVENTS.send({ source, outboxIds: failed } satisfies RoomEventsMessage);
  } catch (error) {
    log.error("room_delivery_enqueue_failed", { outboxIds: failed, error: String(error) });
  }
}
