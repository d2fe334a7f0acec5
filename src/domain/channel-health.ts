/**
 * Channel health and failover, decided from the last minutes of outbound calls.
 *
 * A channel trips when a call fails and, within the `windowMs` before it, at least
 * `failuresToTrip` calls failed and they are at least half of the calls. A tripped channel is
 * skipped by new orders (they go to the method's next channel), except one order every
 * `probeIntervalMs` that still tries it first (a probe; if it fails the order falls through
 * to the backup in the same request, so the payer only waits). A failed probe keeps it
 * tripped; the first success of any call makes it healthy again. Calls older than
 * `lookbackMs` are forgotten, so a channel nobody has called for that long starts healthy.
 *
 * With three timeouts of a few seconds each, orders move to the backup well within 10 s of
 * an outage, and come back within `probeIntervalMs` of the channel recovering; a long outage
 * costs one probe every `probeIntervalMs`, not three failed orders every window.
 */

export const HEALTH_RULES = {
  windowMs: 10_000,
  failuresToTrip: 3,
  probeIntervalMs: 5_000,
  /** How far back calls are read: a tripped channel stays tripped through failed probes this long. */
  lookbackMs: 120_000,
  /** Calls read back per channel (newest first). */
  samplesMax: 50,
} as const;

export interface CallSample {
  readonly ok: boolean;
  readonly atMs: number;
}

export type Health = "healthy" | "unhealthy" | "probe";

/** `samples` in any order; only those within the lookback count. */
export function channelHealth(samples: readonly CallSample[], nowMs: number, rules = HEALTH_RULES): Health {
  const recent = samples
    .filter((s) => s.atMs > nowMs - rules.lookbackMs && s.atMs <= nowMs)
    // Oldest first; at the same instant a failure counts after a success (the pessimistic order).
    .sort((x, y) => x.atMs - y.atMs || Number(!x.ok) - Number(!y.ok));
  let tripped = false;
  for (let i = 0; i < recent.length; i++) {
    const call = recent[i] as CallSample;
    if (call.ok) {
      tripped = false;
      continue;
    }
    if (tripped) continue;
    let calls = 0;
    let failures = 0;
    for (let j = i; j >= 0; j--) {
      const earlier = recent[j] as CallSample;
      if (earlier.atMs <= call.atMs - rules.windowMs) break;
      calls += 1;
      if (!earlier.ok) failures += 1;
    }
    tripped = failures >= rules.failuresToTrip && failures * 2 >= calls;
  }
  if (!tripped) return "healthy";
  const newest = recent.at(-1) as CallSample;
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
