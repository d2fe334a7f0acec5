import { LiveRoom } from "../durable-objects/live-room";
import { createApp } from "./app";
import { createLogger } from "./context";
import { purgeExpiredIdempotencyKeys } from "./cron/purge-idempotency";
import {
  handlePaymentCallbacksBatch,
  type PaymentQueueMessage,
  purgePaymentRecords,
  sweepPayments,
} from "./payments/callbacks";
import { type ClaimCreditMessage, handleLedgerPostingsBatch, sweepRedPackets } from "./red-packets/settlement";
import { handleRoomEventsBatch, purgeDeliveredOutbox, type RoomEventsMessage, sweepRoomOutbox } from "./rooms/outbox";

const app = createApp();

export { SandboxProvider } from "../durable-objects/sandbox-provider";
export { LiveRoom };

export default {
  fetch: app.fetch,
  async queue(batch, env) {
    const log = createLogger({ queue: batch.queue });
    if (batch.queue.startsWith("giftwire-ledger-postings")) await handleLedgerPostingsBatch(batch, env, log);
    else if (batch.queue.startsWith("giftwire-payment-callbacks")) await handlePaymentCallbacksBatch(batch, env, log);
    else await handleRoomEventsBatch(batch, env, log);
  },
  async scheduled(controller, env) {
    const log = createLogger({ cron: controller.cron });
    const redelivered = await sweepRoomOutbox(env, controller.scheduledTime, log);
    const packets = await sweepRedPackets(env, controller.scheduledTime, log);
    const purged = await purgeExpiredIdempotencyKeys(env.DB, controller.scheduledTime);
    const outboxPurged = await purgeDeliveredOutbox(env.DB, controller.scheduledTime);
    const payments = await sweepPayments(env, controller.scheduledTime, log);
    const paymentRecordsPurged = await purgePaymentRecords(env.DB, controller.scheduledTime);
    log.info("housekeeping", { redelivered, packets, purged, outboxPurged, payments, paymentRecordsPurged });
  },
} satisfies ExportedHandler<Env, RoomEventsMessage | ClaimCreditMessage | PaymentQueueMessage>;
