import { createHash, createHmac } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  commitmentOf,
  type FairnessProof,
  type FairPacket,
  luckiestIndexOf,
  newPacketSeed,
  recomputeShares,
  seedBytes,
  seededRandomInt,
  verifyFairness,
} from "../../../src/domain/fair-packet";
import { LIMITS } from "../../../src/domain/limits";
import { drawLucky, equalShare, type RandomInt } from "../../../src/domain/red-packet";
import { toHex } from "../../../src/domain/sha256";

const nodeHashes = {
  sha256: (m: Uint8Array) => new Uint8Array(createHash("sha256").update(m).digest()),
  hmac: (k: Uint8Array, m: Uint8Array) => new Uint8Array(createHmac("sha256", k).update(m).digest()),
};

/** The fixed seeds of the statistical tests: SHA-256 of "fixed-seed-<n>", never random. */
const fixedSeed = (n: number) => new Uint8Array(createHash("sha256").update(`fixed-seed-${n}`).digest());

/** The element at `i`, which the test knows is there. */
function at<T>(xs: readonly T[], i: number): T {
  const x = xs[i];
  if (x === undefined) throw new Error(`no element ${i}`);
  return x;
}

const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 });
const packetArb = fc.integer({ min: 1, max: 300 }).chain((shares) =>
  fc.record({
    id: fc.constantFrom("packet_01JABCDEFGHJKMNPQRSTVWXYZ0", "packet_x", "packet_红包"),
    shares: fc.constant(shares),
    totalMinor: fc.integer({ min: shares, max: Math.min(LIMITS.packetTotalMaxMinor, shares * 20_000) }),
    split: fc.constantFrom("lucky" as const, "equal" as const),
  }),
);

function proofOf(packet: FairPacket, seed: Uint8Array): FairnessProof {
  const seedHex = toHex(seed);
  const shares = recomputeShares(packet, seed, packet.shares);
  return {
    packet,
    commitment: commitmentOf(seedHex),
    seed: seedHex,
    claims: shares.map((amountMinor, index) => ({ index, amountMinor })),
    luckiestIndex: luckiestIndexOf(shares),
  };
}

describe("the seeded share generator", () => {
  it("cuts every packet into shares of at least 1 fen that sum exactly to the total", () => {
    fc.assert(
      fc.property(packetArb, seedArb, (packet, seed) => {
        const shares = recomputeShares(packet, seed, packet.shares);
        expect(shares).toHaveLength(packet.shares);
        expect(shares.reduce((a, b) => a + b, 0)).toBe(packet.totalMinor);
        for (const s of shares) expect(s).toBeGreaterThanOrEqual(1);
      }),
      { numRuns: 300 },
    );
  });

  it("keeps equal packets equal: the seed changes nothing", () => {
    fc.assert(
      fc.property(packetArb, seedArb, (packet, seed) => {
        const equal = { ...packet, split: "equal" as const };
        expect(recomputeShares(equal, seed, packet.shares)).toEqual(
          Array.from({ length: packet.shares }, (_, i) => equalShare(equal, i)),
        );
      }),
    );
  });

  it("never takes more than the double mean or leaves a later share without its fen", () => {
    fc.assert(
      fc.property(packetArb, seedArb, (packet, seed) => {
        const lucky = { ...packet, split: "lucky" as const };
        let remaining = lucky.totalMinor;
        recomputeShares(lucky, seed, lucky.shares).forEach((share, i) => {
          const left = lucky.shares - i;
          if (left > 1) expect(share).toBeLessThanOrEqual(Math.max(1, Math.floor((2 * remaining) / left)));
          expect(remaining - share).toBeGreaterThanOrEqual(left - 1);
          remaining -= share;
        });
      }),
    );
  });

  it("is a function of the seed, the packet and the index: the same inputs give the same shares", () => {
    fc.assert(
      fc.property(packetArb, seedArb, (packet, seed) => {
        expect(recomputeShares(packet, seed, packet.shares)).toEqual(recomputeShares(packet, seed, packet.shares));
        expect(recomputeShares(packet, seed, packet.shares, nodeHashes.hmac)).toEqual(
          recomputeShares(packet, seed, packet.shares),
        );
      }),
      { numRuns: 50 },
    );
  });

  it("pins the scheme: a known seed gives these shares forever (the verify script and page depend on it)", () => {
    const packet: FairPacket = { id: "packet_fixture", totalMinor: 10_000, shares: 5, split: "lucky" };
    const seed = seedBytes(`${"00".repeat(31)}01`);
    expect(commitmentOf(toHex(seed))).toBe("ec4916dd28fc4c10d78e287ca5d9cc51ee1ae73cbfde08c6b37324cbfaac8bc5");
    expect(recomputeShares(packet, seed, 5)).toMatchInlineSnapshot(`
      [
        61,
        2305,
        187,
        6824,
        623,
      ]
    `);
  });

  it("rejects the biased tail: a range that does not divide 2^32 still draws every value", () => {
    const draw = seededRandomInt(fixedSeed(1), "packet_x", 0);
    const seen = new Set<number>();
    for (let i = 0; i < 3_000; i++) seen.add(draw(1, 3));
    expect([...seen].sort()).toEqual([1, 2, 3]);
  });

  it("draws fresh seeds of 32 bytes whose commitment is their SHA-256", () => {
    const seed = newPacketSeed();
    expect(seed).toMatch(/^[0-9a-f]{64}$/);
    expect(newPacketSeed()).not.toBe(seed);
    expect(commitmentOf(seed)).toBe(createHash("sha256").update(Buffer.from(seed, "hex")).digest("hex"));
  });
});

/**
 * Today's shares, drawn by `drawLucky` from an independent uniform source (splitmix32 seeded
 * with a fixed number, rejection-sampled): the reference distribution the seeded generator must
 * match. Everything here is fixed, so the statistics are the same numbers on every run.
 */
function referenceRandom(seed: number): RandomInt {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  return (min, max) => {
    const span = max - min + 1;
    const limit = Math.floor(2 ** 32 / span) * span;
    for (;;) {
      const v = next();
      if (v < limit) return min + (v % span);
    }
  };
}

function referenceShares(totalMinor: number, shares: number, random: RandomInt): number[] {
  const out: number[] = [];
  let remainingMinor = totalMinor;
  for (let n = shares; n > 0; n--) {
    const share = drawLucky({ remainingMinor, remainingShares: n }, random);
    out.push(share);
    remainingMinor -= share;
  }
  return out;
}

/** Two-sample chi-square over equal-width bins of [lo, hi]; equal sample sizes. */
function chiSquareTwoSample(a: readonly number[], b: readonly number[], lo: number, hi: number, bins: number): number {
  const width = (hi - lo + 1) / bins;
  const ha = new Array<number>(bins).fill(0);
  const hb = new Array<number>(bins).fill(0);
  const binOf = (x: number) => Math.min(bins - 1, Math.floor((x - lo) / width));
  for (const x of a) ha[binOf(x)] = at(ha, binOf(x)) + 1;
  for (const x of b) hb[binOf(x)] = at(hb, binOf(x)) + 1;
  let chi = 0;
  for (let i = 0; i < bins; i++) {
    const s = at(ha, i) + at(hb, i);
    if (s > 0) chi += (at(ha, i) - at(hb, i)) ** 2 / s;
  }
  return chi;
}

/** Two-sample Kolmogorov–Smirnov statistic D. */
function ksTwoSample(a: readonly number[], b: readonly number[]): number {
  const sa = [...a].sort((x, y) => x - y);
  const sb = [...b].sort((x, y) => x - y);
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < sa.length && j < sb.length) {
    const x = Math.min(at(sa, i), at(sb, j));
    while (i < sa.length && at(sa, i) <= x) i++;
    while (j < sb.length && at(sb, j) <= x) j++;
    d = Math.max(d, Math.abs(i / sa.length - j / sb.length));
  }
  return d;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const variance = (xs: readonly number[]) => {
  const m = mean(xs);
  return xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1);
};

describe("the same distribution as today (fixed seed budget: 4,000 packets each)", () => {
  const PACKETS = 4_000;
  const TOTAL = 10_000;
  const SHARES = 10;
  const packet: FairPacket = { id: "packet_stats", totalMinor: TOTAL, shares: SHARES, split: "lucky" };
  const fair = Array.from({ length: PACKETS }, (_, n) => recomputeShares(packet, fixedSeed(n), SHARES));
  const today = Array.from({ length: PACKETS }, (_, n) => referenceShares(TOTAL, SHARES, referenceRandom(n + 1)));
  const column = (rows: number[][], i: number) => rows.map((r) => at(r, i));
  // Critical values at p = 0.001: chi-square with 19 degrees of freedom; two-sample KS with
  // n = m = 4,000 (1.949 × √(2/4000)).
  const CHI2_19_P001 = 43.82;
  const KS_P001 = 1.949 * Math.sqrt(2 / PACKETS);

  it.each([0, 1, 4, 8, 9])("share %i: histograms agree (chi-square, 20 bins) and KS agrees", (i) => {
    const a = column(fair, i);
    const b = column(today, i);
    const hi = Math.max(...a, ...b);
    expect(chiSquareTwoSample(a, b, 1, hi, 20)).toBeLessThan(CHI2_19_P001);
    expect(ksTwoSample(a, b)).toBeLessThan(KS_P001);
  });

  it("the first share is uniform on [1, 2 × mean] (one-sample chi-square)", () => {
    const first = column(fair, 0);
    const expected = PACKETS / 20;
    const bins = new Array<number>(20).fill(0);
    for (const x of first) bins[Math.floor((x - 1) / 100)] = at(bins, Math.floor((x - 1) / 100)) + 1;
    expect(Math.min(...first)).toBe(1);
    expect(Math.max(...first)).toBeLessThanOrEqual(2_000);
    expect(bins.reduce((chi, o) => chi + (o - expected) ** 2 / expected, 0)).toBeLessThan(CHI2_19_P001);
  });

  it("every position averages the mean (double-mean rule) and has today's variance within 10%", () => {
    for (let i = 0; i < SHARES; i++) {
      const a = column(fair, i);
      const b = column(today, i);
      // Standard error of a mean of 4,000 shares with sd ≲ 1,000: ≈ 16 fen; 4 SE bound.
      expect(Math.abs(mean(a) - TOTAL / SHARES), `mean of share ${i}`).toBeLessThan(70);
      expect(Math.abs(variance(a) / variance(b) - 1), `variance of share ${i}`).toBeLessThan(0.1);
    }
  });

  it("the luckiest share is distributed as today's (KS)", () => {
    const a = fair.map((r) => Math.max(...r));
    const b = today.map((r) => Math.max(...r));
    expect(ksTwoSample(a, b)).toBeLessThan(KS_P001);
  });
});

describe("verifyFairness", () => {
  it("accepts an honest packet, recomputed with node:crypto's hashes as well as our own", () => {
    fc.assert(
      fc.property(packetArb, seedArb, (packet, seed) => {
        const proof = proofOf(packet, seed);
        const verdict = verifyFairness(proof);
        expect(verdict.ok).toBe(true);
        expect(verdict.shares).toHaveLength(packet.shares);
        expect(verifyFairness(proof, nodeHashes).ok).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it("accepts an expired packet's first claims only, in any published order", () => {
    const packet: FairPacket = { id: "packet_e", totalMinor: 5_000, shares: 20, split: "lucky" };
    const proof = proofOf(packet, fixedSeed(7));
    const claims = proof.claims.slice(0, 6).reverse();
    const amounts = proof.claims.slice(0, 6).map((c) => c.amountMinor);
    expect(verifyFairness({ ...proof, claims, luckiestIndex: luckiestIndexOf(amounts) }).ok).toBe(true);
  });

  it("detects any share changed, and names it", () => {
    fc.assert(
      fc.property(
        packetArb.filter((p) => p.shares >= 2),
        seedArb,
        fc.nat(),
        fc.integer({ min: 1, max: 500 }),
        (packet, seed, pick, delta) => {
          const proof = proofOf(packet, seed);
          const index = pick % packet.shares;
          const claims = proof.claims.map((c) =>
            c.index === index ? { ...c, amountMinor: c.amountMinor + delta } : c,
          );
          const verdict = verifyFairness({ ...proof, claims });
          expect(verdict.ok).toBe(false);
          expect(verdict.shares.filter((s) => !s.ok).map((s) => s.index)).toEqual([index]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("detects a seed changed in any bit, with or without a matching new commitment", () => {
    fc.assert(
      fc.property(
        packetArb.filter((p) => p.split === "lucky" && p.shares >= 2 && p.totalMinor >= 4 * p.shares),
        seedArb,
        fc.integer({ min: 0, max: 255 }),
        (packet, seed, bit) => {
          const proof = proofOf(packet, seed);
          const other = seed.slice();
          other[bit >> 3] = (other[bit >> 3] as number) ^ (1 << (bit & 7));
          const verdict = verifyFairness({ ...proof, seed: toHex(other) });
          expect(verdict.ok).toBe(false);
          expect(verdict.commitmentOk).toBe(false);
          // A new seed with its own commitment (a commitment swapped after the fact) still
          // fails unless its shares happen to match the published ones.
          const swapped = verifyFairness({ ...proof, seed: toHex(other), commitment: commitmentOf(toHex(other)) });
          expect(swapped.commitmentOk).toBe(true);
          const same = recomputeShares(packet, other, packet.shares).every(
            (s, i) => s === proof.claims[i]?.amountMinor,
          );
          expect(swapped.ok).toBe(same);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("detects a wrong luckiest claim, a missing claim, a duplicate and an index past the shares", () => {
    const packet: FairPacket = { id: "packet_t", totalMinor: 10_000, shares: 8, split: "lucky" };
    const proof = proofOf(packet, fixedSeed(3));
    const wrongLuckiest = ((proof.luckiestIndex ?? 0) + 1) % 8;
    expect(verifyFairness({ ...proof, luckiestIndex: wrongLuckiest }).luckiestOk).toBe(false);
    const missing = verifyFairness({ ...proof, claims: proof.claims.filter((c) => c.index !== 2) });
    expect(missing.ok).toBe(false);
    expect(missing.shares[2]).toMatchObject({ claimedMinor: null, ok: false });
    const duplicate = verifyFairness({ ...proof, claims: [...proof.claims, at(proof.claims, 0)] });
    expect(duplicate.strayClaims).toHaveLength(1);
    expect(duplicate.ok).toBe(false);
    expect(verifyFairness({ ...proof, claims: [...proof.claims, { index: 8, amountMinor: 1 }] }).ok).toBe(false);
    expect(verifyFairness({ ...proof, seed: "not hex" }).ok).toBe(false);
  });

  it("detects two claims swapped", () => {
    const packet: FairPacket = { id: "packet_s", totalMinor: 10_000, shares: 8, split: "lucky" };
    const proof = proofOf(packet, fixedSeed(4));
    const [a, b] = [at(proof.claims, 0), at(proof.claims, 1)];
    expect(a.amountMinor).not.toBe(b.amountMinor);
    const claims = [
      { index: 0, amountMinor: b.amountMinor },
      { index: 1, amountMinor: a.amountMinor },
      ...proof.claims.slice(2),
    ];
    expect(verifyFairness({ ...proof, claims }).ok).toBe(false);
  });
});
