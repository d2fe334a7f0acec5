/**
 * Tips on content items (issue 19): an offline creator is tipped on an article; a creator tipped
 * in a live room and on a post settles both exactly; the item's leaderboard is exact with viewers
 * in different shards; replays and concurrent duplicates make one tip; refusals move nothing.
 */

import { describe, expect, it } from "vitest";
import { OPERATION_FACT_WHERE, readOperationEvents } from "../../src/db/business-events";
import { rollupShardDay } from "../../src/db/dashboard-rollup";
import { runOperation } from "../../src/db/ledger";
import { composeTip, prepareContentTip } from "../../src/db/operations/tip";
import { newOwnedId } from "../../src/domain/ids";
import { formatMinor } from "../../src/domain/money";
import { splitRevenue } from "../../src/domain/revenue-share";
import { withholdingMinor } from "../../src/domain/withholding";
import {
  balanceOf,
  call,
  changedTables,
  config,
  fund,
  invariantReport,
  key,
  ledger,
  ledgerSnapshot,
  openRoom,
  ownersAcrossShards,
  settleTransit,
  shardDbOf,
  token,
  withPin,
} from "./helpers";
import { at, quietLedger, runSettlementApi, settlementRow, tipAt } from "./money-out-support";

const run = crypto.randomUUID().slice(0, 8);

async function adminToken(): Promise<string> {
  return token(`ctip-admin-${run}`, "admin");
}

/** A creator whose room exists but is offline (the stream ended), and an unpriced item of theirs. */
async function offlineCreatorItem(label: string, kind = "article"): Promise<{ creatorId: string; contentId: string }> {
  const creatorId = `ctip-${label}-creator-${run}`;
  const roomId = await openRoom(creatorId);
  const ended = await call("POST", `/v1/rooms/${roomId}/end`, { token: await token(creatorId, "creator", "viewer") });
  expect(ended.status, JSON.stringify(ended.body)).toBeLessThan(300);
  const res = await call("POST", "/v1/admin/content", {
    token: await adminToken(),
    body: { creatorId, kind, title: `Free ${label}` },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  creators.set(res.body.id, creatorId);
  return { creatorId, contentId: res.body.id };
}

const creators = new Map<string, string>();
const creatorIdOf = (contentId: string) => creators.get(contentId) as string;

/** A partner linked to `creatorIds`, with one `content.write` key. */
async function partnerKey(creatorIds: string[]): Promise<string> {
  const admin = await adminToken();
  const created = await call("POST", "/v1/admin/partners", {
    token: admin,
    body: { name: `Content tips ${run} ${creatorIds.length}`, contactEmail: "dev@partner.example", creatorIds },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const issued = await call("POST", `/v1/admin/partners/${created.body.id}/keys`, {
    token: admin,
    body: { name: "server", mode: "test", scopes: ["content.write"] },
  });
  expect(issued.status, JSON.stringify(issued.body)).toBe(201);
  return issued.body.key as string;
}

const tipOn = (contentId: string, t: string, body: object, idempotencyKey: string | undefined = key()) =>
  call("POST", `/v1/content/${contentId}/tips`, { token: t, idempotencyKey, body });

describe("tips on content items", () => {
  it("tips an offline creator's free article: the split, the rows, the creator's pending, the event", async () => {
    const { creatorId, contentId } = await offlineCreatorItem("article");
    const viewerId = `ctip-article-viewer-${run}`;
    await fund(viewerId, "20.00");
    const t = await token(viewerId, "viewer");
    const res = await tipOn(contentId, t, { amount: "8.80", message: "写得真好" });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const split = splitRevenue(880, config.platformShareBps);
    expect(res.body).toEqual({
      tip: {
        id: expect.stringMatching(/^tip_/),
        contentId,
        creatorId,
        viewerId,
        giftId: null,
        quantity: 1,
        amountMinor: 880,
        amount: "8.80",
        platformMinor: split.platformMinor,
        creatorMinor: split.creatorMinor,
        message: "写得真好",
        messageStatus: "shown",
        createdAtMs: expect.any(Number),
      },
      walletBalanceMinor: 2000 - 880,
    });
    const db = await shardDbOf(viewerId);
    const row = await db.prepare("SELECT * FROM tips WHERE id = ?").bind(res.body.tip.id).first();
    expect(row).toMatchObject({ room_id: null, stream_id: null, content_id: contentId, creator_id: creatorId, big: 0 });
    const message = await db.prepare("SELECT * FROM tip_messages WHERE tip_id = ?").bind(res.body.tip.id).first();
    expect(message).toMatchObject({ room_id: null, content_id: contentId, status: "shown" });
    // No room outbox row: no room shows it.
    const outbox = await db
      .prepare("SELECT COUNT(*) AS n FROM room_outbox WHERE id = ? OR json_extract(payload, '$.id') = ?")
      .bind(res.body.tip.id, res.body.tip.id)
      .first<{ n: number }>();
    expect(outbox?.n).toBe(0);
    await settleTransit();
    expect(await balanceOf(`creator:${creatorId}:pending`)).toBe(split.creatorMinor);
    // Its business event is read back from the operation (a room's tip gives none this way).
    const events = await readOperationEvents(db, [{ id: res.body.tip.id, kind: "tip" }]);
    expect(events.map((e) => [e.type, e.data])).toEqual([
      [
        "tip.created",
        expect.objectContaining({ tipId: res.body.tip.id, contentId, roomId: null, streamId: null, amountMinor: 880 }),
      ],
    ]);
    // The sweeper walks it (its operation names the item), and would walk no room tip.
    const walked = await db
      .prepare(`SELECT id FROM operations WHERE id = ? AND kind = 'tip' AND ${OPERATION_FACT_WHERE}`)
      .bind(res.body.tip.id)
      .first<{ id: string }>();
    expect(walked?.id).toBe(res.body.tip.id);
    const roomTipWalked = await db
      .prepare(`SELECT COUNT(*) AS n FROM operations WHERE kind = 'tip' AND ${OPERATION_FACT_WHERE}
        AND json_extract(metadata, '$.roomId') IS NOT NULL`)
      .first<{ n: number }>();
    expect(roomTipWalked?.n).toBe(0);
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("refuses an unknown or archived item, one's own, a bad body, and moves nothing", async () => {
    const { creatorId, contentId } = await offlineCreatorItem("refusals", "post");
    const viewerId = `ctip-refusals-viewer-${run}`;
    await fund(viewerId, "5.00");
    const t = await token(viewerId, "viewer");
    let before = await ledgerSnapshot();
    const own = await tipOn(contentId, await token(creatorId, "creator", "viewer"), { amount: "1.00" });
    expect([own.status, own.body.error.code]).toEqual([422, "self_tip"]);
    const missing = await tipOn("cnt_01JDEM00000000000000000000", t, { amount: "1.00" });
    expect([missing.status, missing.body.error.code]).toEqual([404, "content_not_found"]);
    const both = await tipOn(contentId, t, { amount: "1.00", giftId: "rose" });
    expect(both.status).toBe(400);
    const neither = await tipOn(contentId, t, { message: "hi" });
    expect(neither.status).toBe(400);
    const poor = await tipOn(contentId, t, { amount: "50.00" });
    expect(poor.body.error.code).toBe("insufficient_funds");
    let after = await ledgerSnapshot();
    expect(changedTables(before, after)).toEqual([]);
    const archived = await call("PATCH", `/v1/admin/content/${contentId}`, {
      token: await adminToken(),
      body: { status: "archived" },
    });
    expect(archived.status).toBe(200);
    before = await ledgerSnapshot();
    const refused = await tipOn(contentId, t, { amount: "1.00" });
    expect([refused.status, refused.body.error.code]).toEqual([409, "content_archived"]);
    after = await ledgerSnapshot();
    expect(changedTables(before, after)).toEqual([]);
    expect(await balanceOf(`user:${viewerId}:wallet`)).toBe(500);
  });

  it("a replay answers the stored 201; 20 concurrent duplicates of one key make one tip", async () => {
    const { creatorId, contentId } = await offlineCreatorItem("dupes", "video");
    const viewerId = `ctip-dupes-viewer-${run}`;
    await fund(viewerId, "10.00");
    const t = await token(viewerId, "viewer");
    const k = key();
    const responses = await Promise.all(Array.from({ length: 20 }, () => tipOn(contentId, t, { amount: "1.00" }, k)));
    const created = responses.filter((r) => r.status === 201);
    // The rest were in flight with the first (409) or replayed it (201, the same body).
    expect(responses.every((r) => r.status === 201 || r.status === 409)).toBe(true);
    expect(new Set(created.map((r) => r.body.tip.id)).size).toBe(1);
    const replay = await tipOn(contentId, t, { amount: "1.00" }, k);
    expect(replay.status).toBe(201);
    expect(replay.body).toEqual(created[0]?.body);
    const changed = await tipOn(contentId, t, { amount: "2.00" }, k);
    expect(changed.status).toBe(422);
    const db = await shardDbOf(viewerId);
    const count = await db
      .prepare("SELECT COUNT(*) AS n FROM tips WHERE content_id = ?")
      .bind(contentId)
      .first<{ n: number }>();
    expect(count?.n).toBe(1);
    expect(await balanceOf(`user:${viewerId}:wallet`)).toBe(900);
    await settleTransit();
    expect(await balanceOf(`creator:${creatorId}:pending`)).toBe(
      splitRevenue(100, config.platformShareBps).creatorMinor,
    );
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("above the password-free limit it needs the PIN (the same key again with it); the custom bounds hold", async () => {
    const { contentId } = await offlineCreatorItem("pin");
    const viewerId = `ctip-pin-viewer-${run}`;
    const dearMinor = config.autopayDefaults.perTipMaxMinor + 100;
    await fund(viewerId, formatMinor(dearMinor * 2));
    const t = await token(viewerId, "viewer");
    const k = key();
    const before = await ledgerSnapshot();
    const refused = await tipOn(contentId, t, { amount: formatMinor(dearMinor) }, k);
    expect([refused.status, refused.body.error.code]).toEqual([428, "pin_required"]);
    const tooSmall = await tipOn(contentId, t, { amount: formatMinor(config.customTip.minMinor - 1) });
    expect([tooSmall.status, tooSmall.body.error.code]).toEqual([422, "amount_out_of_range"]);
    const noGift = await tipOn(contentId, t, { giftId: "no-such-gift" });
    expect([noGift.status, noGift.body.error.code]).toEqual([404, "gift_not_found"]);
    expect(changedTables(before, await ledgerSnapshot())).toEqual([]);
    const confirmed = await tipOn(contentId, t, await withPin(viewerId, { amount: formatMinor(dearMinor) }), k);
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(201);
    expect(confirmed.body.tip.amountMinor).toBe(dearMinor);
    expect(await balanceOf(`user:${viewerId}:wallet`)).toBe(dearMinor);
  });

  it("a held message waits for review like a room tip's, with no room to tell; the tip posts", async () => {
    const { contentId } = await offlineCreatorItem("held");
    const ops = await token(`ctip-ops-${run}`, "ops");
    const word = `禁词${run}`;
    const added = await call("POST", "/v1/admin/moderation/words", { token: ops, body: { word, level: "hold" } });
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    const viewerId = `ctip-held-viewer-${run}`;
    await fund(viewerId, "5.00");
    const res = await tipOn(contentId, await token(viewerId, "viewer"), { amount: "1.00", message: `看 ${word}` });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.tip.messageStatus).toBe("held");
    const db = await shardDbOf(viewerId);
    const row = () => db.prepare("SELECT * FROM tip_messages WHERE tip_id = ?").bind(res.body.tip.id).first();
    expect(await row()).toMatchObject({ room_id: null, content_id: contentId, status: "held" });
    const approved = await call("POST", `/v1/admin/messages/${res.body.tip.id}/approve`, { token: ops });
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    expect(await row()).toMatchObject({ status: "approved" });
    expect(await balanceOf(`user:${viewerId}:wallet`)).toBe(400);
    expect((await invariantReport()).violations).toEqual([]);
  });
});

describe("content leaderboards", () => {
  it("is exact with viewers in different shards, and refuses an unknown item", async () => {
    const { contentId } = await offlineCreatorItem("board", "post");
    const l = await ledger();
    const viewers = await ownersAcrossShards(`ctip-board-${run}`, 8);
    expect(new Set(viewers.map((v) => l.forOwner(v).index)).size).toBe(Math.min(8, l.shards.length));
    // Ties (240, 1000) are broken by user id.
    const amounts = [600, 240, 1000, 240, 400, 500, 200, 1000];
    for (const [i, v] of viewers.entries()) {
      await fund(v, "20.00");
      const t = await token(v, "viewer");
      // Two tips each, so the board sums per viewer.
      const first = await tipOn(contentId, t, { amount: ((amounts[i] as number) / 200).toFixed(2) });
      const second = await tipOn(contentId, t, { amount: ((amounts[i] as number) / 200).toFixed(2) });
      expect([first.status, second.status]).toEqual([201, 201]);
    }
    const expected = viewers
      .map((v, i) => ({ userId: v, amountMinor: amounts[i] as number }))
      .sort((a, b) => b.amountMinor - a.amountMinor || (a.userId < b.userId ? -1 : 1))
      .slice(0, 5)
      .map((e, i) => ({ rank: i + 1, ...e }));
    const t = await token(`ctip-board-reader-${run}`, "viewer");
    const board = await call("GET", `/v1/content/${contentId}/leaderboard?limit=5`, { token: t });
    expect(board.status).toBe(200);
    expect(board.body).toEqual({
      contentId,
      totalMinor: amounts.reduce((a, b) => a + b, 0),
      tipCount: 16,
      entries: expected,
    });
    // A partner of the item's creator reads the same board; another partner does not see the item.
    const mine = await partnerKey([creatorIdOf(contentId)]);
    const theirs = await partnerKey([]);
    const viaPartner = await call("GET", `/v1/partner/content/${contentId}/leaderboard?limit=5`, {
      headers: { authorization: `Bearer ${mine}` },
    });
    expect([viaPartner.status, viaPartner.body]).toEqual([200, board.body]);
    const notTheirs = await call("GET", `/v1/partner/content/${contentId}/leaderboard`, {
      headers: { authorization: `Bearer ${theirs}` },
    });
    expect([notTheirs.status, notTheirs.body.error.code]).toEqual([404, "content_not_found"]);
    const unknown = await call("GET", "/v1/content/cnt_01JDEM00000000000000000000/leaderboard", { token: t });
    expect(unknown.body.error.code).toBe("content_not_found");
    const anonymous = await call("GET", `/v1/content/${contentId}/leaderboard`);
    expect(anonymous.status).toBe(401);
  });
});

describe("a creator's boards count room and content tips together", () => {
  it("the creator's insights (income by day, top fans, gift preference) sum a room tip and two post tips", async () => {
    const creatorId = `ctip-fans-creator-${run}`;
    const roomId = await openRoom(creatorId);
    const made = await call("POST", "/v1/admin/content", {
      token: await adminToken(),
      body: { creatorId, kind: "post", title: "Fans' post" },
    });
    expect(made.status).toBe(201);
    const contentId = made.body.id as string;
    const ana = `ctip-fans-ana-${run}`;
    const bo = `ctip-fans-bo-${run}`;
    await fund(ana, "100.00");
    await fund(bo, "100.00");
    const inRoom = await call("POST", `/v1/rooms/${roomId}/tips`, {
      token: await token(ana),
      idempotencyKey: key(),
      body: { kind: "custom", amount: "12.00" },
    });
    expect(inRoom.status, JSON.stringify(inRoom.body)).toBe(201);
    const onPost = [
      await tipOn(contentId, await token(bo), { amount: "20.00" }),
      await tipOn(contentId, await token(ana), { amount: "3.00" }),
    ];
    for (const r of onPost) expect(r.status, JSON.stringify(r.body)).toBe(201);
    const tips = [inRoom.body.tip, ...onPost.map((r) => r.body.tip)];

    const res = await call("GET", "/v1/creators/me/insights?days=7", { token: await token(creatorId, "creator") });
    expect(res.status).toBe(200);
    expect(res.body.daily.at(-1)).toMatchObject({
      tips: 3,
      grossMinor: 3_500,
      creatorMinor: tips.reduce((sum, t) => sum + t.creatorMinor, 0),
    });
    expect(res.body.topFans).toEqual([
      { viewerId: bo, tips: 1, unlocks: 0, grossMinor: 2_000 },
      { viewerId: ana, tips: 2, unlocks: 0, grossMinor: 1_500 },
    ]);
    expect(res.body.gifts).toEqual([{ giftId: null, name: null, count: 3, grossMinor: 3_500 }]);
    // The post's own board has only the post's tips; the room's tip is on the room's.
    const board = await call("GET", `/v1/content/${contentId}/leaderboard?limit=10`, { token: await token(ana) });
    expect(board.body).toMatchObject({ totalMinor: 2_300, tipCount: 2 });
  });
});

describe("content tips settle with the creator's room tips", () => {
  it("a creator tipped in a live room and on a post: pending and the day's settlement include both exactly", async () => {
    const day = "2026-09-17";
    const creatorId = `ctip-settle-creator-${run}`;
    const roomId = await openRoom(creatorId);
    const made = await call("POST", "/v1/admin/content", {
      token: await adminToken(),
      body: { creatorId, kind: "post", title: "A post" },
    });
    expect(made.status).toBe(201);
    const contentId = made.body.id as string;
    const inRoom = `ctip-settle-room-viewer-${run}`;
    const onPost = `ctip-settle-post-viewer-${run}`;
    await fund(inRoom, "50.00");
    await fund(onPost, "50.00");
    const roomTip = await tipAt(roomId, inRoom, "12.00", at(day));
    const l = await quietLedger();
    const nowMs = at(day, 1_000);
    const id = newOwnedId("tip", l.bucketOf(onPost), nowMs);
    const rules = { platformShareBps: config.platformShareBps, customTip: config.customTip };
    const prepared = await prepareContentTip(
      l.control,
      rules,
      { id, contentId, viewerId: onPost, ask: { kind: "custom", amount: "7.77" } },
      nowMs,
    );
    if (!prepared.ok) throw new Error(prepared.code);
    const shard = l.forOwner(onPost);
    const { verdict } = await runOperation(shard, composeTip(shard, prepared.value));
    expect(verdict.kind).toBe("posted");
    await settleTransit();
    const postTip = prepared.value.priced;
    const creatorPart = roomTip.creatorMinor + postTip.creatorMinor;
    expect(await balanceOf(`creator:${creatorId}:pending`)).toBe(creatorPart);
    const ran = await runSettlementApi(day);
    expect(ran.status, JSON.stringify(ran.body)).toBe(200);
    expect(ran.body.settled).toContain(creatorId);
    const withheld = withholdingMinor(creatorPart, config.settlement.withholdingBps);
    expect(await settlementRow(creatorId, day)).toMatchObject({
      state: "settled",
      gross_minor: 1200 + 777,
      platform_minor: roomTip.platformMinor + postTip.platformMinor,
      creator_part_minor: creatorPart,
      withholding_minor: withheld,
      net_minor: creatorPart - withheld,
      tip_count: 2,
    });
    expect(await balanceOf(`creator:${creatorId}:pending`)).toBe(0);
    expect(await balanceOf(`creator:${creatorId}:available`)).toBe(creatorPart - withheld);
    // The room's own rows are untouched by the content tip: one tip in the room.
    const roomRows = await Promise.all(
      (await ledger()).shards.map((s) =>
        s.db.prepare("SELECT COUNT(*) AS n FROM tips WHERE room_id = ?").bind(roomId).first<{ n: number }>(),
      ),
    );
    expect(roomRows.reduce((sum, r) => sum + (r?.n ?? 0), 0)).toBe(1);
    // The day's dashboard rollup takes both: the creator's top counts both, the rooms' only the room's.
    const entity = async (kind: string, entityKey: string) => {
      let amount = 0;
      for (const s of (await ledger()).shards) {
        await rollupShardDay(s.db, day, config.businessTimeZone, Date.now());
        const row = await s.db
          .prepare("SELECT amount_minor FROM dashboard_entity_days WHERE day = ? AND kind = ? AND key = ?")
          .bind(day, kind, entityKey)
          .first<{ amount_minor: number }>();
        amount += row?.amount_minor ?? 0;
      }
      return amount;
    };
    expect(await entity("creator", creatorId)).toBe(1200 + 777);
    expect(await entity("room", roomId)).toBe(1200);
    expect((await invariantReport()).violations).toEqual([]);
  });
});
