/**
 * The BUSINESS_EVENTS queue's consumer (issue 19 item 3; the envelope: domain/business-events.ts,
 * the producers: db/business-events.ts). Each event of a recorded type (the money facts the
 * sweeper walks; not the room's high-volume events) is recorded in the control database once
 * per id (`business_events`, `received`); every event is handed to each registered consumer
 * that takes its type (business-events/consumers.ts: the partner webhooks, the creator inbox);
 * recorded ones are then marked `done`. An id already done is a duplicate — a retried
 * producer or the sweeper sending it again — and is acknowledged without fanning out. A consumer that throws retries
 * the batch's fresh events with backoff (consumers are idempotent by event id); after
 * max_retries the DLQ keeps them for operators.
 */

import { isRecordedEvent, markBusinessEventsDone, receiveBusinessEvents } from "../../db/business-events";
import { type BusinessEvent, safeParseBusinessEvent } from "../../domain/business-events";
import { LIMITS } from "../../domain/limits";
import type { Logger } from "../../platform/logger";
import { BUSINESS_EVENT_CONSUMERS, type BusinessEventConsumer } from "../business-events/consumers";
import { dropMalformed } from "./malformed";
import { retryDelaySeconds } from "./retry";

/** The queue's name in wrangler.toml; index.ts dispatches on it exactly. */
export const BUSINESS_EVENTS_QUEUE = "giftwire-business-events";

export async function handleBusinessEventsBatch(
  batch: MessageBatch<unknown>,
  env: Env,
  log: Logger,
  consumers: readonly BusinessEventConsumer[] = BUSINESS_EVENT_CONSUMERS,
): Promise<void> {
  const parsed: { message: Message<unknown>; event: BusinessEvent }[] = [];
  for (const message of batch.messages) {
    const result = safeParseBusinessEvent(message.body);
    if (!result.success) dropMalformed(BUSINESS_EVENTS_QUEUE, message, result.error, log);
    else parsed.push({ message, event: result.data });
  }
  if (parsed.length === 0) return;
  const nowMs = Date.now();
  const retry = (message: Message<unknown>) =>
    message.retry({ delaySeconds: retryDelaySeconds("roomQueue", message.attempts) });

  const recorded = parsed.map((p) => p.event).filter(isRecordedEvent);
  let done: Set<string>;
  try {
    done = await receiveBusinessEvents(env.CONTROL, recorded, nowMs);
  } catch (error) {
    log.warn("business_events_receive_failed", { events: parsed.length, error: String(error) });
    for (const p of parsed) retry(p.message);
    return;
  }
  // One copy of each fresh id (two copies in one batch fan out once).
  const fresh = new Map<string, BusinessEvent>();
  for (const p of parsed) if (!done.has(p.event.id)) fresh.set(p.event.id, p.event);
  const events = [...fresh.values()];

  try {
    for (const consumer of consumers) {
      const taken = events.filter((e) => (consumer.types as readonly string[]).includes(e.type));
      if (taken.length > 0) await consumer.handle(taken, env, log, nowMs);
    }
    await markBusinessEventsDone(
      env.CONTROL,
      events.filter(isRecordedEvent).map((e) => e.id),
      Date.now(),
    );
  } catch (error) {
    const attempts = Math.max(...parsed.map((p) => p.message.attempts));
    const fields = { events: events.length, attempts, error: String(error) };
    if (attempts >= LIMITS.alertAfterAttempts) log.error("alert_business_events_failing", fields);
    else log.warn("business_events_failed", fields);
    for (const p of parsed) {
      if (done.has(p.event.id)) p.message.ack();
      else retry(p.message);
    }
    return;
  }
  for (const p of parsed) p.message.ack();
  log.info("business_events", { events: events.length, duplicates: parsed.length - events.length });
}
