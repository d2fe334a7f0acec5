/**
 * The caller's payment PIN (domain/pin.ts, db/payment-pins.ts): whether it is set and locked,
 * setting or changing it (a change needs the old PIN, counted as a try like any other), and
 * resetting a forgotten one, which needs the host's re-authentication: a token whose
 * `auth_time` is at most `LIMITS.pinReauthMaxAgeMs` old. The PIN is never logged or answered.
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import { insertPin, newPinHash, type PinStatus, pinStatus, replacePin } from "../../db/payment-pins";
import { LIMITS } from "../../domain/limits";
import { checkPinStrength } from "../../domain/pin";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { requirePin } from "../pin";
import { errorResponses, jsonBody, jsonResponse, Pin } from "../schemas";
import { defineRoute } from "./define";

const PinStatusSchema = z
  .object({
    set: z.boolean(),
    lockedUntilMs: z
      .number()
      .int()
      .nullable()
      .openapi({ description: "Locked after too many wrong tries until then." }),
    triesLeft: z.number().int().openapi({ description: "Wrong tries left before it locks." }),
    updatedAtMs: z.number().int().nullable(),
  })
  .openapi("PaymentPinStatus");

const PinSet = z
  .strictObject({
    pin: Pin,
    oldPin: Pin.optional().openapi({ description: "Your current PIN: required to change one that is set." }),
  })
  .openapi("PaymentPinSet", { example: { pin: "246810" } });

const PinReset = z.strictObject({ pin: Pin }).openapi("PaymentPinReset", { example: { pin: "246810" } });

/** An auth_time this far ahead of our clock is still "now" (clock skew between the host and us). */
const AUTH_TIME_SKEW_MS = 60_000;

function strongEnough(pin: string): void {
  const strong = checkPinStrength(pin);
  if (!strong.ok) throw ApiError.from(strong);
}

export const paymentPin = new OpenAPIHono<AppEnv>();

paymentPin.openapi(
  defineRoute({
    method: "get",
    path: "/me/pin",
    auth: "signed-in",
    tags: ["wallets"],
    summary: "Whether you have a payment PIN, and whether it is locked",
    responses: { 200: jsonResponse(PinStatusSchema, "The PIN's state (never the PIN)"), ...errorResponses(401) },
  }),
  async (c) => {
    const userId = c.var.principal.userId;
    const status: PinStatus = await pinStatus(c.var.ledger.forOwner(userId).db, userId, Date.now());
    return c.json(status, 200);
  },
);

paymentPin.openapi(
  defineRoute({
    method: "put",
    path: "/me/pin",
    auth: "signed-in",
    tags: ["wallets"],
    summary: "Set your payment PIN, or change it with the old one",
    description:
      "Six digits; one digit repeated or a run of consecutive digits is refused (`pin_too_simple`). Changing a set " +
      "PIN needs `oldPin` (`pin_required` without it); a wrong `oldPin` counts as a wrong try (`pin_incorrect`, " +
      "`pin_locked`).",
    request: { body: jsonBody(PinSet) },
    responses: {
      200: jsonResponse(PinStatusSchema, "Saved"),
      ...errorResponses(400, 401, 403, 409, 422, 423, 428),
    },
  }),
  async (c) => {
    const { pin, oldPin } = c.req.valid("json");
    strongEnough(pin);
    const userId = c.var.principal.userId;
    const shard = c.var.ledger.forOwner(userId);
    const nowMs = Date.now();
    if (oldPin === undefined) {
      if (!(await insertPin(shard.db, userId, await newPinHash(pin), nowMs))) {
        throw new ApiError("pin_required", "You have a payment PIN: give it as `oldPin` to change it, or reset it.");
      }
      c.var.log.info("payment_pin_set", { userId });
    } else {
      const checked = await requirePin(shard, userId, oldPin, nowMs);
      // Only over the PIN just checked: a reset in between wins, and this change is refused.
      if (!(await replacePin(shard.db, userId, await newPinHash(pin), nowMs, checked))) {
        throw new ApiError("conflict", "Your payment PIN changed meanwhile; nothing was changed.");
      }
      c.var.log.info("payment_pin_changed", { userId });
    }
    return c.json(await pinStatus(shard.db, userId, nowMs), 200);
  },
);

paymentPin.openapi(
  defineRoute({
    method: "post",
    path: "/me/pin/reset",
    auth: "signed-in",
    tags: ["wallets"],
    summary: "Reset a forgotten payment PIN (needs a fresh sign-in)",
    description:
      `The token must carry an \`auth_time\` at most ${LIMITS.pinReauthMaxAgeMs / 60_000} minutes old ` +
      "(`reauthentication_required` otherwise): the host signs the user in again first. Clears the tries and any lock.",
    request: { body: jsonBody(PinReset) },
    responses: { 200: jsonResponse(PinStatusSchema, "Reset"), ...errorResponses(400, 401, 422) },
  }),
  async (c) => {
    const { pin } = c.req.valid("json");
    const { userId, authTimeMs } = c.var.principal;
    const nowMs = Date.now();
    const ageMs = authTimeMs === null ? null : nowMs - authTimeMs;
    if (ageMs === null || ageMs > LIMITS.pinReauthMaxAgeMs || ageMs < -AUTH_TIME_SKEW_MS) {
      throw new ApiError(
        "reauthentication_required",
        `Sign in again first: resetting a payment PIN needs a token whose auth_time is at most ${
          LIMITS.pinReauthMaxAgeMs / 60_000
        } minutes old.`,
      );
    }
    strongEnough(pin);
    const shard = c.var.ledger.forOwner(userId);
    await replacePin(shard.db, userId, await newPinHash(pin), nowMs, null);
    c.var.log.info("payment_pin_reset", { userId, authTimeMs });
    return c.json(await pinStatus(shard.db, userId, nowMs), 200);
  },
);
