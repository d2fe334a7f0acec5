import { assert, isSafeAmountMinor, LIMITS } from "./limits";

export interface RevenueSplit {
  readonly platformMinor: number;
  readonly creatorMinor: number;
}

/**
 * Splits a price between the platform and the creator. The platform's part is rounded
 * down to the fen and the creator receives the rest, so rounding always favours the
 * creator and the parts always sum to the price exactly.
 */
export function splitRevenue(priceMinor: number, platformShareBps: number): RevenueSplit {
  assert(isSafeAmountMinor(priceMinor), "price is a positive safe amount");
  assert(
    Number.isInteger(platformShareBps) && platformShareBps >= 0 && platformShareBps <= LIMITS.bpsMax,
    "share is 0..10000 bps",
  );
  // priceMinor ≤ 1e8 and bps ≤ 1e4, so the product stays far below 2^53.
  const platformMinor = Math.floor((priceMinor * platformShareBps) / LIMITS.bpsMax);
  const creatorMinor = priceMinor - platformMinor;
  assert(platformMinor >= 0 && creatorMinor >= 0, "parts are non-negative");
  assert(platformMinor + creatorMinor === priceMinor, "parts sum to the price");
  return { platformMinor, creatorMinor };
}

/** The creator's override wins over the platform default. */
export function effectiveShareBps(defaultBps: number, creatorOverrideBps: number | null): number {
  return creatorOverrideBps ?? defaultBps;
}
