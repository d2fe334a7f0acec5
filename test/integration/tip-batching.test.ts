/**
 * The room's tip group commit (src/durable-objects/live-room.tips.ts): many viewers' tips in
 * one batch per ledger shard, each with its own guards and Idempotency-Key record; answered
 * after commit; applied by the room once, also when the room "restarts" between commit and
 * apply (the outbox delivers it).
 */
import { env, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { requestFingerprint } from "../../src/domain/idempotency";
import type { LiveRoom } from "../../src/durable-objects/live-room";
import type { TipAnswer, TipBatchStats, TipSubmission } from "../../src/durable-objects/live-room.tips";
import { createLogger } from "../../src/platform/logger";
import { canonicalJson } from "../../src/worker/idempotency";
import { deliverOutbox } from "../../src/worker/rooms/outbox";
import { balanceOf, call, fund, invariantReport, key, ledger, openRoom, settleTransit, token, until } from "./helpers";

const room = (roomId: string) => env.LIVE_ROOM.getByName(roomId);

function tip(roomId: string, as: string, body: unknown, idempotencyKey: string) {
  return call("POST", `/v1/rooms/${roomId}/tips`, { token: as, body, idempotencyKey });
}

async function stats(roomId: string): Promise<TipBatchStats> {
  return runInDurableObject(room(roomId), (instance: LiveRoom) => ({ ...instance.tips.stats }));
}

/** A submission as the Worker builds it, for calling the room's RPC directly (one flush). */
async function submission(roomId: string, viewerId: string, giftId: string): Promise<TipSubmission> {
  const body = { kind: "gift", giftId, quantity: 1 };
  const requestHash = await requestFingerprint("POST", `/v1/rooms/${roomId}/tips`, canonicalJson({ roomId, ...body }));
  return { roomId, viewerId, ask: { kind: "gift", giftId, quantity: 1 }, confirmed: false, key: key(), requestHash };
}

async function liveBoard(roomId: string, viewerId: string) {
  return room(roomId).leaderboard("live", viewerId, 10);
}

describe("tips group-committed by the room", () => {
  const VIEWERS = 24;
  let roomId: string;
  beforeAll(async () => {
    roomId = await openRoom("batch-creator");
    for (let v = 0; v < VIEWERS; v++) await fund(`batch-viewer-${v}`, "50.00");
  });

  it("commits many viewers' concurrent tips across shards in few batches, each answered and applied once", async () => {
    const before = await stats(roomId);
    const tokens = await Promise.all(Array.from({ length: VIEWERS }, (_, v) => token(`batch-viewer-${v}`)));
    const TIPS_EACH = 3;
    const responses = await Promise.all(
      tokens.flatMap((t) =>
        Array.from({ length: TIPS_EACH }, () => tip(roomId, t, { kind: "gift", giftId: "rose", quantity: 1 }, key())),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(responses.map(() => 201));
    expect(new Set(responses.map((r) => r.body.tip.id)).size).toBe(VIEWERS * TIPS_EACH);
    const after = await stats(roomId);
    expect(after.tips - before.tips).toBe(VIEWERS * TIPS_EACH);
    // Grouped: fewer flushes than tips (each flush is one control read and one batch per shard).
    expect(after.flushes - before.flushes).toBeLessThan(VIEWERS * TIPS_EACH);
    for (let v = 0; v < VIEWERS; v++) {
      expect(await balanceOf(`user:batch-viewer-${v}:wallet`)).toBe(5_000 - TIPS_EACH * 100);
      // Applied by the room exactly once each: every tip counts on the live board once.
      expect((await liveBoard(roomId, `batch-viewer-${v}`)).me).toMatchObject({
        totalMinor: TIPS_EACH * 100,
        tipCount: TIPS_EACH,
      });
    }
    // The room marked its applied outbox rows delivered: the sweeper has nothing to redo.
    const l = await ledger();
    const undelivered = async () => {
      let n = 0;
      for (const s of l.shards) {
        n +=
          (await s.db
            .prepare("SELECT COUNT(*) AS n FROM room_outbox WHERE room_id = ? AND delivered_at_ms IS NULL")
            .bind(roomId)
            .first<number>("n")) ?? 0;
      }
      return n;
    };
    expect(await until(undelivered, (n) => n === 0)).toBe(0);
    await settleTransit();
    expect(await balanceOf("creator:batch-creator:pending")).toBe(VIEWERS * TIPS_EACH * 70);
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("a failed guard in a batch rejects only its own tip", async () => {
    await fund("batch-poor", "1.00");
    const submissions = [
      await submission(roomId, "batch-viewer-0", "rose"),
      await submission(roomId, "batch-poor", "lucky-cat"), // 9.90 from a wallet of 1.00
      await submission(roomId, "batch-viewer-1", "rose"),
      await submission(roomId, "batch-viewer-2", "rose"),
    ];
    const before = await stats(roomId);
    const answers: TipAnswer[] = await Promise.all(submissions.map((s) => room(roomId).tip(s)));
    const after = await stats(roomId);
    expect(after.flushes - before.flushes).toBe(1); // one flush: one batch per shard
    expect(answers.map((a) => (a.kind === "response" ? a.status : a.code))).toEqual([
      201,
      "insufficient_funds",
      201,
      201,
    ]);
    expect(await balanceOf("user:batch-poor:wallet")).toBe(100);
    // The refused tip wrote nothing: its key is free, and succeeds once the wallet is funded.
    const poorKey = submissions[1] as TipSubmission;
    const shard = (await ledger()).forOwner("batch-poor");
    const record = await shard.db
      .prepare("SELECT COUNT(*) AS n FROM idempotency_keys WHERE principal_id = 'batch-poor' AND key = ?")
      .bind(poorKey.key)
      .first<number>("n");
    expect(record).toBe(0);
    await fund("batch-poor", "10.00");
    const retried = await room(roomId).tip(poorKey);
    expect(retried).toMatchObject({ kind: "response", status: 201, replayed: false });
    expect(await balanceOf("user:batch-poor:wallet")).toBe(1_100 - 990);
  });

  it("the same key twice at once: one tip, the other told it is in flight; after commit, a byte-exact replay", async () => {
    const t = await token("batch-viewer-3");
    const k = key();
    const body = { kind: "gift", giftId: "rose", quantity: 2 };
    const balance = await balanceOf("user:batch-viewer-3:wallet");
    const [a, b] = await Promise.all([tip(roomId, t, body, k), tip(roomId, t, body, k)]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([201, 409]);
    const created = a.status === 201 ? a : b;
    const busy = a.status === 201 ? b : a;
    expect(busy.body.error.code).toBe("idempotency_key_in_flight");
    expect(await balanceOf("user:batch-viewer-3:wallet")).toBe(balance - 200);
    expect(created.body.walletBalanceMinor).toBe(balance - 200);

    const again = await tip(roomId, t, body, k);
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body).toEqual(created.body);
    const other = await tip(roomId, t, { ...body, quantity: 3 }, k);
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe("idempotency_key_reused");
    expect(await balanceOf("user:batch-viewer-3:wallet")).toBe(balance - 200);
    expect((await liveBoard(roomId, "batch-viewer-3")).me).toMatchObject({ tipCount: 4, totalMinor: 500 });
  });

  it("the room restarting after the commit and before applying: the retry replays, the outbox delivers it exactly once", async () => {
    const viewer = "batch-viewer-4";
    const t = await token(viewer);
    const k = key();
    const body = { kind: "gift", giftId: "rose", quantity: 1 };
    const board = (await liveBoard(roomId, viewer)).me;
    await runInDurableObject(room(roomId), (instance: LiveRoom) => {
      instance.tips.afterCommit = () => {
        throw new Error("the room restarted");
      };
    });
    const lost = await tip(roomId, t, body, k);
    expect(lost.status).toBe(500);
    await runInDurableObject(room(roomId), (instance: LiveRoom) => {
      instance.tips.afterCommit = null;
    });
    // Committed, not applied: the board is as before, the outbox row waits.
    expect((await liveBoard(roomId, viewer)).me).toEqual(board);
    const l = await ledger();
    const shard = l.forOwner(viewer);
    const pending = await shard.db
      .prepare("SELECT id FROM room_outbox WHERE room_id = ? AND delivered_at_ms IS NULL")
      .bind(roomId)
      .all<{ id: string }>();
    expect(pending.results).toHaveLength(1);

    // The client retries with the same key: the stored answer, byte for byte.
    const retried = await tip(roomId, t, body, k);
    expect(retried.status).toBe(201);
    expect(retried.headers.get("idempotent-replayed")).toBe("true");
    const tipId = retried.body.tip.id as string;
    expect(pending.results[0]?.id).toBe(tipId);
    expect(await balanceOf(`user:${viewer}:wallet`)).toBe(5_000 - 300 - 100);

    // The outbox (queue or sweeper) delivers it: applied once, and a second delivery changes nothing.
    const log = createLogger({ test: "tip-batching" });
    expect(await deliverOutbox(env, l, shard.index, [tipId], log)).toEqual([]);
    const applied = await room(roomId).deliver([JSON.parse(await payloadOf(shard.db, tipId))]);
    expect(applied).toEqual({ applied: [], duplicates: [tipId] });
    expect((await liveBoard(roomId, viewer)).me).toMatchObject({
      tipCount: (board?.tipCount ?? 0) + 1,
      totalMinor: (board?.totalMinor ?? 0) + 100,
    });
    expect((await invariantReport()).violations).toEqual([]);
  });
});

async function payloadOf(db: D1Database, id: string): Promise<string> {
  const row = await db.prepare("SELECT payload FROM room_outbox WHERE id = ?").bind(id).first<{ payload: string }>();
  if (!row) throw new Error(`no outbox row ${id}`);
  return row.payload;
}
