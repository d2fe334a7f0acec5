import { createApp } from "./app";
import { createLogger } from "./context";
import { purgeExpiredIdempotencyKeys } from "./cron/purge-idempotency";

const app = createApp();

export default {
  fetch: app.fetch,
  async scheduled(controller, env) {
    const log = createLogger({ cron: controller.cron });
    const purged = await purgeExpiredIdempotencyKeys(env.DB, controller.scheduledTime);
    log.info("idempotency_keys_purged", { purged });
  },
} satisfies ExportedHandler<Env>;
