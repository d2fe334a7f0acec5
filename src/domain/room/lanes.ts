/**
 * Which lane a tip takes. Big gifts go out to everyone at once; the rest merge into one frame
 * per window. The lane is decided by the tip's gross amount alone — a gift of any tier in any
 * quantity, or a custom tip: at or above the effective threshold it is big. The platform sets
 * the threshold (config `BIG_GIFT_THRESHOLD_MINOR`, default ¥500.00 per the tipping design); a
 * room may lower it for itself, never raise it. The gift's tier decides only the effect shown.
 */

/** The threshold a room's tips are laned by: the room's own if it set one below the platform's. */
export function effectiveBigThresholdMinor(platformMinor: number, roomMinor: number | null): number {
  // A room's value above the platform's (the platform lowered its threshold since) does not raise it.
  return roomMinor === null ? platformMinor : Math.min(roomMinor, platformMinor);
}

/** Whether a tip of `amountMinor` gross takes the big-gift (instant) lane. */
export function isBigTip(amountMinor: number, thresholdMinor: number): boolean {
  return amountMinor >= thresholdMinor;
}

/** A room may lower the platform's threshold, never raise it: the refusal for a value above it, or null. */
export function roomThresholdRefusal(
  platformMinor: number,
  requestedMinor: number | null,
): "threshold_above_platform" | null {
  return requestedMinor !== null && requestedMinor > platformMinor ? "threshold_above_platform" : null;
}
