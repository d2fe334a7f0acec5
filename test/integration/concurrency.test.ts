import { beforeAll, describe, expect, it } from "vitest";
import {
  balanceOf,
  call,
  fund,
  invariantReport,
  key,
  ledger,
  openRoom,
  settleTransit,
  shardDbOf,
  token,
} from "./helpers";

/** A small deterministic PRNG so a failing run can be replayed from its seed. */
function mulberry32(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VIEWERS = 20;
const CREATORS = 3;
const TIPS = 1_000;
const GIFTS: [string, number][] = [
  ["heart", 10],
  ["rose", 100],
  ["six-six-six", 660],
  ["lucky-cat", 990],
  ["love-letter", 5200],
];

describe("concurrent tips", () => {
  const rooms: string[] = [];
  const fundedMinor = new Map<string, number>();

  beforeAll(async () => {
    for (let c = 0; c < CREATORS; c++) rooms.push(await openRoom(`storm-creator-${c}`));
    for (let v = 0; v < VIEWERS; v++) {
      // Between 50.00 and 250.00: the storm below asks for far more, so many tips overdraw.
      const amountMinor = 5_000 + v * 1_000;
      await fund(`storm-viewer-${v}`, (amountMinor / 100).toFixed(2));
      fundedMinor.set(`storm-viewer-${v}`, amountMinor);
    }
  });

  it(`${TIPS} randomized tips from ${VIEWERS} viewers to ${CREATORS} creators keep every fen accounted for`, async () => {
    const seed = 20261122;
    const random = mulberry32(seed);
    const tokens = await Promise.all(Array.from({ length: VIEWERS }, (_, v) => token(`storm-viewer-${v}`)));
    const requests = Array.from({ length: TIPS }, () => {
      const v = Math.floor(random() * VIEWERS);
      const room = rooms[Math.floor(random() * CREATORS)] as string;
      const custom = random() < 0.3;
      const [giftId, price] = GIFTS[Math.floor(random() * GIFTS.length)] as [string, number];
      const quantity = 1 + Math.floor(random() * 5);
      const body = custom
        ? { kind: "custom", amount: (1 + Math.floor(random() * 5000) / 100).toFixed(2) }
        : { kind: "gift", giftId, quantity };
      const amountMinor = custom ? Math.round(Number(body.amount) * 100) : price * quantity;
      return { viewer: `storm-viewer-${v}`, token: tokens[v] as string, room, body, amountMinor };
    });

    const responses = await Promise.all(
      requests.map((r) =>
        call("POST", `/v1/rooms/${r.room}/tips`, { token: r.token, body: r.body, idempotencyKey: key() }),
      ),
    );

    const statuses = new Map<number, number>();
    for (const res of responses) statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    const accepted = responses.filter((r) => r.status === 201);
    const rejected = responses.filter((r) => r.status === 409 && r.body.error.code === "insufficient_funds");
    expect(accepted.length + rejected.length, `statuses: ${JSON.stringify([...statuses])}`).toBe(TIPS);
    expect(rejected.length, "some tips overdraw").toBeGreaterThan(0);
    expect(accepted.length, "most tips fit").toBeGreaterThan(0);

    // Each response's amount is the amount its request asked for.
    responses.forEach((res, i) => {
      if (res.status === 201) expect(res.body.tip.amountMinor).toBe(requests[i]?.amountMinor);
    });

    const spentByViewer = new Map<string, number>();
    let acceptedTotal = 0;
    for (const res of accepted) {
      spentByViewer.set(
        res.body.tip.viewerId,
        (spentByViewer.get(res.body.tip.viewerId) ?? 0) + res.body.tip.amountMinor,
      );
      acceptedTotal += res.body.tip.amountMinor;
    }
    for (const [viewer, funded] of fundedMinor) {
      const balance = await balanceOf(`user:${viewer}:wallet`);
      expect(balance).toBe(funded - (spentByViewer.get(viewer) ?? 0));
    }

    let n = 0;
    let total = 0;
    for (const { db } of (await ledger()).shards) {
      const rows = await db
        .prepare(
          "SELECT COUNT(*) AS n, COALESCE(SUM(amount_minor), 0) AS total FROM tips WHERE viewer_id LIKE 'storm-viewer-%'",
        )
        .first<{ n: number; total: number }>();
      n += rows?.n ?? 0;
      total += rows?.total ?? 0;
    }
    expect({ n, total }).toEqual({ n: accepted.length, total: acceptedTotal });

    await settleTransit();
    let earned = 0;
    for (let c = 0; c < CREATORS; c++) earned += await balanceOf(`creator:storm-creator-${c}:pending`);
    const platform = await balanceOf("platform:revenue");
    expect(earned + platform).toBe(acceptedTotal);

    const report = await invariantReport();
    expect(report.violations).toEqual([]);
  });

  it("50 concurrent requests with one Idempotency-Key have exactly one effect", async () => {
    await fund("dup-viewer", "100.00");
    const t = await token("dup-viewer");
    const k = key();
    const responses = await Promise.all(
      Array.from({ length: 50 }, () =>
        call("POST", `/v1/rooms/${rooms[0]}/tips`, {
          token: t,
          idempotencyKey: k,
          body: { kind: "gift", giftId: "rose", quantity: 1 },
        }),
      ),
    );
    const created = responses.filter((r) => r.status === 201);
    const inFlight = responses.filter((r) => r.status === 409 && r.body.error.code === "idempotency_key_in_flight");
    expect(created.length + inFlight.length).toBe(50);
    expect(created.length).toBeGreaterThanOrEqual(1);
    const ids = new Set(created.map((r) => r.body.tip.id));
    expect(ids.size).toBe(1);
    expect(created.filter((r) => r.headers.get("idempotent-replayed") !== "true")).toHaveLength(1);
    for (const r of created) expect(r.body).toEqual(created[0]?.body);
    expect(await balanceOf("user:dup-viewer:wallet")).toBe(10_000 - 100);
    const rows = await (await shardDbOf("dup-viewer"))
      .prepare("SELECT COUNT(*) AS n FROM tips WHERE viewer_id = 'dup-viewer'")
      .first<{
        n: number;
      }>();
    expect(rows?.n).toBe(1);
    // After the dust settles, the key replays.
    const later = await call("POST", `/v1/rooms/${rooms[0]}/tips`, {
      token: t,
      idempotencyKey: k,
      body: { kind: "gift", giftId: "rose", quantity: 1 },
    });
    expect(later.status).toBe(201);
    expect(later.body.tip.id).toBe([...ids][0]);
  });
});
