import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { mergePeriodTops, periodsOfDays, rollupShardDay } from "../../src/db/dashboard-rollup";
import { runOperation } from "../../src/db/ledger";
import { postAdjustment } from "../../src/db/operations/adjustment";
import { postClaimCredits } from "../../src/db/operations/packet-claim";
import { composePacketSend, preparePacketSend } from "../../src/db/operations/packet-send";
import { composeTip, prepareTip } from "../../src/db/operations/tip";
import { addDays, dayStartMs } from "../../src/domain/business-day";
import { dashboardRowsReadMax, mergeTops, periodDays, periodsInRange, type Totals } from "../../src/domain/dashboard";
import { newOwnedId } from "../../src/domain/ids";
import { formatMinor } from "../../src/domain/money";
import { archivableBeforeMs } from "../../src/worker/cron/ledger-archive";
import { BASE, call, config, invariantReport, key, ledger, openRoom, settleTransit, token } from "./helpers";

/**
 * A generated month (August 2031, far from every other test's dates) of tips, red packets and
 * claims over the shards, rolled up, and the dashboard compared with the ledger's own sums.
 */
const TZ = config.businessTimeZone;
const FIRST = "2031-08-01";
const LAST = "2031-08-31";
/** The rollup runs long after the month: every day is final. */
const LATER_MS = dayStartMs("2031-09-10", TZ);
const HOUR = 3_600_000;

/** The ledger's own sums, computed by this test from the ledger rows: the dashboard's totals and its payers. */
type LedgerSums = Totals & { payers: number };

/** The ledger's own sums over [from, to] days, straight from every shard's tips, unlocks, packets and claims. */
async function ledgerSums(from: string, to: string): Promise<LedgerSums> {
  const fromMs = dayStartMs(from, TZ);
  const toMs = dayStartMs(addDays(to, 1), TZ);
  const sums: LedgerSums = {
    tipCount: 0,
    tipMinor: 0,
    platformMinor: 0,
    packetPaidMinor: 0,
    packetsSent: 0,
    packetsSentMinor: 0,
    claims: 0,
    claimedMinor: 0,
    unlockCount: 0,
    unlockMinor: 0,
    payers: 0,
  };
  const payers = new Set<string>();
  for (const { db } of (await ledger()).shards) {
    const t = await db
      .prepare(
        "SELECT COUNT(*) AS n, COALESCE(SUM(amount_minor), 0) AS a, COALESCE(SUM(platform_minor), 0) AS p FROM tips WHERE created_at_ms >= ? AND created_at_ms < ? AND currency = 'CNY'",
      )
      .bind(fromMs, toMs)
      .first<{ n: number; a: number; p: number }>();
    const u = await db
      .prepare(
        "SELECT COUNT(*) AS n, COALESCE(SUM(amount_minor), 0) AS a, COALESCE(SUM(platform_minor), 0) AS p FROM entitlements WHERE created_at_ms >= ? AND created_at_ms < ? AND currency = 'CNY' AND moved_from_shard IS NULL",
      )
      .bind(fromMs, toMs)
      .first<{ n: number; a: number; p: number }>();
    const k = await db
      .prepare(
        "SELECT COUNT(*) AS n, COALESCE(SUM(total_minor), 0) AS a, COALESCE(SUM(CASE WHEN funding = 'wallet' THEN total_minor END), 0) AS w FROM red_packets WHERE created_at_ms >= ? AND created_at_ms < ?",
      )
      .bind(fromMs, toMs)
      .first<{ n: number; a: number; w: number }>();
    const c = await db
      .prepare(
        "SELECT COUNT(*) AS n, COALESCE(SUM(amount_minor), 0) AS a FROM red_packet_claims WHERE credited_at_ms >= ? AND credited_at_ms < ?",
      )
      .bind(fromMs, toMs)
      .first<{ n: number; a: number }>();
    const who = await db
      .prepare(
        "SELECT viewer_id AS u FROM tips WHERE created_at_ms >= ?1 AND created_at_ms < ?2 UNION SELECT user_id FROM entitlements WHERE moved_from_shard IS NULL AND created_at_ms >= ?1 AND created_at_ms < ?2 UNION SELECT sender_id FROM red_packets WHERE funding = 'wallet' AND created_at_ms >= ?1 AND created_at_ms < ?2",
      )
      .bind(fromMs, toMs)
      .all<{ u: string }>();
    sums.tipCount += t?.n ?? 0;
    sums.tipMinor += t?.a ?? 0;
    sums.platformMinor += (t?.p ?? 0) + (u?.p ?? 0);
    sums.unlockCount += u?.n ?? 0;
    sums.unlockMinor += u?.a ?? 0;
    sums.packetsSent += k?.n ?? 0;
    sums.packetsSentMinor += k?.a ?? 0;
    sums.packetPaidMinor += k?.w ?? 0;
    sums.claims += c?.n ?? 0;
    sums.claimedMinor += c?.a ?? 0;
    for (const r of who.results) payers.add(r.u);
  }
  // Distinct over the whole ledger, not per shard: the dashboard's per-shard counts must add up to it.
  sums.payers = payers.size;
  return sums;
}

/** The ledger's own top creators of a period, over every shard's tips and unlocks (`tipCount`: tips). */
async function ledgerTopCreators(from: string, to: string) {
  const parts = [];
  for (const { db } of (await ledger()).shards) {
    const { results } = await db
      .prepare(
        `SELECT creator_id AS key, SUM(a) AS amountMinor, SUM(n) AS tipCount FROM (
           SELECT creator_id, amount_minor AS a, 1 AS n FROM tips WHERE created_at_ms >= ?1 AND created_at_ms < ?2
           UNION ALL SELECT creator_id, amount_minor, 0 FROM entitlements
            WHERE created_at_ms >= ?1 AND created_at_ms < ?2 AND moved_from_shard IS NULL
         ) GROUP BY creator_id`,
      )
      .bind(dayStartMs(from, TZ), dayStartMs(addDays(to, 1), TZ))
      .all<{ key: string; amountMinor: number; tipCount: number }>();
    parts.push(...results.map((r) => ({ kind: "creator" as const, ...r })));
  }
  return mergeTops(parts).map(({ rank, key, amountMinor, tipCount }) => ({ rank, key, amountMinor, tipCount }));
}

const ROLLED_DAYS = Array.from({ length: 41 }, (_, i) => addDays("2031-07-25", i));

async function rollupAll(nowMs: number) {
  const l = await ledger();
  for (const { db } of l.shards) for (const day of ROLLED_DAYS) await rollupShardDay(db, day, TZ, nowMs);
  for (const { grain, period } of periodsOfDays(ROLLED_DAYS)) {
    await mergePeriodTops(
      l.control,
      l.shards.map((s) => s.db),
      grain,
      period,
    );
  }
}

/** Every rollup row of the rolled days, in a fixed order (not their computation times). */
async function rollupSnapshot(): Promise<string> {
  const l = await ledger();
  const lo = ROLLED_DAYS[0] as string;
  const hi = ROLLED_DAYS[ROLLED_DAYS.length - 1] as string;
  const out: unknown[] = [];
  for (const { db } of l.shards) {
    for (const sql of [
      "SELECT * FROM dashboard_days WHERE day BETWEEN ?1 AND ?2 ORDER BY currency, day",
      "SELECT * FROM dashboard_entity_days WHERE day BETWEEN ?1 AND ?2 ORDER BY day, currency, kind, key",
      "SELECT * FROM dashboard_payer_days WHERE day BETWEEN ?1 AND ?2 ORDER BY day, currency, user_id",
      // Days, weeks and months of 2031 up to the rolled days' last week ('W' sorts after digits).
      "SELECT * FROM dashboard_payers WHERE period BETWEEN substr(?1, 1, 7) AND '2031-W36' AND ?2 IS NOT NULL ORDER BY currency, grain, period",
      "SELECT day, final FROM dashboard_rollups WHERE day BETWEEN ?1 AND ?2 ORDER BY day",
    ]) {
      out.push((await db.prepare(sql).bind(lo, hi).all()).results);
    }
  }
  out.push(
    (
      await l.control
        .prepare(
          "SELECT * FROM dashboard_tops WHERE period BETWEEN '2031-07' AND '2031-W37' ORDER BY grain, period, currency, kind, rank",
        )
        .all()
    ).results,
  );
  return JSON.stringify(out);
}

describe("the platform dashboard", () => {
  const suffix = key().slice(0, 8).toLowerCase();
  const creators = [`dash-c1-${suffix}`, `dash-c2-${suffix}`, `dash-c3-${suffix}`];
  const viewers = Array.from({ length: 12 }, (_, i) => `dash-v${i}-${suffix}`);
  let rooms: string[] = [];
  let generatedTipMinor = 0;
  let opsToken = "";

  beforeAll(async () => {
    const l = await ledger();
    opsToken = await token(`dash-ops-${suffix}`, "ops");
    rooms = [];
    for (const c of creators) rooms.push(await openRoom(c, `Dashboard room ${c}`));
    for (const v of viewers) {
      await postAdjustment(
        l.forOwner(v),
        {
          id: `adj_dash_${v}`,
          userId: v,
          direction: "credit",
          amountMinor: 100_000_00,
          reason: "dashboard test funding",
          actorId: "test",
        },
        dayStartMs("2031-07-20", TZ),
      );
    }
    // Tips on every day of the month, some a millisecond either side of local midnight.
    let n = 0;
    for (let d = 0; d < 31; d++) {
      const day = addDays(FIRST, d);
      const start = dayStartMs(day, TZ);
      const times = [start, start + 13 * HOUR + d * 60_000, dayStartMs(addDays(day, 1), TZ) - 1];
      for (const atMs of times.slice(0, 1 + (d % 3))) {
        const viewerId = viewers[(n * 5 + d) % viewers.length] as string;
        const i = (n * 7 + d) % creators.length;
        const ask =
          n % 3 === 0
            ? { kind: "custom" as const, amount: `${(n % 17) + 1}.${String(n % 100).padStart(2, "0")}` }
            : { kind: "gift" as const, giftId: "rose", quantity: (n % 9) + 1 };
        const id = newOwnedId("tip", l.bucketOf(viewerId), atMs);
        const prepared = await prepareTip(l.control, config, { id, roomId: rooms[i] as string, viewerId, ask }, atMs);
        if (!prepared.ok) throw new Error(`tip not priced: ${JSON.stringify(prepared)}`);
        const { rates: _rates, ...tip } = prepared.value;
        const shard = l.forOwner(viewerId);
        const { verdict } = await runOperation(shard, composeTip(shard, tip));
        expect(verdict.kind).toBe("posted");
        generatedTipMinor += tip.priced.amountMinor;
        n++;
      }
    }
    // Red packets: three from wallets, claimed by other viewers; one claim credited after midnight.
    for (let p = 0; p < 3; p++) {
      const senderId = viewers[p] as string;
      const atMs = dayStartMs(addDays(FIRST, 10 + p * 7), TZ) + 23 * HOUR + 50 * 60_000;
      const shard = l.forOwner(senderId);
      const prepared = await preparePacketSend(
        l,
        {
          id: newOwnedId("packet", l.bucketOf(senderId), atMs),
          roomId: rooms[p] as string,
          senderId,
          total: "30.00",
          subsidyId: null,
          shares: 3,
          split: "equal",
          greeting: "dashboard",
          audience: "everyone",
          ttlMs: 24 * HOUR,
        },
        atMs,
      );
      if (!prepared.ok) throw new Error(`packet refused: ${JSON.stringify(prepared)}`);
      const sent = await runOperation(shard, composePacketSend(shard, prepared.value, atMs));
      expect(sent.verdict.kind).toBe("posted");
      const claimers = [viewers[p + 5], viewers[p + 6]] as string[];
      for (const [c, userId] of claimers.entries()) {
        const creditedAtMs = atMs + (c === 0 ? 60_000 : 20 * 60_000);
        const [verdict] = await postClaimCredits(
          shard,
          [
            {
              claimId: `claim_${key()}`,
              packetId: prepared.value.row.id,
              userId,
              claimIndex: c,
              amountMinor: 1000,
              currency: "CNY",
              claimedAtMs: creditedAtMs - 1000,
            },
          ],
          creditedAtMs,
        );
        expect(verdict?.kind).toBe("posted");
      }
    }
    await settleTransit();
    await rollupAll(LATER_MS);
  }, 180_000);

  it("answers the ledger's own sums for the month, its weeks and its days, across the shards", async () => {
    const month = await call("GET", `/v1/admin/dashboard?grain=month&from=${FIRST}&to=${LAST}`, { token: opsToken });
    expect(month.status).toBe(200);
    const own = await ledgerSums(FIRST, LAST);
    // Our generated month is in it (the test's own figure, not only SQL against SQL).
    expect(own.tipMinor).toBeGreaterThanOrEqual(generatedTipMinor);
    expect(own.packetsSent).toBeGreaterThanOrEqual(3);
    const [point] = month.body.series;
    expect(month.body.series).toHaveLength(1);
    expect(point).toMatchObject({
      period: "2031-08",
      tipCount: own.tipCount,
      tipMinor: own.tipMinor,
      platformMinor: own.platformMinor,
      packetPaidMinor: own.packetPaidMinor,
      packetsSent: own.packetsSent,
      packetsSentMinor: own.packetsSentMinor,
      claims: own.claims,
      claimedMinor: own.claimedMinor,
      unlockCount: own.unlockCount,
      unlockMinor: own.unlockMinor,
      payingUsers: own.payers,
      gmvMinor: own.tipMinor + own.unlockMinor + own.packetPaidMinor,
    });
    expect(own.claims).toBeGreaterThanOrEqual(6);
    expect(month.body.top.creators.map(({ label: _l, ...t }: { label: unknown }) => t)).toEqual(
      await ledgerTopCreators(FIRST, LAST),
    );
    expect(month.body.top.creators.map((t: { key: string }) => t.key)).toEqual(expect.arrayContaining(creators));

    for (const grain of ["week", "day"] as const) {
      const res = await call("GET", `/v1/admin/dashboard?grain=${grain}&from=${FIRST}&to=${LAST}`, { token: opsToken });
      expect(res.status).toBe(200);
      const periods = periodsInRange(grain, FIRST, LAST);
      expect(res.body.series.map((p: { period: string }) => p.period)).toEqual(periods);
      for (const [i, period] of periods.entries()) {
        const { first, last } = periodDays(grain, period);
        const inRange = await ledgerSums(first < FIRST ? FIRST : first, last > LAST ? LAST : last);
        const whole = await ledgerSums(first, last);
        expect(res.body.series[i], `${grain} ${period}`).toMatchObject({
          tipCount: inRange.tipCount,
          tipMinor: inRange.tipMinor,
          platformMinor: inRange.platformMinor,
          claims: inRange.claims,
          packetsSent: inRange.packetsSent,
          // Distinct payers count the whole period (a distinct count cannot be cut by day).
          payingUsers: whole.payers,
        });
      }
      // A week's tops are the ledger's own for that week.
      const lastPeriod = periods[periods.length - 1] as string;
      const { first, last } = periodDays(grain, lastPeriod);
      expect(res.body.top.period).toBe(lastPeriod);
      expect(res.body.top.creators.map(({ label: _l, ...t }: { label: unknown }) => t)).toEqual(
        await ledgerTopCreators(first, last),
      );
    }
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("splits days at local midnight: a tip a millisecond before midnight counts on its day", async () => {
    // 2031-08-03 (d = 2) had tips at its first and last millisecond; 2031-08-02 at its first and 13:01.
    const res = await call("GET", "/v1/admin/dashboard?grain=day&from=2031-08-02&to=2031-08-03", { token: opsToken });
    const own2 = await ledgerSums("2031-08-02", "2031-08-02");
    const own3 = await ledgerSums("2031-08-03", "2031-08-03");
    expect(res.body.series.map((p: { tipCount: number }) => p.tipCount)).toEqual([own2.tipCount, own3.tipCount]);
    expect(own3.tipCount).toBeGreaterThanOrEqual(3);
  });

  it("re-running the rollup changes nothing", async () => {
    const before = await rollupSnapshot();
    await rollupAll(LATER_MS + 5 * HOUR);
    expect(await rollupSnapshot()).toBe(before);
    // And the snapshot sees the rows it guards: breaking one makes it differ.
    const l = await ledger();
    const db = l.forOwner(viewers[0] as string).db;
    await db.prepare("UPDATE dashboard_days SET tip_count = tip_count + 1 WHERE day = ?").bind(FIRST).run();
    expect(await rollupSnapshot()).not.toBe(before);
    await rollupShardDay(db, FIRST, TZ, LATER_MS);
    expect(await rollupSnapshot()).toBe(before);
  });

  it("reads a bounded number of rows for a 366-day range, however many entities the rollups hold", async () => {
    // A leap year of rollup rows in every shard, and one day with 300 creators per shard.
    const l = await ledger();
    const days = Array.from({ length: 366 }, (_, i) => addDays("2032-01-01", i));
    for (const { db } of l.shards) {
      const statements = days.flatMap((day) => [
        db
          .prepare(
            `INSERT OR REPLACE INTO dashboard_days (currency, day, tip_count, tip_minor, platform_minor, packet_paid_minor,
               packets_sent, packets_sent_minor, claims, claimed_minor)
             VALUES ('CNY', ?1, 1, 100, 30, 0, 0, 0, 0, 0), ('USD', ?1, 1, 1, 1, 0, 0, 0, 0, 0)`,
          )
          .bind(day),
        db
          .prepare(
            "INSERT OR REPLACE INTO dashboard_payers (currency, grain, period, payers) VALUES ('CNY', 'day', ?, 1)",
          )
          .bind(day),
      ]);
      for (let i = 0; i < statements.length; i += 200) await db.batch(statements.slice(i, i + 200));
      await db.batch(
        Array.from({ length: 300 }, (_, i) =>
          db
            .prepare(
              "INSERT OR REPLACE INTO dashboard_entity_days (day, currency, kind, key, amount_minor, tip_count) VALUES ('2032-12-31', 'CNY', 'creator', ?, ?, 1)",
            )
            .bind(`dash-bulk-${i}`, 1000 + i),
        ),
      );
    }
    await mergePeriodTops(
      l.control,
      l.shards.map((s) => s.db),
      "day",
      "2032-12-31",
    );
    const max = dashboardRowsReadMax(l.shards.length);
    for (const grain of ["day", "week", "month"] as const) {
      const res = await call("GET", `/v1/admin/dashboard?grain=${grain}&from=2032-01-01&to=2032-12-31`, {
        token: opsToken,
      });
      expect(res.status).toBe(200);
      expect(res.body.rowsReadMax).toBe(max);
      console.info(`rowsRead ${grain} ${l.shards.length} ${res.body.rowsRead} / ${max}`);
      // It reads at least every day row it sums, and never more than the bound.
      expect(res.body.rowsRead).toBeGreaterThanOrEqual(366 * l.shards.length);
      expect(res.body.rowsRead).toBeLessThanOrEqual(max);
      expect(res.body.series.reduce((s: number, p: { tipCount: number }) => s + p.tipCount, 0)).toBe(
        366 * l.shards.length,
      );
      if (grain === "day") {
        expect(res.body.top.creators).toHaveLength(10);
        expect(res.body.top.creators[0]).toMatchObject({ key: "dash-bulk-299", amountMinor: 1299 * l.shards.length });
        expect(res.body.series[0].payingUsers).toBe(l.shards.length);
      }
    }
  });

  it("refuses a range over 366 days, reversed, or a top period outside it; needs dashboard.read", async () => {
    const refused = [
      "grain=day&from=2031-01-01&to=2032-01-02",
      "grain=day&from=2031-08-02&to=2031-08-01",
      "grain=month&from=2031-08-01&to=2031-08-31&top=2031-09",
      "grain=year&from=2031-08-01&to=2031-08-31",
    ];
    for (const q of refused) {
      const res = await call("GET", `/v1/admin/dashboard?${q}`, { token: opsToken });
      expect(res.status, q).toBe(400);
      expect(res.body.error.code).toBe("malformed_request");
    }
    const support = await token(`dash-support-${suffix}`, "support");
    expect((await call("GET", "/v1/admin/dashboard", { token: support })).status).toBe(403);
    expect((await call("GET", "/v1/admin/dashboard.csv", { token: support })).status).toBe(403);
  });

  it("exports the series as CSV, the same figures as exact decimals", async () => {
    const q = `grain=week&from=${FIRST}&to=${LAST}`;
    const json = await call("GET", `/v1/admin/dashboard?${q}`, { token: opsToken });
    const csv = await exports.default.fetch(`${BASE}/v1/admin/dashboard.csv?${q}`, {
      headers: { authorization: `Bearer ${opsToken}` },
    });
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(csv.headers.get("content-disposition")).toBe(
      `attachment; filename="giftwire-dashboard-week-${FIRST}-${LAST}.csv"`,
    );
    const lines = (await csv.text()).trimEnd().split("\r\n");
    expect(lines[0]).toBe(
      "period,gmv,tips_amount,red_packets_paid,platform_revenue,tips,unlocks_amount,unlocks,paying_users,red_packets_sent,red_packets_sent_amount,red_packet_claims,red_packets_claimed_amount",
    );
    expect(lines).toHaveLength(1 + json.body.series.length);
    const first = json.body.series[0];
    const [period, gmv, , , , tips, unlocksAmount, unlocks, payers] = (lines[1] as string).split(",");
    expect([period, gmv, Number(tips), unlocksAmount, Number(unlocks), Number(payers)]).toEqual([
      first.period,
      first.gmv,
      first.tipCount,
      formatMinor(first.unlockMinor),
      first.unlockCount,
      first.payingUsers,
    ]);
  });

  it("archival starts no archive over days whose rollup is not final", async () => {
    const db = (await ledger()).forOwner(viewers[0] as string).db;
    // Final through 2031-09-03 (rolled at LATER_MS): an archive ending inside August may start…
    const inAugust = Date.UTC(2031, 7, 20);
    expect(await archivableBeforeMs(db, inAugust, TZ)).toBe(inAugust);
    // …one reaching into days not rolled up yet may not.
    expect(await archivableBeforeMs(db, Date.UTC(2031, 8, 10), TZ)).toBeNull();
    // A day rolled before it ended is not final, and holds archival back until it is.
    await rollupShardDay(db, "2031-09-04", TZ, dayStartMs("2031-09-05", TZ) - HOUR);
    await rollupShardDay(db, "2031-09-05", TZ, dayStartMs("2031-09-05", TZ));
    const endOfFourth = dayStartMs("2031-09-05", TZ) - 2 * HOUR;
    expect(await archivableBeforeMs(db, endOfFourth, TZ)).toBeNull();
    await rollupShardDay(db, "2031-09-04", TZ, dayStartMs("2031-09-05", TZ) + HOUR);
    expect(await archivableBeforeMs(db, endOfFourth, TZ)).toBe(endOfFourth);
  });
});
