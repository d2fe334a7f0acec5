import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { newId } from "../../src/domain/ids";
import { balanceOf, call, fund, invariantReport, key, ledger, shardDbOf, token, withPin } from "./helpers";
import { SocketProbe } from "./socket-probe";

// Storage is shared across test files: the words are unique to this run, so no other file's
// titles or messages ever meet them.
const suffix = crypto
  .randomUUID()
  .replace(/[^a-f]/g, "")
  .slice(0, 8)
  .padEnd(8, "a");
const MASK_WORD = `zq${suffix}`;
const HOLD_WORD = `赌${suffix}局`;
const HOLD_TRADITIONAL = `賭${suffix}局`;

let ops: string;
let auditor: string;
let roomId: string;
const creator = `mod-creator-${suffix}`;
const viewerId = `mod-viewer-${suffix}`;
let viewer: string;

async function tip(body: Record<string, unknown>) {
  return call("POST", `/v1/rooms/${roomId}/tips`, {
    token: viewer,
    idempotencyKey: key(),
    body: await withPin(viewerId, body),
  });
}

function room() {
  return env.LIVE_ROOM.getByName(roomId);
}

async function heldIds(): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const q: string = cursor === null ? "" : `&cursor=${cursor}`;
    const page = await call("GET", `/v1/admin/messages/held?limit=2${q}`, { token: ops });
    expect(page.status).toBe(200);
    ids.push(...page.body.messages.map((m: { id: string }) => m.id));
    cursor = page.body.nextCursor;
  } while (cursor !== null);
  return ids;
}

async function auditRows(db: D1Database, action: string, target: string) {
  const { results } = await db
    .prepare("SELECT actor, action, target FROM audit_log WHERE action = ? AND target = ?")
    .bind(action, target)
    .all();
  return results;
}

beforeAll(async () => {
  ops = await token(`mod-ops-${suffix}`, "ops");
  auditor = await token(`mod-auditor-${suffix}`, "auditor");
  for (const [word, level, variants] of [
    [MASK_WORD, "mask", []],
    [HOLD_WORD, "hold", []],
  ] as const) {
    const res = await call("POST", "/v1/admin/moderation/words", { token: ops, body: { word, level, variants } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  }
  const live = await call("POST", "/v1/rooms", { token: await token(creator, "creator"), body: { title: "聊天室" } });
  expect(live.status).toBe(201);
  roomId = live.body.id;
  await fund(viewerId, "2000.00");
  viewer = await token(viewerId);
});

describe("the word list", () => {
  it("is added to, listed and removed by operators with moderation.manage, each change audited", async () => {
    const word = `zx${suffix}`;
    const added = await call("POST", "/v1/admin/moderation/words", {
      token: ops,
      body: { word, level: "mask", variants: ["zxx"] },
    });
    expect(added.status).toBe(201);
    expect(added.body.word).toMatchObject({ word, level: "mask", variants: ["zxx"], createdBy: `mod-ops-${suffix}` });
    const again = await call("POST", "/v1/admin/moderation/words", { token: ops, body: { word, level: "hold" } });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("moderation_word_exists");

    const listed = await call("GET", "/v1/admin/moderation/words", { token: auditor });
    expect(listed.status).toBe(200);
    expect(listed.body.words).toContainEqual(expect.objectContaining({ word, level: "mask" }));

    const refused = await call("POST", "/v1/admin/moderation/words", {
      token: auditor,
      body: { word: `zy${suffix}`, level: "mask" },
    });
    expect(refused.status).toBe(403);

    const removed = await call("DELETE", `/v1/admin/moderation/words/${encodeURIComponent(word)}`, { token: ops });
    expect(removed.status).toBe(204);
    const gone = await call("DELETE", `/v1/admin/moderation/words/${encodeURIComponent(word)}`, { token: ops });
    expect(gone.body.error.code).toBe("moderation_word_not_found");

    const control = (await ledger()).control;
    expect(await auditRows(control, "moderation.word.add", word)).toEqual([
      { actor: `mod-ops-${suffix}`, action: "moderation.word.add", target: word },
    ]);
    expect(await auditRows(control, "moderation.word.remove", word)).toHaveLength(1);
  });
});

describe("tip messages", () => {
  it("refuses a message over 40 code points with 400 message_too_long, and moves no money", async () => {
    const before = await balanceOf(`user:${viewerId}:wallet`);
    const long = await tip({ kind: "custom", amount: "1.00", message: "好".repeat(41) });
    expect(long.status).toBe(400);
    expect(long.body.error.code).toBe("message_too_long");
    // 40 emoji are 40 code points (80 UTF-16 units): within the limit.
    const emoji = await tip({ kind: "custom", amount: "1.00", message: "😀".repeat(40) });
    expect(emoji.status).toBe(201);
    expect(emoji.body.tip.message).toEqual({ text: "😀".repeat(40), status: "shown" });
    expect(await balanceOf(`user:${viewerId}:wallet`)).toBe(before - 100);
  });

  it("masks a disguised mask-level word in the answer and in the room's frames (merged and big-gift lanes)", async () => {
    const socket = await SocketProbe.open(`/v1/rooms/${roomId}/live?access_token=${await token("mod-watcher")}`);
    await socket.next("snapshot");
    const disguised = `hi ${MASK_WORD.slice(0, 2).toUpperCase()}.${MASK_WORD.slice(2)}!`;
    const masked = `hi ${"*".repeat(MASK_WORD.length + 1)}!`;
    const small = await tip({ kind: "custom", amount: "2.00", message: disguised });
    expect(small.status).toBe(201);
    expect(small.body.tip.message).toEqual({ text: masked, status: "masked" });
    const row = await (await shardDbOf(viewerId))
      .prepare("SELECT text, shown, status FROM tip_messages WHERE tip_id = ?")
      .bind(small.body.tip.id)
      .first();
    expect(row).toEqual({ text: disguised, shown: masked, status: "masked" });

    const big = await tip({ kind: "custom", amount: "520.00", message: `wow ${MASK_WORD}` });
    expect(big.status).toBe(201);
    const gift = await socket.next("gift.big");
    expect(gift.gift).toMatchObject({ tipId: big.body.tip.id, message: `wow ${"*".repeat(MASK_WORD.length)}` });

    // The small tip's message rides in the window's merged frame.
    let merged: { merged: { messages: { tipId: string; text: string }[] } } | undefined;
    for (let i = 0; i < 50 && merged === undefined; i++) {
      await runDurableObjectAlarm(room());
      merged = socket
        .ofType("tips.merged")
        .find((f) => f.merged.messages?.some((m: { tipId: string }) => m.tipId === small.body.tip.id));
      if (merged === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    expect(merged?.merged.messages).toContainEqual(expect.objectContaining({ tipId: small.body.tip.id, text: masked }));
    socket.ws.close();
  });

  it("holds a message with a hold-level word (traditional spelling too): money posts, the room shows it only once approved", async () => {
    const socket = await SocketProbe.open(`/v1/rooms/${roomId}/live?access_token=${await token("mod-watcher")}`);
    await socket.next("snapshot");
    const before = await balanceOf(`user:${viewerId}:wallet`);
    const text = `来 ${HOLD_TRADITIONAL.split("").join(" ")} 吗`;
    const held = await tip({ kind: "custom", amount: "3.00", message: text });
    expect(held.status).toBe(201);
    expect(held.body.tip.message).toEqual({ text, status: "held" });
    // The money does not wait for the message.
    expect(held.body.walletBalanceMinor).toBe(before - 300);
    expect(await balanceOf(`user:${viewerId}:wallet`)).toBe(before - 300);
    const tipId = held.body.tip.id as string;

    // The window closes; its merged frame does not carry the held message.
    let closed = false;
    for (let i = 0; i < 50 && !closed; i++) {
      await runDurableObjectAlarm(room());
      closed = socket.ofType("tips.merged").length > 0;
      if (!closed) await new Promise((r) => setTimeout(r, 50));
    }
    expect(closed).toBe(true);
    const windowed = socket.ofType("tips.merged").flatMap((f) => f.merged.messages ?? []);
    expect(windowed.map((m: { tipId: string }) => m.tipId)).not.toContain(tipId);
    expect(JSON.stringify(socket.frames)).not.toContain("賭");
    expect(socket.ofType("tip.message")).toHaveLength(0);

    expect(await heldIds()).toContain(tipId);
    const approved = await call("POST", `/v1/admin/messages/${tipId}/approve`, { token: ops });
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    expect(approved.body.message).toMatchObject({ tipId, status: "approved", reviewedBy: `mod-ops-${suffix}`, text });
    const shown = await socket.next("tip.message");
    expect(shown.message).toMatchObject({ tipId, viewerId, text });
    expect(await heldIds()).not.toContain(tipId);

    // Audited in the tip's shard, with the decision; a second decision changes nothing.
    expect(await auditRows(await shardDbOf(viewerId), "moderation.message.approve", tipId)).toEqual([
      { actor: `mod-ops-${suffix}`, action: "moderation.message.approve", target: tipId },
    ]);
    const twice = await call("POST", `/v1/admin/messages/${tipId}/reject`, { token: ops });
    expect(twice.status).toBe(409);
    expect(twice.body.error.code).toBe("message_not_held");
    socket.ws.close();
  });

  it("keeps a rejected message hidden; only moderation.manage decides", async () => {
    const held = await tip({ kind: "custom", amount: "1.00", message: HOLD_WORD });
    expect(held.body.tip.message.status).toBe("held");
    const tipId = held.body.tip.id as string;
    const forbidden = await call("POST", `/v1/admin/messages/${tipId}/approve`, { token: auditor });
    expect(forbidden.status).toBe(403);
    const rejected = await call("POST", `/v1/admin/messages/${tipId}/reject`, { token: ops });
    expect(rejected.status).toBe(200);
    expect(rejected.body.message.status).toBe("rejected");
    const late = await call("POST", `/v1/admin/messages/${tipId}/approve`, { token: ops });
    expect(late.body.error.code).toBe("message_not_held");
    const outbox = await (await shardDbOf(viewerId))
      .prepare("SELECT COUNT(*) AS n FROM room_outbox WHERE id = ?")
      .bind(`msg_${tipId}`)
      .first<number>("n");
    expect(outbox).toBe(0);
    expect(await auditRows(await shardDbOf(viewerId), "moderation.message.reject", tipId)).toHaveLength(1);
    const unknown = await call("POST", `/v1/admin/messages/${newId("tip", Date.now())}/approve`, { token: ops });
    expect(unknown.body.error.code).toBe("message_not_found");
  });

  it("decides a held message once when an approval and a rejection race", async () => {
    const held = await tip({ kind: "custom", amount: "1.00", message: `${HOLD_WORD}!` });
    const tipId = held.body.tip.id as string;
    const [a, r] = await Promise.all([
      call("POST", `/v1/admin/messages/${tipId}/approve`, { token: ops }),
      call("POST", `/v1/admin/messages/${tipId}/reject`, { token: ops }),
    ]);
    expect([a.status, r.status].sort()).toEqual([200, 409]);
    const winner = a.status === 200 ? "approve" : "reject";
    const db = await shardDbOf(viewerId);
    const row = await db
      .prepare("SELECT status FROM tip_messages WHERE tip_id = ?")
      .bind(tipId)
      .first<string>("status");
    expect(row).toBe(winner === "approve" ? "approved" : "rejected");
    const outbox = await db
      .prepare("SELECT COUNT(*) AS n FROM room_outbox WHERE id = ?")
      .bind(`msg_${tipId}`)
      .first<number>("n");
    expect(outbox).toBe(winner === "approve" ? 1 : 0);
    const audited = [
      ...(await auditRows(db, "moderation.message.approve", tipId)),
      ...(await auditRows(db, "moderation.message.reject", tipId)),
    ];
    expect(audited).toEqual([{ actor: `mod-ops-${suffix}`, action: `moderation.message.${winner}`, target: tipId }]);
  });

  it("leaves the ledger's invariants intact", async () => {
    const report = await invariantReport();
    expect(report.violations).toEqual([]);
  });
});

describe("red-packet greetings, room titles and creator names", () => {
  it("masks a red packet's greeting; a hold-level one is held: the packet goes out with the default greeting, the room gets the real one once approved", async () => {
    const masked = await call("POST", `/v1/rooms/${roomId}/red-packets`, {
      token: viewer,
      idempotencyKey: key(),
      body: { total: "1.00", shares: 2, greeting: `大吉 ${MASK_WORD}` },
    });
    expect(masked.status, JSON.stringify(masked.body)).toBe(201);
    expect(masked.body.packet.greeting).toBe(`大吉 ${"*".repeat(MASK_WORD.length)}`);
    expect(masked.body.greetingStatus).toBe("masked");

    const socket = await SocketProbe.open(`/v1/rooms/${roomId}/live?access_token=${await token("mod-watcher-2")}`);
    await socket.next("snapshot");
    const before = await balanceOf(`user:${viewerId}:wallet`);
    const written = `大吉 ${HOLD_WORD} ${MASK_WORD}`;
    const held = await call("POST", `/v1/rooms/${roomId}/red-packets`, {
      token: viewer,
      idempotencyKey: key(),
      body: { total: "1.00", shares: 2, greeting: written },
    });
    expect(held.status, JSON.stringify(held.body)).toBe(201);
    expect(held.body.greetingStatus).toBe("held");
    expect(held.body.packet.greeting).toBe("恭喜发财，大吉大利");
    const packetId = held.body.packet.id as string;
    // The money does not wait for the greeting.
    expect(await balanceOf(`user:${viewerId}:wallet`)).toBe(before - 100);
    expect(await balanceOf(`packet:${packetId}:escrow`)).toBe(100);
    const announced = await socket.next("packet.sent");
    expect(announced.packet).toMatchObject({ id: packetId, greeting: "恭喜发财，大吉大利" });
    expect(JSON.stringify(socket.frames)).not.toContain(HOLD_WORD);

    // In the same queue as tip messages, as kind `packet`.
    expect(await heldIds()).toContain(packetId);
    const page = await call("GET", "/v1/admin/messages/held?limit=100", { token: ops });
    expect(page.body.messages.find((m: { id: string }) => m.id === packetId)).toEqual({
      kind: "packet",
      id: packetId,
      tipId: null,
      roomId,
      contentId: null,
      viewerId,
      creatorId: creator,
      text: written,
      shown: `大吉 ${HOLD_WORD} ${"*".repeat(MASK_WORD.length)}`,
      status: "held",
      createdAtMs: expect.any(Number),
      reviewedBy: null,
      reviewedAtMs: null,
    });
    const shown = `大吉 ${HOLD_WORD} ${"*".repeat(MASK_WORD.length)}`;

    const forbidden = await call("POST", `/v1/admin/messages/${packetId}/approve`, { token: auditor });
    expect(forbidden.status).toBe(403);
    const approved = await call("POST", `/v1/admin/messages/${packetId}/approve`, { token: ops });
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    expect(approved.body.message).toMatchObject({ kind: "packet", id: packetId, status: "approved" });
    const frame = await socket.next("packet.greeting");
    expect(frame).toMatchObject({ packetId, greeting: shown });
    expect(await heldIds()).not.toContain(packetId);
    const read = await call("GET", `/v1/rooms/${roomId}/red-packets/${packetId}`, { token: viewer });
    expect([read.body.packet.greeting, read.body.live.greeting]).toEqual([shown, shown]);
    expect(await auditRows(await shardDbOf(viewerId), "moderation.message.approve", packetId)).toEqual([
      { actor: `mod-ops-${suffix}`, action: "moderation.message.approve", target: packetId },
    ]);
    const twice = await call("POST", `/v1/admin/messages/${packetId}/reject`, { token: ops });
    expect([twice.status, twice.body.error.code]).toEqual([409, "message_not_held"]);

    // A rejected greeting is never shown: the packet keeps the default one, nothing goes to the room.
    const other = await call("POST", `/v1/rooms/${roomId}/red-packets`, {
      token: viewer,
      idempotencyKey: key(),
      body: { total: "1.00", shares: 1, greeting: HOLD_WORD },
    });
    const otherId = other.body.packet.id as string;
    const rejected = await call("POST", `/v1/admin/messages/${otherId}/reject`, { token: ops });
    expect([rejected.status, rejected.body.message.status]).toEqual([200, "rejected"]);
    const otherRead = await call("GET", `/v1/rooms/${roomId}/red-packets/${otherId}`, { token: viewer });
    expect([otherRead.body.packet.greeting, otherRead.body.live.greeting]).toEqual([
      "恭喜发财，大吉大利",
      "恭喜发财，大吉大利",
    ]);
    const outbox = await (await shardDbOf(viewerId))
      .prepare("SELECT COUNT(*) AS n FROM room_outbox WHERE id = ?")
      .bind(`greeting_${otherId}`)
      .first<number>("n");
    expect(outbox).toBe(0);
    const unknown = await call("POST", `/v1/admin/messages/${newId("packet", Date.now())}/approve`, { token: ops });
    expect(unknown.body.error.code).toBe("message_not_found");
    expect(socket.ofType("packet.greeting")).toHaveLength(1);
    socket.ws.close();
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("masks a mask-level word and refuses a hold-level one with 422 text_refused", async () => {
    const owner = await token(creator, "creator");
    const masked = await call("PATCH", `/v1/rooms/${roomId}`, { token: owner, body: { title: `best ${MASK_WORD}` } });
    expect(masked.status).toBe(200);
    expect(masked.body.title).toBe(`best ${"*".repeat(MASK_WORD.length)}`);
    const refused = await call("PATCH", `/v1/rooms/${roomId}`, { token: owner, body: { title: HOLD_WORD } });
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe("text_refused");
    const other = `mod-creator2-${suffix}`;
    const name = await call("POST", "/v1/rooms", {
      token: await token(other, "creator"),
      body: { title: "hello", displayName: `x ${HOLD_WORD}` },
    });
    expect(name.status).toBe(422);
    expect(name.body.error.code).toBe("text_refused");
  });
});
