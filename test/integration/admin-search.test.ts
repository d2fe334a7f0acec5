import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { call, fund, ledger, settleTransit, token } from "./helpers";
import { type Committed, creatorAndViewer, reverseApi, tipAt } from "./money-out-support";

/**
 * The operator search over every ledger shard (issue 17): a creator's tips from twelve viewers
 * (spread over the shards by their buckets), several at the same millisecond, paged through
 * with the opaque cursor; the filters; the detail with its operations; the permissions.
 */

const RUN = crypto.randomUUID().slice(0, 6);
/** This file's tips are at these times (a window no other file's tips share, and each test filters by its creator). */
const BASE_MS = Date.UTC(2025, 6, 7, 3, 0, 0);

interface Item {
  id: string;
  atMs: number;
  shard: number | null;
  state: string | null;
  userId: string | null;
  creatorId: string | null;
  roomId: string | null;
  amountMinor: number | null;
}

async function searchAs(tok: string, kind: string, query: Record<string, string | number>) {
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
  return call("GET", `/v1/admin/search/${kind}?${qs}`, { token: tok });
}

async function walk(tok: string, kind: string, query: Record<string, string | number>): Promise<Item[][]> {
  const pages: Item[][] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 100; i++) {
    const res = await searchAs(tok, kind, cursor === null ? query : { ...query, cursor });
    expect(res.status).toBe(200);
    pages.push(res.body.items);
    cursor = res.body.nextCursor;
    if (cursor === null) return pages;
  }
  throw new Error("the cursor never ended");
}

const newestFirst = (a: { atMs: number; id: string }, b: { atMs: number; id: string }) =>
  b.atMs - a.atMs || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

describe("operator search and detail across the ledger shards", () => {
  let admin: string;
  let creator: string;
  let roomId: string;
  const viewers: string[] = [];
  const tips: (Committed & { viewer: string; atMs: number })[] = [];

  beforeAll(async () => {
    admin = await token(`srch-admin-${RUN}`, "admin");
    const first = await creatorAndViewer(`srch-${RUN}`);
    creator = first.creator;
    roomId = first.roomId;
    viewers.push(first.viewer);
    for (let v = 1; v < 12; v++) {
      const viewer = `srch-${RUN}-v${v}`;
      await fund(viewer, "500.00");
      viewers.push(viewer);
    }
    // 30 tips over 7 distinct milliseconds: ties in time are ordered by id.
    for (let i = 0; i < 30; i++) {
      const viewer = viewers[i % viewers.length] as string;
      const atMs = BASE_MS + (i % 7) * 1_000;
      tips.push({ ...(await tipAt(roomId, viewer, `${1 + i}.00`, atMs)), viewer, atMs });
    }
    await settleTransit();
  });

  it("paging a creator's tips with the cursor lists every tip exactly once, newest first, from every shard", async () => {
    const shards = (await ledger()).shards.length;
    const expected = tips.map((t) => ({ id: t.id, atMs: t.atMs })).sort(newestFirst);
    for (const limit of [1, 4, 7, 30, 100]) {
      const pages = await walk(admin, "tips", { creatorId: creator, limit });
      const listed = pages.flat();
      expect(listed.map((t) => t.id)).toEqual(expected.map((t) => t.id));
      expect(new Set(listed.map((t) => t.id)).size).toBe(tips.length);
      for (const page of pages.slice(0, -1)) expect(page).toHaveLength(limit);
      expect(pages.length).toBe(Math.max(1, Math.ceil(tips.length / limit)));
    }
    const page = await searchAs(admin, "tips", { creatorId: creator, limit: 7 });
    // The bound: one statement per shard, each at most limit + 1 rows.
    expect(page.body.read).toMatchObject({ statements: shards, rowsMax: shards * 8 });
    const l = await ledger();
    const first = page.body.items[0] as Item;
    const tip = tips.find((t) => t.id === first.id);
    expect(first).toMatchObject({
      state: "sent",
      creatorId: creator,
      roomId,
      userId: tip?.viewer,
      amountMinor: tip?.amountMinor,
      shard: l.forOwner(tip?.viewer as string).index,
    });
    // With four shards, the twelve viewers' tips come from more than one.
    const all = (await walk(admin, "tips", { creatorId: creator, limit: 100 })).flat();
    if (shards > 1) expect(new Set(all.map((t) => t.shard)).size).toBeGreaterThan(1);
  });

  it("filters: viewer, room, id, date range; the users' search finds a viewer by id", async () => {
    const viewer = viewers[3] as string;
    const byViewer = (await walk(admin, "tips", { userId: viewer, limit: 2 })).flat();
    expect(byViewer.map((t) => t.id)).toEqual(
      tips
        .filter((t) => t.viewer === viewer)
        .sort(newestFirst)
        .map((t) => t.id),
    );
    const byRoom = (await walk(admin, "tips", { roomId, limit: 100 })).flat();
    expect(byRoom).toHaveLength(tips.length);
    const one = tips[17] as (typeof tips)[number];
    const byId = await searchAs(admin, "tips", { id: one.id });
    expect(byId.body.items.map((t: Item) => t.id)).toEqual([one.id]);
    // [BASE + 2 s, BASE + 4 s): the tips at +2 s and +3 s only.
    const ranged = (
      await walk(admin, "tips", { creatorId: creator, fromMs: BASE_MS + 2_000, toMs: BASE_MS + 4_000, limit: 3 })
    ).flat();
    expect(ranged.map((t) => t.id).sort()).toEqual(
      tips
        .filter((t) => t.atMs >= BASE_MS + 2_000 && t.atMs < BASE_MS + 4_000)
        .map((t) => t.id)
        .sort(),
    );
    expect(ranged.length).toBeGreaterThan(0);

    const users = await searchAs(admin, "users", { id: viewer });
    expect(users.status).toBe(200);
    expect(users.body.items).toHaveLength(1);
    expect(users.body.items[0]).toMatchObject({
      id: viewer,
      userId: viewer,
      shard: (await ledger()).forOwner(viewer).index,
    });
    const creators = await searchAs(admin, "creators", { id: creator });
    expect(creators.body.items).toEqual([expect.objectContaining({ id: creator, state: "active", roomId })]);
    const packets = await searchAs(admin, "packets", { creatorId: creator });
    expect(packets.body.items).toEqual([]);
  });

  it("refuses a filter the kind does not have, an unknown state, a bad or foreign cursor, a reversed range", async () => {
    const refused = await searchAs(admin, "tips", { creatorId: creator, state: "open" });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe("search_filter_unsupported");
    expect(refused.body.error.details).toMatchObject({ kind: "tips", filters: ["state"] });
    const state = await searchAs(admin, "orders", { state: "teleported" });
    expect(state.status).toBe(400);
    expect(state.body.error.code).toBe("search_filter_unsupported");
    const bad = await searchAs(admin, "tips", { cursor: "not-a-cursor" });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("malformed_request");
    const tipsCursor = (await searchAs(admin, "tips", { creatorId: creator, limit: 1 })).body.nextCursor as string;
    const foreign = await searchAs(admin, "orders", { cursor: tipsCursor });
    expect(foreign.status).toBe(400);
    expect(foreign.body.error.code).toBe("malformed_request");
    const range = await searchAs(admin, "tips", { fromMs: 10, toMs: 5 });
    expect(range.status).toBe(400);
    expect(range.body.error.code).toBe("malformed_request");
    const missing = await call("GET", "/v1/admin/search/tips/tip_01JDEM00000000000000000000", { token: admin });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("record_not_found");
  });

  it("each kind needs its read permission: 403 without it, 401 without a token", async () => {
    const ops = await token(`srch-ops-${RUN}`, "ops");
    const support = await token(`srch-support-${RUN}`, "support");
    const viewer = await token(viewers[0] as string, "viewer");
    for (const kind of ["users", "creators", "tips", "packets", "orders", "refunds", "withdrawals"]) {
      const res = await searchAs(ops, kind, {});
      expect(res.status, kind).toBe(403);
      expect(res.body.error.code).toBe("forbidden");
      expect((await searchAs(viewer, kind, {})).status, kind).toBe(403);
      expect((await call("GET", `/v1/admin/search/${kind}`)).status, kind).toBe(401);
    }
    // Support reads wallets and payments, not withdrawals.
    expect((await searchAs(support, "tips", { creatorId: creator })).status).toBe(200);
    expect((await searchAs(support, "orders", { userId: viewers[0] as string })).status).toBe(200);
    expect((await searchAs(support, "withdrawals", {})).status).toBe(403);
    const tipId = (tips[0] as Committed).id;
    expect((await call("GET", `/v1/admin/search/tips/${tipId}`, { token: ops })).status).toBe(403);
  });

  it("a tip's detail shows its operations in every shard they touched, then its reversal", async () => {
    const tip = tips[5] as (typeof tips)[number];
    const l = await ledger();
    const viewerShard = l.forOwner(tip.viewer).index;
    const creatorShard = l.forOwner(creator).index;
    const before = await call("GET", `/v1/admin/search/tips/${tip.id}`, { token: admin });
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({
      kind: "tips",
      id: tip.id,
      shard: viewerShard,
      record: {
        id: tip.id,
        viewer_id: tip.viewer,
        creator_id: creator,
        amount_minor: tip.amountMinor,
        reversed: false,
      },
      transitions: [{ to: "sent", recorded: false }],
    });
    const ops = before.body.operations as { id: string; shard: number; transfers: { amountMinor: number }[] }[];
    expect(ops[0]).toMatchObject({ id: tip.id, shard: viewerShard, kind: "tip" });
    // The tip's money: the viewer paid the whole amount in its shard.
    expect((ops[0]?.transfers ?? []).reduce((s, t) => s + t.amountMinor, 0)).toBeGreaterThanOrEqual(tip.amountMinor);
    if (viewerShard !== creatorShard) {
      // The creator's part crossed: posted in the creator's shard as `{tip}>{shard}`.
      expect(ops.map((o) => o.id)).toContain(`${tip.id}>${creatorShard}`);
      expect(ops.find((o) => o.id === `${tip.id}>${creatorShard}`)?.shard).toBe(creatorShard);
    } else {
      expect(ops.map((o) => o.id)).toEqual([tip.id]);
    }

    const reversed = await reverseApi(tip.id);
    expect(reversed.status).toBe(201);
    const reversalId = reversed.body.reversal.id as string;
    await settleTransit();
    const after = await call("GET", `/v1/admin/search/tips/${tip.id}`, { token: admin });
    expect(after.body.record.reversed).toBe(true);
    expect(after.body.related.reversal).toMatchObject({ id: reversalId, tip_id: tip.id });
    expect(after.body.transitions.map((t: { to: string }) => t.to)).toEqual(["sent", "reversed"]);
    const ids = after.body.operations.map((o: { id: string }) => o.id);
    expect(ids).toContain(reversalId);
    expect(ids).toContain(`${reversalId}:platform`);
    // The viewer's refund of the creator's part crossed back: `{reversal}>{viewer's shard}` there.
    if (viewerShard !== creatorShard) expect(ids).toContain(`${reversalId}>${viewerShard}`);
    const listed = await searchAs(admin, "tips", { id: tip.id });
    expect(listed.body.items[0].state).toBe("reversed");
  });

  it("a page reads about its own rows, however deep: the walk starts at the cursor in every shard's index", async () => {
    // 80 tips of one viewer (one shard, index tips_viewer_created), one per millisecond.
    const viewer = `srch-${RUN}-deep`;
    await fund(viewer, "5000.00");
    const deep: string[] = [];
    for (let i = 0; i < 80; i++) deep.push((await tipAt(roomId, viewer, "1.00", BASE_MS + 60_000 + i)).id);
    const reads: number[] = [];
    let cursor: string | null = null;
    const listed: string[] = [];
    do {
      const query: Record<string, string | number> = { userId: viewer, limit: 5 };
      if (cursor !== null) query.cursor = cursor;
      const res = await searchAs(admin, "tips", query);
      listed.push(...res.body.items.map((t: Item) => t.id));
      reads.push(res.body.read.rowsRead);
      cursor = res.body.nextCursor;
    } while (cursor !== null);
    expect(listed).toEqual([...deep].reverse());
    // Each page's index walk and row fetches: a bounded multiple of its 6 rows, the same on the
    // last page as on the first (a scan from the top would read ~160 rows by the last page).
    console.log("rows read per page (limit 5, 80 tips):", reads.join(" "));
    expect(Math.max(...reads)).toBeLessThanOrEqual(4 * 6);
    expect(Math.max(...reads) - Math.min(...reads)).toBeLessThanOrEqual(6);
  });

  it("an order: found by its payer and state, its detail with the recorded transitions", async () => {
    const payer = `srch-${RUN}-payer`;
    const created = await call("POST", "/v1/payments/orders", {
      token: await token(payer),
      idempotencyKey: crypto.randomUUID(),
      body: { kind: "topup", channel: "wechatpay", amount: "30.00" },
    });
    expect(created.status).toBe(201);
    const orderId = created.body.order?.id ?? created.body.id;
    const found = await searchAs(admin, "orders", { userId: payer });
    expect(found.body.items).toEqual([
      expect.objectContaining({
        id: orderId,
        userId: payer,
        orderId,
        amountMinor: 3000,
        shard: (await ledger()).forId(orderId).index,
      }),
    ]);
    const state = found.body.items[0].state as string;
    expect((await searchAs(admin, "orders", { userId: payer, state })).body.items).toHaveLength(1);
    const other = state === "created" ? "succeeded" : "created";
    expect((await searchAs(admin, "orders", { userId: payer, state: other })).body.items).toEqual([]);
    const detail = await call("GET", `/v1/admin/search/orders/${orderId}`, { token: admin });
    expect(detail.status).toBe(200);
    expect(detail.body.record).toMatchObject({ id: orderId, user_id: payer, amount_minor: 3000 });
    expect(detail.body.record).not.toHaveProperty("payer_step");
    expect(detail.body.transitions[0]).toMatchObject({ seq: 0, from: null, recorded: true });
    expect(detail.body.transitions.at(-1).to).toBe(state);
    // Not paid: no operation moved money for it.
    expect(detail.body.operations).toEqual([]);
    // Refunds of it: none; filtering refunds by order works.
    expect((await searchAs(admin, "refunds", { orderId })).body.items).toEqual([]);
  });

  it("a user's detail shows the wallet and its last operations", async () => {
    const viewer = viewers[2] as string;
    const res = await call("GET", `/v1/admin/search/users/${viewer}`, { token: admin });
    expect(res.status).toBe(200);
    const balance = await (await ledger())
      .forOwner(viewer)
      .db.prepare("SELECT balance_minor FROM accounts WHERE address = ?")
      .bind(`user:${viewer}:wallet`)
      .first<number>("balance_minor");
    expect(res.body.record).toMatchObject({ userId: viewer, balance_minor: balance });
    const kinds = res.body.operations.map((o: { kind: string }) => o.kind);
    expect(kinds).toContain("adjustment");
    expect(kinds).toContain("tip");
    const creatorDetail = await call("GET", `/v1/admin/search/creators/${creator}`, { token: admin });
    expect(creatorDetail.status).toBe(200);
    expect(creatorDetail.body.record).toMatchObject({ user_id: creator, room_id: roomId });
    expect(creatorDetail.body.related.balances.map((b: { address: string }) => b.address)).toContain(
      `creator:${creator}:pending`,
    );
    expect(env.CONTROL).toBeDefined();
  });
});
