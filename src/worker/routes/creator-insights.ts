/**
 * The creator console's charts: income (tips and paid unlocks) by business day, top fans and
 * gift preference over the last `days` days (db/reads/creator-insights.ts), for the signed-in creator only.
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import { INSIGHTS_DAYS_MAX, readCreatorInsights } from "../../db/reads/creator-insights";
import type { AppEnv } from "../context";
import { AmountMinor, errorResponses, jsonResponse } from "../schemas";
import { defineRoute } from "./define";

const Day = z.string().openapi({ example: "2026-12-01" });

const InsightsSchema = z
  .object({
    creatorId: z.string(),
    fromDay: Day,
    toDay: Day,
    timeZone: z.string(),
    daily: z.array(
      z.object({
        day: Day,
        tips: z.number().int(),
        unlocks: z.number().int().openapi({ description: "Paid unlocks of your content that day." }),
        grossMinor: AmountMinor.openapi({ description: "Tips and unlocks, gross." }),
        creatorMinor: AmountMinor.openapi({ description: "Your part of them." }),
      }),
    ),
    topFans: z.array(
      z.object({
        viewerId: z.string(),
        tips: z.number().int(),
        unlocks: z.number().int(),
        grossMinor: AmountMinor.openapi({ description: "What the fan paid you in tips and unlocks." }),
      }),
    ),
    gifts: z.array(
      z.object({
        giftId: z.string().nullable().openapi({ description: "null: custom tips (an amount, no gift)." }),
        name: z.string().nullable(),
        count: z.number().int(),
        grossMinor: AmountMinor,
      }),
    ),
  })
  .openapi("CreatorInsights");

export const creatorInsights = new OpenAPIHono<AppEnv>();

creatorInsights.openapi(
  defineRoute({
    method: "get",
    path: "/creators/me/insights",
    auth: ["creator"],
    tags: ["creators"],
    summary: "Your income by day, top fans and gift preference over the last days",
    request: {
      query: z.object({
        days: z.coerce.number().int().min(1).max(INSIGHTS_DAYS_MAX).default(30).openapi({ example: 30 }),
      }),
    },
    responses: { 200: jsonResponse(InsightsSchema, "The creator's insights"), ...errorResponses(400, 401, 403) },
  }),
  async (c) => {
    const { days } = c.req.valid("query");
    const creatorId = c.var.principal.userId;
    const timeZone = c.var.config.businessTimeZone;
    const insights = await readCreatorInsights(c.var.ledger, creatorId, days, timeZone, Date.now());
    const giftIds = insights.gifts.flatMap((g) => (g.giftId === null ? [] : [g.giftId]));
    const names = new Map<string, string>();
    if (giftIds.length > 0) {
      const rows = await c.var.ledger.control
        .prepare("SELECT id, name FROM gifts WHERE id IN (SELECT value FROM json_each(?))")
        .bind(JSON.stringify(giftIds))
        .all<{ id: string; name: string }>();
      for (const r of rows.results) names.set(r.id, r.name);
    }
    return c.json(
      {
        creatorId,
        timeZone,
        fromDay: insights.fromDay,
        toDay: insights.toDay,
        daily: [...insights.daily],
        topFans: [...insights.topFans],
        gifts: insights.gifts.map((g) => ({ ...g, name: g.giftId === null ? null : (names.get(g.giftId) ?? null) })),
      },
      200,
    );
  },
);
