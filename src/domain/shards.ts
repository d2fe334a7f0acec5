/**
 * Where a ledger row lives: owner id → one of a fixed number of virtual buckets (a stable
 * hash) → a ledger shard, through a bucket map kept in the control database.
 *
 * The bucket count and the hash are fixed forever: every row ever written was placed by them,
 * so changing either would move every row at once. What may change is the map, one bucket at
 * a time: adding shards means moving buckets to them (docs/SCALING.md has the procedure), and
 * a bucket is small (1/1024 of the owners), so each move is short. Owners are users and
 * creators; a row belongs to the owner whose money it records (a wallet, a tip sent, a
 * creator's earnings).
 */

import { fail, ok, type Result } from "./errors";
import { bucketOfId } from "./ids";
import { assert, LIMITS } from "./limits";

/** Virtual buckets. A power of two, far above any shard count we plan for (docs/SCALING.md). */
export const LEDGER_BUCKETS = 1024;

/** Shards a deployment may have; each is one D1 database (the binding list is finite too). */
export const LEDGER_SHARDS_MAX = LIMITS.ledgerShardsMax;

/**
 * The bucket of an owner: FNV-1a (32-bit) over the id's UTF-8 bytes, then MurmurHash3's
 * 32-bit finalizer, modulo the bucket count. FNV alone spreads sequential ids (`user-1`,
 * `user-2`…) poorly over its low bits, which the modulo keeps; the finalizer mixes every bit
 * into them. Tiny, dependency-free and identical in every runtime; not a defence against
 * anyone choosing ids to crowd a bucket (ids come from the host's login, and a crowded
 * bucket costs balance between shards, never money).
 */
export function bucketOf(ownerId: string): number {
  assert(ownerId.length > 0, "an owner id");
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(ownerId)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b) >>> 0;
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35) >>> 0;
  hash ^= hash >>> 16;
  return (hash >>> 0) % LEDGER_BUCKETS;
}

/** Bucket → shard index, one entry per bucket. */
export type BucketMap = readonly number[];

/**
 * The first map of a deployment with `shards` shards: contiguous ranges of buckets, as even as
 * integer division allows (sizes differ by at most one), so that a later shard can take whole
 * ranges from its neighbours.
 */
export function evenBucketMap(shards: number): BucketMap {
  assert(Number.isInteger(shards) && shards >= 1 && shards <= LEDGER_SHARDS_MAX, "shard count within limits");
  return Array.from({ length: LEDGER_BUCKETS }, (_, bucket) => Math.floor((bucket * shards) / LEDGER_BUCKETS));
}

/** A map read from the control database, checked before it routes a single row. */
export function parseBucketMap(entries: readonly unknown[], shards: number): Result<BucketMap> {
  if (entries.length !== LEDGER_BUCKETS) return fail("internal_error", `a bucket map has ${LEDGER_BUCKETS} entries`);
  for (const shard of entries) {
    if (typeof shard !== "number" || !Number.isInteger(shard) || shard < 0 || shard >= shards) {
      return fail("internal_error", `every bucket maps to one of the ${shards} shards`);
    }
  }
  return ok(entries as BucketMap);
}

/** The shard that holds an owner's ledger rows under `map`. */
export function shardOf(ownerId: string, map: BucketMap): number {
  const shard = map[bucketOf(ownerId)];
  assert(shard !== undefined, "the map covers every bucket");
  return shard;
}

/**
 * Which bucket an account's address belongs to, or "origin" for the accounts every shard has
 * its own share of (platform revenue and subsidy, channel clearing, world adjustments, the
 * transit accounts), which take part in whichever shard an operation commits in.
 *
 * - a user's wallet and a creator's earnings: their owner's bucket;
 * - a red packet's escrow and a subsidy's grant: the bucket their id names, which is their
 *   owner's (ids made by `newOwnedId`: the sender's, the subsidised user's);
 * - a campaign's budget: the bucket its id names (a campaign has no owner; its id spreads
 *   campaigns over the shards).
 */
export function bucketOfAccount(address: string): number | "origin" {
  const [kind, id, part] = address.split(":");
  switch (kind) {
    case "user":
    case "creator":
      assert(id !== undefined && id.length > 0, "an owner's account names its owner");
      return bucketOf(id);
    case "packet":
    case "campaign":
    case "subsidy":
      assert(id !== undefined && id.length > 0 && part !== undefined, "an object's account names its object");
      return bucketOfId(id) ?? bucketOf(id);
    default:
      return "origin";
  }
}

/** Where an account lives under `map`: a shard, or "origin" (see `bucketOfAccount`). */
export function homeOfAccount(address: string, map: BucketMap): number | "origin" {
  const bucket = bucketOfAccount(address);
  if (bucket === "origin") return "origin";
  const shard = map[bucket];
  assert(shard !== undefined, "the map covers every bucket");
  return shard;
}

/** The shard of an object whose id was made by `newOwnedId` (a packet, an order, a subsidy). */
export function shardOfId(id: string, map: BucketMap): number {
  const shard = map[bucketOfId(id) ?? bucketOf(id)];
  assert(shard !== undefined, "the map covers every bucket");
  return shard;
}
