import { describe, expect, it } from "vitest";
import { runOperations } from "../../src/db/ledger";
import { composeSettlement } from "../../src/db/operations/settlement";
import { composeTipReversal } from "../../src/db/operations/tip-reversal";
import { creatorDayStateFrom, creatorDayStateStatement } from "../../src/db/reads/settlement-inputs";
import { findTip, planReversal } from "../../src/db/tip-reversals";
import { newOwnedId } from "../../src/domain/ids";
import { type SettlementRecord, settleDay } from "../../src/domain/settlement";
import { reversalRoute } from "../../src/domain/tip-reversal";
import { balanceOf, call, invariantReport, ledger, settleTransit, token } from "./helpers";
import {
  at,
  type Committed,
  creatorAndViewer,
  reverseApi,
  settings,
  settleDayDirect,
  TZ,
  tipAt,
} from "./money-out-support";

const WITHHOLDING_BPS = 250; // 2.5 %, rounded down per settlement
const N = settings().settleAfterDays;

describe("a simulated multi-day run", () => {
  it("settles every day exact to the fen against the domain's settleDay, with reversals before and after settlement", async () => {
    const { creator, viewer, roomId } = await creatorAndViewer("sm-month", "100000.00");
    const days = ["2026-08-01", "2026-08-02", "2026-08-03", "2026-08-04", "2026-08-05", "2026-08-06"];
    const amounts = [
      ["88.88", "1.01", "520.00"],
      ["13.14"],
      ["999.99", "6.66"],
      ["1.00"],
      ["3.33", "77.77"],
      ["1314.00"],
    ];
    const tipsByDay = new Map<string, Committed[]>();
    for (const [i, day] of days.entries()) {
      const committed: Committed[] = [];
      for (const [k, amount] of (amounts[i] ?? []).entries()) {
        committed.push(await tipAt(roomId, viewer, amount, at(day, k * 1_000)));
      }
      tipsByDay.set(day, committed);
    }
    await settleTransit();
    const tipsOf = (day: string) => tipsByDay.get(day) ?? [];

    // The model: the domain's own rules, driven in the same order as the ledger.
    const reversedBefore = new Map<string, number>();
    let receivable = 0;
    const expected: SettlementRecord[] = [];
    const settle = async (day: string) => {
      const tips = tipsOf(day);
      const record = settleDay(
        {
          creatorId: creator,
          day,
          grossMinor: tips.reduce((s, t) => s + t.amountMinor, 0),
          platformMinor: tips.reduce((s, t) => s + t.platformMinor, 0),
          reversedMinor: reversedBefore.get(day) ?? 0,
          withholdingBps: WITHHOLDING_BPS,
          receivableMinor: receivable,
        },
        N,
        TZ,
      );
      receivable = record.receivableAfterMinor;
      expected.push(record);
      const run = await settleDayDirect(day, WITHHOLDING_BPS);
      expect(run.settled).toEqual([creator]);
    };
    const reverse = async (day: string, index: number, settled: boolean) => {
      const tip = tipsOf(day)[index];
      if (!tip) throw new Error("tip");
      const res = await reverseApi(tip.id);
      expect(res.status).toBe(201);
      const route = reversalRoute(tip.creatorMinor, settled, WITHHOLDING_BPS);
      expect(res.body.reversal.source).toBe(route.from);
      reversedBefore.set(day, (reversedBefore.get(day) ?? 0) + route.pendingMinor);
      receivable += route.receivableMinor;
    };

    await reverse("2026-08-01", 1, false); // before its day settles
    await settle("2026-08-01");
    await reverse("2026-08-01", 2, true); // 520.00 after: a receivable of 364.00 − 9.10 withheld
    await settle("2026-08-02"); // 9.20 of creator part: offset all of what remains after withholding
    await reverse("2026-08-03", 0, false);
    await settle("2026-08-03");
    await settle("2026-08-04");
    await reverse("2026-08-03", 1, true);
    await settle("2026-08-05");
    await settle("2026-08-06");

    const l = await ledger();
    const { results: rows } = await l
      .forOwner(creator)
      .db.prepare("SELECT * FROM creator_settlements WHERE creator_id = ? ORDER BY day")
      .bind(creator)
      .all<Record<string, unknown>>();
    expect(rows.map((r) => r.day)).toEqual(days);
    for (const [i, record] of expected.entries()) {
      expect(rows[i]).toMatchObject({
        id: record.key,
        state: "settled",
        due_at_ms: record.dueAtMs,
        gross_minor: record.grossMinor,
        platform_minor: record.platformMinor,
        creator_part_minor: record.creatorPartMinor,
        reversed_minor: record.reversedMinor,
        withholding_minor: record.withholdingMinor,
        receivable_offset_minor: record.receivableOffsetMinor,
        net_minor: record.netMinor,
      });
    }
    // Some day was too small for what was owed: the receivable carried over at least once.
    expect(expected.some((r) => r.receivableAfterMinor > 0 && r.netMinor === 0)).toBe(true);
    const sum = (f: (r: SettlementRecord) => number) => expected.reduce((s, r) => s + f(r), 0);
    expect(await balanceOf(`creator:${creator}:available`)).toBe(sum((r) => r.netMinor));
    expect(await balanceOf(`creator:${creator}:pending`)).toBe(0);
    const earnings = (await call("GET", "/v1/creators/me/earnings", { token: await token(creator, "creator") })).body;
    expect(earnings).toMatchObject({ receivableMinor: receivable, availableMinor: sum((r) => r.netMinor) });
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("the guards catch each interleaving: a settlement on stale inputs and a reversal on a stale route both refuse", async () => {
    const { creator, viewer, roomId } = await creatorAndViewer("sm-guards");
    const day = "2026-08-10";
    const a = await tipAt(roomId, viewer, "25.00", at(day));
    const b = await tipAt(roomId, viewer, "35.00", at(day, 1));
    await settleTransit();
    const l = await ledger();
    const shard = l.forOwner(creator);
    const state = creatorDayStateFrom((await shard.db.batch([creatorDayStateStatement(shard.db, creator, day)]))[0]);
    const stale = {
      record: settleDay(
        {
          creatorId: creator,
          day,
          grossMinor: a.amountMinor + b.amountMinor,
          platformMinor: a.platformMinor + b.platformMinor,
          reversedMinor: state.reversedMinor,
          withholdingBps: 0,
          receivableMinor: state.receivableMinor,
        },
        N,
        TZ,
      ),
      tipCount: 2,
      currency: "CNY" as const,
      withholdingBps: 0,
      runId: "test",
      actorId: "system:test",
      nowMs: Date.now(),
      receivableBeforeMinor: state.receivableMinor,
    };
    // A reversal commits after the settlement read its inputs.
    expect((await reverseApi(a.id)).body.reversal.source).toBe("pending");
    expect(await runOperations(shard, [composeSettlement(shard, stale)])).toEqual([
      { kind: "rejected", code: "settlement_inputs_changed" },
    ]);
    expect(await balanceOf(`creator:${creator}:available`)).toBe(0);
    // A run re-reads and settles what is left.
    await settleDayDirect(day);
    expect(await balanceOf(`creator:${creator}:available`)).toBe(b.creatorMinor);

    // A reversal planned while the day was open, committed after it settled.
    const day2 = "2026-08-11";
    const c = await tipAt(roomId, viewer, "12.00", at(day2));
    await settleTransit();
    const found = await findTip(l, c.id);
    if (found === null) throw new Error("tip");
    const plan = await planReversal(shard, found.shard, found.tip, {
      id: newOwnedId("rev", l.bucketOf(creator), Date.now()),
      reason: "late",
      actorId: "ops-test",
      withholdingBpsNow: 0,
      timeZone: TZ,
      nowMs: Date.now(),
    });
    if (!plan.ok) throw new Error(plan.code);
    expect(plan.value.route.from).toBe("pending");
    await settleDayDirect(day2);
    expect(await runOperations(shard, [composeTipReversal(shard, plan.value)])).toEqual([
      { kind: "rejected", code: "reversal_route_changed" },
    ]);
    expect((await reverseApi(c.id)).body.reversal.source).toBe("receivable");
    expect((await invariantReport()).violations).toEqual([]);
  });
});

describe("the money-out invariants", () => {
  it("name a settlement row that disagrees with its operation, and the receivable it throws off", async () => {
    const { creator, viewer, roomId } = await creatorAndViewer("sm-tamper");
    const day = "2026-08-20";
    await tipAt(roomId, viewer, "50.00", at(day));
    await settleTransit();
    await settleDayDirect(day, WITHHOLDING_BPS);
    const db = (await ledger()).forOwner(creator).db;
    const id = `settlement:${creator}:${day}`;
    // Still a well-formed row (its CHECK holds), but not what the operation moved.
    const tamper = (delta: number) =>
      db
        .prepare(
          `UPDATE creator_settlements SET withholding_minor = withholding_minor - ?,
             receivable_offset_minor = receivable_offset_minor + ? WHERE id = ?`,
        )
        .bind(delta, delta, id)
        .run();
    await tamper(1);
    try {
      const report = await invariantReport();
      expect(report.violations).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ kind: "settlement_unmatched", settlementId: id }),
          expect.objectContaining({ kind: "receivables_mismatch" }),
        ]),
      );
    } finally {
      await tamper(-1);
    }
    expect((await invariantReport()).violations).toEqual([]);
  });
});
