import { OpenAPIHono, z } from "@hono/zod-openapi";
import { batchWithAuditEntry } from "../../db/audit";
import { settleBusinessDay } from "../../db/settlement-run";
import { releaseRiskHeld } from "../../db/withdrawals";
import { businessDayOf, isDayKey } from "../../domain/business-day";
import { LIMITS } from "../../domain/limits";
import { dayToSettle } from "../../domain/settlement";
import { operatorAction } from "../audit";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { noticeSettledDay } from "../notifications/notice";
import { enqueuePayoutSend } from "../queues/payouts";
import { AmountMinor, errorResponses, jsonBody, jsonResponse, UserId } from "../schemas";
import { SEND_BACKSTOP_MS } from "./creator-withdrawals";
import { defineRoute } from "./define";

export const DayKey = z.string().refine(isDayKey, "a business day, YYYY-MM-DD").openapi({ example: "2026-11-05" });

/** A settlement day's state and figures, as every view of a settlement shows them (fen). */
export const SETTLEMENT_DAY_FIELDS = {
  day: DayKey,
  state: z.enum(["held", "settled"]),
  dueAtMs: z.number().int(),
  grossMinor: AmountMinor,
  platformMinor: AmountMinor,
  creatorPartMinor: AmountMinor,
  reversedMinor: AmountMinor.openapi({
    description: "Creator part of the day's tips reversed and unlocks refunded before it settled.",
  }),
  withholdingMinor: AmountMinor,
  receivableOffsetMinor: AmountMinor.openapi({
    description: "Paid back from earlier reversals and refunds of settled days.",
  }),
  netMinor: AmountMinor.openapi({ description: "What moved to available." }),
  tipCount: z.number().int().openapi({ description: "The day's income lines: tips and paid unlocks." }),
  currency: z.string(),
  heldReason: z.string().nullable(),
};

/** A settlement record (creator_settlements) as the API shows it. */
export const SettlementSchema = z
  .object({
    id: z.string().openapi({ example: "settlement:creator-1:2026-11-05" }),
    creatorId: UserId,
    ...SETTLEMENT_DAY_FIELDS,
    runId: z.string(),
    updatedAtMs: z.number().int(),
  })
  .openapi("Settlement");

export interface SettlementRow {
  id: string;
  creator_id: string;
  day: string;
  state: "held" | "settled";
  due_at_ms: number;
  gross_minor: number;
  platform_minor: number;
  creator_part_minor: number;
  reversed_minor: number;
  withholding_minor: number;
  receivable_offset_minor: number;
  net_minor: number;
  tip_count: number;
  currency: string;
  held_reason: string | null;
  run_id: string;
  updated_at_ms: number;
}

export function settlementView(r: SettlementRow): z.infer<typeof SettlementSchema> {
  return {
    id: r.id,
    creatorId: r.creator_id,
    day: r.day,
    state: r.state,
    dueAtMs: r.due_at_ms,
    grossMinor: r.gross_minor,
    platformMinor: r.platform_minor,
    creatorPartMinor: r.creator_part_minor,
    reversedMinor: r.reversed_minor,
    withholdingMinor: r.withholding_minor,
    receivableOffsetMinor: r.receivable_offset_minor,
    netMinor: r.net_minor,
    tipCount: r.tip_count,
    currency: r.currency,
    heldReason: r.held_reason,
    runId: r.run_id,
    updatedAtMs: r.updated_at_ms,
  };
}

const RunRequest = z
  .strictObject({ day: DayKey.optional() })
  .openapi("SettlementRunRequest", { description: "`day` defaults to the day due today (today − N)." });

const RunReport = z
  .object({
    day: DayKey,
    runId: z.string(),
    creators: z.number().int(),
    settled: z.array(UserId),
    alreadySettled: z.number().int(),
    held: z.array(UserId),
    deferred: z.array(z.object({ creatorId: UserId, why: z.string() })),
    complete: z.boolean(),
  })
  .openapi("SettlementRunReport");

const RiskHoldRequest = z
  .strictObject({ hold: z.boolean(), reason: z.string().trim().min(1).max(LIMITS.reasonMaxLength).optional() })
  .refine((b) => !b.hold || b.reason !== undefined, "a hold needs a reason")
  .openapi("RiskHoldRequest", { example: { hold: true, reason: "chargeback cluster under review" } });

export const settlements = new OpenAPIHono<AppEnv>();

settlements.openapi(
  defineRoute({
    method: "post",
    path: "/admin/settlements/run",
    auth: { permission: "settlement.run" },
    tags: ["operators"],
    summary: "Run the T+N settlement of a business day now",
    description:
      "Settles every creator with tips on the day (idempotent per creator and day: a re-run moves nothing twice and " +
      "answers with the same records). Creators under risk hold are recorded `held`; creators with earnings of the " +
      "day still crossing ledger shards are deferred to a later run. 409 `settlement_not_due` before day + N.",
    request: { body: jsonBody(RunRequest) },
    responses: { 200: jsonResponse(RunReport, "The run's report"), ...errorResponses(400, 401, 403, 409) },
  }),
  async (c) => {
    const { day } = c.req.valid("json");
    const { config, ledger } = c.var;
    const nowMs = Date.now();
    const settings = { ...config.settlement, timeZone: config.businessTimeZone };
    const target = day ?? dayToSettle(businessDayOf(nowMs, settings.timeZone), settings.settleAfterDays);
    const run = await settleBusinessDay(
      ledger,
      settings,
      target,
      { runId: `op:${c.var.requestId}`, actorId: c.var.principal.userId },
      nowMs,
    );
    if (!run.ok) throw ApiError.from(run);
    await noticeSettledDay(c.env, ledger, target, run.value.settled, nowMs, c.var.log);
    if (run.value.held.length > 0) c.var.log.warn("alert_settlement_held", { day: target, creators: run.value.held });
    return c.json(
      { ...run.value, settled: [...run.value.settled], held: [...run.value.held], deferred: [...run.value.deferred] },
      200,
    );
  },
);

settlements.openapi(
  defineRoute({
    method: "put",
    path: "/admin/creators/{creatorId}/risk-hold",
    auth: { permission: "creator.hold" },
    tags: ["operators"],
    summary: "Put a creator under risk hold or lift it",
    description:
      "Under hold, settlement records the creator's due days as `held` (flagged, not settled) and approved " +
      "withdrawals are not sent (they stay `approved`, flagged `payout_risk_held`); once lifted, the next settlement " +
      "run settles the days and the approved withdrawals are sent at once.",
    request: {
      params: z.object({ creatorId: UserId.openapi({ param: { name: "creatorId", in: "path" } }) }),
      body: jsonBody(RiskHoldRequest),
    },
    responses: {
      200: jsonResponse(z.object({ creatorId: UserId, hold: z.boolean(), reason: z.string().nullable() }), "Saved"),
      ...errorResponses(400, 401, 403, 404),
    },
  }),
  async (c) => {
    const { creatorId } = c.req.valid("param");
    const { hold, reason } = c.req.valid("json");
    const saved = hold ? (reason ?? null) : null;
    const { control } = c.var.ledger;
    const before = await control
      .prepare("SELECT risk_hold, risk_hold_reason FROM creators WHERE user_id = ?")
      .bind(creatorId)
      .first<{ risk_hold: number; risk_hold_reason: string | null }>();
    if (!before) throw new ApiError("not_found", "There is no such creator.");
    const [updated] = await batchWithAuditEntry(
      control,
      operatorAction(c, {
        action: "creator_risk_hold.set",
        target: creatorId,
        before: { hold: before.risk_hold === 1, reason: before.risk_hold_reason },
        after: { hold, reason: saved },
      }),
      [
        control
          .prepare(
            "UPDATE creators SET risk_hold = ?, risk_hold_reason = ?, updated_at_ms = ? WHERE user_id = ? RETURNING user_id",
          )
          .bind(hold ? 1 : 0, saved, Date.now(), creatorId),
      ],
    );
    if (updated?.results.length !== 1) throw new ApiError("not_found", "There is no such creator.");
    c.var.log.info("creator_risk_hold_set", { creatorId, hold, reason: saved, actorId: c.var.principal.userId });
    if (!hold) {
      const nowMs = Date.now();
      const due = await releaseRiskHeld(c.var.ledger, creatorId, nowMs, nowMs + SEND_BACKSTOP_MS);
      for (const withdrawalId of due) c.executionCtx.waitUntil(enqueuePayoutSend(c.env, withdrawalId, c.var.log));
    }
    return c.json({ creatorId, hold, reason: saved }, 200);
  },
);

const ListQuery = z.object({
  state: z.enum(["held", "settled"]).optional(),
  day: DayKey.optional(),
  creatorId: UserId.optional(),
  limit: z.coerce.number().int().min(1).max(LIMITS.pageSizeMax).default(LIMITS.pageSizeDefault),
});

settlements.openapi(
  defineRoute({
    method: "get",
    path: "/admin/settlements",
    auth: { permission: "settlement.read" },
    tags: ["operators"],
    summary: "Settlement records over every shard, newest day first; `state=held` lists flagged days",
    request: { query: ListQuery },
    responses: {
      200: jsonResponse(z.object({ items: z.array(SettlementSchema) }), "Up to `limit` records"),
      ...errorResponses(400, 401, 403),
    },
  }),
  async (c) => {
    const { state, day, creatorId, limit } = c.req.valid("query");
    const filters = (
      [
        ["state = ?", state],
        ["day = ?", day],
        ["creator_id = ?", creatorId],
      ] as const
    ).filter(([, value]) => value !== undefined);
    const where = filters.map(([sql]) => sql);
    const params = filters.map(([, value]) => value);
    const sql = `SELECT * FROM creator_settlements ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
      ORDER BY day DESC, creator_id LIMIT ?`;
    const shards = creatorId === undefined ? c.var.ledger.shards : [c.var.ledger.forOwner(creatorId)];
    const pages = await Promise.all(
      shards.map(({ db }) =>
        db
          .prepare(sql)
          .bind(...params, limit)
          .all<SettlementRow>(),
      ),
    );
    const items = pages
      .flatMap((p) => p.results)
      .sort((a, b) => (a.day === b.day ? a.creator_id.localeCompare(b.creator_id) : a.day < b.day ? 1 : -1))
      .slice(0, limit)
      .map(settlementView);
    return c.json({ items }, 200);
  },
);
