import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { EventLog } from "../../src/durable-objects/live-room.event-log";
import { RoomSettings } from "../../src/durable-objects/live-room.settings";
import type { RoomFanOut } from "../../src/durable-objects/room-fan-out";
import { call, fund, key, token, withPin } from "./helpers";
import { SocketProbe } from "./socket-probe";

// The workers projects run with ROOM_FAN_OUT_THRESHOLD=2 and ROOM_FAN_OUT_SHARDS=3
// (vitest.config.ts): a room holds two viewer sockets itself, then spreads viewers round robin.
const THRESHOLD = 2;
const SHARDS = 3;

async function goLive(creatorId: string) {
  const res = await call("POST", "/v1/rooms", {
    token: await token(creatorId, "creator"),
    body: { title: `${creatorId} live` },
  });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

async function tip(roomId: string, viewer: string, giftId: string) {
  const res = await call("POST", `/v1/rooms/${roomId}/tips`, {
    token: await token(viewer),
    idempotencyKey: key(),
    body: await withPin(viewer, { kind: "gift", giftId, quantity: 1 }),
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.tip;
}

const room = (roomId: string) => env.LIVE_ROOM.getByName(roomId);
const shard = (roomId: string, k: number) => env.ROOM_FAN_OUT.getByName(`${roomId}:${k}`);

async function shardSockets(roomId: string): Promise<number[]> {
  return Promise.all(Array.from({ length: SHARDS }, (_, k) => shard(roomId, k).sockets()));
}

/** Seqs of the sequenced frames a socket got after its snapshot, in arrival order. */
function seqs(probe: SocketProbe): number[] {
  return probe.frames.filter((f) => f.type !== "snapshot" && typeof f.seq === "number").map((f) => f.seq);
}

const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/** Opens `n` viewer sockets one after another (each placed before the next) and waits for their snapshots. */
async function viewers(roomId: string, n: number, prefix: string): Promise<SocketProbe[]> {
  const probes: SocketProbe[] = [];
  for (let i = 0; i < n; i++) {
    const probe = await SocketProbe.open(`/v1/rooms/${roomId}/live?access_token=${await token(`${prefix}-${i}`)}`);
    await probe.next("snapshot");
    probes.push(probe);
  }
  return probes;
}

/** Waits until the room has numbered `seq` (tips reach it after their response). */
async function untilSeq(roomId: string, seq: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  while ((await room(roomId).state()).seq < seq) {
    if (Date.now() > deadline) throw new Error(`the room never reached seq ${seq}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Waits until the room has numbered `current` and every socket has it, then checks each got
 * exactly snapshot + 1 … current, once, in order.
 */
async function expectExact(roomId: string, probes: SocketProbe[], current: number): Promise<number> {
  await untilSeq(roomId, current);
  expect((await room(roomId).state()).seq).toBe(current);
  for (const probe of probes) {
    await probe.until((f) => f.some((x) => x.type !== "snapshot" && x.seq === current), 8_000, `seq ${current}`);
  }
  // Anything doubled would arrive right behind; give it the chance.
  await new Promise((r) => setTimeout(r, 100));
  for (const probe of probes) {
    const from = (probe.frames[0].resumeFromSeq ?? probe.frames[0].seq) + 1;
    expect(seqs(probe)).toEqual(range(from, current));
  }
  return current;
}

describe("fan-out shards", () => {
  it("spreads viewers beyond the threshold over the shards; every socket gets every frame once, in order", async () => {
    const roomId = await goLive("fan-creator");
    await fund("fan-tipper", "20000.00");
    const probes = await viewers(roomId, THRESHOLD + 2 * SHARDS, "fan-viewer");
    // Two on the room, two on each shard, round robin.
    expect(await room(roomId).state()).toMatchObject({ sockets: THRESHOLD, fanOutShards: SHARDS });
    expect(await shardSockets(roomId)).toEqual([2, 2, 2]);
    // A shard's viewer gets the room's snapshot for that viewer.
    expect(probes[THRESHOLD]?.frames[0]).toMatchObject({
      type: "snapshot",
      role: "viewer",
      room: { roomId, status: "live" },
      leaderboard: { period: "live", me: null },
      resumeFromSeq: null,
    });

    await tip(roomId, "fan-tipper", "sports-car");
    await tip(roomId, "fan-tipper", "rose");
    await tip(roomId, "fan-tipper", "yacht");
    await tip(roomId, "fan-tipper", "rose");
    // Live (1), two big gifts (gift + board each), then one merged window.
    await untilSeq(roomId, 5);
    const deadline = Date.now() + 5_000;
    while ((await room(roomId).state()).windowTips < 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    await runDurableObjectAlarm(room(roomId));
    await expectExact(roomId, probes, 6);
    for (const probe of probes) {
      expect(probe.ofType("gift.big").map((f) => f.gift.giftId)).toEqual(["sports-car", "yacht"]);
      expect(probe.ofType("tips.merged").map((f) => f.merged.tipCount)).toEqual([2]);
    }
    for (const probe of probes) probe.close();
  });

  it("resumes a viewer that reconnects on another shard with exactly what it missed, in order, never twice", async () => {
    const roomId = await goLive("fan-resume-creator");
    await fund("fan-resume-tipper", "20000.00");
    const others = await viewers(roomId, THRESHOLD, "fan-resume-local");
    const before = await shardSockets(roomId);
    const [away] = await viewers(roomId, 1, "fan-resume-away");
    const after = await shardSockets(roomId);
    const firstShard = after.findIndex((n, k) => n === (before[k] as number) + 1);
    expect(firstShard).toBeGreaterThanOrEqual(0);
    await tip(roomId, "fan-resume-tipper", "sports-car");
    const seen = await away?.next("gift.big");
    away?.close();
    await away?.waitClosed();

    // While it is away: two big gifts.
    await tip(roomId, "fan-resume-tipper", "rocket");
    await tip(roomId, "fan-resume-tipper", "yacht");
    const missedUpTo = seen.seq + 1 + 4;
    await untilSeq(roomId, missedUpTo);

    const atReconnect = await shardSockets(roomId);
    const back = await SocketProbe.open(
      `/v1/rooms/${roomId}/live?access_token=${await token("fan-resume-away-0")}&lastSeq=${seen.seq}`,
    );
    const snapshot = await back.next("snapshot");
    const nowOn = await shardSockets(roomId);
    const secondShard = nowOn.findIndex((n, k) => n === (atReconnect[k] as number) + 1);
    expect(secondShard).toBeGreaterThanOrEqual(0);
    expect(secondShard).not.toBe(firstShard);
    expect(snapshot).toMatchObject({ role: "viewer", resumeFromSeq: seen.seq, seq: missedUpTo });
    await back.until((f) => seqs({ frames: f } as SocketProbe).length === missedUpTo - seen.seq, 5_000, "the replay");
    expect(seqs(back)).toEqual(range(seen.seq + 1, missedUpTo));
    expect(back.ofType("gift.big").map((f) => f.gift.giftId)).toEqual(["rocket", "yacht"]);

    // And live frames continue after the replay, once.
    await tip(roomId, "fan-resume-tipper", "sports-car");
    await expectExact(roomId, [back, ...others], missedUpTo + 2);
    for (const probe of [back, ...others]) probe.close();
  });

  it("a shard that crashes mid-broadcast and restarts still gives each of its sockets every frame once, in order", async () => {
    const roomId = await goLive("fan-crash-creator");
    await fund("fan-crash-tipper", "20000.00");
    const probes = await viewers(roomId, THRESHOLD + 2 * SHARDS, "fan-crash-viewer");
    expect(await shardSockets(roomId)).toEqual([2, 2, 2]);
    await runInDurableObject(shard(roomId, 1), (instance: RoomFanOut) => {
      instance.faults.crashAfterSockets = 1;
    });

    const gift = await tip(roomId, "fan-crash-tipper", "sports-car");
    const has = (p: SocketProbe) => p.ofType("gift.big").some((f) => f.gift.tipId === gift.id);
    // Every socket but one (the second of the crashed shard) has it; the room keeps retrying.
    const deadline = Date.now() + 5_000;
    while (probes.filter(has).length < probes.length - 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(probes.filter(has)).toHaveLength(probes.length - 1);

    // The restart: memory (its ring, the fault) is gone, its sockets hibernate and stay open.
    await evictDurableObject(shard(roomId, 1));
    await expectExact(roomId, probes, 3);
    expect(probes.every((p) => p.ofType("gift.big").length === 1)).toBe(true);

    await tip(roomId, "fan-crash-tipper", "yacht");
    await expectExact(roomId, probes, 5);
    for (const probe of probes) probe.close();
  });

  it("after a room restart, its shards get what the room committed and had not pushed, then everything after", async () => {
    const roomId = await goLive("fan-restart-creator");
    await fund("fan-restart-tipper", "20000.00");
    await viewers(roomId, THRESHOLD, "fan-restart-local");
    const onShards = await viewers(roomId, SHARDS, "fan-restart-viewer");
    await tip(roomId, "fan-restart-tipper", "sports-car");
    await expectExact(roomId, onShards, 3);

    // A frame committed to the log when the room went down before pushing it.
    await runInDurableObject(room(roomId), (_instance, state) => {
      const events = new EventLog(state.storage.sql, new RoomSettings(state.storage.kv));
      state.storage.transactionSync(() => events.append({ type: "alert.skip", alertSeq: 2 }, Date.now()));
    });
    await evictDurableObject(room(roomId));
    // Waking the room (any call) pushes it.
    expect((await room(roomId).state()).seq).toBe(4);
    for (const probe of onShards) {
      await probe.until((f) => f.some((x) => x.seq === 4), 5_000, "the unpushed frame");
    }
    await tip(roomId, "fan-restart-tipper", "yacht");
    await expectExact(roomId, onShards, 6);
    for (const probe of onShards) expect(probe.ofType("alert.skip")).toHaveLength(1);
  });

  it("answers a shard socket's client frames through the room, and the heartbeat and junk on the shard", async () => {
    const roomId = await goLive("fan-frames-creator");
    await viewers(roomId, THRESHOLD, "fan-frames-local");
    const [viewer] = await viewers(roomId, 1, "fan-frames-viewer");
    if (!viewer) throw new Error("no viewer");
    expect((await shardSockets(roomId)).reduce((a, b) => a + b, 0)).toBe(1);
    viewer.send({ type: "alert.skip", seq: 1 });
    expect(await viewer.next("error")).toMatchObject({ code: "forbidden" });
    viewer.send({ type: "ack", seq: 1 });
    expect(await viewer.next("error")).toMatchObject({ code: "forbidden" });
    viewer.send("not json");
    expect((await viewer.next("error")).code).toBe("malformed_frame");
    for (let i = 0; i < 5; i++) viewer.send('{"type":"ping"}');
    viewer.send('{ "type": "ping", "from": "a server" }');
    await viewer.until((f) => f.filter((x) => x.type === "pong").length === 6, 5_000, "6 pongs");
    viewer.send({ type: "ping", pad: "x".repeat(3_000) });
    expect((await viewer.waitClosed()).code).toBe(1009);

    // The message limit counts across frames the shard answers and frames it forwards.
    const [flooder] = await viewers(roomId, 1, "fan-frames-flooder");
    if (!flooder) throw new Error("no flooder");
    expect((await shardSockets(roomId)).reduce((a, b) => a + b, 0)).toBe(1);
    for (let i = 0; i < 60; i++) flooder.send('{ "type": "ping" }');
    for (let i = 0; i < 65; i++) flooder.send({ type: "ack", seq: 0 });
    expect((await flooder.waitClosed()).code).toBe(1008);
  });
});
