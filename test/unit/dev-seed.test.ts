import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DEMO_USERS } from "../../dev/seed";
import { evenBucketMap, shardOf } from "../../src/domain/shards";

describe("the demo seed", () => {
  it("puts its creator in another ledger shard than its viewers under npm start's shard count", () => {
    const shards = Number(/^LEDGER_SHARDS = "(\d+)"$/m.exec(readFileSync("wrangler.toml", "utf8"))?.[1]);
    expect(shards).toBeGreaterThan(1);
    const map = evenBucketMap(shards);
    const creator = DEMO_USERS.find((u) => u.roles.includes("creator"));
    const viewers = DEMO_USERS.filter((u) => u.userId.startsWith("viewer-"));
    expect(creator).toBeDefined();
    expect(viewers.length).toBeGreaterThan(0);
    for (const viewer of viewers) {
      expect(shardOf(viewer.userId, map), viewer.userId).not.toBe(shardOf(creator?.userId ?? "", map));
    }
  });
});
