/**
 * Sliding-window counters for velocity rules, as a plain data structure (a risk desk holds one
 * in memory). Per key, a ring of the newest admitted timestamps, at most `capPerKey` of them:
 * the largest `count` any rule asks about, since "are there `count` in the window" needs no
 * more than the newest `count`. Keys idle longer than the longest window are dropped, and at
 * most `keysMax` keys are held (the stalest goes first), so memory is bounded by
 * keysMax × capPerKey timestamps (a desk: 5 actions × 1000 × 8 bytes = 40 KB at most).
 *
 * `admit` is test-and-record: the attempt is recorded only when every limit still has room, so
 * in any interval of `windowMs` at most `count` attempts are admitted, and an attempt is refused
 * only when exactly `count` were (a property test holds both). Pure: times are passed in.
 */

import { assert } from "../limits";

export interface WindowLimit {
  readonly count: number;
  readonly windowMs: number;
}

export interface WindowsSnapshot {
  readonly keys: readonly (readonly [string, readonly number[]])[];
}

export class SlidingWindows {
  private readonly rings = new Map<string, number[]>();

  constructor(
    private capPerKey: number,
    private horizonMs: number,
    private readonly keysMax: number,
  ) {
    assert(capPerKey >= 1 && keysMax >= 1 && horizonMs >= 1, "windows have room");
  }

  /** Rules changed: the ring and idle horizon follow the largest count and longest window now asked about. */
  resize(capPerKey: number, horizonMs: number): void {
    this.capPerKey = Math.max(1, capPerKey);
    this.horizonMs = Math.max(1, horizonMs);
    for (const ring of this.rings.values())
      if (ring.length > this.capPerKey) ring.splice(0, ring.length - this.capPerKey);
  }

  get size(): number {
    return this.rings.size;
  }

  /** Timestamps of `key` in (nowMs − windowMs, nowMs], counted up to the ring's capacity. */
  count(key: string, windowMs: number, nowMs: number): number {
    const ring = this.rings.get(key);
    if (ring === undefined) return 0;
    let n = 0;
    for (let i = ring.length - 1; i >= 0; i--) {
      if ((ring[i] ?? 0) <= nowMs - windowMs) break;
      n++;
    }
    return n;
  }

  record(key: string, nowMs: number): void {
    let ring = this.rings.get(key);
    if (ring === undefined) {
      this.evictIdle(nowMs);
      if (this.rings.size >= this.keysMax) this.evictStalest();
      ring = [];
      this.rings.set(key, ring);
    }
    // Never back in time: a clock step backwards counts the attempt at the newest time seen.
    ring.push(Math.max(nowMs, ring[ring.length - 1] ?? nowMs));
    if (ring.length > this.capPerKey) ring.splice(0, ring.length - this.capPerKey);
  }

  /** Counts per limit before this attempt; records it only when every limit has room. */
  admit(key: string, limits: readonly WindowLimit[], nowMs: number): { admitted: boolean; counts: number[] } {
    const counts = limits.map((l) => this.count(key, l.windowMs, nowMs));
    const admitted = limits.every((l, i) => (counts[i] ?? 0) < l.count);
    if (admitted) this.record(key, nowMs);
    return { admitted, counts };
  }

  /** Drops keys with nothing inside the longest window. */
  evictIdle(nowMs: number): void {
    for (const [key, ring] of this.rings) {
      if ((ring[ring.length - 1] ?? 0) <= nowMs - this.horizonMs) this.rings.delete(key);
    }
  }

  private evictStalest(): void {
    let stalest: string | null = null;
    let at = Number.POSITIVE_INFINITY;
    for (const [key, ring] of this.rings) {
      const last = ring[ring.length - 1] ?? 0;
      if (last < at) {
        at = last;
        stalest = key;
      }
    }
    if (stalest !== null) this.rings.delete(stalest);
  }

  snapshot(): WindowsSnapshot {
    return { keys: [...this.rings].map(([k, ring]) => [k, [...ring]] as const) };
  }

  restore(snapshot: WindowsSnapshot): void {
    this.rings.clear();
    for (const [key, ring] of snapshot.keys.slice(-this.keysMax)) {
      this.rings.set(key, [...ring].sort((a, b) => a - b).slice(-this.capPerKey));
    }
  }
}
