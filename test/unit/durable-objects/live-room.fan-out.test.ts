import { describe, expect, it } from "vitest";
import { placeSocket } from "../../../src/durable-objects/live-room.fan-out";
import { shardName } from "../../../src/durable-objects/room-fan-out.protocol";

describe("where a new socket goes", () => {
  const config = { threshold: 3, shards: 4 };

  it("keeps viewers on the room below the threshold, and overlays and broadcasters always", () => {
    expect(placeSocket("viewer", 0, config, 0)).toEqual({ kind: "room" });
    expect(placeSocket("viewer", 2, config, 7)).toEqual({ kind: "room" });
    expect(placeSocket("overlay", 5_000, config, 1)).toEqual({ kind: "room" });
    expect(placeSocket("broadcaster", 5_000, config, 1)).toEqual({ kind: "room" });
  });

  it("spreads viewers beyond it round robin over every shard", () => {
    const counts = [0, 0, 0, 0];
    for (let turn = 10; turn < 10 + 4 * 25; turn++) {
      const placed = placeSocket("viewer", 3, config, turn);
      if (placed.kind !== "shard") throw new Error("expected a shard");
      counts[placed.index] = (counts[placed.index] ?? 0) + 1;
    }
    expect(counts).toEqual([25, 25, 25, 25]);
  });

  it("sends every viewer to a shard with a threshold of 0", () => {
    expect(placeSocket("viewer", 0, { threshold: 0, shards: 1 }, 5)).toEqual({ kind: "shard", index: 0 });
  });

  it("names shards after their room", () => {
    expect(shardName("room_01J", 3)).toBe("room_01J:3");
  });
});
