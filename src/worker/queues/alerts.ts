/**
 * The consumer of ALERTS: each message names one delivery (an incident's open or resolve
 * message to one target, stored before it was queued: db/alerts.ts). A delivery is sent at
 * most once — a redelivered message finds it no longer `queued` and is acknowledged — unless
 * the target's hourly budget is spent (then an open message is recorded `rate_limited`, not
 * sent, and its incident will send no resolve either; resolve messages of sent opens always
 * go). A
 * target that does not take it (network error, non-2xx, Feishu's or WeCom's error code)
 * is retried with backoff; the last delivery records it `failed` and the message goes to the
 * DLQ. Requests are built and signed by domain/alerts.ts.
 */

import { z } from "zod";
import { findDelivery, findTarget, sentWithinHour, settleDelivery } from "../../db/alerts";
import { type AlertEvent, alertRequest, deliveredBy, withinRate } from "../../domain/alerts";
import type { Logger } from "../../platform/logger";
import { metricsFor } from "../../platform/metrics";
import { unseal } from "../../platform/sealing";
import { dropMalformed } from "./malformed";
import { retryDelaySeconds } from "./retry";

/** The queue's name in wrangler.toml; index.ts dispatches on it exactly. */
export const ALERTS_QUEUE = "giftwire-alerts";
/** wrangler.toml's max_retries for the queue: deliveries = retries + 1. */
export const ALERTS_MAX_RETRIES = 5;
/** How long a target may take to answer. */
const SEND_TIMEOUT_MS = 10_000;

export const AlertMessage = z.strictObject({ deliveryId: z.string().min(1).max(200) });
export type AlertMessage = z.infer<typeof AlertMessage>;

export const targetContext = (id: string) => `alert_target:${id}`;

export const TargetSecrets = z.strictObject({ url: z.url(), secret: z.string().nullable() });

export async function handleAlertsBatch(
  batch: MessageBatch<unknown>,
  env: Env,
  log: Logger,
  fetcher: typeof fetch = fetch,
): Promise<void> {
  for (const message of batch.messages) {
    const parsed = AlertMessage.safeParse(message.body);
    if (!parsed.success) {
      dropMalformed(ALERTS_QUEUE, message, parsed.error, log);
      continue;
    }
    try {
      const outcome = await deliver(env, parsed.data.deliveryId, message.attempts, log, fetcher);
      if (outcome === "retry") message.retry({ delaySeconds: retryDelaySeconds("roomQueue", message.attempts) });
      else message.ack();
    } catch (error) {
      log.error("alert_delivery_crashed", { deliveryId: parsed.data.deliveryId, error: String(error) });
      message.retry({ delaySeconds: retryDelaySeconds("roomQueue", message.attempts) });
    }
  }
}

async function deliver(
  env: Env,
  deliveryId: string,
  attempts: number,
  log: Logger,
  fetcher: typeof fetch,
): Promise<"done" | "retry"> {
  const db = env.CONTROL;
  const nowMs = Date.now();
  const delivery = await findDelivery(db, deliveryId);
  if (delivery?.state !== "queued") return "done";
  const target = await findTarget(db, delivery.target_id);
  if (target?.enabled !== 1) {
    await settleDelivery(db, deliveryId, { state: "failed", error: "target removed or disabled", nowMs });
    return "done";
  }
  // Resolve messages are not limited: each follows an open message that was sent (one per
  // incident at most), and an incident left looking open is worse than one message more.
  if (
    delivery.event === "open" &&
    !withinRate(await sentWithinHour(db, target.id, nowMs), nowMs, target.rate_per_hour)
  ) {
    await settleDelivery(db, deliveryId, { state: "rate_limited", error: null, nowMs });
    log.warn("alert_rate_limited", { deliveryId, targetId: target.id });
    return "done";
  }
  const secrets = TargetSecrets.parse(
    JSON.parse(await unseal(env.PII_KEYS, targetContext(target.id), { sealed: target.sealed, keyId: target.key_id })),
  );
  const event: AlertEvent = {
    event: delivery.event,
    incidentId: delivery.incident_id,
    rule: delivery.rule_name ?? "(deleted rule)",
    subject: delivery.subject,
    severity: delivery.severity,
    summary: delivery.summary,
    openedAtMs: delivery.opened_at_ms,
    resolvedAtMs: delivery.resolved_at_ms,
  };
  const request = await alertRequest(target.kind, event, secrets.secret, nowMs);
  let error: string;
  try {
    const res = await fetcher(secrets.url, {
      method: "POST",
      headers: request.headers,
      body: request.body,
      signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
    });
    const text = await res.text();
    if (deliveredBy(target.kind, res.status, text)) {
      await settleDelivery(db, deliveryId, { state: "sent", error: null, nowMs });
      metricsFor(env).count("alert_delivery", target.kind, "sent");
      return "done";
    }
    error = `HTTP ${res.status}: ${text.slice(0, 200)}`;
  } catch (e) {
    error = String(e);
  }
  const last = attempts > ALERTS_MAX_RETRIES;
  // The row stays queued for the retry (attempts, error, and the time, so the alerts job does
  // not queue it a second time while this message is still retrying).
  await db
    .prepare(
      "UPDATE alert_deliveries SET attempts = attempts + 1, last_error = ?, queued_at_ms = ? WHERE id = ? AND state = 'queued'",
    )
    .bind(error.slice(0, 300), nowMs, deliveryId)
    .run();
  if (last) {
    await db
      .prepare("UPDATE alert_deliveries SET state = 'failed' WHERE id = ? AND state = 'queued'")
      .bind(deliveryId)
      .run();
    log.error("alert_delivery_failed", { deliveryId, targetId: target.id, error });
    metricsFor(env).count("alert_delivery", target.kind, "failed");
  } else {
    log.warn("alert_delivery_retry", { deliveryId, targetId: target.id, attempts, error });
  }
  return "retry";
}
