import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { settleDay } from "../../src/domain/settlement";
import { createLogger } from "../../src/platform/logger";
import { runDueSettlements } from "../../src/worker/cron/settlement";
import {
  balanceOf,
  call,
  fund,
  invariantReport,
  ledger,
  openRoom,
  operatorToken,
  settleTransit,
  token,
} from "./helpers";
import { at, creatorAndViewer, operationCount, runSettlementApi, settlementRow, TZ, tipAt } from "./money-out-support";

const N = 7;
const sumCreator = (tips: { creatorMinor: number }[]) => tips.reduce((s, t) => s + t.creatorMinor, 0);

describe("settlement T+N", () => {
  it("settles a day once however often it is run, one after another or ten at once: one movement, one record", async () => {
    const { creator, viewer, roomId } = await creatorAndViewer("st-rerun");
    const day = "2026-10-01";
    const tips = [
      await tipAt(roomId, viewer, "18.88", at(day)),
      await tipAt(roomId, viewer, "6.67", at(day, 60_000)),
      await tipAt(roomId, viewer, "100.00", at(day, 120_000)),
    ];
    await settleTransit();
    const part = sumCreator(tips);
    expect(await balanceOf(`creator:${creator}:pending`)).toBe(part);

    const first = await runSettlementApi(day);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ day, settled: [creator], held: [], deferred: [], complete: true });
    const record = await settlementRow(creator, day);
    expect(record).toMatchObject({
      state: "settled",
      gross_minor: 12_555,
      platform_minor: tips.reduce((s, t) => s + t.platformMinor, 0),
      creator_part_minor: part,
      reversed_minor: 0,
      withholding_minor: 0,
      receivable_offset_minor: 0,
      net_minor: part,
      tip_count: 3,
    });
    for (let i = 0; i < 9; i++) {
      const again = await runSettlementApi(day);
      expect(again.body).toMatchObject({ settled: [], alreadySettled: 1, complete: true });
    }
    expect(await settlementRow(creator, day)).toEqual(record);
    expect(await operationCount(creator, `settlement:${creator}:${day}`)).toBe(1);
    expect(await balanceOf(`creator:${creator}:available`)).toBe(part);
    expect(await balanceOf(`creator:${creator}:pending`)).toBe(0);

    // Ten at once, for another day: exactly one of them moves the money.
    const day2 = "2026-10-02";
    const t2 = await tipAt(roomId, viewer, "50.00", at(day2));
    await settleTransit();
    const runs = await Promise.all(Array.from({ length: 10 }, () => runSettlementApi(day2)));
    expect(runs.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(runs.flatMap((r) => r.body.settled)).toEqual([creator]);
    expect(await operationCount(creator, `settlement:${creator}:${day2}`)).toBe(1);
    expect(await balanceOf(`creator:${creator}:available`)).toBe(part + t2.creatorMinor);
    expect(await settlementRow(creator, day2)).toMatchObject({ net_minor: t2.creatorMinor, tip_count: 1 });
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("refuses a day that is not due yet (T+N)", async () => {
    const today = new Date().toISOString().slice(0, 10);
    const res = await runSettlementApi(today);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("settlement_not_due");
  });

  it("holds a creator under risk hold (flagged, nothing moves) and settles the day once the hold is lifted", async () => {
    const { creator, viewer, roomId } = await creatorAndViewer("st-hold");
    const day = "2026-10-03";
    const tip = await tipAt(roomId, viewer, "30.00", at(day));
    await settleTransit();
    const ops = await operatorToken();
    const hold = await call("PUT", `/v1/admin/creators/${creator}/risk-hold`, {
      token: ops,
      body: { hold: true, reason: "chargeback cluster" },
    });
    expect(hold.status).toBe(200);
    expect(hold.body).toEqual({ creatorId: creator, hold: true, reason: "chargeback cluster" });
    const noReason = await call("PUT", `/v1/admin/creators/${creator}/risk-hold`, { token: ops, body: { hold: true } });
    expect(noReason.status).toBe(400);
    const nobody = await call("PUT", "/v1/admin/creators/st-hold-nobody/risk-hold", {
      token: ops,
      body: { hold: true, reason: "x" },
    });
    expect(nobody.status).toBe(404);
    const support = await call("PUT", `/v1/admin/creators/${creator}/risk-hold`, {
      token: await token("st-hold-support", "support"),
      body: { hold: false },
    });
    expect(support.status).toBe(403);

    const run = await runSettlementApi(day);
    expect(run.body).toMatchObject({ held: [creator], settled: [] });
    expect(await settlementRow(creator, day)).toMatchObject({ state: "held", held_reason: "chargeback cluster" });
    expect(await balanceOf(`creator:${creator}:pending`)).toBe(tip.creatorMinor);
    expect(await balanceOf(`creator:${creator}:available`)).toBe(0);
    const flagged = await call("GET", `/v1/admin/settlements?state=held&creatorId=${creator}`, { token: ops });
    expect(flagged.body.items).toEqual([
      expect.objectContaining({ creatorId: creator, day, state: "held", heldReason: "chargeback cluster" }),
    ]);
    // Re-running while held changes nothing.
    expect((await runSettlementApi(day)).body).toMatchObject({ held: [creator], settled: [] });
    expect(await balanceOf(`creator:${creator}:available`)).toBe(0);

    // Lifted: the cron job's next minute finds the held day and settles it.
    await call("PUT", `/v1/admin/creators/${creator}/risk-hold`, { token: ops, body: { hold: false } });
    const report = await runDueSettlements(env, Date.now(), createLogger({ test: "settlement" }));
    expect(report).toMatchObject({ settled: 1, held: 0, deferred: 0 });
    expect(await settlementRow(creator, day)).toMatchObject({ state: "settled", net_minor: tip.creatorMinor });
    expect(await balanceOf(`creator:${creator}:available`)).toBe(tip.creatorMinor);
    expect(await balanceOf(`creator:${creator}:pending`)).toBe(0);
    const none = await call("GET", `/v1/admin/settlements?state=held&creatorId=${creator}`, { token: ops });
    expect(none.body.items).toEqual([]);
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("defers a creator whose credits of the day are still in transit, and settles them in full later", async () => {
    const l = await ledger();
    const creator = "st-transit-creator";
    // A viewer in another shard than the creator (with one shard there is no transit to wait for).
    const viewer =
      Array.from({ length: 64 }, (_, i) => `st-transit-viewer-${i}`).find(
        (v) => l.forOwner(v).index !== l.forOwner(creator).index,
      ) ?? "st-transit-viewer-0";
    const { roomId } = await creatorAndViewerFor(creator, viewer);
    const day = "2026-10-04";
    const tip = await tipAt(roomId, viewer, "40.00", at(day));
    const crosses = l.forOwner(viewer).index !== l.forOwner(creator).index;

    const first = await runSettlementApi(day);
    if (crosses) {
      expect(first.body).toMatchObject({ settled: [], deferred: [{ creatorId: creator, why: "credits_in_transit" }] });
      expect(first.body.complete).toBe(false);
      expect(await settlementRow(creator, day)).toBeNull();
      await settleTransit();
      const later = await runSettlementApi(day);
      expect(later.body).toMatchObject({ settled: [creator], deferred: [], complete: true });
    } else {
      expect(first.body).toMatchObject({ settled: [creator], deferred: [] });
    }
    expect(await settlementRow(creator, day)).toMatchObject({ state: "settled", net_minor: tip.creatorMinor });
    expect(await balanceOf(`creator:${creator}:available`)).toBe(tip.creatorMinor);
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("shows the creator their earnings and settlements, and only their own", async () => {
    const { creator, viewer, roomId } = await creatorAndViewer("st-reads");
    const days = ["2026-10-05", "2026-10-06", "2026-10-07"];
    const tips = [];
    for (const day of days) tips.push(await tipAt(roomId, viewer, "10.00", at(day)));
    await settleTransit();
    for (const day of days.slice(0, 2)) await runSettlementApi(day);
    const me = await token(creator, "creator");
    const earnings = await call("GET", "/v1/creators/me/earnings", { token: me });
    expect(earnings.status).toBe(200);
    expect(earnings.body).toMatchObject({
      creatorId: creator,
      pendingMinor: 0 + (tips[2]?.creatorMinor ?? 0),
      availableMinor: (tips[0]?.creatorMinor ?? 0) + (tips[1]?.creatorMinor ?? 0),
      withdrawingMinor: 0,
      receivableMinor: 0,
    });
    const page1 = await call("GET", "/v1/creators/me/settlements?limit=1", { token: me });
    expect(page1.body.items.map((s: { day: string }) => s.day)).toEqual(["2026-10-06"]);
    expect(page1.body.nextCursor).toBe("2026-10-06");
    const page2 = await call("GET", `/v1/creators/me/settlements?limit=1&cursor=${page1.body.nextCursor}`, {
      token: me,
    });
    expect(page2.body.items.map((s: { day: string }) => s.day)).toEqual(["2026-10-05"]);
    expect(page2.body.nextCursor).toBeNull();
    const ranged = await call("GET", "/v1/creators/me/settlements?from=2026-10-06&to=2026-10-30", { token: me });
    expect(ranged.body.items).toEqual([expect.objectContaining({ creatorId: creator, day: "2026-10-06" })]);
    // Another creator sees only their own (none); a viewer may not look.
    const other = await call("GET", "/v1/creators/me/settlements", { token: await token("st-reads-other", "creator") });
    expect(other.body.items).toEqual([]);
    expect((await call("GET", "/v1/creators/me/earnings", { token: await token(viewer) })).status).toBe(403);
  });

  it("matches the domain's settleDay to the fen for every settled line", async () => {
    const { creator, viewer, roomId } = await creatorAndViewer("st-domain");
    const day = "2026-10-08";
    await tipAt(roomId, viewer, "1.07", at(day)); // platform 30% of 107 = 32.1 → 32; creator 75
    await tipAt(roomId, viewer, "333.33", at(day, 1));
    await settleTransit();
    await runSettlementApi(day);
    const row = await settlementRow(creator, day);
    const expected = settleDay(
      {
        creatorId: creator,
        day,
        grossMinor: 107 + 33_333,
        platformMinor: 32 + 9_999,
        reversedMinor: 0,
        withholdingBps: 0,
        receivableMinor: 0,
      },
      N,
      TZ,
    );
    expect(row).toMatchObject({
      gross_minor: expected.grossMinor,
      platform_minor: expected.platformMinor,
      creator_part_minor: expected.creatorPartMinor,
      net_minor: expected.netMinor,
      due_at_ms: expected.dueAtMs,
    });
  });
});

async function creatorAndViewerFor(creator: string, viewer: string) {
  const roomId = await openRoom(creator);
  await fund(viewer, "1000.00");
  return { roomId };
}
