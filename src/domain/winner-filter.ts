/**
 * Who won an exhausted red packet, compactly: a Bloom filter over the winners' user ids.
 *
 * The room builds it once, when the last share is taken, and sends it to the Worker, which
 * then answers every later claimer the filter rules out with `packet_exhausted` without
 * calling the room. A Bloom filter has no false negatives, so a winner is never ruled out
 * (never told "exhausted"); a false positive only sends a loser on to the room, which answers
 * as before. Sorted 64-bit hashes of the winners would be exact up to collisions but cost
 * 64 bits a winner (80 KB for 10,000); 12 bits a winner with 8 hashes gives about 0.3% false
 * positives in 15,000 bytes, which a claim answer carries cheaply (a memcpy over RPC).
 * Neither carries a winner's claim: those the Worker answers from claims it heard itself.
 *
 * Hashing: two 32-bit FNV-1a variants over the id's UTF-16 code units, combined as
 * h1 + i·h2 (Kirsch–Mitzenmacher). Not secret: the filter tells nothing a claimer could not
 * learn from the public claim list.
 */
import { assert, LIMITS } from "./limits";

export const WINNER_FILTER_HASHES = 8;

/** The filter's size in bytes for this many winners (at least 8 bytes). */
export function winnerFilterBytes(winners: number): number {
  assert(Number.isSafeInteger(winners) && winners >= 0, "a winner count is a non-negative integer");
  return Math.max(8, Math.ceil((winners * LIMITS.packetWinnerFilterBitsPerWinner) / 8));
}

/** The most bytes a filter may have: one per packet of the most shares. */
export const WINNER_FILTER_MAX_BYTES = winnerFilterBytes(LIMITS.packetSharesMax);

function hashes(userId: string): [number, number] {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < userId.length; i++) {
    const c = userId.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  // h2 odd, so the probe positions cycle through the whole bit array.
  return [h1 >>> 0, (h2 | 1) >>> 0];
}

export function buildWinnerFilter(winnerIds: readonly string[]): Uint8Array {
  const bytes = winnerFilterBytes(winnerIds.length);
  assert(bytes <= WINNER_FILTER_MAX_BYTES, "no packet has more winners than shares");
  const bits = new Uint8Array(bytes);
  const m = bytes * 8;
  for (const id of winnerIds) {
    const [h1, h2] = hashes(id);
    for (let i = 0; i < WINNER_FILTER_HASHES; i++) {
      const bit = (h1 + Math.imul(i, h2)) >>> 0;
      const at = bit % m;
      bits[at >>> 3] = (bits[at >>> 3] as number) | (1 << (at & 7));
    }
  }
  return bits;
}

/** False means this user certainly did not win; true means they may have (ask the room). */
export function mayHaveWon(filter: Uint8Array, userId: string): boolean {
  const m = filter.length * 8;
  if (m === 0) return true;
  const [h1, h2] = hashes(userId);
  for (let i = 0; i < WINNER_FILTER_HASHES; i++) {
    const at = ((h1 + Math.imul(i, h2)) >>> 0) % m;
    if (((filter[at >>> 3] as number) & (1 << (at & 7))) === 0) return false;
  }
  return true;
}
