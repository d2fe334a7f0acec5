/**
 * The room's notices to its creator (src/durable-objects/live-room.notices.ts): the tips it
 * applies in a minute become one `tips_merged` notice when the minute closes, each big gift
 * its own `big_gift` notice; re-applied tips and repeated flushes send nothing twice.
 */
import { env, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { sendCreatorNotices } from "../../src/db/messages/creator-notices";
import type { CreatorNotice } from "../../src/domain/notices";
import type { LiveRoom } from "../../src/durable-objects/live-room";
import { MINUTE_MS } from "../../src/durable-objects/live-room.notices";
import { call, fund, key, openRoom, shardDbOf, token, until, withPin } from "./helpers";

const room = (roomId: string) => env.LIVE_ROOM.getByName(roomId);

/** Flushes the room's notices as its alarm would at `atMs`, through the real queue, recording what it sent. */
function flushAt(roomId: string, atMs: number): Promise<CreatorNotice[]> {
  return runInDurableObject(room(roomId), async (instance: LiveRoom) => {
    const sent: CreatorNotice[] = [];
    await instance.notices.flush(async (notices) => {
      sent.push(...notices);
      await sendCreatorNotices(env.CREATOR_NOTICES, notices);
    }, atMs);
    return sent;
  });
}

function pendingMinutes(roomId: string): Promise<number> {
  return runInDurableObject(room(roomId), (_instance: LiveRoom, state) =>
    Number(state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM notice_minutes").one().n),
  );
}

async function inboxOf(creatorId: string) {
  const { results } = await (await shardDbOf(creatorId))
    .prepare("SELECT id, kind, vars FROM inbox_messages WHERE creator_id = ? ORDER BY kind, id")
    .bind(creatorId)
    .all<{ id: string; kind: string; vars: string }>();
  return results.map((r) => ({ ...r, vars: JSON.parse(r.vars) as Record<string, unknown> }));
}

/** Waits until at least 15 s remain in the current minute, so the tips below land in one. */
async function startOfAMinute(): Promise<void> {
  const intoMinute = Date.now() % MINUTE_MS;
  if (intoMinute > MINUTE_MS - 15_000) await new Promise((r) => setTimeout(r, MINUTE_MS - intoMinute + 50));
}

describe("notices from the room", () => {
  const creatorId = "notice-creator";
  const VIEWERS = 4;
  let roomId: string;
  beforeAll(async () => {
    roomId = await openRoom(creatorId);
    for (let v = 0; v < VIEWERS; v++) await fund(`notice-viewer-${v}`, "6000.00");
    await withPin("notice-viewer-0", {}); // its rocket is above the password-free limits
  });

  it("merges a minute of tips into one notice with the exact count and sum, and each big gift into its own", async () => {
    const tokens = await Promise.all(Array.from({ length: VIEWERS }, (_, v) => token(`notice-viewer-${v}`)));
    const asks = [
      { kind: "gift", giftId: "rose", quantity: 1 },
      { kind: "gift", giftId: "rose", quantity: 3 },
      { kind: "custom", amount: "6.66" },
    ];
    await startOfAMinute();
    const minuteMs = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
    const small = await Promise.all(
      Array.from({ length: 15 }, (_, i) =>
        call("POST", `/v1/rooms/${roomId}/tips`, {
          token: tokens[i % VIEWERS],
          body: asks[i % asks.length],
          idempotencyKey: key(),
        }),
      ),
    );
    const big = await call("POST", `/v1/rooms/${roomId}/tips`, {
      token: tokens[0],
      body: await withPin("notice-viewer-0", { kind: "gift", giftId: "rocket", quantity: 1 }),
      idempotencyKey: key(),
    });
    const tips = [...small, big];
    expect(tips.map((t) => t.status)).toEqual(tips.map(() => 201));
    const grossMinor = tips.reduce((sum, t) => sum + (t.body.tip.amountMinor as number), 0);
    expect(grossMinor).toBe(5 * 100 + 5 * 300 + 5 * 666 + 500_000);

    // The minute is still open: flushing now sends at most the big gift (the room's alarm may have already).
    const early = await flushAt(roomId, Date.now());
    expect(early.filter((n) => n.kind === "tips_merged")).toEqual([]);

    const closed = await flushAt(roomId, minuteMs + MINUTE_MS);
    expect(closed.filter((n) => n.kind === "tips_merged")).toEqual([
      {
        id: `tips:${creatorId}:${minuteMs}`,
        creatorId,
        kind: "tips_merged",
        vars: { roomId, minuteStartMs: minuteMs, tipCount: 16, giftCount: 5 + 15 + 5 + 1, grossMinor },
        atMs: minuteMs + MINUTE_MS,
      },
    ]);
    expect(await pendingMinutes(roomId)).toBe(0);
    // A second flush has nothing left to send.
    expect(await flushAt(roomId, minuteMs + 2 * MINUTE_MS)).toEqual([]);

    const inbox = await until(
      () => inboxOf(creatorId),
      (rows) => rows.length >= 2,
    );
    expect(inbox).toEqual([
      {
        id: `big:${big.body.tip.id}`,
        kind: "big_gift",
        vars: {
          tipId: big.body.tip.id,
          roomId,
          viewerId: "notice-viewer-0",
          giftName: "Rocket",
          quantity: 1,
          amountMinor: 500_000,
          atMs: big.body.tip.createdAtMs,
        },
      },
      {
        id: `tips:${creatorId}:${minuteMs}`,
        kind: "tips_merged",
        vars: { roomId, minuteStartMs: minuteMs, tipCount: 16, giftCount: 26, grossMinor },
      },
    ]);

    // The creator reads it in their words.
    const read = await call("GET", "/v1/creators/me/inbox?locale=en", { token: await token(creatorId, "creator") });
    expect(read.body.items.map((i: { body: string }) => i.body)).toContain(
      `26 gifts, ¥${(grossMinor / 100).toFixed(2)} in the last minute (${new Intl.DateTimeFormat("en-CA", {
        timeZone: "Asia/Shanghai",
        year: "numeric",
        month: "2-digit",
        day: "2-digit",
      }).format(minuteMs)} ${new Intl.DateTimeFormat("en-GB", {
        timeZone: "Asia/Shanghai",
        hour: "2-digit",
        minute: "2-digit",
        hourCycle: "h23",
      }).format(minuteMs)})`,
    );
  });

  it("counts a tip the room hears again (outbox redelivery) once: no new minute, no second notice", async () => {
    const as = await token("notice-viewer-1");
    await startOfAMinute();
    const res = await call("POST", `/v1/rooms/${roomId}/tips`, {
      token: as,
      body: { kind: "gift", giftId: "rose", quantity: 1 },
      idempotencyKey: key(),
    });
    expect(res.status).toBe(201);
    const minuteMs = Math.floor(res.body.tip.createdAtMs / MINUTE_MS) * MINUTE_MS;
    const event = {
      type: "tip",
      id: res.body.tip.id,
      roomId,
      streamId: res.body.tip.streamId,
      creatorId,
      viewerId: "notice-viewer-1",
      giftId: "rose",
      giftName: "Rose",
      tier: "small",
      animationKey: "rose-bloom",
      quantity: 1,
      amountMinor: 100,
      big: false,
      createdAtMs: res.body.tip.createdAtMs,
    };
    const again = await room(roomId).deliver([event]);
    expect(again).toEqual({ applied: [], duplicates: [res.body.tip.id] });
    const sent = await flushAt(roomId, Date.now() + 2 * MINUTE_MS);
    expect(sent.map((n) => [n.kind, n.vars])).toEqual([
      ["tips_merged", { roomId, minuteStartMs: expect.any(Number), tipCount: 1, giftCount: 1, grossMinor: 100 }],
    ]);
    expect(sent[0]?.id.startsWith(`tips:${creatorId}:`)).toBe(true);
    expect(Number(sent[0]?.id.split(":")[2])).toBeGreaterThanOrEqual(minuteMs);
  });

  it("arms the room's alarm for the end of an open minute", async () => {
    const as = await token("notice-viewer-2");
    const res = await call("POST", `/v1/rooms/${roomId}/tips`, {
      token: as,
      body: { kind: "gift", giftId: "rose", quantity: 1 },
      idempotencyKey: key(),
    });
    expect(res.status).toBe(201);
    const due = await runInDurableObject(room(roomId), (instance: LiveRoom) => instance.notices.nextDueMs(0));
    const open = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
    // The minute it was applied in (this one or, across a boundary, the previous).
    expect([open, open + MINUTE_MS]).toContain(due);
    const alarm = await runInDurableObject(room(roomId), (_i: LiveRoom, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
    expect(alarm as number).toBeLessThanOrEqual(due as number);
  });

  it("keeps an open minute's counts when the room is evicted mid-minute (they are in its SQLite)", async () => {
    const as = await token("notice-viewer-3");
    // Whatever earlier tests left open is sent first, so only this test's tips remain.
    await flushAt(roomId, Date.now() + 2 * MINUTE_MS);
    await startOfAMinute();
    const sent = [];
    for (const quantity of [2, 5]) {
      sent.push(
        await call("POST", `/v1/rooms/${roomId}/tips`, {
          token: as,
          body: { kind: "gift", giftId: "rose", quantity },
          idempotencyKey: key(),
        }),
      );
    }
    expect(sent.map((r) => r.status)).toEqual([201, 201]);
    await evictDurableObject(room(roomId));
    const closed = await flushAt(roomId, Date.now() + 2 * MINUTE_MS);
    expect(closed.map((n) => [n.kind, n.vars])).toEqual([
      ["tips_merged", { roomId, minuteStartMs: expect.any(Number), tipCount: 2, giftCount: 7, grossMinor: 700 }],
    ]);
  });
});
