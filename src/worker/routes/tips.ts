import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context, TypedResponse } from "hono";
import { prepareTip, tipReceipt } from "../../db/operations/tip";
import { currentRiskSet, type RiskSet } from "../../db/risk";
import { parseAmountMinor } from "../../domain/money";
import type { TipSubmission } from "../../durable-objects/live-room.tips";
import type { AppEnv } from "../context";
import { errorResponse } from "../errors";
import { holdTip } from "../held-tips";
import { idempotencyOf, replay } from "../idempotency";
import { moderatedMessage } from "../moderation";
import { requirePin } from "../pin";
import { postRatedTip } from "../rated-tip";
import { assessRisk, type RiskAsk } from "../risk";
import { knownRooms } from "../rooms/known-rooms";
import { deliverAfterCommit } from "../rooms/outbox";
import {
  AmountMinor,
  Currency,
  errorResponses,
  GiftId,
  IdempotencyKeyHeader,
  jsonBody,
  jsonResponse,
  PrefixedId,
  type TipRequestBody,
  TipRequestSchema,
  tipLineFields,
  UserId,
} from "../schemas";
import { defineRoute } from "./define";
import { RoomId } from "./rooms";

export const TipSchema = z
  .object({
    tip: z.object({
      id: z.string().openapi({ example: "tip_01JDEMO0000000000000000000" }),
      roomId: RoomId,
      streamId: z.string(),
      viewerId: UserId,
      creatorId: UserId,
      giftId: GiftId.nullable(),
      quantity: z.number().int(),
      amountMinor: AmountMinor,
      amount: z.string(),
      big: z.boolean().openapi({ description: "Shown at once in the big-gift lane rather than merged." }),
      platformMinor: AmountMinor,
      creatorMinor: AmountMinor,
      platformShareBps: z
        .number()
        .int()
        .openapi({ description: "The platform's rate this tip was split at, in basis points (tiered by month)." }),
      currency: Currency,
      createdAtMs: z.number().int(),
      message: z
        .object({
          text: z.string().openapi({ description: "The message as the room shows it: mask-level words masked." }),
          status: z.enum(["shown", "masked", "held"]).openapi({
            description:
              "`shown` as written; `masked`; `held`: not shown in the room until an operator approves it " +
              "(the tip itself has posted).",
          }),
        })
        .nullable(),
    }),
    walletBalanceMinor: AmountMinor,
  })
  .openapi("Tip");

export const HeldTipReceiptSchema = z
  .object({
    heldTip: z.object({
      id: PrefixedId("held"),
      state: z.literal("held"),
      roomId: RoomId,
      creatorId: UserId,
      ...tipLineFields,
      expiresAtMs: z
        .number()
        .int()
        .openapi({ description: "Not decided by then, it is declined and the amount returns to the wallet." }),
      decisionId: z.string().openapi({ description: "The risk decision that held it (for support)." }),
    }),
    walletBalanceMinor: AmountMinor,
  })
  .openapi("HeldTipReceipt");

const roomParams = z.object({ roomId: RoomId.openapi({ param: { name: "roomId", in: "path" } }) });

export const tips = new OpenAPIHono<AppEnv>();

/** The tip's amount as risk sees it at the edge: a custom amount, or the gift's cached price × quantity. */
async function tipRiskAsk(c: Context<AppEnv>, roomId: string, body: TipRequestBody, set: RiskSet): Promise<RiskAsk> {
  // The recipient only when a circular_tipping rule asks (the isolate knows a room's creator after one read).
  const recipientId = set.rules.some((r) => r.enabled && r.kind === "circular_tipping")
    ? await knownRooms.creatorOf(c.var.ledger.control, roomId)
    : null;
  if (body.kind === "custom") {
    const amount = parseAmountMinor(body.amount);
    return { action: "tip", amountMinor: amount.ok ? amount.value : null, recipientId };
  }
  const price = set.giftPricesMinor.get(body.giftId);
  return { action: "tip", amountMinor: price === undefined ? null : price * body.quantity, recipientId };
}

tips.openapi(
  defineRoute({
    method: "post",
    path: "/rooms/{roomId}/tips",
    auth: ["viewer", "creator"],
    rateLimit: { user: "tips", ip: "moneyIp" },
    tags: ["tips"],
    summary: "Send a gift or a custom tip to the room's creator, paid from your wallet",
    description:
      "Debits the viewer's wallet and credits the creator's pending earnings and the platform's revenue " +
      "atomically. The platform's part is rounded down to the fen; the creator receives the rest.",
    request: { params: roomParams, headers: IdempotencyKeyHeader, body: jsonBody(TipRequestSchema) },
    responses: {
      201: jsonResponse(TipSchema, "The tip was sent"),
      202: jsonResponse(
        HeldTipReceiptSchema,
        "A risk rule sent the tip to review: the amount is held from the wallet until an operator decides " +
          "(approved: the tip is sent as it would have been; declined, or not decided within 72 h: the amount " +
          "returns to the wallet). A replay of the key answers this again.",
      ),
      ...errorResponses(400, 401, 403, 404, 409, 422, 423, 428, 429, 503),
    },
  }),
  async (c) => {
    const { roomId } = c.req.valid("param");
    // The PIN is never part of the request's fingerprint: a stored hash of six digits and a
    // known rest would give the PIN away. The same key is reused after `pin_required`.
    const { pin, ...body } = c.req.valid("json");
    const viewerId = c.var.principal.userId;
    const request = { roomId, ...body };
    // A missing or malformed Idempotency-Key is refused before a PIN try is spent on it; parsed
    // once here, and handed to the hold or the direct commit.
    const idempotency = await idempotencyOf(c, request);
    const { key, requestHash } = idempotency;
    // Moderated here, in memory against the isolate's word list: the tip path reads nothing more.
    // A refused message (too long) is refused before a PIN try is spent on it too.
    const { message: written, ...ask } = body;
    const message = await moderatedMessage(c, written);
    // 小额免密: a tip without a PIN must fit the payer's password-free limits (the guards in its
    // batch say, answering `pin_required`); one with a PIN is checked here, before the room or
    // the batch sees it, and then skips those limits. Only a tip the client was told needs it
    // carries a PIN, so the PBKDF2 work is not on the path of ordinary tips.
    const confirmed = pin !== undefined;
    if (confirmed) await requirePin(c.var.ledger.forOwner(viewerId), viewerId, pin, Date.now());
    const inRoom = c.var.config.tipCommit === "room";
    // An unknown room is refused here: addressing its object would create it.
    if (inRoom) await knownRooms.require(c.var.ledger.control, roomId);
    // Risk at the edge, once the request is well-formed, on both commit paths, with the
    // isolate's rule set read once: a refused tip never reaches the room or the batch (its key
    // stays free). A retry of a committed tip's key is assessed again (and then replayed). A
    // verified PIN answers a challenge; a review holds the tip with its money (202).
    const set = await currentRiskSet(c.var.ledger.control, c.var.config.switchCacheTtlMs);
    const review = await assessRisk(
      c,
      { ...(await tipRiskAsk(c, roomId, body, set)), pinVerified: confirmed, holdable: true },
      set,
    );
    if (review !== null) {
      const held = await holdTip(c, {
        target: { roomId },
        viewerId,
        ask,
        message,
        confirmed,
        review,
        request,
        idempotency,
      });
      return held as unknown as TypedResponse<z.infer<typeof TipSchema>, 201, "json">;
    }
    if (inRoom) {
      // The room group-commits its tips (durable-objects/live-room.tips.ts): one D1 batch per
      // ledger shard for many tips, the Idempotency-Key record in it; answered after commit.
      const answer = await c.env.LIVE_ROOM.getByName(roomId).tip({
        roomId,
        viewerId,
        ask,
        confirmed,
        message,
        key,
        requestHash,
      } satisfies TipSubmission);
      const response =
        answer.kind === "response"
          ? replay(answer.body, answer.status, answer.replayed)
          : errorResponse(c, answer.code, answer.message);
      return response as unknown as TypedResponse<z.infer<typeof TipSchema>, 201, "json">;
    }
    const { ledger } = c.var;
    const shard = ledger.forOwner(viewerId);
    return postRatedTip(c, {
      shard,
      viewerId,
      request,
      idempotency,
      confirmed,
      prepare: (id, nowMs) => prepareTip(ledger.control, c.var.config, { id, roomId, viewerId, ask, message }, nowMs),
      // Tell the room (big gifts go out at once); the outbox row guarantees it hears eventually.
      onPosted: (id) => c.executionCtx.waitUntil(deliverAfterCommit(c.env, ledger, shard.index, [id], c.var.log)),
      receipt: tipReceipt,
    });
  },
);
