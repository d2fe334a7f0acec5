/**
 * A partner's webhook endpoints, messages, attempts and replays (issue 18), all under the
 * `webhooks.manage` scope. An endpoint's URL is vetted at registration (and again before every
 * attempt: queues/webhooks.ts): HTTPS, a host name that is not localhost and resolves (DNS over
 * HTTPS) only to public addresses. Its secret (`whsec_…`) is shown when created or rotated, then
 * kept sealed; after a rotation the previous secret signs too for 24 hours.
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import { type EndpointRow, eventTypesOf, findEndpoint, listEndpoints, replayDeliveries } from "../../db/webhooks";
import { newId } from "../../domain/ids";
import {
  newWebhookSecret,
  WEBHOOK_ENDPOINTS_PER_PARTNER_MAX,
  WEBHOOK_EVENT_TYPES,
  WEBHOOK_REPLAY_MAX,
  WEBHOOK_SECRET_ROTATION_OVERLAP_MS,
} from "../../domain/webhooks";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { errorResponses, jsonBody, jsonResponse, PrefixedId } from "../schemas";
import { webhookNetwork } from "../webhooks/network";
import { vetWebhookUrl } from "../webhooks/resolve";
import { openEndpointSecrets, sealEndpointSecrets } from "../webhooks/secrets";
import { defineRoute } from "./define";

export const partnerWebhooks = new OpenAPIHono<AppEnv>();

const EventType = z.enum(WEBHOOK_EVENT_TYPES);
const EndpointParams = z.object({ endpointId: PrefixedId("whe") });
const MessageParams = z.object({ messageId: PrefixedId("msg") });
const PAGE_MAX = 200;

const EndpointSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    eventTypes: z.array(EventType),
    status: z.enum(["active", "disabled"]),
    disabledReason: z.string().nullable(),
    failingSinceMs: z.number().int().nullable(),
    createdAtMs: z.number().int(),
  })
  .openapi("WebhookEndpoint");

const EndpointCreate = z
  .strictObject({
    url: z.string().min(1).max(2048),
    eventTypes: z.array(EventType).min(1).max(WEBHOOK_EVENT_TYPES.length),
  })
  .openapi("WebhookEndpointCreate", {
    example: { url: "https://hooks.partner.example/giftwire", eventTypes: ["tip.created"] },
  });

const EndpointUpdate = z
  .strictObject({
    url: z.string().min(1).max(2048).optional(),
    eventTypes: z.array(EventType).min(1).max(WEBHOOK_EVENT_TYPES.length).optional(),
    enabled: z.boolean().optional(),
  })
  .openapi("WebhookEndpointUpdate", { example: { enabled: true } });

function endpointView(row: EndpointRow): z.infer<typeof EndpointSchema> {
  return {
    id: row.id,
    url: row.url,
    eventTypes: eventTypesOf(row).filter((t): t is z.infer<typeof EventType> =>
      (WEBHOOK_EVENT_TYPES as readonly string[]).includes(t),
    ),
    status: row.status,
    disabledReason: row.disabled_reason,
    failingSinceMs: row.failing_since_ms,
    createdAtMs: row.created_at_ms,
  };
}

async function vet(c: { var: AppEnv["Variables"] }, url: string): Promise<void> {
  const verdict = await vetWebhookUrl(url, c.var.config.webhooks, webhookNetwork().dnsFetch);
  if (!verdict.ok) throw new ApiError("webhook_url_refused", undefined, { reason: verdict.reason });
}

async function ownEndpoint(c: { var: AppEnv["Variables"] }, endpointId: string): Promise<EndpointRow> {
  const row = await findEndpoint(c.var.ledger.control, endpointId);
  if (!row || row.partner_id !== c.var.partner.partnerId) throw new ApiError("webhook_endpoint_not_found");
  return row;
}

partnerWebhooks.openapi(
  defineRoute({
    method: "post",
    path: "/partner/webhooks/endpoints",
    auth: { partnerScope: "webhooks.manage" },
    tags: ["partner"],
    summary: "Register a webhook endpoint; the answer holds its signing secret, shown this once",
    request: { body: jsonBody(EndpointCreate) },
    responses: {
      201: jsonResponse(EndpointSchema.extend({ secret: z.string() }), "Registered"),
      ...errorResponses(400, 401, 403, 409, 422),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const db = c.var.ledger.control;
    const { partnerId } = c.var.partner;
    await vet(c, body.url);
    const count = await db
      .prepare("SELECT COUNT(*) AS n FROM webhook_endpoints WHERE partner_id = ?")
      .bind(partnerId)
      .first<number>("n");
    if ((count ?? 0) >= WEBHOOK_ENDPOINTS_PER_PARTNER_MAX) throw new ApiError("partner_limit_reached");
    const nowMs = Date.now();
    const id = newId("whe", nowMs);
    const secret = newWebhookSecret((n) => crypto.getRandomValues(new Uint8Array(n)));
    const sealed = await sealEndpointSecrets(c.env, id, { current: secret, previous: null, previousUntilMs: null });
    await db
      .prepare(
        `INSERT INTO webhook_endpoints (id, partner_id, url, event_types, sealed_secrets, key_id, status, created_at_ms, updated_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?)`,
      )
      .bind(
        id,
        partnerId,
        body.url,
        JSON.stringify([...new Set(body.eventTypes)]),
        sealed.sealed,
        sealed.keyId,
        nowMs,
        nowMs,
      )
      .run();
    c.var.log.info("webhook_endpoint_added", { endpointId: id, partnerId });
    return c.json({ ...endpointView(await ownEndpoint(c, id)), secret }, 201);
  },
);

partnerWebhooks.openapi(
  defineRoute({
    method: "get",
    path: "/partner/webhooks/endpoints",
    auth: { partnerScope: "webhooks.manage" },
    tags: ["partner"],
    summary: "The partner's webhook endpoints (without secrets)",
    responses: {
      200: jsonResponse(z.object({ items: z.array(EndpointSchema) }), "The endpoints"),
      ...errorResponses(401, 403),
    },
  }),
  async (c) =>
    c.json({ items: (await listEndpoints(c.var.ledger.control, c.var.partner.partnerId)).map(endpointView) }, 200),
);

partnerWebhooks.openapi(
  defineRoute({
    method: "patch",
    path: "/partner/webhooks/endpoints/{endpointId}",
    auth: { partnerScope: "webhooks.manage" },
    tags: ["partner"],
    summary: "Change an endpoint's URL or event types, or enable it again after it was disabled",
    request: { params: EndpointParams, body: jsonBody(EndpointUpdate) },
    responses: { 200: jsonResponse(EndpointSchema, "Changed"), ...errorResponses(400, 401, 403, 404, 422) },
  }),
  async (c) => {
    const { endpointId } = c.req.valid("param");
    const body = c.req.valid("json");
    const row = await ownEndpoint(c, endpointId);
    if (body.url !== undefined) await vet(c, body.url);
    const enabled = body.enabled ?? row.status === "active";
    await c.var.ledger.control
      .prepare(
        `UPDATE webhook_endpoints SET url = ?, event_types = ?, status = ?, disabled_reason = ?, failing_since_ms = ?,
           updated_at_ms = ? WHERE id = ?`,
      )
      .bind(
        body.url ?? row.url,
        body.eventTypes ? JSON.stringify([...new Set(body.eventTypes)]) : row.event_types,
        enabled ? "active" : "disabled",
        enabled ? null : (row.disabled_reason ?? "disabled by the partner"),
        // Enabled again: the five-day failure clock starts afresh.
        enabled && row.status === "disabled" ? null : row.failing_since_ms,
        Date.now(),
        endpointId,
      )
      .run();
    return c.json(endpointView(await ownEndpoint(c, endpointId)), 200);
  },
);

partnerWebhooks.openapi(
  defineRoute({
    method: "delete",
    path: "/partner/webhooks/endpoints/{endpointId}",
    auth: { partnerScope: "webhooks.manage" },
    tags: ["partner"],
    summary: "Remove an endpoint; its pending deliveries are recorded failed at their next attempt",
    request: { params: EndpointParams },
    responses: { 204: { description: "Removed" }, ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { endpointId } = c.req.valid("param");
    await ownEndpoint(c, endpointId);
    await c.var.ledger.control.prepare("DELETE FROM webhook_endpoints WHERE id = ?").bind(endpointId).run();
    return c.body(null, 204);
  },
);

partnerWebhooks.openapi(
  defineRoute({
    method: "post",
    path: "/partner/webhooks/endpoints/{endpointId}/rotate-secret",
    auth: { partnerScope: "webhooks.manage" },
    tags: ["partner"],
    summary: "Rotate the signing secret: the new one is in this answer; the old one keeps signing for 24 h",
    request: { params: EndpointParams },
    responses: {
      200: jsonResponse(
        z.object({ secret: z.string(), previousValidUntilMs: z.number().int() }),
        "Rotated: both secrets sign until previousValidUntilMs",
      ),
      ...errorResponses(400, 401, 403, 404),
    },
  }),
  async (c) => {
    const { endpointId } = c.req.valid("param");
    const row = await ownEndpoint(c, endpointId);
    const before = await openEndpointSecrets(c.env, row);
    const nowMs = Date.now();
    const secret = newWebhookSecret((n) => crypto.getRandomValues(new Uint8Array(n)));
    const previousUntilMs = nowMs + WEBHOOK_SECRET_ROTATION_OVERLAP_MS;
    const sealed = await sealEndpointSecrets(c.env, endpointId, {
      current: secret,
      previous: before.current,
      previousUntilMs,
    });
    await c.var.ledger.control
      .prepare("UPDATE webhook_endpoints SET sealed_secrets = ?, key_id = ?, updated_at_ms = ? WHERE id = ?")
      .bind(sealed.sealed, sealed.keyId, nowMs, endpointId)
      .run();
    return c.json({ secret, previousValidUntilMs: previousUntilMs }, 200);
  },
);

const MessageSchema = z
  .object({
    id: z.string().openapi({ description: "The `webhook-id` every attempt carries." }),
    eventType: z.string(),
    createdAtMs: z.number().int(),
    payload: z.unknown(),
  })
  .openapi("WebhookMessage");

partnerWebhooks.openapi(
  defineRoute({
    method: "get",
    path: "/partner/webhooks/messages",
    auth: { partnerScope: "webhooks.manage" },
    tags: ["partner"],
    summary: "The partner's webhook messages in a time range, oldest first",
    request: {
      query: z.object({
        sinceMs: z.coerce.number().int().nonnegative().default(0),
        untilMs: z.coerce.number().int().positive().optional(),
        limit: z.coerce.number().int().min(1).max(PAGE_MAX).default(100),
      }),
    },
    responses: {
      200: jsonResponse(z.object({ items: z.array(MessageSchema) }), "The messages"),
      ...errorResponses(400, 401, 403),
    },
  }),
  async (c) => {
    const { sinceMs, untilMs, limit } = c.req.valid("query");
    const { results } = await c.var.ledger.control
      .prepare(
        `SELECT id, event_type, created_at_ms, body FROM webhook_messages
         WHERE partner_id = ? AND created_at_ms >= ? AND created_at_ms < ? ORDER BY created_at_ms, id LIMIT ?`,
      )
      .bind(c.var.partner.partnerId, sinceMs, untilMs ?? Number.MAX_SAFE_INTEGER, limit)
      .all<{ id: string; event_type: string; created_at_ms: number; body: string }>();
    return c.json(
      {
        items: results.map((m) => ({
          id: m.id,
          eventType: m.event_type,
          createdAtMs: m.created_at_ms,
          payload: JSON.parse(m.body) as unknown,
        })),
      },
      200,
    );
  },
);

const AttemptSchema = z
  .object({
    endpointId: z.string(),
    attemptNo: z.number().int(),
    atMs: z.number().int(),
    status: z.number().int().nullable(),
    durationMs: z.number().int(),
    outcome: z.enum(["succeeded", "gone", "failed", "refused"]),
    error: z.string().nullable(),
    responseBody: z.string().nullable(),
  })
  .openapi("WebhookAttempt");

partnerWebhooks.openapi(
  defineRoute({
    method: "get",
    path: "/partner/webhooks/messages/{messageId}/attempts",
    auth: { partnerScope: "webhooks.manage" },
    tags: ["partner"],
    summary: "Every attempt at delivering a message: status, duration, error",
    request: { params: MessageParams },
    responses: {
      200: jsonResponse(
        z.object({
          deliveries: z.array(
            z.object({
              endpointId: z.string(),
              state: z.string(),
              attempts: z.number().int(),
              nextAttemptAtMs: z.number().int().nullable(),
            }),
          ),
          attempts: z.array(AttemptSchema),
        }),
        "The attempts",
      ),
      ...errorResponses(400, 401, 403, 404),
    },
  }),
  async (c) => {
    const { messageId } = c.req.valid("param");
    const db = c.var.ledger.control;
    const owner = await db
      .prepare("SELECT partner_id FROM webhook_messages WHERE id = ?")
      .bind(messageId)
      .first<string>("partner_id");
    if (owner !== c.var.partner.partnerId) throw new ApiError("webhook_message_not_found");
    const [deliveries, attempts] = await Promise.all([
      db
        .prepare(
          "SELECT endpoint_id, state, attempts, next_attempt_at_ms FROM webhook_deliveries WHERE message_id = ? ORDER BY endpoint_id",
        )
        .bind(messageId)
        .all<{ endpoint_id: string; state: string; attempts: number; next_attempt_at_ms: number | null }>(),
      db
        .prepare(
          `SELECT endpoint_id, attempt_no, at_ms, status, duration_ms, outcome, error, response_body FROM webhook_attempts
           WHERE message_id = ? ORDER BY at_ms, id LIMIT 500`,
        )
        .bind(messageId)
        .all<{
          endpoint_id: string;
          attempt_no: number;
          at_ms: number;
          status: number | null;
          duration_ms: number;
          outcome: "succeeded" | "gone" | "failed" | "refused";
          error: string | null;
          response_body: string | null;
        }>(),
    ]);
    return c.json(
      {
        deliveries: deliveries.results.map((d) => ({
          endpointId: d.endpoint_id,
          state: d.state,
          attempts: d.attempts,
          nextAttemptAtMs: d.next_attempt_at_ms,
        })),
        attempts: attempts.results.map((a) => ({
          endpointId: a.endpoint_id,
          attemptNo: a.attempt_no,
          atMs: a.at_ms,
          status: a.status,
          durationMs: a.duration_ms,
          outcome: a.outcome,
          error: a.error,
          responseBody: a.response_body,
        })),
      },
      200,
    );
  },
);

const ReplayRequest = z
  .union([
    z.strictObject({ messageId: PrefixedId("msg") }),
    z.strictObject({ sinceMs: z.number().int().nonnegative(), untilMs: z.number().int().positive() }),
  ])
  .openapi("WebhookReplay", { example: { sinceMs: 1764633600000, untilMs: 1764720000000 } });

partnerWebhooks.openapi(
  defineRoute({
    method: "post",
    path: "/partner/webhooks/endpoints/{endpointId}/replay",
    auth: { partnerScope: "webhooks.manage" },
    tags: ["partner"],
    summary: "Send one message, or every message of a time range (at most 1,000), to the endpoint again",
    description:
      "Each message goes with its own `webhook-id` (the receiver's deduplication key) and a fresh schedule of attempts.",
    request: { params: EndpointParams, body: jsonBody(ReplayRequest) },
    responses: {
      202: jsonResponse(z.object({ queued: z.number().int() }), "Queued"),
      ...errorResponses(400, 401, 403, 404, 422),
    },
  }),
  async (c) => {
    const { endpointId } = c.req.valid("param");
    const body = c.req.valid("json");
    const endpoint = await ownEndpoint(c, endpointId);
    if (endpoint.status !== "active") throw new ApiError("conflict", "The endpoint is disabled: enable it first.");
    const db = c.var.ledger.control;
    const { partnerId } = c.var.partner;
    let ids: string[];
    if ("messageId" in body) {
      const owner = await db
        .prepare("SELECT partner_id FROM webhook_messages WHERE id = ?")
        .bind(body.messageId)
        .first<string>("partner_id");
      if (owner !== partnerId) throw new ApiError("webhook_message_not_found");
      ids = [body.messageId];
    } else {
      const { results } = await db
        .prepare(
          `SELECT id FROM webhook_messages WHERE partner_id = ? AND created_at_ms >= ? AND created_at_ms < ?
           AND event_type IN (SELECT value FROM json_each(?)) ORDER BY created_at_ms, id LIMIT ?`,
        )
        .bind(partnerId, body.sinceMs, body.untilMs, endpoint.event_types, WEBHOOK_REPLAY_MAX + 1)
        .all<{ id: string }>();
      if (results.length > WEBHOOK_REPLAY_MAX) throw new ApiError("webhook_replay_too_large");
      ids = results.map((r) => r.id);
    }
    const queued = await replayDeliveries(db, c.env.WEBHOOKS, endpointId, ids, Date.now());
    return c.json({ queued: queued.length }, 202);
  },
);

partnerWebhooks.openapi(
  defineRoute({
    method: "get",
    path: "/partner/notices",
    auth: { partnerScope: "webhooks.manage" },
    tags: ["partner"],
    summary: "What giftwire told the partner: endpoints disabled (410 Gone, or failing for 5 days), newest first",
    responses: {
      200: jsonResponse(
        z.object({
          items: z.array(
            z.object({ id: z.string(), kind: z.string(), detail: z.unknown(), createdAtMs: z.number().int() }),
          ),
        }),
        "The notices",
      ),
      ...errorResponses(401, 403),
    },
  }),
  async (c) => {
    const { results } = await c.var.ledger.control
      .prepare(
        "SELECT id, kind, detail, created_at_ms FROM partner_notices WHERE partner_id = ? ORDER BY created_at_ms DESC LIMIT 100",
      )
      .bind(c.var.partner.partnerId)
      .all<{ id: string; kind: string; detail: string; created_at_ms: number }>();
    return c.json(
      {
        items: results.map((n) => ({
          id: n.id,
          kind: n.kind,
          detail: JSON.parse(n.detail) as unknown,
          createdAtMs: n.created_at_ms,
        })),
      },
      200,
    );
  },
);
