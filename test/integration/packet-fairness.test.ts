/**
 * Provably fair red packets end to end (docs/adr/0008): the commitment is published at send,
 * the seed stays secret in every answer and frame until the packet is finished, then it is
 * revealed and the published claims recompute exactly.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { verifyFairness } from "../../src/domain/fair-packet";
import { toHex } from "../../src/domain/sha256";
import type { LiveRoom } from "../../src/durable-objects/live-room";
import { RedPacketDesk } from "../../src/durable-objects/live-room.packets";
import { call, fund, invariantReport, key, openRoom, shardDbOfId, token, until } from "./helpers";
import { SocketProbe } from "./socket-probe";

const room = (roomId: string) => env.LIVE_ROOM.getByName(roomId);

async function send(roomId: string, senderId: string, body: Record<string, unknown>) {
  return call("POST", `/v1/rooms/${roomId}/red-packets`, { token: await token(senderId), idempotencyKey: key(), body });
}

async function claim(roomId: string, packetId: string, userId: string) {
  return call("POST", `/v1/rooms/${roomId}/red-packets/${packetId}/claims`, { token: await token(userId) });
}

async function ledgerRow(packetId: string) {
  const row = await (await shardDbOfId(packetId))
    .prepare("SELECT seed_hex, commitment_hex, status, credited_count FROM red_packets WHERE id = ?")
    .bind(packetId)
    .first<{ seed_hex: string | null; commitment_hex: string | null; status: string; credited_count: number }>();
  if (row === null) throw new Error(`no packet ${packetId}`);
  return row;
}

async function sha256Hex(hex: string): Promise<string> {
  const bytes = new Uint8Array(hex.match(/../g)?.map((b) => Number.parseInt(b, 16)) ?? []);
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

/** Every public answer about the packet, as text: where a leaked seed would show. */
async function everythingPublic(roomId: string, packetId: string, userId: string, senderId: string): Promise<string> {
  const paths = [
    `/v1/rooms/${roomId}/red-packets/${packetId}`,
    `/v1/rooms/${roomId}/red-packets/${packetId}/claims`,
    `/v1/rooms/${roomId}/red-packets`,
  ];
  const answers = await Promise.all(paths.map(async (p) => call("GET", p, { token: await token(userId) })));
  const mine = await call("GET", "/v1/me/red-packets", { token: await token(senderId) });
  return JSON.stringify([...answers.map((a) => a.body), mine.body]);
}

/** The public claim list, every page, and the proof it makes with the revealed seed. */
async function proofFromApi(roomId: string, packetId: string, userId: string) {
  const detail = await call("GET", `/v1/rooms/${roomId}/red-packets/${packetId}`, { token: await token(userId) });
  const claims: { index: number; amountMinor: number }[] = [];
  let after = -1;
  let luckiestIndex: number | null = null;
  for (;;) {
    const page = await call("GET", `/v1/rooms/${roomId}/red-packets/${packetId}/claims?after=${after}&limit=2`, {
      token: await token(userId),
    });
    claims.push(...page.body.claims);
    luckiestIndex = page.body.luckiestIndex;
    if (page.body.nextAfter === null) break;
    after = page.body.nextAfter;
  }
  const p = detail.body.packet;
  return {
    detail: detail.body,
    proof: {
      packet: { id: p.id, totalMinor: p.totalMinor, shares: p.shares, split: p.split },
      commitment: p.commitment,
      seed: detail.body.live.seed ?? p.seed,
      claims,
      luckiestIndex,
    },
  };
}

describe("provably fair red packets", () => {
  it("publishes the commitment at send, keeps the seed secret until exhausted, then every share recomputes", async () => {
    const roomId = await openRoom("fair-creator-1");
    await fund("fair-sender-1", "100.00");
    const socket = await SocketProbe.open(`/v1/rooms/${roomId}/live?access_token=${await token("fair-watcher-1")}`);
    await socket.next("snapshot");
    const sent = await send(roomId, "fair-sender-1", { total: "66.66", shares: 5 });
    expect(sent.status).toBe(201);
    const packetId: string = sent.body.packet.id;
    const row = await ledgerRow(packetId);
    const seed = row.seed_hex;
    expect(seed).toMatch(/^[0-9a-f]{64}$/);
    expect(sent.body.packet.commitment).toBe(await sha256Hex(seed ?? ""));
    expect(row.commitment_hex).toBe(sent.body.packet.commitment);
    expect(sent.body.packet.seed).toBeNull();
    expect(JSON.stringify(sent.body)).not.toContain(seed);

    const announced = await socket.next("packet.sent");
    expect(announced.packet).toMatchObject({ id: packetId, commitment: sent.body.packet.commitment, seed: null });

    for (let i = 0; i < 4; i++) expect((await claim(roomId, packetId, `fair-grabber-${i}`)).status).toBe(201);
    // Four of five shares gone: nothing public names the seed, and no frame carried it.
    expect(await everythingPublic(roomId, packetId, "fair-grabber-0", "fair-sender-1")).not.toContain(seed);
    await runDurableObjectAlarm(room(roomId)); // closes the window: a progress frame goes out
    await socket.next("packet.progress");
    expect(JSON.stringify(socket.frames)).not.toContain(seed);
    const late = await SocketProbe.open(`/v1/rooms/${roomId}/live?access_token=${await token("fair-late-1")}`);
    const snapshot = await late.next("snapshot");
    late.close();
    expect(snapshot.redPackets).toEqual([
      expect.objectContaining({ id: packetId, commitment: sent.body.packet.commitment, seed: null }),
    ]);
    expect(JSON.stringify(snapshot)).not.toContain(seed);

    const last = await claim(roomId, packetId, "fair-grabber-4");
    expect(last.status).toBe(201);
    const exhausted = await socket.next("packet.exhausted");
    expect(exhausted.seed).toBe(seed);
    socket.close();

    // The room reveals it at once; the ledger's own view once every credit posted.
    const { detail, proof } = await proofFromApi(roomId, packetId, "fair-grabber-1");
    expect(detail.live).toMatchObject({ status: "exhausted", seed, commitment: sent.body.packet.commitment });
    expect(proof.claims).toHaveLength(5);
    const verdict = verifyFairness(proof);
    expect(verdict).toMatchObject({ ok: true, commitmentOk: true, luckiestOk: true });
    expect(verdict.shares.map((s) => s.expectedMinor)).toEqual(proof.claims.map((c) => c.amountMinor));
    expect(proof.claims.reduce((sum, c) => sum + c.amountMinor, 0)).toBe(6666);

    await until(
      () => ledgerRow(packetId),
      (r) => r.status === "exhausted",
    );
    const closed = await call("GET", `/v1/rooms/${roomId}/red-packets/${packetId}`, {
      token: await token("fair-grabber-1"),
    });
    expect(closed.body.packet.seed).toBe(seed);
    // Tampering with one published share is caught.
    const tampered = proof.claims.map((c) => (c.index === 2 ? { ...c, amountMinor: c.amountMinor + 1 } : c));
    expect(verifyFairness({ ...proof, claims: tampered }).ok).toBe(false);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("reveals the seed of an expired packet, in its view and its expiry frame, and the claims made recompute", async () => {
    const roomId = await openRoom("fair-creator-2");
    await fund("fair-sender-2", "50.00");
    const socket = await SocketProbe.open(`/v1/rooms/${roomId}/live?access_token=${await token("fair-watcher-2")}`);
    await socket.next("snapshot");
    const sent = await send(roomId, "fair-sender-2", { total: "20.00", shares: 6, ttlSeconds: 60 });
    const packetId: string = sent.body.packet.id;
    const seed = (await ledgerRow(packetId)).seed_hex;
    for (const u of ["fair-e-a", "fair-e-b"]) expect((await claim(roomId, packetId, u)).status).toBe(201);
    expect(await everythingPublic(roomId, packetId, "fair-e-a", "fair-sender-2")).not.toContain(seed);

    const at = Date.now() - 1_000;
    await (await shardDbOfId(packetId))
      .prepare("UPDATE red_packets SET expires_at_ms = ? WHERE id = ?")
      .bind(at, packetId)
      .run();
    await runInDurableObject(room(roomId), async (_i: LiveRoom, state) => {
      state.storage.sql.exec("UPDATE packets SET expires_at_ms = ? WHERE id = ?", at, packetId);
    });
    // Past its expiry no claim is admitted, so the view may show the seed before the alarm.
    expect((await claim(roomId, packetId, "fair-e-c")).body.error.code).toBe("packet_expired");
    const early = await call("GET", `/v1/rooms/${roomId}/red-packets/${packetId}`, { token: await token("fair-e-a") });
    expect(early.body.live).toMatchObject({ status: "expired", seed });

    await runDurableObjectAlarm(room(roomId));
    const expired = await socket.next("packet.expired");
    expect(expired).toMatchObject({ packetId, claimed: 2, seed });
    socket.close();
    const { proof } = await proofFromApi(roomId, packetId, "fair-e-b");
    expect(proof.claims).toHaveLength(2);
    expect(verifyFairness(proof)).toMatchObject({ ok: true });
  });

  it("a packet sent before the scheme (no seed) is still claimed in full, with no commitment to show", async () => {
    const roomId = await openRoom("fair-creator-3");
    await fund("fair-sender-3", "50.00");
    const sent = await send(roomId, "fair-sender-3", { total: "3.00", shares: 3 });
    const packetId: string = sent.body.packet.id;
    await (await shardDbOfId(packetId))
      .prepare("UPDATE red_packets SET seed_hex = NULL, commitment_hex = NULL WHERE id = ?")
      .bind(packetId)
      .run();
    await runInDurableObject(room(roomId), async (_i: LiveRoom, state) => {
      state.storage.sql.exec("UPDATE packets SET seed_hex = NULL, commitment_hex = NULL WHERE id = ?", packetId);
    });
    const amounts: number[] = [];
    for (const u of ["fair-l-a", "fair-l-b", "fair-l-c"])
      amounts.push((await claim(roomId, packetId, u)).body.claim.amountMinor);
    expect(amounts.reduce((a, b) => a + b, 0)).toBe(300);
    const detail = await call("GET", `/v1/rooms/${roomId}/red-packets/${packetId}`, { token: await token("fair-l-a") });
    expect(detail.body.live).toMatchObject({ status: "exhausted", commitment: null, seed: null });
  });

  it("a room created before the scheme gains the seed columns when it starts", async () => {
    const roomId = await openRoom("fair-creator-4");
    await runInDurableObject(room(roomId), async (_i: LiveRoom, state) => {
      const sql = state.storage.sql;
      sql.exec("ALTER TABLE packets DROP COLUMN seed_hex");
      sql.exec("ALTER TABLE packets DROP COLUMN commitment_hex");
      new RedPacketDesk(
        sql,
        () => "claim_x",
        () => 1,
      );
      const columns = sql
        .exec<{ name: string }>("PRAGMA table_info(packets)")
        .toArray()
        .map((c) => c.name);
      expect(columns).toEqual(expect.arrayContaining(["seed_hex", "commitment_hex"]));
    });
  });
});
