/**
 * The monthly statement CSV as the creator's whole month: tips from viewers in every shard, a
 * reversal before and two after settlement (one of a tip from the month before), settlements
 * of the month's business days, withdrawals that ended paid, failed, rejected or still
 * requested; each section's rows checked against the database and the summary against the
 * ledger's transfers. Every money movement is the real operation, committed at a chosen instant.
 */
import { describe, expect, it } from "vitest";
import { runOperations } from "../../src/db/ledger";
import { composeTipReversal } from "../../src/db/operations/tip-reversal";
import { composeWithdrawalHold } from "../../src/db/operations/withdrawal-hold";
import { composeWithdrawalPayout, payoutOperationId } from "../../src/db/operations/withdrawal-payout";
import { composeWithdrawalRelease } from "../../src/db/operations/withdrawal-release";
import { completePlatformLeg, findTip, planReversal, reversalOfTip } from "../../src/db/tip-reversals";
import { runStep } from "../../src/db/withdrawals";
import { addDays, businessDayOf, dayStartMs } from "../../src/domain/business-day";
import { newOwnedId } from "../../src/domain/ids";
import { formatMinor } from "../../src/domain/money";
import { monthStatementCsv } from "../../src/worker/statement-month-csv";
import { balanceOf, fund, invariantReport, ledger, openRoom, settleTransit } from "./helpers";
import { at, type Committed, settleDayDirect, TZ, tipAt } from "./money-out-support";
import {
  type CsvRow,
  contentTipAt,
  downloadStatement,
  fen,
  pricedContent,
  refundUnlockAt,
  unlockAt,
} from "./statement-csv-support";

const MONTH = "2026-09";
const FROM = dayStartMs("2026-09-01", TZ);
const TO = dayStartMs("2026-10-01", TZ);
const WITHHOLDING_BPS = 250;

/** The ledger's tip reversal (creator's leg, then the platform's) committed at `nowMs`. */
async function reverseAt(tipId: string, nowMs: number, reason: string) {
  const l = await ledger();
  const found = await findTip(l, tipId);
  if (found === null) throw new Error("tip");
  const creatorShard = l.forOwner(found.tip.creator_id);
  const plan = await planReversal(creatorShard, found.shard, found.tip, {
    id: newOwnedId("rev", l.bucketOf(found.tip.creator_id), nowMs),
    reason,
    actorId: "ops-test",
    withholdingBpsNow: WITHHOLDING_BPS,
    timeZone: TZ,
    nowMs,
  });
  if (!plan.ok) throw new Error(plan.code);
  expect(await runOperations(creatorShard, [composeTipReversal(creatorShard, plan.value)])).toEqual([
    { kind: "posted" },
  ]);
  const row = await reversalOfTip(creatorShard, tipId);
  if (row === null) throw new Error("reversal");
  expect((await completePlatformLeg(l, row, nowMs)).kind).toBe("posted");
  return row;
}

type Ending = "paid" | "failed" | "rejected" | "requested";

/** A withdrawal requested at `nowMs` and taken to `ending` by the ledger's own operations. */
async function withdrawAt(creatorId: string, amountMinor: number, feeMinor: number, nowMs: number, ending: Ending) {
  const l = await ledger();
  const shard = l.forOwner(creatorId);
  const id = newOwnedId("wd", l.bucketOf(creatorId), nowMs);
  const day = businessDayOf(nowMs, TZ);
  const auto = ending === "paid" || ending === "failed";
  const hold = composeWithdrawalHold(shard, {
    id,
    ownerKind: "creator",
    creatorId,
    amountMinor,
    feeMinor,
    currency: "CNY",
    channel: "sandbox",
    payoutAccountId: "pa_statement",
    destinationMasked: "sandbox:****01",
    approval: auto ? "auto" : "review",
    reviewReasons: auto ? [] : ["amount_at_or_above_auto_approval"],
    idempotencyKey: id,
    dayStartMs: dayStartMs(day, TZ),
    dayEndMs: dayStartMs(addDays(day, 1), TZ),
    perDayMax: 10,
    dailyAmountMaxMinor: 100_000_000,
    sendBackstopAtMs: nowMs + 60_000,
    nowMs,
  });
  expect(await runOperations(shard, [hold])).toEqual([{ kind: "posted" }]);
  const w = {
    id,
    creator_id: creatorId,
    owner_kind: "creator" as const,
    amount_minor: amountMinor,
    fee_minor: feeMinor,
    currency: "CNY",
  };
  if (ending === "rejected") {
    const release = composeWithdrawalRelease(shard, {
      withdrawal: w,
      from: "requested",
      cause: "reject",
      ref: null,
      actorId: "finance-1",
      reason: "name, does not match",
      nowMs: nowMs + 1_000,
    });
    expect(await runOperations(shard, [release])).toEqual([{ kind: "posted" }]);
  }
  if (!auto) return id;
  const step = { id, from: "approved", to: "paying", cause: "pay", ref: null, actorId: null, nowMs: nowMs + 1_000 };
  expect(await runStep(l, step as Parameters<typeof runStep>[1])).toBe(true);
  const end =
    ending === "paid"
      ? composeWithdrawalPayout(shard, {
          withdrawal: { ...w, channel: "sandbox" },
          providerRef: `sbx_${id}`,
          cause: "callback",
          ref: null,
          nowMs: nowMs + 2_000,
        })
      : composeWithdrawalRelease(shard, {
          withdrawal: w,
          from: "paying",
          cause: "failed",
          ref: null,
          actorId: "system:payouts",
          reason: "=bank refused",
          nowMs: nowMs + 2_000,
        });
  expect(await runOperations(shard, [end])).toEqual([{ kind: "posted" }]);
  return id;
}

/** Rows of a query over every ledger shard. */
async function everyShard<T>(sql: string, ...params: unknown[]): Promise<T[]> {
  const out: T[] = [];
  for (const s of (await ledger()).shards) {
    out.push(
      ...(
        await s.db
          .prepare(sql)
          .bind(...params)
          .all<T>()
      ).results,
    );
  }
  return out;
}

async function transfersSum(creatorId: string, operationIds: readonly string[], toAccount?: string): Promise<number> {
  if (operationIds.length === 0) return 0;
  const db = (await ledger()).forOwner(creatorId).db;
  const marks = operationIds.map(() => "?").join(", ");
  const row = await db
    .prepare(
      `SELECT COALESCE(SUM(amount_minor), 0) AS s FROM transfers
       WHERE operation_id IN (${marks})${toAccount ? " AND to_account = ?" : ""}`,
    )
    .bind(...operationIds, ...(toAccount ? [toAccount] : []))
    .first<number>("s");
  return row ?? 0;
}

describe("the monthly statement CSV", () => {
  it("holds the month's income, reversals, settlements and withdrawals, and a summary equal to the ledger", async () => {
    const creator = "smc-creator";
    const roomId = await openRoom(creator);
    const l = await ledger();
    // Viewers in every shard (two per shard where there are several).
    const viewers: string[] = [];
    const perShard = new Map<number, number>();
    for (let k = 0; viewers.length < Math.min(8, 2 * l.shards.length); k++) {
      const v = `smc-fan-${k}`;
      const shard = l.forOwner(v).index;
      if ((perShard.get(shard) ?? 0) >= 2) continue;
      perShard.set(shard, (perShard.get(shard) ?? 0) + 1);
      viewers.push(v);
    }
    for (const v of viewers) await fund(v, "5000.00");

    const amounts = ["188.00", "1.01", "520.00", "66.66", "13.14", "999.99", "1.00", "300.00", "77.77"];
    const tips: Committed[] = [];
    let n = 0;
    const tip = async (atMs: number) => {
      const t = await tipAt(roomId, viewers[n % viewers.length] as string, amounts[n % amounts.length] as string, atMs);
      n++;
      return t;
    };
    const lastOfAugust = await tip(FROM - 1);
    for (const day of ["2026-09-01", "2026-09-02", "2026-09-03", "2026-09-04"]) {
      for (let k = 0; k < 4; k++) tips.push(await tip(at(day, k * 1_000)));
    }
    tips.push(await tip(at("2026-09-05", -3_600_000)), await tip(at("2026-09-05", -3_599_000)));
    // The same instant from two shards: ordered by id.
    tips.push(await tip(at("2026-09-04", 9_000)), await tip(at("2026-09-04", 9_000)));
    const firstOfOctober = await tip(TO);
    await settleTransit();

    // Before its day settles: from pending.
    const before = await reverseAt((tips[4] as Committed).id, at("2026-09-02", 3_600_000), "chargeback");
    expect(before.source).toBe("pending");
    await settleDayDirect("2026-08-31", WITHHOLDING_BPS);
    for (const day of ["2026-09-01", "2026-09-02", "2026-09-03"]) await settleDayDirect(day, WITHHOLDING_BPS);
    // After: from the receivable, offset by later settlements; one is August's tip, reversed in September.
    const after = await reverseAt((tips[2] as Committed).id, at("2026-09-05"), "stolen card");
    const august = await reverseAt(lastOfAugust.id, at("2026-09-06"), "chargeback");
    expect([after.source, august.source]).toEqual(["receivable", "receivable"]);
    await reverseAt(firstOfOctober.id, at("2026-10-02"), "october's");
    // 09-04 settles only after the reversals: its settlement offsets the receivable.
    await settleDayDirect("2026-09-04", WITHHOLDING_BPS);
    // 09-05 under a risk hold: recorded held, listed, and nothing of it in the settled figures.
    const hold = (on: number) =>
      l.control
        .prepare("UPDATE creators SET risk_hold = ?, risk_hold_reason = ? WHERE user_id = ?")
        .bind(on, on ? "=review" : null, creator)
        .run();
    expect((await hold(1)).meta.changes).toBe(1);
    await settleDayDirect("2026-09-05", WITHHOLDING_BPS);
    await hold(0);

    const available = await balanceOf(`creator:${creator}:available`);
    expect(available).toBeGreaterThan(100_000);
    const withdrawalIds = [
      await withdrawAt(creator, 50_000, 150, at("2026-09-10"), "paid"),
      await withdrawAt(creator, 12_345, 100, at("2026-09-11"), "failed"),
      await withdrawAt(creator, 10_000, 0, at("2026-09-12"), "rejected"),
      await withdrawAt(creator, 20_000, 200, at("2026-09-13"), "paid"),
      await withdrawAt(creator, 3_000, 0, at("2026-09-30", 11 * 3_600_000), "requested"),
    ];
    await withdrawAt(creator, 1_000, 0, at("2026-10-01"), "paid");
    await withdrawAt(creator, 1_000, 0, FROM - 1, "paid");

    const statement = await downloadStatement(creator, MONTH);

    // Income: every tip of the month from every shard, in (time, id) order, as the tip rows say.
    const tipRows = (
      await everyShard<{
        id: string;
        viewer_id: string;
        amount_minor: number;
        platform_minor: number;
        creator_minor: number;
        platform_bps: number | null;
        created_at_ms: number;
      }>("SELECT * FROM tips WHERE creator_id = ? AND created_at_ms >= ? AND created_at_ms < ?", creator, FROM, TO)
    ).sort((a, b) => a.created_at_ms - b.created_at_ms || (a.id < b.id ? -1 : 1));
    expect(tipRows).toHaveLength(tips.length);
    const income = statement.of("income");
    const reversedIds = new Set([before.tip_id, after.tip_id]);
    expect(income.map(incomeOf)).toEqual(
      tipRows.map((t) => ({
        id: t.id,
        viewer_id: t.viewer_id,
        gross: formatMinor(t.amount_minor),
        platform_rate_percent: t.platform_bps === null ? "" : formatMinor(t.platform_bps),
        platform_share: formatMinor(t.platform_minor),
        creator_part: formatMinor(t.creator_minor),
        state: reversedIds.has(t.id) ? "reversed" : "received",
        business_day: businessDayOf(t.created_at_ms, TZ),
      })),
    );
    expect(new Set(income.map((r) => l.forOwner(r.viewer_id).index)).size).toBe(l.shards.length);

    // Reversals made in the month, whatever the tip's month, with their source.
    const reversalRows = await everyShard<{
      id: string;
      tip_id: string;
      source: string;
      creator_minor: number;
      amount_minor: number;
      reason: string;
    }>(
      "SELECT * FROM tip_reversals WHERE creator_id = ? AND created_at_ms >= ? AND created_at_ms < ? ORDER BY created_at_ms, id",
      creator,
      FROM,
      TO,
    );
    expect(reversalRows.map((r) => r.id)).toEqual([before.id, after.id, august.id]);
    expect(
      statement.of("reversal").map((r) => [r.id, r.tip_id, r.source, r.gross, r.reversed, r.reason, r.business_day]),
    ).toEqual([
      [
        before.id,
        before.tip_id,
        "pending",
        formatMinor(before.amount_minor),
        formatMinor(before.creator_minor),
        "chargeback",
        "2026-09-02",
      ],
      [
        after.id,
        after.tip_id,
        "receivable",
        formatMinor(after.amount_minor),
        formatMinor(after.creator_minor),
        "stolen card",
        "2026-09-05",
      ],
      [
        august.id,
        august.tip_id,
        "receivable",
        formatMinor(august.amount_minor),
        formatMinor(august.creator_minor),
        "chargeback",
        "2026-09-06",
      ],
    ]);

    // Settlements of the month's business days, by day.
    const settlementRows = await everyShard<Record<string, number | string>>(
      "SELECT * FROM creator_settlements WHERE creator_id = ? AND day >= '2026-09-01' AND day <= '2026-09-30' ORDER BY day",
      creator,
    );
    expect(settlementRows.map((s) => [s.day, s.state])).toEqual([
      ["2026-09-01", "settled"],
      ["2026-09-02", "settled"],
      ["2026-09-03", "settled"],
      ["2026-09-04", "settled"],
      ["2026-09-05", "held"],
    ]);
    expect(statement.of("settlement")[4]?.reason).toBe("'=review");
    expect(statement.of("settlement").map(settlementOf)).toEqual(
      settlementRows.map((s) => ({
        id: s.id,
        business_day: s.day,
        state: s.state,
        tip_count: String(s.tip_count),
        gross: formatMinor(s.gross_minor as number),
        creator_part: formatMinor(s.creator_part_minor as number),
        reversed: formatMinor(s.reversed_minor as number),
        withholding: formatMinor(s.withholding_minor as number),
        receivable_offset: formatMinor(s.receivable_offset_minor as number),
        net: formatMinor(s.net_minor as number),
      })),
    );
    // The reversal before settlement is in its day's settlement; those after are offset later.
    expect(fen(statement.of("settlement")[1]?.reversed ?? "")).toBe(before.creator_minor);
    expect(fen(statement.of("settlement")[3]?.receivable_offset ?? "")).toBeGreaterThan(0);

    // Withdrawals requested in the month, in their state now; fee and payout once paid.
    expect(statement.of("withdrawal").map((r) => [r.id, r.state, r.amount, r.fee, r.payout, r.reason])).toEqual([
      [withdrawalIds[0], "paid", "500.00", "1.50", "498.50", ""],
      // Formula-like text is defused with an apostrophe; a comma is quoted and reads back whole.
      [withdrawalIds[1], "failed", "123.45", "", "", "'=bank refused"],
      [withdrawalIds[2], "rejected", "100.00", "", "", "name, does not match"],
      [withdrawalIds[3], "paid", "200.00", "2.00", "198.00", ""],
      [withdrawalIds[4], "requested", "30.00", "", "", ""],
    ]);

    // The summary, each figure against the ledger.
    const settlementIds = settlementRows.map((s) => s.id as string);
    expect(await transfersSum(creator, settlementIds.slice(4))).toBe(0);
    const paid = [withdrawalIds[0], withdrawalIds[3]].map((id) => payoutOperationId(id as string));
    const expected = {
      gross: tipRows.reduce((s, t) => s + t.amount_minor, 0),
      platform_share: tipRows.reduce((s, t) => s + t.platform_minor, 0),
      creator_part: tipRows.reduce((s, t) => s + t.creator_minor, 0),
      reversed: await transfersSum(
        creator,
        reversalRows.map((r) => r.id),
      ),
      withholding: await transfersSum(creator, settlementIds, "platform:tax_payable"),
      settled_net: await transfersSum(creator, settlementIds, `creator:${creator}:available`),
      withdrawn: await transfersSum(creator, paid),
      fees: await transfersSum(creator, paid, "platform:fees"),
    };
    expect(statement.summary).toEqual(expected);
    expect(expected.reversed).toBe(reversalRows.reduce((s, r) => s + r.creator_minor, 0));
    expect(expected.withdrawn).toBe(70_000);
    expect(expected.fees).toBe(350);
    expect(expected.withholding).toBeGreaterThan(0);
    expect(statement.rows).toHaveLength(tips.length + 3 + 5 + 5 + 8);

    // Pages of two rows stream the same file, one page of one section per chunk.
    const chunks: string[] = [];
    for await (const chunk of monthStatementCsv(
      l,
      { creatorId: creator, month: MONTH, range: { fromMs: FROM, toMs: TO }, timeZone: TZ, currency: "CNY" },
      undefined,
      2,
    )) {
      chunks.push(chunk);
    }
    expect(chunks.join("")).toBe(statement.text);
    expect(chunks).toHaveLength(1 + Math.ceil(tips.length / 2) + 2 + 3 + 3 + 1);
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("counts paid unlocks like tips: the summary is the income lines' sum and what the month's settlements credited", async () => {
    // May 2025: no other test's money on these days, so the settlement runs below see this creator's only.
    const month = "2025-05";
    const days = ["2025-05-06", "2025-05-07", "2025-05-08"];
    const run = crypto.randomUUID().slice(0, 6);
    const creator = `smu-creator-${run}`;
    const roomId = await openRoom(creator);
    const article = await pricedContent(creator, "6.00");
    const video = await pricedContent(creator, "9.90");
    const l = await ledger();
    // Tippers in every shard; a reader of their own for each unlock (one entitlement per reader and item).
    const payers: string[] = [];
    const perShard = new Map<number, number>();
    for (let k = 0; payers.length < Math.min(8, 2 * l.shards.length); k++) {
      const p = `smu-fan-${k}-${run}`;
      const shard = l.forOwner(p).index;
      if ((perShard.get(shard) ?? 0) >= 2) continue;
      perShard.set(shard, (perShard.get(shard) ?? 0) + 1);
      payers.push(p);
    }
    for (const p of payers) await fund(p, "500.00");
    const payer = (n: number) => payers[n % payers.length] as string;
    const readers = Array.from({ length: 9 }, (_, k) => `smu-reader-${k}-${run}`);
    for (const r of readers) await fund(r, "20.00");

    const kinds = new Map<string, "tip" | "unlock">();
    let n = 0;
    for (const day of days) {
      for (let k = 0; k < 3; k++) {
        const t0 = at(day, k * 60_000);
        kinds.set((await tipAt(roomId, payer(n), ["18.80", "5.20", "1.01"][k] as string, t0)).id, "tip");
        kinds.set(
          (await contentTipAt(article, payer(n + 1), ["3.33", "66.00", "1.00"][k] as string, t0 + 1)).id,
          "tip",
        );
        // An unlock at the same instant as a tip from another payer: the id breaks the tie.
        kinds.set((await unlockAt(k % 2 === 0 ? article : video, readers[n] as string, t0)).id, "unlock");
        n++;
      }
    }
    await settleTransit();
    const ids = [...kinds.keys()];
    const tipIds = ids.filter((id) => kinds.get(id) === "tip");
    const unlockIds = ids.filter((id) => kinds.get(id) === "unlock");
    // Before its day settles, a room tip is reversed and an unlock refunded: both from pending.
    const reversal = await reverseAt(tipIds[6] as string, at("2025-05-07", 3_600_000), "chargeback");
    const refund = await refundUnlockAt(unlockIds[4] as string, at("2025-05-07", 3_600_001), "withdrawn article");
    expect([reversal.source, refund.source]).toEqual(["pending", "pending"]);
    for (const day of days) await settleDayDirect(day);

    const statement = await downloadStatement(creator, month);
    const income = statement.of("income");
    // Every tip and unlock of the month, in (time, id) order, each with its kind.
    const rows = await everyShard<{ id: string; created_at_ms: number; amount_minor: number }>(
      `SELECT id, created_at_ms, amount_minor FROM tips WHERE creator_id = ?1
       UNION ALL SELECT id, created_at_ms, amount_minor FROM entitlements WHERE creator_id = ?1 AND moved_from_shard IS NULL`,
      creator,
    );
    rows.sort((a, b) => a.created_at_ms - b.created_at_ms || (a.id < b.id ? -1 : 1));
    expect(income.map((r) => [r.kind, r.id])).toEqual(rows.map((r) => [kinds.get(r.id), r.id]));
    expect(income.filter((r) => r.kind === "unlock")).toHaveLength(9);
    for (const r of income) {
      expect([r.tip_id, r.unlock_id]).toEqual(r.kind === "tip" ? [r.id, ""] : ["", r.id]);
    }
    expect(income.filter((r) => r.kind === "unlock").map((r) => r.content_id)).toEqual(
      Array.from({ length: 9 }, (_, k) => ((k % 3) % 2 === 0 ? article : video)),
    );
    const taken = income.filter((r) => r.state !== "received").map((r) => [r.kind, r.id, r.state]);
    expect(taken.sort()).toEqual([
      ["tip", reversal.tip_id, "reversed"],
      ["unlock", refund.unlock_id, "refunded"],
    ]);
    expect(
      statement.of("reversal").map((r) => [r.kind, r.id, r.tip_id, r.unlock_id, r.content_id, r.reversed]),
    ).toEqual([
      ["tip", reversal.id, reversal.tip_id, "", "", formatMinor(reversal.creator_minor)],
      ["unlock", refund.id, "", refund.unlock_id, refund.content_id, formatMinor(refund.creator_minor)],
    ]);

    // The summary is the lines' sum, and exactly what the month's settlements counted and credited.
    const sum = (lines: CsvRow[], col: "gross" | "platform_share" | "creator_part" | "reversed") =>
      lines.reduce((acc, r) => acc + fen(r[col]), 0);
    const settlements = await everyShard<{
      day: string;
      state: string;
      gross_minor: number;
      platform_minor: number;
      creator_part_minor: number;
      reversed_minor: number;
      net_minor: number;
      tip_count: number;
    }>("SELECT * FROM creator_settlements WHERE creator_id = ? ORDER BY day", creator);
    expect(settlements.map((s) => [s.day, s.state])).toEqual(days.map((d) => [d, "settled"]));
    const settled = (
      f: "gross_minor" | "platform_minor" | "creator_part_minor" | "reversed_minor" | "net_minor" | "tip_count",
    ) => settlements.reduce((acc, s) => acc + s[f], 0);
    expect(statement.summary.gross).toBe(sum(income, "gross"));
    expect(statement.summary.gross).toBe(settled("gross_minor"));
    expect(statement.summary.gross).toBe(rows.reduce((acc, r) => acc + r.amount_minor, 0));
    expect(statement.summary.platform_share).toBe(sum(income, "platform_share"));
    expect(statement.summary.platform_share).toBe(settled("platform_minor"));
    expect(statement.summary.creator_part).toBe(sum(income, "creator_part"));
    expect(statement.summary.creator_part).toBe(settled("creator_part_minor"));
    expect(statement.summary.reversed).toBe(sum(statement.of("reversal"), "reversed"));
    expect(statement.summary.reversed).toBe(settled("reversed_minor"));
    expect(statement.summary.reversed).toBe(reversal.creator_minor + refund.creator_minor);
    expect(statement.summary.settled_net).toBe(settled("net_minor"));
    expect(income).toHaveLength(settled("tip_count"));
    // And the settlement lines of the file are those rows.
    expect(statement.of("settlement").map((r) => [r.business_day, fen(r.gross), fen(r.creator_part)])).toEqual(
      settlements.map((s) => [s.day, s.gross_minor, s.creator_part_minor]),
    );
    expect(await balanceOf(`creator:${creator}:pending`)).toBe(0);
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("an empty month is the header and a zero summary", async () => {
    const statement = await downloadStatement("smc-nobody", "2026-07");
    expect(statement.rows.map((r) => r.section)).toEqual(Array(8).fill("summary"));
    expect(Object.values(statement.summary)).toEqual(Array(8).fill(0));
  });
});

function incomeOf(r: CsvRow) {
  return {
    id: r.id,
    viewer_id: r.viewer_id,
    gross: r.gross,
    platform_rate_percent: r.platform_rate_percent,
    platform_share: r.platform_share,
    creator_part: r.creator_part,
    state: r.state,
    business_day: r.business_day,
  };
}

function settlementOf(r: CsvRow) {
  return {
    id: r.id,
    business_day: r.business_day,
    state: r.state,
    tip_count: r.tip_count,
    gross: r.gross,
    creator_part: r.creator_part,
    reversed: r.reversed,
    withholding: r.withholding,
    receivable_offset: r.receivable_offset,
    net: r.net,
  };
}
