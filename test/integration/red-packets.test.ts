import {
  createScheduledController,
  evictDurableObject,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { LiveRoom } from "../../src/durable-objects/live-room";
import {
  balanceOf,
  call,
  config,
  fund,
  invariantReport,
  key,
  ledger,
  ledgerSnapshot,
  openRoom,
  operatorToken,
  settleTransit,
  shardDbOfId,
  token,
} from "./helpers";
import { SocketProbe } from "./socket-probe";

const quiet = { info() {}, warn() {}, error() {} };
const room = (roomId: string) => env.LIVE_ROOM.getByName(roomId);

async function send(roomId: string, senderId: string, body: Record<string, unknown>, idempotencyKey = key()) {
  return call("POST", `/v1/rooms/${roomId}/red-packets`, {
    token: await token(senderId),
    idempotencyKey,
    body,
  });
}

async function claim(roomId: string, packetId: string, userId: string, extraClaims: Record<string, unknown> = {}) {
  const { mintToken } = await import("../../dev/tokens");
  const t =
    Object.keys(extraClaims).length === 0
      ? await token(userId)
      : await mintToken(config, { userId, roles: ["viewer"] }, Date.now(), 3600, extraClaims);
  return call("POST", `/v1/rooms/${roomId}/red-packets/${packetId}/claims`, { token: t });
}

/** Claims until the answer is not `packet_busy` (what a client does with the Retry-After hint). */
async function claimPatiently(roomId: string, packetId: string, userId: string) {
  for (let attempt = 0; ; attempt++) {
    const res = await claim(roomId, packetId, userId);
    if (res.status !== 429 || attempt > 50) return res;
    await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
  }
}

async function packetRow(packetId: string) {
  return (await shardDbOfId(packetId))
    .prepare("SELECT * FROM red_packets WHERE id = ?")
    .bind(packetId)
    .first<Record<string, number | string>>();
}

/** Waits for the ledger queue to credit `count` claims of a packet (the real queue, in workerd). */
async function creditsLanded(packetId: string, count: number, timeoutMs = 20_000) {
  const start = Date.now();
  for (;;) {
    const row = await packetRow(packetId);
    if (row && Number(row.credited_count) >= count) return row;
    if (Date.now() - start > timeoutMs)
      throw new Error(`credits for ${packetId}: ${row?.credited_count} of ${count} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Moves a packet's expiry into the past, in the ledger and in its room (the clock cannot be moved). */
async function expireNow(roomId: string, packetId: string, agoMs = 1_000) {
  const at = Date.now() - agoMs;
  await (await shardDbOfId(packetId))
    .prepare("UPDATE red_packets SET expires_at_ms = ? WHERE id = ?")
    .bind(at, packetId)
    .run();
  await runInDurableObject(room(roomId), async (_instance: LiveRoom, state) => {
    state.storage.sql.exec("UPDATE packets SET expires_at_ms = ? WHERE id = ?", at, packetId);
  });
}

/** The environment with each ledger shard binding (LEDGER_n) replaced by `fake(real)`. */
function withShards(base: Env, fake: (db: D1Database) => unknown): Env {
  const copy: Record<string, unknown> = { ...base };
  for (const name of Object.keys(copy)) {
    if (/^LEDGER_\d+$/.test(name)) copy[name] = fake(copy[name] as D1Database);
  }
  return copy as unknown as Env;
}

async function liveRoom(creatorId: string, funded: Record<string, string>) {
  const roomId = await openRoom(creatorId);
  for (const [user, amount] of Object.entries(funded)) await fund(user, amount);
  return roomId;
}

describe("sending a red packet", () => {
  it("moves the total from the wallet into escrow, announces it, and replays on the same key", async () => {
    const roomId = await liveRoom("rp-creator-1", { "rp-sender-1": "100.00" });
    const k = key();
    const res = await send(roomId, "rp-sender-1", { total: "88.88", shares: 10, greeting: "大吉大利" }, k);
    expect(res.status).toBe(201);
    const packet = res.body.packet;
    expect(packet).toMatchObject({
      totalMinor: 8888,
      total: "88.88",
      shares: 10,
      split: "lucky",
      audience: "everyone",
    });
    expect(packet.expiresAtMs - packet.createdAtMs).toBe(24 * 3600 * 1000);
    expect(res.body.walletBalanceMinor).toBe(1112);
    expect(await balanceOf(`packet:${packet.id}:escrow`)).toBe(8888);

    const replay = await send(roomId, "rp-sender-1", { total: "88.88", shares: 10, greeting: "大吉大利" }, k);
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await balanceOf("user:rp-sender-1:wallet")).toBe(1112);

    const open = await call("GET", `/v1/rooms/${roomId}/red-packets`, { token: await token("someone") });
    expect(open.body.packets.map((p: { id: string }) => p.id)).toEqual([packet.id]);
    expect(open.body.packets[0]).toMatchObject({ remainingShares: 10, status: "open" });
    expect((await invariantReport()).ok).toBe(true);
  });

  it("rejects bad packets with a stable code and changes nothing", async () => {
    const roomId = await liveRoom("rp-creator-2", { "rp-sender-2": "10.00" });
    const before = await ledgerSnapshot();
    const cases: [Record<string, unknown>, number, string][] = [
      [{ total: "0.09", shares: 10 }, 422, "amount_out_of_range"],
      [{ total: "20000.01", shares: 100 }, 422, "amount_out_of_range"],
      [{ total: "1.00", shares: 0 }, 400, "malformed_request"],
      [{ total: "1.005", shares: 1 }, 400, "malformed_request"],
      [{ total: "11.00", shares: 2 }, 409, "insufficient_funds"],
      [{ shares: 2 }, 400, "malformed_request"],
      [{ total: "1.00", shares: 1, ttlSeconds: 10 }, 400, "malformed_request"],
      [{ total: "1.00", shares: 1, split: "random" }, 400, "malformed_request"],
      [{ total: "1.00", shares: 1, color: "red" }, 400, "malformed_request"],
    ];
    for (const [body, status, code] of cases) {
      const res = await send(roomId, "rp-sender-2", body);
      expect({ body, status: res.status, code: res.body.error?.code }).toEqual({ body, status, code });
    }
    const noKey = await call("POST", `/v1/rooms/${roomId}/red-packets`, {
      token: await token("rp-sender-2"),
      body: { total: "1.00", shares: 1 },
    });
    expect(noKey.body.error.code).toBe("idempotency_key_missing");
    expect(await ledgerSnapshot()).toBe(before);
    // Ending the room writes (the room, its stream); the refusal after it does not.
    await call("POST", `/v1/rooms/${roomId}/end`, { token: await token("rp-creator-2", "creator") });
    const ended = await ledgerSnapshot();
    const offline = await send(roomId, "rp-sender-2", { total: "1.00", shares: 1 });
    expect(offline.body.error.code).toBe("room_not_live");
    expect(await ledgerSnapshot()).toBe(ended);
  });
});

describe("claiming", () => {
  it("lucky: one claim per user, never more than the shares, Σ = total, credited through the queue", async () => {
    const roomId = await liveRoom("rp-creator-3", { "rp-sender-3": "50.00" });
    const sent = await send(roomId, "rp-sender-3", { total: "10.00", shares: 5 });
    const packetId = sent.body.packet.id;
    const amounts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await claim(roomId, packetId, `rp-grabber-${i}`);
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ alreadyClaimed: false, claim: { index: i, packetId } });
      expect(res.body.claim.amountMinor).toBeGreaterThanOrEqual(1);
      amounts.push(res.body.claim.amountMinor);
    }
    expect(amounts.reduce((a, b) => a + b, 0)).toBe(1000);

    const again = await claim(roomId, packetId, "rp-grabber-2");
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ alreadyClaimed: true, claim: { amountMinor: amounts[2], index: 2 } });
    const late = await claim(roomId, packetId, "rp-latecomer");
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe("packet_exhausted");

    const row = await creditsLanded(packetId, 5);
    expect(row).toMatchObject({ status: "exhausted", credited_minor: 1000, credited_count: 5 });
    await settleTransit(); // grabbers in other shards than the sender's are paid through transit
    for (let i = 0; i < 5; i++) expect(await balanceOf(`user:rp-grabber-${i}:wallet`)).toBe(amounts[i]);
    expect(await balanceOf(`packet:${packetId}:escrow`)).toBe(0);

    const list = await call("GET", `/v1/rooms/${roomId}/red-packets/${packetId}/claims`, {
      token: await token("rp-grabber-0"),
    });
    expect(list.body.finished).toBe(true);
    const best = Math.max(...amounts);
    const luckiest = list.body.claims.filter((c: { luckiest: boolean }) => c.luckiest);
    expect(luckiest).toHaveLength(1);
    expect(luckiest[0].amountMinor).toBe(best);
    expect(luckiest[0].index).toBe(amounts.indexOf(best));

    const detail = await call("GET", `/v1/rooms/${roomId}/red-packets/${packetId}`, {
      token: await token("rp-grabber-4"),
    });
    expect(detail.body).toMatchObject({
      live: { remainingShares: 0, status: "exhausted" },
      myClaim: { amountMinor: amounts[4] },
      ledger: { status: "exhausted", creditedCount: 5, creditedMinor: 1000, refundedMinor: 0 },
    });
    expect((await invariantReport()).ok).toBe(true);
  });

  it("equal: total ÷ shares with the extra fen to the first claims", async () => {
    const roomId = await liveRoom("rp-creator-4", { "rp-sender-4": "50.00" });
    const sent = await send(roomId, "rp-sender-4", { total: "10.01", shares: 3, split: "equal" });
    const got: number[] = [];
    for (const u of ["eq-a", "eq-b", "eq-c"])
      got.push((await claim(roomId, sent.body.packet.id, u)).body.claim.amountMinor);
    expect(got).toEqual([334, 334, 333]);
    // 手气最佳 on a tie is the earliest claim.
    const list = await call("GET", `/v1/rooms/${roomId}/red-packets/${sent.body.packet.id}/claims`, {
      token: await token("eq-c"),
    });
    expect(list.body.luckiestIndex).toBe(0);
    expect(list.body.claims.map((c: { luckiest: boolean }) => c.luckiest)).toEqual([true, false, false]);
    await creditsLanded(sent.body.packet.id, 3);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("unknown packets answer 404; follower-only packets need the host's follows claim", async () => {
    const roomId = await liveRoom("rp-creator-5", { "rp-sender-5": "50.00" });
    const missing = await claim(roomId, "packet_01JDEM00000000000000000000", "x");
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("packet_not_found");
    const sent = await send(roomId, "rp-sender-5", { total: "5.00", shares: 2, audience: "followers" });
    const packetId = sent.body.packet.id;
    const stranger = await claim(roomId, packetId, "rp-stranger");
    expect(stranger.status).toBe(403);
    expect(stranger.body.error.code).toBe("packet_followers_only");
    const strangerRead = await call("GET", `/v1/rooms/${roomId}/red-packets/${packetId}`, {
      token: await token("rp-stranger"),
    });
    expect(strangerRead.status).toBe(403);
    const fan = await claim(roomId, packetId, "rp-fan", { follows: ["rp-creator-5"] });
    expect(fan.status).toBe(201);
    // A packet of another room is not found through this one.
    const otherRoom = await liveRoom("rp-creator-5b", {});
    expect((await claim(otherRoom, packetId, "rp-fan")).status).toBe(404);
  });

  it("a room that never heard of the packet (announcement lost) learns it from the ledger on the first claim", async () => {
    const roomId = await liveRoom("rp-creator-6", { "rp-sender-6": "50.00" });
    const sent = await send(roomId, "rp-sender-6", { total: "3.00", shares: 3 });
    const packetId = sent.body.packet.id;
    // Forget it in the room, as if the outbox delivery never happened.
    await runInDurableObject(room(roomId), async (_i: LiveRoom, state) => {
      state.storage.sql.exec("DELETE FROM packets WHERE id = ?", packetId);
    });
    const res = await claim(roomId, packetId, "rp-early");
    expect(res.status).toBe(201);
    await creditsLanded(packetId, 1);
  });
});

describe("in the room", () => {
  it("announces a packet at once, merges claim progress into the window, says exhausted at once, lists open packets in snapshots", async () => {
    const roomId = await liveRoom("rp-creator-ws", { "rp-sender-ws": "20.00" });
    const socket = await SocketProbe.open(`/v1/rooms/${roomId}/live?access_token=${await token("rp-watcher")}`);
    await socket.next("snapshot");
    const sent = await send(roomId, "rp-sender-ws", { total: "3.00", shares: 3, greeting: "新年快乐" });
    const packetId = sent.body.packet.id;
    const announced = await socket.next("packet.sent");
    expect(announced.packet).toMatchObject({ id: packetId, remainingShares: 3, greeting: "新年快乐", status: "open" });

    const late = await SocketProbe.open(`/v1/rooms/${roomId}/live?access_token=${await token("rp-late")}`);
    const snapshot = await late.next("snapshot");
    expect(snapshot.redPackets.map((p: { id: string }) => p.id)).toEqual([packetId]);
    late.close();

    await claim(roomId, packetId, "ws-a");
    await claim(roomId, packetId, "ws-b");
    expect(socket.ofType("packet.progress")).toEqual([]); // merged: nothing until the window closes
    await runDurableObjectAlarm(room(roomId));
    const progress = await socket.next("packet.progress");
    expect(progress.packets).toEqual([{ id: packetId, remainingShares: 1, claimed: 2 }]);

    const last = await claim(roomId, packetId, "ws-c");
    const exhausted = await socket.next("packet.exhausted");
    expect(exhausted.packetId).toBe(packetId);
    expect(exhausted.luckiest).toMatchObject({ index: expect.any(Number), amountMinor: expect.any(Number) });
    expect(last.status).toBe(201);
    // Every frame in order, numbered without gaps.
    const seqs = socket.frames
      .filter((f: { seq?: number; type: string }) => f.seq !== undefined && f.type !== "snapshot")
      .map((f: { seq: number }) => f.seq);
    expect(seqs).toEqual(seqs.map((_: number, i: number) => (seqs[0] as number) + i));
    socket.close();
    await creditsLanded(packetId, 3);
  });
});

describe("expiry and refunds", () => {
  it("the room's alarm refunds the remainder exactly once and announces it", async () => {
    const roomId = await liveRoom("rp-creator-7", { "rp-sender-7": "20.00" });
    const sent = await send(roomId, "rp-sender-7", { total: "10.00", shares: 4, ttlSeconds: 60 });
    const packetId = sent.body.packet.id;
    const a = (await claim(roomId, packetId, "rp-exp-a")).body.claim.amountMinor;
    const b = (await claim(roomId, packetId, "rp-exp-b")).body.claim.amountMinor;
    await expireNow(roomId, packetId);
    expect((await claim(roomId, packetId, "rp-exp-c")).body.error.code).toBe("packet_expired");
    await runDurableObjectAlarm(room(roomId));
    await creditsLanded(packetId, 2);
    const row = await packetRow(packetId);
    expect(row).toMatchObject({
      status: "refunded",
      final_claim_count: 2,
      final_claimed_minor: a + b,
      refunded_minor: 1000 - a - b,
    });
    expect(await balanceOf("user:rp-sender-7:wallet")).toBe(1000 + (1000 - a - b));
    // Again: the alarm, the sweeper — nothing more moves.
    await runDurableObjectAlarm(room(roomId));
    const { sweepRedPackets } = await import("../../src/worker/cron/red-packet-sweep");
    await sweepRedPackets(env, Date.now() + 10 * 60_000, quiet);
    expect(await balanceOf("user:rp-sender-7:wallet")).toBe(1000 + (1000 - a - b));
    expect(await balanceOf(`packet:${packetId}:escrow`)).toBe(0);
    const views = await room(roomId).openPacketViews();
    expect(views.map((v) => v.id)).not.toContain(packetId);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("when the alarm never runs, the cron sweeper closes the packet in its room and refunds once", async () => {
    const roomId = await liveRoom("rp-creator-8", { "rp-sender-8": "20.00" });
    const sent = await send(roomId, "rp-sender-8", { total: "6.00", shares: 3, split: "equal" });
    const packetId = sent.body.packet.id;
    await claim(roomId, packetId, "rp-sw-a");
    await expireNow(roomId, packetId, 120_000);
    await runInDurableObject(room(roomId), async (_i: LiveRoom, state) => {
      await state.storage.deleteAlarm();
    });
    const worker = (await import("../../src/worker/index")).default;
    for (let i = 0; i < 2; i++) {
      const controller = createScheduledController({ scheduledTime: Date.now(), cron: "* * * * *" });
      await worker.scheduled(controller, env);
    }
    expect(await packetRow(packetId)).toMatchObject({ status: "refunded", refunded_minor: 400, final_claim_count: 1 });
    // A claim after the sweep is refused by the room too.
    expect((await claim(roomId, packetId, "rp-sw-b")).body.error.code).toBe("packet_expired");
    // The room's alarm, when it finally runs, finds the refund already posted.
    await runDurableObjectAlarm(room(roomId));
    await creditsLanded(packetId, 1);
    expect(await balanceOf("user:rp-sender-8:wallet")).toBe(2000 - 600 + 400);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("an alarm whose refund keeps failing retries, alerts from the third failure, and settles once D1 is back", async () => {
    const roomId = await liveRoom("rp-creator-9", { "rp-sender-9": "20.00" });
    const sent = await send(roomId, "rp-sender-9", { total: "2.00", shares: 2 });
    const packetId = sent.body.packet.id;
    await expireNow(roomId, packetId);
    const logged: string[] = [];
    await runInDurableObject(room(roomId), async (instance: LiveRoom) => {
      const self = instance as unknown as { env: Env; log: typeof quiet };
      self.env = withShards(self.env, () => ({
        prepare: () => ({ bind: () => ({ first: () => Promise.reject(new Error("D1 down")) }) }),
      }));
      const record = (m: string) => {
        logged.push(m);
      };
      (self as unknown as { log: unknown }).log = { info() {}, warn: record, error: record };
    });
    for (let i = 0; i < 3; i++) await runDurableObjectAlarm(room(roomId));
    expect(logged).toEqual(["packet_refund_failed", "packet_refund_failed", "alert_packet_refund_failing"]);
    expect(await packetRow(packetId)).toMatchObject({ status: "open", refunded_minor: 0 });
    await runInDurableObject(room(roomId), async (instance: LiveRoom) => {
      (instance as unknown as { env: Env }).env = env;
    });
    await runDurableObjectAlarm(room(roomId));
    expect(await packetRow(packetId)).toMatchObject({ status: "refunded", refunded_minor: 200 });
    expect(await balanceOf("user:rp-sender-9:wallet")).toBe(2000);
    expect((await invariantReport()).ok).toBe(true);
  });
});

describe("the ledger queue", () => {
  function batchOf(bodies: unknown[], attempts = 1) {
    const acked: number[] = [];
    const retried: number[] = [];
    const batch = {
      queue: "giftwire-ledger-postings",
      messages: bodies.map((body, i) => ({
        id: `m${i}`,
        timestamp: new Date(),
        attempts,
        body,
        ack: () => acked.push(i),
        retry: () => retried.push(i),
      })),
    } as unknown as MessageBatch<unknown>;
    return { batch, acked, retried };
  }

  it("credits each claim once under duplicate deliveries, and a failed batch retries whole", async () => {
    const roomId = await liveRoom("rp-creator-10", { "rp-sender-10": "20.00" });
    const sent = await send(roomId, "rp-sender-10", { total: "3.00", shares: 3, split: "equal" });
    const packetId = sent.body.packet.id;
    for (const u of ["dup-a", "dup-b", "dup-c"]) await claim(roomId, packetId, u);
    await creditsLanded(packetId, 3);
    const claims = await (await shardDbOfId(packetId))
      .prepare(
        "SELECT id, user_id, claim_index, amount_minor, claimed_at_ms FROM red_packet_claims WHERE packet_id = ?",
      )
      .bind(packetId)
      .all<{ id: string; user_id: string; claim_index: number; amount_minor: number; claimed_at_ms: number }>();
    const bodies = claims.results.map((c) => ({
      kind: "packet.claim",
      claimId: c.id,
      packetId,
      userId: c.user_id,
      claimIndex: c.claim_index,
      amountMinor: c.amount_minor,
      claimedAtMs: c.claimed_at_ms,
      currency: "CNY",
    }));
    const { handleLedgerPostingsBatch } = await import("../../src/worker/queues/ledger-postings");
    const before = await ledgerSnapshot();
    const dup = batchOf([...bodies, ...bodies]);
    await handleLedgerPostingsBatch(dup.batch, env, quiet);
    expect(dup.acked).toHaveLength(6);
    expect(await ledgerSnapshot()).toBe(before);

    // A consumer whose D1 batch fails: nothing commits, every message retries with backoff.
    const failingEnv = withShards(env, (db) => ({
      prepare: db.prepare.bind(db),
      batch: () => Promise.reject(new Error("D1 overloaded")),
    }));
    const failing = batchOf(bodies, 2);
    await handleLedgerPostingsBatch(failing.batch, failingEnv, quiet);
    expect(failing.retried).toEqual([0, 1, 2]);
    expect(await ledgerSnapshot()).toBe(before);

    // A malformed message can never become valid: it is acknowledged (after an alert, see
    // queues/malformed.ts) and does not block the others.
    const mixed = batchOf([{ kind: "packet.claim", claimId: "x" }, bodies[0]]);
    await handleLedgerPostingsBatch(mixed.batch, env, quiet);
    expect(mixed.retried).toEqual([]);
    expect(mixed.acked).toEqual([0, 1]);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("a credit the escrow cannot cover is refused and retried, never overpaid", async () => {
    const roomId = await liveRoom("rp-creator-11", { "rp-sender-11": "20.00" });
    const sent = await send(roomId, "rp-sender-11", { total: "1.00", shares: 1 });
    const packetId = sent.body.packet.id;
    const { handleLedgerPostingsBatch } = await import("../../src/worker/queues/ledger-postings");
    const forged = batchOf([
      {
        kind: "packet.claim",
        claimId: "claim_01JFORGED00000000000000000",
        packetId,
        userId: "greedy",
        claimIndex: 0,
        amountMinor: 5000,
        claimedAtMs: Date.now(),
        currency: "CNY",
      },
    ]);
    await handleLedgerPostingsBatch(forged.batch, env, quiet);
    expect(forged.retried).toEqual([0]);
    expect(await balanceOf("user:greedy:wallet")).toBe(0);
    expect((await invariantReport()).ok).toBe(true);
  });
});

describe("a claim storm", () => {
  it("1,000 shares, 5,000 concurrent claimers with repeats, a room eviction mid-storm: exactly 1,000 claims, Σ = total", async () => {
    const roomId = await liveRoom("rp-storm-creator", { "rp-storm-sender": "20000.00" });
    const total = 1_000_000; // 10,000.00
    const sent = await send(roomId, "rp-storm-sender", { total: "10000.00", shares: 1000 });
    expect(sent.status).toBe(201);
    const packetId = sent.body.packet.id;

    // 4,000 distinct users, 1,000 of whom ask twice: 5,000 requests at once.
    const users = Array.from({ length: 4000 }, (_, i) => `storm-${i}`);
    const requests = [...users, ...users.slice(0, 1000)].sort(() => Math.random() - 0.5);
    let evicted = false;
    const results = await Promise.all(
      requests.map(async (u, i) => {
        if (i === 2500 && !evicted) {
          evicted = true;
          await evictDurableObject(room(roomId));
        }
        const res = await claimPatiently(roomId, packetId, u);
        return { user: u, status: res.status, body: res.body };
      }),
    );

    const won = results.filter((r) => r.status === 201);
    const repeats = results.filter((r) => r.status === 200);
    const exhausted = results.filter((r) => r.status === 409 && r.body.error.code === "packet_exhausted");
    const other = results.filter((r) => ![200, 201].includes(r.status) && r.body?.error?.code !== "packet_exhausted");
    expect(other.map((r) => `${r.status} ${r.body?.error?.code}`)).toEqual([]);
    expect(won).toHaveLength(1000);
    expect(new Set(won.map((r) => r.user)).size).toBe(1000);
    expect(won.reduce((s, r) => s + r.body.claim.amountMinor, 0)).toBe(total);
    expect(Math.min(...won.map((r) => r.body.claim.amountMinor))).toBeGreaterThanOrEqual(1);
    expect(new Set(won.map((r) => r.body.claim.index)).size).toBe(1000);
    // A repeat answers the same claim the user won, never a second one.
    const byUser = new Map(won.map((r) => [r.user, r.body.claim.id]));
    for (const r of repeats) expect(r.body.claim.id).toBe(byUser.get(r.user));
    expect(won.length + repeats.length + exhausted.length).toBe(5000);

    const row = await creditsLanded(packetId, 1000, 60_000);
    expect(row).toMatchObject({ status: "exhausted", credited_count: 1000, credited_minor: total });
    const perUser = await (await shardDbOfId(packetId))
      .prepare(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT user_id) AS users, SUM(amount_minor) AS sum, MIN(amount_minor) AS min FROM red_packet_claims WHERE packet_id = ?",
      )
      .bind(packetId)
      .first();
    expect(perUser).toEqual({ n: 1000, users: 1000, sum: total, min: expect.any(Number) });
    expect(await balanceOf(`packet:${packetId}:escrow`)).toBe(0);
    const report = await invariantReport();
    expect(report.violations).toEqual([]);
  }, 180_000);
});

describe("the invariant checker", () => {
  it("names the packet and both numbers when escrow, credits or the final count disagree", async () => {
    const roomId = await liveRoom("rp-creator-inv", { "rp-sender-inv": "20.00" });
    const sent = await send(roomId, "rp-sender-inv", { total: "2.00", shares: 2, split: "equal" });
    const packetId = sent.body.packet.id;
    await claim(roomId, packetId, "inv-a");
    await creditsLanded(packetId, 1);
    expect((await invariantReport()).ok).toBe(true);
    const shard = (await ledger()).forId(packetId).index; // violations name the shard they are in
    // Tamper with the ledger's view of the packet (the money tables refuse such edits).
    await (await shardDbOfId(packetId))
      .prepare("UPDATE red_packets SET credited_minor = credited_minor + 5 WHERE id = ?")
      .bind(packetId)
      .run();
    const report = await invariantReport();
    expect(report.ok).toBe(false);
    expect(report.violations).toEqual(
      expect.arrayContaining([
        { kind: "packet_escrow_mismatch", shard, packetId, escrowMinor: 100, expectedMinor: 95 },
        {
          kind: "packet_credits_mismatch",
          shard,
          packetId,
          creditedMinor: 105,
          claimsSumMinor: 100,
          creditedCount: 1,
          claimsCount: 1,
        },
      ]),
    );
    await (await shardDbOfId(packetId))
      .prepare("UPDATE red_packets SET credited_minor = credited_minor - 5 WHERE id = ?")
      .bind(packetId)
      .run();
    // A refunded packet whose final count and refund do not add up to the total.
    await (await shardDbOfId(packetId))
      .prepare(
        "UPDATE red_packets SET final_claim_count = 1, final_claimed_minor = 100, finished_at_ms = 0 WHERE id = ?",
      )
      .bind(packetId)
      .run();
    await (await shardDbOfId(packetId))
      .prepare("UPDATE red_packets SET final_claimed_minor = 150 WHERE id = ?")
      .bind(packetId)
      .run();
    const inFlight = await invariantReport();
    expect(inFlight.violations).toEqual([
      { kind: "packet_credits_in_flight", shard, packetId, inFlightMinor: 50, finishedAtMs: 0 },
    ]);
    await (await shardDbOfId(packetId))
      .prepare(
        "UPDATE red_packets SET final_claim_count = NULL, final_claimed_minor = NULL, finished_at_ms = NULL WHERE id = ?",
      )
      .bind(packetId)
      .run();
    expect((await invariantReport()).ok).toBe(true);
  });
});

describe("operator view", () => {
  it("operators read any packet", async () => {
    const roomId = await liveRoom("rp-creator-12", { "rp-sender-12": "20.00" });
    const sent = await send(roomId, "rp-sender-12", { total: "2.00", shares: 2, audience: "followers" });
    const res = await call("GET", `/v1/rooms/${roomId}/red-packets/${sent.body.packet.id}`, {
      token: await operatorToken(),
    });
    expect(res.status).toBe(200);
    const mine = await call("GET", "/v1/me/red-packets", { token: await token("rp-sender-12") });
    expect(mine.body.packets.map((p: { id: string }) => p.id)).toEqual([sent.body.packet.id]);
  });
});
