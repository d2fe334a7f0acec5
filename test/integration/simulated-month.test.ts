/**
 * A simulated month (issue 14's proof): one creator, viewers in different ledger shards, a tier
 * schedule in force from before the month, tips on each of September 2026's 30 business days
 * crossing two tiers, one reversal before its day settles and one after, every day settled T+N
 * in order at a withholding rate. Every tip's rate and split, every settlement row (all of its
 * columns), the balances and the creator's statement (JSON pages and the month's CSV) are
 * compared to a model driven by the domain's own rules (tier rates, splitRevenue, settleDay,
 * withholding, reversalRoute), exact to the fen; the invariant checker stays clean. Around the
 * month: its first instant, a big tip at the last instant of August and one at the first of
 * October (each month's tiers start from zero; each month's CSV holds its own tips), the
 * creator's earnings checked every simulated day, and a receivable that one settlement cannot
 * take in full.
 *
 * Settlement runs at the ledger level as the cron job runs it (money-out-support.ts
 * `settleDayDirect`), at a withholding rate of its own: the deployment's WITHHOLDING_BPS is 0.
 *
 * Tips are committed in the past through the operation layer (as money-out-support.ts `tipAt`),
 * priced the way the room's tier desk prices them (live-room.tiers.ts): the schedules read at
 * the tip's instant, the month's gross carried tip by tip through revenue-tiers.ts `shareTip`,
 * the tip split at that rate (`atQuotedRate`). The desk itself is tested in revenue-tiers.test.ts.
 */
import { exports } from "cloudflare:workers";
import { afterAll, describe, expect, it } from "vitest";
import { runOperation } from "../../src/db/ledger";
import { atQuotedRate, composeTip, prepareTip } from "../../src/db/operations/tip";
import { addDays, dayStartMs } from "../../src/domain/business-day";
import { newOwnedId } from "../../src/domain/ids";
import { formatMinor, parseAmountMinor } from "../../src/domain/money";
import { splitRevenue } from "../../src/domain/revenue-share";
import { type MonthGross, shareTip, type TierSchedule, tierRateBps } from "../../src/domain/revenue-tiers";
import { type SettlementRecord, settleDay } from "../../src/domain/settlement";
import { reversalRoute } from "../../src/domain/tip-reversal";
import { withholdingMinor } from "../../src/domain/withholding";
import {
  BASE,
  balanceOf,
  call,
  config,
  fund,
  invariantReport,
  ledger,
  openRoom,
  type Reply,
  settleTransit,
  token,
} from "./helpers";
import { at, quietLedger, reverseApi, settings, settleDayDirect, TZ } from "./money-out-support";

const MONTH = "2026-09"; // 30 days, every one a business day; all due (T+N) long before the test runs
const DAYS = Array.from({ length: 30 }, (_, i) => `${MONTH}-${String(i + 1).padStart(2, "0")}`);
const BEFORE = "2026-08-31";
const AFTER = "2026-10-01";
const ALL_DAYS = [BEFORE, ...DAYS, AFTER];
const WITHHOLDING_BPS = 250; // 2.5 %, rounded down per settlement
const N = settings().settleAfterDays;
const NOTE = "simulated-month";
/** Three tiers crossed during the month, a fourth never reached. */
const TIERS = [
  { fromGrossMinor: 0, platformBps: 5_000 },
  { fromGrossMinor: 1_000_000, platformBps: 4_000 }, // ¥10,000
  { fromGrossMinor: 2_500_000, platformBps: 3_000 }, // ¥25,000
  { fromGrossMinor: 50_000_000, platformBps: 2_000 }, // ¥500,000
];
const TIP_GAP_MS = 97 * 60_000; // a day's tips at noon and at 13:37

const PLATFORM = ["platform:revenue", "platform:receivables", "platform:tax_payable"] as const;

async function dropSchedule(): Promise<void> {
  await (await ledger()).control.prepare("DELETE FROM revenue_schedules WHERE note = ?").bind(NOTE).run();
}

afterAll(dropSchedule);

/**
 * The month's tips, deterministic: 1–3 a day, odd amounts from ¥1.00 to ¥1,499.99; a day's
 * third tip comes at the same instant as its second, from a viewer in another shard (the
 * statement merges shards in (time, id) order, ties included). The month's first tip at its
 * first instant (local midnight); around it, a big tip at the last instant of August (its
 * gross must not count toward September's tiers) and a tip at the first instant of October.
 */
function plannedTips(viewers: readonly string[]) {
  let seed = 20260904; // chosen so the late reversal owes more than the next settlement can take
  const next = () => {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) & 0x7fff_ffff; // exact 32-bit arithmetic
    return seed;
  };
  const month = DAYS.flatMap((day, d) =>
    Array.from({ length: 1 + (d % 3) }, (_, k) => Math.min(k, 1)).map((slot, k) => ({
      day,
      atMs: d === 0 ? dayStartMs(day, TZ) : at(day, slot * TIP_GAP_MS),
      clock: `${day} ${d === 0 ? "00:00" : slot === 0 ? "12:00" : "13:37"}:00`,
      viewerId: viewers[(d + k) % viewers.length] as string,
      grossMinor: 100 + (next() % 149_900),
    })),
  );
  const lastOfAugust = {
    day: BEFORE,
    atMs: dayStartMs(DAYS[0] as string, TZ) - 1,
    clock: `${BEFORE} 23:59:59`,
    viewerId: viewers[0] as string,
    grossMinor: 4_000_000, // ¥40,000: August's gross jumps straight to the third tier
  };
  const firstOfOctober = {
    day: AFTER,
    atMs: dayStartMs(AFTER, TZ),
    clock: `${AFTER} 00:00:00`,
    viewerId: viewers[1 % viewers.length] as string,
    grossMinor: 8_888,
  };
  return [lastOfAugust, ...month, firstOfOctober];
}

interface TipRow {
  id: string;
  viewer_id: string;
  amount_minor: number;
  platform_bps: number | null;
  schedule_version: number | null;
  platform_minor: number;
  creator_minor: number;
  created_at_ms: number;
}

/** Viewers whose wallets live in as many different shards as there are (up to three). */
async function viewersInShards(prefix: string): Promise<string[]> {
  const l = await ledger();
  const want = Math.min(3, l.shards.length);
  const chosen: string[] = [];
  const used = new Set<number>();
  for (let i = 0; chosen.length < 3 && i < 200; i++) {
    const id = `${prefix}-viewer-${i}`;
    const shard = l.forOwner(id).index;
    if (used.size < want && used.has(shard)) continue;
    used.add(shard);
    chosen.push(id);
  }
  expect(used.size).toBe(want);
  return chosen;
}

/** A month's CSV statement: the byte-order mark, the header, then each line's fields. */
async function csvBody(month: string, as: string): Promise<string[][]> {
  const res = await exports.default.fetch(`${BASE}/v1/creators/me/statements/${month}.csv`, {
    headers: { authorization: `Bearer ${as}` },
  });
  expect(res.status).toBe(200);
  // Response.text() would drop the byte-order mark: read the bytes.
  const bytes = new Uint8Array(await res.arrayBuffer());
  expect([...bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
  const lines = new TextDecoder().decode(bytes.slice(3)).split("\r\n");
  expect(lines.pop()).toBe("");
  const [header, ...body] = lines.map((line) => line.split(","));
  expect(header?.[0]).toBe("section");
  // The month's whole statement (income, reversal, settlement, withdrawal, summary): this test
  // reads its income lines, projected onto the columns it checks (the amounts here have no commas).
  const col = (name: string) => {
    const k = header?.indexOf(name) ?? -1;
    expect(k, name).toBeGreaterThanOrEqual(0);
    return k;
  };
  const wanted = [
    "time",
    "tip_id",
    "viewer_id",
    "gift_id",
    "gift_name",
    "quantity",
    "gross",
    "platform_rate_percent",
    "platform_share",
    "creator_part",
    "state",
    "currency",
  ].map(col);
  return body
    .filter((line) => line[0] === "income")
    .map((line) => wanted.map((k) => line[k] ?? ""))
    .map((line) => [...line.slice(0, 10), line[10] === "reversed" ? "yes" : "no", ...line.slice(11)]);
}

async function pages(path: string, as: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let cursor: string | null = null;
  let count = 0;
  do {
    const reply: Reply<{ items: Record<string, unknown>[]; nextCursor: string | null }> = await call(
      "GET",
      `${path}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      { token: as },
    );
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    items.push(...reply.body.items);
    cursor = reply.body.nextCursor;
    count += 1;
  } while (cursor !== null && count < 100);
  return items;
}

function fen(decimal: string): number {
  const parsed = parseAmountMinor(decimal);
  if (!parsed.ok) throw new Error(`not an amount: ${decimal}`);
  return parsed.value;
}

describe("a simulated month", () => {
  it("prices, reverses and settles 30 business days across two tier crossings, exact to the fen in the ledger and the statement", async () => {
    const creator = "sim-month-creator";
    const roomId = await openRoom(creator);
    const viewers = await viewersInShards("sim-month");
    const FUNDS = 10_000_000; // ¥100,000 each
    for (const v of viewers) await fund(v, formatMinor(FUNDS));
    const platformBefore = await Promise.all(PLATFORM.map((a) => balanceOf(a)));

    // The schedule, in force from before the month (stored directly: the route demands a lead time).
    const effectiveFromMs = dayStartMs(addDays(`${MONTH}-01`, -7), TZ);
    const version = await (await ledger()).control
      .prepare(
        `INSERT INTO revenue_schedules (version, effective_from_ms, tiers, note, created_by, created_at_ms)
         SELECT (SELECT COALESCE(MAX(version), 0) + 1 FROM revenue_schedules), ?, ?, ?, 'ops-test', ?
         RETURNING version`,
      )
      .bind(effectiveFromMs, JSON.stringify(TIERS), NOTE, Date.now())
      .first<number>("version");
    if (version === null) throw new Error("schedule not stored");
    const schedule: TierSchedule = { version, effectiveFromMs, tiers: TIERS };

    // ---- The model: sequential tier rates and splits, from the domain, on the planned tips alone.
    const planned = plannedTips(viewers);
    const monthGross = new Map<string, number>(); // by calendar month: each starts from 0
    const expectedShares = planned.map((t) => {
      const month = t.day.slice(0, 7);
      monthGross.set(month, (monthGross.get(month) ?? 0) + t.grossMinor);
      const bps = tierRateBps(schedule, monthGross.get(month) ?? 0);
      return { bps, ...splitRevenue(t.grossMinor, bps) };
    });
    const inMonth = planned.flatMap((t, i) => (t.day.startsWith(MONTH) ? [i] : []));
    expect(inMonth).toEqual(planned.slice(1, -1).map((_, i) => i + 1));
    const rates = inMonth.map((i) => expectedShares[i]?.bps);
    const firstAt = (bps: number) => 1 + rates.indexOf(bps); // an index of `planned`
    // August's one tip jumped two tiers at once; September starts again from the first tier
    // and crosses two, each by a tip that straddles its threshold; October starts again.
    expect(expectedShares[0]?.bps).toBe(3_000);
    expect(expectedShares.at(-1)?.bps).toBe(5_000);
    expect(firstAt(5_000)).toBe(1);
    expect(firstAt(4_000)).toBeGreaterThan(1);
    expect(firstAt(3_000)).toBeGreaterThan(firstAt(4_000));
    expect(planned[firstAt(3_000)]?.day).not.toBe(DAYS[29]);
    expect(rates).not.toContain(2_000);
    for (const tier of [TIERS[1], TIERS[2]]) {
      const i = firstAt(tier?.platformBps ?? -1);
      const before = planned.slice(1, i).reduce((s, t) => s + t.grossMinor, 0);
      expect(before).toBeLessThan(tier?.fromGrossMinor ?? 0);
      expect(before + (planned[i]?.grossMinor ?? 0)).toBeGreaterThan(tier?.fromGrossMinor ?? 0);
    }

    // ---- Commit the month's tips, each priced as the room's desk prices it.
    const l = await quietLedger();
    const rules = { platformShareBps: config.platformShareBps, customTip: config.customTip };
    const ids: string[] = [];
    let carried: MonthGross | null = null;
    try {
      for (const t of planned) {
        const id = newOwnedId("tip", l.bucketOf(t.viewerId), t.atMs);
        const ask = { kind: "custom" as const, amount: formatMinor(t.grossMinor) };
        const prepared = await prepareTip(l.control, rules, { id, roomId, viewerId: t.viewerId, ask }, t.atMs);
        if (!prepared.ok) throw new Error(`tip refused: ${prepared.code}`);
        const { rates: facts, ...tip } = prepared.value;
        expect(facts.schedules.map((s) => s.version)).toContain(version);
        const { share, after } = shareTip(
          {
            schedules: facts.schedules,
            defaultBps: config.platformShareBps,
            creatorOverrideBps: facts.creatorOverrideBps,
            timeZone: TZ,
          },
          carried,
          { atMs: t.atMs, grossMinor: tip.priced.amountMinor },
        );
        carried = after;
        const shard = l.forOwner(t.viewerId);
        const { verdict } = await runOperation(
          shard,
          composeTip(shard, atQuotedRate(tip, share, t.atMs, Date.now() + 60_000)),
        );
        if (verdict.kind !== "posted") throw new Error(`tip did not post: ${JSON.stringify(verdict)}`);
        ids.push(id);
      }
    } finally {
      // Schedules are the platform's: every tip at any later instant would be priced by this one.
      await dropSchedule();
    }
    await settleTransit();

    // Every tip row: the rate of its tier and the schedule's version, the split of that rate.
    const rows: TipRow[] = [];
    for (const shard of (await ledger()).shards) {
      const { results } = await shard.db
        .prepare(
          `SELECT id, viewer_id, amount_minor, platform_bps, schedule_version, platform_minor, creator_minor,
             created_at_ms FROM tips WHERE creator_id = ?`,
        )
        .bind(creator)
        .all<TipRow>();
      rows.push(...results);
    }
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(rows).toHaveLength(planned.length);
    planned.forEach((t, i) => {
      const s = expectedShares[i];
      expect(byId.get(ids[i] as string), `tip ${i} of ${t.day}`).toEqual({
        id: ids[i],
        viewer_id: t.viewerId,
        amount_minor: t.grossMinor,
        platform_bps: s?.bps,
        schedule_version: version,
        platform_minor: s?.platformMinor,
        creator_minor: s?.creatorMinor,
        created_at_ms: t.atMs,
      });
    });

    // ---- Settlement, T+N, day by day, with the two reversals where they fall.
    const dayOf = (i: number) => planned[i]?.day as string;
    const indexesOf = (day: string) => planned.flatMap((t, i) => (t.day === day ? [i] : []));
    // Before: the first tip of the 10th, reversed on the 14th (the 10th settles on the 17th).
    const early = indexesOf(DAYS[9] as string)[0] as number;
    // After: the largest tip of the 1st–12th, reversed on the 20th (all settled by the 19th).
    const late = planned
      .flatMap((t, i) => (t.day >= (DAYS[0] as string) && t.day <= (DAYS[11] as string) ? [i] : []))
      .reduce((a, b) => ((planned[b]?.grossMinor ?? 0) > (planned[a]?.grossMinor ?? 0) ? b : a));
    const creatorToken = await token(creator, "creator");
    const reversedBefore = new Map<string, number>();
    const reversedGross = new Map<string, number>(); // per viewer
    const reversedPlatform = { minor: 0 };
    let receivable = 0;
    let taxReturned = 0;
    const expected: SettlementRecord[] = [];
    const reverse = async (i: number, settled: boolean) => {
      const s = expectedShares[i];
      const t = planned[i];
      if (!s || !t) throw new Error("tip");
      const res = await reverseApi(ids[i] as string);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      const route = reversalRoute(s.creatorMinor, settled, WITHHOLDING_BPS);
      expect(res.body.reversal.source).toBe(route.from);
      reversedBefore.set(t.day, (reversedBefore.get(t.day) ?? 0) + route.pendingMinor);
      receivable += route.receivableMinor;
      if (settled) taxReturned += withholdingMinor(s.creatorMinor, WITHHOLDING_BPS);
      reversedGross.set(t.viewerId, (reversedGross.get(t.viewerId) ?? 0) + t.grossMinor);
      reversedPlatform.minor += s.platformMinor;
      await settleTransit();
    };
    const settle = async (day: string) => {
      const of = indexesOf(day);
      const record = settleDay(
        {
          creatorId: creator,
          day,
          grossMinor: of.reduce((sum, i) => sum + (planned[i]?.grossMinor ?? 0), 0),
          platformMinor: of.reduce((sum, i) => sum + (expectedShares[i]?.platformMinor ?? 0), 0),
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
      expect(run.settled).toContain(creator);
    };
    // The month's clock: on day `today`, the day today − N settles; the reversals on their days.
    for (let today = BEFORE; today <= addDays(AFTER, N); today = addDays(today, 1)) {
      if (today === DAYS[13]) await reverse(early, false);
      if (today === DAYS[19]) await reverse(late, true);
      const due = addDays(today, -N);
      if (ALL_DAYS.includes(due)) await settle(due);
      // The creator's earnings as the console shows them, every simulated day.
      const settledDays = new Set(expected.map((r) => r.day));
      const pending = planned.reduce(
        (sum, t, i) => sum + (settledDays.has(t.day) ? 0 : (expectedShares[i]?.creatorMinor ?? 0)),
        0,
      );
      const reversedOpen = [...reversedBefore].reduce((sum, [day, m]) => sum + (settledDays.has(day) ? 0 : m), 0);
      const earnings = await call("GET", "/v1/creators/me/earnings", { token: creatorToken });
      expect(earnings.body, today).toMatchObject({
        pendingMinor: pending - reversedOpen,
        availableMinor: expected.reduce((sum, r) => sum + r.netMinor, 0),
        withdrawingMinor: 0,
        receivableMinor: receivable,
      });
    }
    expect(dayOf(early)).toBe(DAYS[9]);
    expect(expected.map((r) => r.day)).toEqual(ALL_DAYS);
    // The late reversal left a receivable that the next days' settlements took back in full:
    // the first of them could not take it all (nothing reached available that day), the rest carried.
    const offsets = expected.filter((r) => r.receivableOffsetMinor > 0);
    expect(offsets.length).toBeGreaterThan(1);
    expect(offsets[0]).toMatchObject({ netMinor: 0 });
    expect(offsets[0]?.receivableAfterMinor).toBeGreaterThan(0);
    expect(offsets.reduce((s, r) => s + r.receivableOffsetMinor, 0)).toBe(
      reversalRoute(expectedShares[late]?.creatorMinor ?? 0, true, WITHHOLDING_BPS).receivableMinor,
    );
    expect(receivable).toBe(0);

    // Every creator_settlements row, every column.
    const creatorDb = (await ledger()).forOwner(creator).db;
    const { results: settled } = await creatorDb
      .prepare("SELECT * FROM creator_settlements WHERE creator_id = ? ORDER BY day")
      .bind(creator)
      .all<Record<string, unknown>>();
    expect(settled).toHaveLength(ALL_DAYS.length);
    expected.forEach((r, i) => {
      expect(settled[i]).toEqual({
        id: r.key,
        creator_id: creator,
        day: r.day,
        state: "settled",
        due_at_ms: r.dueAtMs,
        gross_minor: r.grossMinor,
        platform_minor: r.platformMinor,
        creator_part_minor: r.creatorPartMinor,
        reversed_minor: r.reversedMinor,
        withholding_minor: r.withholdingMinor,
        receivable_offset_minor: r.receivableOffsetMinor,
        net_minor: r.netMinor,
        tip_count: indexesOf(r.day).length,
        currency: "CNY",
        run_id: `test:${r.day}`,
        held_reason: null,
        created_at_ms: expect.any(Number),
        updated_at_ms: expect.any(Number),
      });
      expect(r.dueAtMs).toBe(dayStartMs(addDays(r.day, N), TZ));
    });

    // Balances: the creator's, the platform's (summed over shards), the viewers'.
    const sum = (f: (r: SettlementRecord) => number) => expected.reduce((s, r) => s + f(r), 0);
    const netTotal = sum((r) => r.netMinor);
    const withheldTotal = sum((r) => r.withholdingMinor);
    const platformTotal = expectedShares.reduce((s, x) => s + x.platformMinor, 0);
    expect(await balanceOf(`creator:${creator}:pending`)).toBe(0);
    expect(await balanceOf(`creator:${creator}:available`)).toBe(netTotal);
    expect(await balanceOf(`creator:${creator}:withdrawing`)).toBe(0);
    const platformAfter = await Promise.all(PLATFORM.map((a) => balanceOf(a)));
    expect(platformAfter.map((b, i) => b - (platformBefore[i] ?? 0))).toEqual([
      platformTotal - reversedPlatform.minor,
      0 - receivable, // what creators still owe (none: every receivable was offset)
      withheldTotal - taxReturned,
    ]);
    for (const v of viewers) {
      const spent = planned.reduce((s, t) => s + (t.viewerId === v ? t.grossMinor : 0), 0);
      expect(await balanceOf(`user:${v}:wallet`)).toBe(FUNDS - spent + (reversedGross.get(v) ?? 0));
    }
    // Conservation: what viewers paid and were not refunded = platform + tax + creator's net.
    const grossTotal = planned.reduce((s, t) => s + t.grossMinor, 0);
    const refunded = [...reversedGross.values()].reduce((s, x) => s + x, 0);
    expect(grossTotal - refunded).toBe(platformTotal - reversedPlatform.minor + withheldTotal - taxReturned + netTotal);

    // ---- The creator's statement through the API: lines in (time, tip id) order.
    const as = await token(creator, "creator");
    const order = planned
      .map((t, i) => ({ atMs: t.atMs, id: ids[i] as string, i }))
      .sort((a, b) => a.atMs - b.atMs || (a.id < b.id ? -1 : 1))
      .map((x) => x.i);
    expect(order.some((i, n) => (planned[i]?.atMs ?? 0) === (planned[order[n - 1] ?? -1]?.atMs ?? -1))).toBe(true);
    const monthOrder = order.filter((i) => inMonth.includes(i));
    const reversedIds = new Set([ids[early], ids[late]]);
    const incomeLine = (i: number) => {
      const t = planned[i] as (typeof planned)[number];
      const s = expectedShares[i];
      return expect.objectContaining({
        tipId: ids[i],
        roomId,
        viewerId: t.viewerId,
        giftId: null,
        quantity: 1,
        grossMinor: t.grossMinor,
        gross: formatMinor(t.grossMinor),
        platformBps: s?.bps,
        platformMinor: s?.platformMinor,
        netMinor: s?.creatorMinor,
        net: formatMinor(s?.creatorMinor ?? 0),
        reversed: reversedIds.has(ids[i]),
        currency: "CNY",
        createdAtMs: t.atMs,
      });
    };
    const month = `from=${DAYS[0]}&to=${DAYS[29]}`;
    const income = await pages(`/v1/creators/me/statement?kind=income&${month}&limit=7`, as);
    expect(income).toEqual(monthOrder.map(incomeLine));
    // Page by page of one line: every page boundary, the ties between shards among them.
    expect(await pages(`/v1/creators/me/statement?kind=income&${month}&limit=1`, as)).toEqual(income);
    // Unfiltered: the last instant of August and the first of October too, in their places.
    expect(await pages("/v1/creators/me/statement?kind=income&limit=25", as)).toEqual(order.map(incomeLine));
    const settlementLines = await pages(`/v1/creators/me/statement?kind=settlements&${month}&limit=7`, as);
    expect(settlementLines).toEqual(
      expected
        .filter((r) => DAYS.includes(r.day))
        .map((r) =>
          expect.objectContaining({
            id: r.key,
            day: r.day,
            state: "settled",
            dueAtMs: r.dueAtMs,
            grossMinor: r.grossMinor,
            platformMinor: r.platformMinor,
            creatorPartMinor: r.creatorPartMinor,
            reversedMinor: r.reversedMinor,
            withholdingMinor: r.withholdingMinor,
            withholding: formatMinor(r.withholdingMinor),
            receivableOffsetMinor: r.receivableOffsetMinor,
            netMinor: r.netMinor,
            net: formatMinor(r.netMinor),
            tipCount: indexesOf(r.day).length,
          }),
        ),
    );
    const reversalLines = await pages("/v1/creators/me/statement?kind=reversals&limit=1", as);
    expect(reversalLines).toEqual(
      [early, late].map((i) =>
        expect.objectContaining({
          tipId: ids[i],
          viewerId: planned[i]?.viewerId,
          tipDay: planned[i]?.day,
          tipCreatedAtMs: planned[i]?.atMs,
          amountMinor: planned[i]?.grossMinor,
          platformMinor: expectedShares[i]?.platformMinor,
          creatorMinor: expectedShares[i]?.creatorMinor,
          source: i === early ? "pending" : "receivable",
        }),
      ),
    );

    // The month's CSV: one line per tip, its rate, share and net; the totals add up exactly.
    const september = await csvBody(MONTH, as);
    const csvLine = (i: number) => {
      const t = planned[i] as (typeof planned)[number];
      const s = expectedShares[i];
      return [
        t.clock,
        ids[i],
        t.viewerId,
        "",
        "",
        "1",
        formatMinor(t.grossMinor),
        `${(s?.bps ?? 0) / 100}.00`,
        formatMinor(s?.platformMinor ?? 0),
        formatMinor(s?.creatorMinor ?? 0),
        reversedIds.has(ids[i]) ? "yes" : "no",
        "CNY",
      ];
    };
    expect(september).toEqual(monthOrder.map(csvLine));
    expect(await csvBody(BEFORE.slice(0, 7), as)).toEqual([csvLine(0)]);
    expect(await csvBody(AFTER.slice(0, 7), as)).toEqual([csvLine(planned.length - 1)]);
    const column = (k: number) => september.reduce((s, line) => s + fen(line[k] ?? ""), 0);
    const ofMonth = (f: (i: number) => number) => inMonth.reduce((s, i) => s + f(i), 0);
    const monthGrossTotal = ofMonth((i) => planned[i]?.grossMinor ?? 0);
    const monthPlatformTotal = ofMonth((i) => expectedShares[i]?.platformMinor ?? 0);
    expect([column(6), column(8), column(9)]).toEqual([
      monthGrossTotal,
      monthPlatformTotal,
      monthGrossTotal - monthPlatformTotal,
    ]);
    // The month's creator parts, less what was reversed, withheld and offset, is what its
    // settlements moved to available.
    const septemberRecords = expected.filter((r) => DAYS.includes(r.day));
    const total = (f: (r: SettlementRecord) => number) => septemberRecords.reduce((s, r) => s + f(r), 0);
    expect(
      column(9) -
        total((r) => r.reversedMinor) -
        total((r) => r.withholdingMinor) -
        total((r) => r.receivableOffsetMinor),
    ).toBe(total((r) => r.netMinor));

    expect((await invariantReport()).violations).toEqual([]);
  }, 300_000);
});
