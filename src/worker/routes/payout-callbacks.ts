/**
 * Payout callbacks: the payment callbacks' path (routes/payment-callbacks.ts) for money out —
 * verify, store the raw notification (control payment_notifications, once per channel and
 * event id), enqueue `payout.callback` on PAYOUTS, answer in the provider's format. Nothing
 * else on the request path; the consumer (queues/payouts.ts) applies it once. A resend of an
 * event already applied is acknowledged at once; one not applied yet is enqueued again under
 * the same notification id.
 */

import { Hono } from "hono";
import { isChannel } from "../../channels/channel";
import { bytesBase64 } from "../../channels/encoding";
import type { PayoutCallbackMessage } from "../../db/messages/payouts";
import { newId } from "../../domain/ids";
import { LIMITS } from "../../domain/limits";
import { configFrom } from "../../platform/config";
import type { AppEnv } from "../context";
import { errorResponse } from "../errors";
import { authenticate } from "../middleware/auth";
import { payoutWebhookFor } from "../payouts/webhooks";

const KEPT_HEADERS = /^(content-type|wechatpay-.*|stripe-signature|sandbox-signature|user-agent|request-id)$/;

/** Mounted at /v1/payouts/callbacks by app.ts, outside /v1's middleware, like the payment callbacks. */
export const payoutCallbacks = new Hono<AppEnv>();

payoutCallbacks.post("/:channel", authenticate("signature"), async (c) => {
  const name = c.req.param("channel");
  const hook = isChannel(name) ? payoutWebhookFor(c.env, name) : null;
  if (!isChannel(name) || !hook) return errorResponse(c, "channel_not_found");
  if (Number(c.req.header("content-length") ?? "0") > LIMITS.callbackBodyMaxBytes) {
    return errorResponse(c, "payload_too_large");
  }
  const body = new Uint8Array(await c.req.arrayBuffer());
  if (body.length > LIMITS.callbackBodyMaxBytes) return errorResponse(c, "payload_too_large");
  const log = c.var.log;
  const nowMs = Date.now();
  const outcome = await hook.verify({ headers: c.req.raw.headers, body }, nowMs);
  const kept: Record<string, string> = {};
  for (const [k, v] of c.req.raw.headers) {
    if (KEPT_HEADERS.test(k) && Object.keys(kept).length < LIMITS.callbackHeadersMax) kept[k] = v.slice(0, 1024);
  }
  const id = newId("ntf", nowMs);
  const eventId = outcome.ok ? (outcome.notification?.eventId ?? `ignored:${id}`) : null;
  const store = c.env.CONTROL.prepare(
    `INSERT INTO payment_notifications (id, channel, event_id, verified, refusal, headers, body_base64, received_at_ms,
       retain_until_ms, outcome, applied_at_ms)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (channel, event_id) WHERE verified = 1 DO NOTHING`,
  ).bind(
    id,
    name,
    eventId,
    outcome.ok ? 1 : 0,
    outcome.ok ? null : `${outcome.failure}: ${outcome.detail}`.slice(0, 500),
    JSON.stringify(kept),
    bytesBase64(body),
    nowMs,
    nowMs + configFrom(c.env).paymentNotificationRetentionMs,
    outcome.ok && outcome.notification === null ? `ignored: ${outcome.ignored}`.slice(0, 500) : null,
    outcome.ok && outcome.notification === null ? nowMs : null,
  );
  if (!outcome.ok) {
    log.warn("payout_callback_refused", { channel: name, notificationId: id, failure: outcome.failure });
    try {
      await store.run();
    } catch (error) {
      log.error("payout_callback_store_failed", { channel: name, error: String(error) });
    }
    return hook.retryLater("signature verification failed");
  }
  const notification = outcome.notification;
  try {
    const [, found] = await c.env.CONTROL.batch([
      store,
      c.env.CONTROL.prepare(
        "SELECT id, applied_at_ms FROM payment_notifications WHERE channel = ? AND event_id = ? AND verified = 1",
      ).bind(name, eventId),
    ]);
    const stored = found?.results[0] as { id: string; applied_at_ms: number | null } | undefined;
    if (!stored) throw new Error("the notification is not stored after its insert");
    if (notification && stored.applied_at_ms === null) {
      const message: PayoutCallbackMessage = {
        kind: "payout.callback",
        notificationId: stored.id,
        channel: name,
        eventId: notification.eventId,
        withdrawalId: notification.withdrawalId,
        outcome: notification.outcome,
        amountMinor: notification.amountMinor,
      };
      await c.env.PAYOUTS.send(message);
    }
  } catch (error) {
    log.error("payout_callback_enqueue_failed", { channel: name, eventId, error: String(error) });
    return hook.retryLater("temporarily unavailable");
  }
  return hook.received();
});
