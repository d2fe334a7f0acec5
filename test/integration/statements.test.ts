/**
 * Creator statements (账单): income merged from every ledger shard in (time, id) order, paged
 * without duplicates or gaps; settlements, withdrawals and reversals from the creator's shard;
 * the monthly CSV streamed with a BOM, a header and totals equal to the ledger.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { dayStartMs } from "../../src/domain/business-day";
import { newId } from "../../src/domain/ids";
import { formatMinor } from "../../src/domain/money";
import { periodKeys } from "../../src/domain/room/periods";
import { StatementPage } from "../../src/worker/routes/statements";
import {
  balanceOf,
  call,
  config,
  fund,
  key,
  ledger,
  openRoom,
  ownersAcrossShards,
  settleTransit,
  shardDbOf,
  token,
} from "./helpers";
import { at, reverseApi, tipAt } from "./money-out-support";
import { contentTipAt, downloadStatement, fen, pricedContent, refundUnlockAt, unlockAt } from "./statement-csv-support";

const TZ = config.businessTimeZone;

interface SeedTip {
  id: string;
  viewerId: string;
  creatorId: string;
  giftId: string | null;
  quantity: number;
  amountMinor: number;
  platformBps: number | null;
  platformMinor: number;
  creatorMinor: number;
  createdAtMs: number;
}

/** A tip row (and its operation row) written straight into the viewer's shard, as a tip leaves them. */
async function seedTips(tips: readonly SeedTip[]): Promise<void> {
  const byDb = new Map<D1Database, D1PreparedStatement[]>();
  for (const t of tips) {
    const db = await shardDbOf(t.viewerId);
    const statements = byDb.get(db) ?? [];
    statements.push(
      db
        .prepare(
          `INSERT INTO operations (id, kind, currency, amount_minor, transfer_count, state, actor_id, reason, metadata, created_at_ms)
           VALUES (?, 'tip', 'CNY', ?, 2, 'posted', ?, NULL, NULL, ?)`,
        )
        .bind(t.id, t.amountMinor, t.viewerId, t.createdAtMs),
      db
        .prepare(
          `INSERT INTO tips (id, room_id, stream_id, viewer_id, creator_id, gift_id, quantity, amount_minor, big,
             platform_minor, creator_minor, currency, created_at_ms, platform_bps, schedule_version)
           VALUES (?, 'room_seed', 'stream_seed', ?, ?, ?, ?, ?, 0, ?, ?, 'CNY', ?, ?, NULL)`,
        )
        .bind(
          t.id,
          t.viewerId,
          t.creatorId,
          t.giftId,
          t.quantity,
          t.amountMinor,
          t.platformMinor,
          t.creatorMinor,
          t.createdAtMs,
          t.platformBps,
        ),
    );
    byDb.set(db, statements);
  }
  for (const [db, statements] of byDb) {
    for (let i = 0; i < statements.length; i += 50) await db.batch(statements.slice(i, i + 50));
  }
}

/** n tips to `creatorId` from `viewers` viewers, three sharing each millisecond (ties across shards). */
function makeTips(creatorId: string, viewers: number, n: number, startMs: number, stepMs: number): SeedTip[] {
  return Array.from({ length: n }, (_, k) => {
    const amountMinor = 100 + ((k * 37) % 900);
    const platformBps = k % 5 === 0 ? null : 3000;
    const platformMinor = Math.floor((amountMinor * 3000) / 10_000);
    const createdAtMs = startMs + Math.floor(k / 3) * stepMs;
    return {
      id: newId("tip", createdAtMs),
      viewerId: `${creatorId}-fan-${k % viewers}`,
      creatorId,
      giftId: k % 2 === 0 ? "rose" : null,
      quantity: k % 2 === 0 ? 1 + (k % 3) : 1,
      amountMinor,
      platformBps,
      platformMinor,
      creatorMinor: amountMinor - platformMinor,
      createdAtMs,
    };
  });
}

const order = (a: { createdAtMs: number; id: string }, b: { createdAtMs: number; id: string }) =>
  a.createdAtMs - b.createdAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

async function allPages(as: string, query: string, limit: number) {
  const items: Record<string, any>[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const q: string = `${query}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const res: { status: number; body: any } = await call("GET", `/v1/creators/me/statement?${q}`, { token: as });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    // Every page is exactly the documented shape (strict objects: a field added or lost fails).
    expect(StatementPage.safeParse(res.body).error?.issues ?? []).toEqual([]);
    const first = res.body.items[0];
    if (first) {
      const drifted = { ...res.body, items: [{ ...first, undocumented: 1 }] };
      expect(StatementPage.safeParse(drifted).success).toBe(false);
    }
    expect(res.body.items.length).toBeLessThanOrEqual(limit);
    items.push(...res.body.items);
    cursor = res.body.nextCursor;
    pages++;
    expect(pages).toBeLessThan(1_000);
  } while (cursor !== null);
  return { items, pages };
}

describe("income details across shards", () => {
  const creatorId = "stmt-creator";
  const day1 = dayStartMs("2026-10-30", TZ);
  const day2 = dayStartMs("2026-10-31", TZ);
  let seeded: SeedTip[];
  beforeAll(async () => {
    // 12 viewers over the shards; day 1 and day 2 each get their own tips, plus another creator's.
    seeded = [
      ...makeTips(creatorId, 12, 45, day1 + 3_600_000, 997),
      ...makeTips(creatorId, 12, 48, day2 + 60_000, 1_301),
    ];
    await seedTips([...seeded, ...makeTips("stmt-other", 5, 10, day1 + 3_600_000, 997)]);
    const shards = new Set<number>();
    const l = await ledger();
    for (let v = 0; v < 12; v++) shards.add(l.forOwner(`${creatorId}-fan-${v}`).index);
    expect(shards.size).toBe(l.shards.length);
  });

  it("pages every tip once, in (time, id) order, whatever the page size", async () => {
    const as = await token(creatorId, "creator");
    const expected = [...seeded].sort(order);
    for (const limit of [1, 4, 7, 100]) {
      const { items, pages } = await allPages(as, "kind=income", limit);
      expect(items.map((i) => i.tipId)).toEqual(expected.map((t) => t.id));
      expect(pages).toBe(Math.max(1, Math.ceil(expected.length / limit)));
    }
  });

  it("filters by business day and shows each line's gross, rate, shares and gift", async () => {
    const as = await token(creatorId, "creator");
    const { items } = await allPages(as, "kind=income&from=2026-10-31&to=2026-10-31", 10);
    const day2Tips = seeded.filter((t) => t.createdAtMs >= day2).sort(order);
    expect(items.map((i) => i.tipId)).toEqual(day2Tips.map((t) => t.id));
    const first = day2Tips[0] as SeedTip;
    expect(items[0]).toEqual({
      kind: "tip",
      tipId: first.id,
      roomId: "room_seed",
      contentId: null,
      viewerId: first.viewerId,
      giftId: first.giftId,
      giftName: first.giftId === "rose" ? "Rose" : null,
      quantity: first.quantity,
      grossMinor: first.amountMinor,
      gross: formatMinor(first.amountMinor),
      platformBps: first.platformBps,
      platformMinor: first.platformMinor,
      netMinor: first.creatorMinor,
      net: formatMinor(first.creatorMinor),
      reversed: false,
      currency: "CNY",
      createdAtMs: first.createdAtMs,
    });
    const none = await call("GET", "/v1/creators/me/statement?kind=income&from=2026-11-01&to=2026-10-31", {
      token: as,
    });
    expect(none.status).toBe(400);
    const badDay = await call("GET", "/v1/creators/me/statement?kind=income&from=2026-02-30", { token: as });
    expect(badDay.status).toBe(400);
    const badCursor = await call("GET", "/v1/creators/me/statement?kind=income&cursor=nope", { token: as });
    expect(badCursor.status).toBe(400);
  });

  it("is the caller's own: another creator sees only their tips", async () => {
    const { items } = await allPages(await token("stmt-other", "creator"), "kind=income", 50);
    expect(items).toHaveLength(10);
    expect(new Set(items.map((i) => i.viewerId.replace(/-fan-\d+$/, "")))).toEqual(new Set(["stmt-other"]));
  });

  it("streams the month's CSV page by page: BOM, header, every tip in order, totals equal the ledger", async () => {
    // 2026-10 in the business zone: day 1 and day 2 (93 tips) and a big seeded month on top,
    // more than two pages of the stream; a tip at 00:30 on 1 November (local) is November's.
    const bulk = makeTips(creatorId, 12, 450, dayStartMs("2026-10-05", TZ), 60_000);
    const edge = makeTips(creatorId, 3, 3, dayStartMs("2026-11-01", TZ) + 30 * 60_000, 1);
    const lastOfOctober = makeTips(creatorId, 3, 3, dayStartMs("2026-11-01", TZ) - 1, 1);
    await seedTips([...bulk, ...edge, ...lastOfOctober]);
    const october = [...seeded, ...bulk, ...lastOfOctober].sort(order);

    const statement = await downloadStatement(creatorId, "2026-10");
    const rows = statement.of("income");
    expect(statement.rows).toHaveLength(october.length + 8);
    expect(rows.map((r) => r.id)).toEqual(october.map((t) => t.id));
    const first = october[0] as SeedTip;
    expect(rows[0]).toMatchObject({
      time: "2026-10-05 00:00:00",
      business_day: "2026-10-05",
      id: first.id,
      tip_id: first.id,
      viewer_id: first.viewerId,
      gift_id: first.giftId ?? "",
      gift_name: first.giftId === "rose" ? "Rose" : "",
      quantity: String(first.quantity),
      gross: formatMinor(first.amountMinor),
      platform_rate_percent: first.platformBps === null ? "" : "30.00",
      platform_share: formatMinor(first.platformMinor),
      creator_part: formatMinor(first.creatorMinor),
      state: "received",
      currency: "CNY",
    });
    expect(rows.at(-1)?.time).toBe("2026-10-31 23:59:59");
    // Totals from the file, in fen, equal the ledger's tip rows of the month over every shard.
    const sum = (col: "gross" | "creator_part") => rows.reduce((acc, r) => acc + fen(r[col]), 0);
    let ledgerGross = 0;
    let ledgerNet = 0;
    for (const s of (await ledger()).shards) {
      const row = await s.db
        .prepare(
          "SELECT COALESCE(SUM(amount_minor), 0) AS g, COALESCE(SUM(creator_minor), 0) AS n FROM tips WHERE creator_id = ? AND created_at_ms >= ? AND created_at_ms < ?",
        )
        .bind(creatorId, dayStartMs("2026-10-01", TZ), dayStartMs("2026-11-01", TZ))
        .first<{ g: number; n: number }>();
      ledgerGross += row?.g ?? 0;
      ledgerNet += row?.n ?? 0;
    }
    expect(sum("gross")).toBe(ledgerGross);
    expect(sum("creator_part")).toBe(ledgerNet);
    expect(sum("gross")).toBe(october.reduce((a, t) => a + t.amountMinor, 0));
    expect(statement.summary).toMatchObject({ gross: ledgerGross, creator_part: ledgerNet, reversed: 0 });

    const nov = await downloadStatement(creatorId, "2026-11");
    expect(nov.of("income").map((r) => r.id)).toEqual([...edge].sort(order).map((t) => t.id));
    expect(nov.of("income")[0]?.time).toBe("2026-11-01 00:30:00");

    const bad = await call("GET", "/v1/creators/me/statements/2026-13.csv", {
      token: await token(creatorId, "creator"),
    });
    expect(bad.status).toBe(400);
  });
});

describe("tips and paid unlocks in one income list", () => {
  const run = crypto.randomUUID().slice(0, 6);
  const creatorId = `stmt-unl-creator-${run}`;
  const days = ["2025-04-14", "2025-04-15"];
  interface Line {
    kind: "tip" | "unlock";
    id: string;
    createdAtMs: number;
  }
  const lines: Line[] = [];
  let contentId = "";
  let refunded: { id: string; unlock_id: string; creator_minor: number } | null = null;
  const unlocked: Awaited<ReturnType<typeof unlockAt>>[] = [];
  let readers: string[] = [];

  beforeAll(async () => {
    const roomId = await openRoom(creatorId);
    contentId = await pricedContent(creatorId, "6.00");
    const l = await ledger();
    // Payers over every shard: tippers, and one reader per unlock.
    const tippers = await ownersAcrossShards(`stmt-unl-fan-${run}`, 6);
    readers = await ownersAcrossShards(`stmt-unl-reader-${run}`, 10);
    for (const p of [...tippers, ...readers]) await fund(p, "100.00");
    expect(new Set(readers.map((r) => l.forOwner(r).index)).size).toBe(l.shards.length);
    let r = 0;
    for (const day of days) {
      for (let k = 0; k < 5; k++) {
        // Three lines at one instant from payers in different shards (ties the id breaks), then spaced.
        const t0 = at(day, k * 1_000);
        const tipper = tippers[(k + r) % tippers.length] as string;
        const roomTip = await tipAt(roomId, tipper, "2.00", t0);
        lines.push({ kind: "tip", id: roomTip.id, createdAtMs: t0 });
        const unlock = await unlockAt(contentId, readers[r++] as string, t0);
        unlocked.push(unlock);
        lines.push({ kind: "unlock", id: unlock.id, createdAtMs: t0 });
        if (k % 2 === 0) {
          const onPost = await contentTipAt(contentId, tippers[(k + 1) % tippers.length] as string, "3.00", t0 + 7);
          lines.push({ kind: "tip", id: onPost.id, createdAtMs: t0 + 7 });
        }
      }
    }
    await settleTransit();
    lines.sort(order);
    // A bucket move's copy of an entitlement in another shard (the payer's live row there) is
    // not a second unlock: the statement counts the original only. One shard: nowhere to copy.
    if (l.shards.length > 1) {
      const original = unlocked[3] as (typeof unlocked)[number];
      const from = l.forId(original.id);
      const row = await from.db.prepare("SELECT * FROM entitlements WHERE id = ?").bind(original.id).first();
      const to = l.shards.find((s) => s.index !== from.index) as (typeof l.shards)[number];
      const copy = { ...row, moved_from_shard: from.index };
      const columns = Object.keys(copy);
      await to.db
        .prepare(`INSERT INTO entitlements (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`)
        .bind(...Object.values(copy))
        .run();
    }
    refunded = await refundUnlockAt((unlocked[1] as (typeof unlocked)[number]).id, at(days[1] as string, 60_000));
  });

  it("pages tips and unlocks from every shard once each, in (time, id) order, with pages of 1, 2, 3 and 7", async () => {
    const as = await token(creatorId, "creator");
    expect(lines.filter((l) => l.kind === "unlock")).toHaveLength(10);
    for (const limit of [1, 2, 3, 7]) {
      const { items, pages } = await allPages(as, "kind=income", limit);
      expect(items.map((i) => [i.kind, i.kind === "tip" ? i.tipId : i.unlockId])).toEqual(
        lines.map((l) => [l.kind, l.id]),
      );
      expect(pages).toBe(Math.ceil(lines.length / limit));
    }
    // A day's filter keeps its own lines of both kinds.
    const { items } = await allPages(as, `kind=income&from=${days[1]}&to=${days[1]}`, 4);
    expect(items.map((i) => i.tipId ?? i.unlockId)).toEqual(
      lines.filter((l) => l.createdAtMs >= dayStartMs(days[1] as string, TZ)).map((l) => l.id),
    );
  });

  it("shows an unlock line with the item, the reader, the rate and shares; a refunded one as reversed", async () => {
    const as = await token(creatorId, "creator");
    const { items } = await allPages(as, "kind=income", 100);
    const first = unlocked[0] as (typeof unlocked)[number];
    expect(items.find((i) => i.unlockId === first.id)).toEqual({
      kind: "unlock",
      unlockId: first.id,
      contentId,
      viewerId: readers[0],
      grossMinor: 600,
      gross: "6.00",
      platformBps: first.platformBps,
      platformMinor: first.platformMinor,
      netMinor: first.creatorMinor,
      net: formatMinor(first.creatorMinor),
      reversed: false,
      currency: "CNY",
      createdAtMs: first.createdAtMs,
    });
    expect(first.platformMinor + first.creatorMinor).toBe(600);
    expect(items.filter((i) => i.reversed).map((i) => i.unlockId)).toEqual([refunded?.unlock_id]);
    // Tips keep their shape: a content tip names its item, a room tip its room.
    const tips = items.filter((i) => i.kind === "tip");
    expect(new Set(tips.map((i) => (i.contentId === null ? "room" : i.contentId)))).toEqual(
      new Set(["room", contentId]),
    );
    expect(tips.every((i) => typeof i.tipId === "string" && i.unlockId === undefined)).toBe(true);
  });

  it("lists the unlock refund beside a tip reversal in the reversals, each with its kind", async () => {
    const as = await token(creatorId, "creator");
    const { items: income } = await allPages(as, "kind=income", 100);
    const tip = income.find((i) => i.kind === "tip" && i.contentId === null) as Record<string, any>;
    const reversed = await reverseApi(tip.tipId);
    expect(reversed.status, JSON.stringify(reversed.body)).toBe(201);
    expect(reversed.body.reversal.contentId).toBeNull();
    // A tip on the item: its reversal names the item, in the API's answer and in the statement.
    const onPost = income.find((i) => i.kind === "tip" && i.contentId === contentId) as Record<string, any>;
    const reversedOnPost = await reverseApi(onPost.tipId);
    expect(reversedOnPost.status, JSON.stringify(reversedOnPost.body)).toBe(201);
    expect(reversedOnPost.body.reversal.contentId).toBe(contentId);
    for (const limit of [1, 5]) {
      const { items } = await allPages(as, "kind=reversals", limit);
      expect(items).toEqual([
        expect.objectContaining({
          kind: "unlock",
          id: refunded?.id,
          unlockId: refunded?.unlock_id,
          contentId,
          viewerId: stmtReaderOf(refunded?.unlock_id),
          unlockDay: days[0],
          creatorMinor: refunded?.creator_minor,
          creator: formatMinor(refunded?.creator_minor ?? 0),
          source: "pending",
        }),
        expect.objectContaining({
          kind: "tip",
          tipId: tip.tipId,
          contentId: null,
          viewerId: tip.viewerId,
          amountMinor: 200,
        }),
        expect.objectContaining({ kind: "tip", tipId: onPost.tipId, contentId, amountMinor: 300 }),
      ]);
      expect(items[0]?.tipId).toBeUndefined();
      expect(items[1]?.unlockId).toBeUndefined();
    }
  });

  function stmtReaderOf(unlockId: string | undefined): string {
    return readers[unlocked.findIndex((u) => u.id === unlockId)] as string;
  }
});

describe("a live month, through the API", () => {
  it("lists real tips and marks a reversed one; the CSV's net total is the creator's pending balance", async () => {
    const creatorId = "stmt-live-creator";
    const roomId = await openRoom(creatorId);
    const viewers = Array.from({ length: 5 }, (_, v) => `stmt-live-fan-${v}`);
    for (const v of viewers) await fund(v, "100.00");
    const tokens = await Promise.all(viewers.map((v) => token(v)));
    const sent = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        call("POST", `/v1/rooms/${roomId}/tips`, {
          token: tokens[i % 5],
          body:
            i % 2 === 0 ? { kind: "gift", giftId: "rose", quantity: 1 + (i % 3) } : { kind: "custom", amount: "3.33" },
          idempotencyKey: key(),
        }),
      ),
    );
    expect(sent.map((r) => r.status)).toEqual(sent.map(() => 201));
    await settleTransit();
    const reversedTip = sent[3]?.body.tip;
    // A reversal as the reversal operation records it (its money movement is another part's test).
    await (await shardDbOf(creatorId))
      .prepare(
        `INSERT INTO tip_reversals (id, tip_id, creator_id, viewer_id, tip_day, tip_created_at_ms, amount_minor,
           platform_minor, creator_minor, source, platform_leg_at_ms, reason, actor_id, currency, created_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', NULL, 'chargeback', 'ops-1', 'CNY', ?)`,
      )
      .bind(
        `rev_${reversedTip.id}`,
        reversedTip.id,
        creatorId,
        reversedTip.viewerId,
        periodKeys(reversedTip.createdAtMs, TZ).day,
        reversedTip.createdAtMs,
        reversedTip.amountMinor,
        reversedTip.platformMinor,
        reversedTip.creatorMinor,
        Date.now(),
      )
      .run();

    const as = await token(creatorId, "creator");
    const { items } = await allPages(as, "kind=income", 6);
    expect(items.map((i) => i.tipId).sort()).toEqual(sent.map((r) => r.body.tip.id).sort());
    expect(items.filter((i) => i.reversed).map((i) => i.tipId)).toEqual([reversedTip.id]);
    // The rate each tip recorded (null until the tiered-rate part records it), shown as recorded.
    const recorded = new Map<string, number | null>();
    for (const s of (await ledger()).shards) {
      const { results } = await s.db
        .prepare("SELECT id, platform_bps AS bps FROM tips WHERE creator_id = ?")
        .bind(creatorId)
        .all<{ id: string; bps: number | null }>();
      for (const r of results) recorded.set(r.id, r.bps);
    }
    expect(items.map((i) => [i.tipId, i.platformBps])).toEqual(items.map((i) => [i.tipId, recorded.get(i.tipId)]));

    const reversals = await allPages(as, "kind=reversals", 5);
    expect(reversals.items).toMatchObject([
      {
        tipId: reversedTip.id,
        amountMinor: reversedTip.amountMinor,
        amount: formatMinor(reversedTip.amountMinor),
        source: "pending",
      },
    ]);

    const month = periodKeys(Date.now(), TZ).month;
    const rows = (await downloadStatement(creatorId, month)).of("income");
    expect(rows).toHaveLength(20);
    const net = rows.reduce((a, r) => a + fen(r.creator_part), 0);
    expect(net).toBe(await balanceOf(`creator:${creatorId}:pending`));
    expect(rows.filter((r) => r.state === "reversed").map((r) => r.id)).toEqual([reversedTip.id]);
  });
});

describe("settlements and withdrawals", () => {
  it("pages the creator's settlements by day and withdrawals by time, with decimals beside fen", async () => {
    const creatorId = "stmt-money-out";
    const db = await shardDbOf(creatorId);
    const now = Date.now();
    const days = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-05", "2026-11-08"];
    await db.batch(
      days.map((day, i) =>
        db
          .prepare(
            `INSERT INTO creator_settlements (id, creator_id, day, state, due_at_ms, gross_minor, platform_minor,
               creator_part_minor, reversed_minor, withholding_minor, receivable_offset_minor, net_minor, tip_count,
               currency, run_id, held_reason, created_at_ms, updated_at_ms)
             VALUES (?, ?, ?, 'settled', ?, ?, ?, ?, ?, 0, 0, ?, ?, 'CNY', 'run-1', NULL, ?, ?)`,
          )
          .bind(
            `settlement:${creatorId}:${day}`,
            creatorId,
            day,
            now,
            10_000 * (i + 1),
            3_000 * (i + 1),
            7_000 * (i + 1),
            i === 2 ? 700 : 0,
            7_000 * (i + 1) - (i === 2 ? 700 : 0),
            10 + i,
            now + i,
            now + i,
          ),
      ),
    );
    await db.batch(
      ["requested", "paid", "failed"].map((state, i) =>
        db
          .prepare(
            `INSERT INTO withdrawals (id, creator_id, amount_minor, fee_minor, currency, channel, payout_account_id,
               destination_masked, state, review, reject_reason, failure_reason, idempotency_key, created_at_ms, updated_at_ms)
             VALUES (?, ?, ?, 0, 'CNY', 'sandbox', 'pa_1', 'sandbox:****01', ?, 'auto', NULL, ?, ?, ?, ?)`,
          )
          .bind(
            `wd_${i}`,
            creatorId,
            10_000 + i,
            state,
            state === "failed" ? "bank refused" : null,
            `k${i}`,
            now + i,
            now + i,
          ),
      ),
    );
    const as = await token(creatorId, "creator");
    const settlements = await allPages(as, "kind=settlements&from=2026-11-02&to=2026-11-07", 2);
    expect(settlements.items.map((s) => [s.day, s.netMinor, s.net, s.reversed])).toEqual([
      ["2026-11-02", 14_000, "140.00", "0.00"],
      ["2026-11-03", 20_300, "203.00", "7.00"],
      ["2026-11-05", 28_000, "280.00", "0.00"],
    ]);
    expect(settlements.pages).toBe(2);
    const withdrawals = await allPages(as, "kind=withdrawals", 2);
    expect(withdrawals.items.map((w) => [w.id, w.state, w.amount, w.failureReason])).toEqual([
      ["wd_0", "requested", "100.00", null],
      ["wd_1", "paid", "100.01", null],
      ["wd_2", "failed", "100.02", "bank refused"],
    ]);
    const someoneElse = await allPages(await token("stmt-nobody", "creator"), "kind=withdrawals", 2);
    expect(someoneElse.items).toEqual([]);
  });
});
