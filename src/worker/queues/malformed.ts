import type { z } from "zod";
import { LIMITS } from "../../domain/limits";
import type { Logger } from "../../platform/logger";

/**
 * The one policy for a message that fails its queue's schema, on every queue: raise an alert
 * carrying the message (id, attempts, the first issues and up to 1 KiB of its body) and
 * acknowledge it.
 *
 * Only this service writes these queues, so such a message is a producer bug, and it fails
 * the same way on every redelivery: retrying it only delays the alert and then parks it in a
 * dead-letter queue that nothing consumes yet. Acknowledging loses nothing, because every
 * queue is a fast path in front of durable state that a cron sweep re-reads — undelivered
 * `room_outbox` rows (room events), the room's unsent or uncredited claims (ledger postings),
 * stored notifications, open orders past their deadline and refunds due (payments). The
 * alert is what brings an operator to the producer.
 */
export function dropMalformed(queue: string, message: Message<unknown>, error: z.ZodError, log: Logger): void {
  let body: string;
  try {
    body = JSON.stringify(message.body) ?? String(message.body);
  } catch {
    body = String(message.body);
  }
  log.error("alert_queue_message_malformed", {
    queue,
    messageId: message.id,
    attempts: message.attempts,
    issues: error.issues.slice(0, 5).map((i) => ({ path: i.path.join("."), message: i.message })),
    body: body.slice(0, LIMITS.queueMalformedBodyLoggedMaxBytes),
  });
  message.ack();
}
