import { Hono } from "hono";
import { z } from "zod";
import { CHANNELS, type ChannelAdapter, type ChannelName, isChannel } from "../../channels/channel";
import { bytesBase64 } from "../../channels/encoding";
import { applyPaymentReport, type PaymentOutcome } from "../../db/payments";
import { newId } from "../../domain/ids";
import { LIMITS } from "../../domain/limits";
import type { AppEnv, Logger } from "../context";
import { errorResponse } from "../errors";
import { channels } from "./channels";

/**
 * Payment callbacks: verify, store the raw notification, enqueue, answer in the provider's
 * format — in that order, and nothing else on the request path. A verified notification
 * whose storing or enqueueing fails is answered "retry later", so the provider delivers it
 * again: nothing is acknowledged that is not safely on our side. A refused one (forged,
 * tampered, stale, unknown key) is stored with its refusal, logged, and changes nothing.
 */

const MerchantCheck = z.object({ field: z.string(), expected: z.string(), actual: z.string().nullable() });
const amount = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

export const ChannelEventSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("payment"),
    status: z.enum(["succeeded", "failed", "closed"]),
    merchantOrderNo: z.string().min(1).max(64),
    providerTxnId: z.string().min(1).max(255).nullable(),
    amountMinor: amount,
    currency: z.string().min(3).max(3),
    merchant: z.array(MerchantCheck).max(4).readonly(),
  }),
  z.object({
    kind: z.literal("refund"),
    merchantOrderNo: z.string().min(1).max(64),
    providerRefundId: z.string().min(1).max(255),
    amountMinor: amount.nullable(),
    refundedTotalMinor: z.number().int().nonnegative().nullable(),
    currency: z.string().min(3).max(3),
    merchant: z.array(MerchantCheck).max(4).readonly(),
  }),
  z.object({ kind: z.literal("ignored"), reason: z.string().max(256) }),
]);

export const PaymentCallbackMessage = z.object({
  kind: z.literal("payment.callback"),
  notificationId: z.string().min(1).max(64),
  channel: z.enum(CHANNELS),
  eventId: z.string().min(1).max(255),
  event: ChannelEventSchema,
});
export type PaymentCallbackMessage = z.infer<typeof PaymentCallbackMessage>;

/** Headers kept with a raw notification: the ones signatures and disputes need. */
const KEPT_HEADERS = /^(content-type|wechatpay-.*|stripe-signature|sandbox-signature|user-agent|request-id)$/;

export const callbacks = new Hono<AppEnv>();

callbacks.post("/:channel", async (c) => {
  const name = c.req.param("channel");
  const adapter = isChannel(name) ? channels(c.env).get(name) : undefined;
  if (!adapter) return errorResponse(c, "channel_not_found");
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > LIMITS.callbackBodyBytesMax) return errorResponse(c, "payload_too_large");
  return receiveCallback(c.env, c.var.log, adapter, c.req.raw);
});

/**
 * The callback path itself, also used by the sandbox's simulated provider so its callbacks
 * take exactly the route a real provider's do (minus the network hop).
 */
export async function receiveCallback(
  env: Env,
  log: Logger,
  adapter: ChannelAdapter,
  request: Request,
): Promise<Response> {
  const body = new Uint8Array(await request.arrayBuffer());
  if (body.length > LIMITS.callbackBodyBytesMax) {
    return Response.json({ error: { code: "payload_too_large" } }, { status: 413 });
  }
  const nowMs = Date.now();
  const outcome = await adapter.verify({ headers: request.headers, body }, nowMs);
  const notificationId = newId("ntf", nowMs);
  const headers: Record<string, string> = {};
  for (const [k, v] of request.headers) {
    if (KEPT_HEADERS.test(k) && Object.keys(headers).length < LIMITS.callbackHeadersKept) headers[k] = v.slice(0, 1024);
  }
  const retentionMs = Number(env.PAYMENT_NOTIFICATION_RETENTION_DAYS) * 24 * 60 * 60 * 1000;
  const store = env.DB.prepare(
    `INSERT INTO payment_notifications (id, channel, event_id, verified, refusal, headers, body_base64, received_at_ms, retain_until_ms)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).bind(
    notificationId,
    adapter.name,
    outcome.ok ? outcome.notification.eventId : null,
    outcome.ok ? 1 : 0,
    outcome.ok ? null : `${outcome.failure}: ${outcome.detail}`.slice(0, 500),
    JSON.stringify(headers),
    bytesBase64(body),
    nowMs,
    nowMs + (Number.isFinite(retentionMs) && retentionMs > 0 ? retentionMs : LIMITS.notificationRetentionMsDefault),
  );
  if (!outcome.ok) {
    log.warn("payment_callback_refused", {
      channel: adapter.name,
      notificationId,
      failure: outcome.failure,
      detail: outcome.detail,
    });
    try {
      await store.run();
    } catch (error) {
      log.error("payment_callback_store_failed", { channel: adapter.name, error: String(error) });
    }
    // A genuine callback we could not verify (a key we have not loaded yet) must come again.
    return adapter.retryLater("signature verification failed");
  }
  try {
    await store.run();
    const message: PaymentCallbackMessage = {
      kind: "payment.callback",
      notificationId,
      channel: adapter.name,
      eventId: outcome.notification.eventId,
      event: outcome.notification.event,
    };
    await env.PAYMENT_CALLBACKS.send(message);
  } catch (error) {
    log.error("payment_callback_enqueue_failed", { channel: adapter.name, notificationId, error: String(error) });
    return adapter.retryLater("temporarily unavailable");
  }
  return adapter.received();
}

/** Progressive backoff for a failing notification: 60 s, 120 s, … capped at 5 min. */
export function callbackRetryDelaySeconds(attempts: number): number {
  return Math.min(300, 60 * Math.max(1, attempts));
}

const ALERT_AFTER_ATTEMPTS = 3;

export async function handlePaymentCallbacksBatch(batch: MessageBatch<unknown>, env: Env, log: Logger): Promise<void> {
  for (const message of batch.messages) {
    const parsed = PaymentCallbackMessage.safeParse(message.body);
    if (!parsed.success) {
      // Only the callback route writes here; a malformed message is a bug. Keep it for the DLQ.
      log.error("payment_callback_malformed", { messageId: message.id, attempts: message.attempts });
      message.retry({ delaySeconds: callbackRetryDelaySeconds(message.attempts) });
      continue;
    }
    const m = parsed.data;
    const nowMs = Date.now();
    let outcome: PaymentOutcome;
    try {
      outcome = await applyPaymentReport(env.DB, {
        channel: m.channel as ChannelName,
        event: m.event,
        ref: m.notificationId,
        cause: "callback",
        nowMs,
      });
      await env.DB.prepare("UPDATE payment_notifications SET outcome = ?, applied_at_ms = ? WHERE id = ?")
        .bind(JSON.stringify(outcome).slice(0, 1000), nowMs, m.notificationId)
        .run();
    } catch (error) {
      const fields = {
        notificationId: m.notificationId,
        channel: m.channel,
        attempts: message.attempts,
        error: String(error),
      };
      if (message.attempts >= ALERT_AFTER_ATTEMPTS) log.error("alert_payment_callback_failing", fields);
      else log.warn("payment_callback_failed", fields);
      message.retry({ delaySeconds: callbackRetryDelaySeconds(message.attempts) });
      continue;
    }
    if (outcome.kind === "flagged") {
      log.error("alert_payment_flagged", { notificationId: m.notificationId, channel: m.channel, ...outcome });
    } else {
      log.info("payment_callback_applied", {
        notificationId: m.notificationId,
        channel: m.channel,
        outcome: outcome.kind,
      });
    }
    message.ack();
  }
}
