import { assert, LIMITS } from "./limits";

/**
 * Withholding tax (代扣个税) on a creator's settled income: a configurable rate in basis
 * points, 0 by default. Rounded DOWN to the fen, like the platform's share: the creator keeps
 * the fraction, and withholding plus what is left always equals the base exactly.
 */
export const WITHHOLDING_BPS_DEFAULT = 0;

export function withholdingMinor(baseMinor: number, withholdingBps: number = WITHHOLDING_BPS_DEFAULT): number {
  assert(Number.isSafeInteger(baseMinor) && baseMinor >= 0, "the base is a non-negative integer");
  assert(baseMinor <= LIMITS.balanceAbsMaxMinor, "the base stays within the balance ceiling");
  assert(
    Number.isInteger(withholdingBps) && withholdingBps >= 0 && withholdingBps <= LIMITS.bpsMax,
    "the rate is 0..10000 bps",
  );
  // base ≤ 1e12 and bps ≤ 1e4: the product is ≤ 1e16, above 2^53 at the very top, so split it.
  const whole = Math.floor(baseMinor / LIMITS.bpsMax);
  const rest = baseMinor % LIMITS.bpsMax;
  return whole * withholdingBps + Math.floor((rest * withholdingBps) / LIMITS.bpsMax);
}
