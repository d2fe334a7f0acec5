import { z } from "@hono/zod-openapi";
import type { Guard, OperationSpec, Posting } from "../../db/ledger";
import { accountAddress } from "../../domain/accounts";
import { LIMITS } from "../../domain/limits";
import { DEFAULT_CURRENCY, parseAmountMinor } from "../../domain/money";
import { effectiveShareBps } from "../../domain/revenue-share";
import { isBigTip } from "../../domain/room/lanes";
import { type GiftTier, type PricedTip, priceTip, type TipRequest } from "../../domain/tip";
import type { TipEvent } from "../../durable-objects/live-room.protocol";
import type { Config } from "../config";
import { ApiError } from "../errors";
import { money } from "../money-view";
import { outboxInsert } from "../rooms/outbox";
import { GiftId } from "../routes/gifts";
import { findRoom } from "../routes/rooms";
import { DecimalAmount } from "../schemas";

/**
 * One tip as a ledger operation: the viewer's wallet pays the creator's pending earnings
 * and the platform's share, the tip row and the room's outbox row are written with it.
 * Shared by the wallet tip route and by pay-to-tip orders, whose tip runs in the same
 * batch as the payment's credit.
 */

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

export interface TipInput {
  readonly roomId: string;
  readonly viewerId: string;
  readonly request: TipRequestBody;
}

export interface ComposedTip {
  readonly spec: OperationSpec;
  readonly priced: PricedTip;
  readonly wallet: string;
  /** The tip as the API shows it. */
  readonly row: {
    id: string;
    roomId: string;
    streamId: string;
    viewerId: string;
    creatorId: string;
    giftId: string | null;
    quantity: number;
    amountMinor: number;
    amount: string;
    big: boolean;
    platformMinor: number;
    creatorMinor: number;
    currency: typeof DEFAULT_CURRENCY;
    createdAtMs: number;
  };
}

/**
 * Reads what pricing needs and composes the tip operation `id`. Expected failures (room not
 * live, unknown gift, amount out of range, self tip) throw ApiError before any money moves;
 * the same conditions are guards inside the batch, since the room may end after these reads.
 */
export async function composeTip(
  db: D1Database,
  config: Config,
  input: TipInput,
  id: string,
  nowMs: number,
  extraGuards: readonly Guard[] = [],
): Promise<ComposedTip> {
  const { roomId, viewerId, request: body } = input;
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
  guards.push(...extraGuards);
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
  const row = {
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
  const spec: OperationSpec = {
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
  };
  return { spec, priced: tip, wallet, row };
}
