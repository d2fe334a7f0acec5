/**
 * The room's tips as one set-based group (src/db/operations/tip-group.ts) against composing
 * each tip on its own (`composition: "per_tip"`, the reference): the same verdicts, in the same
 * order, and the same rows in every table, also when guards fail mid-batch on the state the
 * batch's earlier tips left.
 *
 * Each scenario runs twice on the same shard, once per composition, under two namespaces whose
 * ids live in the same shards role by role; the rows are compared with every id mapped back to
 * its role (transfer ids by rank, the accounts every shard shares by how much they moved).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type BatchedTip, commitTipBatch } from "../../src/db/operations/tip-batch";
import type { Ledger } from "../../src/db/shards";
import { accountAddress } from "../../src/domain/accounts";
import type { AutopayLimits } from "../../src/domain/autopay";
import { LIMITS } from "../../src/domain/limits";
import { DEFAULT_CURRENCY, formatMinor } from "../../src/domain/money";
import { fund, invariantReport, ledger, settleTransit } from "./helpers";

const DEFAULTS: AutopayLimits = { perTipMaxMinor: 500, perDayMaxMinor: 800 };
const HOUR = 3_600_000;
/** Idempotency keys per payer in the random batches: a few repeat, most are new. */
const KEYS = 12;
/** A batch's clock, an hour ahead: every row written before it (the funding) reads "before". */
const later = () => Date.now() + HOUR;

interface TipPlan {
  readonly payer: number;
  readonly creator: number;
  readonly amountMinor: number;
  readonly platformBps: number;
  readonly confirmed: boolean;
  readonly key: number;
  readonly hash: number;
}

/** A stored record a key has before the batch. */
interface SeedPlan {
  readonly payer: number;
  readonly key: number;
  readonly hash: number;
  readonly kind: "stale_in_flight" | "live_in_flight" | "completed" | "expired";
}

interface Scenario {
  readonly funds: readonly number[];
  readonly autopay: readonly (AutopayLimits | null)[];
  readonly seeds: readonly SeedPlan[];
  readonly batches: readonly (readonly TipPlan[])[];
}

interface Run {
  readonly outcomes: unknown[];
  readonly rows: Record<string, string[]>;
}

/** An owner id for `role` living in shard `index` (names are tried until one lands there). */
function ownerOn(l: Ledger, base: string, index: number): string {
  for (let n = 0; ; n++) {
    const id = `${base}-${n}`;
    if (l.forOwner(id).index === index) return id;
  }
}

let runs = 0;

async function runScenario(scenario: Scenario, composition: "set_based" | "per_tip", nowMs: number): Promise<Run> {
  const l = await ledger();
  const ns = `tg${++runs}${composition === "per_tip" ? "r" : "s"}`;
  const shard = l.shard(0);
  const names = new Map<string, string>(); // actual id -> role
  const payers = scenario.funds.map((_, i) => ownerOn(l, `${ns}-payer${i}`, 0));
  for (const [i, p] of payers.entries()) names.set(p, `payer${i}`);
  // One creator in the payers' shard, one in another (a transit credit) where there is one.
  const creators = [ownerOn(l, `${ns}-creator0`, 0), ownerOn(l, `${ns}-creator1`, l.shards.length - 1)];
  for (const [i, c] of creators.entries()) names.set(c, `creator${i}`);
  for (const [i, amount] of scenario.funds.entries()) {
    if (amount > 0) await fund(payers[i] as string, formatMinor(amount));
  }
  for (const [i, limits] of scenario.autopay.entries()) {
    if (limits === null) continue;
    await shard.db
      .prepare(
        "INSERT INTO autopay_settings (user_id, per_tip_max_minor, per_day_max_minor, updated_at_ms) VALUES (?, ?, ?, ?)",
      )
      .bind(payers[i], limits.perTipMaxMinor, limits.perDayMaxMinor, nowMs - HOUR)
      .run();
  }
  const keyOf = (payer: number, k: number) => `${ns}-key-${payer}-${k}`;
  for (let p = 0; p < payers.length; p++) for (let k = 0; k < KEYS; k++) names.set(keyOf(p, k), `key-${p}-${k}`);
  const seen = new Set<string>();
  for (const seed of scenario.seeds) {
    const principal = payers[seed.payer] as string;
    const k = keyOf(seed.payer, seed.key);
    if (seen.has(k)) continue;
    seen.add(k);
    const stale = seed.kind === "stale_in_flight";
    const inFlight = stale || seed.kind === "live_in_flight";
    await shard.db
      .prepare(
        `INSERT INTO idempotency_keys (principal_id, key, request_hash, state, operation_id, locked_until_ms,
           response_status, response_body, created_at_ms, expires_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .bind(
        principal,
        k,
        `hash-${seed.hash}`,
        inFlight ? "in_flight" : "completed",
        `lost-${k}`,
        stale ? nowMs - 1 : nowMs + HOUR,
        inFlight ? null : 201,
        inFlight ? null : `{"seeded":"${k}"}`,
        nowMs - HOUR,
        seed.kind === "expired" ? nowMs - 1 : nowMs + HOUR,
      )
      .run();
  }

  const shared = async () => {
    const r = await shard.db
      .prepare("SELECT address, balance_minor FROM accounts WHERE address NOT LIKE ? ORDER BY address")
      .bind(`%${ns}%`)
      .all<{ address: string; balance_minor: number }>();
    return new Map(r.results.map((a) => [a.address, a.balance_minor]));
  };
  const sharedBefore = await shared();

  const outcomes: unknown[] = [];
  const tipIds: string[] = [];
  for (const [b, batch] of scenario.batches.entries()) {
    const tips: BatchedTip[] = batch.map((t, i) => {
      const id = `tip_${ns}_${b}_${i}`;
      tipIds.push(id);
      names.set(id, `tip_${b}_${i}`);
      const platformMinor = Math.floor((t.amountMinor * t.platformBps) / 10_000);
      return {
        tip: {
          id,
          roomId: "room-tip-group",
          streamId: "stream-tip-group",
          viewerId: payers[t.payer] as string,
          creatorId: creators[t.creator] as string,
          priced: {
            amountMinor: t.amountMinor,
            giftId: null,
            quantity: 1,
            platformMinor,
            creatorMinor: t.amountMinor - platformMinor,
          },
          shareBps: t.platformBps,
          // Rates from a schedule and a quote's time limit on some batches: recorded and guarded alike.
          scheduleVersion: b % 2 === 0 ? null : 3,
          commitByMs: i % 2 === 0 ? null : Date.now() + 60_000,
          gift: null,
          big: t.amountMinor >= 500,
          nowMs: nowMs + b,
          // Some tips carry a message (shown, masked or held): its row is written only if the tip posts.
          message:
            i % 3 === 0
              ? null
              : { text: `msg ${b} ${i}`, shown: `msg ${b} ${i}`, status: i % 3 === 1 ? "shown" : "held" },
        },
        key: keyOf(t.payer, t.key),
        requestHash: `hash-${t.hash}`,
        confirmed: t.confirmed,
      };
    });
    const result = await commitTipBatch(shard, tips, {
      nowMs: nowMs + b,
      autopayDefaults: DEFAULTS,
      dayStartMs: nowMs - HOUR,
      appliedOutboxIds: [],
      composition,
    });
    await result.dispatched;
    outcomes.push(...result.outcomes);
  }

  const sharedAfter = await shared();
  const moved = [...sharedAfter]
    .map(([address, balance]) => [address, balance - (sharedBefore.get(address) ?? 0)] as const)
    .filter(([, delta]) => delta !== 0);
  const ids = JSON.stringify(tipIds);
  const q = async (sql: string, ...params: unknown[]) =>
    (
      await shard.db
        .prepare(sql)
        .bind(...params)
        .all()
    ).results;
  const transfers = await q(
    "SELECT * FROM transfers WHERE operation_id IN (SELECT value FROM json_each(?)) ORDER BY id",
    ids,
  );
  const rows: Record<string, unknown[]> = {
    operations: await q("SELECT * FROM operations WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id", ids),
    transfers: transfers.map((t, rank) => ({ ...t, id: rank })),
    tips: await q("SELECT * FROM tips WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id", ids),
    tip_messages: await q(
      "SELECT * FROM tip_messages WHERE tip_id IN (SELECT value FROM json_each(?)) ORDER BY tip_id",
      ids,
    ),
    room_outbox: await q(
      "SELECT id, room_id, payload, created_at_ms FROM room_outbox WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
      ids,
    ),
    transit_outbox: await q(
      `SELECT operation_id, destination_shard, operation_kind, postings, amount_minor, currency, created_at_ms
       FROM transit_outbox WHERE operation_id IN (SELECT value FROM json_each(?)) ORDER BY operation_id`,
      ids,
    ),
    idempotency_keys: await q(
      "SELECT * FROM idempotency_keys WHERE principal_id IN (SELECT value FROM json_each(?)) ORDER BY principal_id, key",
      JSON.stringify(payers),
    ),
    accounts: (await q("SELECT * FROM accounts WHERE address LIKE ? ORDER BY address", `%${ns}%`)).map((a) => ({
      ...a,
      created_at_ms: (a as { created_at_ms: number }).created_at_ms >= nowMs ? a.created_at_ms : "before",
    })),
    shared_accounts_moved: moved,
  };
  // Every id back to its role, longest first (so no id is rewritten inside a longer one).
  const byLength = [...names].sort(([a], [b]) => b.length - a.length);
  const normalize = (value: unknown) => {
    let text = JSON.stringify(value);
    for (const [id, role] of byLength) text = text.replaceAll(id, role);
    return JSON.parse(text);
  };
  // The order of rows keyed by ids that were renamed: sort again after renaming.
  const normalized: Record<string, string[]> = Object.fromEntries(
    Object.entries(rows).map(([table, list]) => [
      table,
      (normalize(list) as unknown[]).map((r) => JSON.stringify(r)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
    ]),
  );
  return { outcomes: normalize(outcomes), rows: normalized };
}

const verdicts = (run: Run) =>
  run.outcomes.map((o) => {
    const outcome = o as { kind: string; code?: string };
    return outcome.kind === "rejected" ? outcome.code : outcome.kind;
  });
const walletAfter = (run: Run) =>
  run.outcomes.map((o) => {
    const outcome = o as { kind: string; body?: string };
    return outcome.kind === "posted" ? (JSON.parse(outcome.body as string).walletBalanceMinor as number) : null;
  });

describe("tips as one set-based group", () => {
  it("a payer's tips in one batch: funds running out, the daily limit crossed, a key twice; exact verdicts and balances", async () => {
    const nowMs = later();
    const tipOf = (amountMinor: number, confirmed: boolean, key: number, payer = 0): TipPlan => ({
      payer,
      creator: 1,
      amountMinor,
      platformBps: 3_000,
      confirmed,
      key,
      hash: 0,
    });
    const scenario: Scenario = {
      funds: [1_000, 300],
      autopay: [null, { perTipMaxMinor: 100, perDayMaxMinor: 150 }],
      seeds: [],
      batches: [
        [
          tipOf(300, false, 0), // posts: wallet 700, today 300
          tipOf(100, true, 1, 1), // the other payer (own limits 100/150): posts
          tipOf(400, false, 1), // posts: wallet 300, today 700
          tipOf(200, false, 2), // funds hold (300), today 900 > 800: refused
          tipOf(100, false, 0), // key 0 is tip 1's, completed in this batch: taken
          tipOf(100, false, 3, 1), // the other payer: today 200 > 150
          tipOf(250, true, 3), // confirmed: no daily limit; posts: wallet 50
          tipOf(100, true, 2), // 50 left: insufficient funds
          tipOf(50, false, 2), // funds hold, today 950 + 50 > 800: refused
          tipOf(50, true, 2), // posts: wallet 0
        ],
      ],
    };
    const set = await runScenario(scenario, "set_based", nowMs);
    expect(verdicts(set)).toEqual([
      "posted",
      "posted",
      "posted",
      "autopay_per_day_exceeded",
      "key_taken",
      "autopay_per_day_exceeded",
      "posted",
      "insufficient_funds",
      "autopay_per_day_exceeded",
      "posted",
    ]);
    expect(walletAfter(set)).toEqual([700, 200, 300, null, null, null, 50, null, null, 0]);
    // The taken key answers with the record the batch's first tip completed.
    expect(set.outcomes[4]).toMatchObject({ kind: "key_taken", record: { state: "completed", responseStatus: 201 } });
    const taken = set.outcomes[4] as { record: { responseBody: string } };
    expect(JSON.parse(taken.record.responseBody).walletBalanceMinor).toBe(700);
    const wallets = set.rows.accounts?.map((a) => JSON.parse(a) as { address: string; balance_minor: number });
    expect(wallets?.find((a) => a.address === "user:payer0:wallet")?.balance_minor).toBe(0);
    expect(wallets?.find((a) => a.address === "user:payer1:wallet")?.balance_minor).toBe(200);
    expect(set.rows.tips).toHaveLength(5);
    expect(set.rows.transfers).toHaveLength(10);

    const reference = await runScenario(scenario, "per_tip", nowMs);
    expect(set).toEqual(reference);
    await settleTransit();
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("a credited account's ceiling counts the batch's earlier credits, exactly", async () => {
    const shard = (await ledger()).shard(0);
    const revenue = accountAddress.platformRevenue();
    // Lifts the platform's revenue in shard 0 to `below` under the ceiling (and back after), so
    // three tips of 3 to it: the first posts, the later ones would cross it.
    const lift = async (below: number) => {
      await shard.db.batch([
        shard.db
          .prepare(
            `INSERT INTO accounts (address, currency, balance_minor, may_go_negative, created_at_ms)
             VALUES (?, ?, 0, 0, 0) ON CONFLICT DO NOTHING`,
          )
          .bind(revenue, DEFAULT_CURRENCY),
      ]);
      const row = await shard.db
        .prepare("SELECT balance_minor FROM accounts WHERE address = ?")
        .bind(revenue)
        .first<{ balance_minor: number }>();
      const lifted = LIMITS.balanceAbsMaxMinor - below - (row?.balance_minor ?? 0);
      await shard.db
        .prepare("UPDATE accounts SET balance_minor = balance_minor + ? WHERE address = ?")
        .bind(lifted, revenue)
        .run();
      return async () => {
        await shard.db
          .prepare("UPDATE accounts SET balance_minor = balance_minor - ? WHERE address = ?")
          .bind(lifted, revenue)
          .run();
      };
    };
    const nowMs = later();
    const scenario: Scenario = {
      funds: [100],
      autopay: [null],
      seeds: [],
      batches: [
        [0, 1, 2].map((key) => ({
          payer: 0,
          creator: 0,
          amountMinor: 3,
          platformBps: 10_000,
          confirmed: true,
          key,
          hash: 0,
        })),
      ],
    };
    let lower = await lift(5);
    const set = await runScenario(scenario, "set_based", nowMs);
    await lower();
    expect(verdicts(set)).toEqual(["posted", "balance_ceiling", "balance_ceiling"]);
    lower = await lift(5);
    const reference = await runScenario(scenario, "per_tip", nowMs);
    await lower();
    expect(set).toEqual(reference);
    await settleTransit();
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("a stale in-flight record is removed only by a tip whose request it was, in batch order", async () => {
    const nowMs = later();
    const tipOf = (key: number, hash: number): TipPlan => ({
      payer: 0,
      creator: 1,
      amountMinor: 100,
      platformBps: 3_000,
      confirmed: true,
      key,
      hash,
    });
    const scenario: Scenario = {
      funds: [1_000],
      autopay: [null],
      seeds: [
        { payer: 0, key: 0, hash: 1, kind: "stale_in_flight" },
        { payer: 0, key: 1, hash: 0, kind: "stale_in_flight" },
        { payer: 0, key: 2, hash: 0, kind: "expired" },
        { payer: 0, key: 3, hash: 0, kind: "live_in_flight" },
      ],
      batches: [
        [
          tipOf(0, 0), // key 0's stale record is another request's: taken
          tipOf(0, 1), // its own request: the record is replaced, the tip posts
          tipOf(1, 0), // key 1's stale record, its own request: posts
          tipOf(2, 1), // key 2's record expired: posts
          tipOf(3, 0), // key 3 is in flight, its lock live: taken
          tipOf(1, 1), // key 1 completed above in this batch: taken
        ],
      ],
    };
    const set = await runScenario(scenario, "set_based", nowMs);
    expect(verdicts(set)).toEqual(["key_taken", "posted", "posted", "posted", "key_taken", "key_taken"]);
    const reference = await runScenario(scenario, "per_tip", nowMs);
    expect(set).toEqual(reference);
  });

  it("random batches: the set-based group and the per-tip composition write the same rows", async () => {
    const tipPlan = fc.record({
      payer: fc.constantFrom(0, 0, 0, 1, 2), // payer 0 pays most: their limits are crossed
      creator: fc.integer({ min: 0, max: 1 }),
      amountMinor: fc.integer({ min: 1, max: 400 }),
      platformBps: fc.constantFrom(0, 3_000, 10_000),
      confirmed: fc.boolean(),
      key: fc.integer({ min: 0, max: KEYS - 1 }),
      hash: fc.integer({ min: 0, max: 1 }),
    });
    const scenario = fc.record({
      funds: fc.array(fc.integer({ min: 0, max: 3_000 }), { minLength: 3, maxLength: 3 }),
      autopay: fc.array(
        fc.option(
          fc.record({
            perTipMaxMinor: fc.integer({ min: 0, max: 600 }),
            perDayMaxMinor: fc.integer({ min: 0, max: 1_500 }),
          }),
        ),
        { minLength: 3, maxLength: 3 },
      ),
      seeds: fc.array(
        fc.record({
          payer: fc.integer({ min: 0, max: 2 }),
          key: fc.integer({ min: 0, max: 3 }),
          hash: fc.integer({ min: 0, max: 1 }),
          kind: fc.constantFrom("stale_in_flight", "live_in_flight", "completed", "expired") as fc.Arbitrary<
            SeedPlan["kind"]
          >,
        }),
        { maxLength: 4 },
      ),
      batches: fc.array(fc.array(tipPlan, { minLength: 1, maxLength: 16 }), { minLength: 1, maxLength: 2 }),
    });
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const nowMs = later();
        const set = await runScenario(s, "set_based", nowMs);
        const reference = await runScenario(s, "per_tip", nowMs);
        expect(set).toEqual(reference);
        for (const v of verdicts(set)) seen.set(String(v), (seen.get(String(v)) ?? 0) + 1);
      }),
      // A fixed seed (a failure prints its own): the runs below are known to reach every verdict.
      { numRuns: 20, seed: 13, unbiased: true, endOnFailure: true },
    );
    // Not vacuous: the runs posted tips and refused them for each reason the group must get right.
    for (const verdict of [
      "posted",
      "insufficient_funds",
      "autopay_per_day_exceeded",
      "autopay_per_tip_exceeded",
      "key_taken",
    ]) {
      expect(seen.get(verdict) ?? 0, verdict).toBeGreaterThan(0);
    }
    await settleTransit();
    expect((await invariantReport()).violations).toEqual([]);
  });
});
