/**
 * `npm start`: the whole service on this machine, in workerd, with a demo room.
 *
 *   1. creates .dev.vars with a fresh random JWT_SECRET on first start (never committed),
 *      enables the sandbox payment channel with a random signing secret, and adds a random
 *      PII_KEYS key ring (personal data sealed at rest) and a random GRANT_SIGNING_JWK (content
 *      grant tokens);
 *   2. gives the sandbox provider Worker the same signing secret (dev/sandbox-provider/.dev.vars);
 *   3. applies the D1 migrations to the local database;
 *   4. runs the sandbox provider and giftwire's dev entry (scripts/dev-workers.ts), which adds
 *      the token-minting and demo-seed routes to the production app;
 *   5. seeds the demo idempotently and prints the URL, the demo room and tokens.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { migrateLocalDatabases, startDevWorkers } from "./dev-workers.ts";

const port = Number(process.env.PORT ?? 8787);
const sandboxPort = Number(process.env.SANDBOX_PORT ?? port + 1);
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
  const channels = { sandbox: { secret: randomBytes(24).toString("base64url"), merchantId: "giftwire-sandbox" } };
  appendFileSync(".dev.vars", `PAYMENT_CHANNELS=${JSON.stringify(channels)}\n`);
}
if (!/^PII_KEYS=/m.test(readFileSync(".dev.vars", "utf8"))) {
  step("Adding a random PII_KEYS key ring to .dev.vars (seals real names, ID numbers and payout accounts)");
  const ring = { current: "k1", keys: { k1: randomBytes(32).toString("base64") } };
  appendFileSync(".dev.vars", `PII_KEYS=${JSON.stringify(ring)}\n`);
}
if (!/^GRANT_SIGNING_JWK=/m.test(readFileSync(".dev.vars", "utf8"))) {
  step("Adding a random ES256 GRANT_SIGNING_JWK to .dev.vars (signs content grant tokens)");
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = { ...privateKey.export({ format: "jwk" }), kid: `grant-${randomBytes(4).toString("hex")}`, alg: "ES256" };
  appendFileSync(".dev.vars", `GRANT_SIGNING_JWK=${JSON.stringify(jwk)}\n`);
}
// The provider signs with the secret giftwire verifies with: one source, written on every start.
const channelsLine = /^PAYMENT_CHANNELS=(.*)$/m.exec(readFileSync(".dev.vars", "utf8"))?.[1] ?? "{}";
const sandboxSecret = (JSON.parse(channelsLine) as { sandbox?: { secret?: string } }).sandbox?.secret;
if (!sandboxSecret) {
  console.error("PAYMENT_CHANNELS in .dev.vars has no sandbox secret: add one, or remove the line to have it made.");
  process.exit(1);
}
writeFileSync("dev/sandbox-provider/.dev.vars", `SIGNING_SECRET=${sandboxSecret}\n`, { mode: 0o600 });

// The control database and every ledger shard wrangler.toml binds (two shards, so a tip to a
// creator in the other shard crosses through transit as in production).
try {
  migrateLocalDatabases({ stdio: "inherit" }, step);
} catch (error) {
  console.error(String(error));
  process.exit(1);
}

step(`Starting the sandbox provider on http://127.0.0.1:${sandboxPort} and giftwire on ${base}`);
const workers = await startDevWorkers({
  port,
  sandboxPort,
  envFile: ".dev.vars",
  sandboxEnvFile: "dev/sandbox-provider/.dev.vars",
  persistTo: resolve(".wrangler/state"),
  registryPath: resolve(".wrangler/registry"),
  stdio: "inherit",
}).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => void workers.stop().then(() => process.exit(0)));
}
for (const child of workers.processes) {
  child.on("exit", (code) => void workers.stop().then(() => process.exit(code ?? 0)));
}

interface SeedResult {
  roomId: string;
  users: { userId: string; roles: string[]; token: string; walletBalanceMinor: number }[];
  articles: { id: string; title: string; price: string }[];
}

try {
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
  OBS overlay: create its key with POST ${base}/v1/rooms/${seed.roomId}/overlay-key (as creator-lin)
  Read:       ${base}/content.html?content=${seed.articles[0]?.id ?? ""}&token=${viewer?.token ?? ""}
              (a paid article with a tip jar; the masterclass, above the password-free limit: ?content=${seed.articles[1]?.id ?? ""})
  Creator:    ${base}/creator.html?token=${seed.users.find((u) => u.userId === "creator-lin")?.token ?? ""}
  Console:    ${base}/console/dashboard.html?token=${seed.users.find((u) => u.userId === "ops-mei")?.token ?? ""}
              (Queues, Proposals, Configuration and Audit log in its nav — the queues hold a demo finding,
              withdrawal in review, held tip, creator verification, held message, payment flag, dead
              letter and a proposal; docs/CONSOLE.md; approve ops-mei's proposals as ops-kai:
              ${base}/console/proposals.html?token=${seed.users.find((u) => u.userId === "ops-kai")?.token ?? ""})

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

Top up through the sandbox channel, then open the answer's payment.url (the sandbox provider's
checkout sheet, ${workers.sandboxUrl}/pay?order=…&code=…) to approve or decline:
  curl -s -X POST ${base}/v1/payments/orders \\
    -H "Authorization: Bearer ${viewer?.token ?? "<token>"}" \\
    -H "Idempotency-Key: topup-$(date +%s)" -H "Content-Type: application/json" \\
    -d '{"kind":"topup","method":"sandbox","amount":"52.00"}'

Press Ctrl-C to stop.`);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  await workers.stop();
  process.exitCode = 1;
}
