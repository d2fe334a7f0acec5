import { LiveRoom } from "../durable-objects/live-room";
import { createApp } from "./app";
import { createLogger } from "./context";
import { purgeExpiredIdempotencyKeys } from "./cron/purge-idempotency";
import { handleRoomEventsBatch, purgeDeliveredOutbox, type RoomEventsMessage, sweepRoomOutbox } from "./rooms/outbox";

const app = createApp();

export { LiveRoom };

export default {
  fetch: app.fetch,
  async queue(batch, env) {
    await handleRoomEventsBatch(batch, env, createLogger({ queue: batch.queue }));
  },
  async scheduled(controller, env) {
    const log = createLogger({ cron: controller.cron });
    const redelivered = await sweepRoomOutbox(env, controller.scheduledTime, log);
    const purged = await purgeExpiredIdempotencyKeys(env.DB, controller.scheduledTime);
    const outboxPurged = await purgeDeliveredOutbox(env.DB, controller.scheduledTime);
    log.info("housekeeping", { redelivered, purged, outboxPurged });
  },
} satisfies ExportedHandler<Env, RoomEventsMessage>;
