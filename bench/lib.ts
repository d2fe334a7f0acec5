/**
 * What the benchmarks share: the Worker bundle, workerd through Miniflare 4 (its stable,
 * documented options API), core pinning, tokens, statistics, retrying fetch.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { SignJWT } from "jose";
import { Miniflare, type MiniflareOptions } from "miniflare";
import { putOperator } from "../dev/operators";
import { RATE_LIMITS } from "../src/domain/rate-limits";

export const SECRET = "bench-secret-bench-secret-bench-secret-0123456789";
export const ISSUER = "https://auth.giftwire.example";
export const AUDIENCE = "giftwire-api";
export const log = (msg: string) => process.stdout.write(`${msg}\n`);
export const median = (xs: number[]) => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] as number);
};
export const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number);
};

/**
 * The workerd processes this bench started (Miniflare's children): never another session's,
 * which a machine-wide `pgrep` would also find, pin and trace.
 */
export function ownWorkerdPids(): number[] {
  return spawnSync("pgrep", ["-P", String(process.pid), "-f", "workerd serve"], { encoding: "utf8" })
    .stdout.trim()
    .split("\n")
    .filter(Boolean)
    .map(Number);
}

// ── build and start ───────────────────────────────────────────────────────────────────

/** Applies a migrations folder to a D1 database as wrangler does: each file's statements, in order. */
export async function applyMigrations(db: D1Database, dir: "migrations/control" | "migrations/ledger"): Promise<void> {
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort()) {
    for (const statement of readFileSync(`${dir}/${file}`, "utf8").split("--> statement-breakpoint")) {
      if (statement.trim()) await db.prepare(statement).run();
    }
  }
}

/** The ledger shards the benches run the Worker with (LEDGER_SHARDS), as `npm start` does. */
export const BENCH_SHARDS = 2;
/** The operator every bench funds wallets and checks invariants as. */
export const BENCH_OPERATOR = "bench-ops";

/** A JSON API request's headers: the bearer token, and the Idempotency-Key when given. */
export function apiHeaders(bearer: string, idempotencyKey?: string): Record<string, string> {
  return {
    authorization: `Bearer ${bearer}`,
    "content-type": "application/json",
    "cf-connecting-ip": benchAddress(bearer),
    ...(idempotencyKey ? { "idempotency-key": idempotencyKey } : {}),
  };
}

/**
 * A client address per simulated user (by token or number), in 198.18.0.0/15, the range set
 * aside for benchmarks (RFC 2544). The gateway limits money requests per address
 * (src/domain/rate-limits.ts) as in production, where a crowd arrives from many addresses;
 * without this every bench request would come from 127.0.0.1 and the load would measure the
 * limit. Miniflare keeps a CF-Connecting-IP the client sends (Cloudflare's edge never would).
 */
export function benchAddress(user: string | number): string {
  let n = typeof user === "number" ? user : 0;
  if (typeof user === "string") for (const ch of user) n = (n * 31 + ch.charCodeAt(0)) >>> 0;
  n %= 1 << 17;
  return `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
}
const SHARD_BINDINGS = Array.from({ length: BENCH_SHARDS }, (_, i) => `LEDGER_${i}`);

export function bundle(): void {
  log("▸ bundling the Worker (wrangler deploy --dry-run)");
  execFileSync("wrangler", ["deploy", "--dry-run", "--outdir", "bench/.build"], { stdio: "ignore" });
}

export async function startWorker(extra: Partial<MiniflareOptions> & { bindings?: Record<string, string> } = {}) {
  const { bindings: extraBindings, ...rest } = extra;
  // Miniflare 4 (its own workerd 1.20260730): the stable, documented options API. The
  // compatibility date is that workerd's newest; nothing the Worker uses changed since.
  const mf = new Miniflare({
    // The Worker's request logs would drown the figures; errors still surface as failures.
    handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
      stdout.resume();
      // Errors are kept for reading after a run (the figures stay on the terminal).
      stderr.pipe(createWriteStream("bench/.workerd-stderr.log"));
    },
    modules: true,
    scriptPath: "bench/.build/index.js",
    compatibilityDate: "2026-07-30",
    d1Databases: ["CONTROL", ...SHARD_BINDINGS],
    durableObjects: {
      LIVE_ROOM: { className: "LiveRoom", useSQLite: true },
      ROOM_FAN_OUT: { className: "RoomFanOut", useSQLite: true },
      RISK_DESK: { className: "RiskDesk", useSQLite: true },
    },
    // wrangler.toml's [[ratelimits]] (the same figures, src/domain/rate-limits.ts).
    ratelimits: Object.fromEntries(
      Object.values(RATE_LIMITS).map((r) => [
        r.binding,
        { namespace_id: r.namespaceId, simple: { limit: r.limit, period: r.periodS } },
      ]),
    ),
    queueProducers: {
      ROOM_EVENTS: { queueName: "giftwire-room-events" },
      LEDGER_POSTINGS: { queueName: "giftwire-ledger-postings" },
      PAYMENT_CALLBACKS: { queueName: "giftwire-payment-callbacks" },
    },
    bindings: {
      ENVIRONMENT: "development",
      LEDGER_SHARDS: String(BENCH_SHARDS),
      JWT_ISSUER: ISSUER,
      JWT_AUDIENCE: AUDIENCE,
      JWT_SECRET: SECRET,
      JWT_PUBLIC_JWK: "",
      PLATFORM_SHARE_BPS: "3000",
      TIP_CUSTOM_MIN_MINOR: "100",
      TIP_CUSTOM_MAX_MINOR: "5000000",
      CORS_ORIGINS: "",
      WS_ORIGINS: "",
      ROOM_MERGE_WINDOW_MS: "3000",
      // As wrangler.toml; bench:room sets its own.
      ROOM_FAN_OUT_THRESHOLD: "2000",
      ROOM_FAN_OUT_SHARDS: "8",
      PAYMENT_NOTIFICATION_RETENTION_DAYS: "180",
      PAYMENT_METHODS: "{}",
      PAYMENT_CHANNELS: "{}",
      AUTOPAY_PER_TIP_DEFAULT_MINOR: "20000",
      AUTOPAY_PER_DAY_DEFAULT_MINOR: "100000",
      BUSINESS_TIME_ZONE: "Asia/Shanghai",
      ...extraBindings,
    },
    ...rest,
  } as MiniflareOptions);
  const url = await mf.ready;
  const control = await mf.getD1Database("CONTROL");
  await applyMigrations(control, "migrations/control");
  // The benches' operator (`token("bench-ops", …)`), in the operator directory: its roles there,
  // not the token's claim, are what the operator routes check.
  await putOperator(
    control,
    { id: BENCH_OPERATOR, displayName: BENCH_OPERATOR, roles: ["admin", "finance"] },
    "bench",
    Date.now(),
  );
  for (const binding of SHARD_BINDINGS) await applyMigrations(await mf.getD1Database(binding), "migrations/ledger");
  // Pin workerd to core 0 and this load generator to core 1 where the machine has two.
  if (cpus().length >= 2) {
    for (const pid of ownWorkerdPids()) spawnSync("taskset", ["-a", "-p", "-c", "0", String(pid)]);
    spawnSync("taskset", ["-a", "-p", "-c", "1", String(process.pid)]);
  }
  return { mf, url: url.toString().replace(/\/$/, "") };
}

export const token = (userId: string, roles: string[]) =>
  new SignJWT({ roles })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(userId)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setExpirationTime("2h")
    .sign(new TextEncoder().encode(SECRET));

/** fetch with retries on dropped connections: setup and teardown must not die of a reset. */
export async function fetchRetrying(input: string, init?: RequestInit): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetch(input, init);
    } catch (error) {
      if (attempt >= 5) throw error;
      await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
    }
  }
}

// ── fsync counting: strace on the server processes while a measurement runs ─────────────

/** Counts fsync/fdatasync calls in `pids` from now until the returned stop (null without strace). */
export function traceFsyncs(pids: number[]): () => Promise<number | null> {
  if (process.env.BENCH_STRACE === "0" || spawnSync("strace", ["-V"]).status !== 0) return async () => null;
  const dir = mkdtempSync(join(tmpdir(), "giftwire-bench-"));
  const tracers = pids.map((pid, i) =>
    spawn(
      "strace",
      ["-f", "--seccomp-bpf", "-c", "-e", "trace=fsync,fdatasync", "-o", join(dir, `t${i}`), "-p", String(pid)],
      {
        stdio: "ignore",
      },
    ),
  );
  return async () => {
    let total = 0;
    for (const [i, t] of tracers.entries()) {
      // A tracer that already ended (its process gone) has nothing left to wait for.
      if (t.exitCode === null && t.signalCode === null) {
        const done = new Promise((r) => t.once("exit", r));
        t.kill("SIGINT");
        await done;
      }
      const file = join(dir, `t${i}`);
      if (!existsSync(file)) return null;
      for (const line of readFileSync(file, "utf8").split("\n")) {
        const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync)$/.exec(line);
        if (m) total += Number(m[1]);
      }
    }
    rmSync(dir, { recursive: true, force: true });
    return total;
  };
}
