/**
 * On-call health and alerting set-up: GET /admin/health (the last run of every scheduled
 * check, open incidents, channel health, backlogs), alert targets (webhooks; the URL and
 * secret sealed, never returned), alert rules, and incidents (docs/ARCHITECTURE.md, Scheduled
 * checks and alerts).
 *
 * Permissions (issue 15; roles until the lead's conversion): health and incidents `health.read`,
 * targets and rules `alert.manage`.
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import { CHANNELS } from "../../channels/channel";
import {
  deliveryCounts,
  findTarget,
  latestCheckRuns,
  listIncidents,
  listRules,
  listTargets,
  type RuleRow,
  type TargetRow,
} from "../../db/alerts";
import { healthOf } from "../../db/channel-calls";
import { SEVERITIES, TARGET_KINDS } from "../../domain/alerts";
import { newId } from "../../domain/ids";
import { LIMITS } from "../../domain/limits";
import { seal, unseal } from "../../platform/sealing";
import { CHECKS_META } from "../checks/alerts";
import { CHECKS } from "../checks/registry";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { targetContext } from "../queues/alerts";
import { errorResponses, jsonBody, jsonResponse, PrefixedId } from "../schemas";
import { defineRoute } from "./define";

const Severity = z.enum(SEVERITIES);
const CHECK_NAMES: [string, ...string[]] = [CHECKS_META, ...CHECKS.map((c) => c.name)];

const CheckRunSchema = z
  .object({
    check: z.string(),
    startedAtMs: z.number().int(),
    finishedAtMs: z.number().int(),
    status: z.enum(["ok", "findings", "failed"]),
    findingCount: z.number().int(),
    findings: z
      .array(
        z.object({
          kind: z.string(),
          severity: Severity,
          subject: z.string(),
          value: z.number(),
          detail: z.string(),
        }),
      )
      .openapi({ description: "At most 20 here; `findingCount` is exact." }),
    figures: z.unknown(),
    error: z.string().nullable(),
  })
  .openapi("CheckRun");

const IncidentSchema = z
  .object({
    id: z.string(),
    ruleId: z.string(),
    rule: z.string().nullable(),
    subject: z.string(),
    severity: Severity,
    state: z.enum(["open", "resolved"]),
    summary: z.string(),
    value: z.number(),
    openedAtMs: z.number().int(),
    resolvedAtMs: z.number().int().nullable(),
  })
  .openapi("AlertIncident");

const HealthSchema = z
  .object({
    checkedAtMs: z.number().int(),
    checks: z.array(
      z.object({
        name: z.string(),
        schedule: z.string(),
        lastRun: CheckRunSchema.nullable(),
      }),
    ),
    openIncidents: z.array(IncidentSchema),
    channels: z.record(z.string(), z.enum(["healthy", "unhealthy", "probe"])),
    backlog: z.object({
      roomEventsUndelivered: z.number().int(),
      transitUndelivered: z.number().int(),
      alertDeliveriesQueued: z.number().int(),
      alertDeliveriesFailed: z.number().int(),
      deadLetterQueues: z.string(),
    }),
  })
  .openapi("Health");

const TargetSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: z.enum(TARGET_KINDS),
    urlHint: z.string().openapi({ description: "The webhook URL's origin only: the full URL is a credential." }),
    hasSecret: z.boolean(),
    ratePerHour: z.number().int(),
    enabled: z.boolean(),
    createdBy: z.string(),
    createdAtMs: z.number().int(),
    updatedAtMs: z.number().int(),
  })
  .openapi("AlertTarget");

const TargetCreate = z
  .strictObject({
    name: z.string().min(1).max(LIMITS.alertNameMaxLength),
    kind: z.enum(TARGET_KINDS),
    url: z
      .url({ protocol: /^https$/ })
      .max(LIMITS.alertUrlMaxLength)
      .openapi({ description: "The incoming webhook (https). Stored sealed, never shown again." }),
    secret: z.string().min(1).max(LIMITS.alertSecretMaxLength).optional().openapi({
      description:
        "Feishu/Lark: the bot's signing secret (签名校验). generic: the HMAC-SHA256 key of the X-Giftwire-Signature header. Stored sealed.",
    }),
    ratePerHour: z.number().int().min(1).max(LIMITS.alertTargetRatePerHourMax).optional(),
    enabled: z.boolean().optional(),
  })
  .openapi("AlertTargetCreate", {
    example: {
      name: "on-call Feishu",
      kind: "feishu",
      url: "https://open.feishu.cn/open-apis/bot/v2/hook/…",
      secret: "…",
    },
  });

const TargetUpdate = z
  .strictObject({
    name: z.string().min(1).max(LIMITS.alertNameMaxLength).optional(),
    url: z
      .url({ protocol: /^https$/ })
      .max(LIMITS.alertUrlMaxLength)
      .optional(),
    secret: z.string().min(1).max(LIMITS.alertSecretMaxLength).nullable().optional(),
    ratePerHour: z.number().int().min(1).max(LIMITS.alertTargetRatePerHourMax).optional(),
    enabled: z.boolean().optional(),
  })
  .openapi("AlertTargetUpdate");

const RuleSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    check: z.string(),
    kind: z.string().nullable(),
    threshold: z.number().int(),
    severity: Severity,
    targetIds: z.array(z.string()).nullable(),
    enabled: z.boolean(),
    updatedBy: z.string(),
    updatedAtMs: z.number().int(),
  })
  .openapi("AlertRule");

const FindingKind = z
  .string()
  .regex(/^[a-z][a-z0-9_]*$/)
  .max(LIMITS.alertNameMaxLength);

const RuleCreate = z
  .strictObject({
    name: z.string().min(1).max(LIMITS.alertNameMaxLength),
    check: z.enum(CHECK_NAMES).openapi({ description: "A scheduled check, or `checks` for checks that threw." }),
    kind: FindingKind.nullable().openapi({ description: "The finding kind; null: any kind of the check." }),
    threshold: z.number().int().min(1).max(1_000_000).default(1),
    severity: Severity,
    targetIds: z
      .array(PrefixedId("atg"))
      .max(LIMITS.alertTargetsMax)
      .nullable()
      .default(null)
      .openapi({ description: "Where to send; null: every enabled target." }),
    enabled: z.boolean().default(true),
  })
  .openapi("AlertRuleCreate", {
    example: { name: "payout stuck", check: "stuck", kind: "payout_stuck", threshold: 1, severity: "critical" },
  });

const RuleUpdate = z
  .strictObject({
    name: z.string().min(1).max(LIMITS.alertNameMaxLength).optional(),
    kind: FindingKind.nullable().optional(),
    threshold: z.number().int().min(1).max(1_000_000).optional(),
    severity: Severity.optional(),
    targetIds: z.array(PrefixedId("atg")).max(LIMITS.alertTargetsMax).nullable().optional(),
    enabled: z.boolean().optional(),
  })
  .openapi("AlertRuleUpdate");

const TargetParams = z.object({ id: PrefixedId("atg").openapi({ param: { name: "id", in: "path" } }) });
const RuleParams = z.object({ id: PrefixedId("arl").openapi({ param: { name: "id", in: "path" } }) });

const targetView = (t: TargetRow) => ({
  id: t.id,
  name: t.name,
  kind: t.kind,
  urlHint: t.url_hint,
  hasSecret: t.has_secret === 1,
  ratePerHour: t.rate_per_hour,
  enabled: t.enabled === 1,
  createdBy: t.created_by,
  createdAtMs: t.created_at_ms,
  updatedAtMs: t.updated_at_ms,
});

const ruleView = (r: RuleRow) => ({
  id: r.id,
  name: r.name,
  check: r.check_name,
  kind: r.kind,
  threshold: r.threshold,
  severity: r.severity,
  targetIds: r.target_ids === null ? null : (JSON.parse(r.target_ids) as string[]),
  enabled: r.enabled === 1,
  updatedBy: r.updated_by,
  updatedAtMs: r.updated_at_ms,
});

const scheduleText = (c: (typeof CHECKS)[number]) =>
  "everyMs" in c.schedule ? `every ${c.schedule.everyMs / 60_000} min` : `daily from ${c.schedule.dailyFromHour}:00`;

export const alerts = new OpenAPIHono<AppEnv>();

alerts.openapi(
  defineRoute({
    method: "get",
    path: "/admin/health",
    auth: { permission: "health.read" },
    tags: ["operators"],
    summary: "What on call needs first: checks, open incidents, channels, backlogs",
    description:
      "The last run of each scheduled check and what it found, the open incidents, each payment channel's " +
      "health from its recent calls, and backlogs: room events and cross-shard credits undelivered past " +
      "their sweeps' 30 s, alert messages queued or failed. Dead-letter queue depth is not readable from a " +
      "Worker: the DLQs' consumer keeps their messages in D1 (`GET /v1/admin/dead-letters`), and what they held " +
      "also shows as stuck rows in the `stuck` check.",
    responses: { 200: jsonResponse(HealthSchema, "The summary"), ...errorResponses(401, 403) },
  }),
  async (c) => {
    const nowMs = Date.now();
    const ledger = c.var.ledger;
    const db = ledger.control;
    const before = nowMs - LIMITS.transitRedeliverAfterMs;
    const [runs, incidents, channels, deliveries, roomEvents, transit] = await Promise.all([
      latestCheckRuns(
        db,
        CHECKS.map((ch) => ch.name),
      ),
      listIncidents(db, "open", 200),
      healthOf(db, CHANNELS, nowMs),
      deliveryCounts(db),
      Promise.all(
        [db, ...ledger.shards.map((s) => s.db)].map((d) =>
          d
            .prepare("SELECT COUNT(*) AS n FROM room_outbox WHERE delivered_at_ms IS NULL AND created_at_ms <= ?")
            .bind(before)
            .first<{ n: number }>(),
        ),
      ),
      Promise.all(
        ledger.shards.map((s) =>
          s.db
            .prepare("SELECT COUNT(*) AS n FROM transit_outbox WHERE delivered_at_ms IS NULL AND created_at_ms <= ?")
            .bind(before)
            .first<{ n: number }>(),
        ),
      ),
    ]);
    const byCheck = new Map(runs.map((r) => [r.check_name, r]));
    const sum = (rows: ({ n: number } | null)[]) => rows.reduce((s, r) => s + (r?.n ?? 0), 0);
    return c.json(
      {
        checkedAtMs: nowMs,
        checks: CHECKS.map((ch) => {
          const r = byCheck.get(ch.name);
          return {
            name: ch.name,
            schedule: scheduleText(ch),
            lastRun: r
              ? {
                  check: r.check_name,
                  startedAtMs: r.started_at_ms,
                  finishedAtMs: r.finished_at_ms,
                  status: r.status,
                  findingCount: r.finding_count,
                  findings: (JSON.parse(r.findings) as never[]).slice(0, 20),
                  figures: r.figures === null ? null : JSON.parse(r.figures),
                  error: r.error,
                }
              : null,
          };
        }),
        openIncidents: incidents.map(incidentView),
        channels: Object.fromEntries(channels),
        backlog: {
          roomEventsUndelivered: sum(roomEvents),
          transitUndelivered: sum(transit),
          alertDeliveriesQueued: deliveries.queued ?? 0,
          alertDeliveriesFailed: deliveries.failed ?? 0,
          deadLetterQueues: "kept in D1 by the dead-letter consumer: GET /v1/admin/dead-letters",
        },
      },
      200,
    );
  },
);

function incidentView(i: Awaited<ReturnType<typeof listIncidents>>[number]) {
  return {
    id: i.id,
    ruleId: i.rule_id,
    rule: i.rule_name,
    subject: i.subject,
    severity: i.severity,
    state: i.state,
    summary: i.summary,
    value: i.value,
    openedAtMs: i.opened_at_ms,
    resolvedAtMs: i.resolved_at_ms,
  };
}

alerts.openapi(
  defineRoute({
    method: "get",
    path: "/admin/alert-incidents",
    auth: { permission: "health.read" },
    tags: ["operators"],
    summary: "Alert incidents, open or resolved, newest first",
    request: {
      query: z.object({
        state: z.enum(["open", "resolved"]).default("open"),
        limit: z.coerce.number().int().min(1).max(200).default(50),
      }),
    },
    responses: {
      200: jsonResponse(z.object({ items: z.array(IncidentSchema) }), "The incidents"),
      ...errorResponses(400, 401, 403),
    },
  }),
  async (c) => {
    const { state, limit } = c.req.valid("query");
    const items = await listIncidents(c.var.ledger.control, state, limit);
    return c.json({ items: items.map(incidentView) }, 200);
  },
);

alerts.openapi(
  defineRoute({
    method: "get",
    path: "/admin/alert-targets",
    auth: { permission: "alert.manage" },
    tags: ["operators"],
    summary: "Alert targets, without their URLs or secrets",
    responses: {
      200: jsonResponse(z.object({ items: z.array(TargetSchema) }), "The targets"),
      ...errorResponses(401, 403),
    },
  }),
  async (c) => c.json({ items: (await listTargets(c.var.ledger.control)).map(targetView) }, 200),
);

async function sealTarget(env: Env, id: string, url: string, secret: string | null) {
  return seal(env.PII_KEYS, targetContext(id), JSON.stringify({ url, secret }));
}

alerts.openapi(
  defineRoute({
    method: "post",
    path: "/admin/alert-targets",
    auth: { permission: "alert.manage" },
    tags: ["operators"],
    summary: "Add an alert target: Slack-compatible, Feishu/Lark, WeCom or generic JSON webhook",
    description:
      "The URL and secret are sealed at rest and never returned; the target receives every rule's alerts " +
      "unless rules name their targets. Messages beyond `ratePerHour` in any hour are recorded rate-limited, not sent.",
    request: { body: jsonBody(TargetCreate) },
    responses: { 201: jsonResponse(TargetSchema, "Added"), ...errorResponses(400, 401, 403, 409) },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const db = c.var.ledger.control;
    const count = await db.prepare("SELECT COUNT(*) AS n FROM alert_targets").first<{ n: number }>();
    if ((count?.n ?? 0) >= LIMITS.alertTargetsMax) throw new ApiError("alert_limit_reached");
    const nowMs = Date.now();
    const id = newId("atg", nowMs);
    const sealed = await sealTarget(c.env, id, body.url, body.secret ?? null);
    await db
      .prepare(
        `INSERT INTO alert_targets (id, name, kind, sealed, key_id, url_hint, has_secret, rate_per_hour, enabled, created_by, created_at_ms, updated_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .bind(
        id,
        body.name,
        body.kind,
        sealed.sealed,
        sealed.keyId,
        new URL(body.url).origin,
        body.secret === undefined ? 0 : 1,
        body.ratePerHour ?? LIMITS.alertTargetRatePerHourDefault,
        body.enabled === false ? 0 : 1,
        c.var.principal.userId,
        nowMs,
        nowMs,
      )
      .run();
    c.var.log.info("alert_target_added", { targetId: id, kind: body.kind, actorId: c.var.principal.userId });
    const row = await findTarget(db, id);
    if (!row) throw new ApiError("internal_error");
    return c.json(targetView(row), 201);
  },
);

alerts.openapi(
  defineRoute({
    method: "patch",
    path: "/admin/alert-targets/{id}",
    auth: { permission: "alert.manage" },
    tags: ["operators"],
    summary: "Change an alert target: name, URL, secret (null removes it), rate, enabled",
    request: { params: TargetParams, body: jsonBody(TargetUpdate) },
    responses: { 200: jsonResponse(TargetSchema, "Changed"), ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const db = c.var.ledger.control;
    const row = await findTarget(db, id);
    if (!row) throw new ApiError("alert_target_not_found");
    const nowMs = Date.now();
    let sealed = { sealed: row.sealed, keyId: row.key_id };
    let urlHint = row.url_hint;
    let hasSecret = row.has_secret;
    if (body.url !== undefined || body.secret !== undefined) {
      const current = JSON.parse(await unseal(c.env.PII_KEYS, targetContext(id), sealed)) as {
        url: string;
        secret: string | null;
      };
      const url = body.url ?? current.url;
      const secret = body.secret === undefined ? current.secret : body.secret;
      sealed = await sealTarget(c.env, id, url, secret);
      urlHint = new URL(url).origin;
      hasSecret = secret === null ? 0 : 1;
    }
    await db
      .prepare(
        `UPDATE alert_targets SET name = ?, sealed = ?, key_id = ?, url_hint = ?, has_secret = ?, rate_per_hour = ?,
           enabled = ?, updated_at_ms = ? WHERE id = ?`,
      )
      .bind(
        body.name ?? row.name,
        sealed.sealed,
        sealed.keyId,
        urlHint,
        hasSecret,
        body.ratePerHour ?? row.rate_per_hour,
        body.enabled === undefined ? row.enabled : body.enabled ? 1 : 0,
        nowMs,
        id,
      )
      .run();
    c.var.log.info("alert_target_changed", { targetId: id, actorId: c.var.principal.userId });
    const after = await findTarget(db, id);
    if (!after) throw new ApiError("alert_target_not_found");
    return c.json(targetView(after), 200);
  },
);

alerts.openapi(
  defineRoute({
    method: "delete",
    path: "/admin/alert-targets/{id}",
    auth: { permission: "alert.manage" },
    tags: ["operators"],
    summary: "Remove an alert target; its queued messages are recorded failed",
    request: { params: TargetParams },
    responses: { 204: { description: "Removed" }, ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const res = await c.var.ledger.control.prepare("DELETE FROM alert_targets WHERE id = ?").bind(id).run();
    if (res.meta.changes === 0) throw new ApiError("alert_target_not_found");
    c.var.log.info("alert_target_removed", { targetId: id, actorId: c.var.principal.userId });
    return c.body(null, 204);
  },
);

alerts.openapi(
  defineRoute({
    method: "get",
    path: "/admin/alert-rules",
    auth: { permission: "alert.manage" },
    tags: ["operators"],
    summary: "Alert rules, the defaults included",
    responses: {
      200: jsonResponse(z.object({ items: z.array(RuleSchema) }), "The rules"),
      ...errorResponses(401, 403),
    },
  }),
  async (c) => c.json({ items: (await listRules(c.var.ledger.control)).map(ruleView) }, 200),
);

async function assertTargetsExist(db: D1Database, ids: readonly string[] | null | undefined) {
  if (!ids || ids.length === 0) return;
  const { results } = await db
    .prepare("SELECT id FROM alert_targets WHERE id IN (SELECT value FROM json_each(?))")
    .bind(JSON.stringify(ids))
    .all<{ id: string }>();
  const known = new Set(results.map((r) => r.id));
  const missing = ids.filter((i) => !known.has(i));
  if (missing.length > 0) {
    throw new ApiError("alert_target_not_found", `No alert target ${missing.join(", ")}.`, { missing });
  }
}

alerts.openapi(
  defineRoute({
    method: "post",
    path: "/admin/alert-rules",
    auth: { permission: "alert.manage" },
    tags: ["operators"],
    summary: "Add an alert rule over a check's findings",
    description:
      "Fires per subject when the sum of the check's matching findings' values reaches `threshold` (a count, " +
      "or a measure such as `channel_error_rate` in %); one incident per rule and subject, one message when it " +
      "opens and one when it resolves.",
    request: { body: jsonBody(RuleCreate) },
    responses: { 201: jsonResponse(RuleSchema, "Added"), ...errorResponses(400, 401, 403, 404, 409) },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const db = c.var.ledger.control;
    const count = await db.prepare("SELECT COUNT(*) AS n FROM alert_rules").first<{ n: number }>();
    if ((count?.n ?? 0) >= LIMITS.alertRulesMax) throw new ApiError("alert_limit_reached");
    await assertTargetsExist(db, body.targetIds);
    const nowMs = Date.now();
    const id = newId("arl", nowMs);
    await db
      .prepare(
        `INSERT INTO alert_rules (id, name, check_name, kind, threshold, severity, target_ids, enabled, updated_by, updated_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .bind(
        id,
        body.name,
        body.check,
        body.kind,
        body.threshold,
        body.severity,
        body.targetIds === null ? null : JSON.stringify(body.targetIds),
        body.enabled ? 1 : 0,
        c.var.principal.userId,
        nowMs,
      )
      .run();
    c.var.log.info("alert_rule_added", { ruleId: id, actorId: c.var.principal.userId });
    const row = await db.prepare("SELECT * FROM alert_rules WHERE id = ?").bind(id).first<RuleRow>();
    if (!row) throw new ApiError("internal_error");
    return c.json(ruleView(row), 201);
  },
);

alerts.openapi(
  defineRoute({
    method: "patch",
    path: "/admin/alert-rules/{id}",
    auth: { permission: "alert.manage" },
    tags: ["operators"],
    summary: "Change an alert rule; a disabled rule's open incidents resolve on the next run",
    request: { params: RuleParams, body: jsonBody(RuleUpdate) },
    responses: { 200: jsonResponse(RuleSchema, "Changed"), ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const db = c.var.ledger.control;
    const row = await db.prepare("SELECT * FROM alert_rules WHERE id = ?").bind(id).first<RuleRow>();
    if (!row) throw new ApiError("alert_rule_not_found");
    await assertTargetsExist(db, body.targetIds);
    await db
      .prepare(
        `UPDATE alert_rules SET name = ?, kind = ?, threshold = ?, severity = ?, target_ids = ?, enabled = ?,
           updated_by = ?, updated_at_ms = ? WHERE id = ?`,
      )
      .bind(
        body.name ?? row.name,
        body.kind === undefined ? row.kind : body.kind,
        body.threshold ?? row.threshold,
        body.severity ?? row.severity,
        body.targetIds === undefined ? row.target_ids : body.targetIds === null ? null : JSON.stringify(body.targetIds),
        body.enabled === undefined ? row.enabled : body.enabled ? 1 : 0,
        c.var.principal.userId,
        Date.now(),
        id,
      )
      .run();
    c.var.log.info("alert_rule_changed", { ruleId: id, actorId: c.var.principal.userId });
    const after = await db.prepare("SELECT * FROM alert_rules WHERE id = ?").bind(id).first<RuleRow>();
    if (!after) throw new ApiError("alert_rule_not_found");
    return c.json(ruleView(after), 200);
  },
);
