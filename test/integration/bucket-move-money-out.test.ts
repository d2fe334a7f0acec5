/**
 * Moving a bucket that holds a creator with money-out history (src/db/bucket-move.ts): settled
 * days, a reversal after settlement whose receivable is still outstanding, paid and rejected
 * withdrawals, inbox messages. A move while a withdrawal is open is refused with
 * `bucket_has_open_withdrawals` and changes nothing; one that appears while the move is
 * copying makes it wait with that code. After the move, in the new shard: a settlement re-run
 * of the settled days settles nothing ("exists"), the statements and withdrawal reads find the
 * history, the moved receivable is offset by the next settlement, a new withdrawal is paid,
 * and the invariants hold in every shard. Each test works in a bucket nobody else uses (test
 * storage is shared across the project's files). With one shard there is nowhere to move to.
 */

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type MoveDatabases, readMoveState, startBucketMove, stepBucketMove } from "../../src/db/bucket-move";
import { composeOperation, runOperation } from "../../src/db/ledger";
import { composeTipReversal, type TipRow } from "../../src/db/operations/tip-reversal";
import { composeUnlock, prepareUnlock } from "../../src/db/operations/unlock";
import { payoutAccountContext } from "../../src/db/reads/payout-accounts";
import { dayRangeMs, tipsOfDay } from "../../src/db/reads/settlement-inputs";
import { checkShardedInvariants } from "../../src/db/sharded-invariants";
import { forgetBucketMap, openLedger, shardBindings } from "../../src/db/shards";
import { winningsCreditStatements } from "../../src/db/winnings";
import { accountAddress } from "../../src/domain/accounts";
import type { MovePhase } from "../../src/domain/bucket-move";
import { businessDayOf } from "../../src/domain/business-day";
import { newOwnedId } from "../../src/domain/ids";
import { LIMITS } from "../../src/domain/limits";
import { bucketOf, bucketOfAccount } from "../../src/domain/shards";
import { withholdingMinor } from "../../src/domain/withholding";
import { createLogger } from "../../src/platform/logger";
import { seal } from "../../src/platform/sealing";
import { queryPayout, sendPayout } from "../../src/worker/payouts/dispatch";
import { InjectedFault } from "../support/faults";
import { operationRows } from "../support/ledger-rows";
import { runProviderAlarm, simulate } from "../support/sandbox-provider";
import {
  call,
  callApproved,
  config,
  fund,
  key,
  ledger,
  openRoom,
  operatorToken,
  settleTransit,
  TEST_PIN,
  token,
  withPin,
} from "./helpers";
import { at, reverseApi, settleDayDirect, tipAt } from "./money-out-support";

async function refundUnlockApi(unlockId: string) {
  return callApproved("POST", `/v1/admin/unlocks/${unlockId}/refund`, {
    token: await operatorToken(),
    idempotencyKey: key(),
    body: { reason: "refund test" },
  });
}

const SHARDS = shardBindings(env).length;
const log = createLogger({ test: "bucket-move-money-out" });

function moveDatabases(): MoveDatabases {
  return { control: env.CONTROL, shards: shardBindings(env) };
}

/** An owner id `${prefix}-{i}` in a bucket that holds no account in any shard and no other test's owners. */
async function ownerInFreshBucket(prefix: string, avoid: readonly number[] = []): Promise<string> {
  const used = new Set<number>([bucketOf("mv-viewer-0"), bucketOf("mv-crash-0"), ...avoid]);
  for (const db of shardBindings(env)) {
    const { results } = await db
      .prepare(
        `SELECT address FROM accounts WHERE address LIKE 'user:%' OR address LIKE 'creator:%' OR address LIKE 'packet:%'
           OR address LIKE 'campaign:%' OR address LIKE 'subsidy:%'`,
      )
      .all<{ address: string }>();
    for (const r of results) {
      const b = bucketOfAccount(r.address);
      if (b !== "origin") used.add(b);
    }
  }
  for (let i = 0; i < 10_000; i++) {
    const id = `${prefix}-${Date.now().toString(36)}-${i}`;
    if (!used.has(bucketOf(id))) return id;
  }
  throw new Error("no fresh bucket");
}

/** A verified creator with a sandbox payout account past its cooling period (control database). */
async function verifiedCreator(id: string): Promise<string> {
  const nowMs = Date.now();
  const accountId = `pa_${id}`;
  const sealedAccount = await seal(
    env.PII_KEYS,
    payoutAccountContext(accountId),
    JSON.stringify({ channel: "sandbox", id: "payee-ok" }),
  );
  const sealedIdentity = await seal(env.PII_KEYS, `verification:${id}`, JSON.stringify({ realName: "张三" }));
  await env.CONTROL.batch([
    env.CONTROL.prepare(
      "INSERT INTO creators (user_id, display_name, risk_hold, created_at_ms, updated_at_ms) VALUES (?, ?, 0, ?, ?)",
    ).bind(id, id, nowMs, nowMs),
    env.CONTROL.prepare(
      `INSERT INTO creator_verifications (creator_id, state, sealed, key_id, real_name_masked, id_number_masked,
         submitted_at_ms, updated_at_ms) VALUES (?, 'verified', ?, ?, '张*', '1101**********1234', ?, ?)`,
    ).bind(id, sealedIdentity.sealed, sealedIdentity.keyId, nowMs, nowMs),
    env.CONTROL.prepare(
      `INSERT INTO payout_accounts (id, creator_id, channel, sealed, key_id, masked, is_default, cooling_until_ms,
         created_at_ms, updated_at_ms) VALUES (?, ?, 'sandbox', ?, ?, 'sandbox ****ok', 1, ?, ?, ?)`,
    ).bind(accountId, id, sealedAccount.sealed, sealedAccount.keyId, nowMs - 1, nowMs, nowMs),
  ]);
  await withPin(id, {});
  return token(id, "creator");
}

async function requestWithdrawal(as: string, amount: string) {
  const res = await call("POST", "/v1/creators/me/withdrawals", {
    token: as,
    body: { amount, pin: TEST_PIN },
    idempotencyKey: key(),
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.withdrawal as { id: string; state: string };
}

async function withdrawalRow(id: string) {
  return (await openLedger(env))
    .forId(id)
    .db.prepare("SELECT * FROM withdrawals WHERE id = ?")
    .bind(id)
    .first<Record<string, unknown>>();
}

/** Sends an approved withdrawal through the sandbox and queries it until it is paid. */
async function payOut(id: string): Promise<void> {
  const context = async () => ({ env, ledger: await openLedger(env), log, nowMs: Date.now() });
  await sendPayout(await context(), id);
  for (let i = 0; i < 40; i++) {
    if ((await withdrawalRow(id))?.state === "paid") return;
    await runProviderAlarm();
    await queryPayout(await context(), id);
  }
  throw new Error(`withdrawal ${id} was not paid: ${JSON.stringify(await withdrawalRow(id))}`);
}

async function balanceIn(db: D1Database, address: string): Promise<number> {
  const row = await db.prepare("SELECT balance_minor FROM accounts WHERE address = ?").bind(address).first<{
    balance_minor: number;
  }>();
  return row?.balance_minor ?? 0;
}

async function creatorBalancesIn(db: D1Database, creatorId: string) {
  return {
    pending: await balanceIn(db, accountAddress.creatorPending(creatorId)),
    available: await balanceIn(db, accountAddress.creatorAvailable(creatorId)),
    withdrawing: await balanceIn(db, accountAddress.creatorWithdrawing(creatorId)),
  };
}

async function moneyOutRowsIn(db: D1Database, creatorId: string) {
  const count = async (table: string) =>
    (await db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE creator_id = ?`).bind(creatorId).first<number>("n")) ??
    0;
  return {
    settlements: await count("creator_settlements"),
    reversals: await count("tip_reversals"),
    withdrawals: await count("withdrawals"),
    inbox: await count("inbox_messages"),
  };
}

async function fencesOf(bucket: number) {
  const found: { shard: number; reason: string }[] = [];
  for (const [shard, db] of shardBindings(env).entries()) {
    const { results } = await db
      .prepare("SELECT reason FROM bucket_fences WHERE bucket = ?")
      .bind(bucket)
      .all<{ reason: string }>();
    for (const r of results) found.push({ shard, reason: r.reason });
  }
  return found;
}

/**
 * A D1 binding whose first `batch()` holding a statement that starts with `sqlPrefix` fails
 * once: "before" it reaches storage, or "after" it committed (the caller dies before hearing back).
 */
function crashOnceAt(db: D1Database, sqlPrefix: string, mode: "before" | "after"): D1Database {
  const marked = new WeakSet<object>();
  let crashed = false;
  return new Proxy(db, {
    get(target, property) {
      if (property === "prepare") {
        return (sql: string) => {
          const statement = target.prepare(sql);
          if (!sql.trimStart().startsWith(sqlPrefix)) return statement;
          return new Proxy(statement, {
            get(t, p) {
              if (p !== "bind") return Reflect.get(t, p).bind(t);
              return (...args: unknown[]) => {
                const bound = t.bind(...args);
                marked.add(bound);
                return bound;
              };
            },
          });
        };
      }
      if (property === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          if (crashed || !statements.some((st) => marked.has(st))) return target.batch(statements);
          crashed = true;
          if (mode === "after") await target.batch(statements);
          throw new InjectedFault(`${sqlPrefix} (${mode})`);
        };
      }
      const value = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** Runs the move to done, the cache window skipped by the clock. */
async function moveToDone(bucket: number, phases: readonly MovePhase[] = ["frozen", "switched", "verified", "done"]) {
  const dbs = moveDatabases();
  const did: string[] = [];
  for (const [phase, skewMs] of (
    [
      ["frozen", 0],
      ["switched", 0],
      ["verified", LIMITS.bucketMapCacheMs],
      ["done", 0],
    ] as const
  ).filter(([p]) => phases.includes(p))) {
    const step = await stepBucketMove(dbs, bucket, Date.now() + skewMs);
    expect(step, JSON.stringify(step)).toMatchObject({ kind: "advanced", phase });
    if (step.kind === "advanced") did.push(...step.did);
  }
  forgetBucketMap();
  return did;
}

async function expectInvariantsClean() {
  await settleTransit();
  const report = await checkShardedInvariants(await ledger(), Date.now());
  expect(report.violations, JSON.stringify(report.violations, null, 1)).toEqual([]);
}

describe.skipIf(SHARDS < 2)("moving a bucket with a creator's money-out history (needs 2 or more shards)", () => {
  it("carries settlements, the receivable, withdrawals and inbox; refuses while a withdrawal is open", async () => {
    await simulate({ deliveryDelayMs: [0, 0], duplicateRate: 0 });
    const creator = await ownerInFreshBucket("mvo-creator");
    const bucket = bucketOf(creator);
    const before = await ledger();
    const from = before.map[bucket] as number;
    const to = (from + 1) % SHARDS;
    // A viewer in neither shard of the move (with 3 or more shards): their tips' creator parts
    // cross to the old shard through transit, and reach the new one only as the move's balance.
    let viewer = "";
    for (let i = 0; viewer === ""; i++) {
      const candidate = `${creator}-viewer-${i}`;
      const home = before.forOwner(candidate).index;
      if (bucketOf(candidate) !== bucket && home !== to && (SHARDS < 3 || home !== from)) viewer = candidate;
    }
    const as = await verifiedCreator(creator);
    const roomId = await openRoom(creator);
    await fund(viewer, "5000.00");
    const [d1, d2, d3] = ["2026-07-13", "2026-07-14", "2026-07-15"];

    // Day 1 settles; one of its tips is then reversed (a receivable); day 2 offsets part of it.
    const big = await tipAt(roomId, viewer, "1000.00", at(d1));
    const reversed = await tipAt(roomId, viewer, "200.00", at(d1, 1_000));
    const small = await tipAt(roomId, viewer, "50.00", at(d2));
    await settleTransit();
    await settleDayDirect(d1);
    const rev = await reverseApi(reversed.id);
    expect(rev.status, JSON.stringify(rev.body)).toBe(201);
    expect(rev.body.reversal.source).toBe("receivable");
    await settleTransit();
    await settleDayDirect(d2);
    const owedBefore = reversed.creatorMinor - small.creatorMinor;
    expect(owedBefore).toBeGreaterThan(0);
    const earnings = async () => (await call("GET", "/v1/creators/me/earnings", { token: as })).body;
    expect((await earnings()).receivableMinor).toBe(owedBefore);

    // A paid withdrawal and an inbox message of our own.
    const w1 = await requestWithdrawal(as, "100.00");
    await payOut(w1.id);
    const dbs = moveDatabases();
    const oldDb = dbs.shards[from] as D1Database;
    const newDb = dbs.shards[to] as D1Database;
    const noticeId = `mvo:${creator}:hello`;
    await oldDb
      .prepare(
        "INSERT INTO inbox_messages (id, creator_id, kind, vars, created_at_ms, read_at_ms) VALUES (?, ?, ?, ?, ?, NULL)",
      )
      .bind(
        noticeId,
        creator,
        "settlement_done",
        JSON.stringify({ day: d1, tipCount: 2, grossMinor: 120_000, netMinor: 84_000 }),
        Date.now(),
      )
      .run();

    // An open withdrawal: the move is refused with its code, and nothing changes.
    const w2 = await requestWithdrawal(as, "100.00");
    expect(w2.state).toBe("approved");
    const balancesAtRefusal = await creatorBalancesIn(oldDb, creator);
    const refused = await startBucketMove(dbs, bucket, to, Date.now());
    expect(refused).toMatchObject({ kind: "refused", blockers: ["bucket_has_open_withdrawals"] });
    expect(await readMoveState(env.CONTROL, bucket)).toMatchObject({ shard: from, phase: null, toShard: null });
    expect(await fencesOf(bucket)).toEqual([]);
    expect(await creatorBalancesIn(oldDb, creator)).toEqual(balancesAtRefusal);
    expect(await moneyOutRowsIn(newDb, creator)).toEqual({ settlements: 0, reversals: 0, withdrawals: 0, inbox: 0 });

    // Once it is paid (terminal), the move goes through.
    await payOut(w2.id);
    await settleTransit();
    const balancesBefore = await creatorBalancesIn(oldDb, creator);
    expect(balancesBefore).toEqual({
      pending: 0,
      available: big.creatorMinor + reversed.creatorMinor - 20_000,
      withdrawing: 0,
    });
    const rowsBefore = await moneyOutRowsIn(oldDb, creator);
    expect(rowsBefore).toMatchObject({ settlements: 2, reversals: 1, withdrawals: 2 });
    const settlementsBefore = (await call("GET", "/v1/creators/me/settlements", { token: as })).body.items;
    const withdrawalsBefore = (await call("GET", "/v1/creators/me/withdrawals", { token: as })).body.withdrawals;
    expect(withdrawalsBefore).toHaveLength(2);

    expect((await startBucketMove(dbs, bucket, to, Date.now())).kind).toBe("advanced");
    await moveToDone(bucket, ["frozen"]);
    // Crashes inside the step that copies and moves: after the receivables committed in the
    // new shard (before their delivery), then after the old shard's rows were retired. Each
    // re-run continues; every share moves once.
    const crashes = [
      { at: to, sql: "INSERT INTO transit_outbox", mode: "after" },
      { at: from, sql: "DELETE FROM withdrawal_transitions", mode: "after" },
    ] as const;
    for (const crash of crashes) {
      const shards = dbs.shards.map((db, i) => (i === crash.at ? crashOnceAt(db, crash.sql, crash.mode) : db));
      await expect(stepBucketMove({ ...dbs, shards }, bucket, Date.now())).rejects.toBeInstanceOf(InjectedFault);
      expect((await readMoveState(env.CONTROL, bucket))?.phase).toBe("frozen");
    }
    const did = await moveToDone(bucket, ["switched", "verified", "done"]);
    console.log(`[bucket move, money out] ${did.join(" | ")}`);
    const after = await ledger();
    expect(after.map[bucket]).toBe(to);
    await settleTransit();

    // Balances and rows now live in the new shard; the old one keeps only operations, transfers, inbox.
    expect(await creatorBalancesIn(newDb, creator)).toEqual(balancesBefore);
    expect(await creatorBalancesIn(oldDb, creator)).toEqual({ pending: 0, available: 0, withdrawing: 0 });
    expect(await moneyOutRowsIn(newDb, creator)).toEqual(rowsBefore);
    expect(await moneyOutRowsIn(oldDb, creator)).toMatchObject({ settlements: 0, reversals: 0, withdrawals: 0 });
    const tombstoned = (
      await newDb
        .prepare("SELECT id FROM operation_tombstones WHERE archive_id LIKE ? ORDER BY id")
        .bind(`move-${bucket}-${to}-%`)
        .all<{ id: string }>()
    ).results.map((r) => r.id);
    const settlementIds = settlementsBefore.map((s: { id: string }) => s.id);
    expect(tombstoned).toEqual(
      expect.arrayContaining([
        ...settlementIds,
        rev.body.reversal.id,
        w1.id,
        `${w1.id}:payout`,
        w2.id,
        `${w2.id}:payout`,
      ]),
    );

    // Each share moved once: the receivable from the new shard, the payouts from the old one.
    const shareOps = async (db: D1Database) =>
      (
        await db
          .prepare(
            "SELECT id FROM operations WHERE kind = 'bucket_move' AND id LIKE ? AND id NOT LIKE '%:wallet' AND id NOT LIKE '%:pending' AND id NOT LIKE '%:available' ORDER BY id",
          )
          .bind(`move-${bucket}-${to}-%`)
          .all<{ id: string }>()
      ).results.map((r) => r.id.replace(/^move-[0-9-]+:/, ""));
    expect(await shareOps(newDb)).toEqual([`platform:receivables:${creator}`]);
    expect(await shareOps(oldDb)).toEqual([`channel:sandbox:payouts:${creator}`]);

    // The reads find the history in the new shard.
    expect((await call("GET", "/v1/creators/me/settlements", { token: as })).body.items).toEqual(settlementsBefore);
    expect((await call("GET", "/v1/creators/me/withdrawals", { token: as })).body.withdrawals).toEqual(
      withdrawalsBefore,
    );
    expect((await earnings()).receivableMinor).toBe(owedBefore);
    const inbox = await call("GET", "/v1/creators/me/inbox", { token: as });
    expect(inbox.body.items.map((m: { id: string }) => m.id)).toContain(noticeId);

    // A settlement re-run of the settled days settles nothing; their ids answer "exists".
    for (const day of [d1, d2]) {
      const rerun = await settleDayDirect(day);
      expect(rerun.settled).not.toContain(creator);
      expect(rerun.deferred.map((d) => d.creatorId)).not.toContain(creator);
    }
    const newShard = after.shard(to);
    for (const id of settlementIds) {
      const { verdict } = await runOperation(
        newShard,
        composeOperation(newShard, {
          id,
          kind: "settlement",
          currency: "CNY",
          postings: [
            {
              from: accountAddress.creatorPending(creator),
              to: accountAddress.creatorAvailable(creator),
              amountMinor: 1,
            },
          ],
          actorId: "test",
          reason: null,
          metadata: null,
          nowMs: Date.now(),
          guards: [],
          extra: () => [],
        }),
      );
      expect(verdict).toEqual({ kind: "exists" });
    }
    expect(await creatorBalancesIn(newDb, creator)).toEqual(balancesBefore);

    // The moved receivable is offset by the next settlement, in the new shard.
    const later = await tipAt(roomId, viewer, "300.00", at(d3));
    await settleTransit();
    const run = await settleDayDirect(d3);
    expect(run.settled).toContain(creator);
    const d3Row = await newDb
      .prepare("SELECT receivable_offset_minor, net_minor FROM creator_settlements WHERE creator_id = ? AND day = ?")
      .bind(creator, d3)
      .first();
    expect(d3Row).toEqual({ receivable_offset_minor: owedBefore, net_minor: later.creatorMinor - owedBefore });
    expect((await earnings()).receivableMinor).toBe(0);

    // A new withdrawal is held and paid in the new shard.
    const w3 = await requestWithdrawal(as, "100.00");
    await payOut(w3.id);
    expect(await newDb.prepare("SELECT state FROM withdrawals WHERE id = ?").bind(w3.id).first<string>("state")).toBe(
      "paid",
    );
    expect(await creatorBalancesIn(newDb, creator)).toEqual({
      pending: 0,
      available: balancesBefore.available + later.creatorMinor - owedBefore - 10_000,
      withdrawing: 0,
    });
    await expectInvariantsClean();

    // A reversal with a stale map, in the old shard: refused by the bucket's fence, though the
    // receivable route writes no account of the creator.
    const tipShard = after.forOwner(viewer);
    const tipRow = await tipShard.db.prepare("SELECT * FROM tips WHERE id = ?").bind(big.id).first<TipRow>();
    expect(tipRow).not.toBeNull();
    const oldShard = after.shard(from);
    const stale = await runOperation(
      oldShard,
      composeTipReversal(oldShard, {
        id: `rev_mvo_stale_${Date.now()}`,
        tip: tipRow as TipRow,
        tipShard: tipShard.index,
        tipDay: d1,
        route: { from: "receivable", pendingMinor: 0, receivableMinor: big.creatorMinor },
        withheldMinor: 0,
        withholdingBps: 0,
        reason: "stale",
        actorId: "test",
        nowMs: Date.now(),
      }),
    );
    expect(stale.verdict).toEqual({ kind: "rejected", code: "bucket_fenced" });

    // A reversal of a tip settled before the move, in the new shard: its arrival is known there.
    const late = await reverseApi(big.id);
    expect(late.status, JSON.stringify(late.body)).toBe(201);
    expect(late.body.reversal).toMatchObject({ source: "receivable", creatorMinor: big.creatorMinor });
    expect((await earnings()).receivableMinor).toBe(big.creatorMinor);
    expect(await balanceIn(newDb, accountAddress.creatorAvailable(creator))).toBe(
      balancesBefore.available + later.creatorMinor - owedBefore - 10_000,
    );
    await expectInvariantsClean();
  }, 120_000);

  it("waits with bucket_has_open_withdrawals while a withdrawal opened during the copy, then moves it rejected", async () => {
    const creator = await ownerInFreshBucket("mvo-wait");
    const bucket = bucketOf(creator);
    const as = await verifiedCreator(creator);
    const before = await ledger();
    const from = before.map[bucket] as number;
    const to = (from + 1) % SHARDS;
    const dbs = moveDatabases();
    const oldDb = dbs.shards[from] as D1Database;
    const newDb = dbs.shards[to] as D1Database;
    await oldDb.batch(
      operationRows(oldDb, {
        id: `test-settle:${creator}`,
        kind: "adjustment",
        postings: [
          {
            from: accountAddress.worldAdjustments(),
            to: accountAddress.creatorAvailable(creator),
            amountMinor: 80_000,
          },
        ],
        atMs: Date.now(),
      }),
    );

    expect((await startBucketMove(dbs, bucket, to, Date.now())).kind).toBe("advanced");
    // A large request (manual review) while the move is copying: the move waits, not frozen.
    const w = await requestWithdrawal(as, "600.00");
    expect(w.state).toBe("requested");
    const waiting = await stepBucketMove(dbs, bucket, Date.now());
    expect(waiting).toMatchObject({ kind: "waiting", phase: "copying", blockers: ["bucket_has_open_withdrawals"] });
    expect((await fencesOf(bucket)).filter((f) => f.reason === "frozen")).toEqual([]);

    const reject = await call("POST", `/v1/admin/withdrawals/${w.id}/reject`, {
      token: await operatorToken(),
      body: { reason: "documents unclear" },
    });
    expect(reject.status, JSON.stringify(reject.body)).toBe(200);
    await moveToDone(bucket);
    await settleTransit();

    expect(await creatorBalancesIn(newDb, creator)).toEqual({ pending: 0, available: 80_000, withdrawing: 0 });
    expect(await newDb.prepare("SELECT state FROM withdrawals WHERE id = ?").bind(w.id).first<string>("state")).toBe(
      "rejected",
    );
    const transitions = await newDb
      .prepare("SELECT to_state FROM withdrawal_transitions WHERE withdrawal_id = ? ORDER BY seq")
      .bind(w.id)
      .all<{ to_state: string }>();
    expect(transitions.results.map((t) => t.to_state)).toEqual(["requested", "rejected"]);
    const tombstones = await newDb
      .prepare("SELECT id FROM operation_tombstones WHERE id IN (?, ?) ORDER BY id")
      .bind(w.id, `${w.id}:release`)
      .all<{ id: string }>();
    expect(tombstones.results.map((t) => t.id)).toEqual([w.id, `${w.id}:release`]);
    const view = await call("GET", `/v1/creators/me/withdrawals/${w.id}`, { token: as });
    expect(view.body.withdrawal.state).toBe("rejected");
    await expectInvariantsClean();
  }, 60_000);
  it("carries a user's winnings: the withdrawable part arrives with the wallet and leaves the old shard", async () => {
    const user = await ownerInFreshBucket("mvo-win");
    const bucket = bucketOf(user);
    const before = await ledger();
    const from = before.map[bucket] as number;
    const to = (from + 1) % SHARDS;
    const dbs = moveDatabases();
    const oldDb = dbs.shards[from] as D1Database;
    const newDb = dbs.shards[to] as D1Database;
    const wallet = accountAddress.userWallet(user);
    const nowMs = Date.now();
    // 100.00 topped up and 40.00 claimed (the claim's wallet credit and its winnings, as packet-claim.ts writes them).
    await oldDb.batch([
      ...operationRows(oldDb, {
        id: `test-topup:${user}`,
        kind: "adjustment",
        postings: [{ from: accountAddress.worldAdjustments(), to: wallet, amountMinor: 10_000 }],
        atMs: nowMs,
      }),
      ...operationRows(oldDb, {
        id: `test-claim:${user}`,
        kind: "adjustment",
        postings: [{ from: accountAddress.worldAdjustments(), to: wallet, amountMinor: 4_000 }],
        atMs: nowMs,
      }),
      ...winningsCreditStatements(before.forOwner(user), [{ to: wallet, amountMinor: 4_000 }], "CNY", nowMs, {
        sql: "1",
        params: [],
      }),
    ]);
    expect((await startBucketMove(dbs, bucket, to, Date.now())).kind).toBe("advanced");
    await moveToDone(bucket);
    await settleTransit();
    forgetBucketMap();
    const winningsIn = (db: D1Database) =>
      db
        .prepare("SELECT withdrawable_minor, claimed_minor, withdrawn_minor FROM user_winnings WHERE user_id = ?")
        .bind(user)
        .first();
    expect(await winningsIn(newDb)).toEqual({ withdrawable_minor: 4_000, claimed_minor: 4_000, withdrawn_minor: 0 });
    expect(await winningsIn(oldDb)).toBeNull();
    expect(await balanceIn(newDb, wallet)).toBe(14_000);
    const read = await call("GET", "/v1/me/winnings", { token: await token(user) });
    expect(read.body.winnings).toMatchObject({ withdrawableMinor: 4_000, walletMinor: 14_000 });
    await expectInvariantsClean();
  }, 60_000);
  it("carries a payer's entitlements: access survives, no second charge, a refund and a re-unlock act on the copy", async () => {
    const user = await ownerInFreshBucket("mvo-reader");
    const bucket = bucketOf(user);
    const before = await ledger();
    const from = before.map[bucket] as number;
    const to = (from + 1) % SHARDS;
    const dbs = moveDatabases();
    const oldDb = dbs.shards[from] as D1Database;
    const newDb = dbs.shards[to] as D1Database;
    const creator = `${user}-creator`;
    await openRoom(creator);
    const admin = await token(`${user}-admin`, "admin");
    const item = async (title: string) => {
      const res = await call("POST", "/v1/admin/content", {
        token: admin,
        body: { creatorId: creator, kind: "article", title, price: "6.00" },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.id as string;
    };
    const [kept, refunded] = [await item("Kept across the move"), await item("Refunded before the move")];
    await fund(user, "30.00");
    const unlock = async (contentId: string) =>
      call("POST", `/v1/content/${contentId}/unlock`, { token: await token(user), idempotencyKey: key(), body: {} });
    const mine = async (contentId: string) =>
      (await call("GET", `/v1/content/${contentId}/entitlement`, { token: await token(user) })).body;
    const first = await unlock(kept);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const gone = await unlock(refunded);
    expect(gone.status).toBe(201);
    await settleTransit();
    const refund = await refundUnlockApi(gone.body.unlock.id);
    expect(refund.status, JSON.stringify(refund.body)).toBe(201);
    await settleTransit();
    const wallet = accountAddress.userWallet(user);
    expect(await balanceIn(oldDb, wallet)).toBe(2_400);

    expect((await startBucketMove(dbs, bucket, to, Date.now())).kind).toBe("advanced");
    const did = await moveToDone(bucket);
    expect(did.join("\n")).toContain("2 content entitlements");
    await settleTransit();
    forgetBucketMap();

    const rows = async (db: D1Database) =>
      (
        await db
          .prepare("SELECT id, state, moved_from_shard FROM entitlements WHERE user_id = ? ORDER BY id")
          .bind(user)
          .all<{ id: string; state: string; moved_from_shard: number | null }>()
      ).results;
    expect(await rows(newDb)).toEqual([
      { id: first.body.unlock.id, state: "active", moved_from_shard: from },
      { id: gone.body.unlock.id, state: "revoked", moved_from_shard: from },
    ]);
    expect(await balanceIn(newDb, wallet)).toBe(2_400);
    // Access survives the move, and a second unlock of the same item charges nothing.
    expect(await mine(kept)).toMatchObject({ entitled: true, unlockId: first.body.unlock.id });
    const twice = await unlock(kept);
    expect(twice.status).toBe(409);
    expect(twice.body.error.code).toBe("already_unlocked");
    expect(await mine(refunded)).toMatchObject({ entitled: false });
    // The refunded item may be unlocked again (a new charge), and the kept one refunded, in the new shard.
    const again = await unlock(refunded);
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    const late = await refundUnlockApi(first.body.unlock.id);
    expect(late.status, JSON.stringify(late.body)).toBe(201);
    await settleTransit();
    expect(await mine(kept)).toMatchObject({ entitled: false });
    expect(await balanceIn(newDb, wallet)).toBe(2_400 - 600 + 600);
    // The day's settlement inputs count each unlock once: the originals, not the copies.
    const { startMs, endMs } = dayRangeMs(businessDayOf(Date.now(), config.businessTimeZone), config.businessTimeZone);
    const day = (await tipsOfDay(await ledger(), startMs, endMs)).get(creator);
    expect(day).toMatchObject({ grossMinor: 1_800, tipCount: 3 });
    await expectInvariantsClean();
  }, 60_000);
  it("carries a creator's unlock refunds: the receivable of a refund after settlement moves with the creator", async () => {
    const creator = await ownerInFreshBucket("mvo-seller");
    const bucket = bucketOf(creator);
    const before = await ledger();
    const from = before.map[bucket] as number;
    const to = (from + 1) % SHARDS;
    const dbs = moveDatabases();
    const oldDb = dbs.shards[from] as D1Database;
    const newDb = dbs.shards[to] as D1Database;
    let payer = "";
    for (let i = 0; payer === ""; i++) {
      const candidate = `${creator}-payer-${i}`;
      if (bucketOf(candidate) !== bucket) payer = candidate;
    }
    await openRoom(creator);
    const created = await call("POST", "/v1/admin/content", {
      token: await token(`${creator}-admin`, "admin"),
      body: { creatorId: creator, kind: "video", title: "Settled then refunded", price: "20.00" },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await fund(payer, "50.00");
    const day = "2026-10-24";
    const nowMs = at(day);
    const unlockId = newOwnedId("unl", bucketOf(payer), nowMs);
    const prepared = await prepareUnlock(
      before.control,
      config,
      { id: unlockId, contentId: created.body.id, userId: payer },
      nowMs,
    );
    if (!prepared.ok) throw new Error(prepared.code);
    const payerShard = before.forOwner(payer);
    expect((await runOperation(payerShard, composeUnlock(payerShard, prepared.value))).verdict).toEqual({
      kind: "posted",
    });
    await settleTransit();
    await settleDayDirect(day);
    const refund = await refundUnlockApi(unlockId);
    expect(refund.status, JSON.stringify(refund.body)).toBe(201);
    expect(refund.body.refund.source).toBe("receivable");
    const owed =
      prepared.value.priced.creatorMinor -
      withholdingMinor(prepared.value.priced.creatorMinor, config.settlement.withholdingBps);
    const earnings = async () =>
      (await call("GET", "/v1/creators/me/earnings", { token: await token(creator, "creator") })).body.receivableMinor;
    expect(await earnings()).toBe(owed);

    expect((await startBucketMove(dbs, bucket, to, Date.now())).kind).toBe("advanced");
    await moveToDone(bucket);
    await settleTransit();
    forgetBucketMap();
    const refundIn = (db: D1Database) =>
      db
        .prepare("SELECT source, moved_receivable_minor FROM unlock_refunds WHERE unlock_id = ?")
        .bind(unlockId)
        .first();
    expect(await refundIn(newDb)).toEqual({ source: "receivable", moved_receivable_minor: owed });
    expect(await refundIn(oldDb)).toBeNull();
    expect(await earnings()).toBe(owed);
    // Refunded once, however often asked after the move.
    const again = await refundUnlockApi(unlockId);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ alreadyRefunded: true, refund: { id: refund.body.refund.id } });
    await expectInvariantsClean();
  }, 60_000);
});
