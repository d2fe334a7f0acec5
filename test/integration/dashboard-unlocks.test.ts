/**
 * The platform dashboard counts paid unlocks (付费阅读): one business day (2034-06-14, no other
 * test's date) with a gift tip, a red packet from a wallet and three unlocks over the shards — one
 * of them refunded (revoked, still gross) — plus a bucket move's copy of an entitlement, which
 * must count nowhere. Rolled up, the day's figures, GMV, payers, tops and CSV are exactly the
 * test's own sums of what it posted.
 */

import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { mergePeriodTops, periodsOfDays, rollupShardDay } from "../../src/db/dashboard-rollup";
import { runOperation } from "../../src/db/ledger";
import { postAdjustment } from "../../src/db/operations/adjustment";
import { composePacketSend, preparePacketSend } from "../../src/db/operations/packet-send";
import { composeTip, prepareTip } from "../../src/db/operations/tip";
import { composeUnlock, prepareUnlock } from "../../src/db/operations/unlock";
import { shardBindings } from "../../src/db/shards";
import { deliverTransit, pendingTransit } from "../../src/db/transit";
import { dayStartMs } from "../../src/domain/business-day";
import { weekOfDay } from "../../src/domain/dashboard";
import { newOwnedId } from "../../src/domain/ids";
import { formatMinor } from "../../src/domain/money";
import {
  BASE,
  call,
  callApproved,
  config,
  invariantReport,
  key,
  ledger,
  openRoom,
  operatorToken,
  token,
} from "./helpers";

const TZ = config.businessTimeZone;
const DAY = "2034-06-14";
const HOUR = 3_600_000;
const START = dayStartMs(DAY, TZ);
/** The day and its neighbours, which hold one unlock each (a millisecond before, the first after). */
const DAYS = ["2034-06-13", DAY, "2034-06-15"];
const SHARDS = shardBindings(env).length;

describe("the platform dashboard counts paid unlocks", () => {
  const run = key().slice(0, 8).toLowerCase();
  const creatorA = `dashu-ca-${run}`;
  const creatorB = `dashu-cb-${run}`;
  let roomA = "";
  let roomB = "";
  /** Payers 0..3, each in shard i mod SHARDS: 0 tips and unlocks, 1 unlocks (refunded), 2 unlocks, 3 sends a packet. */
  const payers: string[] = [];
  /** The fifth user's only trace is a moved copy (one shard) — or no trace at all (several shards: p2's row is copied). */
  const movedOnly = `dashu-moved-${run}`;
  let tip = { amountMinor: 0, platformMinor: 0 };
  const unlocks: { id: string; userId: string; creatorId: string; amountMinor: number; platformMinor: number }[] = [];
  let opsToken = "";

  async function item(creatorId: string, price: string): Promise<string> {
    const res = await call("POST", "/v1/admin/content", {
      token: await token(`dashu-admin-${run}`, "admin"),
      body: { creatorId, kind: "article", title: `Dashboard paywall ${price}`, price },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id as string;
  }

  async function unlockAt(contentId: string, userId: string, atMs: number) {
    const l = await ledger();
    const id = newOwnedId("unl", l.bucketOf(userId), atMs);
    const prepared = await prepareUnlock(l.control, config, { id, contentId, userId }, atMs);
    if (!prepared.ok) throw new Error(prepared.code);
    const shard = l.forOwner(userId);
    const { verdict } = await runOperation(shard, composeUnlock(shard, prepared.value));
    expect(verdict).toEqual({ kind: "posted" });
    const { amountMinor, platformMinor } = prepared.value.priced;
    unlocks.push({ id, userId, creatorId: prepared.value.creatorId, amountMinor, platformMinor });
    return id;
  }

  async function rollup() {
    const l = await ledger();
    for (const { db } of l.shards) for (const day of DAYS) await rollupShardDay(db, day, TZ, START + 7 * 24 * HOUR);
    for (const { grain, period } of periodsOfDays(DAYS)) {
      await mergePeriodTops(
        l.control,
        l.shards.map((s) => s.db),
        grain,
        period,
      );
    }
  }

  beforeAll(async () => {
    const l = await ledger();
    opsToken = await token(`dashu-ops-${run}`, "ops");
    roomA = await openRoom(creatorA, `Dashboard unlocks ${creatorA}`);
    roomB = await openRoom(creatorB, `Dashboard unlocks ${creatorB}`);
    const articleA = await item(creatorA, "6.00");
    const articleB = await item(creatorB, "2.50");
    for (let i = 0; payers.length < 4; i++) {
      const id = `dashu-p${payers.length}-${i}-${run}`;
      if (l.forOwner(id).index === payers.length % SHARDS) payers.push(id);
    }
    for (const userId of payers) {
      await postAdjustment(
        l.forOwner(userId),
        {
          id: `adj_dashu_${userId}`,
          userId,
          direction: "credit",
          amountMinor: 500_00,
          reason: "dashboard unlocks test funding",
          actorId: "test",
        },
        START - 24 * HOUR,
      );
    }
    const [p0, p1, p2, p3] = payers as [string, string, string, string];

    // A gift tip to A's room by p0, who also unlocks A's article: one payer.
    const tipAt = START + 9 * HOUR;
    const prepared = await prepareTip(
      l.control,
      config,
      {
        id: newOwnedId("tip", l.bucketOf(p0), tipAt),
        roomId: roomA,
        viewerId: p0,
        ask: { kind: "gift", giftId: "rose", quantity: 5 },
      },
      tipAt,
    );
    if (!prepared.ok) throw new Error(`tip not priced: ${JSON.stringify(prepared)}`);
    const { rates: _rates, ...t } = prepared.value;
    const tipShard = l.forOwner(p0);
    expect((await runOperation(tipShard, composeTip(tipShard, t))).verdict.kind).toBe("posted");
    tip = { amountMinor: t.priced.amountMinor, platformMinor: t.priced.platformMinor };

    await unlockAt(articleA, p0, START + 10 * HOUR);
    const refunded = await unlockAt(articleA, p1, START + 11 * HOUR);
    const copied = await unlockAt(articleB, p2, dayStartMs("2034-06-15", TZ) - 1);
    // Not the day's: a millisecond before it began, and the day after.
    await unlockAt(articleB, p3, START - 1);
    await unlockAt(articleB, p0, dayStartMs("2034-06-15", TZ));
    unlocks.splice(3);

    // p1's unlock is refunded (once its creator part reached A's shard): the entitlement is revoked, the gross stays.
    // Transit of 2034 is not due before then: this test delivers its own unlocks' now.
    const later = dayStartMs("2034-06-16", TZ);
    const mine = new Set(unlocks.map((u) => u.id));
    const due = (await pendingTransit(l, later, 0, 10_000)).filter((r) => mine.has(r.operationId));
    await deliverTransit(l, due, later);
    const res = await callApproved("POST", `/v1/admin/unlocks/${refunded}/refund`, {
      token: await operatorToken(),
      idempotencyKey: key(),
      body: { reason: "dashboard test refund" },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const revoked = await l
      .forOwner(p1)
      .db.prepare("SELECT state FROM entitlements WHERE id = ?")
      .bind(refunded)
      .first<string>("state");
    expect(revoked).toBe("revoked");

    // A bucket move's copy (db/bucket-move.ts copyEntitlement): with several shards, p2's
    // entitlement copied whole into another shard, naming p2's shard; with one, a copy whose
    // original lies in a former shard, of a user who paid nothing here.
    const from = l.forOwner(p2);
    const original = await from.db
      .prepare("SELECT * FROM entitlements WHERE id = ?")
      .bind(copied)
      .first<Record<string, unknown>>();
    if (original === null) throw new Error("no original");
    const target = SHARDS > 1 ? (l.shards[(from.index + 1) % SHARDS] as (typeof l.shards)[number]) : from;
    const copy: Record<string, unknown> =
      SHARDS > 1
        ? { ...original, moved_from_shard: from.index }
        : { ...original, id: `${copied}x`, user_id: movedOnly, content_id: articleA, moved_from_shard: 1 };
    await target.db
      .prepare(
        `INSERT INTO entitlements (id, content_id, user_id, creator_id, amount_minor, platform_minor, creator_minor,
           platform_bps, currency, state, created_at_ms, revoked_at_ms, moved_from_shard, schedule_version)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .bind(
        copy.id,
        copy.content_id,
        copy.user_id,
        copy.creator_id,
        copy.amount_minor,
        copy.platform_minor,
        copy.creator_minor,
        copy.platform_bps,
        copy.currency,
        copy.state,
        copy.created_at_ms,
        copy.revoked_at_ms ?? null,
        copy.moved_from_shard,
        copy.schedule_version ?? null,
      )
      .run();

    // A red packet of 30.00 from p3's wallet, in B's room.
    const packetAt = START + 20 * HOUR;
    const packet = await preparePacketSend(
      l,
      {
        id: newOwnedId("packet", l.bucketOf(p3), packetAt),
        roomId: roomB,
        senderId: p3,
        total: "30.00",
        subsidyId: null,
        shares: 3,
        split: "equal",
        greeting: "dashboard unlocks",
        audience: "everyone",
        ttlMs: 24 * HOUR,
      },
      packetAt,
    );
    if (!packet.ok) throw new Error(`packet refused: ${JSON.stringify(packet)}`);
    const packetShard = l.forOwner(p3);
    expect((await runOperation(packetShard, composePacketSend(packetShard, packet.value, packetAt))).verdict.kind).toBe(
      "posted",
    );
    await rollup();
  }, 120_000);

  it("counts the day's unlocks once each, refunded ones gross, a moved copy never; GMV, revenue and payers include them", async () => {
    // The test's own figures: 6.00 + 6.00 + 2.50 unlocked on the day.
    expect(unlocks.map((u) => u.amountMinor)).toEqual([600, 600, 250]);
    const unlockMinor = 1450;
    const unlockPlatform = unlocks.reduce((s, u) => s + u.platformMinor, 0);
    expect(unlockPlatform).toBeGreaterThan(0);
    const res = await call("GET", `/v1/admin/dashboard?grain=day&from=${DAY}&to=${DAY}`, { token: opsToken });
    expect(res.status).toBe(200);
    expect(res.body.series).toEqual([
      {
        period: DAY,
        gmvMinor: tip.amountMinor + unlockMinor + 3000,
        gmv: formatMinor(tip.amountMinor + unlockMinor + 3000),
        tipMinor: tip.amountMinor,
        tipCount: 1,
        unlockMinor,
        unlockCount: 3,
        platformMinor: tip.platformMinor + unlockPlatform,
        // p0 (a tip and an unlock), p1 (refunded), p2 (unlock only), p3 (a packet only).
        payingUsers: 4,
        packetPaidMinor: 3000,
        packetsSent: 1,
        packetsSentMinor: 3000,
        claims: 0,
        claimedMinor: 0,
      },
    ]);
    // The neighbours each hold the one unlock a millisecond away from the day (2.50 each).
    const around = await call("GET", `/v1/admin/dashboard?grain=day&from=${DAYS[0]}&to=${DAYS[2]}`, {
      token: opsToken,
    });
    expect(
      around.body.series.map((p: { unlockCount: number; unlockMinor: number; payingUsers: number }) => [
        p.unlockCount,
        p.unlockMinor,
        p.payingUsers,
      ]),
    ).toEqual([
      [1, 250, 1],
      [3, 1450, 4],
      [1, 250, 1],
    ]);
    // The week (all three days are in it) counts each payer once: p3 and p0 paid on two days.
    const week = await call("GET", `/v1/admin/dashboard?grain=week&from=${DAYS[0]}&to=${DAYS[2]}`, {
      token: opsToken,
    });
    expect(week.body.series).toHaveLength(1);
    expect(week.body.series[0]).toMatchObject({
      period: weekOfDay(DAY),
      unlockCount: 5,
      unlockMinor: 1950,
      payingUsers: 4,
    });
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("ranks creators by tips and unlocks (tipCount: tips only); rooms and gifts by tips alone", async () => {
    const res = await call("GET", `/v1/admin/dashboard?grain=day&from=${DAY}&to=${DAY}`, { token: opsToken });
    const strip = (rows: { label: unknown }[]) => rows.map(({ label: _l, ...r }) => r);
    expect(strip(res.body.top.creators)).toEqual([
      { rank: 1, key: creatorA, amountMinor: tip.amountMinor + 1200, tipCount: 1 },
      { rank: 2, key: creatorB, amountMinor: 250, tipCount: 0 },
    ]);
    expect(strip(res.body.top.rooms)).toEqual([{ rank: 1, key: roomA, amountMinor: tip.amountMinor, tipCount: 1 }]);
    expect(strip(res.body.top.gifts)).toEqual([{ rank: 1, key: "rose", amountMinor: tip.amountMinor, tipCount: 1 }]);
  });

  it("exports the unlock columns in the CSV, and a re-run changes nothing", async () => {
    const csv = await exports.default.fetch(`${BASE}/v1/admin/dashboard.csv?grain=day&from=${DAY}&to=${DAY}`, {
      headers: { authorization: `Bearer ${opsToken}` },
    });
    expect(csv.status).toBe(200);
    const [header, line] = (await csv.text()).trimEnd().split("\r\n") as [string, string];
    const row = Object.fromEntries(header.split(",").map((h, i) => [h, line.split(",")[i]]));
    expect(row).toMatchObject({
      period: DAY,
      gmv: formatMinor(tip.amountMinor + 1450 + 3000),
      unlocks_amount: "14.50",
      unlocks: "3",
      tips: "1",
      paying_users: "4",
    });
    const before = await call("GET", `/v1/admin/dashboard?grain=day&from=${DAY}&to=${DAY}`, { token: opsToken });
    await rollup();
    const after = await call("GET", `/v1/admin/dashboard?grain=day&from=${DAY}&to=${DAY}`, { token: opsToken });
    expect(after.body.series).toEqual(before.body.series);
    expect(after.body.top).toEqual(before.body.top);
  });
});
