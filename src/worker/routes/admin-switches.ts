import { OpenAPIHono, z } from "@hono/zod-openapi";
import { isChannel } from "../../channels/channel";
import { applySwitchChange, readSwitches, type SwitchChangeApplied } from "../../db/switches";
import { LIMITS } from "../../domain/limits";
import {
  isActive,
  parseScopeKey,
  SWITCH_KINDS,
  type Switch,
  type SwitchScope,
  scopeKey,
  switchShapeError,
} from "../../domain/switches";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { fourEyes } from "../proposals";
import { errorResponses, jsonBody, jsonResponse } from "../schemas";
import { defineRoute } from "./define";

const SwitchKindSchema = z.enum(SWITCH_KINDS).openapi("SwitchKind");

const ScopeParam = z
  .string()
  .regex(
    /^(platform|(room|gift|channel|content|creator):[A-Za-z0-9_.-]{1,64})$/,
    "platform, room:<id>, gift:<id>, channel:<name>, content:<id> or creator:<id>",
  )
  .openapi({ example: "room:room-creator-1" });

const SwitchSchema = z
  .object({
    kind: SwitchKindSchema,
    scope: z.string().openapi({ example: "platform" }),
    value: z.number().int().nullable().openapi({ description: "claims_tightened: claims in flight per packet." }),
    reason: z.string(),
    setBy: z.string(),
    setAtMs: z.number().int(),
    expiresAtMs: z.number().int().nullable(),
    active: z.boolean().openapi({ description: "False once its expiry has passed (it then stops nothing)." }),
  })
  .openapi("RuntimeSwitch");

const SetSwitchRequest = z
  .strictObject({
    value: z.number().int().min(1).max(LIMITS.claimsTightenedMax).nullable().default(null),
    reason: z.string().trim().min(3).max(LIMITS.reasonMaxLength),
    expiresAtMs: z.number().int().positive().nullable().default(null),
  })
  .openapi("SetSwitchRequest", { example: { value: null, reason: "channel incident INC-42", expiresAtMs: null } });

const ChangeSchema = z
  .object({
    switch: SwitchSchema.nullable(),
    before: SwitchSchema.nullable(),
    version: z.number().int(),
    effectiveByMs: z
      .number()
      .int()
      .openapi({ description: "Every isolate honours the change by then (the propagation bound after it)." }),
  })
  .openapi("SwitchChange");

const params = z.object({
  kind: z
    .enum(SWITCH_KINDS)
    .openapi({ example: "tips_paused" })
    .openapi({ param: { name: "kind", in: "path" } }),
  scope: ScopeParam.openapi({ param: { name: "scope", in: "path" } }),
});

function switchBody(s: Switch, nowMs: number): z.infer<typeof SwitchSchema> {
  return { ...s, scope: scopeKey(s.scope), active: isActive(s, nowMs) };
}

function changeBody(applied: SwitchChangeApplied, nowMs: number): z.infer<typeof ChangeSchema> {
  return {
    switch: applied.after === null ? null : switchBody(applied.after, nowMs),
    before: applied.before === null ? null : switchBody(applied.before, nowMs),
    version: applied.version,
    effectiveByMs: applied.effectiveByMs,
  };
}

function scopeOf(key: string): SwitchScope {
  const scope = parseScopeKey(key);
  if (scope === null)
    throw new ApiError(
      "malformed_request",
      "The scope is platform, room:<id>, gift:<id>, channel:<name>, content:<id> or creator:<id>.",
    );
  if (scope.type === "channel" && !isChannel(scope.id)) {
    throw new ApiError("malformed_request", `There is no channel named ${scope.id}.`);
  }
  return scope;
}

export const adminSwitches = new OpenAPIHono<AppEnv>();

adminSwitches.openapi(
  defineRoute({
    method: "get",
    path: "/admin/switches",
    auth: { permission: "switch.read" },
    tags: ["operators"],
    summary: "The runtime switches set now (admin, ops)",
    description:
      "Read from the control database (not an isolate's copy). `propagationMaxMs`: a change reaches every isolate " +
      "within this long.",
    responses: {
      200: jsonResponse(
        z.object({
          switches: z.array(SwitchSchema),
          version: z.number().int(),
          propagationMaxMs: z.number().int(),
        }),
        "The switches",
      ),
      ...errorResponses(401, 403),
    },
  }),
  async (c) => {
    const nowMs = Date.now();
    const { version, switches } = await readSwitches(c.var.ledger.control);
    return c.json(
      {
        switches: switches.map((s) => switchBody(s, nowMs)),
        version,
        propagationMaxMs: LIMITS.switchPropagationMaxMs,
      },
      200,
    );
  },
);

adminSwitches.openapi(
  defineRoute({
    method: "put",
    path: "/admin/switches/{kind}/{scope}",
    auth: { permission: "switch.set" },
    fourEyes: { when: "always" },
    tags: ["operators"],
    summary: "Set a runtime switch, or replace it",
    description:
      "Scopes per kind: packets_paused (platform, room), tips_paused (platform, room, gift), read_only (platform), " +
      "payment_channel_out and payout_channel_out (channel), effects_degraded (platform, room), claims_tightened " +
      "(platform, room; `value` = claims in flight per packet), unlocks_paused (platform, content, creator). " +
      "Honoured everywhere by `effectiveByMs`.",
    request: { params, body: jsonBody(SetSwitchRequest) },
    responses: {
      200: jsonResponse(ChangeSchema, "Set"),
      ...errorResponses(400, 401, 403, 409),
    },
  }),
  async (c) => {
    const { kind, scope } = c.req.valid("param");
    const body = c.req.valid("json");
    // The shape is checked before a proposal is kept: a malformed change is refused now, not at approval.
    const shape = switchShapeError(kind, scopeOf(scope), body.value);
    if (shape !== null) throw new ApiError("malformed_request", shape);
    if (body.expiresAtMs !== null && body.expiresAtMs <= Date.now()) {
      throw new ApiError("malformed_request", "A switch's expiry is in the future.");
    }
    const proposed = await fourEyes(c, {
      required: true,
      summary: `Set switch ${kind} on ${scope}${body.value === undefined || body.value === null ? "" : ` = ${body.value}`}: ${body.reason}`,
      body,
    });
    if (proposed) return proposed;
    const nowMs = Date.now();
    const applied = await applySwitchChange(
      c.var.ledger.control,
      {
        op: "set",
        kind,
        scope: scopeOf(scope),
        value: body.value,
        reason: body.reason,
        actorId: c.var.principal.userId,
        expiresAtMs: body.expiresAtMs,
      },
      nowMs,
    );
    if (!applied.ok) throw ApiError.from(applied);
    c.var.log.warn("switch_set", { kind, scope, value: body.value, actorId: c.var.principal.userId });
    return c.json(changeBody(applied.value, nowMs), 200);
  },
);

adminSwitches.openapi(
  defineRoute({
    method: "delete",
    path: "/admin/switches/{kind}/{scope}",
    auth: { permission: "switch.set" },
    fourEyes: { when: "always" },
    tags: ["operators"],
    summary: "Clear a runtime switch",
    request: { params },
    responses: {
      200: jsonResponse(ChangeSchema, "Cleared"),
      ...errorResponses(400, 401, 403, 404),
    },
  }),
  async (c) => {
    const { kind, scope } = c.req.valid("param");
    const proposed = await fourEyes(c, { required: true, summary: `Clear switch ${kind} on ${scope}`, body: null });
    if (proposed) return proposed;
    const nowMs = Date.now();
    const applied = await applySwitchChange(
      c.var.ledger.control,
      { op: "clear", kind, scope: scopeOf(scope), actorId: c.var.principal.userId },
      nowMs,
    );
    if (!applied.ok) throw ApiError.from(applied);
    c.var.log.warn("switch_cleared", { kind, scope, actorId: c.var.principal.userId });
    return c.json(changeBody(applied.value, nowMs), 200);
  },
);
