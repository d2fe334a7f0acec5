import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { EventLog } from "../../src/durable-objects/live-room.event-log";
import { RoomSettings } from "../../src/durable-objects/live-room.settings";
import { allDatabases, call, fund, key, ledger, shardDbOf, token, withPin } from "./helpers";
import { SocketProbe } from "./socket-probe";

/** Goes live and returns the room id and stream id. */
async function goLive(creatorId: string) {
  const res = await call("POST", "/v1/rooms", {
    token: await token(creatorId, "creator"),
    body: { title: `${creatorId} live` },
  });
  expect(res.status).toBe(201);
  return { roomId: res.body.id as string, streamId: res.body.stream.id as string };
}

async function tip(roomId: string, viewer: string, body: unknown) {
  const res = await call("POST", `/v1/rooms/${roomId}/tips`, {
    token: await token(viewer),
    idempotencyKey: key(),
    // Big gifts are above the password-free limits: the viewer gives their PIN.
    body: await withPin(viewer, body as object),
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.tip;
}

function room(roomId: string) {
  return env.LIVE_ROOM.getByName(roomId);
}

/** Waits until the room has applied `count` tips (delivery runs after the response). */
async function untilApplied(roomId: string, predicate: () => Promise<boolean>, what: string) {
  const deadline = Date.now() + 5_000;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what} in ${roomId}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Undelivered events of a room, in every outbox (the control database's and each shard's). */
async function outboxPending(roomId: string): Promise<number> {
  let n = 0;
  for (const { db } of await allDatabases()) {
    const row = await db
      .prepare("SELECT COUNT(*) AS n FROM room_outbox WHERE room_id = ? AND delivered_at_ms IS NULL")
      .bind(roomId)
      .first<{ n: number }>();
    n += row?.n ?? 0;
  }
  return n;
}

describe("the room WebSocket handshake", () => {
  let roomId: string;
  beforeAll(async () => {
    ({ roomId } = await goLive("ws-creator"));
  });

  it("gives an authenticated viewer a snapshot: room, leaderboard with their rank, seq", async () => {
    const socket = await SocketProbe.open(`/v1/rooms/${roomId}/live?access_token=${await token("ws-viewer")}`);
    const snapshot = await socket.next("snapshot");
    expect(snapshot).toMatchObject({
      role: "viewer",
      room: { roomId, status: "live", creatorId: "ws-creator" },
      leaderboard: { period: "live", top: [], me: null },
      redPackets: [],
      windowMs: 3000,
      resumeFromSeq: null,
    });
    // The room has said one thing so far: that it went live.
    expect(snapshot.seq).toBe(1);
    socket.close();
  });

  it("answers the client's heartbeat without counting it against the message limit, and any other ping itself", async () => {
    const socket = await SocketProbe.open(`/v1/rooms/${roomId}/live`, {
      authorization: `Bearer ${await token("ws-viewer")}`,
    });
    await socket.next("snapshot");
    const pongs = () => socket.ofType("pong").length;
    // More heartbeats than the 120 messages a minute a client may send: the exact frame
    // live-client.js sends is the room's auto-response, so none of them counts (or wakes it).
    for (let i = 0; i < 130; i++) socket.send('{"type":"ping"}');
    await socket.until(() => pongs() === 130, 5_000, "130 pongs");
    // Spelled any other way, a ping reaches the room's own handler, which answers it too.
    socket.send('{ "type": "ping", "from": "a server" }');
    await socket.until(() => pongs() === 131, 5_000, "the room's own pong");
    expect(socket.closed).toBeNull();
    socket.close();
  });

  it("refuses a missing or bad token (401), a foreign Origin (403), a non-owner broadcaster (403), an unknown room (404)", async () => {
    expect((await SocketProbe.refuse(`/v1/rooms/${roomId}/live`)).status).toBe(401);
    expect((await SocketProbe.refuse(`/v1/rooms/${roomId}/live?access_token=nope`)).status).toBe(401);
    const viewerToken = await token("ws-viewer");
    const origin = await SocketProbe.refuse(`/v1/rooms/${roomId}/live?access_token=${viewerToken}`, {
      origin: "https://evil.example",
    });
    expect(origin).toMatchObject({ status: 403, body: { error: { code: "forbidden" } } });
    const sameOrigin = await SocketProbe.open(`/v1/rooms/${roomId}/live?access_token=${viewerToken}`, {
      origin: "https://giftwire.test",
    });
    await sameOrigin.next("snapshot");
    sameOrigin.close();
    const notOwner = await SocketProbe.refuse(`/v1/rooms/${roomId}/live?role=broadcaster&access_token=${viewerToken}`);
    expect(notOwner.status).toBe(403);
    const unknown = await SocketProbe.refuse(
      `/v1/rooms/room_01ZZZZZZZZZZZZZZZZZZZZZZZZ/live?access_token=${viewerToken}`,
    );
    expect(unknown.status).toBe(404);
    const owner = await SocketProbe.open(
      `/v1/rooms/${roomId}/live?role=broadcaster&access_token=${await token("ws-creator", "creator")}`,
    );
    expect((await owner.next("snapshot")).role).toBe("broadcaster");
    owner.close();
  });

  it("admits overlays only with the current overlay key and disconnects them when it is rotated", async () => {
    expect((await SocketProbe.refuse(`/v1/rooms/${roomId}/live?role=overlay`)).status).toBe(401);
    const creator = await token("ws-creator", "creator");
    const first = await call("POST", `/v1/rooms/${roomId}/overlay-key`, { token: creator });
    expect(first.status).toBe(201);
    expect(first.body.overlayUrl).toContain(`/overlay.html?room=${roomId}&key=ovk_`);
    const overlay = await SocketProbe.open(`/v1/rooms/${roomId}/live?role=overlay&key=${first.body.overlayKey}`);
    await overlay.next("snapshot");
    const notCreator = await call("POST", `/v1/rooms/${roomId}/overlay-key`, { token: await token("ws-viewer") });
    expect(notCreator.status).toBe(403);
    const second = await call("POST", `/v1/rooms/${roomId}/overlay-key`, { token: creator });
    expect((await overlay.waitClosed()).code).toBe(4003);
    expect(
      (await SocketProbe.refuse(`/v1/rooms/${roomId}/live?role=overlay&key=${first.body.overlayKey}`)).status,
    ).toBe(401);
    const again = await SocketProbe.open(`/v1/rooms/${roomId}/live?role=overlay&key=${second.body.overlayKey}`);
    await again.next("snapshot");
    again.close();
  });

  it("closes a socket that sends an oversized frame (1009) or floods (1008), and answers junk with an error frame", async () => {
    const viewerToken = await token("ws-viewer");
    const big = await SocketProbe.open(`/v1/rooms/${roomId}/live?access_token=${viewerToken}`);
    await big.next("snapshot");
    big.send({ type: "ping", pad: "x".repeat(3_000) });
    expect((await big.waitClosed()).code).toBe(1009);

    const junk = await SocketProbe.open(`/v1/rooms/${roomId}/live?access_token=${viewerToken}`);
    await junk.next("snapshot");
    junk.send("not json");
    expect((await junk.next("error")).code).toBe("malformed_frame");
    junk.send({ type: "alert.skip", seq: 1 });
    expect((await junk.next("error")).code).toBe("forbidden");
    for (let i = 0; i < 125; i++) junk.send({ type: "ack", seq: 0 });
    expect((await junk.waitClosed()).code).toBe(1008);
  });
});

describe("tips reach the room", () => {
  it("merges small tips into one frame per window with exact totals, combos and top tippers", async () => {
    const { roomId, streamId } = await goLive("merge-creator");
    await fund("merge-a", "100.00");
    await fund("merge-b", "100.00");
    const viewer = await SocketProbe.open(`/v1/rooms/${roomId}/live?access_token=${await token("merge-b")}`);
    await viewer.next("snapshot");
    // At once, so that all four land in one window (3 s) however slow a busy machine is.
    await Promise.all([
      tip(roomId, "merge-a", { kind: "gift", giftId: "rose", quantity: 2 }),
      tip(roomId, "merge-a", { kind: "gift", giftId: "rose", quantity: 3 }),
      tip(roomId, "merge-b", { kind: "custom", amount: "6.60" }),
      tip(roomId, "merge-b", { kind: "gift", giftId: "heart", quantity: 1 }),
    ]);
    await untilApplied(roomId, async () => (await room(roomId).state()).windowTips === 4, "4 tips in the window");
    // Nothing is broadcast before the window closes.
    expect(viewer.ofType("tips.merged")).toHaveLength(0);
    expect(await runDurableObjectAlarm(room(roomId))).toBe(true);
    const merged = await viewer.next("tips.merged");
    expect(merged.merged).toMatchObject({
      tipCount: 4,
      totalMinor: 200 + 300 + 660 + 10,
      byGift: expect.arrayContaining([
        { giftId: "rose", quantity: 5, amountMinor: 500 },
        { giftId: null, quantity: 1, amountMinor: 660 },
        { giftId: "heart", quantity: 1, amountMinor: 10 },
      ]),
      combos: [expect.objectContaining({ viewerId: "merge-a", giftId: "rose", quantity: 5, tips: 2 })],
      topTippers: [
        { viewerId: "merge-b", amountMinor: 670 },
        { viewerId: "merge-a", amountMinor: 500 },
      ],
    });
    // The same frame carries the board after the window: one update per window.
    expect(viewer.ofType("leaderboard")).toHaveLength(0);
    expect(merged.leaderboard).toMatchObject({
      period: "live",
      periodKey: streamId,
      top: [{ rank: 1, viewerId: "merge-b", totalMinor: 670 }, { rank: 2 }],
    });
    viewer.close();
  });

  it("sends a big gift to everyone at once, with a combo count for repeats", async () => {
    const { roomId } = await goLive("big-creator");
    await fund("big-fan", "5000.00");
    const viewer = await SocketProbe.open(`/v1/rooms/${roomId}/live?access_token=${await token("big-fan")}`);
    const broadcaster = await SocketProbe.open(
      `/v1/rooms/${roomId}/live?role=broadcaster&access_token=${await token("big-creator", "creator")}`,
    );
    await viewer.next("snapshot");
    await broadcaster.next("snapshot");
    const sent = await tip(roomId, "big-fan", { kind: "gift", giftId: "sports-car", quantity: 1 });
    expect(sent.big).toBe(true);
    const toViewer = await viewer.next("gift.big");
    const toBroadcaster = await broadcaster.next("gift.big");
    expect(toViewer).toEqual(toBroadcaster);
    expect(toViewer.gift).toMatchObject({
      tipId: sent.id,
      giftId: "sports-car",
      tier: "big",
      animationKey: "sports-car-drift",
      amountMinor: 52000,
      combo: { count: 1 },
    });
    await tip(roomId, "big-fan", { kind: "gift", giftId: "sports-car", quantity: 2 });
    const second = await viewer.next("gift.big");
    expect(second.gift.combo).toEqual({ id: toViewer.gift.combo.id, count: 3 });
    // By amount (the platform's 500.00), not by tier: a custom tip below 500.00 is small; at 500.00 it is big.
    expect((await tip(roomId, "big-fan", { kind: "custom", amount: "499.99" })).big).toBe(false);
    expect((await tip(roomId, "big-fan", { kind: "custom", amount: "500.00" })).big).toBe(true);
    viewer.close();
    broadcaster.close();
  });

  it("uses the room's own big-gift threshold when it has one", async () => {
    const { roomId } = await goLive("threshold-creator");
    await call("PATCH", `/v1/rooms/${roomId}`, {
      token: await token("threshold-creator", "creator"),
      body: { bigGiftThresholdMinor: 990 },
    });
    await fund("threshold-fan", "100.00");
    expect((await tip(roomId, "threshold-fan", { kind: "gift", giftId: "lucky-cat", quantity: 1 })).big).toBe(true);
    expect((await tip(roomId, "threshold-fan", { kind: "gift", giftId: "six-six-six", quantity: 1 })).big).toBe(false);
  });

  it("applies each event once however often it is delivered", async () => {
    const { roomId } = await goLive("dup-room-creator");
    await fund("dup-room-fan", "100.00");
    const sent = await tip(roomId, "dup-room-fan", { kind: "gift", giftId: "rose", quantity: 1 });
    await untilApplied(roomId, async () => (await outboxPending(roomId)) === 0, "delivery");
    // A tip's event is in its viewer's shard, written with the payment.
    const row = await (await shardDbOf("dup-room-fan"))
      .prepare("SELECT payload FROM room_outbox WHERE id = ?")
      .bind(sent.id)
      .first<{ payload: string }>();
    const event = JSON.parse(row?.payload ?? "{}");
    const again = await room(roomId).deliver([event, event]);
    expect(again).toEqual({ applied: [], duplicates: [sent.id, sent.id] });
    const board = await room(roomId).leaderboard("live", "dup-room-fan", 10);
    expect(board.me).toMatchObject({ rank: 1, totalMinor: 100, tipCount: 1 });
  });
});

describe("when the direct call fails", () => {
  it("the queue delivers the tip, once, even when redelivered", async () => {
    const { roomId } = await goLive("queue-creator");
    await fund("queue-fan", "100.00");
    // Commit a tip whose direct delivery we suppress: write it like the tip route would,
    // then run the after-commit step with a room binding that fails.
    const sent = await tip(roomId, "queue-fan", { kind: "gift", giftId: "rose", quantity: 1 });
    await untilApplied(roomId, async () => (await outboxPending(roomId)) === 0, "first delivery");
    const l = await ledger();
    const shard = l.forOwner("queue-fan");
    const payload = JSON.parse(
      (
        await shard.db
          .prepare("SELECT payload FROM room_outbox WHERE id = ?")
          .bind(sent.id)
          .first<{ payload: string }>()
      )?.payload ?? "{}",
    );
    const lost = { ...payload, id: "tip_queue_path_0000000000000", viewerId: "queue-fan-2" };
    await shard.db
      .prepare("INSERT INTO room_outbox (id, room_id, payload, created_at_ms) VALUES (?, ?, ?, ?)")
      .bind(lost.id, roomId, JSON.stringify(lost), Date.now())
      .run();

    const { deliverAfterCommit } = await import("../../src/worker/rooms/outbox");
    const { handleRoomEventsBatch } = await import("../../src/worker/queues/room-events");
    const sentMessages: unknown[] = [];
    const failingEnv = {
      ...env,
      LIVE_ROOM: { getByName: () => ({ deliver: () => Promise.reject(new Error("room unreachable")) }) },
      ROOM_EVENTS: { send: async (m: unknown) => void sentMessages.push(m) },
    } as unknown as Env;
    const quiet = { info() {}, warn() {}, error() {} };
    await deliverAfterCommit(failingEnv, l, shard.index, [lost.id], quiet);
    expect(sentMessages).toEqual([{ source: shard.index, outboxIds: [lost.id] }]);
    expect(await outboxPending(roomId)).toBe(1);

    // The consumer, with the real room, twice (at-least-once delivery).
    for (let attempt = 1; attempt <= 2; attempt++) {
      const acked: string[] = [];
      const retried: string[] = [];
      const batch = {
        queue: "giftwire-room-events",
        messages: [
          {
            id: `m${attempt}`,
            timestamp: new Date(),
            attempts: attempt,
            body: sentMessages[0],
            ack: () => acked.push(`m${attempt}`),
            retry: () => retried.push(`m${attempt}`),
          },
        ],
      } as unknown as MessageBatch<unknown>;
      await handleRoomEventsBatch(batch, env, quiet);
      expect(acked).toEqual([`m${attempt}`]);
      expect(retried).toEqual([]);
    }
    expect(await outboxPending(roomId)).toBe(0);
    const board = await room(roomId).leaderboard("live", "queue-fan-2", 10);
    expect(board.me).toMatchObject({ totalMinor: 100, tipCount: 1 });
  });

  it("the queue consumer retries with backoff while the room is unreachable", async () => {
    const { handleRoomEventsBatch } = await import("../../src/worker/queues/room-events");
    const { retryDelaySeconds } = await import("../../src/worker/queues/retry");
    const control = (await ledger()).control;
    await control
      .prepare(
        "INSERT INTO room_outbox (id, room_id, payload, created_at_ms) VALUES ('tip_retry_1', 'room_retry', '{}', 0)",
      )
      .run();
    const failingEnv = {
      ...env,
      LIVE_ROOM: { getByName: () => ({ deliver: () => Promise.reject(new Error("down")) }) },
    } as unknown as Env;
    const delays: unknown[] = [];
    const batch = {
      queue: "giftwire-room-events",
      messages: [
        {
          id: "m",
          timestamp: new Date(),
          attempts: 3,
          body: { source: "control", outboxIds: ["tip_retry_1"] },
          ack() {},
          retry: (o: unknown) => delays.push(o),
        },
      ],
    } as unknown as MessageBatch<unknown>;
    await handleRoomEventsBatch(batch, failingEnv, { info() {}, warn() {}, error() {} });
    expect(delays).toEqual([{ delaySeconds: 20 }]);
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((a) => retryDelaySeconds("roomQueue", a))).toEqual([
      5, 10, 20, 40, 80, 160, 300, 300,
    ]);
    const attempts = await control.prepare("SELECT attempts FROM room_outbox WHERE id = 'tip_retry_1'").first();
    expect(attempts).toEqual({ attempts: 1 });
    // Its payload is no event: left behind, the next test's sweep would hand it to a real room,
    // which refuses it (a ZodError logged as an uncaught exception in the object).
    await control.prepare("DELETE FROM room_outbox WHERE id = 'tip_retry_1'").run();
  });

  it("the cron sweeper delivers what is still undelivered after 30 s", async () => {
    const { roomId, streamId } = await goLive("sweep-creator");
    const event = {
      type: "tip",
      id: "tip_swept_00000000000000000000",
      roomId,
      streamId,
      creatorId: "sweep-creator",
      viewerId: "sweep-fan",
      giftId: "rose",
      giftName: "Rose",
      tier: "small",
      animationKey: "rose-bloom",
      quantity: 1,
      amountMinor: 100,
      big: false,
      createdAtMs: Date.now() - 60_000,
    };
    await (await shardDbOf("sweep-fan"))
      .prepare("INSERT INTO room_outbox (id, room_id, payload, created_at_ms) VALUES (?, ?, ?, ?)")
      .bind(event.id, roomId, JSON.stringify(event), Date.now() - 60_000)
      .run();
    const { createScheduledController } = await import("cloudflare:test");
    const worker = (await import("../../src/worker/index")).default;
    await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "* * * * *" }), env);
    expect(await outboxPending(roomId)).toBe(0);
    expect((await room(roomId).leaderboard("live", "sweep-fan", 10)).me).toMatchObject({ totalMinor: 100 });
  });
});

describe("the overlay feed", () => {
  it("resumes after a reconnect with exactly what it missed, in order, never twice", async () => {
    const { roomId } = await goLive("overlay-creator");
    await fund("overlay-fan", "20000.00");
    const creator = await token("overlay-creator", "creator");
    const { overlayKey } = (await call("POST", `/v1/rooms/${roomId}/overlay-key`, { token: creator })).body;
    const overlayPath = `/v1/rooms/${roomId}/live?role=overlay&key=${overlayKey}`;

    const first = await SocketProbe.open(overlayPath);
    await first.next("snapshot");
    await tip(roomId, "overlay-fan", { kind: "gift", giftId: "yacht", quantity: 1 });
    const seen = await first.next("gift.big");
    first.close();

    // While the overlay is away: two big gifts and some small tips.
    await tip(roomId, "overlay-fan", { kind: "gift", giftId: "rocket", quantity: 1 });
    await tip(roomId, "overlay-fan", { kind: "gift", giftId: "rose", quantity: 1 });
    await tip(roomId, "overlay-fan", { kind: "gift", giftId: "private-jet", quantity: 1 });
    await untilApplied(roomId, async () => (await outboxPending(roomId)) === 0, "delivery");
    await runDurableObjectAlarm(room(roomId));
    const currentSeq = (await room(roomId).state()).seq;

    const second = await SocketProbe.open(`${overlayPath}&lastSeq=${seen.seq}`);
    await second.until(
      (f) => f.some((x) => x.seq === currentSeq && x.type !== "snapshot"),
      5_000,
      "replay to the current seq",
    );
    const snapshot = second.frames[0];
    expect(snapshot).toMatchObject({ type: "snapshot", role: "overlay", resumeFromSeq: seen.seq });
    const replayed = second.frames.slice(1);
    expect(replayed.map((f) => f.seq)).toEqual(
      Array.from({ length: currentSeq - seen.seq }, (_, i) => seen.seq + 1 + i),
    );
    expect(replayed.filter((f) => f.type === "gift.big").map((f) => f.gift.giftId)).toEqual(["rocket", "private-jet"]);
    expect(replayed.some((f) => f.type === "gift.big" && f.gift.tipId === seen.gift.tipId)).toBe(false);

    // Without a lastSeq, an overlay resumes after what was acknowledged.
    second.send({ type: "ack", seq: currentSeq });
    // A barrier: a ping spelled unlike the heartbeat is answered by the room itself, after
    // the ack (the exact heartbeat is answered by the runtime and could overtake it).
    second.send('{ "type": "ping" }');
    await second.next("pong");
    second.close();
    await tip(roomId, "overlay-fan", { kind: "gift", giftId: "sports-car", quantity: 1 });
    await untilApplied(roomId, async () => (await outboxPending(roomId)) === 0, "delivery");
    const third = await SocketProbe.open(overlayPath);
    await third.next("gift.big");
    expect(third.frames[0].resumeFromSeq).toBe(currentSeq);
    expect(third.ofType("gift.big").map((f) => f.gift.giftId)).toEqual(["sports-car"]);
    third.close();
  });

  it("lets the broadcaster skip or replay an alert on the overlay", async () => {
    const { roomId } = await goLive("console-creator");
    await fund("console-fan", "1000.00");
    const creator = await token("console-creator", "creator");
    const { overlayKey } = (await call("POST", `/v1/rooms/${roomId}/overlay-key`, { token: creator })).body;
    const overlay = await SocketProbe.open(`/v1/rooms/${roomId}/live?role=overlay&key=${overlayKey}`);
    const console = await SocketProbe.open(`/v1/rooms/${roomId}/live?role=broadcaster&access_token=${creator}`);
    await overlay.next("snapshot");
    await console.next("snapshot");
    await tip(roomId, "console-fan", { kind: "gift", giftId: "sports-car", quantity: 1 });
    const alert = await overlay.next("gift.big");
    console.send({ type: "alert.skip", seq: alert.seq });
    // Numbered after the gift and the leaderboard frame it produced.
    expect(await overlay.next("alert.skip")).toEqual({ type: "alert.skip", seq: alert.seq + 2, alertSeq: alert.seq });
    console.send({ type: "alert.replay", seq: alert.seq });
    const replay = await overlay.next("alert.replay");
    expect(replay).toEqual({ type: "alert.replay", seq: alert.seq + 3, alertSeq: alert.seq, gift: alert.gift });
    console.send({ type: "alert.replay", seq: 999_999 });
    expect((await console.next("error")).code).toBe("alert_not_found");
    overlay.close();
    console.close();
  });
});

describe("durability", () => {
  it("loses nothing of an open window when the room is evicted", async () => {
    const { roomId } = await goLive("evict-creator");
    await fund("evict-fan", "100.00");
    await tip(roomId, "evict-fan", { kind: "gift", giftId: "rose", quantity: 4 });
    await untilApplied(roomId, async () => (await room(roomId).state()).windowTips === 1, "the tip in the window");
    const seqBefore = (await room(roomId).state()).seq;
    await evictDurableObject(room(roomId));
    expect(await room(roomId).state()).toMatchObject({ windowTips: 1, seq: seqBefore });
    expect(await runDurableObjectAlarm(room(roomId))).toBe(true);
    const state = await room(roomId).state();
    expect(state.windowTips).toBe(0);
    // One frame for the window (the merged tips with the board they produced).
    expect(state.seq).toBe(seqBefore + 1);
  });

  it("writes leaderboards to D1 and ranks creators globally", async () => {
    const { roomId } = await goLive("rank-creator-a");
    const other = await goLive("rank-creator-b");
    await fund("rank-fan", "1000.00");
    await tip(roomId, "rank-fan", { kind: "gift", giftId: "love-letter", quantity: 1 });
    await tip(other.roomId, "rank-fan", { kind: "gift", giftId: "crown", quantity: 1 });
    await untilApplied(
      roomId,
      async () => (await outboxPending(roomId)) + (await outboxPending(other.roomId)) === 0,
      "delivery",
    );
    await runDurableObjectAlarm(room(roomId));
    await runDurableObjectAlarm(room(other.roomId));
    // Leaderboards are in the control database.
    const rows = await (await ledger()).control
      .prepare(
        "SELECT period, total_minor FROM leaderboard_entries WHERE room_id = ? AND viewer_id = 'rank-fan' ORDER BY period",
      )
      .bind(roomId)
      .all();
    expect(rows.results).toEqual([
      { period: "day", total_minor: 5200 },
      { period: "live", total_minor: 5200 },
      { period: "month", total_minor: 5200 },
      { period: "week", total_minor: 5200 },
    ]);
    const ranking = await call("GET", "/v1/leaderboards/creators?period=day", {
      token: await token("rank-creator-a", "creator"),
    });
    expect(ranking.status).toBe(200);
    const ids = ranking.body.top.map((r: { creatorId: string }) => r.creatorId);
    // The crown (99.90) puts creator b ahead of a (the love letter, 52.00); other creators may rank between or around them.
    expect(ids.filter((id: string) => id === "rank-creator-a" || id === "rank-creator-b")).toEqual([
      "rank-creator-b",
      "rank-creator-a",
    ]);
    expect(ranking.body.me).toMatchObject({ creatorId: "rank-creator-a", totalMinor: 5200 });
    const board = await call("GET", `/v1/rooms/${roomId}/leaderboard?period=day`, { token: await token("rank-fan") });
    expect(board.body).toMatchObject({ period: "day", me: { rank: 1, viewerId: "rank-fan", totalMinor: 5200 } });
    expect(board.body.periodKey).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(
      (await call("GET", `/v1/rooms/${roomId}/leaderboard?period=year`, { token: await token("rank-fan") })).status,
    ).toBe(400);
  });

  it("announces the end of a stream after flushing the open window", async () => {
    const { roomId } = await goLive("end-creator");
    await fund("end-fan", "100.00");
    const viewer = await SocketProbe.open(`/v1/rooms/${roomId}/live?access_token=${await token("end-fan")}`);
    await viewer.next("snapshot");
    await tip(roomId, "end-fan", { kind: "gift", giftId: "rose", quantity: 1 });
    await untilApplied(roomId, async () => (await room(roomId).state()).windowTips === 1, "the tip in the window");
    await call("POST", `/v1/rooms/${roomId}/end`, { token: await token("end-creator", "creator") });
    const ended = await viewer.next("room.ended");
    const merged = viewer.ofType("tips.merged");
    expect(merged).toHaveLength(1);
    // The window is closed (and announced) first, in the same transaction as the end.
    expect(ended.seq).toBe(merged[0].seq + 1);
    expect(ended.room.status).toBe("offline");
    viewer.close();
  });
});

describe("the room's small settings (storage KV API)", () => {
  it("hands out no seq for a frame whose transaction rolls back: KV writes join transactionSync", async () => {
    const { roomId } = await goLive("kv-creator");
    await runInDurableObject(room(roomId), (_instance, state) => {
      const log = new EventLog(state.storage.sql, new RoomSettings(state.storage.kv));
      const before = log.seq();
      expect(before).toBe(1);
      expect(() =>
        state.storage.transactionSync(() => {
          log.append({ type: "alert.skip", alertSeq: 1 }, Date.now());
          throw new Error("rolled back");
        }),
      ).toThrow("rolled back");
      expect(log.seq()).toBe(1);
      expect(log.after(1)).toEqual([]);
      expect(log.append({ type: "alert.skip", alertSeq: 1 }, Date.now()).seq).toBe(2);
    });
  });

  it("carries a room's old meta table into KV once, typed, and drops it", async () => {
    const stub = env.LIVE_ROOM.getByName("room_legacy_meta");
    await runInDurableObject(stub, (_instance, state) => {
      // What a room kept before the KV switch (local dev state only; nothing is deployed).
      state.storage.sql.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
      const rows = [
        ["seq", "41"],
        ["overlayAckSeq", "40"],
        ["roomId", "room_legacy_meta"],
        ["creatorId", "legacy-creator"],
        ["title", "old times"],
        ["status", "live"],
        ["streamId", "str_legacy"],
        ["leaderboardPersistedAtMs", "1700000000000"],
      ];
      for (const [key, value] of rows)
        state.storage.sql.exec("INSERT INTO meta (key, value) VALUES (?, ?)", key, value);
    });
    await evictDurableObject(stub);
    expect(await stub.state()).toEqual({
      room: {
        roomId: "room_legacy_meta",
        creatorId: "legacy-creator",
        title: "old times",
        status: "live",
        streamId: "str_legacy",
      },
      seq: 41,
      sockets: 0,
      fanOutShards: 0,
      windowTips: 0,
    });
    await runInDurableObject(stub, (_instance, state) => {
      expect([...state.storage.kv.list()].sort(([a], [b]) => (a < b ? -1 : 1))).toEqual([
        ["creatorId", "legacy-creator"],
        ["overlayAckSeq", 40],
        ["roomId", "room_legacy_meta"],
        ["seq", 41],
        ["status", "live"],
        ["streamId", "str_legacy"],
        ["title", "old times"],
      ]);
      expect(
        state.storage.sql.exec("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'meta'").one(),
      ).toEqual({ n: 0 });
    });
  });
});
