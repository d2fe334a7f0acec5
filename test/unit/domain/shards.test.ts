import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { accountAddress, USER_ID_PATTERN } from "../../../src/domain/accounts";
import { newOwnedId } from "../../../src/domain/ids";
import {
  bucketOf,
  bucketOfAccount,
  evenBucketMap,
  homeOfAccount,
  LEDGER_BUCKETS,
  LEDGER_SHARDS_MAX,
  parseBucketMap,
  shardOf,
  shardOfId,
} from "../../../src/domain/shards";

const ownerId = fc.stringMatching(USER_ID_PATTERN);

describe("owner → bucket", () => {
  it("is fixed forever: these ids land in these buckets (changing the hash would move every row)", () => {
    // FNV-1a of "a" is 0xe40c292c and of "foobar" 0xbf9cf968 (the published test vectors);
    // these are those after MurmurHash3's finalizer, modulo 1024. Pinned: a change here is a
    // change of every row's home.
    expect(bucketOf("a")).toBe(435);
    expect(bucketOf("foobar")).toBe(732);
    expect(bucketOf("viewer-ana")).toBe(495);
  });

  it("is always one of the buckets", () => {
    fc.assert(
      fc.property(ownerId, (id) => {
        const b = bucketOf(id);
        expect(Number.isInteger(b) && b >= 0 && b < LEDGER_BUCKETS).toBe(true);
      }),
    );
  });

  it("spreads sequential ids like a uniform draw: 200,000 `user-N` ids, χ² within 4 σ of its mean", () => {
    const counts = new Array<number>(LEDGER_BUCKETS).fill(0);
    const n = 200_000;
    for (let i = 0; i < n; i++) {
      const b = bucketOf(`user-${i}`);
      counts[b] = (counts[b] ?? 0) + 1;
    }
    const mean = n / LEDGER_BUCKETS;
    const chiSquare = counts.reduce((sum, c) => sum + (c - mean) ** 2 / mean, 0);
    // χ² with 1023 degrees of freedom: mean 1023, σ ≈ 45. These ids score 1,057; FNV-1a
    // without the finalizer scores 1,240 (its low bits follow the ids' last characters).
    expect(chiSquare).toBeLessThan(1023 + 4 * 45);
    expect(Math.min(...counts)).toBeGreaterThan(mean * 0.7);
    expect(Math.max(...counts)).toBeLessThan(mean * 1.3);
  });
});

describe("bucket → shard", () => {
  it("starts as contiguous ranges whose sizes differ by at most one", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: LEDGER_SHARDS_MAX }), (shards) => {
        const map = evenBucketMap(shards);
        expect(map).toHaveLength(LEDGER_BUCKETS);
        const sizes = new Array<number>(shards).fill(0);
        map.forEach((shard, bucket) => {
          sizes[shard] = (sizes[shard] ?? 0) + 1;
          if (bucket > 0) expect(shard - (map[bucket - 1] ?? 0)).toBeGreaterThanOrEqual(0);
        });
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
        expect(sizes.every((s) => s > 0)).toBe(true);
      }),
    );
  });

  it("routes an owner to the shard its bucket maps to, and one shard takes everything", () => {
    fc.assert(
      fc.property(ownerId, fc.integer({ min: 1, max: LEDGER_SHARDS_MAX }), (id, shards) => {
        const map = evenBucketMap(shards);
        expect(shardOf(id, map)).toBe(map[bucketOf(id)]);
        expect(shardOf(id, evenBucketMap(1))).toBe(0);
      }),
    );
  });

  it("moves exactly one bucket's owners when one bucket is moved", () => {
    const map = evenBucketMap(2);
    const moved = map.map((shard, bucket) => (bucket === 7 ? 1 - shard : shard));
    for (let i = 0; i < 5_000; i++) {
      const id = `user-${i}`;
      expect(shardOf(id, moved) !== shardOf(id, map)).toBe(bucketOf(id) === 7);
    }
  });

  it("refuses a stored map that does not cover every bucket with an existing shard", () => {
    expect(parseBucketMap(evenBucketMap(4), 4).ok).toBe(true);
    expect(parseBucketMap(evenBucketMap(4).slice(1), 4)).toMatchObject({ ok: false, code: "internal_error" });
    expect(parseBucketMap(evenBucketMap(4), 3)).toMatchObject({ ok: false });
    expect(parseBucketMap([...evenBucketMap(4).slice(1), 1.5], 4)).toMatchObject({ ok: false });
  });
});

describe("account → home", () => {
  it("places an owner's accounts with the owner, and an owned object's with the owner its id names", () => {
    fc.assert(
      fc.property(ownerId, fc.integer({ min: 1, max: LEDGER_SHARDS_MAX }), (owner, shards) => {
        const map = evenBucketMap(shards);
        const home = shardOf(owner, map);
        expect(homeOfAccount(accountAddress.userWallet(owner), map)).toBe(home);
        expect(homeOfAccount(accountAddress.creatorPending(owner), map)).toBe(home);
        const packetId = newOwnedId("packet", bucketOf(owner), 1_700_000_000_000);
        expect(homeOfAccount(accountAddress.packetEscrow(packetId), map)).toBe(home);
        expect(shardOfId(packetId, map)).toBe(home);
        const subsidyId = newOwnedId("subsidy", bucketOf(owner), 1_700_000_000_000);
        expect(homeOfAccount(accountAddress.subsidyGrant(subsidyId), map)).toBe(home);
      }),
    );
  });

  it("keeps the accounts every shard has a share of in whichever shard an operation commits", () => {
    for (const address of [
      accountAddress.platformRevenue(),
      accountAddress.platformSubsidy(),
      accountAddress.channelClearing("wechatpay"),
      accountAddress.worldAdjustments(),
      accountAddress.transit(3),
    ]) {
      expect(bucketOfAccount(address)).toBe("origin");
    }
  });
});
