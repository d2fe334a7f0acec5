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
 * (queues/payment-callbacks.ts) applies idempotently — so a resend never applies, or flags,
 * an event twice.
 */

import { Hono } from "hono";
import { type ChannelAdapter, isChannel } from "../../channels/channel";
import { LIMITS } from "../../domain/limits";
import type { Logger } from "../../platform/logger";
import { rawCallbackInsert, storeVerifiedCallback } from "../callbacks/raw-log";
import type { AppEnv } from "../context";
import { errorResponse } from "../errors";
import { authenticate } from "../middleware/auth";
import { limitCallbacks } from "../middleware/rate-limit";
import { channels } from "../payments/channels";
import type { PaymentCallbackMessage } from "../queues/payment-callbacks";

/**
 * Mounted at /v1/payments/callbacks by app.ts, outside /v1's middleware: raw bytes, their own
 * size limit, no CORS, and no bearer token — the provider's signature is the authentication.
 */
export const paymentCallbacks = new Hono<AppEnv>();

paymentCallbacks.post("/:channel", authenticate("signature"), limitCallbacks(), async (c) => {
  const name = c.req.param("channel");
  const adapter = isChannel(name) ? channels(c.env).get(name) : undefined;
  if (!adapter) return errorResponse(c, "channel_not_found");
  // The declared length rejects a large body before reading it; the bytes read are the truth.
  if (Number(c.req.header("content-length") ?? "0") > LIMITS.callbackBodyMaxBytes) {
    return errorResponse(c, "payload_too_large");
  }
  const body = new Uint8Array(await c.req.arrayBuffer());
  if (body.length > LIMITS.callbackBodyMaxBytes) return errorResponse(c, "payload_too_large");
  return receiveCallback(c.env, c.var.log, adapter, c.req.raw.headers, body);
});

/** The callback path itself: verify, store, enqueue, answer in the provider's format. */
async function receiveCallback(
  env: Env,
  log: Logger,
  adapter: ChannelAdapter,
  headers: Headers,
  body: Uint8Array<ArrayBuffer>,
): Promise<Response> {
  const nowMs = Date.now();
  const outcome = await adapter.verify({ headers, body }, nowMs);
  // Raw notifications are the operators' record of what channels sent: the control database.
  const { id, statement: store } = rawCallbackInsert(env, {
    channel: adapter.name,
    headers,
    body,
    nowMs,
    eventId: outcome.ok ? outcome.notification.eventId : null,
    refusal: outcome.ok ? null : `${outcome.failure}: ${outcome.detail}`,
  });
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
    const stored = await storeVerifiedCallback(env, store, adapter.name, eventId);
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
