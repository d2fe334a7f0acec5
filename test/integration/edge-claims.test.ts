import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { buildWinnerFilter, mayHaveWon } from "../../src/domain/winner-filter";
import { call, config, fund, invariantReport, key, openRoom, settleTransit, shardDbOfId, token } from "./helpers";
import { SocketProbe } from "./socket-probe";

const room = (roomId: string) => env.LIVE_ROOM.getByName(roomId);
const asked = async (roomId: string) => (await room(roomId).claimStats()).asked;

async function sendPacket(roomId: string, senderId: string, body: Record<string, unknown>): Promise<string> {
  const res = await call("POST", `/v1/rooms/${roomId}/red-packets`, {
    token: await token(senderId),
    idempotencyKey: key(),
    body,
  });
  expect(res.status).toBe(201);
  return res.body.packet.id as string;
}

async function claim(roomId: string, packetId: string, userId: string) {
  return call("POST", `/v1/rooms/${roomId}/red-packets/${packetId}/claims`, { token: await token(userId) });
}

async function claimPatiently(roomId: string, packetId: string, userId: string) {
  for (let attempt = 0; ; attempt++) {
    const res = await claim(roomId, packetId, userId);
    if (res.status !== 429 || attempt > 50) return res;
    await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
  }
}

/** Waits for the ledger queue to credit `count` claims, then for transit; the invariants must be clean. */
async function ledgerClean(packetId: string, count: number) {
  const db = await shardDbOfId(packetId);
  const start = Date.now();
  for (;;) {
    const row = await db
      .prepare("SELECT credited_count FROM red_packets WHERE id = ?")
      .bind(packetId)
      .first<number>("credited_count");
    if (row === count) break;
    if (Date.now() - start > 20_000) throw new Error(`credits for ${packetId}: ${row} of ${count}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await settleTransit();
  const report = await invariantReport();
  expect(report.violations).toEqual([]);
  expect(report.ok).toBe(true);
}

async function viewerSocket(roomId: string, userId: string, extraClaims: Record<string, unknown> = {}) {
  const { mintToken } = await import("../../dev/tokens");
  const t =
    Object.keys(extraClaims).length === 0
      ? await token(userId)
      : await mintToken(config, { userId, roles: ["viewer"] }, Date.now(), 3600, extraClaims);
  const socket = await SocketProbe.open(`/v1/rooms/${roomId}/live?access_token=${t}`);
  await socket.next("snapshot");
  return socket;
}

let requestSeq = 0;
async function claimOver(socket: SocketProbe, packetId: string) {
  const requestId = `r${++requestSeq}`;
  socket.send({ type: "packet.claim", packetId, requestId });
  await socket.until((fs) => fs.some((f) => f.type === "packet.claim.result" && f.requestId === requestId));
  return socket.frames.find((f) => f.type === "packet.claim.result" && f.requestId === requestId);
}

describe("claims answered at the edge", () => {
  it("after the room says exhausted, claimers who did not win are answered without the room, exactly as it would", async () => {
    const roomId = await openRoom("edge-creator-1");
    await fund("edge-sender-1", "10.00");
    const packetId = await sendPacket(roomId, "edge-sender-1", { total: "3.00", shares: 3 });
    const winners = ["edge-w0", "edge-w1", "edge-w2"];
    const claims = [];
    for (const w of winners) {
      const res = await claim(roomId, packetId, w);
      expect(res.status).toBe(201);
      claims.push(res.body.claim);
    }
    // The last winner's answer carried the packet's edge knowledge.
    const before = await asked(roomId);
    const losers = Array.from({ length: 30 }, (_, i) => `edge-loser-${i}`);
    const filter = buildWinnerFilter(winners);
    const forwarded = losers.filter((l) => mayHaveWon(filter, l)).length;
    for (const l of losers) {
      const res = await claim(roomId, packetId, l);
      expect(res.status).toBe(409);
      expect(res.body.error).toMatchObject({
        code: "packet_exhausted",
        message: "Every share of this red packet has been claimed.",
      });
      expect(Object.keys(res.body.error).sort()).toEqual(["code", "message", "requestId"]);
    }
    expect(await asked(roomId)).toBe(before + forwarded);

    // The last winner's claim came with the knowledge: its repeat is answered here too.
    const lastAgain = await claim(roomId, packetId, "edge-w2");
    expect(lastAgain.status).toBe(200);
    expect(lastAgain.body).toEqual({ claim: claims[2], alreadyClaimed: true, creditedWithinSeconds: true });
    expect(await asked(roomId)).toBe(before + forwarded);

    // An earlier winner's first repeat goes to the room (the filter says "may have won"); the next is answered here.
    for (const [i, w] of winners.slice(0, 2).entries()) {
      const first = await claim(roomId, packetId, w);
      expect(first.status).toBe(200);
      expect(first.body.claim).toEqual(claims[i]);
      const second = await claim(roomId, packetId, w);
      expect(second.body.claim).toEqual(claims[i]);
    }
    expect(await asked(roomId)).toBe(before + forwarded + 2);
    await ledgerClean(packetId, 3);
  });

  it("a storm racing exhaustion: no winner is ever told 'exhausted', every repeat gets its own claim", async () => {
    const roomId = await openRoom("edge-creator-2");
    await fund("edge-sender-2", "50.00");
    const packetId = await sendPacket(roomId, "edge-sender-2", { total: "20.00", shares: 20 });
    const users = Array.from({ length: 120 }, (_, i) => `edge-racer-${i}`);
    // Everyone at once, each user twice (the second races the first and the exhaustion).
    const answers = await Promise.all(
      users.flatMap((u) => [
        claimPatiently(roomId, packetId, u).then((r) => ({ u, r })),
        claimPatiently(roomId, packetId, u).then((r) => ({ u, r })),
      ]),
    );
    const won = new Map<string, { id: string; amountMinor: number; index: number }>();
    for (const { u, r } of answers) {
      if (r.status === 201) {
        expect(won.has(u)).toBe(false);
        won.set(u, r.body.claim);
      }
    }
    expect(won.size).toBe(20);
    expect([...won.values()].reduce((s, c) => s + c.amountMinor, 0)).toBe(2000);
    for (const { u, r } of answers) {
      if (won.has(u)) {
        expect([200, 201]).toContain(r.status);
        expect(r.body.claim).toEqual(won.get(u));
      } else {
        expect(r.status).toBe(409);
        expect(r.body.error.code).toBe("packet_exhausted");
      }
    }
    // Afterwards, twice more each: winners their own claim, everyone else exhausted.
    for (let round = 0; round < 2; round++) {
      const again = await Promise.all(users.map(async (u) => ({ u, r: await claim(roomId, packetId, u) })));
      for (const { u, r } of again) {
        const mine = won.get(u);
        if (mine) {
          expect(r.status).toBe(200);
          expect(r.body.claim).toEqual(mine);
        } else expect(r.body.error.code).toBe("packet_exhausted");
      }
    }
    await ledgerClean(packetId, 20);
  });
});

describe("claims over the room socket", () => {
  it("a viewer claims on their socket: a share, its repeat, exhausted for the next, the same codes as HTTP", async () => {
    const roomId = await openRoom("sock-creator-1");
    await fund("sock-sender-1", "10.00");
    const packetId = await sendPacket(roomId, "sock-sender-1", { total: "2.00", shares: 2 });
    const ana = await viewerSocket(roomId, "sock-ana");
    const won = await claimOver(ana, packetId);
    expect(won).toMatchObject({
      type: "packet.claim.result",
      ok: true,
      status: 201,
      alreadyClaimed: false,
      creditedWithinSeconds: true,
      claim: { packetId, userId: "sock-ana", index: 0 },
    });
    expect(won.claim.amount).toBe(
      `${Math.floor(won.claim.amountMinor / 100)}.${String(won.claim.amountMinor % 100).padStart(2, "0")}`,
    );
    const repeat = await claimOver(ana, packetId);
    expect(repeat).toMatchObject({ ok: true, status: 200, alreadyClaimed: true, claim: won.claim });
    // The same claim over HTTP.
    const http = await claim(roomId, packetId, "sock-ana");
    expect(http.body.claim).toEqual(won.claim);

    const ben = await viewerSocket(roomId, "sock-ben");
    expect(await claimOver(ben, packetId)).toMatchObject({ ok: true, status: 201, claim: { index: 1 } });
    const cy = await viewerSocket(roomId, "sock-cy");
    const late = await claimOver(cy, packetId);
    expect(late).toEqual({
      type: "packet.claim.result",
      requestId: late.requestId,
      ok: false,
      status: 409,
      error: { code: "packet_exhausted", message: "Every share of this red packet has been claimed." },
    });
    const missing = await claimOver(cy, "packet_01JDEM00000000000000000000");
    expect(missing).toMatchObject({ ok: false, status: 404, error: { code: "packet_not_found" } });

    // A bad frame is answered with a stable code and the socket stays open.
    cy.send({ type: "packet.claim", packetId });
    cy.send({ type: "packet.claim", packetId: "not-a-packet", requestId: "x" });
    await cy.until((fs) => fs.filter((f) => f.type === "error").length === 2);
    expect(cy.ofType("error").map((f) => f.code)).toEqual(["malformed_frame", "malformed_frame"]);
    expect(cy.closed).toBe(null);
    for (const s of [ana, ben, cy]) s.close();
    await ledgerClean(packetId, 2);
  });

  it("follower-only packets, overlays and the per-socket claim allowance", async () => {
    const roomId = await openRoom("sock-creator-2");
    await fund("sock-sender-2", "50.00");
    const packetId = await sendPacket(roomId, "sock-sender-2", { total: "5.00", shares: 2, audience: "followers" });
    const stranger = await viewerSocket(roomId, "sock-stranger");
    expect(await claimOver(stranger, packetId)).toMatchObject({
      ok: false,
      status: 403,
      error: { code: "packet_followers_only" },
    });
    const fan = await viewerSocket(roomId, "sock-fan", { follows: ["sock-creator-2"] });
    expect(await claimOver(fan, packetId)).toMatchObject({ ok: true, status: 201 });

    // 30 claim frames a minute per socket; the 31st is asked to wait, with how long.
    for (let i = 1; i < 30; i++) expect((await claimOver(fan, packetId)).status).toBe(200);
    const over = await claimOver(fan, packetId);
    expect(over).toMatchObject({ ok: false, status: 429, error: { code: "packet_busy" } });
    expect(over.error.details.retryAfterMs).toBeGreaterThan(0);
    expect(over.error.details.retryAfterMs).toBeLessThanOrEqual(60_000);
    for (const s of [stranger, fan]) s.close();
    await ledgerClean(packetId, 1);
  });

  it("on a fan-out shard's socket: follower-only packets and the claim allowance hold the same", async () => {
    const roomId = await openRoom("sock-creator-4");
    await fund("sock-sender-4", "50.00");
    const packetId = await sendPacket(roomId, "sock-sender-4", { total: "5.00", shares: 2, audience: "followers" });
    // The workers projects keep 2 viewer sockets in the room (ROOM_FAN_OUT_THRESHOLD): the next go to shards.
    const fillers = [await viewerSocket(roomId, "sock-fill-a"), await viewerSocket(roomId, "sock-fill-b")];
    const shardSockets = async () => {
      const counts = await Promise.all([0, 1, 2].map((k) => env.ROOM_FAN_OUT.getByName(`${roomId}:${k}`).sockets()));
      return counts.reduce((a, b) => a + b, 0);
    };
    const stranger = await viewerSocket(roomId, "sock-stranger-4");
    const fan = await viewerSocket(roomId, "sock-fan-4", { follows: ["sock-creator-4"] });
    expect(await shardSockets()).toBe(2);
    expect(await claimOver(stranger, packetId)).toMatchObject({
      status: 403,
      error: { code: "packet_followers_only" },
    });
    expect(await claimOver(fan, packetId)).toMatchObject({ ok: true, status: 201, claim: { userId: "sock-fan-4" } });
    // The allowance is the shard socket's own: spent on the shard, not reset per forwarded frame.
    for (let i = 1; i < 30; i++) expect((await claimOver(fan, packetId)).status).toBe(200);
    expect(await claimOver(fan, packetId)).toMatchObject({ ok: false, status: 429, error: { code: "packet_busy" } });
    for (const s of [...fillers, stranger, fan]) s.close();
    await ledgerClean(packetId, 1);
  });

  it("the room answers a forwarded claim frame by RPC the same way (what a fan-out shard calls)", async () => {
    const roomId = await openRoom("sock-creator-3");
    await fund("sock-sender-3", "10.00");
    const packetId = await sendPacket(roomId, "sock-sender-3", { total: "1.00", shares: 1 });
    const frame = { type: "packet.claim" as const, packetId, requestId: "fwd-1" };
    const won = await room(roomId).answerClaimFrame({ role: "viewer", userId: "sock-fwd", follows: [] }, frame);
    expect(won).toMatchObject({ ok: true, status: 201, requestId: "fwd-1", claim: { userId: "sock-fwd" } });
    const overlay = await room(roomId).answerClaimFrame({ role: "overlay", userId: null, follows: [] }, frame);
    expect(overlay).toMatchObject({ ok: false, status: 403, error: { code: "forbidden" } });
    await ledgerClean(packetId, 1);
  });
});
