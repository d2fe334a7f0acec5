/**
 * Partner webhooks in the control database (issue 18): endpoints, messages (one per partner and
 * event, whatever emits it twice), deliveries (a message to one endpoint) and every attempt.
 * The consumer (worker/queues/webhooks.ts) sends; this file stores and emits.
 */

import { newId } from "../domain/ids";
import { assert } from "../domain/limits";
import {
  type AttemptOutcome,
  WEBHOOK_REPLAY_MAX,
  type WebhookEventType,
  webhookBody,
  webhookDelayS,
} from "../domain/webhooks";

/** A queue message: one attempt of one delivery. */
export interface WebhookAttemptMessage {
  readonly messageId: string;
  readonly endpointId: string;
  /** 1-based; attempt 1 is sent at once. */
  readonly attemptNo: number;
}

export interface EndpointRow {
  id: string;
  partner_id: string;
  url: string;
  event_types: string;
  sealed_secrets: string;
  key_id: string;
  status: "active" | "disabled";
  disabled_reason: string | null;
  failing_since_ms: number | null;
  created_at_ms: number;
  updated_at_ms: number;
}

export interface DeliveryRow {
  message_id: string;
  endpoint_id: string;
  state: "pending" | "succeeded" | "failed";
  attempts: number;
  next_attempt_at_ms: number | null;
  updated_at_ms: number;
}

export interface MessageRow {
  id: string;
  partner_id: string;
  event_type: string;
  event_key: string;
  body: string;
  created_at_ms: number;
}

export function eventTypesOf(row: Pick<EndpointRow, "event_types">): string[] {
  const parsed = JSON.parse(row.event_types) as unknown;
  return Array.isArray(parsed) ? parsed.filter((t): t is string => typeof t === "string") : [];
}

export function findEndpoint(db: D1Database, id: string): Promise<EndpointRow | null> {
  return db.prepare("SELECT * FROM webhook_endpoints WHERE id = ?").bind(id).first<EndpointRow>();
}

export async function listEndpoints(db: D1Database, partnerId: string): Promise<EndpointRow[]> {
  const { results } = await db
    .prepare("SELECT * FROM webhook_endpoints WHERE partner_id = ? ORDER BY id")
    .bind(partnerId)
    .all<EndpointRow>();
  return results;
}

export function findDelivery(db: D1Database, messageId: string, endpointId: string): Promise<DeliveryRow | null> {
  return db
    .prepare("SELECT * FROM webhook_deliveries WHERE message_id = ? AND endpoint_id = ?")
    .bind(messageId, endpointId)
    .first<DeliveryRow>();
}

export function findMessage(db: D1Database, id: string): Promise<MessageRow | null> {
  return db.prepare("SELECT * FROM webhook_messages WHERE id = ?").bind(id).first<MessageRow>();
}

/** One event to emit: the partners owning `creatorId` hear of it on their subscribed endpoints. */
export interface WebhookEvent {
  readonly type: WebhookEventType;
  /** The creator whose room it happened in: partners owning them are told. */
  readonly creatorId: string;
  /** The event's own id (a tip id, a stream id): emitting it again makes no second message. */
  readonly eventKey: string;
  readonly data: unknown;
  readonly createdAtMs: number;
}

/**
 * Stores each event as one message per partner owning the creator (with at least one active
 * endpoint subscribed to its type) and one pending delivery per such endpoint, then queues the
 * first attempt of each new delivery. Idempotent: a message already stored for the partner,
 * event and type is reused, a delivery already there is not queued again. Returns the
 * deliveries queued.
 */
export async function emitWebhookEvents(
  db: D1Database,
  queue: Queue,
  events: readonly WebhookEvent[],
  nowMs: number,
): Promise<WebhookAttemptMessage[]> {
  if (events.length === 0) return [];
  const creators = [...new Set(events.map((e) => e.creatorId))];
  const { results: targets } = await db
    .prepare(
      `SELECT pc.creator_id, e.id AS endpoint_id, e.partner_id, e.event_types FROM partner_creators pc
       JOIN partners p ON p.id = pc.partner_id AND p.status = 'active'
       JOIN webhook_endpoints e ON e.partner_id = pc.partner_id AND e.status = 'active'
       WHERE pc.creator_id IN (SELECT value FROM json_each(?))`,
    )
    .bind(JSON.stringify(creators))
    .all<{ creator_id: string; endpoint_id: string; partner_id: string; event_types: string }>();
  if (targets.length === 0) return [];

  const queued: WebhookAttemptMessage[] = [];
  for (const event of events) {
    const byPartner = new Map<string, string[]>();
    for (const t of targets) {
      if (t.creator_id !== event.creatorId || !eventTypesOf(t).includes(event.type)) continue;
      byPartner.set(t.partner_id, [...(byPartner.get(t.partner_id) ?? []), t.endpoint_id]);
    }
    for (const [partnerId, endpointIds] of byPartner) {
      const candidate = newId("msg", nowMs);
      await db
        .prepare(
          `INSERT INTO webhook_messages (id, partner_id, event_type, event_key, body, created_at_ms)
           VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (partner_id, event_key, event_type) DO NOTHING`,
        )
        .bind(
          candidate,
          partnerId,
          event.type,
          event.eventKey,
          webhookBody(event.type, event.createdAtMs, event.data),
          nowMs,
        )
        .run();
      const messageId = await db
        .prepare("SELECT id FROM webhook_messages WHERE partner_id = ? AND event_key = ? AND event_type = ?")
        .bind(partnerId, event.eventKey, event.type)
        .first<string>("id");
      assert(messageId !== null, "the message was just stored");
      const results = await db.batch(
        endpointIds.map((endpointId) =>
          db
            .prepare(
              `INSERT INTO webhook_deliveries (message_id, endpoint_id, state, attempts, next_attempt_at_ms, updated_at_ms)
               VALUES (?, ?, 'pending', 0, ?, ?) ON CONFLICT (message_id, endpoint_id) DO NOTHING`,
            )
            .bind(messageId, endpointId, nowMs, nowMs),
        ),
      );
      for (const [i, endpointId] of endpointIds.entries()) {
        if ((results[i]?.meta.changes ?? 0) > 0) queued.push({ messageId, endpointId, attemptNo: 1 });
      }
    }
  }
  await sendAttempts(queue, queued, 0);
  return queued;
}

/** Queues attempts (100 per sendBatch, the queue's limit). */
export async function sendAttempts(
  queue: Queue,
  attempts: readonly WebhookAttemptMessage[],
  delaySeconds: number,
): Promise<void> {
  for (let i = 0; i < attempts.length; i += 100) {
    await queue.sendBatch(attempts.slice(i, i + 100).map((body) => ({ body, delaySeconds })));
  }
}

export interface AttemptRecord {
  readonly messageId: string;
  readonly endpointId: string;
  readonly attemptNo: number;
  readonly atMs: number;
  readonly status: number | null;
  readonly durationMs: number;
  readonly outcome: AttemptOutcome | "refused";
  readonly error: string | null;
  readonly responseBody: string | null;
}

/** What an attempt leads to, decided by the consumer (domain rules) and stored here in one batch. */
export interface AttemptSettlement {
  /** The delivery's new state and next due time (null once settled). */
  readonly delivery: { state: "pending" | "succeeded" | "failed"; nextAttemptAtMs: number | null };
  /** The endpoint: cleared of failing (a success), failing since now (first failure), or disabled. */
  readonly endpoint: "succeeded" | "failed" | { disable: string };
}

/**
 * Records the attempt and its consequences in one batch. The delivery moves only if it still
 * stands where this attempt found it (attempts = attemptNo − 1, pending): a duplicate queue
 * message of an attempt already recorded, or a stale one after a replay reset the delivery,
 * changes nothing and records no attempt row. Returns false for such a duplicate.
 */
export async function recordAttempt(
  db: D1Database,
  attempt: AttemptRecord,
  settlement: AttemptSettlement,
): Promise<boolean> {
  const { messageId, endpointId, attemptNo, atMs } = attempt;
  const attemptId = newId("wat", atMs);
  const endpointStatement =
    settlement.endpoint === "succeeded"
      ? db
          .prepare(
            "UPDATE webhook_endpoints SET failing_since_ms = NULL, updated_at_ms = ? WHERE id = ? AND changes() > 0",
          )
          .bind(atMs, endpointId)
      : settlement.endpoint === "failed"
        ? db
            .prepare(
              `UPDATE webhook_endpoints SET failing_since_ms = COALESCE(failing_since_ms, ?), updated_at_ms = ?
               WHERE id = ? AND changes() > 0`,
            )
            .bind(atMs, atMs, endpointId)
        : db
            .prepare(
              `UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = ?, updated_at_ms = ?
               WHERE id = ? AND status = 'active' AND changes() > 0`,
            )
            .bind(settlement.endpoint.disable, atMs, endpointId);
  const results = await db.batch([
    db
      .prepare(
        `UPDATE webhook_deliveries SET state = ?, attempts = ?, next_attempt_at_ms = ?, updated_at_ms = ?
         WHERE message_id = ? AND endpoint_id = ? AND state = 'pending' AND attempts = ?`,
      )
      .bind(
        settlement.delivery.state,
        attemptNo,
        settlement.delivery.nextAttemptAtMs,
        atMs,
        messageId,
        endpointId,
        attemptNo - 1,
      ),
    db
      .prepare(
        `INSERT INTO webhook_attempts (id, message_id, endpoint_id, attempt_no, at_ms, status, duration_ms, outcome, error, response_body)
         SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE changes() > 0`,
      )
      .bind(
        attemptId,
        messageId,
        endpointId,
        attemptNo,
        atMs,
        attempt.status,
        attempt.durationMs,
        attempt.outcome,
        attempt.error,
        attempt.responseBody,
      ),
    endpointStatement,
  ]);
  return (results[0]?.meta.changes ?? 0) > 0;
}

/** A notice to the partner (an endpoint disabled), stored once per endpoint and reason. */
export async function noticePartner(
  db: D1Database,
  partnerId: string,
  kind: string,
  noticeKey: string,
  detail: unknown,
  nowMs: number,
): Promise<void> {
  await db
    .prepare(
      "INSERT INTO partner_notices (id, partner_id, kind, detail, created_at_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
    )
    .bind(`ntc_${noticeKey}`, partnerId, kind, JSON.stringify(detail), nowMs)
    .run();
}

/**
 * Replays messages to an endpoint: each delivery is set pending with no attempts and queued as
 * attempt 1 (a delivery that did not exist yet — the endpoint was added after the message — is
 * created). Returns the attempts queued.
 */
export async function replayDeliveries(
  db: D1Database,
  queue: Queue,
  endpointId: string,
  messageIds: readonly string[],
  nowMs: number,
): Promise<WebhookAttemptMessage[]> {
  assert(messageIds.length <= WEBHOOK_REPLAY_MAX, "a replay is bounded");
  const statements = messageIds.map((messageId) =>
    db
      .prepare(
        `INSERT INTO webhook_deliveries (message_id, endpoint_id, state, attempts, next_attempt_at_ms, updated_at_ms)
         VALUES (?, ?, 'pending', 0, ?, ?)
         ON CONFLICT (message_id, endpoint_id) DO UPDATE SET state = 'pending', attempts = 0,
           next_attempt_at_ms = excluded.next_attempt_at_ms, updated_at_ms = excluded.updated_at_ms`,
      )
      .bind(messageId, endpointId, nowMs, nowMs),
  );
  for (let i = 0; i < statements.length; i += 100) await db.batch(statements.slice(i, i + 100));
  const attempts = messageIds.map((messageId) => ({ messageId, endpointId, attemptNo: 1 }));
  await sendAttempts(queue, attempts, 0);
  return attempts;
}

/** The next attempt after `attemptNo` failed: its due time, or null when the schedule is spent. */
export function nextAttempt(
  attemptNo: number,
  nowMs: number,
): { attemptNo: number; dueAtMs: number; delayS: number } | null {
  const delayS = webhookDelayS(attemptNo + 1);
  return delayS === null ? null : { attemptNo: attemptNo + 1, dueAtMs: nowMs + delayS * 1000, delayS };
}
