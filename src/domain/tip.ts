import { fail, ok, type Result } from "./errors";
import { assert, isSafeAmountMinor, LIMITS } from "./limits";
import { splitRevenue } from "./revenue-share";
import { liveStreamOf, type RoomLiveness } from "./room/live";

export const GIFT_TIERS = ["small", "medium", "big", "epic"] as const;
export type GiftTier = (typeof GIFT_TIERS)[number];

export interface GiftForPricing {
  readonly id: string;
  readonly priceMinor: number;
  readonly enabled: boolean;
}

export type TipRequest =
  | { readonly kind: "gift"; readonly gift: GiftForPricing | null; readonly quantity: number }
  | { readonly kind: "custom"; readonly amountMinor: number };

export interface CustomTipBounds {
  readonly minMinor: number;
  readonly maxMinor: number;
}

export interface PricedTip {
  readonly amountMinor: number;
  readonly giftId: string | null;
  readonly quantity: number;
  readonly platformMinor: number;
  readonly creatorMinor: number;
}

/**
 * Prices a tip and splits it. Expected failures (unknown gift, out of range) are values;
 * the caller has already checked shapes with zod, so shape violations here are bugs.
 */
export function priceTip(request: TipRequest, bounds: CustomTipBounds, platformShareBps: number): Result<PricedTip> {
  let amountMinor: number;
  let giftId: string | null = null;
  let quantity = 1;
  if (request.kind === "gift") {
    assert(
      Number.isInteger(request.quantity) && request.quantity >= 1 && request.quantity <= LIMITS.giftQuantityMax,
      "quantity is within limits",
    );
    if (request.gift === null) return fail("gift_not_found");
    if (!request.gift.enabled) return fail("gift_disabled");
    amountMinor = request.gift.priceMinor * request.quantity;
    giftId = request.gift.id;
    quantity = request.quantity;
    if (amountMinor > LIMITS.amountMaxMinor) {
      return fail("amount_out_of_range", "That many gifts exceed the largest amount one tip may move.");
    }
  } else {
    amountMinor = request.amountMinor;
    if (amountMinor < bounds.minMinor || amountMinor > bounds.maxMinor) {
      return fail("amount_out_of_range", `A custom tip must be between ${bounds.minMinor} and ${bounds.maxMinor} fen.`);
    }
  }
  assert(isSafeAmountMinor(amountMinor), "tip amount is a positive safe amount");
  const { platformMinor, creatorMinor } = splitRevenue(amountMinor, platformShareBps);
  return ok({ amountMinor, giftId, quantity, platformMinor, creatorMinor });
}

/**
 * Whether `viewerId` may tip into this room now: it exists, is live, and is not the viewer's
 * own.
 */
export function tipTarget(
  room: RoomLiveness | null,
  viewerId: string,
): Result<{ readonly creatorId: string; readonly streamId: string }> {
  const live = liveStreamOf(room);
  if (!live.ok) return live;
  if (live.value.creatorId === viewerId) return fail("self_tip");
  return live;
}
