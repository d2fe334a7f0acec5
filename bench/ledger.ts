/**
 * `npm run bench:ledger` — the write throughput of ONE ledger database (D1 in workerd through
 * Miniflare: the engine one shard is), for the same money operations posted two ways in one run:
 *
 *   autocommit     each operation in its own `db.batch()`: one D1 round trip and one commit per
 *                  operation (also with several in flight at once, as many Workers would)
 *   group commit   BENCH_BATCH_SIZES operations per `db.batch()`: one round trip and one commit
 *                  per batch, each operation still guarded on its own (docs/adr/0001)
 *
 * Workloads (BENCH_WORKLOADS): `claim` — red-packet claim credits through packet-claim.ts's
 * `postClaimCredits` (escrow → claimer's wallet: one posting, each claimer a new wallet);
 * `tip` — gift tips through tip.ts's `composeTip` (viewer's wallet → creator's pending and
 * platform revenue: two postings). The operations are the product's own files, no bench SQL.
 *
 * Each run seeds its own packet or room and funded wallets (untimed), posts BENCH_OPERATIONS
 * operations, and is then verified in the Worker (untimed): every verdict posted, exactly that
 * many operations in the ledger with the transfers they declare, ledger invariants clean. A
 * failed check ends the bench with exit code 1. Modes run interleaved, BENCH_REPEATS times,
 * against one database that grows as they go; the table shows medians. The bench Worker is
 * bench/ledger-worker.ts, bundled with esbuild into bench/.build-ledger/.
 *
 * BENCH_D1=disk (default) keeps the database in a temporary directory on disk, as a shard's
 * is; BENCH_D1=memory keeps it in memory.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import type { RunRequest, RunResult, Workload } from "./ledger-worker";
import { applyMigrations, log, median, ownWorkerdPids, pct, traceFsyncs } from "./lib";

const list = (value: string | undefined, fallback: string) =>
  (value ?? fallback)
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
const OPERATIONS = Number(process.env.BENCH_OPERATIONS ?? 1_500);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const BATCH_SIZES = list(process.env.BENCH_BATCH_SIZES, "50,100,200,500").map(Number);
const CONCURRENCIES = list(process.env.BENCH_AUTOCOMMIT_CONCURRENCY, "1,16").map(Number);
const WORKLOADS = list(process.env.BENCH_WORKLOADS, "claim,tip") as Workload[];
const STORAGE = process.env.BENCH_D1 ?? "disk";
const TRACE = process.env.BENCH_STRACE !== "0";
const SQL_PARAMS_MAX = 100;

for (const [name, values] of [
  ["BENCH_OPERATIONS", [OPERATIONS]],
  ["BENCH_REPEATS", [REPEATS]],
  ["BENCH_BATCH_SIZES", BATCH_SIZES],
  ["BENCH_AUTOCOMMIT_CONCURRENCY", CONCURRENCIES],
] as const) {
  if (values.length === 0 || values.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new Error(`${name} must be positive integers`);
  }
}
if (WORKLOADS.some((w) => w !== "claim" && w !== "tip")) throw new Error("BENCH_WORKLOADS: claim, tip");
if (STORAGE !== "disk" && STORAGE !== "memory") throw new Error("BENCH_D1: disk or memory");

interface Mode {
  readonly label: string;
  readonly batchSize: number;
  readonly concurrency: number;
}
const MODES: Mode[] = [
  ...CONCURRENCIES.map((c) => ({
    label: c === 1 ? "autocommit" : `autocommit, ${c} in flight`,
    batchSize: 1,
    concurrency: c,
  })),
  ...BATCH_SIZES.map((b) => ({ label: "group commit", batchSize: b, concurrency: 1 })),
];
// The speed-up is against one operation per batch, one batch at a time.
const BASELINE = MODES.find((m) => m.batchSize === 1 && m.concurrency === 1);

// ── build and start ───────────────────────────────────────────────────────────────────

log("▸ bundling bench/ledger-worker.ts (esbuild → bench/.build-ledger/)");
await build({
  entryPoints: ["bench/ledger-worker.ts"],
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  outfile: "bench/.build-ledger/index.js",
  external: ["cloudflare:*", "node:*"],
  logLevel: "warning",
});

const persistDir = STORAGE === "disk" ? mkdtempSync(join(tmpdir(), "giftwire-bench-ledger-")) : null;
const mf = new Miniflare({
  handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
    stdout.resume();
    stderr.pipe(process.stderr);
  },
  modules: true,
  scriptPath: "bench/.build-ledger/index.js",
  compatibilityDate: "2026-07-30",
  d1Databases: ["CONTROL", "LEDGER_0"],
  d1Persist: persistDir ?? false,
});
const url = (await mf.ready).toString().replace(/\/$/, "");
await applyMigrations(await mf.getD1Database("CONTROL"), "migrations/control");
await applyMigrations(await mf.getD1Database("LEDGER_0"), "migrations/ledger");
const workerdPids = ownWorkerdPids();
// Pin workerd to core 0 and this driver to core 1 where the machine has two.
if (cpus().length >= 2) {
  for (const pid of workerdPids) spawnSync("taskset", ["-a", "-p", "-c", "0", String(pid)]);
  spawnSync("taskset", ["-a", "-p", "-c", "1", String(process.pid)]);
}

// ── runs ──────────────────────────────────────────────────────────────────────────────

interface Measured extends RunResult {
  readonly label: string;
  /** fsync/fdatasync calls workerd made while the operations were posted (traced runs only). */
  readonly fsyncs: number | null;
}

async function call<T>(path: string, body: unknown, what: string): Promise<T> {
  const res = await fetch(`${url}${path}`, { method: "POST", body: JSON.stringify(body) });
  const answer = (await res.json()) as T | { error: string };
  if (!res.ok || (typeof answer === "object" && answer !== null && "error" in answer)) {
    throw new Error(`${what} ${path}: ${(answer as { error?: string }).error ?? res.status}`);
  }
  return answer as T;
}

async function runOnce(workload: Workload, mode: Mode, runId: string, operations: number, trace: boolean) {
  const what = `${workload} · ${mode.label} ×${mode.batchSize}`;
  const request: RunRequest = {
    workload,
    runId,
    operations,
    batchSize: mode.batchSize,
    concurrency: mode.concurrency,
  };
  await call("/seed", request, what);
  const stopTrace = trace ? traceFsyncs(workerdPids) : async () => null;
  // strace needs a moment to attach before the first commit it should see.
  if (trace) await new Promise((r) => setTimeout(r, 300));
  const measured = await call<RunResult>("/post", { runId }, what);
  const fsyncs = await stopTrace();
  await call("/verify", { runId }, what);
  return { ...measured, label: mode.label, fsyncs };
}

const perSecond = (n: number, ms: number) => (ms > 0 ? (n * 1000) / ms : Number.POSITIVE_INFINITY);
const describe = (w: Workload, m: Mode) =>
  `${w} · ${m.label}${m.batchSize > 1 ? `, ${m.batchSize} operations per batch` : ""}`;

log(
  `▸ one ledger database (D1 in workerd, ${STORAGE}); ${OPERATIONS} operations per run; workloads ${WORKLOADS.join(", ")}; ` +
    `${MODES.length} modes × ${REPEATS} repeats`,
);
const results: Measured[] = [];
/** Untimed: strace slows workerd many times over, so commits are counted in runs of their own. */
const traced: Measured[] = [];
let failed = false;
const t0 = performance.now();
try {
  let n = 0;
  for (let r = 1; r <= REPEATS; r++) {
    for (const workload of WORKLOADS) {
      for (const mode of MODES) {
        log(`▸ run ${r}/${REPEATS}: ${describe(workload, mode)} …`);
        const m = await runOnce(workload, mode, `r${r}n${n++}`, OPERATIONS, false);
        results.push(m);
        log(
          `    ${m.elapsedMs} ms: ${perSecond(m.operations, m.elapsedMs).toFixed(0)} operations/s, ` +
            `${perSecond(m.postings, m.elapsedMs).toFixed(0)} postings/s, ${perSecond(m.rowsChanged, m.elapsedMs).toFixed(0)} rows/s ` +
            `(${m.batches} batches, ${m.statements} statements); verified: ${m.operations} posted exactly once, invariants hold`,
        );
      }
    }
  }
  if (TRACE && spawnSync("strace", ["-V"]).status === 0 && workerdPids.length > 0) {
    for (const workload of WORKLOADS) {
      // One commit per batch is the claim: checked at both ends, autocommit and the largest batch.
      for (const mode of MODES.filter((m) => m === BASELINE || m === MODES.at(-1))) {
        const operations = Math.min(OPERATIONS, 200);
        log(`▸ counting commits (strace, untimed): ${describe(workload, mode)}, ${operations} operations …`);
        const m = await runOnce(workload, mode, `t${n++}`, operations, true);
        traced.push(m);
        log(`    ${m.fsyncs ?? "n/a"} fsyncs for ${m.batches} batches; verified`);
      }
    }
  }
} catch (error) {
  failed = true;
  log(`\n✗ ${error instanceof Error ? error.message : String(error)}`);
} finally {
  await mf.dispose();
  if (persistDir) rmSync(persistDir, { recursive: true, force: true });
}
if (failed) {
  process.exitCode = 1;
} else {
  log(`▸ done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  report();
}

// ── the table ─────────────────────────────────────────────────────────────────────────

function report(): void {
  const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : "—");
  const lines: string[] = [];
  const rows = WORKLOADS.flatMap((workload) => {
    const of = (m: Mode) =>
      results.filter((r) => r.workload === workload && r.batchSize === m.batchSize && r.concurrency === m.concurrency);
    const baseline = BASELINE ? median(of(BASELINE).map((r) => perSecond(r.postings, r.elapsedMs))) : Number.NaN;
    const workloadRows = MODES.map((mode) => {
      const mine = of(mode);
      const batchMs = mine.flatMap((r) => r.batchMs);
      const counted = traced.filter(
        (r) => r.workload === workload && r.batchSize === mode.batchSize && r.concurrency === mode.concurrency,
      );
      const postingsPerSecond = median(mine.map((r) => perSecond(r.postings, r.elapsedMs)));
      return {
        workload,
        mode,
        opsPerSecond: median(mine.map((r) => perSecond(r.operations, r.elapsedMs))),
        postingsPerSecond,
        rowsPerSecond: median(mine.map((r) => perSecond(r.rowsChanged, r.elapsedMs))),
        rowsWrittenPerSecond: median(mine.map((r) => perSecond(r.rowsWritten, r.elapsedMs))),
        /** Wall time per operation: elapsed ÷ operations. */
        msPerOperation: median(mine.map((r) => r.elapsedMs / r.operations)),
        meanBatchMs: median(mine.map((r) => r.elapsedMs / r.batches)),
        p50: pct(batchMs, 50),
        p99: pct(batchMs, 99),
        fsyncsPerBatch: counted[0]?.fsyncs == null ? Number.NaN : counted[0].fsyncs / counted[0].batches,
        sqlShare: median(mine.map((r) => r.sqlMs / r.elapsedMs)),
        speedUp: postingsPerSecond / baseline,
      };
    });
    // A batch costs a fixed part F (round trip, commit) plus c per operation in it. The largest
    // group batch gives c (its F is spread thin); autocommit gives F + c. The speed-up group
    // commit can reach is then at most (F + c) / c, and 50× needs F ≥ 49·c.
    const auto = workloadRows.find((r) => r.mode === BASELINE);
    const largest = workloadRows.filter((r) => r.mode.batchSize > 1).at(-1);
    if (auto && largest) {
      const c = largest.msPerOperation;
      const fixed = auto.msPerOperation - c;
      const top = workloadRows.reduce((a, b) => (b.speedUp > a.speedUp ? b : a));
      lines.push(
        `${workload}: best group commit ${f0(top.postingsPerSecond)} postings/s at ${top.mode.batchSize} per batch = ` +
          `${top.speedUp.toFixed(1)}× autocommit (target ≥ 50×: ${top.speedUp >= 50 ? "met" : "NOT met here"}). ` +
          `Per batch ≈ ${fixed.toFixed(2)} ms fixed (round trip + commit) + ${c.toFixed(2)} ms per operation in it, ` +
          `so group commit here cannot pass ≈ ${((fixed + c) / c).toFixed(1)}×; 50× would need a fixed cost ≥ ${(49 * c).toFixed(1)} ms per batch.`,
      );
    }
    return workloadRows;
  });
  const table = [
    "| workload | mode | operations per batch | operations/s | postings/s | rows/s (changed) | rows/s (D1 rows_written) | ms per batch: mean · p50 · p99 | fsyncs per batch | time inside SQLite | speed-up vs autocommit (postings/s) |",
    "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.workload} | ${r.mode.label} | ${r.mode.batchSize} | ${f0(r.opsPerSecond)} | ${f0(r.postingsPerSecond)} | ${f0(r.rowsPerSecond)} | ${f0(r.rowsWrittenPerSecond)} | ${r.meanBatchMs.toFixed(2)} · ${r.p50} · ${r.p99} | ${Number.isNaN(r.fsyncsPerBatch) ? "n/a" : r.fsyncsPerBatch.toFixed(2)} | ${(100 * r.sqlShare).toFixed(0)}% | ${r.speedUp.toFixed(1)}× |`,
    ),
  ].join("\n");
  const notes = [
    ...lines,
    `${OPERATIONS} operations per run, ${REPEATS} repeats, medians; one D1 database in workerd (Miniflare), on ${STORAGE}.`,
    "A claim is 10 statements and 1 posting, a gift tip 13 statements and 2 postings; inside a group batch every operation keeps its own guards.",
    `A group batch is bounded by its statements, not by a count: each binds ≤ ${SQL_PARAMS_MAX} parameters (asserted in src/db/ledger.ts).`,
    "p50/p99 per batch come from workerd's clock, which moves in whole milliseconds at I/O; the mean is elapsed ÷ batches.",
    "fsyncs per batch: strace on workerd in separate, untimed runs of 200 operations, autocommit and the largest batch (strace slows workerd many times over); BENCH_STRACE=0 skips it.",
  ];
  log("\nResults (medians):");
  log(table);
  log("");
  for (const line of notes) log(line);
  writeFileSync("bench/.last-ledger.md", `${table}\n\n${notes.map((l) => `- ${l}`).join("\n")}\n`);
  log("(table also written to bench/.last-ledger.md)");
}
