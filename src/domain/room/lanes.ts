import type { GiftTier } from "../tip";

/**
 * Which lane a tip takes. Big gifts go out to everyone at once; the rest merge into one
 * frame per window. A room may set its own threshold; without one, gifts of tier `big` or
 * `epic` are big, and so is a custom tip of at least 520.00 (the price of a sports car).
 */
export const DEFAULT_CUSTOM_BIG_MINOR = 52_000;

export function isBigTip(
  tip: { tier: GiftTier | null; amountMinor: number },
  roomThresholdMinor: number | null,
): boolean {
  if (roomThresholdMinor !== null) return tip.amountMinor >= roomThresholdMinor;
  if (tip.tier !== null) return tip.tier === "big" || tip.tier === "epic";
  return tip.amountMinor >= DEFAULT_CUSTOM_BIG_MINOR;
}
