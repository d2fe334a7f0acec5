/**
 * The bench-only Worker behind `npm run bench:ledger` (bench/ledger.ts bundles it with esbuild
 * into bench/.build-ledger/ and runs it in workerd through Miniflare, with two D1 bindings: the
 * control database and one ledger shard, the engine whose write rate is measured; the shard is
 * the whole ledger here, so every operation is local to it).
 *
 * Three calls per run, so that only the posting is timed (and traced):
 *   POST /seed {workload, runId, operations, batchSize, concurrency}  seeds what the operations
 *        need: a live room, a funded sender and packets in escrow (claims), or funded viewers
 *        with their tips priced (tips);
 *   POST /post {runId}  posts the operations through the product's own operation files —
 *        `postClaimCredits` (packet-claim.ts: escrow → claimer's wallet) or `composeTip` (tip.ts:
 *        viewer's wallet → creator's pending + platform revenue) — `batchSize` per `db.batch()`
 *        (1 = per-operation autocommit: one D1 round trip and commit each), and answers what
 *        the batches did;
 *   POST /verify {runId}  every verdict "posted", exactly `operations` operations with this run's
 *        ids in the ledger with the transfers they declare, `checkLedgerInvariants` clean.
 * A failed check answers 500 with what disagreed; the driver exits non-zero on it. Seeded and
 * posted runs wait between calls in this isolate's memory (Miniflare runs one).
 */

import { z } from "zod";
import { checkLedgerInvariants } from "../src/db/invariants";
import { type ComposedOperation, runOperation, runOperations, type Verdict } from "../src/db/ledger";
import { composeAdjustment } from "../src/db/operations/adjustment";
import { type ClaimCredit, postClaimCredits } from "../src/db/operations/packet-claim";
import { composePacketSend, preparePacketSend } from "../src/db/operations/packet-send";
import { composeTip, type PreparedTip, prepareTip, type TipRules } from "../src/db/operations/tip";
import { Ledger, type LedgerShard } from "../src/db/shards";
import { DEFAULT_CURRENCY } from "../src/domain/money";
import { evenBucketMap } from "../src/domain/shards";
import { goLive } from "../src/worker/rooms/lifecycle";

interface BenchEnv {
  readonly CONTROL: D1Database;
  readonly LEDGER_0: D1Database;
}

/** The bench's ledger: one shard, every bucket in it. */
function benchLedger(control: D1Database, shard: D1Database): Ledger {
  return new Ledger(control, [shard], evenBucketMap(1));
}

export const WORKLOADS = ["claim", "tip"] as const;
export type Workload = (typeof WORKLOADS)[number];

export const RunRequest = z.object({
  workload: z.enum(WORKLOADS),
  runId: z.string().regex(/^[a-z0-9]{1,24}$/),
  operations: z.number().int().min(1).max(200_000),
  batchSize: z.number().int().min(1).max(1_000),
  concurrency: z.number().int().min(1).max(64),
});
export type RunRequest = z.infer<typeof RunRequest>;

export interface RunResult {
  readonly workload: Workload;
  readonly batchSize: number;
  readonly concurrency: number;
  readonly operations: number;
  /** Transfers written (a claim moves one, a gift tip two: creator's part and platform's). */
  readonly postings: number;
  /** Σ `meta.changes` over every statement of the timed batches: rows inserted or updated. */
  readonly rowsChanged: number;
  /** Σ `meta.rows_written`: D1's own (billing) count, index entries included. */
  readonly rowsWritten: number;
  readonly statements: number;
  readonly batches: number;
  readonly elapsedMs: number;
  /** Σ `meta.duration`: time spent inside SQLite, as D1 reports it per statement. */
  readonly sqlMs: number;
  /** Wall time of each `db.batch()` call as the Worker saw it (workerd's clock: 1 ms steps). */
  readonly batchMs: readonly number[];
}

/** The platform's rules as `npm start` runs them (wrangler.toml [vars]). */
const TIP_RULES: TipRules = { platformShareBps: 3_000, customTip: { minMinor: 100, maxMinor: 5_000_000 } };
/** The catalog's Rose (migrations/0001): 1.00 CNY, 0.70 to the creator and 0.30 to the platform. */
const TIP_GIFT = { kind: "gift", giftId: "rose", quantity: 1 } as const;
const TIP_VIEWERS = 200;
const CLAIM_MINOR = 100;
const SHARES_PER_PACKET = 10_000;
const SEED_BATCH = 50;

class CheckFailed extends Error {}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new CheckFailed(message);
}

/** The run's D1 binding, counting what every `batch()` through it did. */
function metered(db: D1Database) {
  const meter = { rowsChanged: 0, rowsWritten: 0, statements: 0, sqlMs: 0, batchMs: [] as number[] };
  const batch = async <T>(statements: D1PreparedStatement[]): Promise<D1Result<T>[]> => {
    const started = Date.now();
    const results = await db.batch<T>(statements);
    meter.batchMs.push(Date.now() - started);
    meter.statements += results.length;
    for (const r of results) {
      meter.rowsChanged += r.meta.changes ?? 0;
      meter.rowsWritten += r.meta.rows_written ?? 0;
      meter.sqlMs += r.meta.duration ?? 0;
    }
    return results;
  };
  const proxy = new Proxy(db, {
    get(target, property) {
      if (property === "batch") return batch;
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { db: proxy, meter };
}

async function postAll(shard: LedgerShard, composed: readonly ComposedOperation[]): Promise<Verdict[]> {
  // One operation is autocommit (its own batch, as the routes run it); more is group commit.
  if (composed.length === 1 && composed[0]) return [(await runOperation(shard, composed[0])).verdict];
  return runOperations(shard, composed);
}

/** Credits `amountMinor` to each user's wallet from `world:adjustments`, SEED_BATCH per batch. */
async function fund(shard: LedgerShard, runId: string, users: readonly string[], amountMinor: number, nowMs: number) {
  for (let i = 0; i < users.length; i += SEED_BATCH) {
    const composed = users.slice(i, i + SEED_BATCH).map((userId) =>
      composeAdjustment(
        shard,
        {
          id: `adj_bench_${runId}_${userId}`,
          userId,
          direction: "credit",
          amountMinor,
          reason: "bench:ledger funding",
          actorId: "system:bench-ledger",
        },
        nowMs,
      ),
    );
    for (const verdict of await postAll(shard, composed)) check(verdict.kind === "posted", "funding posts");
  }
}

async function live(db: D1Database, runId: string, nowMs: number): Promise<{ roomId: string; creatorId: string }> {
  const creatorId = `bench-creator-${runId}`;
  const room = await goLive(db, { userId: creatorId, displayName: null }, "bench:ledger", nowMs, {
    roomId: `room_bench_${runId}`,
    streamId: `stream_bench_${runId}`,
  });
  check(room.kind === "live", "the bench room goes live");
  return { roomId: room.room.id, creatorId };
}

/** Chunks of `batchSize`, `concurrency` of them in flight at a time. */
async function inBatches<T>(
  items: readonly T[],
  batchSize: number,
  concurrency: number,
  post: (chunk: readonly T[]) => Promise<Verdict[]>,
): Promise<Verdict[]> {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += batchSize) chunks.push(items.slice(i, i + batchSize));
  const verdicts: Verdict[][] = new Array(chunks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, chunks.length) }, async () => {
      while (next < chunks.length) {
        const index = next++;
        verdicts[index] = await post(chunks[index] as T[]);
      }
    }),
  );
  return verdicts.flat();
}

async function seedClaims(ledger: Ledger, req: RunRequest, nowMs: number): Promise<ClaimCredit[]> {
  const { roomId } = await live(ledger.control, req.runId, nowMs);
  const senderId = `bench-sender-${req.runId}`;
  const shard = ledger.shard(0);
  await fund(shard, req.runId, [senderId], req.operations * CLAIM_MINOR, nowMs);
  const credits: ClaimCredit[] = [];
  for (let p = 0; p * SHARES_PER_PACKET < req.operations; p++) {
    const shares = Math.min(SHARES_PER_PACKET, req.operations - p * SHARES_PER_PACKET);
    const packetId = `pkt_bench_${req.runId}_${p}`;
    const prepared = await preparePacketSend(
      ledger,
      {
        id: packetId,
        roomId,
        senderId,
        total: ((shares * CLAIM_MINOR) / 100).toFixed(2),
        subsidyId: null,
        shares,
        split: "equal",
        greeting: "bench:ledger",
        audience: "everyone",
        ttlMs: 60 * 60 * 1000,
      },
      nowMs,
    );
    check(prepared.ok, `packet ${packetId} is admitted: ${prepared.ok ? "" : prepared.code}`);
    const { verdict } = await runOperation(shard, composePacketSend(shard, prepared.value, nowMs));
    check(verdict.kind === "posted", `packet ${packetId} is sent: ${JSON.stringify(verdict)}`);
    for (let i = 0; i < shares; i++) {
      credits.push({
        claimId: `clm_bench_${req.runId}_${p}_${i}`,
        packetId,
        userId: `bench-claimer-${req.runId}-${p}-${i}`,
        claimIndex: i,
        amountMinor: CLAIM_MINOR,
        claimedAtMs: nowMs,
        currency: DEFAULT_CURRENCY,
      });
    }
  }
  return credits;
}

async function seedTips(ledger: Ledger, req: RunRequest, nowMs: number): Promise<PreparedTip[]> {
  const { roomId } = await live(ledger.control, req.runId, nowMs);
  const viewers = Array.from(
    { length: Math.min(TIP_VIEWERS, req.operations) },
    (_, i) => `bench-viewer-${req.runId}-${i}`,
  );
  const tipsPerViewer = Math.ceil(req.operations / viewers.length);
  await fund(ledger.shard(0), req.runId, viewers, tipsPerViewer * 100, nowMs);
  // prepareTip reads the room, the gift and the creator: once per viewer, outside the timing
  // (its reads go to the control data, not to the ledger shard being measured).
  const templates: PreparedTip[] = [];
  for (const viewerId of viewers) {
    const prepared = await prepareTip(ledger.control, TIP_RULES, { id: "", roomId, viewerId, ask: TIP_GIFT }, nowMs);
    check(prepared.ok, `the tip is priced: ${prepared.ok ? "" : prepared.code}`);
    templates.push(prepared.value);
  }
  return Array.from({ length: req.operations }, (_, i) => ({
    ...(templates[i % templates.length] as PreparedTip),
    id: `tip_bench_${req.runId}_${i}`,
  }));
}

/** Seeded runs waiting to be posted, and posted runs waiting to be verified (one isolate). */
type Seeded =
  | { readonly kind: "claim"; readonly items: ClaimCredit[] }
  | { readonly kind: "tip"; readonly items: PreparedTip[] };
const runs = new Map<string, { readonly req: RunRequest; readonly seeded: Seeded; verdicts?: Verdict[] }>();

async function seed(env: BenchEnv, req: RunRequest): Promise<void> {
  const nowMs = Date.now();
  const ledger = benchLedger(env.CONTROL, env.LEDGER_0);
  const seeded: Seeded =
    req.workload === "claim"
      ? { kind: "claim", items: await seedClaims(ledger, req, nowMs) }
      : { kind: "tip", items: await seedTips(ledger, req, nowMs) };
  runs.set(req.runId, { req, seeded });
}

/** The timed part: the operations, `batchSize` per `db.batch()`, and nothing else. */
async function post(env: BenchEnv, runId: string): Promise<RunResult> {
  const run = runs.get(runId);
  check(run !== undefined && run.verdicts === undefined, `run ${runId} is seeded and not yet posted`);
  const { req, seeded } = run;
  const nowMs = Date.now();
  const { db, meter } = metered(env.LEDGER_0);
  const shard = benchLedger(env.CONTROL, db).shard(0);
  const started = Date.now();
  run.verdicts =
    seeded.kind === "claim"
      ? await inBatches(seeded.items, req.batchSize, req.concurrency, (chunk) => postClaimCredits(shard, chunk, nowMs))
      : await inBatches(seeded.items, req.batchSize, req.concurrency, (chunk) =>
          postAll(
            shard,
            chunk.map((tip) => composeTip(shard, tip)),
          ),
        );
  const elapsedMs = Date.now() - started;
  const postings = seeded.kind === "claim" ? seeded.items.length : seeded.items.length * 2;
  return {
    workload: req.workload,
    batchSize: req.batchSize,
    concurrency: req.concurrency,
    operations: req.operations,
    postings,
    rowsChanged: meter.rowsChanged,
    rowsWritten: meter.rowsWritten,
    statements: meter.statements,
    batches: meter.batchMs.length,
    elapsedMs,
    sqlMs: meter.sqlMs,
    batchMs: meter.batchMs,
  };
}

/** Exactly once: every verdict "posted", the ledger holds exactly this run's operations, invariants hold. */
async function verify(env: BenchEnv, runId: string): Promise<{ operations: number; transfers: number }> {
  const run = runs.get(runId);
  check(run?.verdicts !== undefined, `run ${runId} is posted`);
  runs.delete(runId);
  const { req, verdicts } = run;
  const idPrefix = req.workload === "claim" ? `clm_bench_${req.runId}_` : `tip_bench_${req.runId}_`;
  const notPosted = verdicts.filter((v) => v.kind !== "posted");
  check(verdicts.length === req.operations, `${verdicts.length} verdicts for ${req.operations} operations`);
  check(notPosted.length === 0, `${notPosted.length} operations not posted, e.g. ${JSON.stringify(notPosted[0])}`);
  const counted = await env.LEDGER_0.prepare(
    `SELECT COUNT(*) AS operations, COALESCE(SUM(transfer_count), 0) AS declared,
       (SELECT COUNT(*) FROM transfers WHERE operation_id >= ?1 AND operation_id < ?2) AS transfers
     FROM operations WHERE id >= ?1 AND id < ?2 AND state = 'posted'`,
  )
    .bind(idPrefix, `${idPrefix}\u{10FFFF}`)
    .first<{ operations: number; declared: number; transfers: number }>();
  check(counted !== null, "the ledger answers the count");
  check(
    counted.operations === req.operations,
    `${counted.operations} operations posted in the ledger, ${req.operations} asked`,
  );
  const expected = req.workload === "claim" ? req.operations : req.operations * 2;
  check(
    counted.transfers === counted.declared && counted.transfers === expected,
    `${counted.transfers} transfers written, ${counted.declared} declared by the operations, ${expected} expected`,
  );
  const report = await checkLedgerInvariants(env.LEDGER_0, Date.now());
  check(
    report.ok,
    `ledger invariants: ${report.violationCount} violation(s), e.g. ${JSON.stringify(report.violations[0])}`,
  );
  return { operations: counted.operations, transfers: counted.transfers };
}

const RunId = z.object({ runId: RunRequest.shape.runId });

export default {
  async fetch(request: Request, env: BenchEnv): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (request.method !== "POST") return new Response("not found", { status: 404 });
    try {
      const body: unknown = await request.json();
      switch (pathname) {
        case "/seed":
          await seed(env, RunRequest.parse(body));
          return Response.json({ seeded: true });
        case "/post":
          return Response.json(await post(env, RunId.parse(body).runId));
        case "/verify":
          return Response.json(await verify(env, RunId.parse(body).runId));
        default:
          return new Response("not found", { status: 404 });
      }
    } catch (error) {
      const message = error instanceof Error ? `${error.message}\n${error.stack ?? ""}` : String(error);
      return Response.json({ error: message, check: error instanceof CheckFailed }, { status: 500 });
    }
  },
} satisfies ExportedHandler<BenchEnv>;
