/**
 * `npm run bench:archive` — what archiving one ledger shard's closed period costs, locally:
 * a day of gift tips (BENCH_ARCHIVE_TIPS, 20,000 by default: 40,000 transfers, ~100,000 rows)
 * is written into a shard, then exported to R2, verified, pruned and read back into an empty
 * shard, each phase timed on its own, by the product's code (src/db/archive) in workerd through
 * Miniflare (bench/archive-worker.ts, bundled with esbuild into bench/.build-archive/).
 *
 * Prints rows/s per phase and the archive's size: bytes per transfer uncompressed and gzip,
 * the compression ratio. BENCH_D1=disk (default) keeps D1 and R2 in a temporary directory,
 * as production keeps them on disk; BENCH_D1=memory keeps them in memory. The numbers are
 * written to bench/.last-archive.md.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import type { Manifest } from "../src/db/archive/format";
import type { SeedRequest } from "./archive-worker";
import { applyMigrations, log } from "./lib";

const TIPS = Number(process.env.BENCH_ARCHIVE_TIPS ?? 20_000);
const STORAGE = process.env.BENCH_D1 ?? "disk";
if (!Number.isInteger(TIPS) || TIPS < 1 || TIPS > 1_000_000) throw new Error("BENCH_ARCHIVE_TIPS: 1 … 1,000,000");
if (STORAGE !== "disk" && STORAGE !== "memory") throw new Error("BENCH_D1: disk or memory");

log("▸ bundling bench/archive-worker.ts (esbuild → bench/.build-archive/)");
await build({
  entryPoints: ["bench/archive-worker.ts"],
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  outfile: "bench/.build-archive/index.js",
  external: ["cloudflare:*", "node:*"],
  logLevel: "warning",
});

const persistDir = STORAGE === "disk" ? mkdtempSync(join(tmpdir(), "giftwire-bench-archive-")) : null;
const mf = new Miniflare({
  handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
    stdout.resume();
    stderr.pipe(process.stderr);
  },
  modules: true,
  scriptPath: "bench/.build-archive/index.js",
  compatibilityDate: "2026-07-30",
  d1Databases: ["SHARD", "SPARE"],
  r2Buckets: ["ARCHIVE"],
  d1Persist: persistDir === null ? false : join(persistDir, "d1"),
  r2Persist: persistDir === null ? false : join(persistDir, "r2"),
});

async function call<T>(path: string, body: unknown = {}): Promise<T> {
  const res = await fetch(`${url}${path}`, { method: "POST", body: JSON.stringify(body) });
  const answer = (await res.json()) as T & { error?: string };
  if (!res.ok || answer.error !== undefined) throw new Error(`${path}: ${answer.error ?? res.status}`);
  return answer;
}

const url = (await mf.ready).toString().replace(/\/$/, "");
let failed = false;
try {
  for (const binding of ["SHARD", "SPARE"]) await applyMigrations(await mf.getD1Database(binding), "migrations/ledger");
  const emptyBytes = (await call<{ bytes: number }>("/size")).bytes;
  const day = { tips: TIPS, viewers: 2_000, creators: 50, startMs: Date.UTC(2026, 0, 1) };
  log(`▸ seeding one day: ${TIPS} tips by ${day.viewers} viewers to ${day.creators} creators (untimed) …`);
  const slice = 10_000;
  for (let from = 0; from < TIPS; from += slice) {
    await call("/seed", { ...day, from, count: slice } satisfies SeedRequest);
  }
  const seededBytes = (await call<{ bytes: number }>("/size")).bytes;

  log("▸ export (start, plan, render, gzip, put, checkpoint, manifest) …");
  const exported = await call<{ elapsedMs: number; steps: number; manifest: Manifest }>("/export");
  const m = exported.manifest;
  const rows = Object.values(m.totals.rows).reduce((a, b) => a + b, 0);
  const transfers = m.totals.rows.transfers ?? 0;
  const rawBytes = [...m.files, ...m.checkpointFiles].reduce((s, f) => s + f.rawBytes, 0);
  const gzBytes = [...m.files, ...m.checkpointFiles].reduce((s, f) => s + f.gzBytes, 0);
  log("▸ verify (read back from R2, both digests, every line) …");
  const verified = await call<{ elapsedMs: number }>("/verify");
  log("▸ prune …");
  const pruned = await call<{ elapsedMs: number; batches: number; transfersLeft: number }>("/prune");
  log("▸ re-import into an empty shard, rendered again and compared …");
  const imported = await call<{ elapsedMs: number }>("/import");

  const perSecond = (n: number, ms: number) => Math.round((n * 1000) / Math.max(ms, 1)).toLocaleString("en");
  const table = [
    `Archive of one day: ${TIPS.toLocaleString("en")} tips (${transfers.toLocaleString("en")} transfers, ${rows.toLocaleString("en")} rows in ${m.files.length} data files; ${m.totals.checkpointAccounts.toLocaleString("en")} checkpoint accounts in ${m.checkpointFiles.length} files), D1 and R2 on ${STORAGE}.`,
    "",
    "| phase | ms | rows/s | transfers/s |",
    "| --- | ---: | ---: | ---: |",
    `| export | ${exported.elapsedMs} | ${perSecond(rows, exported.elapsedMs)} | ${perSecond(transfers, exported.elapsedMs)} |`,
    `| verify | ${verified.elapsedMs} | ${perSecond(rows, verified.elapsedMs)} | ${perSecond(transfers, verified.elapsedMs)} |`,
    `| prune (${pruned.batches} batches) | ${pruned.elapsedMs} | ${perSecond(rows, pruned.elapsedMs)} | ${perSecond(transfers, pruned.elapsedMs)} |`,
    `| re-import + re-render | ${imported.elapsedMs} | ${perSecond(rows, imported.elapsedMs)} | ${perSecond(transfers, imported.elapsedMs)} |`,
    "",
    `Size: ${rawBytes.toLocaleString("en")} bytes uncompressed, ${gzBytes.toLocaleString("en")} gzip (${(rawBytes / gzBytes).toFixed(1)}×); ` +
      `per transfer ${(rawBytes / transfers).toFixed(0)} bytes uncompressed, ${(gzBytes / transfers).toFixed(1)} gzip ` +
      `(operation, tip row and checkpoint share included).`,
    `In D1 the same day took ${(seededBytes - emptyBytes).toLocaleString("en")} bytes, ${((seededBytes - emptyBytes) / transfers).toFixed(0)} per transfer ` +
      `(rows and indexes): the archive is ${((seededBytes - emptyBytes) / gzBytes).toFixed(0)}× smaller.`,
    `Left in the shard after pruning: ${pruned.transfersLeft} transfers (the viewers' fundings are archived too).`,
  ].join("\n");
  log(`\n${table}\n`);
  writeFileSync("bench/.last-archive.md", `${table}\n`);
} catch (error) {
  failed = true;
  log(`\n✗ ${error instanceof Error ? error.message : String(error)}`);
} finally {
  await mf.dispose();
  if (persistDir !== null) rmSync(persistDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
