/**
 * The payments queue: verified provider callbacks (from routes/payment-callbacks.ts), active
 * queries of an order at its deadline (from routes/payments.ts), and refunds to send to their
 * channel. Every message is applied idempotently, so a redelivery changes nothing.
 */

import { z } from "zod";
import { CHANNELS, ChannelEventSchema } from "../../channels/channel";
import { applyPaymentReport } from "../../db/payment-reports";
import { type Ledger, openLedger } from "../../db/shards";
import { idPattern } from "../../domain/ids";
import { LIMITS } from "../../domain/limits";
import { configFrom } from "../../platform/config";
import type { Logger } from "../../platform/logger";
import { metricsFor } from "../../platform/metrics";
import { queryContext, refundContext, reportFailedAttempt } from "../payments/channel-tasks";
import { queryOrder } from "../payments/orders";
import { afterApplied } from "../payments/pay-to-tip";
import { sendRefund } from "../payments/refunds";
import { tipRulesWithRooms } from "../rooms/tip-rates";
import { dropMalformed } from "./malformed";
import { retryDelaySeconds } from "./retry";

/** The queue's name in wrangler.toml; index.ts dispatches on it exactly. */
export const PAYMENT_CALLBACKS_QUEUE = "giftwire-payment-callbacks";

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
  orderId: z.string().regex(idPattern("order")),
});
export type PaymentQueryMessage = z.infer<typeof PaymentQueryMessage>;

/** Send a requested refund to its channel (again, after a failure). */
export const PaymentRefundMessage = z.object({
  kind: z.literal("payment.refund"),
  refundId: z.string().regex(idPattern("orf")),
});
export type PaymentRefundMessage = z.infer<typeof PaymentRefundMessage>;

/** Everything on the payments queue: verified callbacks, active queries, refunds to send. */
export const PaymentQueueMessage = z.discriminatedUnion("kind", [
  PaymentCallbackMessage,
  PaymentQueryMessage,
  PaymentRefundMessage,
]);
export type PaymentQueueMessage = z.infer<typeof PaymentQueueMessage>;

/** The consumer of PAYMENT_CALLBACKS: callbacks applied, orders queried, refunds sent. */
export async function handlePaymentCallbacksBatch(batch: MessageBatch<unknown>, env: Env, log: Logger): Promise<void> {
  const ledger = await openLedger(env);
  for (const message of batch.messages) {
    const parsed = PaymentQueueMessage.safeParse(message.body);
    if (!parsed.success) {
      dropMalformed(PAYMENT_CALLBACKS_QUEUE, message, parsed.error, log);
      continue;
    }
    const m = parsed.data;
    try {
      if (m.kind === "payment.callback") await applyCallback(env, ledger, m, log);
      else if (m.kind === "payment.query") {
        const verdict = await queryOrder(queryContext(env, ledger, log, Date.now()), m.orderId);
        if (verdict.kind === "retry") {
          reportFailedAttempt(log, "query", { orderId: m.orderId, attempts: verdict.attempts, detail: verdict.detail });
          message.retry({ delaySeconds: Math.ceil(verdict.delayMs / 1000) });
          continue;
        }
        if (verdict.kind === "done") await afterApplied(env, verdict.outcome, log);
        log.info("payment_query_applied", { orderId: m.orderId, verdict: verdict.kind });
      } else {
        const verdict = await sendRefund(refundContext(env, ledger, log, Date.now()), m.refundId);
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
      if (message.attempts >= LIMITS.alertAfterAttempts) log.error("alert_payment_message_failing", fields);
      else log.warn("payment_message_failed", fields);
      message.retry({ delaySeconds: retryDelaySeconds("paymentCallback", message.attempts) });
      continue;
    }
    message.ack();
  }
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

async function applyCallback(env: Env, ledger: Ledger, m: PaymentCallbackMessage, log: Logger): Promise<void> {
  const nowMs = Date.now();
  const outcome = await applyPaymentReport(ledger, {
    channel: m.channel,
    event: m.event,
    ref: m.notificationId,
    cause: "callback",
    nowMs,
    tipRules: tipRulesWithRooms(env, configFrom(env)),
  });
  await ledger.control
    .prepare("UPDATE payment_notifications SET outcome = ?, applied_at_ms = ? WHERE id = ?")
    .bind(JSON.stringify(outcome).slice(0, 1000), nowMs, m.notificationId)
    .run();
  metricsFor(env).count("payment_callback", m.channel, outcome.kind);
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
