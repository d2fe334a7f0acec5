/**
 * Archival wired into the product (docs/SCALING.md, Archival): the minutely cron job moves a
 * settled day of one shard's history to R2 in bounded slices, the invariant checker holds on
 * checkpoint + live rows (and notices a tampered checkpoint), the wallet history says which
 * archives hold the rest, and the job alerts on what needs a human. The story runs in order on
 * one user's shard, seeded with SQL (test/support/ledger-rows.ts).
 */

import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ARCHIVE_LIMITS, type Manifest } from "../../src/db/archive/format";
import { finalThrough } from "../../src/db/dashboard-rollup";
import { checkShardedInvariants } from "../../src/db/sharded-invariants";
import { accountAddress } from "../../src/domain/accounts";
import { LIMITS } from "../../src/domain/limits";
import { rollupNeededThrough, settledPeriodEndMs } from "../../src/worker/cron/ledger-archive";
import worker from "../../src/worker/index";
import { failingPut } from "../support/faults";
import { operationRows, type SeedStep, writeSteps } from "../support/ledger-rows";
import { call, config, ledger, token } from "./helpers";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const SETTLE = ARCHIVE_LIMITS.periodSettleMs;
const T0 = Date.UTC(2026, 0, 1);
/** A run in the hour after day 2 settled: everything before T0 + 2 days is due. */
const NOW = T0 + 2 * DAY + SETTLE + HOUR;
/** A run after day 4 settled. */
const LATER = T0 + 4 * DAY + SETTLE + HOUR;

const USER = "arch-wallet";
const wallet = accountAddress.userWallet(USER);
/** Day 1: enough transfers that pruning takes six batches of 500 ids. */
const DAY_ONE_TIPS = 1_499;

function op(id: string, atMs: number, postings: { from: string; to: string; amountMinor: number }[]): SeedStep {
  const kind = id.startsWith("adj") ? "adjustment" : "tip";
  return { atMs, statements: (db) => operationRows(db, { id, kind, postings, atMs }) };
}

/** A tip from the user: to the platform and to a creator of the same shard (no transit). */
function tip(id: string, atMs: number): SeedStep {
  return op(id, atMs, [
    { from: wallet, to: accountAddress.platformRevenue(), amountMinor: 30 },
    { from: wallet, to: accountAddress.creatorPending(`${USER}-creator`), amountMinor: 70 },
  ]);
}

async function userShard() {
  const l = await ledger();
  return l.forOwner(USER);
}

async function count(db: D1Database, sql: string): Promise<number> {
  return (await db.prepare(sql).first<number>("n")) ?? 0;
}

async function archiveRows(db: D1Database) {
  const { results } = await db
    .prepare("SELECT id, state, manifest_key FROM ledger_archives ORDER BY id")
    .all<{ id: string; state: string; manifest_key: string | null }>();
  return results;
}

/** One scheduled run at `nowMs`, with `bindings` in place of the test's; its log lines, parsed. */
async function scheduled(nowMs: number, bindings: Partial<Env> = {}) {
  const infos = vi.spyOn(console, "log").mockImplementation(() => undefined);
  const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
  await worker.scheduled(createScheduledController({ scheduledTime: nowMs, cron: "* * * * *" }), {
    ...env,
    ...bindings,
  });
  const parse = (spy: { mock: { calls: unknown[][] } }) =>
    spy.mock.calls.map((args) => JSON.parse(String(args[0])) as Record<string, unknown>);
  const housekeeping = parse(infos).find((l) => l.msg === "housekeeping");
  const alerts = parse(errors);
  infos.mockRestore();
  errors.mockRestore();
  return { figures: housekeeping?.["ledger-archive"], failed: housekeeping?.failed, alerts };
}

/** A bucket that answers "no such object" for data files: as if one had been lost. */
function bucketLosingDataFiles(bucket: R2Bucket): R2Bucket {
  return new Proxy(bucket, {
    get(target, property) {
      if (property === "get") {
        return async (key: string) => (key.includes("/data-") ? null : target.get(key));
      }
      const value = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("ledger archival, wired", () => {
  let archiveId = "";
  let walletBefore = 0;

  beforeAll(async () => {
    const { db } = await userShard();
    await writeSteps(db, [
      op("adj_arch_1", T0 + 1_000, [{ from: accountAddress.worldAdjustments(), to: wallet, amountMinor: 1_000_000 }]),
      ...Array.from({ length: DAY_ONE_TIPS }, (_, i) => tip(`tip_arch_d1_${i}`, T0 + 60_000 + i * 50_000)),
      // Day 3: live after the first archive.
      ...Array.from({ length: 3 }, (_, i) => tip(`tip_arch_d3_${i}`, T0 + 2 * DAY + HOUR + i * 1_000)),
    ]);
    walletBefore =
      (await db
        .prepare("SELECT balance_minor FROM accounts WHERE address = ?")
        .bind(wallet)
        .first<number>("balance_minor")) ?? 0;
    expect(walletBefore).toBe(1_000_000 - 100 * (DAY_ONE_TIPS + 3));
    expect((await checkShardedInvariants(await ledger(), NOW)).violations).toEqual([]);
  });

  it("archives the day that ended a settle window ago, never a day still settling", () => {
    expect(settledPeriodEndMs(T0 + 2 * DAY + SETTLE)).toBe(T0 + 2 * DAY);
    expect(settledPeriodEndMs(T0 + 2 * DAY + SETTLE - 1)).toBe(T0 + DAY);
    expect(settledPeriodEndMs(NOW)).toBe(T0 + 2 * DAY);
  });

  it("the cron moves the settled day to R2 in bounded runs until it is pruned; balances and invariants hold", async () => {
    const shard = await userShard();
    const runs: unknown[] = [];
    for (let i = 0; i < 10; i++) {
      const run = await scheduled(NOW + i * 60_000);
      expect(run.alerts).toEqual([]);
      expect(run.failed).toEqual([]);
      runs.push(run.figures);
      const [archive] = await archiveRows(shard.db);
      if (archive?.state === "pruned") break;
    }
    const [archive, ...others] = await archiveRows(shard.db);
    expect(others).toEqual([]);
    // The dashboard's rollup ran first (the job before) and is final through every day archived.
    expect(rollupNeededThrough(T0 + 2 * DAY, config.businessTimeZone)).toBe("2026-01-03");
    expect(await finalThrough(shard.db)).toBe("2026-01-03");
    archiveId = archive?.id ?? "";
    expect(archiveId).toMatch(new RegExp(`^arc-s${shard.index}-\\d{12}$`));
    // 3 export steps (plan the one file, upload it, write checkpoint and manifest), verify,
    // then 6 prune batches of up to 500 ids (1..2999): never more than the limit per run.
    expect(LIMITS.ledgerArchiveStepsPerShardMax).toBe(4);
    const moved = (state: string, steps: number) => ({
      steps,
      archives: [{ shard: shard.index, archiveId, state }],
      tombstonesPurged: 0,
      rollupPending: 0,
      alerts: 0,
    });
    expect(runs).toEqual([moved("verified", 4), moved("verified", 4), moved("pruned", 1)]);

    // The archive is in R2, whole.
    const object = await env.LEDGER_ARCHIVE.get(archive?.manifest_key ?? "");
    expect(object).not.toBeNull();
    const manifest = (await object?.json()) as Manifest;
    expect(manifest.archiveId).toBe(archiveId);
    expect(manifest.shard).toBe(shard.index);
    expect(manifest.period.toMs).toBe(T0 + 2 * DAY);
    expect(manifest.exported.firstTransferId).toBe(1);
    expect(manifest.exported.lastTransferId).toBe(1 + 2 * DAY_ONE_TIPS);
    for (const file of manifest.files) expect(await env.LEDGER_ARCHIVE.head(file.key)).not.toBeNull();

    // Only day 3 is left live; the wallet's balance did not move; the checker is clean.
    expect(await count(shard.db, "SELECT COUNT(*) AS n FROM transfers")).toBe(6);
    expect(await count(shard.db, "SELECT COUNT(*) AS n FROM operations")).toBe(3);
    expect(await count(shard.db, `SELECT balance_minor AS n FROM accounts WHERE address = '${wallet}'`)).toBe(
      walletBefore,
    );
    const report = await checkShardedInvariants(await ledger(), NOW);
    expect(report.violations).toEqual([]);
    expect(report.ok).toBe(true);

    // Caught up: the next run has nothing to do, and says nothing.
    expect(await scheduled(NOW + HOUR)).toEqual({
      figures: { steps: 0, archives: [], tombstonesPurged: 0, rollupPending: 0, alerts: 0 },
      failed: [],
      alerts: [],
    });
  });

  it("the invariant checker reports a tampered checkpoint, with both numbers", async () => {
    const shard = await userShard();
    const tamper = (delta: number) =>
      shard.db
        .prepare(
          "UPDATE balance_checkpoints SET balance_minor = balance_minor + ? WHERE archive_id = ? AND account = ?",
        )
        .bind(delta, archiveId, wallet)
        .run();
    await tamper(1);
    try {
      const report = await checkShardedInvariants(await ledger(), NOW);
      expect(report.violations).toEqual([
        {
          kind: "balance_mismatch",
          shard: shard.index,
          account: wallet,
          balanceMinor: walletBefore,
          transfersSumMinor: walletBefore + 1,
        },
      ]);
    } finally {
      await tamper(-1);
    }
    expect((await checkShardedInvariants(await ledger(), NOW)).violations).toEqual([]);
  });

  it("the wallet history names the archive on the pages whose time span it holds", async () => {
    const t = await token(USER);
    const first = await call("GET", `/v1/users/${USER}/wallet/transactions?limit=2`, { token: t });
    expect(first.status).toBe(200);
    expect(first.body.items.map((e: { operationId: string }) => e.operationId)).toEqual([
      "tip_arch_d3_2",
      "tip_arch_d3_2",
    ]);
    // Days 3 onward: all live.
    expect(first.body.archived).toEqual([]);
    expect(first.body.nextCursor).not.toBeNull();

    const last = await call("GET", `/v1/users/${USER}/wallet/transactions?limit=10&cursor=${first.body.nextCursor}`, {
      token: t,
    });
    expect(last.status).toBe(200);
    expect(last.body.items.map((e: { operationId: string }) => e.operationId)).toEqual([
      "tip_arch_d3_1",
      "tip_arch_d3_1",
      "tip_arch_d3_0",
      "tip_arch_d3_0",
    ]);
    expect(last.body.nextCursor).toBeNull();
    // The last page reaches back to the beginning: day 1 is in the archive.
    expect(last.body.archived).toEqual([
      { archiveId, fromMs: T0 + 1_000, toMs: T0 + 60_000 + (DAY_ONE_TIPS - 1) * 50_000 + 1 },
    ]);

    // Another user's shard knows nothing archived (with one shard it is the same shard).
    const l = await ledger();
    const other = "arch-someone-else";
    const res = await call("GET", `/v1/users/${other}/wallet/transactions`, { token: await token(other) });
    expect(res.status).toBe(200);
    expect(res.body.archived).toEqual(l.forOwner(other).index === l.forOwner(USER).index ? last.body.archived : []);
  });

  it("alerts when a run fails or a verification fails, and the next runs heal and finish the archive", async () => {
    const shard = await userShard();
    const { db } = shard;
    await writeSteps(db, [tip("tip_arch_d4_0", T0 + 3 * DAY + HOUR)]);

    // The first upload fails: that shard's run throws; it is reported, the job is not failed.
    const broken = await scheduled(LATER, { LEDGER_ARCHIVE: failingPut(env.LEDGER_ARCHIVE, 1, "before") });
    expect(broken.failed).toEqual([]);
    expect(broken.alerts.map((a) => [a.msg, a.shard])).toEqual([["alert_ledger_archive_failed", shard.index]]);
    const [, second] = await archiveRows(db);
    expect(second?.state).toBe("exporting");

    // The export finishes, but its data file cannot be read back: verification fails.
    const lost = await scheduled(LATER + 60_000, { LEDGER_ARCHIVE: bucketLosingDataFiles(env.LEDGER_ARCHIVE) });
    expect(lost.alerts.map((a) => [a.msg, a.shard, a.archiveId, a.code])).toEqual([
      ["alert_ledger_archive_verify_failed", shard.index, second?.id, "file_missing"],
    ]);
    expect((await archiveRows(db)).map((a) => a.state)).toEqual(["pruned", "exporting"]);

    // With the bucket whole again, the file is written again (with the checkpoint and the
    // manifest: 2 steps), verified, and its 8 transfers pruned in one batch.
    const healed = await scheduled(LATER + 120_000);
    expect(healed.alerts).toEqual([]);
    expect(healed.figures).toEqual({
      steps: 3,
      archives: [{ shard: shard.index, archiveId: second?.id, state: "pruned" }],
      tombstonesPurged: 0,
      rollupPending: 0,
      alerts: 0,
    });
    expect(await count(db, "SELECT COUNT(*) AS n FROM transfers")).toBe(0);
    expect((await checkShardedInvariants(await ledger(), LATER)).violations).toEqual([]);
    expect(await count(db, `SELECT balance_minor AS n FROM accounts WHERE address = '${wallet}'`)).toBe(
      walletBefore - 100,
    );
  });
  it("forgets archived operation ids after operationIdMemoryMs, oldest first, in bounded runs", async () => {
    const { db } = await userShard();
    const tombstones = async () =>
      (
        await db
          .prepare("SELECT id, archived_at_ms FROM operation_tombstones ORDER BY archived_at_ms, id")
          .all<{ id: string; archived_at_ms: number }>()
      ).results;
    const all = await tombstones();
    // Day 1 (1,499 tips and the adjustment) pruned in the first archive's runs, days 3–4 in the second.
    const firstBatch = all.filter((t) => t.archived_at_ms < LATER);
    const secondBatch = all.filter((t) => t.archived_at_ms >= LATER);
    expect(firstBatch).toHaveLength(DAY_ONE_TIPS + 1);
    expect(secondBatch.map((t) => t.id).sort()).toEqual([
      "tip_arch_d3_0",
      "tip_arch_d3_1",
      "tip_arch_d3_2",
      "tip_arch_d4_0",
    ]);
    // Day 1 was pruned over three runs a minute apart: its tombstones carry those times.
    const firstOfFirst = Math.min(...firstBatch.map((t) => t.archived_at_ms));
    const lastOfFirst = Math.max(...firstBatch.map((t) => t.archived_at_ms));

    // Exactly at the memory's end for the oldest: nothing is forgotten yet.
    const inside = await scheduled(firstOfFirst + LIMITS.operationIdMemoryMs);
    expect(inside.figures).toMatchObject({ tombstonesPurged: 0 });
    expect(await tombstones()).toHaveLength(all.length);

    // Past it for day 1, not for days 3–4: day 1's ids go, at most the limit per run.
    const past = lastOfFirst + LIMITS.operationIdMemoryMs + 1;
    expect(LIMITS.operationTombstonesPurgedPerShardMax).toBeGreaterThanOrEqual(firstBatch.length);
    const run = await scheduled(past);
    expect(run.alerts).toEqual([]);
    expect(run.figures).toMatchObject({ tombstonesPurged: firstBatch.length });
    expect((await tombstones()).map((t) => t.id).sort()).toEqual(secondBatch.map((t) => t.id).sort());
    expect(await scheduled(past + 60_000)).toMatchObject({ figures: { tombstonesPurged: 0 } });
    expect((await checkShardedInvariants(await ledger(), past)).violations).toEqual([]);
  });
});
