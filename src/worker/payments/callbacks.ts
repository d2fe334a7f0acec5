import { Hono } from "hono";
import { z } from "zod";
import { CHANNELS, type ChannelAdapter, ChannelEventSchema, isChannel } from "../../channels/channel";
import { bytesBase64 } from "../../channels/encoding";
import { purgeChannelCalls } from "../../db/channel-calls";
import { dueForQuery } from "../../db/orders";
import { applyPaymentReport } from "../../db/payment-reports";
import { newId } from "../../domain/ids";
import { LIMITS } from "../../domain/limits";
import { retryDelayMs } from "../../domain/retry";
import { configFrom } from "../config";
import type { AppEnv, Logger } from "../context";
import { errorResponse } from "../errors";
import { channelClients, channels } from "./channels";
import { type QueryContext, queryOrder } from "./orders";
import { afterApplied } from "./pay-to-tip";
import { flagStuckRefunds, type RefundContext, refundsDue, sendRefund } from "./refunds";

/**
 * Payment callbacks: verify, store the raw notification, enqueue, answer in the provider's
 * format — in that order, and nothing else on the request path. A verified notification
 * whose storing or enqueueing fails is answered "retry later", so the provider delivers it
 * again: nothing is acknowledged that is not safely on our side. A refused one (forged,
 * tampered, stale, unknown key) is stored with its refusal, logged, and changes nothing.
 *
 * A provider event is stored once, by (channel, event id). A resend of an event already
 * applied is acknowledged at once; one not yet applied (its first enqueue failed, or it is
 * still in the queue) is enqueued again under the same notification id, which the consumer
 * applies idempotently — so a resend never applies, or flags, an event twice.
 */

export const PaymentCallbackMessage = z.object({
  kind: z.literal("payment.callback"),
  notificationId: z.string().min(1).max(64),
  channel: z.enum(CHANNELS),
  eventId: z.string().min(1).max(255),
  event: ChannelEventSchema,
});
export type PaymentCallbackMessage = z.infer<typeof PaymentCallbackMessage>;

/** Ask the order's channel what became of it (sent with a delay at the order's deadline). */
export const PaymentQueryMessage = z.object({
  kind: z.literal("payment.query"),
  orderId: z.string().regex(/^order_[0-9A-HJKMNP-TV-Z]{26}$/),
});
export type PaymentQueryMessage = z.infer<typeof PaymentQueryMessage>;

/** Send a requested refund to its channel (again, after a failure). */
export const PaymentRefundMessage = z.object({
  kind: z.literal("payment.refund"),
  refundId: z.string().regex(/^orf_[0-9A-HJKMNP-TV-Z]{26}$/),
});
export type PaymentRefundMessage = z.infer<typeof PaymentRefundMessage>;

/** Everything on the payments queue: verified callbacks, active queries, refunds to send. */
export const PaymentQueueMessage = z.discriminatedUnion("kind", [
  PaymentCallbackMessage,
  PaymentQueryMessage,
  PaymentRefundMessage,
]);
export type PaymentQueueMessage = z.infer<typeof PaymentQueueMessage>;

/** Headers kept with a raw notification: the ones signatures and disputes need. */
const KEPT_HEADERS = /^(content-type|wechatpay-.*|stripe-signature|sandbox-signature|user-agent|request-id)$/;

export const callbacks = new Hono<AppEnv>();

callbacks.post("/:channel", async (c) => {
  const name = c.req.param("channel");
  const adapter = isChannel(name) ? channels(c.env).get(name) : undefined;
  if (!adapter) return errorResponse(c, "channel_not_found");
  // The declared length rejects a large body before reading it; the bytes read are the truth.
  if (Number(c.req.header("content-length") ?? "0") > LIMITS.callbackBodyBytesMax) {
    return errorResponse(c, "payload_too_large");
  }
  const body = new Uint8Array(await c.req.arrayBuffer());
  if (body.length > LIMITS.callbackBodyBytesMax) return errorResponse(c, "payload_too_large");
  return receiveCallback(c.env, c.var.log, adapter, c.req.raw.headers, body);
});

/**
 * The callback path itself, also used by the sandbox's simulated provider so its callbacks
 * take exactly the route a real provider's do (minus the network hop).
 */
export async function receiveCallback(
  env: Env,
  log: Logger,
  adapter: ChannelAdapter,
  headers: Headers,
  body: Uint8Array<ArrayBuffer>,
): Promise<Response> {
  const nowMs = Date.now();
  const outcome = await adapter.verify({ headers, body }, nowMs);
  const kept: Record<string, string> = {};
  for (const [k, v] of headers) {
    if (KEPT_HEADERS.test(k) && Object.keys(kept).length < LIMITS.callbackHeadersKept) kept[k] = v.slice(0, 1024);
  }
  const id = newId("ntf", nowMs);
  const store = env.DB.prepare(
    `INSERT INTO payment_notifications (id, channel, event_id, verified, refusal, headers, body_base64, received_at_ms, retain_until_ms)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (channel, event_id) WHERE verified = 1 DO NOTHING`,
  ).bind(
    id,
    adapter.name,
    outcome.ok ? outcome.notification.eventId : null,
    outcome.ok ? 1 : 0,
    outcome.ok ? null : `${outcome.failure}: ${outcome.detail}`.slice(0, 500),
    JSON.stringify(kept),
    bytesBase64(body),
    nowMs,
    nowMs + configFrom(env).paymentNotificationRetentionMs,
  );
  if (!outcome.ok) {
    log.warn("payment_callback_refused", {
      channel: adapter.name,
      notificationId: id,
      failure: outcome.failure,
      detail: outcome.detail,
    });
    try {
      await store.run();
    } catch (error) {
      log.error("payment_callback_store_failed", { channel: adapter.name, error: String(error) });
    }
    // A genuine callback we could not verify (a key we do not hold yet) must come again.
    return adapter.retryLater("signature verification failed");
  }
  const { eventId, event } = outcome.notification;
  try {
    const [, found] = await env.DB.batch([
      store,
      env.DB.prepare(
        "SELECT id, applied_at_ms FROM payment_notifications WHERE channel = ? AND event_id = ? AND verified = 1",
      ).bind(adapter.name, eventId),
    ]);
    const stored = found?.results[0] as { id: string; applied_at_ms: number | null } | undefined;
    if (!stored) throw new Error("the notification is not stored after its insert");
    if (stored.applied_at_ms === null) {
      const message: PaymentCallbackMessage = {
        kind: "payment.callback",
        notificationId: stored.id,
        channel: adapter.name,
        eventId,
        event,
      };
      await env.PAYMENT_CALLBACKS.send(message);
    }
  } catch (error) {
    log.error("payment_callback_enqueue_failed", { channel: adapter.name, eventId, error: String(error) });
    return adapter.retryLater("temporarily unavailable");
  }
  return adapter.received();
}

/** A failing message waits on the payment-callback curve (60 s, 120 s, … 5 min); queues count whole seconds. */
function retryDelaySeconds(attempts: number): number {
  return Math.ceil(retryDelayMs("paymentCallback", attempts, Math.random()) / 1000);
}

const ALERT_AFTER_ATTEMPTS = 3;

export async function handlePaymentCallbacksBatch(batch: MessageBatch<unknown>, env: Env, log: Logger): Promise<void> {
  for (const message of batch.messages) {
    const parsed = PaymentQueueMessage.safeParse(message.body);
    if (!parsed.success) {
      // Only this service writes here; a malformed message is a bug. Keep it for the DLQ.
      log.error("payment_message_malformed", { messageId: message.id, attempts: message.attempts });
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
      continue;
    }
    const m = parsed.data;
    try {
      if (m.kind === "payment.callback") await applyCallback(env, m, log);
      else if (m.kind === "payment.query") {
        const verdict = await queryOrder(queryContext(env, log, Date.now()), m.orderId);
        if (verdict.kind === "retry") {
          reportFailedAttempt(log, "query", { orderId: m.orderId, attempts: verdict.attempts, detail: verdict.detail });
          message.retry({ delaySeconds: Math.ceil(verdict.delayMs / 1000) });
          continue;
        }
        if (verdict.kind === "done") await afterApplied(env, verdict.outcome, log);
        log.info("payment_query_applied", { orderId: m.orderId, verdict: verdict.kind });
      } else {
        const verdict = await sendRefund(refundContext(env, log, Date.now()), m.refundId);
        if (verdict.kind === "retry") {
          reportFailedAttempt(log, "refund", {
            refundId: m.refundId,
            attempts: verdict.attempts,
            detail: verdict.detail,
          });
          message.retry({ delaySeconds: Math.ceil(verdict.delayMs / 1000) });
          continue;
        }
      }
    } catch (error) {
      const fields = { kind: m.kind, messageId: message.id, attempts: message.attempts, error: String(error) };
      if (message.attempts >= ALERT_AFTER_ATTEMPTS) log.error("alert_payment_message_failing", fields);
      else log.warn("payment_message_failed", fields);
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
      continue;
    }
    message.ack();
  }
}

/** A channel call (query, refund) that failed: a warning, and an operator alert from the third attempt. */
function reportFailedAttempt(
  log: Logger,
  what: "query" | "refund",
  fields: { attempts: number } & Record<string, unknown>,
) {
  if (fields.attempts >= ALERT_AFTER_ATTEMPTS) log.error(`alert_payment_${what}_failing`, fields);
  else log.warn(`payment_${what}_failed`, fields);
}

/**
 * A requested refund goes to its channel through the queue, so a failing channel is retried
 * on the tiered schedule (5–10 s first) and the request survives the isolate. If even the
 * enqueue fails, the sweeper sends it from the refund's `next_attempt_at_ms`.
 */
export async function enqueueRefund(env: Env, refundId: string, log: Logger): Promise<void> {
  try {
    await env.PAYMENT_CALLBACKS.send({ kind: "payment.refund", refundId } satisfies PaymentRefundMessage);
  } catch (error) {
    log.warn("payment_refund_enqueue_failed", { refundId, error: String(error) });
  }
}

async function applyCallback(env: Env, m: PaymentCallbackMessage, log: Logger): Promise<void> {
  const nowMs = Date.now();
  const outcome = await applyPaymentReport(env.DB, {
    channel: m.channel,
    event: m.event,
    ref: m.notificationId,
    cause: "callback",
    nowMs,
    tipRules: configFrom(env),
  });
  await env.DB.prepare("UPDATE payment_notifications SET outcome = ?, applied_at_ms = ? WHERE id = ?")
    .bind(JSON.stringify(outcome).slice(0, 1000), nowMs, m.notificationId)
    .run();
  if (outcome.kind === "flagged") {
    log.error("alert_payment_flagged", { notificationId: m.notificationId, channel: m.channel, ...outcome });
  } else {
    log.info("payment_callback_applied", {
      notificationId: m.notificationId,
      channel: m.channel,
      outcome: outcome.kind,
    });
  }
  await afterApplied(env, outcome, log);
}

export function queryContext(env: Env, log: Logger, nowMs: number): QueryContext {
  return {
    db: env.DB,
    clients: channelClients(env),
    log,
    nowMs,
    random: Math.random,
    tipRules: configFrom(env),
  };
}

export function refundContext(env: Env, log: Logger, nowMs: number): RefundContext {
  return { db: env.DB, clients: channelClients(env), log, nowMs, random: Math.random };
}

/** Cron: query open orders whose deadline (or retry) is due, send refunds still waiting, flag stuck ones. */
export async function sweepPayments(
  env: Env,
  nowMs: number,
  log: Logger,
): Promise<{ queried: number; refunds: number; stuckRefunds: number }> {
  const ctx = queryContext(env, log, nowMs);
  const due = await dueForQuery(env.DB, nowMs, LIMITS.paymentSweepBatchMax);
  for (const orderId of due) {
    try {
      const verdict = await queryOrder(ctx, orderId);
      if (verdict.kind === "done") await afterApplied(env, verdict.outcome, log);
      if (verdict.kind === "retry") {
        reportFailedAttempt(log, "query", { orderId, attempts: verdict.attempts, detail: verdict.detail });
      }
    } catch (error) {
      log.error("payment_sweep_query_failed", { orderId, error: String(error) });
    }
  }
  const refunds = await refundsDue(env.DB, nowMs, LIMITS.paymentSweepBatchMax);
  const rctx = refundContext(env, log, nowMs);
  for (const refundId of refunds) {
    try {
      const verdict = await sendRefund(rctx, refundId);
      if (verdict.kind === "retry") {
        reportFailedAttempt(log, "refund", { refundId, attempts: verdict.attempts, detail: verdict.detail });
      }
    } catch (error) {
      log.error("payment_sweep_refund_failed", { refundId, error: String(error) });
    }
  }
  const stuck = await flagStuckRefunds(env.DB, nowMs, log, LIMITS.paymentSweepBatchMax);
  return { queried: due.length, refunds: refunds.length, stuckRefunds: stuck };
}

/** Cron: raw notifications past their retention, and channel call records older than a day. */
export async function purgePaymentRecords(db: D1Database, nowMs: number): Promise<number> {
  const res = await db
    .prepare(
      `DELETE FROM payment_notifications WHERE id IN (
         SELECT id FROM payment_notifications WHERE retain_until_ms < ? LIMIT ?)`,
    )
    .bind(nowMs, LIMITS.paymentPurgeBatchMax)
    .run();
  return res.meta.changes + (await purgeChannelCalls(db, nowMs));
}
