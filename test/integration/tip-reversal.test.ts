import { describe, expect, it } from "vitest";
import { runOperation } from "../../src/db/ledger";
import { composeTipReversal } from "../../src/db/operations/tip-reversal";
import { platformLegId } from "../../src/db/operations/tip-reversal-platform";
import { Ledger } from "../../src/db/shards";
import {
  completePlatformLeg,
  findTip,
  planReversal,
  reversalOfTip,
  sweepPlatformLegs,
} from "../../src/db/tip-reversals";
import { newOwnedId } from "../../src/domain/ids";
import { LIMITS } from "../../src/domain/limits";
import { failingBatch, InjectedFault } from "../support/faults";
import { balanceOf, call, fund, invariantReport, key, ledger, openRoom, settleTransit, token } from "./helpers";
import { at, creatorAndViewer, reverseApi, runSettlementApi, settlementRow, TZ, tipAt } from "./money-out-support";

async function wallet(userId: string): Promise<number> {
  await settleTransit();
  return balanceOf(`user:${userId}:wallet`);
}

describe("tip reversal", () => {
  it("before settlement: the creator part leaves pending, the viewer gets the whole tip, the settlement shows it reversed", async () => {
    const { creator, viewer, roomId } = await creatorAndViewer("rv-before");
    const day = "2026-09-01";
    const a = await tipAt(roomId, viewer, "88.88", at(day));
    const b = await tipAt(roomId, viewer, "20.00", at(day, 1_000));
    await settleTransit();
    const walletBefore = await wallet(viewer);
    const revenueBefore = await balanceOf("platform:revenue");

    const res = await reverseApi(a.id);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      alreadyReversed: false,
      reversal: {
        tipId: a.id,
        creatorId: creator,
        viewerId: viewer,
        tipDay: day,
        amountMinor: a.amountMinor,
        platformMinor: a.platformMinor,
        creatorMinor: a.creatorMinor,
        source: "pending",
        reason: "chargeback",
      },
    });
    expect(res.body.reversal.id).toMatch(/^rev_/);
    expect(await wallet(viewer)).toBe(walletBefore + a.amountMinor);
    expect(await balanceOf(`creator:${creator}:pending`)).toBe(b.creatorMinor);
    expect(await balanceOf("platform:revenue")).toBe(revenueBefore - a.platformMinor);
    expect(await reversalOfTip((await ledger()).forOwner(creator), a.id)).toMatchObject({
      platform_leg_at_ms: expect.any(Number),
    });

    await runSettlementApi(day);
    expect(await settlementRow(creator, day)).toMatchObject({
      state: "settled",
      gross_minor: a.amountMinor + b.amountMinor,
      creator_part_minor: a.creatorMinor + b.creatorMinor,
      reversed_minor: a.creatorMinor,
      net_minor: b.creatorMinor,
    });
    expect(await balanceOf(`creator:${creator}:available`)).toBe(b.creatorMinor);
    expect(await balanceOf(`creator:${creator}:pending`)).toBe(0);
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("after settlement: a receivable the next settlements offset, carried over a day too small, available never negative", async () => {
    const { creator, viewer, roomId } = await creatorAndViewer("rv-after");
    const [d1, d2, d3] = ["2026-09-02", "2026-09-03", "2026-09-04"];
    const big = await tipAt(roomId, viewer, "100.00", at(d1)); // creator 70.00
    const small = await tipAt(roomId, viewer, "10.00", at(d2)); // creator 7.00
    const later = await tipAt(roomId, viewer, "200.00", at(d3)); // creator 140.00
    await settleTransit();
    await runSettlementApi(d1);
    expect(await balanceOf(`creator:${creator}:available`)).toBe(big.creatorMinor);
    const walletBefore = await wallet(viewer);

    const res = await reverseApi(big.id);
    expect(res.status).toBe(201);
    expect(res.body.reversal).toMatchObject({ source: "receivable", creatorMinor: 7_000 });
    expect(await wallet(viewer)).toBe(walletBefore + big.amountMinor);
    // Available is left alone (it may have been withdrawn); the creator owes 70.00.
    expect(await balanceOf(`creator:${creator}:available`)).toBe(7_000);
    const me = await token(creator, "creator");
    const owed = async () => (await call("GET", "/v1/creators/me/earnings", { token: me })).body.receivableMinor;
    expect(await owed()).toBe(7_000);
    expect((await invariantReport()).violations).toEqual([]);

    // The next day settles 7.00, all of it to the receivable: net 0, 63.00 carried over.
    await runSettlementApi(d2);
    expect(await settlementRow(creator, d2)).toMatchObject({
      creator_part_minor: small.creatorMinor,
      receivable_offset_minor: 700,
      net_minor: 0,
    });
    expect(await balanceOf(`creator:${creator}:available`)).toBe(7_000);
    expect(await owed()).toBe(6_300);

    await runSettlementApi(d3);
    expect(await settlementRow(creator, d3)).toMatchObject({
      creator_part_minor: later.creatorMinor,
      receivable_offset_minor: 6_300,
      net_minor: 14_000 - 6_300,
    });
    expect(await balanceOf(`creator:${creator}:available`)).toBe(7_000 + 7_700);
    expect(await owed()).toBe(0);
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("is one per tip: the same key replays, another key answers the same reversal, ten at once move the money once", async () => {
    const { creator, viewer, roomId } = await creatorAndViewer("rv-dup");
    const day = "2026-09-05";
    const tip = await tipAt(roomId, viewer, "52.00", at(day));
    const other = await tipAt(roomId, viewer, "13.14", at(day, 1));
    await settleTransit();
    const walletBefore = await wallet(viewer);

    const k = key();
    const first = await reverseApi(tip.id, k);
    expect(first.status).toBe(201);
    const replay = await reverseApi(tip.id, k);
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.body).toEqual(first.body);
    const again = await reverseApi(tip.id);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ alreadyReversed: true, reversal: { id: first.body.reversal.id } });

    const storm = await Promise.all(Array.from({ length: 10 }, () => reverseApi(other.id)));
    expect(storm.filter((r) => r.status === 201)).toHaveLength(1);
    expect(storm.filter((r) => r.status === 200)).toHaveLength(9);
    expect(new Set(storm.map((r) => r.body.reversal.id)).size).toBe(1);

    expect(await wallet(viewer)).toBe(walletBefore + tip.amountMinor + other.amountMinor);
    expect(await balanceOf(`creator:${creator}:pending`)).toBe(0);
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("answers tip_not_found and keeps viewers and creators out", async () => {
    const missing = newOwnedId("tip", 0, Date.now());
    const res = await reverseApi(missing);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("tip_not_found");
    const denied = await call("POST", `/v1/admin/tips/${missing}/reversal`, {
      token: await token("rv-someone", "creator", "ops"),
      idempotencyKey: key(),
      body: { reason: "x" },
    });
    expect(denied.status).toBe(403);
    const noKey = await call("POST", `/v1/admin/tips/${missing}/reversal`, {
      token: await token("rv-finance", "finance"),
      body: { reason: "x" },
    });
    expect(noKey.status).toBe(400);
  });

  it("answers reversal_in_flight while the tip's earnings are still crossing to the creator's shard", async () => {
    const l = await ledger();
    const creator = "rv-flight-creator";
    const viewer =
      Array.from({ length: 64 }, (_, i) => `rv-flight-viewer-${i}`).find(
        (v) => l.forOwner(v).index !== l.forOwner(creator).index,
      ) ?? "rv-flight-viewer-0";
    if (l.forOwner(viewer).index === l.forOwner(creator).index) return; // one shard: nothing crosses
    const room = await openRoom(creator);
    await fund(viewer, "100.00");
    const tip = await tipAt(room, viewer, "10.00", at("2026-09-06"));
    const k = key();
    const early = await reverseApi(tip.id, k);
    expect(early.status).toBe(409);
    expect(early.body.error.code).toBe("reversal_in_flight");
    await settleTransit();
    const later = await reverseApi(tip.id, k);
    expect(later.status).toBe(201);
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("racing the settlement of the tip's day, either order, moves the money exactly", async () => {
    for (const [i, day] of ["2026-09-10", "2026-09-11", "2026-09-12", "2026-09-13"].entries()) {
      const { creator, viewer, roomId } = await creatorAndViewer(`rv-race-${i}`);
      const a = await tipAt(roomId, viewer, "30.00", at(day));
      const b = await tipAt(roomId, viewer, "45.50", at(day, 1));
      await settleTransit();
      const walletBefore = await wallet(viewer);
      const [, reversal] = await Promise.all([runSettlementApi(day), reverseApi(a.id)]);
      expect(reversal.status).toBe(201);
      const row = await settlementRow(creator, day);
      const me = await token(creator, "creator");
      const earnings = (await call("GET", "/v1/creators/me/earnings", { token: me })).body;
      if (reversal.body.reversal.source === "pending") {
        // The reversal first: the settlement saw it.
        expect(row).toMatchObject({ reversed_minor: a.creatorMinor, net_minor: b.creatorMinor });
        expect(earnings).toMatchObject({ availableMinor: b.creatorMinor, receivableMinor: 0 });
      } else {
        // The settlement first: the reversal became a receivable.
        expect(row).toMatchObject({ reversed_minor: 0, net_minor: a.creatorMinor + b.creatorMinor });
        expect(earnings).toMatchObject({
          availableMinor: a.creatorMinor + b.creatorMinor,
          receivableMinor: a.creatorMinor,
        });
      }
      expect(earnings.pendingMinor).toBe(0);
      expect(await wallet(viewer)).toBe(walletBefore + a.amountMinor);
    }
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("completes a platform leg a crash left behind, from the sweeper, once", async () => {
    for (const mode of ["before", "after"] as const) {
      const { creator, viewer, roomId } = await creatorAndViewer(`rv-crash-${mode}`);
      const tip = await tipAt(roomId, viewer, "66.60", at("2026-09-15"));
      await settleTransit();
      const walletBefore = await wallet(viewer);
      const l = await ledger();
      const found = await findTip(l, tip.id);
      if (found === null) throw new Error("tip");
      const creatorShard = l.forOwner(creator);
      const id = newOwnedId("rev", l.bucketOf(creator), Date.now());
      const plan = await planReversal(creatorShard, found.shard, found.tip, {
        id,
        reason: "stolen card",
        actorId: "ops-test",
        withholdingBpsNow: 0,
        timeZone: TZ,
        nowMs: Date.now(),
      });
      if (!plan.ok) throw new Error(plan.code);
      expect((await runOperation(creatorShard, composeTipReversal(creatorShard, plan.value))).verdict).toEqual({
        kind: "posted",
      });
      // The platform leg's batch in the tip's shard fails: not run, or run and its answer lost.
      const databases = l.shards
        .map(({ db }) => db)
        .map((db, i) => (i === found.shard.index ? failingBatch(db, 1, mode) : db));
      const crashing = new Ledger(l.control, databases, l.map);
      const row = await reversalOfTip(creatorShard, tip.id);
      if (row === null) throw new Error("reversal row");
      await expect(completePlatformLeg(crashing, row, Date.now())).rejects.toBeInstanceOf(InjectedFault);
      expect((await reversalOfTip(creatorShard, tip.id))?.platform_leg_at_ms).toBeNull();
      expect(await wallet(viewer)).toBe(walletBefore + tip.creatorMinor + (mode === "after" ? tip.platformMinor : 0));

      // Not yet: the sweeper leaves a fresh reversal to the route.
      expect((await sweepPlatformLegs(l, Date.now(), LIMITS.reversalPlatformLegGraceMs)).completed).toBe(0);
      const swept = await sweepPlatformLegs(
        l,
        Date.now() + LIMITS.reversalPlatformLegGraceMs + 1,
        LIMITS.reversalPlatformLegGraceMs,
      );
      expect(swept).toEqual({ completed: 1, refused: [] });
      expect((await reversalOfTip(creatorShard, tip.id))?.platform_leg_at_ms).toEqual(expect.any(Number));
      expect(await wallet(viewer)).toBe(walletBefore + tip.amountMinor);
      const legs = await found.shard.db
        .prepare("SELECT COUNT(*) AS n FROM operations WHERE id = ?")
        .bind(platformLegId(id))
        .first<number>("n");
      expect(legs).toBe(1);
      expect(
        (
          await sweepPlatformLegs(
            l,
            Date.now() + LIMITS.reversalPlatformLegGraceMs + 1,
            LIMITS.reversalPlatformLegGraceMs,
          )
        ).completed,
      ).toBe(0);
      expect((await invariantReport()).violations).toEqual([]);
    }
  });
});
