import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Guard } from "../../db/ledger";
import type { AppEnv } from "../context";
import { balancePatch, runIdempotent } from "../idempotency";
import { requireAuth } from "../middleware/auth";
import { deliverAfterCommit } from "../rooms/outbox";
import {
  AmountMinor,
  bearerSecurity,
  Currency,
  errorResponses,
  IdempotencyKeyHeader,
  jsonBody,
  jsonResponse,
  UserId,
} from "../schemas";
import { composeTip, TipRequestSchema } from "../tips/compose";
import { autopayFor, autopayGuards } from "./autopay";
import { GiftId } from "./gifts";
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
      currency: Currency,
      createdAtMs: z.number().int(),
    }),
    walletBalanceMinor: AmountMinor,
  })
  .openapi("Tip");

const roomParams = z.object({ roomId: RoomId.openapi({ param: { name: "roomId", in: "path" } }) });

export const tips = new OpenAPIHono<AppEnv>();

tips.use("/rooms/:roomId/tips", requireAuth("viewer", "creator"));

tips.openapi(
  createRoute({
    method: "post",
    path: "/rooms/{roomId}/tips",
    tags: ["tips"],
    summary: "Send a gift or a custom tip to the room's creator, paid from your wallet",
    description:
      "Debits the viewer's wallet and credits the creator's pending earnings and the platform's revenue " +
      "atomically. The platform's part is rounded down to the fen; the creator receives the rest.",
    security: bearerSecurity,
    request: { params: roomParams, headers: IdempotencyKeyHeader, body: jsonBody(TipRequestSchema) },
    responses: {
      201: jsonResponse(TipSchema, "The tip was sent"),
      ...errorResponses(400, 401, 403, 404, 409, 422, 428),
    },
  }),
  async (c) => {
    const { roomId } = c.req.valid("param");
    const body = c.req.valid("json");
    const viewerId = c.var.principal.userId;
    return runIdempotent(c, "tip", { roomId, ...body }, async (id, nowMs) => {
      const tip = await composeTip(c.env.DB, c.var.config, { roomId, viewerId, request: body }, id, nowMs);
      let guardsAfterFunds: Guard[] = [];
      if (body.confirmed !== true) {
        // 小额免密: within the payer's limits no confirmation is needed; checked in the batch,
        // after the balance, since concurrent tips read the same day total.
        const autopay = await autopayFor(c.env.DB, c.var.config, viewerId, nowMs);
        guardsAfterFunds = autopayGuards(viewerId, autopay, tip.priced.amountMinor);
      }
      return {
        spec: { ...tip.spec, guardsAfterFunds },
        status: 201,
        // Tell the room (big gifts go out at once); the outbox row guarantees it hears eventually.
        onPosted: () => c.executionCtx.waitUntil(deliverAfterCommit(c.env, [id], c.var.log)),
        body: { tip: tip.row, walletBalanceMinor: 0 },
        patches: [balancePatch("$.walletBalanceMinor", tip.wallet)],
      };
    });
  },
);
