/**
 * Room events the direct delivery after commit could not hand to their room (rooms/outbox.ts
 * is the producer): the consumer delivers the outbox rows again, with backoff.
 */

import { z } from "zod";
import { openLedger } from "../../db/shards";
import { LIMITS } from "../../domain/limits";
import type { Logger } from "../../platform/logger";
import { deliverOutbox } from "../rooms/outbox";
import { dropMalformed } from "./malformed";
import { retryDelaySeconds } from "./retry";

/** The queue's name in wrangler.toml; index.ts dispatches on it exactly. */
export const ROOM_EVENTS_QUEUE = "giftwire-room-events";

export const RoomEventsMessage = z.object({
  /** The database whose outbox holds the rows (rooms/outbox.ts). */
  source: z.union([
    z.literal("control"),
    z
      .number()
      .int()
      .nonnegative()
      .max(LIMITS.ledgerShardsMax - 1),
  ]),
  outboxIds: z.array(z.string().min(1).max(64)).min(1).max(LIMITS.roomEventsPerDeliveryMax),
});
export type RoomEventsMessage = z.infer<typeof RoomEventsMessage>;

/** The consumer of ROOM_EVENTS. */
export async function handleRoomEventsBatch(batch: MessageBatch<unknown>, env: Env, log: Logger): Promise<void> {
  const ledger = await openLedger(env);
  for (const message of batch.messages) {
    const parsed = RoomEventsMessage.safeParse(message.body);
    if (!parsed.success) {
      dropMalformed(ROOM_EVENTS_QUEUE, message, parsed.error, log);
      continue;
    }
    const { source, outboxIds } = parsed.data;
    if (source !== "control" && source >= ledger.shards.length) {
      // Written by a deployment with more shards than this one binds: keep it for operators.
      log.error("alert_room_events_unknown_shard", { source, outboxIds: outboxIds.length });
      message.retry({ delaySeconds: retryDelaySeconds("roomQueue", message.attempts) });
      continue;
    }
    const failed = await deliverOutbox(env, ledger, source, outboxIds, log);
    if (failed.length === 0) message.ack();
    else message.retry({ delaySeconds: retryDelaySeconds("roomQueue", message.attempts) });
  }
}
