import { describe, expect, it } from "vitest";
import { call, callApproved, fund, ledger, openRoom, operatorToken, settleTransit, token } from "./helpers";

/**
 * Operator search and detail of unlocks (entitlements) and content items (issues 17 and 19):
 * readers spread over every ledger shard unlock one creator's item; the unlocks' search by
 * reader, creator, content item, state and time; an unlock's detail with its operation and,
 * once refunded, both legs of the refund; a content item's detail with its figures; a tip on a
 * content item shows the item.
 */

const RUN = crypto.randomUUID().slice(0, 6);

async function searchAs(tok: string, kind: string, query: Record<string, string | number>) {
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
  return call("GET", `/v1/admin/search/${kind}?${qs}`, { token: tok });
}

describe("operator search: unlocks and content items", () => {
  it("finds unlocks in every shard by reader, creator, item and state; details an unlock, its refund's two legs and the item's figures", async () => {
    const admin = await token(`srchc-admin-${RUN}`, "admin");
    const creatorId = `srchc-creator-${RUN}`;
    await openRoom(creatorId);
    const created = await call("POST", "/v1/admin/content", {
      token: admin,
      body: { creatorId, kind: "article", title: `Searchable ${RUN}`, price: "6.00" },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const contentId = created.body.id as string;
    const other = await call("POST", "/v1/admin/content", {
      token: admin,
      body: { creatorId, kind: "video", title: `Free ${RUN}`, price: null },
    });
    expect(other.status).toBe(201);

    const readers = Array.from({ length: 6 }, (_, i) => `srchc-r${i}-${RUN}`);
    const unlockIds: string[] = [];
    for (const reader of readers) {
      await fund(reader, "50.00");
      const res = await call("POST", `/v1/content/${contentId}/unlock`, {
        token: await token(reader),
        idempotencyKey: crypto.randomUUID(),
        body: {},
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      unlockIds.push(res.body.unlock.id);
    }
    const tipped = await call("POST", `/v1/content/${contentId}/tips`, {
      token: await token(readers[0] as string),
      idempotencyKey: crypto.randomUUID(),
      body: { amount: "8.80" },
    });
    expect(tipped.status, JSON.stringify(tipped.body)).toBe(201);
    await settleTransit();

    // By creator: all six, from every shard, once each.
    const l = await ledger();
    const byCreator = await searchAs(admin, "unlocks", { creatorId, limit: 4 });
    expect(byCreator.status, JSON.stringify(byCreator.body)).toBe(200);
    expect(byCreator.body.read.statements).toBe(l.shards.length);
    const second = await searchAs(admin, "unlocks", { creatorId, limit: 4, cursor: byCreator.body.nextCursor });
    const listed = [...byCreator.body.items, ...second.body.items];
    expect(listed.map((i: { id: string }) => i.id).sort()).toEqual([...unlockIds].sort());
    expect(second.body.nextCursor).toBeNull();
    expect(listed[0]).toMatchObject({ kind: "unlocks", state: "active", creatorId, contentId, amountMinor: 600 });
    // By reader, by item, by state, by time.
    const byReader = await searchAs(admin, "unlocks", { userId: readers[2] as string });
    expect(byReader.body.items.map((i: { id: string }) => i.id)).toEqual([unlockIds[2]]);
    expect((await searchAs(admin, "unlocks", { contentId, limit: 100 })).body.items).toHaveLength(6);
    expect((await searchAs(admin, "unlocks", { contentId, state: "revoked" })).body.items).toHaveLength(0);
    expect((await searchAs(admin, "unlocks", { contentId, fromMs: Date.now() + 60_000 })).body.items).toHaveLength(0);
    const refused = await searchAs(admin, "unlocks", { roomId: "room_01JDEM00000000000000000000" });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe("search_filter_unsupported");

    // Refund one (four-eyed), then its detail: revoked, both legs, the refund beside it.
    const unlockId = unlockIds[1] as string;
    const before = await call("GET", `/v1/admin/search/unlocks/${unlockId}`, { token: admin });
    expect(before.status).toBe(200);
    expect(before.body.record).toMatchObject({ state: "active", refunded: false, content_id: contentId });
    expect(before.body.operations.map((o: { kind: string }) => o.kind)).toContain("unlock");
    expect(before.body.related.contentItem).toMatchObject({ id: contentId, status: "active" });
    const refund = await callApproved("POST", `/v1/admin/unlocks/${unlockId}/refund`, {
      token: await operatorToken(),
      idempotencyKey: crypto.randomUUID(),
      body: { reason: "the article was withdrawn" },
    });
    expect(refund.status, JSON.stringify(refund.body)).toBe(201);
    const refundId = refund.body.refund.id as string;
    await settleTransit();
    const after = await call("GET", `/v1/admin/search/unlocks/${unlockId}`, { token: admin });
    expect(after.body.record).toMatchObject({ state: "revoked", refunded: true });
    expect(after.body.transitions.map((t: { to: string }) => t.to)).toEqual(["active", "revoked"]);
    expect(after.body.related.refund).toMatchObject({ id: refundId, payerLegDone: true });
    const legs = after.body.operations.map((o: { id: string; kind: string }) => [o.id, o.kind]);
    expect(legs).toEqual(
      expect.arrayContaining([
        [refundId, "unlock_refund"],
        [`${refundId}:payer`, "unlock_refund_payer"],
      ]),
    );
    const revoked = await searchAs(admin, "unlocks", { contentId, state: "revoked" });
    expect(revoked.body.items.map((i: { id: string }) => i.id)).toEqual([unlockId]);

    // The content item: found by creator, kind and status; its figures over every shard.
    const items = await searchAs(admin, "content", { creatorId });
    expect(items.body.items.map((i: { id: string }) => i.id).sort()).toEqual([contentId, other.body.id].sort());
    expect(items.body.read.statements).toBe(1);
    const videos = await searchAs(admin, "content", { creatorId, contentKind: "video" });
    expect(videos.body.items.map((i: { id: string }) => i.id)).toEqual([other.body.id]);
    expect((await searchAs(admin, "content", { creatorId, state: "archived" })).body.items).toHaveLength(0);
    const item = await call("GET", `/v1/admin/search/content/${contentId}`, { token: admin });
    expect(item.status).toBe(200);
    expect(item.body.record).toMatchObject({ id: contentId, price_minor: 600, status: "active" });
    expect(item.body.related.figures).toMatchObject({
      unlockCount: 6,
      unlockSumMinor: 3_600,
      revokedCount: 1,
      tipCount: 1,
      tipSumMinor: 880,
    });
    expect(item.body.related.recentUnlocks).toHaveLength(6);
    expect(item.body.related.recentUnlocks.find((u: { id: string }) => u.id === unlockId)).toMatchObject({
      state: "revoked",
    });

    // The content tip: room null, found by its item, its detail names the item.
    const tips = await searchAs(admin, "tips", { contentId });
    expect(tips.body.items).toHaveLength(1);
    expect(tips.body.items[0]).toMatchObject({ roomId: null, contentId, amountMinor: 880 });
    const tip = await call("GET", `/v1/admin/search/tips/${tips.body.items[0].id}`, { token: admin });
    expect(tip.body.related.contentItem).toMatchObject({ id: contentId });

    // Read permission: wallet.read (ops lacks it).
    const ops = await token(`srchc-ops-${RUN}`, "ops");
    expect((await searchAs(ops, "unlocks", {})).status).toBe(403);
    expect((await searchAs(ops, "content", {})).status).toBe(403);
    expect((await call("GET", `/v1/admin/search/unlocks/${unlockId}`, { token: ops })).status).toBe(403);
    expect(
      (await call("GET", "/v1/admin/search/unlocks/unl_01JDEM00000000000000000000", { token: admin })).status,
    ).toBe(404);
  });
});
