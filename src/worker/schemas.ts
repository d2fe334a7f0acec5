/** Schemas shared by several routes. Route-specific ones live with their route. */

import { z } from "@hono/zod-openapi";
import { USER_ID_PATTERN } from "../domain/accounts";
import { ERROR_CODE_LIST } from "../domain/errors";
import { type IdPrefix, idPattern } from "../domain/ids";
import { LIMITS } from "../domain/limits";
import { CURRENCIES } from "../domain/money";
import { PIN_PATTERN } from "../domain/pin";

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
export function errorResponses(...statuses: (400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 423 | 428 | 429 | 503)[]) {
  const descriptions: Record<number, string> = {
    400: "Malformed request or missing Idempotency-Key",
    401: "Missing or invalid bearer token",
    403: "Authenticated but not allowed",
    404: "Not found",
    409: "Conflict (insufficient funds, room not live, key in flight…)",
    413: "Body too large",
    415: "Not JSON",
    422: "Semantically invalid (amount out of range, gift disabled, key reused…)",
    423: "The payment PIN is locked after too many wrong tries; retry after the Retry-After header",
    428: "Your payment PIN is required (above the password-free limits, a withdrawal, or a risk challenge)",
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

export const bearerSecurity: Record<string, string[]>[] = [{ bearerAuth: [] }];
/** Partner routes: the API key as a bearer token or in X-Api-Key (either one). */
export const partnerKeySecurity: Record<string, string[]>[] = [{ partnerKey: [] }, { partnerApiKey: [] }];

export const GiftId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,31}$/, "lower-case letters, digits and dashes")
  .openapi({ example: "rose" });

/** A tip's payer, what was given and when: the fields every tip-shaped answer shares, in this order. */
export const tipLineFields = {
  viewerId: UserId,
  giftId: GiftId.nullable(),
  quantity: z.number().int(),
  amountMinor: AmountMinor,
  amount: z.string(),
  currency: Currency,
  createdAtMs: z.number().int(),
};

/** A payment PIN as a request carries it: six digits, never logged, stored or echoed. */
export const Pin = z
  .string()
  .regex(PIN_PATTERN, "exactly 6 digits")
  .openapi({ example: "246810", description: "Your 6-digit payment PIN (支付密码)." });

/** A tip as asked for: from the wallet (POST …/tips) or paid at the cashier (a pay-to-tip order). */
const giftAsk = {
  kind: z.literal("gift"),
  giftId: GiftId,
  quantity: z.number().int().min(1).max(LIMITS.giftQuantityMax).default(1),
};
const customAsk = { kind: z.literal("custom"), amount: DecimalAmount };

export const TipAskSchema = z
  .discriminatedUnion("kind", [z.strictObject(giftAsk), z.strictObject(customAsk)])
  .openapi("TipAsk", { example: { kind: "gift", giftId: "rose", quantity: 3 } });

export const TipPin = Pin.optional().openapi({
  description:
    "Your payment PIN. Needed above your password-free (小额免密) limits: without it such a tip answers 428 " +
    "`pin_required`; send the same request again with it. Only then is it checked (a wrong one counts a try).",
});

/**
 * A wallet tip's message: the length is checked in code points by the route (400
 * `message_too_long`); the schema only bounds the body, loosely, so that a long message gets that code.
 */
export const TipMessage = z
  .string()
  .max(LIMITS.tipMessageMaxCodePoints * 10)
  .regex(/^\P{Cc}*$/u, "no control characters")
  .optional()
  .openapi({
    description:
      "A short message shown with the tip: at most 40 Unicode code points after trimming, no control characters. " +
      "Moderated: shown, shown masked, or held for review (the tip posts either way).",
    example: "主播加油！",
  });

/**
 * A wallet tip (POST /v1/rooms/{roomId}/tips): the ask, an optional message, and the payer's PIN
 * when it is above their password-free limits.
 */
export const TipRequestSchema = z
  .discriminatedUnion("kind", [
    z.strictObject({ ...giftAsk, pin: TipPin, message: TipMessage }),
    z.strictObject({ ...customAsk, pin: TipPin, message: TipMessage }),
  ])
  .openapi("TipRequest", {
    example: { kind: "gift", giftId: "rose", quantity: 3, message: "主播加油！" },
  });
export type TipRequestBody = z.infer<typeof TipRequestSchema>;

/** A prefixed, time-sortable id of one kind (`room_…`), as every route and message takes it. */
export function PrefixedId(prefix: IdPrefix) {
  return z
    .string()
    .regex(idPattern(prefix))
    .openapi({ example: `${prefix}_01JDEM${"0".repeat(20)}` });
}
