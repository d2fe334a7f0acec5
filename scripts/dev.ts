/**
 * `npm start`: the whole service on this machine, in workerd, with a demo room.
 *
 *   1. creates .dev.vars with a fresh random JWT_SECRET on first start (never committed);
 *   2. applies the D1 migrations to the local database;
 *   3. runs `wrangler dev` (local D1 in .wrangler/state) with ENVIRONMENT=development,
 *      which enables the token-minting and demo-seed routes;
 *   4. seeds the demo idempotently and prints the URL, the demo room and tokens.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";

const port = Number(process.env.PORT ?? 8787);
const base = `http://127.0.0.1:${port}`;

function step(message: string): void {
  console.log(`\x1b[36m▸\x1b[0m ${message}`);
}

if (!existsSync(".dev.vars") || !/^JWT_SECRET=.{32,}$/m.test(readFileSync(".dev.vars", "utf8"))) {
  step("Creating .dev.vars with a new random JWT_SECRET (local only, git-ignored)");
  writeFileSync(".dev.vars", `JWT_SECRET=${randomBytes(32).toString("base64url")}\n`, { mode: 0o600 });
}
if (!/^PAYMENT_CHANNELS=/m.test(readFileSync(".dev.vars", "utf8"))) {
  step("Enabling the sandbox payment channel in .dev.vars (a random local signing secret)");
  // Callbacks arrive 0.5–2 s after the payer decides, and one in ten arrives twice, as real providers' do.
  const channels = {
    sandbox: {
      secret: randomBytes(24).toString("base64url"),
      merchantId: "giftwire-sandbox",
      deliveryDelayMs: [500, 2000],
      duplicateRate: 0.1,
    },
  };
  appendFileSync(".dev.vars", `PAYMENT_CHANNELS=${JSON.stringify(channels)}\n`);
}

step("Applying D1 migrations to the local database");
const migrate = spawnSync("wrangler", ["d1", "migrations", "apply", "DB", "--local"], {
  stdio: ["ignore", "inherit", "inherit"],
  env: { ...process.env, CI: "1" },
});
if (migrate.status !== 0) {
  console.error("Migrations failed; see above.");
  process.exit(migrate.status ?? 1);
}

step(`Starting wrangler dev on ${base}`);
const server = spawn(
  "wrangler",
  [
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--var",
    "ENVIRONMENT:development",
    "--show-interactive-dev-session=false",
  ],
  { stdio: ["ignore", "inherit", "inherit"] },
);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => server.kill(signal));
}
server.on("exit", (code) => process.exit(code ?? 0));

async function waitForHealth(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let dots = 0;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) {
        if (dots > 0) process.stdout.write("\n");
        return;
      }
    } catch {
      // not listening yet
    }
    process.stdout.write(dots++ === 0 ? "  waiting for the Worker" : ".");
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`The Worker did not answer ${base}/healthz within ${timeoutMs / 1000} s`);
}

interface SeedResult {
  roomId: string;
  users: { userId: string; roles: string[]; token: string; walletBalanceMinor: number }[];
}

try {
  await waitForHealth(120_000);
  step("Seeding the demo (idempotent)");
  const res = await fetch(`${base}/v1/dev/seed`, { method: "POST" });
  if (!res.ok) throw new Error(`Seeding failed: ${res.status} ${await res.text()}`);
  const seed = (await res.json()) as SeedResult;
  const viewer = seed.users.find((u) => u.userId === "viewer-ana");
  console.log(`
\x1b[1mgiftwire is running at ${base}\x1b[0m
  OpenAPI:    ${base}/v1/openapi.json
  Demo room:  ${seed.roomId}
  Watch:      ${base}/room.html?room=${seed.roomId}&token=${viewer?.token ?? ""}
  OBS overlay: create its key with POST ${base}/v1/rooms/${seed.roomId}/overlay-key (as creator-ling)

Demo users (tokens valid 12 h; mint more with POST /v1/dev/tokens):
${seed.users
  .map(
    (u) =>
      `  ${u.userId.padEnd(14)} ${u.roles.join(",").padEnd(28)} wallet ${(u.walletBalanceMinor / 100).toFixed(2).padStart(9)} CNY\n    ${u.token}`,
  )
  .join("\n")}

Send a rose to the demo room:
  curl -s -X POST ${base}/v1/rooms/${seed.roomId}/tips \\
    -H "Authorization: Bearer ${viewer?.token ?? "<token>"}" \\
    -H "Idempotency-Key: demo-$(date +%s)" -H "Content-Type: application/json" \\
    -d '{"kind":"gift","giftId":"rose","quantity":3}'

Top up through the sandbox channel, then open ${base}<payment.url>&token=<token> to approve:
  curl -s -X POST ${base}/v1/payments/orders \\
    -H "Authorization: Bearer ${viewer?.token ?? "<token>"}" \\
    -H "Idempotency-Key: topup-$(date +%s)" -H "Content-Type: application/json" \\
    -d '{"kind":"topup","method":"sandbox","amount":"52.00"}'

Press Ctrl-C to stop.`);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  server.kill("SIGTERM");
  process.exitCode = 1;
}
