import { OpenAPIHono, z } from "@hono/zod-openapi";
import { insertSchedule, listSchedules, type ScheduleRow, scheduleOf } from "../../db/revenue-schedules";
import { fail, ok, type Result } from "../../domain/errors";
import { LIMITS } from "../../domain/limits";
import { formatMinor, parseAmountMinor } from "../../domain/money";
import { type RevenueTier, validateSchedule } from "../../domain/revenue-tiers";
import { operatorAction } from "../audit";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { fourEyes } from "../proposals";
import { errorResponses, jsonBody, jsonResponse } from "../schemas";
import { defineRoute } from "./define";

/**
 * Tiered revenue share schedules (阶梯分成), for operators: versioned, each taking effect at an
 * instant at least `revenueScheduleLeadMs` ahead (never retroactive), never edited (a later
 * version supersedes). The room prices tips by them (durable-objects/live-room.tiers.ts).
 */

const TierInput = z.strictObject({
  from: z.string().min(1).max(20).openapi({
    description: 'The month gross this tier starts at (inclusive), like "10000.00"; the first is "0.00".',
    example: "0.00",
  }),
  platformShareBps: z.number().int().min(0).max(LIMITS.bpsMax),
});

const ScheduleInput = z
  .strictObject({
    tiers: z.array(TierInput).min(1).max(LIMITS.revenueTiersMax),
    effectiveFrom: z.iso.datetime({ offset: true }).openapi({ example: "2026-12-01T00:00:00+08:00" }),
    note: z.string().max(200).optional(),
  })
  .openapi("RevenueScheduleInput");

const ScheduleView = z
  .object({
    version: z.number().int(),
    effectiveFrom: z.string(),
    effectiveFromMs: z.number().int(),
    tiers: z.array(z.object({ fromMinor: z.number().int(), from: z.string(), platformShareBps: z.number().int() })),
    note: z.string().nullable(),
    createdBy: z.string(),
    createdAtMs: z.number().int(),
  })
  .openapi("RevenueSchedule");

function view(row: ScheduleRow) {
  const schedule = scheduleOf(row);
  return {
    version: schedule.version,
    effectiveFrom: new Date(schedule.effectiveFromMs).toISOString(),
    effectiveFromMs: schedule.effectiveFromMs,
    tiers: schedule.tiers.map((t) => ({
      fromMinor: t.fromGrossMinor,
      from: formatMinor(t.fromGrossMinor),
      platformShareBps: t.platformBps,
    })),
    note: row.note,
    createdBy: row.created_by,
    createdAtMs: row.created_at_ms,
  };
}

/** "0.00" (or "0") starts the first tier; any other threshold is an amount like a tip's. */
function thresholdMinor(from: string): Result<number> {
  if (/^0(\.0{1,2})?$/.test(from)) return ok(0);
  return parseAmountMinor(from, LIMITS.revenueTierFromMaxMinor);
}

export const revenueSchedules = new OpenAPIHono<AppEnv>();

revenueSchedules.openapi(
  defineRoute({
    method: "post",
    path: "/admin/revenue-schedules",
    auth: { permission: "share.set" },
    fourEyes: { when: "always" },
    tags: ["operators"],
    summary: "Create the next version of the tiered revenue share schedule",
    description:
      "The platform's rate for a tip is the rate of the tier holding the creator's gross this calendar month " +
      "(business time zone) including the tip; a creator's override wins. The schedule applies to tips from " +
      "`effectiveFrom`, which must be at least a minute ahead: earlier tips are never re-rated. The version is " +
      "the next integer. An approval must come while `effectiveFrom` is still ahead.",
    request: { body: jsonBody(ScheduleInput) },
    responses: {
      201: jsonResponse(ScheduleView, "Created"),
      ...errorResponses(400, 401, 403, 422),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const tiers: RevenueTier[] = [];
    for (const t of body.tiers) {
      const from = thresholdMinor(t.from);
      if (!from.ok) throw new ApiError(from.code, from.message);
      tiers.push({ fromGrossMinor: from.value, platformBps: t.platformShareBps });
    }
    const nowMs = Date.now();
    const effectiveFromMs = Date.parse(body.effectiveFrom);
    // The version is assigned by the insert; 1 stands in for it while checking the tiers.
    const checked = validateSchedule({ version: 1, effectiveFromMs, tiers });
    if (!checked.ok) throw new ApiError(checked.code, checked.message);
    if (effectiveFromMs < nowMs + LIMITS.revenueScheduleLeadMs) throw notFuture();
    const proposed = await fourEyes(c, {
      required: true,
      summary: `Revenue-share schedule from ${body.effectiveFrom}: ${body.tiers.map((t) => `from ${t.from} → ${(t.platformShareBps / 100).toFixed(2)}%`).join(", ")}`,
      body,
    });
    if (proposed) return proposed;
    const row = await insertSchedule(
      c.var.ledger.control,
      {
        tiers,
        effectiveFromMs,
        note: body.note ?? null,
        createdBy: c.var.principal.userId,
        nowMs,
      },
      operatorAction(c, {
        action: "revenue_schedule.create",
        target: "revenue_schedules",
        before: null,
        after: { effectiveFromMs, tiers: tiers.map((t) => ({ ...t })), note: body.note ?? null },
      }),
    );
    if (row === null) throw notFuture();
    c.var.log.info("revenue_schedule_created", {
      version: row.version,
      effectiveFromMs,
      actorId: c.var.principal.userId,
    });
    return c.json(view(row), 201);
  },
);

function notFuture(): ApiError {
  const failure = fail("revenue_schedule_not_future");
  return new ApiError(failure.code, failure.message);
}

revenueSchedules.openapi(
  defineRoute({
    method: "get",
    path: "/admin/revenue-schedules",
    auth: { permission: "share.read" },
    tags: ["operators"],
    summary: "List the revenue share schedules, newest version first",
    request: {
      query: z.object({
        limit: z.coerce
          .number()
          .int()
          .min(1)
          .max(100)
          .default(50)
          .openapi({ param: { name: "limit", in: "query" } }),
      }),
    },
    responses: {
      200: jsonResponse(z.object({ schedules: z.array(ScheduleView) }), "The schedules"),
      ...errorResponses(400, 401, 403),
    },
  }),
  async (c) => {
    const { limit } = c.req.valid("query");
    const rows = await listSchedules(c.var.ledger.control, limit);
    return c.json({ schedules: rows.map(view) }, 200);
  },
);
