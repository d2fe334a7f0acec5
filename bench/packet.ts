/**
 * `npm run bench:packet` — one red packet under a claim storm, side by side in one run:
 *
 *   giftwire       the Worker in workerd (Miniflare, no wrangler proxy): claims serialized in
 *                  the room's Durable Object, each written in one SQLite transaction and durable
 *                  before the answer; credits to wallets through the ledger queue into D1
 *   redis          what engineers usually build: shares pre-split into a Redis list, one Lua
 *                  script per claim, behind a Node HTTP server — nothing durable per claim
 *   redis+commit   the same plus one durable commit per claim (SQLite, WAL, synchronous=FULL,
 *                  a transaction per claim: the "insert the claim into MySQL" step)
 *
 * The packet has BENCH_SHARES (10,000) shares; BENCH_CLAIMERS (50,000) distinct users arrive
 * uniformly within BENCH_ARRIVAL_MS (1,000 ms); 5% of them send their claim a second time
 * shortly after the first (an impatient retry). A `packet_busy` answer is retried after the
 * hint, as a client would. Reported per design (medians of BENCH_REPEATS runs): drain time
 * (first arrival → last claimer answered), claims/s (shares ÷ first arrival → last share
 * won), p50/p99 latency from arrival to a final answer, fsyncs observed in the server
 * processes (strace) and durable commits, and the gates: exactly `shares` winners, each a
 * different user, Σ = total, every share ≥ 1 fen, every repeat answered with its own claim.
 * The servers run on core 0, this load generator on core 1.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { drawLucky } from "../src/domain/red-packet";
import { bundle, fetchRetrying, log, median, ownWorkerdPids, pct, startWorker, token, traceFsyncs } from "./lib";

const SHARES = Number(process.env.BENCH_SHARES ?? 10_000);
const CLAIMERS = Number(process.env.BENCH_CLAIMERS ?? 50_000);
const ARRIVAL_MS = Number(process.env.BENCH_ARRIVAL_MS ?? 1_000);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 256);
const RETRYING = 0.05;
const CEILING_REQUESTS = Number(process.env.BENCH_CEILING_REQUESTS ?? 20_000);
const TOTAL_MINOR = SHARES * 100; // 1.00 a share on average
const DESIGNS = ["giftwire", "redis", "redis+commit"] as const;
type Design = (typeof DESIGNS)[number];
const twoCores = cpus().length >= 2;

const pin = (pid: number, core: number) => {
  if (twoCores) spawnSync("taskset", ["-a", "-p", "-c", String(core), String(pid)]);
};

// ── the HTTP client: one keep-alive pool shared by every design ──────────────────────────

const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });

interface Answer {
  status: number;
  body: {
    claim?: { index: number; amountMinor: number; id?: string };
    error?: { code: string; details?: { retryAfterMs?: number } };
  };
}

function post(port: number, path: string, headers: Record<string, string>, method = "POST"): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path, method, agent, headers }, (res) => {
      let data = "";
      res.setEncoding("utf8");
      res.on("data", (c) => {
        data += c;
      });
      res.on("end", () => {
        let body: Answer["body"] = {};
        try {
          body = JSON.parse(data);
        } catch {
          // an empty or non-JSON body counts as an error below
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on("error", () => resolve({ status: 0, body: {} }));
    req.end();
  });
}

// ── one storm ─────────────────────────────────────────────────────────────────────────

interface Target {
  port: number;
  path: (user: number) => string;
  headers: (user: number) => Record<string, string>;
}

interface RunResult {
  design: Design;
  drainMs: number;
  claimsPerSecond: number;
  latencies: number[];
  requests: number;
  busy: number;
  errors: number;
  fsyncs: number | null;
  /** Durable commits of claims the server made; null where they are group commits (see fsyncs). */
  durableCommits: number | null;
  gates: string[];
  ledgerMs?: number;
  /** Claims on the exhausted packet answered per second (closed loop): the path without the write. */
  ceilingRps: number;
  /** giftwire only: a route that touches neither the room nor D1. */
  healthzRps?: number;
}

async function storm(
  design: Design,
  target: Target,
): Promise<Omit<RunResult, "fsyncs" | "durableCommits" | "ceilingRps">> {
  const arrivals = Array.from({ length: CLAIMERS }, () => Math.random() * ARRIVAL_MS).sort((a, b) => a - b);
  const retrying = new Set<number>();
  while (retrying.size < Math.round(CLAIMERS * RETRYING)) retrying.add(Math.floor(Math.random() * CLAIMERS));
  const wins: { user: number; index: number; amountMinor: number; at: number }[] = [];
  const repeats: { user: number; index: number; amountMinor: number }[] = [];
  const latencies: number[] = [];
  let requests = 0;
  let busy = 0;
  let errors = 0;
  const errorKinds = new Map<string, number>();
  let answered = 0;
  let lastAnswer = 0;

  const t0 = performance.now();
  const claimUntilFinal = async (user: number, arrival: number, isRetry: boolean) => {
    for (;;) {
      requests++;
      const res = await post(target.port, target.path(user), target.headers(user));
      if (res.status === 429) {
        busy++;
        await new Promise((r) => setTimeout(r, res.body.error?.details?.retryAfterMs ?? 500));
        continue;
      }
      const now = performance.now() - t0;
      if (res.status === 201 && res.body.claim) wins.push({ user, ...res.body.claim, at: now });
      else if (res.status === 200 && res.body.claim) repeats.push({ user, ...res.body.claim });
      else if (!(res.status === 409 && res.body.error?.code === "packet_exhausted")) {
        errors++;
        const what = `${res.status} ${res.body.error?.code ?? ""}`.trim();
        errorKinds.set(what, (errorKinds.get(what) ?? 0) + 1);
      }
      if (!isRetry) {
        latencies.push(now - arrival);
        answered++;
      }
      lastAnswer = Math.max(lastAnswer, now);
      return;
    }
  };

  const progress = setInterval(() => {
    log(`    ${design}: ${answered}/${CLAIMERS} answered, ${wins.length}/${SHARES} shares won, ${busy} busy retries`);
  }, 2_000);
  const all: Promise<void>[] = [];
  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now() - t0;
      while (next < CLAIMERS && (arrivals[next] as number) <= now) {
        const user = next;
        const arrival = arrivals[next] as number;
        all.push(claimUntilFinal(user, arrival, false));
        if (retrying.has(user))
          all.push(
            new Promise((r) => setTimeout(r, 20 + Math.random() * 180)).then(() =>
              claimUntilFinal(user, arrival, true),
            ),
          );
        next++;
      }
      if (next < CLAIMERS) setImmediate(tick);
      else resolve();
    };
    tick();
  });
  await Promise.all(all);
  clearInterval(progress);

  const gates: string[] = [];
  const users = new Set(wins.map((w) => w.user));
  const sum = wins.reduce((s, w) => s + w.amountMinor, 0);
  if (wins.length !== SHARES) gates.push(`${wins.length} winners, not ${SHARES}`);
  if (users.size !== wins.length) gates.push(`${wins.length - users.size} users won twice`);
  if (sum !== TOTAL_MINOR) gates.push(`Σ ${sum} ≠ ${TOTAL_MINOR}`);
  if (wins.some((w) => w.amountMinor < 1)) gates.push("a share under 1 fen");
  if (new Set(wins.map((w) => w.index)).size !== wins.length) gates.push("a share index twice");
  const byUser = new Map(wins.map((w) => [w.user, w]));
  const wrongRepeats = repeats.filter((r) => byUser.get(r.user)?.amountMinor !== r.amountMinor).length;
  if (wrongRepeats > 0) gates.push(`${wrongRepeats} repeats answered with another claim`);
  if (errors > 0) gates.push(`${errors} errors (${[...errorKinds].map(([k, n]) => `${n}× ${k}`).join(", ")})`);
  const lastWin = Math.max(...wins.map((w) => w.at));
  return {
    design,
    drainMs: lastAnswer,
    claimsPerSecond: wins.length / (lastWin / 1000),
    latencies,
    requests,
    busy,
    errors,
    gates,
  };
}

/**
 * The transport's ceiling: requests per second for a path with nothing to commit, closed
 * loop over the same connection pool. Claims on an exhausted packet take the whole claim
 * path (auth, routing, the room's checks) except the draw and the write, so durable claims/s
 * divided by this rate is how much of the transport the claim itself costs.
 */
async function ceiling(target: Target, method = "POST"): Promise<number> {
  let next = 0;
  let bad = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < CEILING_REQUESTS) {
        const user = next++ % CLAIMERS;
        const res = await post(target.port, target.path(user), target.headers(user), method);
        if (res.status >= 500 || res.status === 0 || res.status === 429) bad++;
      }
    }),
  );
  if (bad > 0) log(`    (ceiling: ${bad} of ${CEILING_REQUESTS} answers were errors)`);
  return CEILING_REQUESTS / ((performance.now() - t0) / 1000);
}

// ── the designs ───────────────────────────────────────────────────────────────────────

function ensureRedis(): void {
  if (spawnSync("redis-server", ["--version"]).status === 0) return;
  log("▸ installing redis-server from Debian (apt-get)");
  const apt = (args: string[]) => spawnSync("apt-get", args, { stdio: "inherit" }).status === 0;
  if (!apt(["install", "-y", "redis-server"]) && !(apt(["update"]) && apt(["install", "-y", "redis-server"]))) {
    throw new Error("redis-server could not be installed (apt-get); the comparison needs it");
  }
}

function waitForLine(child: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = "";
    child.stdout?.on("data", (c) => {
      seen += c;
      if (seen.includes(text)) resolve();
    });
    child.once("exit", (code) => reject(new Error(`exited with ${code} before "${text}"`)));
  });
}

async function startRedisDesign(durable: boolean, dir: string) {
  const redisPort = 6390 + (durable ? 1 : 0);
  const httpPort = 8790 + (durable ? 1 : 0);
  const redis = spawn("redis-server", ["--port", String(redisPort), "--save", "", "--appendonly", "no"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await waitForLine(redis, "Ready to accept connections");
  const args = ["bench/packet-redis-server.ts", String(httpPort), String(redisPort)];
  if (durable) args.push("--durable", join(dir, "claims.sqlite"));
  const server = spawn(process.execPath, ["--no-warnings", ...args], { stdio: ["ignore", "pipe", "inherit"] });
  await waitForLine(server, "ready");
  for (const p of [redis.pid, server.pid]) if (p) pin(p, 0);
  return {
    pids: [redis.pid, server.pid].filter((p): p is number => p !== undefined),
    httpPort,
    async stop() {
      server.kill();
      redis.kill();
    },
  };
}

let packetSeq = 0;

async function runRedis(durable: boolean, dir: string): Promise<RunResult> {
  const design: Design = durable ? "redis+commit" : "redis";
  const srv = await startRedisDesign(durable, dir);
  try {
    const id = `bench${++packetSeq}`;
    // Pre-split when the packet is sent: the same double-mean rule giftwire draws with.
    const shares: number[] = [];
    let remainingMinor = TOTAL_MINOR;
    for (let left = SHARES; left > 0; left--) {
      const amount = drawLucky({ remainingMinor, remainingShares: left });
      shares.push(amount);
      remainingMinor -= amount;
    }
    await fetch(`http://127.0.0.1:${srv.httpPort}/packet`, { method: "POST", body: JSON.stringify({ id, shares }) });
    const stopTrace = traceFsyncs(srv.pids);
    const result = await storm(design, {
      port: srv.httpPort,
      path: (u) => `/claim?packet=${id}&user=u${u}`,
      headers: () => ({}),
    });
    const fsyncs = await stopTrace();
    const stats = (await (await fetch(`http://127.0.0.1:${srv.httpPort}/stats`)).json()) as { commits: number };
    const ceilingRps = await ceiling({
      port: srv.httpPort,
      path: (u) => `/claim?packet=${id}&user=u${u}`,
      headers: () => ({}),
    });
    return { ...result, fsyncs, durableCommits: stats.commits, ceilingRps };
  } finally {
    await srv.stop();
  }
}

async function giftwireHarness() {
  bundle();
  const { mf, url } = await startWorker({
    queueConsumers: {
      "giftwire-ledger-postings": { maxBatchSize: 100, maxBatchTimeout: 1, maxRetries: 10 },
    },
  });
  const port = Number(new URL(url).port);
  const workerd = ownWorkerdPids();
  log(`▸ signing ${CLAIMERS} tokens`);
  const tokens: string[] = [];
  for (let i = 0; i < CLAIMERS; i++) tokens.push(await token(`u${i}`, ["viewer"]));
  const creator = await token("bench-packet-creator", ["creator"]);
  const ops = await token("bench-ops", ["admin", "finance"]);
  const sender = await token("bench-packet-sender", ["viewer"]);
  const h = (t: string, extra: Record<string, string> = {}) => ({
    authorization: `Bearer ${t}`,
    "content-type": "application/json",
    ...extra,
  });
  const room = (await (
    await fetchRetrying(`${url}/v1/rooms`, {
      method: "POST",
      headers: h(creator),
      body: JSON.stringify({ title: "bench" }),
    })
  ).json()) as { id: string };
  return {
    mf,
    async run(): Promise<RunResult> {
      await fetchRetrying(`${url}/v1/users/bench-packet-sender/wallet/adjustments`, {
        method: "POST",
        headers: h(ops, { "idempotency-key": `fund-${packetSeq}-${Date.now()}` }),
        body: JSON.stringify({ direction: "credit", amount: (TOTAL_MINOR / 100).toFixed(2), reason: "bench funding" }),
      });
      const sent = (await (
        await fetchRetrying(`${url}/v1/rooms/${room.id}/red-packets`, {
          method: "POST",
          headers: h(sender, { "idempotency-key": `packet-${++packetSeq}-${Date.now()}` }),
          body: JSON.stringify({ total: (TOTAL_MINOR / 100).toFixed(2), shares: SHARES, greeting: "bench" }),
        })
      ).json()) as { packet: { id: string } };
      const packetId = sent.packet.id;
      const stopTrace = traceFsyncs(workerd);
      const result = await storm("giftwire", {
        port,
        path: () => `/v1/rooms/${room.id}/red-packets/${packetId}/claims`,
        headers: (u) => ({ authorization: `Bearer ${tokens[u]}` }),
      });
      const fsyncs = await stopTrace();
      // The credits reach the ledger through the queue; wait for all, then check the invariants.
      const db = await mf.getD1Database("DB");
      const start = performance.now();
      let credited = 0;
      while (performance.now() - start < 120_000) {
        credited =
          (await db
            .prepare("SELECT credited_count FROM red_packets WHERE id = ?")
            .bind(packetId)
            .first<number>("credited_count")) ?? 0;
        if (credited >= SHARES) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const ledgerMs = performance.now() - start;
      if (credited !== SHARES) result.gates.push(`${credited} of ${SHARES} credited in the ledger`);
      const invariants = (await (
        await fetchRetrying(`${url}/v1/admin/ledger/invariants`, { headers: h(ops) })
      ).json()) as {
        ok: boolean;
        violationCount: number;
      };
      if (!invariants.ok) result.gates.push(`${invariants.violationCount} ledger invariant violations`);
      const ceilingRps = await ceiling({
        port,
        path: () => `/v1/rooms/${room.id}/red-packets/${packetId}/claims`,
        headers: (u) => ({ authorization: `Bearer ${tokens[u]}` }),
      });
      const healthzRps = await ceiling({ port, path: () => "/healthz", headers: () => ({}) }, "GET");
      // Claims are group-committed: one SQLite transaction (and one durable commit) per batch.
      return { ...result, fsyncs, durableCommits: null, ledgerMs, ceilingRps, healthzRps };
    },
  };
}

// ── main ──────────────────────────────────────────────────────────────────────────────

ensureRedis();
const dir = mkdtempSync(join(tmpdir(), "giftwire-redis-"));
if (twoCores) pin(process.pid, 1);
const harness = await giftwireHarness();
for (const pid of ownWorkerdPids()) pin(pid, 0);
log(
  `▸ ${SHARES} shares, ${CLAIMERS} claimers within ${ARRIVAL_MS} ms (5% retrying), ${REPEATS} repeats, ${CONNECTIONS} connections`,
);
const runs: RunResult[] = [];
for (let r = 1; r <= REPEATS; r++) {
  for (const design of DESIGNS) {
    log(`▸ run ${r}/${REPEATS}: ${design}`);
    const result = design === "giftwire" ? await harness.run() : await runRedis(design === "redis+commit", dir);
    runs.push(result);
    log(
      `    drain ${(result.drainMs / 1000).toFixed(2)} s, ${result.claimsPerSecond.toFixed(0)} claims/s, p50/p99 ${pct(result.latencies, 50).toFixed(0)}/${pct(result.latencies, 99).toFixed(0)} ms, ` +
        `${result.busy} busy retries, fsyncs ${result.fsyncs ?? "n/a"}, gates ${result.gates.length === 0 ? "PASS" : result.gates.join("; ")}`,
    );
  }
}
await harness.mf.dispose();
rmSync(dir, { recursive: true, force: true });

const rows = DESIGNS.map((design) => {
  const mine = runs.filter((r) => r.design === design);
  const fs = mine.map((r) => r.fsyncs).filter((f): f is number => f !== null);
  const passed = mine.filter((r) => r.gates.length === 0).length;
  return {
    design,
    drain: median(mine.map((r) => r.drainMs)) / 1000,
    cps: median(mine.map((r) => r.claimsPerSecond)),
    p50: median(mine.map((r) => pct(r.latencies, 50))),
    p99: median(mine.map((r) => pct(r.latencies, 99))),
    busy: median(mine.map((r) => r.busy)),
    fsyncs: fs.length === 0 ? "n/a" : String(median(fs)),
    commits: mine.some((r) => r.durableCommits === null)
      ? "group commits"
      : String(median(mine.map((r) => r.durableCommits ?? 0))),
    ceiling: median(mine.map((r) => r.ceilingRps)),
    healthz: mine.some((r) => r.healthzRps !== undefined)
      ? `; healthz ${median(mine.map((r) => r.healthzRps ?? 0)).toFixed(0)}/s`
      : "",
    ledger: mine[0]?.ledgerMs === undefined ? "—" : `${(median(mine.map((r) => r.ledgerMs ?? 0)) / 1000).toFixed(1)} s`,
    gates: `${passed}/${mine.length}`,
  };
});
const table = [
  "| design | drain (s) | claims/s | claim latency p50 / p99 (ms) | busy retries | fsyncs observed | durable claim commits | all credited in D1 after | path without the claim (req/s) | runs passing the gates |",
  "|---|---:|---:|---|---:|---:|---:|---:|---|---:|",
  ...rows.map(
    (r) =>
      `| ${r.design} | ${r.drain.toFixed(2)} | ${r.cps.toFixed(0)} | ${r.p50.toFixed(0)} / ${r.p99.toFixed(0)} | ${r.busy} | ${r.fsyncs} | ${r.commits} | ${r.ledger} | ${r.ceiling.toFixed(0)}${r.healthz} | ${r.gates} |`,
  ),
].join("\n");
const gw = rows.find((r) => r.design === "giftwire");
const rc = rows.find((r) => r.design === "redis+commit");
const rn = rows.find((r) => r.design === "redis");
log("\nResults (medians):");
log(table);
if (gw && rc && rn)
  log(
    `\ngiftwire vs redis+commit: ${(gw.cps / rc.cps).toFixed(1)}× the claims/s (target ≥ 3×); vs redis (not durable): ${((100 * gw.cps) / rn.cps).toFixed(0)}%` +
      `\ngiftwire's durable claims/s are ${((100 * gw.cps) / gw.ceiling).toFixed(0)}% of what its transport answers without a claim (${gw.ceiling.toFixed(0)} req/s); redis's transport answers ${rn.ceiling.toFixed(0)} req/s`,
  );
writeFileSync("bench/.last-packet.md", `${table}\n`);
log("(table also written to bench/.last-packet.md)");
