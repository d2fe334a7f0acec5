/**
 * Payout callbacks (WeChat MCHTRANSFER.BILL.FINISHED, Alipay alipay.fund.trans.order.changed,
 * Stripe transfer.* / payout.*): the payment callbacks' path — verify, store the raw
 * notification, enqueue, answer in the provider's format — and nothing else on the request.
 * A verified callback whose storing or enqueueing fails is answered "retry later", so the
 * provider delivers it again; a refused one (forged, tampered, stale, unknown key) is stored
 * with its refusal and changes nothing.
 *
 * Raw rows go to control `payment_notifications` under the channel `payout:{channel}`, so a
 * payout event is never taken for a payment event with the same id, and the retention purge
 * covers both. One verified row per (channel, event id): a resend of an event already applied
 * is acknowledged at once; one not yet applied is enqueued again under the same notification
 * id, which the PAYOUTS consumer applies once per withdrawal state.
 */

import { Hono } from "hono";
import type { ChannelName } from "../../channels/channel";
import { isChannel } from "../../channels/channel";
import type { PayoutCallbackMessage } from "../../db/messages/payouts";
import { LIMITS } from "../../domain/limits";
import type { Logger } from "../../platform/logger";
import { rawCallbackInsert, storeVerifiedCallback } from "../callbacks/raw-log";
import type { AppEnv } from "../context";
import { errorResponse } from "../errors";
import { authenticate } from "../middleware/auth";
import { limitCallbacks } from "../middleware/rate-limit";
import { type PayoutWebhook, payoutWebhookFor } from "../payouts/clients";

/** The `payment_notifications.channel` of a payout callback. */
export const payoutNotificationChannel = (channel: string) => `payout:${channel}`;

/**
 * Mounted at /v1/payouts/callbacks by app.ts, outside /v1's middleware: raw bytes, their own
 * size limit, no CORS, and no bearer token — the provider's signature is the authentication.
 */
export const payoutCallbacks = new Hono<AppEnv>();

payoutCallbacks.post("/:channel", authenticate("signature"), limitCallbacks(), async (c) => {
  const name = c.req.param("channel");
  // The lookup is the one place that says which channels pay out here (the sandbox joins it
  // where its payout webhook is built).
  const webhook = isChannel(name) ? payoutWebhookFor(c.env, name) : null;
  if (!isChannel(name) || !webhook) return errorResponse(c, "channel_not_found");
  // The declared length rejects a large body before reading it; the bytes read are the truth.
  if (Number(c.req.header("content-length") ?? "0") > LIMITS.callbackBodyMaxBytes) {
    return errorResponse(c, "payload_too_large");
  }
  const body = new Uint8Array(await c.req.arrayBuffer());
  if (body.length > LIMITS.callbackBodyMaxBytes) return errorResponse(c, "payload_too_large");
  return receivePayoutCallback(c.env, c.var.log, name, webhook, c.req.raw.headers, body);
});

async function receivePayoutCallback(
  env: Env,
  log: Logger,
  name: ChannelName,
  webhook: Pick<PayoutWebhook, "verify" | "received" | "retryLater">,
  headers: Headers,
  body: Uint8Array<ArrayBuffer>,
): Promise<Response> {
  const nowMs = Date.now();
  const outcome = await webhook.verify({ headers, body }, nowMs);
  const channel = payoutNotificationChannel(name);
  const notification = outcome.ok ? outcome.notification : null;
  // A verified event about nothing a withdrawal waits for is kept as applied: nothing to do.
  const ignored = outcome.ok && !outcome.notification ? outcome.ignored : null;
  const { id, statement: store } = rawCallbackInsert(env, {
    channel,
    headers,
    body,
    nowMs,
    eventId: notification?.eventId ?? null,
    refusal: outcome.ok ? null : `${outcome.failure}: ${outcome.detail}`,
    appliedOutcome: ignored === null ? null : `ignored: ${ignored}`,
  });
  if (!outcome.ok) {
    log.warn("payout_callback_refused", {
      channel: name,
      notificationId: id,
      failure: outcome.failure,
      detail: outcome.detail,
    });
    try {
      await store.run();
    } catch (error) {
      log.error("payout_callback_store_failed", { channel: name, error: String(error) });
    }
    // A genuine callback we could not verify (a key we do not hold yet) must come again.
    return webhook.retryLater("signature verification failed");
  }
  if (!notification) {
    try {
      await store.run();
    } catch (error) {
      log.error("payout_callback_store_failed", { channel: name, error: String(error) });
      return webhook.retryLater("temporarily unavailable");
    }
    log.info("payout_callback_ignored", { channel: name, notificationId: id, reason: ignored });
    return webhook.received();
  }
  const { eventId } = notification;
  try {
    const stored = await storeVerifiedCallback(env, store, channel, eventId);
    if (stored.applied_at_ms === null) {
      const message: PayoutCallbackMessage = {
        kind: "payout.callback",
        notificationId: stored.id,
        channel: notification.channel,
        eventId,
        withdrawalId: notification.withdrawalId,
        outcome: notification.outcome,
        amountMinor: notification.amountMinor,
      };
      await env.PAYOUTS.send(message);
    }
  } catch (error) {
    log.error("payout_callback_enqueue_failed", { channel: name, eventId, error: String(error) });
    return webhook.retryLater("temporarily unavailable");
  }
  return webhook.received();
}
