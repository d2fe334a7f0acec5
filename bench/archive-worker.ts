/**
 * The bench-only Worker behind `npm run bench:archive` (bench/archive.ts bundles it with
 * esbuild into bench/.build-archive/ and runs it in workerd through Miniflare), with a ledger
 * shard `SHARD`, an empty one `SPARE` and an R2 bucket `ARCHIVE`. One call per phase, so each
 * is timed on its own; every phase runs the product's code (src/db/archive):
 *
 *   POST /seed {tips, viewers, creators, startMs}  a day of gift tips written with SQL, rows
 *        shaped as tip.ts writes them (ids, metadata, the tips row), after funding the viewers;
 *   POST /export   startArchive + exportArchive of everything before the day's end;
 *   POST /verify   verifyArchive (every file read back from R2, both digests, every line);
 *   POST /prune    pruneArchive;
 *   POST /import   importArchive into SPARE, which renders every file again and compares;
 *   POST /size     the shard's database size as D1 reports it (`meta.size_after`).
 * Each answers what it did and how long it took (the Worker's clock, which moves at I/O).
 */

import { exportArchive } from "../src/db/archive/export";
import { ARCHIVE_LIMITS } from "../src/db/archive/format";
import { pruneArchive } from "../src/db/archive/prune";
import { importArchive } from "../src/db/archive/reimport";
import { startArchive } from "../src/db/archive/start";
import { requireArchive } from "../src/db/archive/state";
import { readManifest, verifyArchive } from "../src/db/archive/verify";
import { accountAddress } from "../src/domain/accounts";
import { newId } from "../src/domain/ids";
import { operationRows } from "../test/support/ledger-rows";

interface BenchEnv {
  readonly SHARD: D1Database;
  readonly SPARE: D1Database;
  readonly ARCHIVE: R2Bucket;
}

export interface SeedRequest {
  /** Tips in the whole day, and the slice of them this call writes (fundings with the first). */
  readonly tips: number;
  readonly from: number;
  readonly count: number;
  readonly viewers: number;
  readonly creators: number;
  readonly startMs: number;
}

const DAY = 86_400_000;
let archiveId = "";
let dayEndMs = 0;

async function seed(db: D1Database, request: SeedRequest) {
  const viewers = Array.from({ length: request.viewers }, (_, i) => `u${String(100_000_000 + i)}`);
  const creators = Array.from({ length: request.creators }, (_, i) => `c${String(200_000_000 + i)}`);
  const room = `room_${request.startMs}`;
  const stream = `stream_${request.startMs}`;
  let batch: D1PreparedStatement[] = [];
  const flush = async (force: boolean) => {
    if (batch.length >= 2_000 || (force && batch.length > 0)) {
      await db.batch(batch);
      batch = [];
    }
  };
  for (const [i, v] of (request.from === 0 ? viewers : []).entries()) {
    const atMs = request.startMs + i;
    batch.push(
      ...operationRows(db, {
        id: newId("adj", atMs),
        kind: "adjustment",
        actorId: "ops-bench",
        atMs,
        postings: [
          { from: accountAddress.worldAdjustments(), to: accountAddress.userWallet(v), amountMinor: 10_000_000 },
        ],
      }),
    );
    await flush(false);
  }
  const spacingMs = Math.floor((DAY - 60_000) / request.tips);
  for (let i = request.from; i < Math.min(request.tips, request.from + request.count); i++) {
    const atMs = request.startMs + 60_000 + i * spacingMs;
    const viewer = viewers[i % viewers.length] ?? "";
    const creator = creators[i % creators.length] ?? "";
    const amountMinor = 100 * (1 + (i % 20));
    const platformMinor = Math.floor((amountMinor * 3) / 10);
    const id = newId("tip", atMs);
    batch.push(
      ...operationRows(db, {
        id,
        kind: "tip",
        actorId: viewer,
        metadata: { roomId: room, giftId: "rose", quantity: 1 + (i % 3), shareBps: 3000 },
        atMs,
        postings: [
          {
            from: accountAddress.userWallet(viewer),
            to: accountAddress.creatorPending(creator),
            amountMinor: amountMinor - platformMinor,
          },
          { from: accountAddress.userWallet(viewer), to: accountAddress.platformRevenue(), amountMinor: platformMinor },
        ],
      }),
      db
        .prepare(
          `INSERT INTO tips (id, room_id, stream_id, viewer_id, creator_id, gift_id, quantity, amount_minor, big,
             platform_minor, creator_minor, currency, created_at_ms)
           VALUES (?, ?, ?, ?, ?, 'rose', ?, ?, 0, ?, ?, 'CNY', ?)`,
        )
        .bind(
          id,
          room,
          stream,
          viewer,
          creator,
          1 + (i % 3),
          amountMinor,
          platformMinor,
          amountMinor - platformMinor,
          atMs,
        ),
    );
    await flush(false);
  }
  await flush(true);
  dayEndMs = request.startMs + DAY;
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; elapsedMs: number }> {
  const t0 = Date.now();
  const value = await work();
  return { value, elapsedMs: Date.now() - t0 };
}

export default {
  async fetch(request: Request, env: BenchEnv): Promise<Response> {
    const path = new URL(request.url).pathname;
    try {
      if (path === "/seed") {
        const body = (await request.json()) as SeedRequest;
        const { elapsedMs } = await timed(() => seed(env.SHARD, body));
        return Response.json({ elapsedMs });
      }
      if (path === "/size") {
        // D1's own figure for the database file (pages in use and free ones).
        const result = await env.SHARD.prepare("SELECT 1").run();
        return Response.json({ bytes: result.meta.size_after });
      }
      if (path === "/export") {
        const nowMs = dayEndMs + ARCHIVE_LIMITS.periodSettleMs;
        const { value, elapsedMs } = await timed(async () => {
          const started = await startArchive(env.SHARD, { shard: 0, beforeMs: dayEndMs, nowMs });
          if (!started.ok) throw new Error(started.code);
          archiveId = started.archive.id;
          return exportArchive(env.SHARD, env.ARCHIVE, archiveId, { nowMs });
        });
        const archive = await requireArchive(env.SHARD, archiveId);
        const read = await readManifest(env.ARCHIVE, archive.manifestKey ?? "");
        if (!read.ok) throw new Error(read.code);
        return Response.json({ elapsedMs, steps: value.steps, manifest: read.manifest });
      }
      if (path === "/verify") {
        const { value, elapsedMs } = await timed(() => verifyArchive(env.SHARD, env.ARCHIVE, archiveId, dayEndMs));
        if (!value.ok) throw new Error(`${value.code} ${value.detail}`);
        return Response.json({ elapsedMs });
      }
      if (path === "/prune") {
        const { value, elapsedMs } = await timed(() => pruneArchive(env.SHARD, archiveId, { nowMs: dayEndMs }));
        const left = await env.SHARD.prepare("SELECT COUNT(*) AS n FROM transfers").first<number>("n");
        return Response.json({ elapsedMs, batches: value.batches, state: value.state, transfersLeft: left });
      }
      if (path === "/import") {
        const archive = await requireArchive(env.SHARD, archiveId);
        const { value, elapsedMs } = await timed(() =>
          importArchive(env.SPARE, env.ARCHIVE, archive.manifestKey ?? "", dayEndMs),
        );
        if (!value.ok) throw new Error(`${value.code} ${value.detail}`);
        return Response.json({ elapsedMs, rows: value.rows });
      }
      return new Response("not found", { status: 404 });
    } catch (error) {
      return Response.json({ error: error instanceof Error ? error.message : String(error) }, { status: 500 });
    }
  },
} satisfies ExportedHandler<BenchEnv>;
