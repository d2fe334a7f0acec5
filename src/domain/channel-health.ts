/**
 * Channel health and failover, decided from the last seconds of outbound calls.
 *
 * A channel is unhealthy when, within the last `windowMs`, at least `failuresToTrip` calls
 * failed, they are at least half of the calls, and the newest call failed too. New orders
 * then go to the method's next channel. While unhealthy, one order every `probeIntervalMs`
 * still tries the channel first (a probe; if it fails the order falls through to the backup
 * in the same request, so the payer only waits); the first success makes it healthy again.
 * Failures age out of the window on their own, so a channel nobody calls is retried after
 * `windowMs` at the latest.
 *
 * With three timeouts of a few seconds each, orders move to the backup well within 10 s of
 * an outage, and come back within `probeIntervalMs` of the channel recovering.
 */

export const HEALTH_RULES = {
  windowMs: 10_000,
  failuresToTrip: 3,
  probeIntervalMs: 5_000,
  /** Calls read back per channel; more than the window can usefully hold. */
  samplesMax: 50,
} as const;

export interface CallSample {
  readonly ok: boolean;
  readonly atMs: number;
}

export type Health = "healthy" | "unhealthy" | "probe";

/** `samples` in any order; only those within the window count. */
export function channelHealth(samples: readonly CallSample[], nowMs: number, rules = HEALTH_RULES): Health {
  const recent = samples.filter((s) => s.atMs > nowMs - rules.windowMs && s.atMs <= nowMs);
  if (recent.length === 0) return "healthy";
  let newest = recent[0] as CallSample;
  let failures = 0;
  for (const s of recent) {
    if (!s.ok) failures += 1;
    if (s.atMs > newest.atMs || (s.atMs === newest.atMs && !s.ok)) newest = s;
  }
  const tripped = !newest.ok && failures >= rules.failuresToTrip && failures * 2 >= recent.length;
  if (!tripped) return "healthy";
  return nowMs - newest.atMs >= rules.probeIntervalMs ? "probe" : "unhealthy";
}

/**
 * The order in which to try a method's channels: healthy ones and due probes in the
 * method's order of preference, then unhealthy ones as a last resort (an outage of every
 * channel still tries them rather than refusing the payer outright).
 */
export function channelsToTry<C extends string>(preference: readonly C[], healthOf: (c: C) => Health): C[] {
  const usable = preference.filter((c) => healthOf(c) !== "unhealthy");
  const lastResort = preference.filter((c) => healthOf(c) === "unhealthy");
  return [...usable, ...lastResort];
}

/**
 * Tiered retry delays for outbound calls (queries, refunds): the first retry after 5–10 s,
 * then 30 s, 2 min, 10 min, and every 30 min after that. `random` is in [0, 1).
 */
export function retryDelayMs(attempt: number, random: number): number {
  if (attempt <= 1) return 5_000 + Math.floor(random * 5_000);
  const tiers = [30_000, 120_000, 600_000];
  return tiers[attempt - 2] ?? 1_800_000;
}
