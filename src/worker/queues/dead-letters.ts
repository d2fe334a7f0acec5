/**
 * The consumer of every dead-letter queue (`<queue>-dlq`, wrangler.toml): a Worker cannot read a
 * queue's depth or peek into it, so each dead message is kept in the control database
 * (`dead_letters`: its queue, body, attempts, first and last seen) for the console's queue,
 * where an operator inspects it, replays it to its original queue (once) or discards it
 * (routes/dead-letters.ts). Stored once per (dead-letter queue, message id): a redelivery adds
 * an attempt. Any body is kept — a message that failed its queue's schema is exactly what an
 * operator must see — as JSON up to `LIMITS.deadLetterBodyMaxBytes` (beyond: truncated, and not
 * replayable). A failed write retries with backoff; the dead-letter queues have no DLQ of their
 * own, so the last retry logs an alert.
 */

import { newId } from "../../domain/ids";
import { LIMITS } from "../../domain/limits";
import type { Logger } from "../../platform/logger";
import { ALERTS_QUEUE } from "./alerts";
import { BUSINESS_EVENTS_QUEUE } from "./business-events";
import { CREATOR_NOTICES_QUEUE } from "./creator-notices";
import { LEDGER_POSTINGS_QUEUE } from "./ledger-postings";
import { PAYMENT_CALLBACKS_QUEUE } from "./payment-callbacks";
import { PAYOUTS_QUEUE } from "./payouts";
import { retryDelaySeconds } from "./retry";
import { ROOM_EVENTS_QUEUE } from "./room-events";
import { WEBHOOKS_QUEUE } from "./webhooks";

/** Each consumed queue and the producer binding that writes it: a replay sends there. */
export const REPLAY_TARGETS = {
  [ROOM_EVENTS_QUEUE]: "ROOM_EVENTS",
  [LEDGER_POSTINGS_QUEUE]: "LEDGER_POSTINGS",
  [PAYMENT_CALLBACKS_QUEUE]: "PAYMENT_CALLBACKS",
  [PAYOUTS_QUEUE]: "PAYOUTS",
  [CREATOR_NOTICES_QUEUE]: "CREATOR_NOTICES",
  [ALERTS_QUEUE]: "ALERTS",
  [WEBHOOKS_QUEUE]: "WEBHOOKS",
  [BUSINESS_EVENTS_QUEUE]: "BUSINESS_EVENTS",
} as const satisfies Record<string, keyof Env>;
export type OriginalQueue = keyof typeof REPLAY_TARGETS;

/** A dead-letter queue's name: its original queue's, with `-dlq` (wrangler.toml `dead_letter_queue`). */
export const deadLetterQueueOf = (queue: OriginalQueue): string => `${queue}-dlq`;
export const DEAD_LETTER_QUEUES: readonly string[] = Object.keys(REPLAY_TARGETS).map((q) =>
  deadLetterQueueOf(q as OriginalQueue),
);

/** Retries of a dead letter's store (wrangler.toml `max_retries` of each `-dlq` consumer). */
export const DEAD_LETTERS_MAX_RETRIES = 5;

function bodyOf(message: Message<unknown>): { body: string | null; truncated: boolean } {
  let json: string | undefined;
  try {
    json = JSON.stringify(message.body);
  } catch {
    json = undefined;
  }
  if (json === undefined) return { body: null, truncated: false };
  const bytes = new TextEncoder().encode(json);
  if (bytes.length <= LIMITS.deadLetterBodyMaxBytes) return { body: json, truncated: false };
  const cut = new TextDecoder().decode(bytes.slice(0, LIMITS.deadLetterBodyMaxBytes)).replace(/\uFFFD$/, "");
  return { body: cut, truncated: true };
}

export async function handleDeadLettersBatch(batch: MessageBatch<unknown>, env: Env, log: Logger): Promise<void> {
  const originalQueue = batch.queue.slice(0, -"-dlq".length);
  const nowMs = Date.now();
  const statements = batch.messages.map((message) => {
    const { body, truncated } = bodyOf(message);
    return env.CONTROL.prepare(
      `INSERT INTO dead_letters (id, queue, original_queue, message_id, body, body_truncated, attempts,
         first_seen_at_ms, last_seen_at_ms, state)
       VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, 'open')
       ON CONFLICT (queue, message_id) DO UPDATE SET attempts = attempts + 1, last_seen_at_ms = excluded.last_seen_at_ms`,
    ).bind(
      newId("dlq", nowMs),
      batch.queue,
      originalQueue,
      message.id,
      body,
      truncated ? 1 : 0,
      message.timestamp.getTime(),
      nowMs,
    );
  });
  try {
    await env.CONTROL.batch(statements);
  } catch (error) {
    for (const message of batch.messages) {
      const last = message.attempts > DEAD_LETTERS_MAX_RETRIES;
      log.error(last ? "alert_dead_letter_lost" : "dead_letter_store_failed", {
        queue: batch.queue,
        messageId: message.id,
        attempts: message.attempts,
        error: String(error),
      });
      message.retry({ delaySeconds: retryDelaySeconds("roomQueue", message.attempts) });
    }
    return;
  }
  for (const message of batch.messages) message.ack();
  log.warn("dead_letters_stored", { queue: batch.queue, messages: batch.messages.length });
}
