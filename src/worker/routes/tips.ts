import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Guard, Posting } from "../../db/ledger";
import { accountAddress } from "../../domain/accounts";
import { LIMITS } from "../../domain/limits";
import { DEFAULT_CURRENCY, parseAmountMinor } from "../../domain/money";
import { effectiveShareBps } from "../../domain/revenue-share";
import { isBigTip } from "../../domain/room/lanes";
import { type GiftTier, priceTip, type TipRequest } from "../../domain/tip";
import type { TipEvent } from "../../durable-objects/live-room.protocol";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { balancePatch, runIdempotent } from "../idempotency";
import { requireAuth } from "../middleware/auth";
import { money } from "../money-view";
import { deliverAfterCommit, outboxInsert } from "../rooms/outbox";
import {
  AmountMinor,
  bearerSecurity,
  Currency,
  DecimalAmount,
  errorResponses,
  IdempotencyKeyHeader,
  jsonBody,
  jsonResponse,
  UserId,
} from "../schemas";
import { GiftId } from "./gifts";
import { findRoom, RoomId } from "./rooms";

export const TipRequestSchema = z
  .discriminatedUnion("kind", [
    z.strictObject({
      kind: z.literal("gift"),
      giftId: GiftId,
      quantity: z.number().int().min(1).max(LIMITS.giftQuantityMax).default(1),
    }),
    z.strictObject({ kind: z.literal("custom"), amount: DecimalAmount }),
  ])
  .openapi("TipRequest", {
    example: { kind: "gift", giftId: "rose", quantity: 3 },
  });

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
    responses: { 201: jsonResponse(TipSchema, "The tip was sent"), ...errorResponses(400, 401, 403, 404, 409, 422) },
  }),
  async (c) => {
    const { roomId } = c.req.valid("param");
    const body = c.req.valid("json");
    const viewerId = c.var.principal.userId;
    const db = c.env.DB;
    const config = c.var.config;
    return runIdempotent(c, "tip", { roomId, ...body }, async (id, nowMs) => {
      const room = await findRoom(db, roomId);
      if (!room) throw new ApiError("room_not_found");
      if (room.status !== "live" || room.current_stream_id === null) throw new ApiError("room_not_live");
      const streamId = room.current_stream_id;
      if (room.creator_id === viewerId) throw new ApiError("self_tip");

      const [gift, creator] = await Promise.all([
        body.kind === "gift"
          ? db
              .prepare("SELECT id, name, price_minor, enabled, tier, animation_key FROM gifts WHERE id = ?")
              .bind(body.giftId)
              .first<{
                id: string;
                name: string;
                price_minor: number;
                enabled: number;
                tier: GiftTier;
                animation_key: string;
              }>()
          : Promise.resolve(null),
        db
          .prepare("SELECT platform_share_bps FROM creators WHERE user_id = ?")
          .bind(room.creator_id)
          .first<{ platform_share_bps: number | null }>(),
      ]);
      let request: TipRequest;
      if (body.kind === "gift") {
        request = {
          kind: "gift",
          gift: gift ? { id: gift.id, priceMinor: gift.price_minor, enabled: gift.enabled === 1 } : null,
          quantity: body.quantity,
        };
      } else {
        const amount = parseAmountMinor(body.amount);
        if (!amount.ok) throw ApiError.from(amount);
        request = { kind: "custom", amountMinor: amount.value };
      }
      const shareBps = effectiveShareBps(config.platformShareBps, creator?.platform_share_bps ?? null);
      const priced = priceTip(request, config.customTip, shareBps);
      if (!priced.ok) throw ApiError.from(priced);
      const tip = priced.value;

      const wallet = accountAddress.userWallet(viewerId);
      const postings: Posting[] = [
        { from: wallet, to: accountAddress.creatorPending(room.creator_id), amountMinor: tip.creatorMinor },
        { from: wallet, to: accountAddress.platformRevenue(), amountMinor: tip.platformMinor },
      ].filter((p) => p.amountMinor > 0);

      // Re-checked inside the batch: the room may end, or the gift change, after our reads.
      const guards: Guard[] = [
        {
          code: "room_not_live",
          sql: "EXISTS (SELECT 1 FROM rooms WHERE id = ? AND status = 'live')",
          params: [roomId],
        },
      ];
      if (tip.giftId !== null && gift) {
        guards.push(
          {
            code: "gift_disabled",
            sql: "EXISTS (SELECT 1 FROM gifts WHERE id = ? AND enabled = 1)",
            params: [tip.giftId],
          },
          {
            code: "conflict",
            sql: "EXISTS (SELECT 1 FROM gifts WHERE id = ? AND price_minor = ?)",
            params: [tip.giftId, gift.price_minor],
          },
        );
      }
      const big = isBigTip({ tier: gift?.tier ?? null, amountMinor: tip.amountMinor }, room.big_gift_threshold_minor);
      const roomEvent: TipEvent = {
        type: "tip",
        id,
        roomId,
        streamId,
        creatorId: room.creator_id,
        viewerId,
        giftId: tip.giftId,
        giftName: gift?.name ?? null,
        tier: gift?.tier ?? null,
        animationKey: gift?.animation_key ?? null,
        quantity: tip.quantity,
        amountMinor: tip.amountMinor,
        big,
        createdAtMs: nowMs,
      };
      const tipRow = {
        id,
        roomId,
        streamId,
        viewerId,
        creatorId: room.creator_id,
        giftId: tip.giftId,
        quantity: tip.quantity,
        ...money(tip.amountMinor),
        big,
        platformMinor: tip.platformMinor,
        creatorMinor: tip.creatorMinor,
        currency: DEFAULT_CURRENCY,
        createdAtMs: nowMs,
      };
      return {
        spec: {
          id,
          kind: "tip",
          currency: DEFAULT_CURRENCY,
          postings,
          actorId: viewerId,
          reason: null,
          metadata: { roomId, giftId: tip.giftId, quantity: tip.quantity, shareBps },
          nowMs,
          guards,
          extra: (posting) => [
            db
              .prepare(
                `INSERT INTO tips (id, room_id, stream_id, viewer_id, creator_id, gift_id, quantity, amount_minor, big,
                   platform_minor, creator_minor, currency, created_at_ms)
                 SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE ${posting.sql}`,
              )
              .bind(
                id,
                roomId,
                streamId,
                viewerId,
                room.creator_id,
                tip.giftId,
                tip.quantity,
                tip.amountMinor,
                big ? 1 : 0,
                tip.platformMinor,
                tip.creatorMinor,
                DEFAULT_CURRENCY,
                nowMs,
                ...posting.params,
              ),
            outboxInsert(db, roomEvent, nowMs, posting),
          ],
        },
        status: 201,
        // Tell the room (big gifts go out at once); the outbox row guarantees it hears eventually.
        onPosted: () => c.executionCtx.waitUntil(deliverAfterCommit(c.env, [id], c.var.log)),
        body: { tip: tipRow, walletBalanceMinor: 0 },
        patches: [balancePatch("$.walletBalanceMinor", wallet)],
      };
    });
  },
);
