/**
 * Moving a bucket of owners between two ledger shards while they tip and are tipped
 * (src/db/bucket-move.ts). Viewers of the bucket tip a creator elsewhere and a creator of the
 * bucket; viewers elsewhere tip the bucket's creator; a credit to the bucket is left in
 * flight to the old shard. Clients retry a refused tip with the same Idempotency-Key, as the
 * API asks (503 `shard_moving`). Afterwards: every acknowledged tip exactly once, every
 * owner's balance right in the new shard and zero in the old, nothing of the bucket written
 * in the old shard after the freeze but the move itself, a writer with the old map refused
 * there, and the invariants clean. A second test crashes the procedure between and inside
 * steps and resumes it. With one shard there is nowhere to move a bucket to: skipped.
 */

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type MoveDatabases, startBucketMove, stepBucketMove } from "../../src/db/bucket-move";
import { composeOperation, runOperation } from "../../src/db/ledger";
import { composeAdjustment } from "../../src/db/operations/adjustment";
import { checkShardedInvariants } from "../../src/db/sharded-invariants";
import { forgetBucketMap, Ledger, type LedgerShard, shardBindings } from "../../src/db/shards";
import { deliverTransit, pendingTransit } from "../../src/db/transit";
import { accountAddress } from "../../src/domain/accounts";
import { LIMITS } from "../../src/domain/limits";
import { bucketOf } from "../../src/domain/shards";
import { failingBatch, failingStatements, InjectedFault } from "../support/faults";
import { call, fund, key, ledger, openRoom, settleTransit, token } from "./helpers";

const SHARDS = shardBindings(env).length;

/** `count` ids `${prefix}{i}` whose owner is in `bucket`. */
function idsInBucket(prefix: string, bucket: number, count: number): string[] {
  const ids: string[] = [];
  for (let i = 0; ids.length < count; i++) {
    assert(i < 1_000_000, "ids found");
    if (bucketOf(`${prefix}${i}`) === bucket) ids.push(`${prefix}${i}`);
  }
  return ids;
}

function assert(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(what);
}

function moveDatabases(): MoveDatabases {
  return { control: env.CONTROL, shards: shardBindings(env) };
}

interface Ack {
  readonly id: string;
  readonly viewer: string;
  readonly creator: string;
  readonly amountMinor: number;
  readonly creatorMinor: number;
}

interface Refusals {
  count: number;
  onRefused?: () => void;
}

/** A client's tip: retried with the same key while the API answers 503 `shard_moving`. */
async function tipUntilDone(viewer: string, room: string, creator: string, refusals: Refusals): Promise<Ack> {
  const idempotencyKey = key();
  for (let attempt = 0; attempt < 200; attempt++) {
    const res = await call("POST", `/v1/rooms/${room}/tips`, {
      token: await token(viewer),
      idempotencyKey,
      body: { kind: "gift", giftId: "rose", quantity: 1 },
    });
    if (res.status === 201) {
      const tip = res.body.tip;
      return { id: tip.id, viewer, creator, amountMinor: tip.amountMinor, creatorMinor: tip.creatorMinor };
    }
    expect(res.status, JSON.stringify(res.body)).toBe(503);
    expect(res.body.error.code).toBe("shard_moving");
    expect(res.headers.get("retry-after")).toBe(String(LIMITS.shardMovingRetryAfterS));
    refusals.count += 1;
    refusals.onRefused?.();
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("a tip never got through");
}

async function balanceIn(db: D1Database, address: string): Promise<number> {
  const row = await db.prepare("SELECT balance_minor FROM accounts WHERE address = ?").bind(address).first<{
    balance_minor: number;
  }>();
  return row?.balance_minor ?? 0;
}

async function maxTransferId(db: D1Database): Promise<number> {
  const row = await db.prepare("SELECT COALESCE(MAX(id), 0) AS id FROM transfers").first<{ id: number }>();
  return row?.id ?? 0;
}

// With one shard there is nowhere to move a bucket to.
describe.skipIf(SHARDS < 2)("moving a bucket between shards (needs 2 or more shards)", () => {
  it("under load, loses, doubles and misroutes nothing, and refuses a stale writer", async () => {
    forgetBucketMap();
    const before = await ledger();
    const bucket = bucketOf("mv-viewer-0");
    const from = before.map[bucket] as number;
    const to = (from + 1) % SHARDS;
    const inBucket = idsInBucket("mv-viewer-", bucket, 4);
    const creatorB = idsInBucket("mv-creator-", bucket, 1)[0] as string;
    const elsewhere = Array.from({ length: 40 }, (_, i) => `mv-other-${i}`).filter((v) => bucketOf(v) !== bucket);
    const creatorX = "mv-creator-x";
    expect(bucketOf(creatorX)).not.toBe(bucket);
    const roomB = await openRoom(creatorB);
    const roomX = await openRoom(creatorX);
    for (const v of [...inBucket, ...elsewhere.slice(0, 12)]) await fund(v, "1000.00");
    const viewersX = elsewhere.slice(0, 12);

    // A credit to the bucket committed in another shard and not announced: in flight to the old shard.
    const otherShard = before.shards.find((s) => s.index !== from) as LedgerShard;
    const inFlightViewer = inBucket[0] as string;
    const { verdict } = await runOperation(
      otherShard,
      composeOperation(otherShard, {
        id: `adj_mv_inflight_${Date.now()}`,
        kind: "adjustment",
        currency: "CNY",
        postings: [
          {
            from: accountAddress.worldAdjustments(),
            to: accountAddress.userWallet(inFlightViewer),
            amountMinor: 12_345,
          },
        ],
        actorId: "test",
        reason: "in flight across the move",
        metadata: null,
        nowMs: Date.now(),
        guards: [],
        extra: () => [],
      }),
    );
    expect(verdict.kind).toBe("posted");

    // The load: rounds of tips from and to the bucket's owners and others, until the move is done.
    const acks: Ack[] = [];
    const refusals: Refusals = { count: 0 };
    let stop = false;
    // The move waits for rounds of load, not for timers (a timer waits behind the load's I/O).
    let rounds = 0;
    const waiters: { ready: () => boolean; resolve: () => void }[] = [];
    const wake = () => {
      for (const w of waiters.filter((w) => w.ready())) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    };
    refusals.onRefused = wake;
    const when = (ready: () => boolean) =>
      new Promise<void>((resolve) => {
        waiters.push({ ready, resolve });
        wake();
      });
    const afterRounds = (n: number) => {
      const at = rounds + n;
      return when(() => rounds >= at);
    };
    const load = (async () => {
      for (let round = 0; !stop || round < 3; round++) {
        const tips = [
          ...inBucket.map((v, i) =>
            i % 2 === 0 ? tipUntilDone(v, roomX, creatorX, refusals) : tipUntilDone(v, roomB, creatorB, refusals),
          ),
          ...viewersX
            .slice((round * 4) % 12, ((round * 4) % 12) + 4)
            .map((v) => tipUntilDone(v, roomB, creatorB, refusals)),
        ];
        acks.push(...(await Promise.all(tips)));
        rounds += 1;
        wake();
      }
    })();

    const t0 = Date.now();
    const dbs = moveDatabases();
    const oldDb = dbs.shards[from] as D1Database;
    const newDb = dbs.shards[to] as D1Database;
    await afterRounds(2);
    expect((await startBucketMove(dbs, bucket, to, Date.now())).kind).toBe("advanced");

    await afterRounds(2);
    const frozen = await stepBucketMove(dbs, bucket, Date.now());
    expect(frozen).toMatchObject({ kind: "advanced", phase: "frozen" });
    const freezeTransferId = await maxTransferId(oldDb);

    // Tips of the bucket are refused meanwhile (their round cannot end before the switch).
    const refusedBefore = refusals.count;
    await when(() => refusals.count >= refusedBefore + 4);
    const switched = await stepBucketMove(dbs, bucket, Date.now());
    expect(switched).toMatchObject({ kind: "advanced", phase: "switched" });

    // Too early: isolates may still hold the old map for bucketMapCacheMs.
    expect((await stepBucketMove(dbs, bucket, Date.now())).kind).toBe("waiting");
    await afterRounds(2);
    const verified = await stepBucketMove(dbs, bucket, Date.now() + LIMITS.bucketMapCacheMs);
    expect(verified, JSON.stringify(verified)).toMatchObject({ kind: "advanced", phase: "verified" });

    expect(await stepBucketMove(dbs, bucket, Date.now())).toMatchObject({ kind: "advanced", phase: "done" });
    const moveMs = Date.now() - t0;
    stop = true;
    await load;
    console.log(
      `[bucket move] ${moveMs} ms start to done; ${acks.length} tips acknowledged, ${refusals.count} refused and retried`,
    );

    // Duplicate deliveries: every pending ref twice, then every move ref again.
    forgetBucketMap();
    const after = await ledger();
    expect(after.map[bucket]).toBe(to);
    const pending = await pendingTransit(after, Date.now(), 0);
    await deliverTransit(after, [...pending, ...pending].reverse(), Date.now());
    await settleTransit();
    const moveRefs = (
      await oldDb
        .prepare("SELECT operation_id FROM transit_outbox WHERE operation_kind = 'bucket_move'")
        .all<{ operation_id: string }>()
    ).results.map((r) => ({ kind: "transit" as const, origin: from, destination: to, operationId: r.operation_id }));
    expect(moveRefs.length).toBeGreaterThanOrEqual(inBucket.length + 1);
    const again = await deliverTransit(after, [...moveRefs, ...moveRefs], Date.now());
    expect(new Set(again.map((o) => o.kind))).toEqual(new Set(["already_delivered"]));

    // Every acknowledged tip exactly once, in its viewer's shard at the time.
    expect(acks.length).toBeGreaterThanOrEqual(3 * 8);
    expect(refusals.count).toBeGreaterThan(0);
    const ackIds = new Set(acks.map((a) => a.id));
    expect(ackIds.size).toBe(acks.length);
    const viewers = [...inBucket, ...viewersX];
    let tipOps = 0;
    for (const db of dbs.shards) {
      const { results } = await db
        .prepare(`SELECT id FROM tips WHERE viewer_id IN (SELECT value FROM json_each(?))`)
        .bind(JSON.stringify(viewers))
        .all<{ id: string }>();
      for (const r of results) expect(ackIds.has(r.id)).toBe(true);
      tipOps += results.length;
    }
    expect(tipOps).toBe(acks.length);

    // Balances: in the new shard, exactly what was funded, tipped and earned; zero in the old.
    for (const v of inBucket) {
      const spent = acks.filter((a) => a.viewer === v).reduce((s, a) => s + a.amountMinor, 0);
      const extra = v === inFlightViewer ? 12_345 : 0;
      expect(await balanceIn(newDb, accountAddress.userWallet(v))).toBe(100_000 - spent + extra);
      expect(await balanceIn(oldDb, accountAddress.userWallet(v))).toBe(0);
    }
    const earnedB = acks.filter((a) => a.creator === creatorB).reduce((s, a) => s + a.creatorMinor, 0);
    expect(earnedB).toBeGreaterThan(0);
    expect(await balanceIn(newDb, accountAddress.creatorPending(creatorB))).toBe(earnedB);
    expect(await balanceIn(oldDb, accountAddress.creatorPending(creatorB))).toBe(0);

    // Nothing of the bucket written in the old shard after the freeze but the move itself.
    const bucketAddresses = [...inBucket.map(accountAddress.userWallet), accountAddress.creatorPending(creatorB)];
    const late = await oldDb
      .prepare(
        `SELECT t.id, o.kind FROM transfers t JOIN operations o ON o.id = t.operation_id
         WHERE t.id > ? AND o.kind <> 'bucket_move'
           AND (t.from_account IN (SELECT value FROM json_each(?)) OR t.to_account IN (SELECT value FROM json_each(?)))`,
      )
      .bind(freezeTransferId, JSON.stringify(bucketAddresses), JSON.stringify(bucketAddresses))
      .all();
    expect(late.results).toEqual([]);

    // A writer still holding the old map is refused in the old shard, not misrouted.
    const stale = new Ledger(env.CONTROL, shardBindings(env), before.map);
    const staleShard = stale.forOwner(inFlightViewer);
    expect(staleShard.index).toBe(from);
    const refused = await runOperation(
      staleShard,
      composeAdjustment(
        staleShard,
        {
          id: `adj_mv_stale_${Date.now()}`,
          userId: inFlightViewer,
          direction: "credit",
          amountMinor: 100,
          reason: "stale",
          actorId: "test",
        },
        Date.now(),
      ),
    );
    expect(refused.verdict).toEqual({ kind: "rejected", code: "bucket_fenced" });
    expect(await balanceIn(oldDb, accountAddress.userWallet(inFlightViewer))).toBe(0);

    const report = await checkShardedInvariants(after, Date.now());
    expect(report.violations, JSON.stringify(report.violations, null, 1)).toEqual([]);
    expect(report.counts.transitInFlight).toBe(0);
  }, 120_000);

  it("resumes after a crash inside and between steps, moving each balance once", async () => {
    forgetBucketMap();
    const before = await ledger();
    const bucket = bucketOf("mv-crash-0");
    const from = before.map[bucket] as number;
    const to = (from + 2) % SHARDS === from ? (from + 1) % SHARDS : (from + 2) % SHARDS;
    const owners = idsInBucket("mv-crash-", bucket, 3);
    for (const o of owners) await fund(o, "50.00");
    // A 小额免密 setting of an owner: copied with the bucket.
    const autopay = await call("PUT", "/v1/me/autopay", {
      token: await token(owners[0] as string),
      body: { perTipMax: "10.00", perDayMax: "50.00" },
    });
    expect(autopay.status, JSON.stringify(autopay.body)).toBe(200);
    const real = moveDatabases();
    const oldDb = real.shards[from] as D1Database;
    const newDb = real.shards[to] as D1Database;
    expect((await startBucketMove(real, bucket, to, Date.now())).kind).toBe("advanced");

    // The freeze's record fails after the fences are written: the step is run again.
    const crashFreeze = {
      ...real,
      control: failingStatements(real.control, "UPDATE ledger_buckets SET move_phase = ?", () => true),
    };
    await expect(stepBucketMove(crashFreeze, bucket, Date.now())).rejects.toBeInstanceOf(InjectedFault);
    expect((await stepBucketMove(real, bucket, Date.now())).kind).toBe("advanced");

    // The balances' batch commits and the caller dies before hearing back; then the switch's record fails.
    const shardsCrashing = real.shards.map((db, i) => (i === from ? failingBatch(db, 1, "after") : db));
    await expect(stepBucketMove({ ...real, shards: shardsCrashing }, bucket, Date.now())).rejects.toBeInstanceOf(
      InjectedFault,
    );
    // The switch is the step's one control batch (the map update with its audit entry).
    const crashSwitch = { ...real, control: failingBatch(real.control, 1, "before") };
    await expect(stepBucketMove(crashSwitch, bucket, Date.now())).rejects.toBeInstanceOf(InjectedFault);
    expect(await stepBucketMove(real, bucket, Date.now())).toMatchObject({ kind: "advanced", phase: "switched" });

    // Deliveries whose "mark delivered" fails, then the rest of the procedure.
    const flaky = {
      ...real,
      shards: real.shards.map((db) => failingStatements(db, "UPDATE transit_outbox", () => true)),
    };
    await expect(stepBucketMove(flaky, bucket, Date.now() + LIMITS.bucketMapCacheMs)).rejects.toBeInstanceOf(Error);
    expect(await stepBucketMove(real, bucket, Date.now() + LIMITS.bucketMapCacheMs)).toMatchObject({
      kind: "advanced",
      phase: "verified",
    });
    expect(await stepBucketMove(real, bucket, Date.now())).toMatchObject({ kind: "advanced", phase: "done" });
    expect((await stepBucketMove(real, bucket, Date.now())).kind).toBe("idle");

    forgetBucketMap();
    const after = await ledger();
    for (const o of owners) {
      expect(await balanceIn(newDb, accountAddress.userWallet(o))).toBe(5_000);
      expect(await balanceIn(oldDb, accountAddress.userWallet(o))).toBe(0);
    }
    const moves = await oldDb
      .prepare("SELECT COUNT(*) AS n FROM operations WHERE kind = 'bucket_move' AND id LIKE ?")
      .bind(`move-${bucket}-%`)
      .first<{ n: number }>();
    expect(moves?.n).toBe(owners.length);
    const copied = await newDb
      .prepare("SELECT per_tip_max_minor FROM autopay_settings WHERE user_id = ?")
      .bind(owners[0])
      .first<{ per_tip_max_minor: number }>();
    expect(copied?.per_tip_max_minor).toBe(1_000);
    const report = await checkShardedInvariants(after, Date.now());
    expect(report.violations, JSON.stringify(report.violations, null, 1)).toEqual([]);
  }, 60_000);
});
