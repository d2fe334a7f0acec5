/**
 * 小额免密: the caller's password-free limits for wallet tips (domain/autopay.ts). Users who
 * have not chosen get the platform's defaults; 0 makes every tip need confirmation. The
 * settings are in the user's ledger shard, where a wallet tip's batch guard reads them.
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import { type AutopayState, autopayFor } from "../../db/reads/autopay";
import { validateAutopayLimits } from "../../domain/autopay";
import { parseAmountMinor } from "../../domain/money";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { money } from "../money-view";
import { AmountMinor, DecimalAmount, errorResponses, jsonBody, jsonResponse } from "../schemas";
import { defineRoute } from "./define";

const AutopaySchema = z
  .object({
    perTipMaxMinor: AmountMinor,
    perTipMax: z.string(),
    perDayMaxMinor: AmountMinor,
    perDayMax: z.string(),
    custom: z.boolean().openapi({ description: "false: the platform's defaults apply." }),
    spentTodayMinor: AmountMinor,
    dayStartMs: z.number().int(),
  })
  .openapi("AutopaySettings");

const AutopayUpdate = z
  .strictObject({ perTipMax: DecimalAmount, perDayMax: DecimalAmount })
  .openapi("AutopayUpdate", { example: { perTipMax: "50.00", perDayMax: "200.00" } });

function view(s: AutopayState) {
  return {
    perTipMaxMinor: s.limits.perTipMaxMinor,
    perTipMax: money(s.limits.perTipMaxMinor).amount,
    perDayMaxMinor: s.limits.perDayMaxMinor,
    perDayMax: money(s.limits.perDayMaxMinor).amount,
    custom: s.custom,
    spentTodayMinor: s.spentTodayMinor,
    dayStartMs: s.dayStartMs,
  };
}

/** A limit may be zero (confirm every tip), unlike an amount of money to move. */
function parseLimitMinor(text: string) {
  return /^0(\.0{1,2})?$/.test(text)
    ? ({ ok: true, value: 0 } as const)
    : parseAmountMinor(text, Number.MAX_SAFE_INTEGER);
}

export const autopay = new OpenAPIHono<AppEnv>();

autopay.openapi(
  defineRoute({
    method: "get",
    path: "/me/autopay",
    auth: "signed-in",
    tags: ["wallets"],
    summary: "Your password-free (小额免密) limits and what you have spent today (tips and unlocks)",
    responses: { 200: jsonResponse(AutopaySchema, "The limits"), ...errorResponses(401) },
  }),
  async (c) => {
    const state = await autopayFor(
      c.var.ledger.forOwner(c.var.principal.userId).db,
      c.var.config.autopayDefaults,
      c.var.config.businessTimeZone,
      c.var.principal.userId,
      Date.now(),
    );
    return c.json(view(state), 200);
  },
);

autopay.openapi(
  defineRoute({
    method: "put",
    path: "/me/autopay",
    auth: "signed-in",
    tags: ["wallets"],
    summary: "Set your password-free tip limits (0 = confirm every tip)",
    request: { body: jsonBody(AutopayUpdate) },
    responses: { 200: jsonResponse(AutopaySchema, "Saved"), ...errorResponses(400, 401, 422) },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const perTip = parseLimitMinor(body.perTipMax);
    const perDay = parseLimitMinor(body.perDayMax);
    if (!perTip.ok) throw ApiError.from(perTip);
    if (!perDay.ok) throw ApiError.from(perDay);
    const limits = validateAutopayLimits({ perTipMaxMinor: perTip.value, perDayMaxMinor: perDay.value });
    if (!limits.ok) throw ApiError.from(limits);
    const userId = c.var.principal.userId;
    const nowMs = Date.now();
    const { db } = c.var.ledger.forOwner(userId);
    await db
      .prepare(
        `INSERT INTO autopay_settings (user_id, per_tip_max_minor, per_day_max_minor, updated_at_ms) VALUES (?, ?, ?, ?)
       ON CONFLICT (user_id) DO UPDATE SET per_tip_max_minor = excluded.per_tip_max_minor,
         per_day_max_minor = excluded.per_day_max_minor, updated_at_ms = excluded.updated_at_ms`,
      )
      .bind(userId, limits.value.perTipMaxMinor, limits.value.perDayMaxMinor, nowMs)
      .run();
    c.var.log.info("autopay_limits_set", { userId, ...limits.value });
    return c.json(
      view(await autopayFor(db, c.var.config.autopayDefaults, c.var.config.businessTimeZone, userId, nowMs)),
      200,
    );
  },
);
