/**
 * A content item's recent tips (issue 19, `GET /v1/content/{id}/tips`): newest first, merged
 * across the ledger shards with a cursor that neither repeats nor skips; a message only once
 * moderation let it through (held: hidden until approved; rejected: never); a reversed tip
 * stays listed, flagged, without its message.
 */

import { describe, expect, it } from "vitest";
import { runOperation } from "../../src/db/ledger";
import { composeTip, prepareContentTip } from "../../src/db/operations/tip";
import { newOwnedId } from "../../src/domain/ids";
import type { ModeratedMessage } from "../../src/domain/moderation";
import { encodeSearchCursor } from "../../src/domain/search";
import { call, config, fund, key, ledger, openRoom, ownersAcrossShards, settleTransit, token } from "./helpers";
import { reverseApi } from "./money-out-support";

const run = crypto.randomUUID().slice(0, 8);

async function adminToken(): Promise<string> {
  return token(`crt-admin-${run}`, "admin");
}

/** A fresh creator (room opened and ended) and a free item of theirs. */
async function item(label: string): Promise<{ creatorId: string; contentId: string }> {
  const creatorId = `crt-${label}-creator-${run}`;
  const roomId = await openRoom(creatorId);
  const ended = await call("POST", `/v1/rooms/${roomId}/end`, { token: await token(creatorId, "creator", "viewer") });
  expect(ended.status, JSON.stringify(ended.body)).toBeLessThan(300);
  const res = await call("POST", "/v1/admin/content", {
    token: await adminToken(),
    body: { creatorId, kind: "post", title: `Post ${label}` },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { creatorId, contentId: res.body.id };
}

/** A tip on the item posted at `nowMs` exactly (so several shards can hold tips of one millisecond). */
async function tipAtMs(
  contentId: string,
  viewerId: string,
  amount: string,
  nowMs: number,
  message: ModeratedMessage | null = null,
): Promise<string> {
  const l = await ledger();
  const id = newOwnedId("tip", l.bucketOf(viewerId), nowMs);
  const rules = { platformShareBps: config.platformShareBps, customTip: config.customTip };
  const prepared = await prepareContentTip(
    l.control,
    rules,
    { id, contentId, viewerId, ask: { kind: "custom", amount }, message },
    nowMs,
  );
  if (!prepared.ok) throw new Error(prepared.code);
  const shard = l.forOwner(viewerId);
  const { verdict } = await runOperation(shard, composeTip(shard, prepared.value));
  expect(verdict.kind).toBe("posted");
  return id;
}

/** Every page of the item's tips at `limit` a page, following the cursor to the end. */
async function allPages(path: string, auth: { token?: string; headers?: Record<string, string> }, limit: number) {
  const pages: { id: string; message: string | null }[][] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 100; i++) {
    const query: string = cursor === null ? `?limit=${limit}` : `?limit=${limit}&cursor=${cursor}`;
    const res = await call("GET", `${path}${query}`, auth);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.tips.length).toBeLessThanOrEqual(limit);
    pages.push(res.body.tips);
    cursor = res.body.nextCursor;
    if (cursor === null) return pages;
  }
  throw new Error("the cursor never ended");
}

describe("a content item's recent tips", () => {
  it("pages of 1, 2 and 3 across the shards list every tip once, newest first (ties by id)", async () => {
    const { creatorId, contentId } = await item("paging");
    const viewers = await ownersAcrossShards(`crt-paging-${run}`, 4);
    for (const v of viewers) await fund(v, "50.00");
    const base = Date.UTC(2026, 10, 1, 12);
    // Eleven tips: several in one millisecond in different shards, and two in one shard.
    const times = [base, base, base, base + 5, base + 5, base + 5, base + 9, base + 9, base + 12, base + 12, base + 20];
    const tips: { id: string; atMs: number; message: string | null }[] = [];
    for (const [i, atMs] of times.entries()) {
      const viewerId = viewers[i % viewers.length] as string;
      const message: ModeratedMessage | null =
        i % 3 === 0 ? { text: `第${i}条`, shown: `第${i}条`, status: "shown" } : null;
      const id = await tipAtMs(contentId, viewerId, `1.0${i % 10}`, atMs, message);
      tips.push({ id, atMs, message: message?.shown ?? null });
    }
    await settleTransit();
    const expected = [...tips].sort((a, b) => b.atMs - a.atMs || (a.id < b.id ? 1 : -1));
    const t = await token(`crt-paging-reader-${run}`, "viewer");
    for (const limit of [1, 2, 3]) {
      const pages = await allPages(`/v1/content/${contentId}/tips`, { token: t }, limit);
      expect(pages.length).toBe(Math.ceil(tips.length / limit));
      expect(pages.flat().map((tip) => [tip.id, tip.message])).toEqual(expected.map((tip) => [tip.id, tip.message]));
    }
    // One page holds the whole row of each tip.
    const first = await call("GET", `/v1/content/${contentId}/tips?limit=1`, { token: t });
    const newest = expected[0] as { id: string; atMs: number };
    expect(first.body).toEqual({
      contentId,
      tips: [
        {
          id: newest.id,
          viewerId: viewers[10 % viewers.length],
          giftId: null,
          quantity: 1,
          amountMinor: 100,
          amount: "1.00",
          currency: "CNY",
          createdAtMs: newest.atMs,
          message: null,
          reversed: false,
        },
      ],
      nextCursor: expect.any(String),
    });
    // A partner of the item's creator pages the same list; the default page is 10.
    const admin = await adminToken();
    const partner = await call("POST", "/v1/admin/partners", {
      token: admin,
      body: { name: `Recent tips ${run}`, contactEmail: "dev@partner.example", creatorIds: [creatorId] },
    });
    expect(partner.status, JSON.stringify(partner.body)).toBe(201);
    const issued = await call("POST", `/v1/admin/partners/${partner.body.id}/keys`, {
      token: admin,
      body: { name: "server", mode: "test", scopes: ["content.write"] },
    });
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    const headers = { authorization: `Bearer ${issued.body.key}` };
    const viaPartner = await allPages(`/v1/partner/content/${contentId}/tips`, { headers }, 2);
    expect(viaPartner.flat().map((tip) => tip.id)).toEqual(expected.map((tip) => tip.id));
    const defaultPage = await call("GET", `/v1/content/${contentId}/tips`, { token: t });
    expect(defaultPage.body.tips.map((tip: { id: string }) => tip.id)).toEqual(
      expected.slice(0, 10).map((tip) => tip.id),
    );
    // Each shard reads the page through the (content_id, created_at_ms, id) index, with no sort step.
    const l = await ledger();
    const plan = await l.shards[0]?.db
      .prepare(
        `EXPLAIN QUERY PLAN SELECT id FROM tips t WHERE t.content_id = ?1
         AND t.created_at_ms <= ?2 AND (t.created_at_ms < ?2 OR t.id < ?3) ORDER BY t.created_at_ms DESC, t.id DESC LIMIT ?4`,
      )
      .bind(contentId, base, "", 3)
      .all<{ detail: string }>();
    const details = (plan?.results ?? []).map((r) => r.detail).join(" | ");
    expect(details).toContain("tips_content_created");
    expect(details).not.toContain("TEMP B-TREE");
  });

  it("a held message is not shown until approved; a rejected one never; a reversed tip is flagged without it", async () => {
    const { contentId } = await item("held");
    const ops = await token(`crt-ops-${run}`, "ops");
    const word = `禁语${run}`;
    const added = await call("POST", "/v1/admin/moderation/words", { token: ops, body: { word, level: "hold" } });
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    const [held, refused, plain] = await ownersAcrossShards(`crt-held-${run}`, 3);
    const send = async (viewerId: string, message: string) => {
      await fund(viewerId, "10.00");
      const res = await call("POST", `/v1/content/${contentId}/tips`, {
        token: await token(viewerId, "viewer"),
        idempotencyKey: key(),
        body: { amount: "1.00", message },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.tip as { id: string; messageStatus: string };
    };
    const heldTip = await send(held as string, `等 ${word}`);
    const refusedTip = await send(refused as string, `不 ${word}`);
    const plainTip = await send(plain as string, "写得好");
    expect([heldTip.messageStatus, refusedTip.messageStatus, plainTip.messageStatus]).toEqual([
      "held",
      "held",
      "shown",
    ]);
    const t = await token(`crt-held-reader-${run}`, "viewer");
    const messages = async () => {
      const res = await call("GET", `/v1/content/${contentId}/tips`, { token: t });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return Object.fromEntries(
        (res.body.tips as { id: string; message: string | null; reversed: boolean }[]).map((tip) => [
          tip.id,
          [tip.message, tip.reversed],
        ]),
      );
    };
    expect(await messages()).toEqual({
      [heldTip.id]: [null, false],
      [refusedTip.id]: [null, false],
      [plainTip.id]: ["写得好", false],
    });
    const approved = await call("POST", `/v1/admin/messages/${heldTip.id}/approve`, { token: ops });
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    const rejected = await call("POST", `/v1/admin/messages/${refusedTip.id}/reject`, { token: ops });
    expect(rejected.status, JSON.stringify(rejected.body)).toBe(200);
    expect(await messages()).toEqual({
      [heldTip.id]: [`等 ${word}`, false],
      [refusedTip.id]: [null, false],
      [plainTip.id]: ["写得好", false],
    });
    // A reversed tip: still listed (the record stays), flagged, its message no longer shown.
    await settleTransit();
    const reversed = await reverseApi(plainTip.id);
    expect(reversed.status, JSON.stringify(reversed.body)).toBe(201);
    // A new tip on the item forgets the cached first page (the reversal alone may take the cache's bound).
    const later = await send(`crt-held-later-${run}`, "再来");
    expect(await messages()).toEqual({
      [heldTip.id]: [`等 ${word}`, false],
      [refusedTip.id]: [null, false],
      [plainTip.id]: [null, true],
      [later.id]: ["再来", false],
    });
  });

  it("refuses a bad cursor (400 malformed_request), an unknown item (404), no sign-in (401), another partner (404)", async () => {
    const { contentId } = await item("refusals");
    const t = await token(`crt-refusals-reader-${run}`, "viewer");
    const bad = [
      "not-a-cursor!",
      "eyJ4Ijox", // base64url of a broken JSON
      // A tips search's cursor is not this listing's.
      encodeSearchCursor("tips", { atMs: 1, id: "tip_01JDEM00000000000000000000" }),
    ];
    for (const cursor of bad) {
      const res = await call("GET", `/v1/content/${contentId}/tips?cursor=${encodeURIComponent(cursor)}`, {
        token: t,
      });
      expect([res.status, res.body.error?.code], cursor).toEqual([400, "malformed_request"]);
    }
    const tooMany = await call("GET", `/v1/content/${contentId}/tips?limit=51`, { token: t });
    expect(tooMany.status).toBe(400);
    const unknown = await call("GET", "/v1/content/cnt_01JDEM00000000000000000000/tips", { token: t });
    expect([unknown.status, unknown.body.error.code]).toEqual([404, "content_not_found"]);
    const anonymous = await call("GET", `/v1/content/${contentId}/tips`);
    expect(anonymous.status).toBe(401);
    const admin = await adminToken();
    const other = await call("POST", "/v1/admin/partners", {
      token: admin,
      body: { name: `Other ${run}`, contactEmail: "dev@partner.example", creatorIds: [] },
    });
    const otherKey = await call("POST", `/v1/admin/partners/${other.body.id}/keys`, {
      token: admin,
      body: { name: "server", mode: "test", scopes: ["content.write"] },
    });
    const notTheirs = await call("GET", `/v1/partner/content/${contentId}/tips`, {
      headers: { authorization: `Bearer ${otherKey.body.key}` },
    });
    expect([notTheirs.status, notTheirs.body.error.code]).toEqual([404, "content_not_found"]);
  });
});
