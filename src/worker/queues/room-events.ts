/**
 * Room events the direct delivery after commit could not hand to their room (rooms/outbox.ts
 * is the producer): the consumer delivers the outbox rows again, with backoff.
 */

import { z } from "zod";
import { LIMITS } from "../../domain/limits";
import type { Logger } from "../../platform/logger";
import { deliverOutbox } from "../rooms/outbox";
import { dropMalformed } from "./malformed";
import { retryDelaySeconds } from "./retry";

/** The queue's name in wrangler.toml; index.ts dispatches on it exactly. */
export const ROOM_EVENTS_QUEUE = "giftwire-room-events";

export const RoomEventsMessage = z.object({
  outboxIds: z.array(z.string().min(1).max(64)).min(1).max(LIMITS.roomEventsPerDeliveryMax),
});
export type RoomEventsMessage = z.infer<typeof RoomEventsMessage>;

/** The consumer of ROOM_EVENTS. */
export async function handleRoomEventsBatch(batch: MessageBatch<unknown>, env: Env, log: Logger): Promise<void> {
  for (const message of batch.messages) {
    const parsed = RoomEventsMessage.safeParse(message.body);
    if (!parsed.success) {
      dropMalformed(ROOM_EVENTS_QUEUE, message, parsed.error, log);
      continue;
    }
    const failed = await deliverOutbox(env, parsed.data.outboxIds, log);
    if (failed.length === 0) message.ack();
    else message.retry({ delaySeconds: retryDelaySeconds("roomQueue", message.attempts) });
  }
}
