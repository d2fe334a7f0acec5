import { OpenAPIHono, z } from "@hono/zod-openapi";
import { creatorBalances } from "../../db/reads/settlement-inputs";
import { businessDayOf, dayStartMs } from "../../domain/business-day";
import { LIMITS } from "../../domain/limits";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { AmountMinor, errorResponses, jsonResponse } from "../schemas";
import { defineRoute } from "./define";
import { DayKey, type SettlementRow, SettlementSchema, settlementView } from "./settlements";

const Earnings = z
  .object({
    creatorId: z.string(),
    currency: z.string(),
    pendingMinor: AmountMinor.openapi({ description: "Earned, not settled yet (T+N)." }),
    availableMinor: AmountMinor.openapi({ description: "Settled: may be withdrawn." }),
    withdrawingMinor: AmountMinor.openapi({ description: "Requested withdrawals not paid yet." }),
    receivableMinor: AmountMinor.openapi({
      description: "Owed from reversals of already-settled tips; the next settlements pay it back first.",
    }),
    monthGrossMinor: AmountMinor.openapi({
      description: "Gross of this calendar month's tips and paid unlocks (business time zone).",
    }),
    month: z.string().openapi({ example: "2026-11" }),
    settleAfterDays: z
      .number()
      .int()
      .openapi({ description: "N of T+N: a day's earnings become available N days on." }),
  })
  .openapi("CreatorEarnings");

export const creatorEarnings = new OpenAPIHono<AppEnv>();

creatorEarnings.openapi(
  defineRoute({
    method: "get",
    path: "/creators/me/earnings",
    auth: ["creator"],
    tags: ["creators"],
    summary: "Your earnings: pending, available, withdrawing, what you owe, and this month's gross",
    responses: { 200: jsonResponse(Earnings, "Your earnings"), ...errorResponses(401, 403) },
  }),
  async (c) => {
    const creatorId = c.var.principal.userId;
    const { ledger, config } = c.var;
    const nowMs = Date.now();
    const month = businessDayOf(nowMs, config.businessTimeZone).slice(0, 7);
    const monthStartMs = dayStartMs(`${month}-01`, config.businessTimeZone);
    // A creator's tips and unlocks live in their payers' shards: the month's gross is summed over
    // all of them (a bucket move's copy of an entitlement counted by its original), as the tier
    // desk counts it.
    const [balances, ...gross] = await Promise.all([
      creatorBalances(ledger.forOwner(creatorId).db, creatorId),
      ...ledger.shards.map(({ db }) =>
        db
          .prepare(
            `SELECT (SELECT COALESCE(SUM(amount_minor), 0) FROM tips WHERE creator_id = ?1 AND created_at_ms >= ?2)
                  + (SELECT COALESCE(SUM(amount_minor), 0) FROM entitlements
                      WHERE creator_id = ?1 AND created_at_ms >= ?2 AND moved_from_shard IS NULL) AS gross`,
          )
          .bind(creatorId, monthStartMs)
          .first<number>("gross"),
      ),
    ]);
    return c.json(
      {
        creatorId,
        currency: "CNY",
        ...balances,
        monthGrossMinor: gross.reduce<number>((sum, g) => sum + (g ?? 0), 0),
        month,
        settleAfterDays: config.settlement.settleAfterDays,
      },
      200,
    );
  },
);

const SettlementsQuery = z.object({
  from: DayKey.optional(),
  to: DayKey.optional(),
  cursor: DayKey.optional().openapi({ description: "The `nextCursor` of the previous page." }),
  limit: z.coerce.number().int().min(1).max(LIMITS.pageSizeMax).default(LIMITS.pageSizeDefault),
});

creatorEarnings.openapi(
  defineRoute({
    method: "get",
    path: "/creators/me/settlements",
    auth: ["creator"],
    tags: ["creators"],
    summary: "Your settlements (T+N), newest day first, cursor-paginated; `from`/`to` are business days, inclusive",
    request: { query: SettlementsQuery },
    responses: {
      200: jsonResponse(z.object({ items: z.array(SettlementSchema), nextCursor: DayKey.nullable() }), "A page"),
      ...errorResponses(400, 401, 403),
    },
  }),
  async (c) => {
    const { from, to, cursor, limit } = c.req.valid("query");
    if (from !== undefined && to !== undefined && from > to) {
      throw new ApiError("malformed_request", "`from` is after `to`.");
    }
    const creatorId = c.var.principal.userId;
    const { results } = await c.var.ledger
      .forOwner(creatorId)
      .db.prepare(
        `SELECT * FROM creator_settlements WHERE creator_id = ? AND day >= ? AND day <= ? AND day < ?
         ORDER BY day DESC LIMIT ?`,
      )
      .bind(creatorId, from ?? "0000-00-00", to ?? "9999-99-99", cursor ?? "9999-99-99", limit + 1)
      .all<SettlementRow>();
    const page = results.slice(0, limit);
    const nextCursor = results.length > limit ? (page.at(-1)?.day ?? null) : null;
    return c.json({ items: page.map(settlementView), nextCursor }, 200);
  },
);
