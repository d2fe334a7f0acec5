import { OpenAPIHono, z } from "@hono/zod-openapi";
import { batchWithAuditEntry } from "../../db/audit";
import {
  listDecisions,
  listEntries,
  listRules,
  putRuleStatement,
  type RiskRuleRow,
  readRule,
  riskEffectiveByMs,
} from "../../db/risk";
import { LIMITS } from "../../domain/limits";
import {
  LIST_KINDS,
  normalizeListValue,
  RISK_ACTIONS,
  RISK_LIMITS,
  RISK_OUTCOMES,
  RiskRuleSchema,
} from "../../domain/risk/rules";
import { operatorAction } from "../audit";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { errorResponses, jsonBody, jsonResponse, UserId } from "../schemas";
import { defineRoute } from "./define";

const RuleIdParam = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]*$/)
  .max(RISK_LIMITS.ruleIdMaxLength)
  .openapi({ param: { name: "ruleId", in: "path" }, example: "tip-velocity-user" });
const ListKindParam = z.enum(LIST_KINDS).openapi({ param: { name: "kind", in: "path" }, example: "device" });

const RuleSchema = z.record(z.string(), z.unknown()).openapi("RiskRule", {
  description:
    "A rule (kinds: velocity, amount_cap, unverified_adult_cap, blacklist, geo_block, amount_vs_history, " +
    "cash_out_chain, device_accounts, circular_tipping), " +
    "with its id, outcome (challenge | review | block) and enabled flag. docs/ARCHITECTURE.md, Risk.",
  example: {
    id: "tip-velocity-user",
    kind: "velocity",
    outcome: "block",
    enabled: true,
    action: "tip",
    scope: "user",
    count: 30,
    windowSec: 10,
  },
});

const RuleRowSchema = z
  .object({ rule: RuleSchema, updatedBy: z.string(), updatedAtMs: z.number().int() })
  .openapi("RiskRuleRow");

const RuleChangeSchema = z
  .object({
    rule: RuleRowSchema.nullable(),
    before: RuleRowSchema.nullable(),
    effectiveByMs: z.number().int().openapi({ description: "Every isolate honours the change by then." }),
  })
  .openapi("RiskRuleChange");

const EntrySchema = z
  .object({
    kind: z.enum(LIST_KINDS),
    value: z.string(),
    reason: z.string(),
    addedBy: z.string(),
    addedAtMs: z.number().int(),
  })
  .openapi("RiskListEntry");

const AddEntryRequest = z
  .strictObject({
    value: z.string().min(1).max(RISK_LIMITS.listValueMaxLength),
    reason: z.string().trim().min(3).max(RISK_LIMITS.reasonMaxLength),
  })
  .openapi("AddRiskListEntryRequest", { example: { value: "203.0.113.0/24", reason: "card-testing cluster" } });

const DecisionSchema = z
  .object({
    id: z.string(),
    userId: UserId,
    action: z.enum(RISK_ACTIONS),
    outcome: z.enum(RISK_OUTCOMES),
    fired: z.array(z.object({ ruleId: z.string(), outcome: z.string(), reason: z.string(), detail: z.string() })),
    amountMinor: z.number().int().nullable(),
    signalsDigest: z.string(),
    deviceId: z.string().nullable(),
    ip: z.string().nullable(),
    atMs: z.number().int(),
  })
  .openapi("RiskDecision");

function rowBody(row: RiskRuleRow | null) {
  return row === null ? null : { rule: row.rule, updatedBy: row.updatedBy, updatedAtMs: row.updatedAtMs };
}

export const adminRisk = new OpenAPIHono<AppEnv>();

adminRisk.openapi(
  defineRoute({
    method: "get",
    path: "/admin/risk/rules",
    auth: { permission: "risk.read" },
    tags: ["operators"],
    summary: "The risk rules",
    description: "From the control database (not an isolate's copy, which is at most one TTL older).",
    responses: {
      200: jsonResponse(z.object({ rules: z.array(RuleRowSchema), propagationMaxMs: z.number().int() }), "The rules"),
      ...errorResponses(401, 403),
    },
  }),
  async (c) => {
    const rules = await listRules(c.var.ledger.control);
    return c.json({ rules: rules.map((r) => rowBody(r) ?? r), propagationMaxMs: LIMITS.switchPropagationMaxMs }, 200);
  },
);

adminRisk.openapi(
  defineRoute({
    method: "put",
    path: "/admin/risk/rules/{ruleId}",
    auth: { permission: "risk.manage" },
    tags: ["operators"],
    summary: "Create or replace a risk rule",
    description:
      "The body is the whole rule (its `id` equal to the path's, or left out). Audited with the rule before and " +
      "after; honoured by every isolate by `effectiveByMs`.",
    request: { params: z.object({ ruleId: RuleIdParam }), body: jsonBody(RuleSchema) },
    responses: {
      200: jsonResponse(RuleChangeSchema, "Saved"),
      ...errorResponses(400, 401, 403, 409),
    },
  }),
  async (c) => {
    const { ruleId } = c.req.valid("param");
    const body = c.req.valid("json");
    if (body.id !== undefined && body.id !== ruleId) {
      throw new ApiError("malformed_request", "The rule's id is the one in the path.");
    }
    const parsed = RiskRuleSchema.safeParse({ ...body, id: ruleId });
    if (!parsed.success) {
      throw new ApiError("malformed_request", `Not a risk rule: ${parsed.error.issues[0]?.message ?? "invalid"}.`);
    }
    const rule = parsed.data;
    const { control } = c.var.ledger;
    const before = await readRule(control, ruleId);
    const nowMs = Date.now();
    const actorId = c.var.principal.userId;
    await batchWithAuditEntry(
      control,
      operatorAction(c, { action: "risk_rule.put", target: ruleId, before: before?.rule ?? null, after: rule }),
      [putRuleStatement(control, rule, actorId, nowMs)],
    ).then(([put]) => {
      if ((put?.meta.changes ?? 0) === 0) {
        throw new ApiError("conflict", `At most ${RISK_LIMITS.rulesMax} risk rules may exist.`);
      }
    });
    c.var.log.warn("risk_rule_put", { ruleId, kind: rule.kind, outcome: rule.outcome, enabled: rule.enabled, actorId });
    return c.json(
      {
        rule: { rule, updatedBy: actorId, updatedAtMs: nowMs },
        before: rowBody(before),
        effectiveByMs: riskEffectiveByMs(nowMs),
      },
      200,
    );
  },
);

adminRisk.openapi(
  defineRoute({
    method: "delete",
    path: "/admin/risk/rules/{ruleId}",
    auth: { permission: "risk.manage" },
    tags: ["operators"],
    summary: "Delete a risk rule",
    description: "Audited with the rule it removed. (To pause a rule and keep it, put it with `enabled: false`.)",
    request: { params: z.object({ ruleId: RuleIdParam }) },
    responses: {
      200: jsonResponse(RuleChangeSchema, "Deleted"),
      ...errorResponses(401, 403, 404),
    },
  }),
  async (c) => {
    const { ruleId } = c.req.valid("param");
    const { control } = c.var.ledger;
    const before = await readRule(control, ruleId);
    if (before === null) throw new ApiError("risk_rule_not_found");
    const nowMs = Date.now();
    const [deleted] = await batchWithAuditEntry(
      control,
      operatorAction(c, { action: "risk_rule.delete", target: ruleId, before: before.rule, after: null }),
      [control.prepare("DELETE FROM risk_rules WHERE id = ?").bind(ruleId)],
    );
    if ((deleted?.meta.changes ?? 0) === 0) throw new ApiError("risk_rule_not_found");
    c.var.log.warn("risk_rule_deleted", { ruleId, actorId: c.var.principal.userId });
    return c.json({ rule: null, before: rowBody(before), effectiveByMs: riskEffectiveByMs(nowMs) }, 200);
  },
);

adminRisk.openapi(
  defineRoute({
    method: "get",
    path: "/admin/risk/lists",
    auth: { permission: "risk.read" },
    tags: ["operators"],
    summary: "Entries of the risk lists (blacklists, country and ASN block lists), newest first",
    request: {
      query: z.object({
        kind: z.enum(LIST_KINDS).optional(),
        limit: z.coerce.number().int().min(1).max(LIMITS.pageSizeMax).default(LIMITS.pageSizeDefault),
      }),
    },
    responses: {
      200: jsonResponse(z.object({ entries: z.array(EntrySchema) }), "The entries"),
      ...errorResponses(400, 401, 403),
    },
  }),
  async (c) => {
    const { kind, limit } = c.req.valid("query");
    return c.json({ entries: await listEntries(c.var.ledger.control, kind ?? null, limit) }, 200);
  },
);

adminRisk.openapi(
  defineRoute({
    method: "post",
    path: "/admin/risk/lists/{kind}",
    auth: { permission: "risk.manage" },
    tags: ["operators"],
    summary: "Add an entry to a risk list",
    description:
      "Kinds: user, device, ip, cidr, card, payout_account (blacklists), country, asn (block lists). The value is " +
      "normalized (canonical IP and CIDR text, upper-case country code); a CIDR block's host bits must be zero. " +
      "Adding an entry already there replaces its reason. Audited.",
    request: { params: z.object({ kind: ListKindParam }), body: jsonBody(AddEntryRequest) },
    responses: {
      200: jsonResponse(
        z.object({ entry: EntrySchema, effectiveByMs: z.number().int() }),
        "Added (or its reason replaced)",
      ),
      ...errorResponses(400, 401, 403, 409),
    },
  }),
  async (c) => {
    const { kind } = c.req.valid("param");
    const { value: raw, reason } = c.req.valid("json");
    const normal = normalizeListValue(kind, raw);
    if (!normal.ok) throw new ApiError("malformed_request", `Not a ${kind} entry: ${normal.why}.`);
    const value = normal.value;
    const { control } = c.var.ledger;
    const before = await control
      .prepare("SELECT reason FROM risk_list_entries WHERE kind = ? AND value = ?")
      .bind(kind, value)
      .first<{ reason: string }>();
    const nowMs = Date.now();
    const actorId = c.var.principal.userId;
    const [added] = await batchWithAuditEntry(
      control,
      operatorAction(c, {
        action: "risk_list.add",
        target: `${kind}:${value}`,
        before: before === null ? null : { reason: before.reason },
        after: { reason },
      }),
      [
        control
          .prepare(
            `INSERT INTO risk_list_entries (kind, value, reason, added_by, added_at_ms)
             SELECT ?1, ?2, ?3, ?4, ?5
             WHERE (SELECT COUNT(*) FROM risk_list_entries) < ?6
               OR EXISTS (SELECT 1 FROM risk_list_entries WHERE kind = ?1 AND value = ?2)
             ON CONFLICT (kind, value) DO UPDATE SET reason = excluded.reason, added_by = excluded.added_by,
               added_at_ms = excluded.added_at_ms`,
          )
          .bind(kind, value, reason, actorId, nowMs, RISK_LIMITS.listEntriesMax),
      ],
    );
    if ((added?.meta.changes ?? 0) === 0) {
      throw new ApiError("conflict", `The risk lists hold at most ${RISK_LIMITS.listEntriesMax} entries.`);
    }
    c.var.log.warn("risk_list_added", { kind, value, actorId });
    return c.json(
      { entry: { kind, value, reason, addedBy: actorId, addedAtMs: nowMs }, effectiveByMs: riskEffectiveByMs(nowMs) },
      200,
    );
  },
);

adminRisk.openapi(
  defineRoute({
    method: "delete",
    path: "/admin/risk/lists/{kind}",
    auth: { permission: "risk.manage" },
    tags: ["operators"],
    summary: "Remove an entry from a risk list",
    description: "The entry is named by `?value=` (normalized as when it was added). Audited.",
    request: {
      params: z.object({ kind: ListKindParam }),
      query: z.object({ value: z.string().min(1).max(RISK_LIMITS.listValueMaxLength) }),
    },
    responses: {
      200: jsonResponse(z.object({ removed: EntrySchema, effectiveByMs: z.number().int() }), "Removed"),
      ...errorResponses(400, 401, 403, 404),
    },
  }),
  async (c) => {
    const { kind } = c.req.valid("param");
    const normal = normalizeListValue(kind, c.req.valid("query").value);
    if (!normal.ok) throw new ApiError("risk_list_entry_not_found");
    const value = normal.value;
    const { control } = c.var.ledger;
    const before = await control
      .prepare("SELECT reason, added_by, added_at_ms FROM risk_list_entries WHERE kind = ? AND value = ?")
      .bind(kind, value)
      .first<{ reason: string; added_by: string; added_at_ms: number }>();
    if (before === null) throw new ApiError("risk_list_entry_not_found");
    const nowMs = Date.now();
    const [removed] = await batchWithAuditEntry(
      control,
      operatorAction(c, {
        action: "risk_list.remove",
        target: `${kind}:${value}`,
        before: { reason: before.reason },
        after: null,
      }),
      [control.prepare("DELETE FROM risk_list_entries WHERE kind = ? AND value = ?").bind(kind, value)],
    );
    if ((removed?.meta.changes ?? 0) === 0) throw new ApiError("risk_list_entry_not_found");
    c.var.log.warn("risk_list_removed", { kind, value, actorId: c.var.principal.userId });
    return c.json(
      {
        removed: { kind, value, reason: before.reason, addedBy: before.added_by, addedAtMs: before.added_at_ms },
        effectiveByMs: riskEffectiveByMs(nowMs),
      },
      200,
    );
  },
);

adminRisk.openapi(
  defineRoute({
    method: "get",
    path: "/admin/risk/decisions",
    auth: { permission: "risk.read" },
    tags: ["operators"],
    summary: "Risk decisions other than allow, newest first, with the rules that fired and why",
    description:
      "Every ledger shard is read (a decision is kept in its actor's shard). Page with `beforeMs` = the last " +
      "decision's `atMs`.",
    request: {
      query: z.object({
        userId: UserId.optional(),
        beforeMs: z.coerce.number().int().min(0).optional(),
        limit: z.coerce.number().int().min(1).max(LIMITS.pageSizeMax).default(LIMITS.pageSizeDefault),
      }),
    },
    responses: {
      200: jsonResponse(z.object({ decisions: z.array(DecisionSchema) }), "The decisions"),
      ...errorResponses(400, 401, 403),
    },
  }),
  async (c) => {
    const { userId, beforeMs, limit } = c.req.valid("query");
    const decisions = await listDecisions(c.var.ledger, {
      userId: userId ?? null,
      beforeMs: beforeMs ?? Number.MAX_SAFE_INTEGER,
      limit,
    });
    return c.json({ decisions: decisions.map((d) => ({ ...d, fired: [...d.fired] })) }, 200);
  },
);
