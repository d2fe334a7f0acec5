/**
 * Big gifts by amount (issue 19, item 6): the instant lane is the gross amount's — at least the
 * platform's threshold (¥500.00 by default) or the room's lower one — whatever the gift, its
 * tier or the quantity; the tier picks only the effect shown.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { RoomEvent } from "../../src/db/messages/room-events";
import { LIMITS } from "../../src/domain/limits";
import { call, config, fund, key, token, withPin } from "./helpers";
import { SocketProbe } from "./socket-probe";

async function goLive(creatorId: string): Promise<string> {
  const res = await call("POST", "/v1/rooms", {
    token: await token(creatorId, "creator"),
    body: { title: "Big gifts" },
  });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

async function tip(roomId: string, viewer: string, body: object) {
  const res = await call("POST", `/v1/rooms/${roomId}/tips`, {
    token: await token(viewer),
    idempotencyKey: key(),
    body: await withPin(viewer, body),
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { tip: res.body.tip, answeredAtMs: Date.now() };
}

const room = (roomId: string) => env.LIVE_ROOM.getByName(roomId);

/** Waits until the room's merge window holds `n` tips (a small tip is applied after its answer). */
async function untilWindowHolds(roomId: string, n: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  while ((await room(roomId).state()).windowTips !== n) {
    if (Date.now() > deadline) throw new Error(`timed out: ${n} tips in ${roomId}'s window`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The instant lane's frame for `tipId`, and how long after the tip's answer it was there. */
async function bigFrameOf(socket: SocketProbe, tipId: string, answeredAtMs: number) {
  await socket.until((frames) => frames.some((f) => f.type === "gift.big" && f.gift.tipId === tipId), 5_000, tipId);
  const frame = socket.ofType("gift.big").find((f) => f.gift.tipId === tipId);
  return { gift: frame.gift, afterAnswerMs: Math.max(0, Date.now() - answeredAtMs) };
}

describe("big gifts by amount", () => {
  it("a ¥500.00 custom tip and 500 roses go out at once; ¥499.99 and 499 roses wait for the merge window", async () => {
    expect(config.bigGiftThresholdMinor).toBe(LIMITS.bigGiftThresholdDefaultMinor);
    expect(config.bigGiftThresholdMinor).toBe(50_000);
    const roomId = await goLive("bigamt-creator");
    await fund("bigamt-fan", "2100.00");
    const viewer = await SocketProbe.open(`/v1/rooms/${roomId}/live?access_token=${await token("bigamt-fan")}`);
    const snapshot = await viewer.next("snapshot");
    expect(snapshot.windowMs).toBe(config.mergeWindowMs);

    const custom = await tip(roomId, "bigamt-fan", { kind: "custom", amount: "500.00" });
    expect(custom.tip).toMatchObject({ amountMinor: 50_000, big: true });
    const customFrame = await bigFrameOf(viewer, custom.tip.id, custom.answeredAtMs);
    // No tier for a custom tip: the overlay shows its default big effect.
    expect(customFrame.gift).toMatchObject({ giftId: null, tier: null, amountMinor: 50_000 });

    // A rose is ¥1.00: 500 of them are exactly ¥500.00, a small-tier gift in the instant lane.
    const roses = await tip(roomId, "bigamt-fan", { kind: "gift", giftId: "rose", quantity: 500 });
    expect(roses.tip).toMatchObject({ amountMinor: 50_000, quantity: 500, big: true });
    const rosesFrame = await bigFrameOf(viewer, roses.tip.id, roses.answeredAtMs);
    // The tier still decides the effect shown.
    expect(rosesFrame.gift).toMatchObject({ giftId: "rose", tier: "small", animationKey: "rose-bloom", quantity: 500 });

    // Neither waited for the window: it is empty, no merged frame has gone out, and both were
    // on the socket well within one window of their answer.
    expect((await room(roomId).state()).windowTips).toBe(0);
    expect(viewer.ofType("tips.merged")).toHaveLength(0);
    for (const f of [customFrame, rosesFrame]) expect(f.afterAnswerMs).toBeLessThan(config.mergeWindowMs);

    const below = await tip(roomId, "bigamt-fan", { kind: "custom", amount: "499.99" });
    const fewerRoses = await tip(roomId, "bigamt-fan", { kind: "gift", giftId: "rose", quantity: 499 });
    expect([below.tip.big, fewerRoses.tip.big]).toEqual([false, false]);
    await untilWindowHolds(roomId, 2);
    const smallIds = new Set([below.tip.id, fewerRoses.tip.id]);
    expect(viewer.ofType("gift.big").filter((f) => smallIds.has(f.gift.tipId))).toHaveLength(0);
    expect(await runDurableObjectAlarm(room(roomId))).toBe(true);
    const merged = await viewer.next("tips.merged");
    expect(merged.merged).toMatchObject({ tipCount: 2, totalMinor: 49_999 + 49_900 });
    expect(viewer.ofType("gift.big")).toHaveLength(2);
    viewer.close();
  });

  it("a room lowers its threshold to ¥100.00 (then ¥100.00 is instant); raising it above the platform's is refused", async () => {
    const roomId = await goLive("bigamt-low-creator");
    const creator = await token("bigamt-low-creator", "creator");
    const lowered = await call("PATCH", `/v1/rooms/${roomId}`, {
      token: creator,
      body: { bigGiftThresholdMinor: 10_000 },
    });
    expect(lowered.status).toBe(200);
    expect(lowered.body).toMatchObject({ bigGiftThresholdMinor: 10_000, effectiveBigGiftThresholdMinor: 10_000 });

    await fund("bigamt-low-fan", "300.00");
    const viewer = await SocketProbe.open(`/v1/rooms/${roomId}/live?access_token=${await token("bigamt-low-fan")}`);
    await viewer.next("snapshot");
    const hundred = await tip(roomId, "bigamt-low-fan", { kind: "custom", amount: "100.00" });
    expect(hundred.tip.big).toBe(true);
    const frame = await bigFrameOf(viewer, hundred.tip.id, hundred.answeredAtMs);
    expect(frame.afterAnswerMs).toBeLessThan(config.mergeWindowMs);
    expect((await room(roomId).state()).windowTips).toBe(0);
    const under = await tip(roomId, "bigamt-low-fan", { kind: "gift", giftId: "rose", quantity: 99 });
    expect(under.tip.big).toBe(false);
    await untilWindowHolds(roomId, 1);

    // Above the platform's: refused with a stable code, nothing changed.
    for (const body of [{ bigGiftThresholdMinor: 50_001 }, { title: "Higher", bigGiftThresholdMinor: 52_000 }]) {
      const raised = await call("PATCH", `/v1/rooms/${roomId}`, { token: creator, body });
      expect(raised.status).toBe(422);
      expect(raised.body.error).toMatchObject({
        code: "threshold_above_platform",
        details: { platformThresholdMinor: 50_000 },
      });
    }
    const read = await call("GET", `/v1/rooms/${roomId}`, { token: creator });
    expect(read.body).toMatchObject({ title: "Big gifts", bigGiftThresholdMinor: 10_000 });
    // Exactly the platform's is allowed (not a raise); null goes back to it.
    const equal = await call("PATCH", `/v1/rooms/${roomId}`, {
      token: creator,
      body: { bigGiftThresholdMinor: 50_000 },
    });
    expect(equal.body).toMatchObject({ bigGiftThresholdMinor: 50_000, effectiveBigGiftThresholdMinor: 50_000 });
    const hundredAgain = await tip(roomId, "bigamt-low-fan", { kind: "custom", amount: "100.00" });
    expect(hundredAgain.tip.big).toBe(false);
    viewer.close();
  });

  it("a room's stored threshold above the platform's does not raise it", async () => {
    const roomId = await goLive("bigamt-stale-creator");
    // As if the platform lowered its threshold after the room chose one.
    await env.CONTROL.prepare("UPDATE rooms SET big_gift_threshold_minor = 80000 WHERE id = ?").bind(roomId).run();
    const read = await call("GET", `/v1/rooms/${roomId}`, { token: await token("bigamt-stale-fan") });
    expect(read.body).toMatchObject({ bigGiftThresholdMinor: 80_000, effectiveBigGiftThresholdMinor: 50_000 });
    await fund("bigamt-stale-fan", "600.00");
    expect((await tip(roomId, "bigamt-stale-fan", { kind: "custom", amount: "500.00" })).tip.big).toBe(true);
  });

  it("an operator with room.moderate changes it, audited; one without the permission cannot", async () => {
    const roomId = await goLive("bigamt-op-creator");
    const auditor = await call("PATCH", `/v1/rooms/${roomId}`, {
      token: await token("bigamt-op-auditor", "auditor"),
      body: { bigGiftThresholdMinor: 20_000 },
    });
    expect(auditor.status).toBe(403);
    const ops = await token("bigamt-op-ops", "ops");
    const tooHigh = await call("PATCH", `/v1/rooms/${roomId}`, { token: ops, body: { bigGiftThresholdMinor: 60_000 } });
    expect(tooHigh.body.error.code).toBe("threshold_above_platform");
    const set = await call("PATCH", `/v1/rooms/${roomId}`, { token: ops, body: { bigGiftThresholdMinor: 20_000 } });
    expect(set.status).toBe(200);
    expect(set.body.effectiveBigGiftThresholdMinor).toBe(20_000);
    const entries = await env.CONTROL.prepare(
      "SELECT actor, detail FROM audit_log WHERE action = 'room_settings.set' AND target = ? ORDER BY seq",
    )
      .bind(roomId)
      .all<{ actor: string; detail: string }>();
    expect(entries.results).toHaveLength(1);
    expect(entries.results[0]?.actor).toBe("bigamt-op-ops");
    expect(JSON.parse(entries.results[0]?.detail ?? "{}")).toMatchObject({
      before: { bigGiftThresholdMinor: null },
      after: { bigGiftThresholdMinor: 20_000, titleChanged: false },
    });
    // The creator's own change is theirs, not an operator action: no entry.
    await call("PATCH", `/v1/rooms/${roomId}`, {
      token: await token("bigamt-op-creator", "creator"),
      body: { bigGiftThresholdMinor: null },
    });
    const after = await env.CONTROL.prepare(
      "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'room_settings.set' AND target = ?",
    )
      .bind(roomId)
      .first<{ n: number }>();
    expect(after?.n).toBe(1);
  });
});

describe("the stream.started announcement", () => {
  it("carries no big-gift threshold (tips carry `big`; pages read the effective threshold from the room), and older rows with one still parse", async () => {
    const creatorId = `bigamt-announce-${crypto.randomUUID().slice(0, 8)}`;
    const creator = await token(creatorId, "creator", "viewer");
    const roomId = await goLive(creatorId);
    await call("PATCH", `/v1/rooms/${roomId}`, { token: creator, body: { bigGiftThresholdMinor: 10_000 } });
    expect((await call("POST", `/v1/rooms/${roomId}/end`, { token: creator })).status).toBe(200);
    const again = await call("POST", "/v1/rooms", { token: creator, body: { title: "Again" } });
    expect(again.status).toBe(201);
    const streamId = again.body.stream.id as string;
    const row = await env.CONTROL.prepare("SELECT payload FROM room_outbox WHERE id = ?")
      .bind(`${streamId}:started`)
      .first<{ payload: string }>();
    const payload = JSON.parse(row?.payload ?? "null");
    expect(payload).toEqual({
      type: "stream.started",
      id: `${streamId}:started`,
      roomId,
      streamId,
      creatorId,
      title: "Again",
      atMs: payload.atMs,
    });
    expect(Number.isSafeInteger(payload.atMs)).toBe(true);
    // A row written before carried the room's raw threshold: it parses, and the field is dropped.
    expect(RoomEvent.parse({ ...payload, bigGiftThresholdMinor: 10_000 })).toEqual(payload);
    // The room still answers its effective threshold for the pages.
    const read = await call("GET", `/v1/rooms/${roomId}`, { token: creator });
    expect(read.body).toMatchObject({ bigGiftThresholdMinor: 10_000, effectiveBigGiftThresholdMinor: 10_000 });
  });
});
