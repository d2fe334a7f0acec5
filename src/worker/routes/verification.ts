/**
 * A creator's identity verification (实名认证): submit real name and ID number, read the state.
 * The identity is sealed before it is stored (db/verifications.ts); nothing here ever answers
 * with more than its masked forms.
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import { findVerification, submitVerification, type VerificationRow } from "../../db/verifications";
import { ID_TYPES } from "../../domain/id-number";
import { VERIFICATION_STATES, validateSubmission } from "../../domain/verification";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { errorResponses, jsonBody, jsonResponse } from "../schemas";
import { defineRoute } from "./define";

export const VerificationSchema = z
  .object({
    state: z.enum(VERIFICATION_STATES),
    realNameMasked: z.string().nullable().openapi({ example: "*三" }),
    idNumberMasked: z.string().nullable().openapi({ example: "**************123X" }),
    submittedAtMs: z.number().int().nullable(),
    reviewedAtMs: z.number().int().nullable(),
    rejectReason: z.string().nullable(),
  })
  .openapi("Verification");

const VerificationRequest = z
  .strictObject({
    realName: z.string().max(200).openapi({ example: "张三" }),
    idType: z.enum(ID_TYPES).default("resident_id").openapi({
      description:
        "`resident_id`: an 18-character PRC resident ID (check digit verified); `passport`: 6-20 letters/digits.",
    }),
    idNumber: z.string().max(40).openapi({ example: "11010519491231002X" }),
  })
  .openapi("VerificationRequest");

export function verificationView(row: VerificationRow | null) {
  return {
    state: row?.state ?? "unverified",
    realNameMasked: row?.real_name_masked ?? null,
    idNumberMasked: row?.id_number_masked ?? null,
    submittedAtMs: row?.submitted_at_ms ?? null,
    reviewedAtMs: row?.reviewed_at_ms ?? null,
    rejectReason: row?.reject_reason ?? null,
  } as const;
}

export const verification = new OpenAPIHono<AppEnv>();

verification.openapi(
  defineRoute({
    method: "post",
    path: "/creators/me/verification",
    auth: ["creator"],
    tags: ["creators"],
    summary: "Submit your real name and ID number for review (实名认证)",
    description:
      "Allowed when unverified or after a rejection; refused with `verification_pending` while under review and " +
      "`already_verified` once verified. Stored encrypted; only masked forms are ever shown.",
    request: { body: jsonBody(VerificationRequest) },
    responses: {
      201: jsonResponse(VerificationSchema, "Submitted; pending review"),
      ...errorResponses(400, 401, 403, 409, 422),
    },
  }),
  async (c) => {
    const checked = validateSubmission(c.req.valid("json"));
    if (!checked.ok) throw new ApiError(checked.code, checked.message, { problem: checked.problem });
    const creatorId = c.var.principal.userId;
    const row = await submitVerification(c.var.ledger.control, c.env.PII_KEYS, creatorId, checked.value, Date.now());
    if ("ok" in row) throw ApiError.from(row);
    c.var.log.info("verification_submitted", { creatorId });
    return c.json(verificationView(row), 201);
  },
);

verification.openapi(
  defineRoute({
    method: "get",
    path: "/creators/me/verification",
    auth: ["creator"],
    tags: ["creators"],
    summary: "Your verification state, masked identity and any reject reason",
    responses: { 200: jsonResponse(VerificationSchema, "The verification"), ...errorResponses(401, 403) },
  }),
  async (c) => {
    const row = await findVerification(c.var.ledger.control, c.var.principal.userId);
    return c.json(verificationView(row), 200);
  },
);
