/** Schemas shared by several routes. Route-specific ones live with their route. */

import { z } from "@hono/zod-openapi";
import { USER_ID_PATTERN } from "../domain/accounts";
import { ERROR_CODE_LIST } from "../domain/errors";
import { type IdPrefix, idPattern } from "../domain/ids";
import { LIMITS } from "../domain/limits";
import { CURRENCIES } from "../domain/money";

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.enum(ERROR_CODE_LIST),
      message: z.string(),
      requestId: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi("Error");

export const UserId = z.string().regex(USER_ID_PATTERN).openapi({ example: "viewer-1" });

export const Currency = z.enum(CURRENCIES).openapi({ example: "CNY" });

/** A decimal amount as sent by clients: "18.80". Parsed to fen exactly by domain/money. */
export const DecimalAmount = z
  .string()
  .max(16)
  .regex(/^(0|[1-9][0-9]*)(\.[0-9]{1,2})?$/, 'a decimal amount like "18.80"')
  .openapi({ example: "18.80" });

export const AmountMinor = z.number().int().openapi({ description: "Integer minor units (fen).", example: 1880 });

export const IdempotencyKeyHeader = z.object({
  "idempotency-key": z
    .string()
    .optional()
    .openapi({
      param: { in: "header", required: true },
      description: "Required on every money-moving request (1-255 printable ASCII). See docs/API.md.",
      example: "5b1d0c8e-tip-0001",
    }),
});

export const PageQuery = z.object({
  cursor: z.string().max(32).optional().openapi({ description: "The `nextCursor` of the previous page." }),
  limit: z.coerce.number().int().min(1).max(LIMITS.pageSizeMax).default(LIMITS.pageSizeDefault),
});

const errorContent = { "application/json": { schema: ErrorSchema } };

/** The error responses a route can give, by status, for the OpenAPI document. */
export function errorResponses(...statuses: (400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 428 | 429 | 503)[]) {
  const descriptions: Record<number, string> = {
    400: "Malformed request or missing Idempotency-Key",
    401: "Missing or invalid bearer token",
    403: "Authenticated but not allowed",
    404: "Not found",
    409: "Conflict (insufficient funds, room not live, key in flight…)",
    413: "Body too large",
    415: "Not JSON",
    422: "Semantically invalid (amount out of range, gift disabled, key reused…)",
    428: "Confirmation required (above the password-free limits)",
    429: "Rate limited (`rate_limited`: too many requests or failed sign-ins from you) or busy; retry after the Retry-After header",
    503: "A dependency (a payment channel) is not answering, or a runtime switch (`switch_*`) paused this; retry later",
  };
  return Object.fromEntries(
    statuses.map((s) => [s, { description: descriptions[s] ?? "Error", content: errorContent }]),
  );
}

export function jsonBody<T extends z.ZodType>(schema: T) {
  return { content: { "application/json": { schema } }, required: true };
}

export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { content: { "application/json": { schema } }, description };
}

export const bearerSecurity = [{ bearerAuth: [] }];

export const GiftId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,31}$/, "lower-case letters, digits and dashes")
  .openapi({ example: "rose" });

/** A tip as asked for: from the wallet (POST …/tips) or paid at the cashier (a pay-to-tip order). */
const Confirmed = z
  .boolean()
  .optional()
  .openapi({
    description:
      "The payer confirmed this tip. Needed above their password-free (小额免密) limits; without it such a tip " +
      "answers 428 `confirmation_required`.",
  });

export const TipRequestSchema = z
  .discriminatedUnion("kind", [
    z.strictObject({
      kind: z.literal("gift"),
      giftId: GiftId,
      quantity: z.number().int().min(1).max(LIMITS.giftQuantityMax).default(1),
      confirmed: Confirmed,
    }),
    z.strictObject({ kind: z.literal("custom"), amount: DecimalAmount, confirmed: Confirmed }),
  ])
  .openapi("TipRequest", {
    example: { kind: "gift", giftId: "rose", quantity: 3 },
  });
export type TipRequestBody = z.infer<typeof TipRequestSchema>;

/** A prefixed, time-sortable id of one kind (`room_…`), as every route and message takes it. */
export function PrefixedId(prefix: IdPrefix) {
  return z
    .string()
    .regex(idPattern(prefix))
    .openapi({ example: `${prefix}_01JDEM${"0".repeat(20)}` });
}
