/**
 * After a `PII_KEYS` rotation (a new current key): re-seal verifications and payout accounts
 * still under an older key, a bounded number of rows per call. Call until `remaining` is 0,
 * then the old key can leave the ring. Idempotent: rows already under the current key are
 * never touched. Rows that no longer open are listed, not changed.
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import { resealPersonalData } from "../../db/pii-reseal";
import { LIMITS } from "../../domain/limits";
import type { AppEnv } from "../context";
import { errorResponses, jsonBody, jsonResponse } from "../schemas";
import { defineRoute } from "./define";

const ResealRequest = z
  .strictObject({
    rowsMax: z.number().int().min(1).max(LIMITS.piiResealRowsPerRunMax).default(LIMITS.piiResealRowsPerRunMax),
  })
  .openapi("PiiResealRequest", { example: { rowsMax: 500 } });

const ResealReportSchema = z
  .object({
    currentKeyId: z.string(),
    resealed: z.object({ verifications: z.number().int(), payoutAccounts: z.number().int() }),
    unopenable: z.array(
      z.object({ table: z.enum(["creator_verifications", "payout_accounts"]), id: z.string(), code: z.string() }),
    ),
    remaining: z.number().int().openapi({ description: "Rows still under an older key (unopenable ones included)." }),
  })
  .openapi("PiiResealReport");

export const piiReseal = new OpenAPIHono<AppEnv>();

piiReseal.openapi(
  defineRoute({
    method: "post",
    path: "/admin/pii/reseal",
    auth: { permission: "pii.reseal" },
    tags: ["operators"],
    summary: "Re-seal personal data under the current PII_KEYS key, in a bounded batch",
    request: { body: jsonBody(ResealRequest) },
    responses: { 200: jsonResponse(ResealReportSchema, "What this run did"), ...errorResponses(400, 401, 403) },
  }),
  async (c) => {
    const report = await resealPersonalData(c.var.ledger.control, c.env.PII_KEYS, c.req.valid("json").rowsMax, {
      actor: c.var.principal.userId,
      requestId: c.var.requestId,
    });
    const fields = { ...report, unopenable: report.unopenable.length, actorId: c.var.principal.userId };
    if (report.unopenable.length > 0) c.var.log.error("alert_pii_unopenable", { ...fields, rows: report.unopenable });
    else c.var.log.info("pii_resealed", fields);
    return c.json({ ...report, unopenable: [...report.unopenable] }, 200);
  },
);
