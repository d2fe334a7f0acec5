/**
 * Tiered revenue share (阶梯分成) end to end: every tip records the rate it used, and the rate
 * is the tier holding the creator's month gross including the tip, exactly — through the
 * room's group commit under concurrency, with tips refused at the crossing, through the direct
 * path and pay-to-tip, across a new schedule, an override, a month boundary and a restart
 * (src/durable-objects/live-room.tiers.ts, ADR 0011).
 *
 * The differential: the committed tips, ordered by their instant (then tier, then largest
 * first: any order the room may have priced tips of one instant in gives the same tiers),
 * replayed through the sequential domain (revenue-tiers.ts `shareTips`), give every tip its
 * recorded rate and split.
 */
import { createExecutionContext, env, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { afterAll, describe, expect, it } from "vitest";
import { signSandbox } from "../../dev/sandbox-provider/src/signature";
import { requestFingerprint } from "../../src/domain/idempotency";
import { type ShareContext, shareTips, type TierSchedule } from "../../src/domain/revenue-tiers";
import { periodKeys } from "../../src/domain/room/periods";
import type { LiveRoom } from "../../src/durable-objects/live-room";
import type { RoomSettings } from "../../src/durable-objects/live-room.settings";
import { roomTierPorts } from "../../src/durable-objects/live-room.tiers";
import type { TipAnswer, TipSubmission } from "../../src/durable-objects/live-room.tips";
import { configFrom } from "../../src/platform/config";
import type { Logger } from "../../src/platform/logger";
import { canonicalJson } from "../../src/worker/idempotency";
import {
  BASE,
  balanceOf,
  call,
  callApproved,
  fund,
  invariantReport,
  key,
  ledger,
  openRoom,
  operatorToken,
  settleTransit,
  token,
  until,
} from "./helpers";

const TZ = configFrom(env).businessTimeZone;
const DEFAULT_BPS = configFrom(env).platformShareBps;
const room = (roomId: string) => env.LIVE_ROOM.getByName(roomId);

/** A schedule stored as the route stores it, but effective at any instant (the route demands a lead). */
async function putSchedule(tiers: readonly [number, number][], effectiveFromMs: number): Promise<TierSchedule> {
  const l = await ledger();
  const stored = tiers.map(([fromGrossMinor, platformBps]) => ({ fromGrossMinor, platformBps }));
  const version = await l.control
    .prepare(
      `INSERT INTO revenue_schedules (version, effective_from_ms, tiers, note, created_by, created_at_ms)
       SELECT (SELECT COALESCE(MAX(version), 0) + 1 FROM revenue_schedules), ?, ?, 'test', 'ops-test', ?
       RETURNING version`,
    )
    .bind(effectiveFromMs, JSON.stringify(stored), Date.now())
    .first<number>("version");
  if (version === null) throw new Error("schedule not stored");
  return { version, effectiveFromMs, tiers: stored };
}

interface TipRow {
  id: string;
  amount_minor: number;
  platform_bps: number | null;
  platform_minor: number;
  creator_minor: number;
  schedule_version: number | null;
  created_at_ms: number;
}

async function creatorTips(creatorId: string): Promise<TipRow[]> {
  const rows: TipRow[] = [];
  for (const shard of (await ledger()).shards) {
    const { results } = await shard.db
      .prepare(
        `SELECT id, amount_minor, platform_bps, platform_minor, creator_minor, schedule_version, created_at_ms
         FROM tips WHERE creator_id = ?`,
      )
      .bind(creatorId)
      .all<TipRow>();
    rows.push(...results);
  }
  return rows;
}

/** Replays the committed tips through the sequential domain and compares every one (see the file comment). */
function expectSequentialShares(rows: readonly TipRow[], schedules: readonly TierSchedule[]) {
  const ctx: ShareContext = { schedules, defaultBps: DEFAULT_BPS, creatorOverrideBps: null, timeZone: TZ };
  // Tier rank of a rate within the schedule in force (rates fall as tiers rise in these tests).
  const rank = (row: TipRow) => -(row.platform_bps ?? 0);
  const ordered = [...rows].sort(
    (a, b) => a.created_at_ms - b.created_at_ms || rank(a) - rank(b) || b.amount_minor - a.amount_minor,
  );
  const { shares } = shareTips(
    ctx,
    null,
    ordered.map((r) => ({ atMs: r.created_at_ms, grossMinor: r.amount_minor })),
  );
  const recorded = ordered.map((r) => ({
    platformBps: r.platform_bps,
    scheduleVersion: r.schedule_version,
    platformMinor: r.platform_minor,
    creatorMinor: r.creator_minor,
  }));
  const expected = shares.map((s) => ({
    platformBps: s.platformBps,
    scheduleVersion: s.scheduleVersion,
    platformMinor: s.platformMinor,
    creatorMinor: s.creatorMinor,
  }));
  expect(recorded).toEqual(expected);
}

function tip(roomId: string, as: string, body: unknown, idempotencyKey = key()) {
  return call("POST", `/v1/rooms/${roomId}/tips`, { token: as, body, idempotencyKey });
}

/** A tip that must be sent (201). */
async function sent(roomId: string, as: string, body: unknown) {
  const reply = await tip(roomId, as, body);
  expect(reply.status, JSON.stringify(reply.body)).toBe(201);
  return reply;
}

/** A submission as the Worker builds it, for the room's RPC (tips sent together share a flush). */
async function submission(roomId: string, viewerId: string, giftId: string, quantity = 1): Promise<TipSubmission> {
  const body = { kind: "gift", giftId, quantity };
  const requestHash = await requestFingerprint("POST", `/v1/rooms/${roomId}/tips`, canonicalJson({ roomId, ...body }));
  return { roomId, viewerId, ask: { kind: "gift", giftId, quantity }, confirmed: true, key: key(), requestHash };
}

const bpsOf = (answer: TipAnswer) =>
  answer.kind === "response" ? (JSON.parse(answer.body).tip.platformShareBps as number) : answer.code;

async function flushes(roomId: string): Promise<number> {
  return runInDurableObject(room(roomId), (instance: LiveRoom) => instance.tips.stats.flushes);
}

afterAll(async () => {
  // Schedules are the platform's: leave none behind for other files sharing the database.
  await (await ledger()).control.prepare("DELETE FROM revenue_schedules WHERE note = 'test'").run();
});

describe("tiered revenue share", () => {
  it("crosses two tiers under concurrent tips from many viewers in every shard, each tip at its exact rate", async () => {
    const schedule = await putSchedule(
      [
        [0, 5_000],
        [8_000, 4_000],
        [16_000, 3_000],
      ],
      Date.now() - 1,
    );
    const roomId = await openRoom("tier-creator");
    const RICH = 16;
    const POOR = 4;
    for (let v = 0; v < RICH; v++) await fund(`tier-rich-${v}`, "30.00");
    for (let v = 0; v < POOR; v++) await fund(`tier-poor-${v}`, "3.00");
    const viewers = [
      ...Array.from({ length: RICH }, (_, v) => `tier-rich-${v}`),
      ...Array.from({ length: POOR }, (_, v) => `tier-poor-${v}`),
    ];
    const tokens = await Promise.all(viewers.map((v) => token(v)));
    const replies = await Promise.all(
      tokens.flatMap((t, v) =>
        Array.from({ length: 5 }, (_, i) =>
          tip(roomId, t, { kind: "gift", giftId: "rose", quantity: 1 + ((v * 7 + i * 3) % 5) }),
        ),
      ),
    );
    const statuses = replies.map((r) => r.status);
    expect(statuses.filter((s) => s !== 201 && s !== 409)).toEqual([]);
    expect(replies.filter((r) => r.status === 409).every((r) => r.body.error.code === "insufficient_funds")).toBe(true);
    expect(statuses.filter((s) => s === 409).length).toBeGreaterThan(0);

    const rows = await creatorTips("tier-creator");
    expect(rows.length).toBe(statuses.filter((s) => s === 201).length);
    const gross = rows.reduce((sum, r) => sum + r.amount_minor, 0);
    expect(gross).toBeGreaterThan(16_000);
    expect(new Set(rows.map((r) => r.platform_bps))).toEqual(new Set([5_000, 4_000, 3_000]));
    expectSequentialShares(rows, [schedule]);
    // The receipt shows the rate the tip row records.
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const r of replies.filter((x) => x.status === 201)) {
      expect(r.body.tip.platformShareBps).toBe(byId.get(r.body.tip.id)?.platform_bps);
    }
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("a tip refused at the crossing does not shift it: the tips after it wait for its answer", async () => {
    const schedule = await putSchedule(
      [
        [0, 5_000],
        [3_000, 4_000],
        [6_000, 3_000],
      ],
      Date.now() - 1,
    );
    const roomId = await openRoom("tier-cross-creator");
    await fund("tier-cross-rich", "100.00");
    await fund("tier-cross-poor", "1.00");
    const first = await tip(roomId, await token("tier-cross-rich"), {
      kind: "custom",
      amount: "28.00",
    });
    expect(first.body.tip.platformShareBps).toBe(5_000);

    const before = await flushes(roomId);
    // One flush: the poor viewer's 9.90 would cross (and fails); the roses after it wait for that.
    const submissions = [
      await submission(roomId, "tier-cross-poor", "lucky-cat"),
      await submission(roomId, "tier-cross-rich", "rose"),
      await submission(roomId, "tier-cross-rich", "rose"),
    ];
    const answers = await Promise.all(submissions.map((s) => room(roomId).tip(s)));
    expect(answers.map(bpsOf)).toEqual(["insufficient_funds", 5_000, 4_000]);
    // The roses were cut from the first flush and priced in a later one.
    expect((await flushes(roomId)) - before).toBeGreaterThanOrEqual(2);
    const rows = await creatorTips("tier-cross-creator");
    expect(rows.map((r) => r.amount_minor).sort((a, b) => a - b)).toEqual([100, 100, 2_800]);
    expectSequentialShares(rows, [schedule]);
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("a new schedule applies from its instant and never re-rates earlier tips", async () => {
    const old = await putSchedule([[0, 4_500]], Date.now() - 1);
    const roomId = await openRoom("tier-new-creator");
    await fund("tier-new-fan", "50.00");
    const fan = await token("tier-new-fan");
    const startsAt = Date.now() + 2_500;
    const next = await putSchedule(
      [
        [0, 2_000],
        [500, 1_000],
      ],
      startsAt,
    );
    const before = await tip(roomId, fan, { kind: "gift", giftId: "rose", quantity: 3 });
    expect(before.body.tip.platformShareBps).toBe(4_500);
    await until(
      async () => Date.now(),
      (now) => now > startsAt + 50,
      10_000,
    );
    const after = await tip(roomId, fan, { kind: "gift", giftId: "rose", quantity: 3 });
    // The month gross counts the earlier tip (300 + 300 ≥ 500): the new schedule's second tier.
    expect(after.body.tip.platformShareBps).toBe(1_000);
    const rows = await creatorTips("tier-new-creator");
    const first = rows.find((r) => r.id === before.body.tip.id);
    expect(first).toMatchObject({ platform_bps: 4_500, schedule_version: old.version, platform_minor: 135 });
    expect(rows.find((r) => r.id === after.body.tip.id)).toMatchObject({
      platform_bps: 1_000,
      schedule_version: next.version,
      platform_minor: 30,
    });
    expectSequentialShares(rows, [old, next]);
  });

  it("a creator's override beats the tiers, and its tips still count toward the month", async () => {
    const schedule = await putSchedule(
      [
        [0, 5_000],
        [1_000, 4_000],
      ],
      Date.now() - 1,
    );
    const roomId = await openRoom("tier-override-creator");
    await fund("tier-override-fan", "50.00");
    const fan = await token("tier-override-fan");
    const ops = await operatorToken();
    const put = async (bps: number | null) =>
      callApproved("PUT", "/v1/admin/creators/tier-override-creator/share", {
        token: ops,
        body: { platformShareBps: bps },
      });
    expect((await put(1_500)).status).toBe(200);
    const over = await tip(roomId, fan, { kind: "custom", amount: "12.00" });
    expect(over.body.tip.platformShareBps).toBe(1_500);
    expect((await put(null)).status).toBe(200);
    const tiered = await tip(roomId, fan, { kind: "gift", giftId: "rose", quantity: 1 });
    expect(tiered.body.tip.platformShareBps).toBe(4_000); // 1,200 + 100 is in the second tier
    const rows = await creatorTips("tier-override-creator");
    expect(rows.find((r) => r.id === over.body.tip.id)).toMatchObject({ platform_bps: 1_500, schedule_version: null });
    expect(rows.find((r) => r.id === tiered.body.tip.id)).toMatchObject({
      platform_bps: 4_000,
      schedule_version: schedule.version,
    });
  });

  it("counts only this month's tips, and a restarted room reads the month's gross again", async () => {
    const schedule = await putSchedule(
      [
        [0, 5_000],
        [5_000, 4_000],
      ],
      Date.now() - 1,
    );
    const roomId = await openRoom("tier-month-creator");
    await fund("tier-month-fan", "200.00");
    const fan = await token("tier-month-fan");
    // A large tip, then moved to last month (as if made then): it must not count this month.
    const old = await sent(roomId, fan, { kind: "custom", amount: "60.00" });
    const shard = (await ledger()).forOwner("tier-month-fan");
    const now = Date.now();
    const thisMonth = periodKeys(now, TZ).month;
    let lastMonthAt = now - 20 * 86_400_000;
    while (periodKeys(lastMonthAt, TZ).month === thisMonth) lastMonthAt -= 86_400_000;
    await shard.db.prepare("UPDATE tips SET created_at_ms = ? WHERE id = ?").bind(lastMonthAt, old.body.tip.id).run();
    const early = await sent(roomId, fan, { kind: "custom", amount: "10.00" });
    expect(early.body.tip.platformShareBps).toBe(4_000); // the room still counts the 60.00 it priced
    // The room restarts mid-month: it reads the month's gross again (after its quotes' time),
    // which holds the 10.00 of this month and not the 60.00 of last month.
    await evictDurableObject(room(roomId));
    const a = await sent(roomId, fan, { kind: "custom", amount: "35.00" });
    expect(a.body.tip.platformShareBps).toBe(5_000); // 1,000 + 3,500
    const b = await sent(roomId, fan, { kind: "custom", amount: "5.00" });
    expect(b.body.tip.platformShareBps).toBe(4_000); // 4,500 + 500 reaches the second tier
    const book = await runInDurableObject(room(roomId), (instance: LiveRoom) => instance.tiers.bookOf());
    expect(book).toEqual({ month: thisMonth, committedMinor: 5_000 });
    const rows = await creatorTips("tier-month-creator");
    expect(rows.find((r) => r.id === b.body.tip.id)).toMatchObject({
      platform_bps: 4_000,
      schedule_version: schedule.version,
      platform_minor: 200,
    });
  });

  it("direct and pay-to-tip tips ask the room for their rate, exactly, alongside the room's own tips", async () => {
    const schedule = await putSchedule(
      [
        [0, 5_000],
        [2_000, 4_000],
        [4_000, 3_000],
      ],
      Date.now() - 1,
    );
    const roomId = await openRoom("tier-paths-creator");
    const VIEWERS = 6;
    for (let v = 0; v < VIEWERS; v++) await fund(`tier-paths-${v}`, "20.00");
    const tokens = await Promise.all(Array.from({ length: VIEWERS }, (_, v) => token(`tier-paths-${v}`)));
    const { default: devWorker } = await import("../../dev/giftwire-dev");
    const direct = async (t: string, quantity: number) => {
      const ctx = createExecutionContext();
      const res = await devWorker.fetch(
        new Request(`${BASE}/v1/rooms/${roomId}/tips`, {
          method: "POST",
          headers: { authorization: `Bearer ${t}`, "idempotency-key": key(), "content-type": "application/json" },
          body: JSON.stringify({ kind: "gift", giftId: "rose", quantity }),
        }),
        { ...env, TIP_COMMIT: "direct" },
        ctx,
      );
      return { status: res.status, body: (await res.json()) as any };
    };
    const replies = await Promise.all(
      tokens.flatMap((t, v) =>
        Array.from({ length: 4 }, (_, i) =>
          i % 2 === 0
            ? direct(t, 1 + ((v + i) % 4))
            : tip(roomId, t, { kind: "gift", giftId: "rose", quantity: 1 + ((v * 3 + i) % 4) }),
        ),
      ),
    );
    expect(replies.map((r) => r.status)).toEqual(replies.map(() => 201));

    // Pay-to-tip: the order's tip is rated when the payment arrives.
    const order = (
      await call("POST", "/v1/payments/orders", {
        token: await token("tier-paths-payer"),
        idempotencyKey: key(),
        body: { kind: "tip", method: "sandbox", tip: { roomId, kind: "custom", amount: "10.00" } },
      })
    ).body.order;
    const body = JSON.stringify({
      id: `evt_${order.id.slice(6)}`,
      type: "payment.succeeded",
      merchant_id: "giftwire-sandbox",
      order_no: order.id,
      txn_id: `sbx_${order.id.slice(6)}`,
      amount_minor: order.amountMinor,
      currency: "CNY",
    });
    const signature = await signSandbox("sandbox-test-secret-0123456789", body, Date.now());
    const paid = await exports.default.fetch(`${BASE}/v1/payments/callbacks/sandbox`, {
      method: "POST",
      headers: { "content-type": "application/json", "sandbox-signature": signature },
      body,
    });
    expect(paid.status).toBe(200);
    const tipId = `tip_${order.id.slice(6)}`;
    const rows = await until(
      () => creatorTips("tier-paths-creator"),
      (r) => r.some((x) => x.id === tipId),
    );
    const paidTip = rows.find((r) => r.id === tipId);
    expect(paidTip?.schedule_version).toBe(schedule.version);
    expect(paidTip?.platform_bps).toBe(3_000); // the room's tips crossed 4,000 already
    expect(rows.reduce((s, r) => s + r.amount_minor, 0)).toBeGreaterThan(4_000);
    expect(new Set(rows.map((r) => r.platform_bps))).toEqual(new Set([5_000, 4_000, 3_000]));
    expectSequentialShares(rows, [schedule]);
    // Every quote was answered: the room holds none uncommitted.
    const held = await until(
      () => runInDurableObject(room(roomId), (instance: LiveRoom) => instance.tiers.uncommittedCount()),
      (n) => n === 0,
    );
    expect(held).toBe(0);
    expect((await invariantReport()).violations).toEqual([]);
  });
});

describe("tiered revenue share of tips on content (issue 19)", () => {
  it("a content tip is rated by its creator's room, exactly, alongside the room's own tips", async () => {
    const schedule = await putSchedule(
      [
        [0, 5_000],
        [2_000, 4_000],
        [4_000, 3_000],
      ],
      Date.now() - 1,
    );
    const creatorId = "tier-content-creator";
    const roomId = await openRoom(creatorId);
    const made = await call("POST", "/v1/admin/content", {
      token: await token("tier-content-admin", "admin"),
      body: { creatorId, kind: "post", title: "A post" },
    });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const contentId = made.body.id as string;
    const VIEWERS = 6;
    for (let v = 0; v < VIEWERS; v++) await fund(`tier-content-${v}`, "20.00");
    const tokens = await Promise.all(Array.from({ length: VIEWERS }, (_, v) => token(`tier-content-${v}`)));
    const replies = await Promise.all(
      tokens.flatMap((t, v) =>
        Array.from({ length: 4 }, (_, i) =>
          i % 2 === 0
            ? call("POST", `/v1/content/${contentId}/tips`, {
                token: t,
                idempotencyKey: key(),
                body: { giftId: "rose", quantity: 1 + ((v + i) % 4) },
              })
            : tip(roomId, t, { kind: "gift", giftId: "rose", quantity: 1 + ((v * 3 + i) % 4) }),
        ),
      ),
    );
    expect(replies.map((r) => r.status)).toEqual(replies.map(() => 201));
    const rows = await creatorTips(creatorId);
    expect(rows).toHaveLength(VIEWERS * 4);
    expect(rows.reduce((s, r) => s + r.amount_minor, 0)).toBeGreaterThan(4_000);
    expect(new Set(rows.map((r) => r.platform_bps))).toEqual(new Set([5_000, 4_000, 3_000]));
    expectSequentialShares(rows, [schedule]);
    const held = await until(
      () => runInDurableObject(room(roomId), (instance: LiveRoom) => instance.tiers.uncommittedCount()),
      (n) => n === 0,
    );
    expect(held).toBe(0);
    expect((await invariantReport()).violations).toEqual([]);
  });
});

/** A creator's paid unlocks (the entitlements the unlocks wrote: originals only), as tip rows. */
async function creatorUnlocks(creatorId: string): Promise<TipRow[]> {
  const rows: TipRow[] = [];
  for (const shard of (await ledger()).shards) {
    const { results } = await shard.db
      .prepare(
        `SELECT id, amount_minor, platform_bps, platform_minor, creator_minor, schedule_version, created_at_ms
         FROM entitlements WHERE creator_id = ? AND moved_from_shard IS NULL`,
      )
      .bind(creatorId)
      .all<TipRow>();
    rows.push(...results);
  }
  return rows;
}

describe("tiered revenue share of paid unlocks (issue 19)", () => {
  it("unlocks and tips of one creator cross the tiers together, each at its exact rate; the desk's month is the ledger's", async () => {
    const schedule = await putSchedule(
      [
        [0, 5_000],
        [2_000, 4_000],
        [4_000, 3_000],
      ],
      Date.now() - 1,
    );
    const creatorId = "tier-unlock-creator";
    const roomId = await openRoom(creatorId);
    const admin = await token("tier-unlock-admin", "admin");
    const item = async (price: string) => {
      const made = await call("POST", "/v1/admin/content", {
        token: admin,
        body: { creatorId, kind: "article", title: `Paywalled ${price}`, price },
      });
      expect(made.status, JSON.stringify(made.body)).toBe(201);
      return made.body.id as string;
    };
    const items = [await item("6.00"), await item("5.00"), await item("7.00"), await item("3.00")];
    const unlock = (t: string, contentId: string) =>
      call("POST", `/v1/content/${contentId}/unlock`, { token: t, idempotencyKey: key(), body: {} });

    // Unlocks alone cross the first threshold (20.00): 6 + 5 + 7 = 18.00 at 50 %, the 3.00 reaching 21.00 at 40 %.
    await fund("tier-unlock-first", "30.00");
    const first = await token("tier-unlock-first");
    const bps: number[] = [];
    for (const contentId of items) {
      const reply = await unlock(first, contentId);
      expect(reply.status, JSON.stringify(reply.body)).toBe(201);
      bps.push(reply.body.unlock.platformShareBps);
    }
    expect(bps).toEqual([5_000, 5_000, 5_000, 4_000]);

    // Then unlocks and room tips at once, from many viewers, cross 40.00.
    const VIEWERS = 5;
    for (let v = 0; v < VIEWERS; v++) await fund(`tier-unlock-${v}`, "30.00");
    const tokens = await Promise.all(Array.from({ length: VIEWERS }, (_, v) => token(`tier-unlock-${v}`)));
    const replies = await Promise.all(
      tokens.flatMap((t, v) => [
        unlock(t, items[0] as string),
        tip(roomId, t, { kind: "gift", giftId: "rose", quantity: 1 + (v % 4) }),
        unlock(t, items[1] as string),
      ]),
    );
    expect(replies.map((r) => r.status)).toEqual(replies.map(() => 201));

    // A pay-to-unlock is rated when its payment lands: past 40.00 by now, at 30 %.
    const order = (
      await call("POST", "/v1/payments/orders", {
        token: await token("tier-unlock-payer"),
        idempotencyKey: key(),
        body: { kind: "unlock", method: "sandbox", unlock: { contentId: items[2] } },
      })
    ).body.order;
    const body = JSON.stringify({
      id: `evt_${order.id.slice(6)}`,
      type: "payment.succeeded",
      merchant_id: "giftwire-sandbox",
      order_no: order.id,
      txn_id: `sbx_${order.id.slice(6)}`,
      amount_minor: order.amountMinor,
      currency: "CNY",
    });
    const signature = await signSandbox("sandbox-test-secret-0123456789", body, Date.now());
    const paidReply = await exports.default.fetch(`${BASE}/v1/payments/callbacks/sandbox`, {
      method: "POST",
      headers: { "content-type": "application/json", "sandbox-signature": signature },
      body,
    });
    expect(paidReply.status).toBe(200);
    const unlockId = `unl_${order.id.slice(6)}`;
    const unlocks = await until(
      () => creatorUnlocks(creatorId),
      (r) => r.some((x) => x.id === unlockId),
    );
    const paidUnlock = unlocks.find((r) => r.id === unlockId);
    expect(paidUnlock).toMatchObject({ amount_minor: 700, platform_bps: 3_000, schedule_version: schedule.version });

    const tips = await creatorTips(creatorId);
    expect(unlocks).toHaveLength(4 + VIEWERS * 2 + 1);
    expect(tips).toHaveLength(VIEWERS);
    // Unlocks were split at every tier; every split is the sequential domain's, tips and unlocks in one month.
    expect(new Set(unlocks.map((r) => r.platform_bps))).toEqual(new Set([5_000, 4_000, 3_000]));
    expect(unlocks.every((r) => r.schedule_version === schedule.version)).toBe(true);
    expectSequentialShares([...tips, ...unlocks], [schedule]);

    // The month's book: the desk's committed gross is the ledger's tips and unlocks, exactly.
    await until(
      () => runInDurableObject(room(roomId), (instance: LiveRoom) => instance.tiers.uncommittedCount()),
      (n) => n === 0,
    );
    const ledgerGross = [...tips, ...unlocks].reduce((s, r) => s + r.amount_minor, 0);
    const book = await runInDurableObject(room(roomId), (instance: LiveRoom) => instance.tiers.bookOf());
    expect(book).toEqual({ month: periodKeys(Date.now(), TZ).month, committedMinor: ledgerGross });
    // And the creator's pending earnings are the recorded creator parts.
    await settleTransit();
    const creatorPart = [...tips, ...unlocks].reduce((s, r) => s + r.creator_minor, 0);
    expect(await balanceOf(`creator:${creatorId}:pending`)).toBe(creatorPart);
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("a restarted room reads the month's gross from tips and unlocks alike", async () => {
    const schedule = await putSchedule(
      [
        [0, 5_000],
        [1_000, 2_500],
      ],
      Date.now() - 1,
    );
    const creatorId = "tier-unlock-restart-creator";
    const roomId = await openRoom(creatorId);
    const made = await call("POST", "/v1/admin/content", {
      token: await token("tier-unlock-admin", "admin"),
      body: { creatorId, kind: "video", title: "A video", price: "9.00" },
    });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    await fund("tier-unlock-restart-fan", "20.00");
    const fan = await token("tier-unlock-restart-fan");
    const unlocked = await call("POST", `/v1/content/${made.body.id}/unlock`, {
      token: fan,
      idempotencyKey: key(),
      body: {},
    });
    expect(unlocked.status, JSON.stringify(unlocked.body)).toBe(201);
    expect(unlocked.body.unlock.platformShareBps).toBe(5_000);
    // A lost answer is settled by reading the unlock back, as a tip's (the desk's port).
    const ports = roomTierPorts(
      env,
      { get: () => null, put: () => {} } as unknown as RoomSettings,
      {
        warn() {},
      } as unknown as Logger,
    );
    expect(await ports.readTipCreatedAt(unlocked.body.unlock.id)).toBe(unlocked.body.unlock.createdAtMs);
    expect(await ports.readTipCreatedAt("unl_01NOSUCHUNLOCK0000000000000")).toBeNull();
    await until(
      () => runInDurableObject(room(roomId), (instance: LiveRoom) => instance.tiers.uncommittedCount()),
      (n) => n === 0,
    );
    // A new instance reads the month again (after its quotes' time) and must count the 9.00
    // unlock: the next 1.00 tip reaches 10.00, the second tier.
    await evictDurableObject(room(roomId));
    const reply = await sent(roomId, fan, { kind: "gift", giftId: "rose", quantity: 1 });
    expect(reply.body.tip).toMatchObject({ platformShareBps: 2_500 });
    const rows = [...(await creatorTips(creatorId)), ...(await creatorUnlocks(creatorId))];
    expectSequentialShares(rows, [schedule]);
  });
});

describe("POST /v1/admin/revenue-schedules", () => {
  it("stores the next version from a minute ahead, lists newest first, and refuses the past and bad tiers", async () => {
    const ops = await operatorToken();
    const effectiveFrom = new Date(Date.now() + 120_000).toISOString();
    const body = {
      tiers: [
        { from: "0.00", platformShareBps: 5_000 },
        { from: "10000.00", platformShareBps: 4_000 },
      ],
      effectiveFrom,
      note: "test",
    };
    const created = await callApproved("POST", "/v1/admin/revenue-schedules", { token: ops, body });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      effectiveFrom,
      tiers: [
        { from: "0.00", fromMinor: 0, platformShareBps: 5_000 },
        { from: "10000.00", fromMinor: 1_000_000, platformShareBps: 4_000 },
      ],
      note: "test",
      createdBy: "ops-test",
    });
    const again = await callApproved("POST", "/v1/admin/revenue-schedules", { token: ops, body });
    expect(again.body.version).toBe(created.body.version + 1);
    const list = await call("GET", "/v1/admin/revenue-schedules", { token: ops });
    expect(list.status).toBe(200);
    expect(list.body.schedules.slice(0, 2).map((s: { version: number }) => s.version)).toEqual([
      again.body.version,
      created.body.version,
    ]);

    const past = await call("POST", "/v1/admin/revenue-schedules", {
      token: ops,
      body: { ...body, effectiveFrom: new Date(Date.now() - 1_000).toISOString() },
    });
    expect(past.status).toBe(422);
    expect(past.body.error.code).toBe("revenue_schedule_not_future");
    const unordered = await call("POST", "/v1/admin/revenue-schedules", {
      token: ops,
      body: { ...body, tiers: [body.tiers[1], body.tiers[0]] },
    });
    expect(unordered.status).toBe(400);
    const viewer = await call("POST", "/v1/admin/revenue-schedules", { token: await token("tier-nobody"), body });
    expect(viewer.status).toBe(403);
  });
});
