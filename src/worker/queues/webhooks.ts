/**
 * The consumer of WEBHOOKS (issue 18): each message is one attempt of one delivery (a partner
 * message to one endpoint). An attempt re-checks the endpoint's URL (HTTPS, no IP literal or
 * private address, through DNS over HTTPS), signs the stored body (Standard Webhooks, every live
 * secret), POSTs it without following redirects within WEBHOOK_TIMEOUT_MS, and records the
 * attempt (status, duration, error) with its consequences in one batch (db/webhooks.ts). A
 * failure queues the next attempt with the schedule's delay (at once, 5 s, 5 min, 30 min, 2 h,
 * 5 h, 10 h, 10 h) until it is spent; 410 disables the endpoint; an endpoint failing for 5 days
 * is disabled and its partner told (partner_notices).
 *
 * The queue's own retries cover only a crash of this code; an attempt already recorded is never
 * made again by them (the delivery's attempt count is the guard), and a retried message whose
 * attempt was recorded but whose successor was not queued queues it.
 */

import { z } from "zod";
import {
  type AttemptSettlement,
  type DeliveryRow,
  findDelivery,
  findEndpoint,
  findMessage,
  nextAttempt,
  noticePartner,
  recordAttempt,
  type WebhookAttemptMessage,
} from "../../db/webhooks";
import {
  attemptOutcome,
  failingTooLong,
  WEBHOOK_ATTEMPTS_MAX,
  WEBHOOK_RESPONSE_KEEP_CHARS,
  WEBHOOK_TIMEOUT_MS,
  webhookHeaders,
} from "../../domain/webhooks";
import { configFrom } from "../../platform/config";
import type { Logger } from "../../platform/logger";
import { type WebhookNetwork, webhookNetwork } from "../webhooks/network";
import { vetWebhookUrl } from "../webhooks/resolve";
import { endpointSecrets } from "../webhooks/secrets";
import { dropMalformed } from "./malformed";

/** The queue's name in wrangler.toml; index.ts dispatches on it exactly. */
export const WEBHOOKS_QUEUE = "giftwire-webhooks";

export const WebhookQueueMessage = z.strictObject({
  messageId: z.string().regex(/^msg_[0-9A-Z]{26}$/),
  endpointId: z.string().regex(/^whe_[0-9A-Z]{26}$/),
  attemptNo: z.number().int().min(1).max(WEBHOOK_ATTEMPTS_MAX),
});

export interface AttemptDeps extends WebhookNetwork {
  readonly nowMs: () => number;
  readonly timeoutMs: number;
}

export type AttemptResult =
  | { kind: "settled"; outcome: "succeeded" | "failed" | "gone" | "disabled" }
  | { kind: "skipped" }
  | { kind: "next"; message: WebhookAttemptMessage; delayS: number };

/** One attempt. Never throws for the receiver's behaviour; throws only for the platform's own failures. */
export async function attemptDelivery(
  env: Env,
  msg: WebhookAttemptMessage,
  deps: AttemptDeps,
  log: Logger,
): Promise<AttemptResult> {
  const db = env.CONTROL;
  const delivery = await findDelivery(db, msg.messageId, msg.endpointId);
  if (delivery?.state !== "pending") return { kind: "skipped" };
  if (delivery.attempts !== msg.attemptNo - 1) return requeueLost(delivery, msg, deps.nowMs());
  const [endpoint, message] = await Promise.all([findEndpoint(db, msg.endpointId), findMessage(db, msg.messageId)]);
  const startMs = deps.nowMs();
  const base = { messageId: msg.messageId, endpointId: msg.endpointId, attemptNo: msg.attemptNo, atMs: startMs };
  if (!endpoint || !message || endpoint.status !== "active") {
    await recordAttempt(
      db,
      {
        ...base,
        status: null,
        durationMs: 0,
        outcome: "refused",
        error: "endpoint disabled or removed",
        responseBody: null,
      },
      { delivery: { state: "failed", nextAttemptAtMs: null }, endpoint: "failed" },
    );
    return { kind: "settled", outcome: "disabled" };
  }

  let status: number | null = null;
  let error: string | null = null;
  let responseBody: string | null = null;
  let refused = false;
  // Everything the request needs is ready before the URL is vetted, so the DNS over HTTPS
  // lookup is the last step before the POST: the window in which a name could be re-pointed
  // (DNS rebinding) between our lookup and the fetch's own is as short as we can make it. A
  // Worker cannot pin the connection to the checked address: fetch resolves the name itself,
  // TLS needs the name, and `cf.resolveOverride` works only inside the Worker's own zone. So the
  // check runs on every attempt, redirects are never followed, and Workers' fetch does not reach
  // private networks in production (docs/ARCHITECTURE.md, "SSRF").
  const secrets = await endpointSecrets(env, endpoint, startMs);
  const headers = webhookHeaders(secrets, message.id, Math.floor(startMs / 1000), message.body);
  const vetted = await vetWebhookUrl(endpoint.url, configFrom(env).webhooks, deps.dnsFetch);
  if (!vetted.ok) {
    refused = true;
    error = `refused: ${vetted.reason}`;
  } else {
    try {
      const res = await deps.fetch(endpoint.url, {
        method: "POST",
        headers: { ...headers, "user-agent": "giftwire-webhooks/1" },
        body: message.body,
        // A redirect is a failure (Standard Webhooks): following it could lead anywhere.
        redirect: "manual",
        signal: AbortSignal.timeout(deps.timeoutMs),
      });
      status = res.status;
      responseBody = (await res.text().catch(() => "")).slice(0, WEBHOOK_RESPONSE_KEEP_CHARS);
      if (status >= 300 && status <= 399) error = "redirect not followed";
    } catch (e) {
      error = e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError") ? "timeout" : String(e);
    }
  }
  const nowMs = deps.nowMs();
  const outcome = refused ? "failed" : attemptOutcome(status);
  const next = outcome === "failed" ? nextAttempt(msg.attemptNo, nowMs) : null;
  const tooLong = outcome === "failed" && failingTooLong(endpoint.failing_since_ms, nowMs);
  const disable = outcome === "gone" ? "gone: the endpoint answered 410" : tooLong ? "failing for 5 days" : null;
  const settlement: AttemptSettlement = {
    delivery:
      outcome === "succeeded"
        ? { state: "succeeded", nextAttemptAtMs: null }
        : next && !disable
          ? { state: "pending", nextAttemptAtMs: next.dueAtMs }
          : { state: "failed", nextAttemptAtMs: null },
    endpoint: outcome === "succeeded" ? "succeeded" : disable ? { disable } : "failed",
  };
  const recorded = await recordAttempt(
    db,
    { ...base, status, durationMs: nowMs - startMs, outcome: refused ? "refused" : outcome, error, responseBody },
    settlement,
  );
  if (!recorded) return { kind: "skipped" };
  if (disable) {
    await noticePartner(
      db,
      endpoint.partner_id,
      "webhook_endpoint_disabled",
      `${endpoint.id}_${endpoint.updated_at_ms}`,
      { endpointId: endpoint.id, url: endpoint.url, reason: disable },
      nowMs,
    );
    log.warn("webhook_endpoint_disabled", { endpointId: endpoint.id, partnerId: endpoint.partner_id, reason: disable });
    return { kind: "settled", outcome: outcome === "gone" ? "gone" : "disabled" };
  }
  if (outcome === "succeeded") return { kind: "settled", outcome: "succeeded" };
  if (!next) return { kind: "settled", outcome: "failed" };
  return {
    kind: "next",
    message: { messageId: msg.messageId, endpointId: msg.endpointId, attemptNo: next.attemptNo },
    delayS: next.delayS,
  };
}

/** A retried message whose attempt was recorded but whose successor may not have been queued: queue it. */
function requeueLost(delivery: DeliveryRow, msg: WebhookAttemptMessage, nowMs: number): AttemptResult {
  if (delivery.attempts !== msg.attemptNo || delivery.next_attempt_at_ms === null) return { kind: "skipped" };
  return {
    kind: "next",
    message: { messageId: msg.messageId, endpointId: msg.endpointId, attemptNo: msg.attemptNo + 1 },
    delayS: Math.max(0, Math.ceil((delivery.next_attempt_at_ms - nowMs) / 1000)),
  };
}

export async function handleWebhooksBatch(batch: MessageBatch<unknown>, env: Env, log: Logger): Promise<void> {
  const deps: AttemptDeps = { ...webhookNetwork(), nowMs: Date.now, timeoutMs: WEBHOOK_TIMEOUT_MS };
  await Promise.all(
    batch.messages.map(async (message) => {
      const parsed = WebhookQueueMessage.safeParse(message.body);
      if (!parsed.success) {
        dropMalformed(WEBHOOKS_QUEUE, message, parsed.error, log);
        return;
      }
      try {
        const result = await attemptDelivery(env, parsed.data, deps, log);
        if (result.kind === "next") await env.WEBHOOKS.send(result.message, { delaySeconds: result.delayS });
        message.ack();
      } catch (error) {
        log.error("webhook_attempt_crashed", { ...parsed.data, error: String(error) });
        message.retry({ delaySeconds: 5 });
      }
    }),
  );
}
