/**
 * Retry delays, one named curve per kind of retry, so a schedule is read and changed in one
 * place and two callers that mean the same ladder cannot drift apart.
 *
 * A curve is a list of steps: after the n-th failed attempt the next one waits step n. A step
 * is a fixed delay or a range `[minMs, maxMs)` drawn with the caller's randomness, so that
 * many failures at the same instant (a channel outage) do not all come back at the same
 * instant. After the last step a curve either keeps waiting that long (`repeat`) or stops
 * (`give_up`, and the caller records that it gave up).
 */
import { assert } from "./limits";

/** A fixed delay, or a jittered one drawn uniformly from [minMs, maxMs). */
type RetryStep = number | readonly [minMs: number, maxMs: number];

interface RetryCurve {
  readonly stepsMs: readonly RetryStep[];
  readonly afterLast: "repeat" | "give_up";
}

export const RETRY_CURVES = {
  /**
   * Outbound calls to a payment channel that failed as `unavailable`: payment queries and
   * refunds. The first retry after 5–10 s (a blip), then 30 s, 2 min, 10 min, and every
   * 30 min for as long as the order or refund waits.
   */
  channelCall: { stepsMs: [[5_000, 10_000], 30_000, 120_000, 600_000, 1_800_000], afterLast: "repeat" },
  /**
   * A payment-callbacks queue message whose handling threw (D1 busy, a bug): 60 s, 120 s, …
   * up to 5 min; the queue's own attempt limit then sends it to the dead-letter queue.
   */
  paymentCallback: { stepsMs: [60_000, 120_000, 180_000, 240_000, 300_000], afterLast: "repeat" },
  /**
   * The queues between D1 and the rooms (room events delivered to a room, red-packet claim
   * credits posted from one): 5 s doubling up to 5 min, then the queue's dead-letter queue.
   */
  roomQueue: { stepsMs: [5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000], afterLast: "repeat" },
  /**
   * The sandbox provider's resends of an unacknowledged callback: a real provider's schedule
   * (WeChat Pay: 15 s, 15 s, 30 s, 3 m, 10 m, 20 m, 30 m … over 24 h) compressed so a demo or
   * a test sees the whole story in minutes; after the last step it gives up.
   */
  sandboxCallback: { stepsMs: [2_000, 5_000, 15_000, 30_000, 60_000, 300_000, 600_000], afterLast: "give_up" },
} as const satisfies Record<string, RetryCurve>;

export type RetryCurveName = keyof typeof RETRY_CURVES;

/** The curves that never give up, whose delay is always a number. */
type EndlessCurveName = {
  [C in RetryCurveName]: (typeof RETRY_CURVES)[C]["afterLast"] extends "repeat" ? C : never;
}[RetryCurveName];

/**
 * How long to wait after the `attempt`-th failed attempt (1 for the first failure) before
 * the next, in milliseconds; null when the curve gives up. `random` is in [0, 1) and is
 * taken even by curves without jitter, so that adding jitter to a curve changes no caller.
 */
export function retryDelayMs(curve: EndlessCurveName, attempt: number, random: number): number;
export function retryDelayMs(curve: RetryCurveName, attempt: number, random: number): number | null;
export function retryDelayMs(curve: RetryCurveName, attempt: number, random: number): number | null {
  assert(Number.isSafeInteger(attempt) && attempt >= 1, "attempts count from 1");
  assert(random >= 0 && random < 1, "random is in [0, 1)");
  const { stepsMs, afterLast }: RetryCurve = RETRY_CURVES[curve];
  const step = stepsMs[attempt - 1] ?? (afterLast === "repeat" ? stepsMs.at(-1) : undefined);
  if (step === undefined) return null;
  if (typeof step === "number") return step;
  const [minMs, maxMs] = step;
  return minMs + Math.floor(random * (maxMs - minMs));
}
