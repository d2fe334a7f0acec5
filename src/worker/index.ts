import type { CreatorNoticeMessage } from "../db/messages/creator-notices";
import type { LedgerPostingMessage } from "../db/messages/ledger-postings";
import { LiveRoom } from "../durable-objects/live-room";
import { RiskDesk } from "../durable-objects/risk-desk";
import { RoomFanOut } from "../durable-objects/room-fan-out";
import { createLogger, type Logger } from "../platform/logger";
import { createApp } from "./app";
import { CRON_JOBS, runCronJobs } from "./cron/jobs";
import { ALERTS_QUEUE, handleAlertsBatch } from "./queues/alerts";
import { BUSINESS_EVENTS_QUEUE, handleBusinessEventsBatch } from "./queues/business-events";
import { CREATOR_NOTICES_QUEUE, handleCreatorNoticesBatch } from "./queues/creator-notices";
import { DEAD_LETTER_QUEUES, handleDeadLettersBatch } from "./queues/dead-letters";
import { handleLedgerPostingsBatch, LEDGER_POSTINGS_QUEUE } from "./queues/ledger-postings";
import {
  handlePaymentCallbacksBatch,
  PAYMENT_CALLBACKS_QUEUE,
  type PaymentQueueMessage,
} from "./queues/payment-callbacks";
import { handlePayoutsBatch, PAYOUTS_QUEUE } from "./queues/payouts";
import { handleRoomEventsBatch, ROOM_EVENTS_QUEUE, type RoomEventsMessage } from "./queues/room-events";
import { handleWebhooksBatch, WEBHOOKS_QUEUE } from "./queues/webhooks";

const app = createApp();

export { LiveRoom, RiskDesk, RoomFanOut };

type QueueConsumer = (batch: MessageBatch<unknown>, env: Env, log: Logger) => Promise<void>;

/**
 * Each consumed queue (wrangler.toml `[[queues.consumers]]`) by its exact name. Every queue's
 * dead-letter queue is consumed by one handler that keeps its messages in D1 for operators
 * (queues/dead-letters.ts).
 */
export const QUEUE_CONSUMERS: Readonly<Record<string, QueueConsumer>> = {
  [ROOM_EVENTS_QUEUE]: handleRoomEventsBatch,
  [LEDGER_POSTINGS_QUEUE]: handleLedgerPostingsBatch,
  [PAYMENT_CALLBACKS_QUEUE]: handlePaymentCallbacksBatch,
  [CREATOR_NOTICES_QUEUE]: handleCreatorNoticesBatch,
  [PAYOUTS_QUEUE]: handlePayoutsBatch,
  [ALERTS_QUEUE]: (batch, env, log) => handleAlertsBatch(batch, env, log),
  ...Object.fromEntries(DEAD_LETTER_QUEUES.map((q) => [q, handleDeadLettersBatch])),
  [WEBHOOKS_QUEUE]: handleWebhooksBatch,
  [BUSINESS_EVENTS_QUEUE]: (batch, env, log) => handleBusinessEventsBatch(batch, env, log),
};

export default {
  fetch: app.fetch,
  async queue(batch, env) {
    const log = createLogger({ queue: batch.queue });
    const consume = Object.hasOwn(QUEUE_CONSUMERS, batch.queue) ? QUEUE_CONSUMERS[batch.queue] : undefined;
    if (!consume) {
      // A consumer binding without code is a deployment mistake: keep the messages (they
      // retry, then go to that queue's DLQ) and say so.
      log.error("alert_queue_unknown", { messages: batch.messages.length });
      batch.retryAll();
      return;
    }
    await consume(batch, env, log);
  },
  async scheduled(controller, env) {
    await runCronJobs(CRON_JOBS, env, controller.scheduledTime, createLogger({ cron: controller.cron }));
  },
} satisfies ExportedHandler<Env, RoomEventsMessage | LedgerPostingMessage | PaymentQueueMessage | CreatorNoticeMessage>;
