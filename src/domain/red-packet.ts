/**
 * Red packets (红包): the pure rules. A packet holds `totalMinor` fen in escrow and is cut
 * into `shares` claims, each at least 1 fen, that always sum exactly to the total.
 *
 * - `lucky`: each claim draws uniformly from [1, 2 × remaining / remaining shares] (the
 *   double-mean rule), capped so every later share can still get 1 fen; the last claim takes
 *   the remainder. The expected share is the mean, and nobody can take the whole packet.
 * - `equal`: total ÷ shares, the remainder spread one fen at a time over the first claims,
 *   so the order of claims alone decides who gets the extra fen.
 */

import { fail, ok, type Result } from "./errors";
import { assert, isSafeAmountMinor, LIMITS } from "./limits";

export const SPLIT_MODES = ["lucky", "equal"] as const;
export type SplitMode = (typeof SPLIT_MODES)[number];

export const AUDIENCES = ["everyone", "followers"] as const;

/** The greeting a packet shows when its sender gives none, and while the sender's is held for review. */
export const DEFAULT_PACKET_GREETING = "恭喜发财，大吉大利";
export type Audience = (typeof AUDIENCES)[number];

/** A uniform random integer in [min, max], both inclusive. */
export type RandomInt = (min: number, max: number) => number;

/** From the platform's CSPRNG, by rejection sampling (no modulo bias). */
export const cryptoRandomInt: RandomInt = (min, max) => {
  assert(Number.isSafeInteger(min) && Number.isSafeInteger(max) && min <= max, "a valid integer range");
  const span = max - min + 1;
  assert(span <= 2 ** 32, "range fits 32 bits");
  if (span === 1) return min;
  const limit = Math.floor(2 ** 32 / span) * span;
  const buffer = new Uint32Array(1);
  for (;;) {
    crypto.getRandomValues(buffer);
    const value = buffer[0] as number;
    if (value < limit) return min + (value % span);
  }
};

export interface PacketShape {
  readonly totalMinor: number;
  readonly shares: number;
}

/** Every share gets at least 1 fen; totals and shares stay inside the named limits. */
export function validatePacket(shape: PacketShape): Result<PacketShape> {
  const { totalMinor, shares } = shape;
  if (!Number.isSafeInteger(shares) || shares < 1 || shares > LIMITS.packetSharesMax)
    return fail("amount_out_of_range", `A packet has 1 to ${LIMITS.packetSharesMax} shares.`);
  if (!isSafeAmountMinor(totalMinor) || totalMinor > LIMITS.packetTotalMaxMinor)
    return fail("amount_out_of_range", `A packet holds at most ${LIMITS.packetTotalMaxMinor} fen.`);
  if (totalMinor < shares) return fail("amount_out_of_range", "Every share must be at least 0.01.");
  if (totalMinor > shares * LIMITS.packetAverageShareMaxMinor)
    return fail("amount_out_of_range", `A share averages at most ${LIMITS.packetAverageShareMaxMinor} fen.`);
  return ok(shape);
}

export interface Remaining {
  readonly remainingMinor: number;
  readonly remainingShares: number;
}

/** The next lucky share from what is left (double-mean rule). */
export function drawLucky(remaining: Remaining, randomInt: RandomInt = cryptoRandomInt): number {
  const { remainingMinor: r, remainingShares: n } = remaining;
  assert(Number.isSafeInteger(n) && n >= 1, "a share remains");
  assert(Number.isSafeInteger(r) && r >= n, "at least 1 fen per remaining share");
  if (n === 1) return r;
  const doubleMean = Math.floor((2 * r) / n);
  const max = Math.max(1, Math.min(doubleMean, r - (n - 1)));
  const amount = randomInt(1, max);
  assert(Number.isSafeInteger(amount) && amount >= 1 && amount <= max, "the draw is inside its range");
  return amount;
}

/** The share of the claim with 0-based `index` in an equal split. */
export function equalShare(shape: PacketShape, index: number): number {
  assert(Number.isSafeInteger(index) && index >= 0 && index < shape.shares, "the claim index is a share");
  const base = Math.floor(shape.totalMinor / shape.shares);
  const extra = shape.totalMinor % shape.shares;
  return base + (index < extra ? 1 : 0);
}

/** The amount of the next claim: `index` claims were made before it. */
export function nextShare(
  split: SplitMode,
  shape: PacketShape,
  remaining: Remaining,
  randomInt: RandomInt = cryptoRandomInt,
): number {
  const index = shape.shares - remaining.remainingShares;
  const amount = split === "lucky" ? drawLucky(remaining, randomInt) : equalShare(shape, index);
  assert(amount <= remaining.remainingMinor - (remaining.remainingShares - 1), "later shares keep 1 fen each");
  return amount;
}

/**
 * Flow control: how many claims a packet admits at once. Roughly one and a half times the
 * shares left, so a storm of 50,000 for 1,000 shares queues ~1,500 and answers the rest
 * `packet_busy` at once instead of making them wait for a share that is already gone.
 */
export function inFlightClaimsMax(remainingShares: number): number {
  return Math.max(1, Math.ceil(remainingShares * 1.5));
}

/** A subsidy as the sender's packet would spend it. */
export interface SubsidyFacts {
  readonly id: string;
  readonly campaign_id: string;
  readonly user_id: string;
  readonly amount_minor: number;
  readonly status: string;
}

export type PacketFunding =
  | { readonly kind: "wallet"; readonly totalMinor: number }
  | { readonly kind: "subsidy"; readonly totalMinor: number; readonly subsidyId: string; readonly campaignId: string };

/**
 * Packet admission: what pays for the packet and whether it may be sent. A subsidy pays its
 * whole amount and only its owner may spend it, once; otherwise the wallet pays `totalMinor`.
 * Then the packet's shape must be valid (every share at least one fen, within the limits).
 */
export function admitPacket(
  senderId: string,
  ask: { readonly subsidy: SubsidyFacts | null | "wallet"; readonly totalMinor: number | null },
  shares: number,
): Result<PacketFunding> {
  let funding: PacketFunding;
  if (ask.subsidy === "wallet") {
    if (ask.totalMinor === null) return fail("amount_out_of_range");
    funding = { kind: "wallet", totalMinor: ask.totalMinor };
  } else {
    if (ask.subsidy === null || ask.subsidy.user_id !== senderId) return fail("subsidy_not_found");
    if (ask.subsidy.status !== "issued") return fail("subsidy_used");
    funding = {
      kind: "subsidy",
      totalMinor: ask.subsidy.amount_minor,
      subsidyId: ask.subsidy.id,
      campaignId: ask.subsidy.campaign_id,
    };
  }
  const valid = validatePacket({ totalMinor: funding.totalMinor, shares });
  if (!valid.ok) return valid;
  return ok(funding);
}
