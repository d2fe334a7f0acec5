import { z } from "zod";
import { LIMITS } from "../../domain/limits";
import type { RoomEvent } from "../../durable-objects/live-room.protocol";
import type { Logger } from "../context";

/**
 * Getting room events (tips, streams starting and ending) from D1 to the room's Durable
 * Object, never missing one and never applying one twice:
 *
 *   1. the event is written to `room_outbox` in the same batch as the fact it announces;
 *   2. right after commit, the Worker delivers it to the room (RPC) and marks it delivered;
 *   3. if that fails or times out, the event ids go on the ROOM_EVENTS queue, whose consumer
 *      retries with backoff (5 s → 5 min) and, after 10 attempts, the dead-letter queue;
 *   4. every minute a sweeper redelivers anything still undelivered after 30 s.
 *
 * Every path may deliver an event more than once; the room applies each id at most once.
 */

export const RoomEventsMessage = z.object({
  outboxIds: z.array(z.string().min(1).max(64)).min(1).max(LIMITS.roomEventsPerDeliveryMax),
});
export type RoomEventsMessage = z.infer<typeof RoomEventsMessage>;

const DIRECT_TIMEOUT_MS = 5_000;
const SWEEP_AFTER_MS = 30_000;
const SWEEP_ATTEMPTS_MAX = 10;

interface OutboxRow {
  id: string;
  room_id: string;
  payload: string;
}

/**
 * Delivers the given outbox rows (those not yet delivered) to their rooms. Returns the ids
 * that could not be delivered; never throws for a room's failure.
 */
export async function deliverOutbox(env: Env, ids: readonly string[], log: Logger): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows: OutboxRow[] = [];
  for (let i = 0; i < ids.length; i += 90) {
    const chunk = ids.slice(i, i + 90);
    const { results } = await env.DB.prepare(
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
        await withTimeout(stub.deliver(events), DIRECT_TIMEOUT_MS);
        await markDelivered(env.DB, roomIds, Date.now());
      } catch (error) {
        failed.push(...roomIds);
        log.warn("room_delivery_failed", { roomId, events: roomIds.length, error: String(error) });
        await env.DB.prepare(
          `UPDATE room_outbox SET attempts = attempts + 1 WHERE id IN (${roomIds.map(() => "?").join(", ")})`,
        )
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
export async function deliverAfterCommit(env: Env, ids: readonly string[], log: Logger): Promise<void> {
  const failed = await deliverOutbox(env, ids, log);
  if (failed.length === 0) return;
  try {
    await env.ROOM_EVENTS.send({ outboxIds: failed } satisfies RoomEventsMessage);
  } catch (error) {
    log.error("room_delivery_enqueue_failed", { outboxIds: failed, error: String(error) });
  }
}

/** Progressive backoff for queue retries: 5 s, 10 s, 20 s … capped at 5 minutes. */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(5 * 2 ** Math.max(0, attempts - 1), 300);
}

export async function handleRoomEventsBatch(batch: MessageBatch<unknown>, env: Env, log: Logger): Promise<void> {
  for (const message of batch.messages) {
    const parsed = RoomEventsMessage.safeParse(message.body);
    if (!parsed.success) {
      // A malformed message can never succeed; acknowledging it keeps the queue moving,
      // and the sweeper still delivers whatever the outbox holds.
      log.error("room_events_message_malformed", { messageId: message.id });
      message.ack();
      continue;
    }
    const failed = await deliverOutbox(env, parsed.data.outboxIds, log);
    if (failed.length === 0) message.ack();
    else message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
  }
}

/**
 * The backstop: anything undelivered 30 s after commit is delivered now. An event that has
 * failed `SWEEP_ATTEMPTS_MAX` times stops being retried and is reported on every sweep
 * (`room_outbox_stuck`) until an operator looks: it is a bug or a poisoned payload.
 */
export async function sweepRoomOutbox(env: Env, nowMs: number, log: Logger): Promise<number> {
  const [due, stuck] = await env.DB.batch<{ id?: string; n?: number }>([
    env.DB.prepare(
      `SELECT id FROM room_outbox WHERE delivered_at_ms IS NULL AND created_at_ms <= ? AND attempts < ?
       ORDER BY created_at_ms LIMIT ?`,
    ).bind(nowMs - SWEEP_AFTER_MS, SWEEP_ATTEMPTS_MAX, LIMITS.roomEventsPerDeliveryMax),
    env.DB.prepare("SELECT COUNT(*) AS n FROM room_outbox WHERE delivered_at_ms IS NULL AND attempts >= ?").bind(
      SWEEP_ATTEMPTS_MAX,
    ),
  ]);
  const stuckCount = stuck?.results[0]?.n ?? 0;
  if (stuckCount > 0) log.error("room_outbox_stuck", { events: stuckCount, attemptsMax: SWEEP_ATTEMPTS_MAX });
  const results = (due?.results ?? []) as { id: string }[];
  if (results.length === 0) return 0;
  const failed = await deliverOutbox(
    env,
    results.map((r) => r.id),
    log,
  );
  if (failed.length > 0) log.error("room_outbox_sweep_failed", { undelivered: failed.length });
  return results.length - failed.length;
}

/** Deletes delivered outbox rows past retention, in bounded chunks. */
export async function purgeDeliveredOutbox(db: D1Database, nowMs: number): Promise<number> {
  const result = await db
    .prepare(
      `DELETE FROM room_outbox WHERE id IN (SELECT id FROM room_outbox
         WHERE delivered_at_ms IS NOT NULL AND delivered_at_ms < ? LIMIT 1000)`,
    )
    .bind(nowMs - LIMITS.roomOutboxRetentionMs)
    .run();
  return result.meta.changes;
}
