/**
 * The platform dashboard (docs/ARCHITECTURE.md, Platform dashboard): GMV, platform revenue, tips,
 * paid unlocks, paying users, red packets sent and claimed per day, ISO week or month, and one period's top
 * creators, rooms and gifts — as JSON for the console's charts and as CSV. Read from the rollup
 * tables only (db/reads/dashboard.ts): a bounded number of rows whatever the ledger holds.
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import { type Dashboard, readDashboard } from "../../db/reads/dashboard";
import { addDays, businessDayOf, isDayKey } from "../../domain/business-day";
import {
  DASHBOARD_LIMITS,
  dashboardRowsReadMax,
  daysBetween,
  GRAINS,
  type Grain,
  periodsInRange,
  type SeriesPoint,
} from "../../domain/dashboard";
import { DEFAULT_CURRENCY, formatMinor } from "../../domain/money";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { AmountMinor, Currency, errorResponses, jsonResponse } from "../schemas";
import { defineRoute } from "./define";

const Day = z.string().refine(isDayKey, "a business day, YYYY-MM-DD");

const DashboardQuery = z.object({
  grain: z.enum(GRAINS).default("day").openapi({ description: "day, ISO week (Monday first) or month." }),
  from: Day.optional().openapi({ description: "First business day, inclusive (default: 29 days before `to`)." }),
  to: Day.optional().openapi({ description: "Last business day, inclusive (default: today)." }),
  currency: Currency.default(DEFAULT_CURRENCY),
  top: z
    .string()
    .max(10)
    .optional()
    .openapi({ description: "The period (of the grain, within the range) whose tops to show; default the last." }),
});

const Point = z.object({
  period: z.string().openapi({ example: "2026-W47" }),
  gmvMinor: AmountMinor,
  gmv: z.string(),
  tipMinor: AmountMinor,
  platformMinor: AmountMinor,
  tipCount: z.number().int(),
  unlockMinor: AmountMinor.openapi({ description: "Paid unlocks of content items, gross (refunds not deducted)." }),
  unlockCount: z.number().int().openapi({ description: "Paid unlocks (entitlements granted; refunded ones too)." }),
  payingUsers: z.number().int(),
  packetPaidMinor: AmountMinor,
  packetsSent: z.number().int(),
  packetsSentMinor: AmountMinor,
  claims: z.number().int(),
  claimedMinor: AmountMinor,
});

const Top = z.object({
  rank: z.number().int(),
  key: z.string(),
  label: z.string().nullable(),
  amountMinor: AmountMinor,
  tipCount: z.number().int().openapi({
    description: "Tips only; a creator's `amountMinor` also counts their paid unlocks, which are not tips.",
  }),
});

const DashboardSchema = z
  .object({
    grain: z.enum(GRAINS),
    from: z.string(),
    to: z.string(),
    currency: z.string(),
    series: z.array(Point),
    top: z.object({ period: z.string(), creators: z.array(Top), rooms: z.array(Top), gifts: z.array(Top) }),
    rowsRead: z.number().int().openapi({ description: "Rows D1 read to answer (at most `rowsReadMax`)." }),
    rowsReadMax: z.number().int(),
  })
  .openapi("Dashboard");

interface Resolved {
  grain: Grain;
  from: string;
  to: string;
  currency: string;
  topPeriod: string;
}

function resolve(q: z.infer<typeof DashboardQuery>, today: string): Resolved {
  const to = q.to ?? today;
  const from = q.from ?? addDays(to, -29);
  if (from > to) throw new ApiError("malformed_request", "`from` is after `to`.");
  if (daysBetween(from, to) > DASHBOARD_LIMITS.rangeDaysMax) {
    throw new ApiError("malformed_request", `A range is at most ${DASHBOARD_LIMITS.rangeDaysMax} days.`);
  }
  const periods = periodsInRange(q.grain, from, to);
  const topPeriod = q.top ?? periods[periods.length - 1];
  if (topPeriod === undefined || !periods.includes(topPeriod)) {
    throw new ApiError("malformed_request", "`top` is not a period of the grain within the range.");
  }
  return { grain: q.grain, from, to, currency: q.currency, topPeriod };
}

function view(r: Resolved, d: Dashboard, shards: number): z.infer<typeof DashboardSchema> {
  return {
    grain: r.grain,
    from: r.from,
    to: r.to,
    currency: r.currency,
    series: d.series.map((p) => ({ ...p, gmv: formatMinor(p.gmvMinor) })),
    top: { period: r.topPeriod, creators: d.tops.creator, rooms: d.tops.room, gifts: d.tops.gift },
    rowsRead: d.rowsRead,
    rowsReadMax: dashboardRowsReadMax(shards),
  };
}

export const DASHBOARD_CSV_COLUMNS = [
  "period",
  "gmv",
  "tips_amount",
  "red_packets_paid",
  "platform_revenue",
  "tips",
  "unlocks_amount",
  "unlocks",
  "paying_users",
  "red_packets_sent",
  "red_packets_sent_amount",
  "red_packet_claims",
  "red_packets_claimed_amount",
] as const;

function csvLine(p: SeriesPoint): string {
  return [
    p.period,
    formatMinor(p.gmvMinor),
    formatMinor(p.tipMinor),
    formatMinor(p.packetPaidMinor),
    formatMinor(p.platformMinor),
    p.tipCount,
    formatMinor(p.unlockMinor),
    p.unlockCount,
    p.payingUsers,
    p.packetsSent,
    formatMinor(p.packetsSentMinor),
    p.claims,
    formatMinor(p.claimedMinor),
  ].join(",");
}

export const dashboard = new OpenAPIHono<AppEnv>();

async function answer(vars: AppEnv["Variables"], q: z.infer<typeof DashboardQuery>) {
  const resolved = resolve(q, businessDayOf(Date.now(), vars.config.businessTimeZone));
  const shards = vars.ledger.shards.map((s) => s.db);
  const read = await readDashboard(vars.ledger.control, shards, resolved);
  return { resolved, read, shards: shards.length };
}

dashboard.openapi(
  defineRoute({
    method: "get",
    path: "/admin/dashboard",
    auth: { permission: "dashboard.read" },
    tags: ["operators"],
    summary: "The platform dashboard: GMV, revenue, tips, unlocks, payers, red packets, tops",
    description:
      "Per period of the grain over the range (at most 366 business days; 400 beyond): GMV (tips and paid " +
      "unlocks, gross of reversals and refunds, plus red packets paid from wallets), platform revenue (the " +
      "platform's share of tips and unlocks), tips, paid unlocks, distinct paying users (tipping, unlocking or " +
      "sending a packet from the wallet), red packets sent and claims credited; and the top 10 creators (by " +
      "tip and unlock amount; `tipCount` counts tips), rooms and gifts (by tip amount) in one period. From the " +
      "hourly rollups: today is at most an hour behind.",
    request: { query: DashboardQuery },
    responses: { 200: jsonResponse(DashboardSchema, "The dashboard"), ...errorResponses(400, 401, 403) },
  }),
  async (c) => {
    const { resolved, read, shards } = await answer(c.var, c.req.valid("query"));
    return c.json(view(resolved, read, shards), 200);
  },
);

dashboard.openapi(
  defineRoute({
    method: "get",
    path: "/admin/dashboard.csv",
    auth: { permission: "dashboard.read" },
    tags: ["operators"],
    summary: "The platform dashboard's series as CSV",
    description: `Same query as /v1/admin/dashboard; one row per period. Columns ${DASHBOARD_CSV_COLUMNS.join(", ")}; amounts as exact decimals.`,
    request: { query: DashboardQuery },
    responses: {
      200: { description: "The series", content: { "text/csv": { schema: z.string() } } },
      ...errorResponses(400, 401, 403),
    },
  }),
  async (c) => {
    const { resolved, read } = await answer(c.var, c.req.valid("query"));
    const body = [DASHBOARD_CSV_COLUMNS.join(","), ...read.series.map(csvLine)].map((line) => `${line}\r\n`).join("");
    const name = `giftwire-dashboard-${resolved.grain}-${resolved.from}-${resolved.to}.csv`;
    return new Response(body, {
      status: 200,
      headers: {
        "content-type": "text/csv; charset=utf-8",
        "content-disposition": `attachment; filename="${name}"`,
        "cache-control": "private, no-store",
      },
    }) as never;
  },
);
