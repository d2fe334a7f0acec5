import { beforeAll, describe, expect, it } from "vitest";
import { businessDayOf } from "../../src/domain/business-day";
import { call, config, fund, key, ledger, openRoom, operatorToken, shardDbOf, token } from "./helpers";

const CREATOR = "insights-creator";
// Viewers spread over the shards (4 in the workers project): each viewer's tips are in its own shard.
const VIEWERS = ["insights-v1", "insights-v2", "insights-v3", "insights-v4", "insights-v5", "insights-v6"];
/** Unlock the creator's paid article (付费阅读): two who also tip, and one who only reads. */
const READERS = ["insights-v1", "insights-v4", "insights-v7"];

let roomId: string;
let creator: string;
/** What was tipped, as the API answered: the expected figures are summed from these. */
const sent: { viewerId: string; giftId: string | null; quantity: number; amountMinor: number; creatorMinor: number }[] =
  [];
/** What was paid to unlock, as the API answered. */
const unlocked: { userId: string; amountMinor: number; creatorMinor: number }[] = [];
const income = () => [
  ...sent.map((t) => ({ payer: t.viewerId, amountMinor: t.amountMinor, creatorMinor: t.creatorMinor })),
  ...unlocked.map((u) => ({ payer: u.userId, amountMinor: u.amountMinor, creatorMinor: u.creatorMinor })),
];

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
  const item = await call("POST", "/v1/admin/content", {
    token: await operatorToken(),
    body: { creatorId: CREATOR, kind: "article", title: "Insights: the paid notes", price: "12.80" },
  });
  expect(item.status, JSON.stringify(item.body)).toBe(201);
  for (const userId of READERS) {
    await fund(userId, "20.00");
    const res = await call("POST", `/v1/content/${item.body.id}/unlock`, {
      token: await token(userId),
      idempotencyKey: key(),
      body: {},
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    unlocked.push(res.body.unlock);
  }
});

describe("GET /v1/creators/me/insights", () => {
  it("sums today's tips and paid unlocks from every payer's shard, and the other days of the window are zero", async () => {
    const res = await call("GET", "/v1/creators/me/insights?days=30", { token: creator });
    expect(res.status).toBe(200);
    expect(res.body.daily).toHaveLength(30);
    const today = businessDayOf(Date.now(), config.businessTimeZone);
    expect(res.body.toDay).toBe(today);
    const todayRow = res.body.daily.at(-1);
    expect(todayRow).toEqual({
      day: today,
      tips: sent.length,
      unlocks: READERS.length,
      grossMinor: income().reduce((s, t) => s + t.amountMinor, 0),
      creatorMinor: income().reduce((s, t) => s + t.creatorMinor, 0),
    });
    for (const d of res.body.daily.slice(0, -1)) {
      expect(d).toMatchObject({ tips: 0, unlocks: 0, grossMinor: 0, creatorMinor: 0 });
    }
    // The month so far, as the earnings card shows it, counts the unlocks too.
    const earnings = await call("GET", "/v1/creators/me/earnings", { token: creator });
    expect(earnings.body.monthGrossMinor).toBe(income().reduce((s, t) => s + t.amountMinor, 0));
    // The days are consecutive and ascending.
    const days = res.body.daily.map((d: { day: string }) => d.day);
    expect([...days].sort()).toEqual(days);
    expect(new Set(days).size).toBe(30);
    // The tips really are in several shards (the figure merges them).
    const shards = new Set(await Promise.all(VIEWERS.map(async (v) => shardDbOf(v))));
    expect(shards.size).toBe(Math.min((await ledger()).shards.length, shards.size));
    if ((await ledger()).shards.length > 1) expect(shards.size).toBeGreaterThan(1);
  });

  it("ranks top fans by what they paid in tips and unlocks across shards, and sums gift preference per gift", async () => {
    const res = await call("GET", "/v1/creators/me/insights", { token: creator });
    const byPayer = new Map<string, { viewerId: string; tips: number; unlocks: number; grossMinor: number }>();
    const payer = (viewerId: string) => {
      const p = byPayer.get(viewerId) ?? { viewerId, tips: 0, unlocks: 0, grossMinor: 0 };
      byPayer.set(viewerId, p);
      return p;
    };
    for (const t of sent)
      Object.assign(payer(t.viewerId), { tips: payer(t.viewerId).tips + 1 }).grossMinor += t.amountMinor;
    for (const u of unlocked)
      Object.assign(payer(u.userId), { unlocks: payer(u.userId).unlocks + 1 }).grossMinor += u.amountMinor;
    const expected = [...byPayer.values()].sort(
      (a, b) => b.grossMinor - a.grossMinor || (a.viewerId < b.viewerId ? -1 : 1),
    );
    expect(res.body.topFans).toEqual(expected);
    // The reader who only unlocked is a fan with no tips.
    expect(res.body.topFans.find((f: { viewerId: string }) => f.viewerId === "insights-v7")).toMatchObject({
      tips: 0,
      unlocks: 1,
    });
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
