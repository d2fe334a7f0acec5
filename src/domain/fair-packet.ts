/**
 * Provably fair red packets (docs/adr/0008). At send a packet gets a secret 32-byte seed and
 * publishes its commitment, SHA-256(seed). Every share is then a pure function of the seed,
 * the packet id, the claim's 0-based index and what is left:
 *
 *   share(i) = nextShare(split, shape, remaining(i), randomInt_i)
 *   randomInt_i draws from the 32-bit words of HMAC-SHA-256(seed, "giftwire-red-packet-v1|<packetId>|<i>|<block>")
 *   for block = 0, 1, …, 8 words a block, by rejection sampling (no modulo bias).
 *
 * So the shares are today's double-mean shares (`drawLucky`, `equalShare` unchanged), drawn
 * from a uniform integer source that happens to be deterministic. When the packet is finished
 * (exhausted or expired) the seed is revealed, and anyone holding the public claim list
 * recomputes every share and the luckiest claim, and checks SHA-256(seed) = commitment.
 *
 * The HMAC is a parameter: the room uses the synchronous one in ./sha256.ts, the verify script
 * node:crypto, the viewer page WebCrypto; three implementations that must agree.
 */

import { assert } from "./limits";
import { nextShare, type PacketShape, type RandomInt, type SplitMode } from "./red-packet";
import { fromHex, hmacSha256, sha256, toHex } from "./sha256";

export const FAIRNESS_SCHEME = "giftwire-red-packet-v1";
export const SEED_BYTES = 32;
/** A seed or a commitment: 32 bytes in lower-case hex. */
export const HEX_32_PATTERN = /^[0-9a-f]{64}$/;

export type Hmac = (key: Uint8Array, message: Uint8Array) => Uint8Array;
export type Digest = (message: Uint8Array) => Uint8Array;

/** The two hash functions the scheme uses; the default is this module's own (./sha256.ts). */
export interface Hashes {
  readonly sha256: Digest;
  readonly hmac: Hmac;
}
export const PURE_HASHES: Hashes = { sha256, hmac: hmacSha256 };

/** A fresh secret seed from the platform's CSPRNG, as hex. */
export function newPacketSeed(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(SEED_BYTES)));
}

/** The commitment published at send: SHA-256 of the seed's 32 bytes, as hex. */
export function commitmentOf(seedHex: string, digest: Digest = sha256): string {
  return toHex(digest(seedBytes(seedHex)));
}

export function seedBytes(seedHex: string): Uint8Array {
  const bytes = HEX_32_PATTERN.test(seedHex) ? fromHex(seedHex) : null;
  assert(bytes !== null && bytes.length === SEED_BYTES, "a seed is 32 bytes of lower-case hex");
  return bytes;
}

/** The HMAC message of claim `index`'s `block`-th block of random words. */
export function drawMessage(packetId: string, index: number, block: number): Uint8Array {
  return UTF8.encode(`${FAIRNESS_SCHEME}|${packetId}|${index}|${block}`);
}

const UTF8 = new TextEncoder();

/**
 * The uniform integer source of claim `index`: successive 32-bit big-endian words of the HMAC
 * blocks, each rejected when it falls in the biased tail (as `cryptoRandomInt` does with the
 * CSPRNG). Deterministic: the same seed, packet and index give the same draws.
 */
export function seededRandomInt(seed: Uint8Array, packetId: string, index: number, hmac: Hmac = hmacSha256): RandomInt {
  let block = 0;
  let words: DataView | null = null;
  let word = 8;
  const nextWord = (): number => {
    if (words === null || word === 8) {
      const digest = hmac(seed, drawMessage(packetId, index, block));
      block += 1;
      words = new DataView(digest.buffer, digest.byteOffset, digest.byteLength);
      word = 0;
    }
    const value = words.getUint32(word * 4);
    word += 1;
    return value;
  };
  return (min, max) => {
    assert(Number.isSafeInteger(min) && Number.isSafeInteger(max) && min <= max, "a valid integer range");
    const span = max - min + 1;
    assert(span <= 2 ** 32, "range fits 32 bits");
    if (span === 1) return min;
    const limit = Math.floor(2 ** 32 / span) * span;
    for (;;) {
      const value = nextWord();
      if (value < limit) return min + (value % span);
    }
  };
}

export interface FairPacket extends PacketShape {
  readonly id: string;
  readonly split: SplitMode;
}

/** The share of claim `index` given what is left before it. */
export function fairShare(
  packet: FairPacket,
  seed: Uint8Array,
  remaining: { readonly remainingMinor: number; readonly remainingShares: number },
  hmac: Hmac = hmacSha256,
): number {
  const index = packet.shares - remaining.remainingShares;
  return nextShare(packet.split, packet, remaining, seededRandomInt(seed, packet.id, index, hmac));
}

/** The first `count` shares of a packet, in claim order. */
export function recomputeShares(
  packet: FairPacket,
  seed: Uint8Array,
  count: number,
  hmac: Hmac = hmacSha256,
): number[] {
  assert(Number.isSafeInteger(count) && count >= 0 && count <= packet.shares, "count is at most the shares");
  const shares: number[] = [];
  let remainingMinor = packet.totalMinor;
  for (let i = 0; i < count; i++) {
    const amount = fairShare(packet, seed, { remainingMinor, remainingShares: packet.shares - i }, hmac);
    shares.push(amount);
    remainingMinor -= amount;
  }
  return shares;
}

/** 手气最佳: the index of the largest share, the earliest on a tie (the room's rule); null with none. */
export function luckiestIndexOf(amounts: readonly number[]): number | null {
  let best: number | null = null;
  amounts.forEach((amount, i) => {
    if (best === null || amount > (amounts[best] as number)) best = i;
  });
  return best;
}

export interface PublicClaim {
  readonly index: number;
  readonly amountMinor: number;
}

export interface FairnessProof {
  readonly packet: FairPacket;
  readonly commitment: string;
  readonly seed: string;
  /** The claims as published, in any order. */
  readonly claims: readonly PublicClaim[];
  /** The luckiest index the platform published. */
  readonly luckiestIndex: number | null;
}

export interface ShareCheck {
  readonly index: number;
  readonly claimedMinor: number | null;
  readonly expectedMinor: number;
  readonly ok: boolean;
}

export interface FairnessVerdict {
  readonly ok: boolean;
  readonly commitmentOk: boolean;
  /** One row per claim index 0…n-1, n the number of claims published. */
  readonly shares: readonly ShareCheck[];
  /** Claims whose index is not a share of the packet or is published twice. */
  readonly strayClaims: readonly PublicClaim[];
  readonly expectedLuckiestIndex: number | null;
  readonly luckiestOk: boolean;
}

/** Checks a finished packet against its revealed seed: what the verify script and page show. */
export function verifyFairness(proof: FairnessProof, hashes: Hashes = PURE_HASHES): FairnessVerdict {
  const seed = HEX_32_PATTERN.test(proof.seed) ? fromHex(proof.seed) : null;
  const commitmentOk =
    seed !== null &&
    HEX_32_PATTERN.test(proof.commitment) &&
    commitmentOf(proof.seed, hashes.sha256) === proof.commitment;
  const byIndex = new Map<number, number>();
  const strayClaims: PublicClaim[] = [];
  for (const claim of proof.claims) {
    const valid = Number.isSafeInteger(claim.index) && claim.index >= 0 && claim.index < proof.packet.shares;
    if (!valid || byIndex.has(claim.index)) strayClaims.push(claim);
    else byIndex.set(claim.index, claim.amountMinor);
  }
  const count = byIndex.size === 0 ? 0 : Math.max(...byIndex.keys()) + 1;
  const expected = seed === null ? [] : recomputeShares(proof.packet, seed, count, hashes.hmac);
  const shares: ShareCheck[] = [];
  for (let i = 0; i < count; i++) {
    const claimedMinor = byIndex.get(i) ?? null;
    const expectedMinor = expected[i] ?? 0;
    shares.push({ index: i, claimedMinor, expectedMinor, ok: seed !== null && claimedMinor === expectedMinor });
  }
  const expectedLuckiestIndex = luckiestIndexOf(expected);
  const luckiestOk = expectedLuckiestIndex === proof.luckiestIndex;
  const ok = commitmentOk && strayClaims.length === 0 && shares.every((s) => s.ok) && luckiestOk;
  return { ok, commitmentOk, shares, strayClaims, expectedLuckiestIndex, luckiestOk };
}
