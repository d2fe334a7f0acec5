import { beforeAll, describe, expect, it } from "vitest";
import { businessDayOf } from "../../src/domain/business-day";
import { call, config, fund, key, ledger, openRoom, shardDbOf, token } from "./helpers";

const CREATOR = "insights-creator";
// Viewers spread over the shards (4 in the workers project): each viewer's tips are in its own shard.
const VIEWERS = ["insights-v1", "insights-v2", "insights-v3", "insights-v4", "insights-v5", "insights-v6"];

let roomId: string;
let creator: string;
/** What was tipped, as the API answered: the expected figures are summed from these. */
const sent: { viewerId: string; giftId: string | null; quantity: number; amountMinor: number; creatorMinor: number }[] =
  [];

beforeAll(async () => {
  roomId = await openRoom(CREATOR);
  creator = await token(CREATOR, "creator", "viewer");
  for (const [i, viewerId] of VIEWERS.entries()) {
    await fund(viewerId, "500.00");
    const as = await token(viewerId);
    const asks = [
      { kind: "gift", giftId: "rose", quantity: i + 1 },
      { kind: "custom", amount: `${6 + i}.60` },
      ...(i % 2 === 0 ? [{ kind: "gift", giftId: "lucky-cat", quantity: 2 }] : []),
    ];
    for (const ask of asks) {
      const res = await call("POST", `/v1/rooms/${roomId}/tips`, { token: as, body: ask, idempotencyKey: key() });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      sent.push(res.body.tip);
    }
  }
});

describe("GET /v1/creators/me/insights", () => {
  it("sums today's tips from every viewer's shard, and the other days of the window are zero", async () => {
    const res = await call("GET", "/v1/creators/me/insights?days=30", { token: creator });
    expect(res.status).toBe(200);
    expect(res.body.daily).toHaveLength(30);
    const today = businessDayOf(Date.now(), config.businessTimeZone);
    expect(res.body.toDay).toBe(today);
    const todayRow = res.body.daily.at(-1);
    expect(todayRow).toEqual({
      day: today,
      tips: sent.length,
      grossMinor: sent.reduce((s, t) => s + t.amountMinor, 0),
      creatorMinor: sent.reduce((s, t) => s + t.creatorMinor, 0),
    });
    for (const d of res.body.daily.slice(0, -1)) expect(d).toMatchObject({ tips: 0, grossMinor: 0, creatorMinor: 0 });
    // The days are consecutive and ascending.
    const days = res.body.daily.map((d: { day: string }) => d.day);
    expect([...days].sort()).toEqual(days);
    expect(new Set(days).size).toBe(30);
    // The tips really are in several shards (the figure merges them).
    const shards = new Set(await Promise.all(VIEWERS.map(async (v) => shardDbOf(v))));
    expect(shards.size).toBe(Math.min((await ledger()).shards.length, shards.size));
    if ((await ledger()).shards.length > 1) expect(shards.size).toBeGreaterThan(1);
  });

  it("ranks top fans by gross across shards and sums gift preference per gift", async () => {
    const res = await call("GET", "/v1/creators/me/insights", { token: creator });
    const byViewer = new Map<string, number>();
    for (const t of sent) byViewer.set(t.viewerId, (byViewer.get(t.viewerId) ?? 0) + t.amountMinor);
    const expected = [...byViewer.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .map(([viewerId, grossMinor]) => ({ viewerId, grossMinor }));
    expect(res.body.topFans.map((f: { viewerId: string; grossMinor: number }) => [f.viewerId, f.grossMinor])).toEqual(
      expected.map((e) => [e.viewerId, e.grossMinor]),
    );
    const gifts = new Map<string | null, { count: number; grossMinor: number }>();
    for (const t of sent) {
      const g = gifts.get(t.giftId) ?? { count: 0, grossMinor: 0 };
      g.count += t.quantity;
      g.grossMinor += t.amountMinor;
      gifts.set(t.giftId, g);
    }
    expect(res.body.gifts).toHaveLength(gifts.size);
    for (const g of res.body.gifts) {
      expect(g).toMatchObject(gifts.get(g.giftId) ?? {});
      if (g.giftId === "rose") expect(g.name).toBeTruthy();
      if (g.giftId === null) expect(g.name).toBeNull();
    }
  });

  it("shows a creator only their own tips and refuses a window out of range", async () => {
    const other = await token("insights-nobody", "creator");
    const res = await call("GET", "/v1/creators/me/insights?days=7", { token: other });
    expect(res.status).toBe(200);
    expect(res.body.daily.every((d: { tips: number }) => d.tips === 0)).toBe(true);
    expect(res.body.topFans).toEqual([]);
    expect((await call("GET", "/v1/creators/me/insights?days=0", { token: creator })).status).toBe(400);
    expect((await call("GET", "/v1/creators/me/insights?days=93", { token: creator })).status).toBe(400);
  });
});
