import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { unstable_getMiniflareWorkerOptions, unstable_readConfig } from "wrangler";
import { providerNetwork } from "./test/support/provider-network";

/** Test-only provider keys (test/fixtures): the channels under test trust these. */
const providerKeys = JSON.parse(readFileSync("test/fixtures/provider-keys.json", "utf8"));
export const TEST_PAYMENT_CHANNELS = {
  sandbox: { secret: "sandbox-test-secret-0123456789", merchantId: "giftwire-sandbox" },
  wechatpay: {
    mchId: "1900000109",
    appId: "wx-test-app",
    apiV3Key: "test-apiv3-key-0123456789abcdefg",
    platformKeys: { PUB_KEY_ID_0114000000: providerKeys.wechatPlatform.publicSpkiBase64 },
    // Test-only: the merchant key pair is the fixture's too (outbound calls go to test doubles).
    merchantSerial: "TEST_MERCHANT_SERIAL_0001",
    merchantPrivateKey: providerKeys.wechatPlatform.privatePkcs8Base64,
    payouts: {
      encryptSerial: "PUB_KEY_ID_0114000000",
      notifyUrl: "https://giftwire.test/v1/payouts/callbacks/wechatpay",
      postType: "主播",
      rewardDescription: "直播打赏分成",
    },
  },
  alipay: {
    appId: "2021000000000001",
    sellerId: "2088000000000001",
    alipayPublicKey: providerKeys.alipay.publicSpkiBase64,
    appPrivateKey: providerKeys.alipay.privatePkcs8Base64,
    payouts: {},
  },
  stripe: {
    webhookSecrets: ["whsec_test_0123456789abcdef"],
    livemode: false,
    secretKey: "sk_test_0123456789abcdef",
    // Transfer events come to their own endpoint, under its own secret (test/support/provider-network.ts).
    payouts: { webhookSecrets: ["whsec_test_payouts_0123456789abcdef"] },
  },
};

/**
 * The workers projects: the whole integration suite runs twice, against 4 ledger shards (so
 * cross-shard transit is the everyday path) and against 1 (every operation local). The
 * Worker under test runs as `vitest-plugin-runner-<project>`.
 */
const WORKERS_PROJECTS = [
  { name: "workers", shards: 4 },
  { name: "workers-1-shard", shards: 1 },
] as const;

/** The sandbox provider Worker's name in the tests; giftwire's `SANDBOX` binding names it. */
const SANDBOX_WORKER = "sandbox-provider";

/**
 * The sandbox provider Worker (dev/sandbox-provider) as an auxiliary Worker of the workers
 * project: bundled by wrangler exactly as `npm start` runs it, its bindings read from its own
 * wrangler.jsonc, its signing secret the one the tests' PAYMENT_CHANNELS trusts.
 *
 * Its callbacks are HTTP POSTs to the notify_url giftwire gave (https://giftwire.test/…):
 * its `outboundService` sends every fetch it makes to the Worker under test, whose default
 * export (dev/giftwire-dev.ts) serves them through the real callback route, body limits and
 * signature check included. A service binding back to giftwire would need a binding the
 * simulator's code names; the outbound route keeps its code the same as in development, where
 * the fetch goes over the loopback network. The plugin names the Worker under test
 * `vitest-plugin-runner-<project>` (pool/index.mjs, getRunnerName): if that changes, every
 * sandbox callback test fails loudly rather than passing vacuously.
 */
function sandboxProviderWorker(project: string) {
  // In the checkout's own (git-ignored) .wrangler: node_modules may be hard-linked between
  // checkouts, and a build written there would be every checkout's.
  const outdir = resolve(".wrangler/sandbox-provider-build");
  execFileSync(
    "node_modules/.bin/wrangler",
    ["deploy", "--dry-run", "--config", "dev/sandbox-provider/wrangler.jsonc", "--outdir", outdir],
    { stdio: "pipe", env: { ...process.env, CI: "1" } },
  );
  const config = unstable_readConfig({ config: "dev/sandbox-provider/wrangler.jsonc" });
  const { workerOptions } = unstable_getMiniflareWorkerOptions(config);
  return {
    name: SANDBOX_WORKER,
    modules: true,
    scriptPath: `${outdir}/index.js`,
    compatibilityDate: workerOptions.compatibilityDate,
    durableObjects: workerOptions.durableObjects,
    assets: workerOptions.assets,
    bindings: {
      ...workerOptions.bindings,
      PUBLIC_URL: "https://sandbox-provider.test",
      // Payout callbacks reach the Worker under test through the outbound service, whatever the host.
      PAYOUT_NOTIFY_URL: "https://giftwire.test/v1/payouts/callbacks/sandbox",
      SIGNING_SECRET: TEST_PAYMENT_CHANNELS.sandbox.secret,
      // No random duplicates: tests that want them set the rate (test/support/sandbox-provider.ts).
      DUPLICATE_RATE: "0",
    },
    outboundService: `vitest-plugin-runner-${project}`,
  };
}

/**
 * Test-only figures for some rate limits (src/domain/rate-limits.ts), same periods as
 * production (the Retry-After the code answers); test/integration/rate-limits.test.ts reads
 * them to know where each limit bites.
 * - Lower, the limits counted by client address: only rate-limits.test.ts sends
 *   CF-Connecting-IP (without it a request is counted by user only), so nothing else meets
 *   them, and its bursts past them stay well inside one 10 s window on a busy machine.
 * - Higher, the withdrawals per creator (10 a minute in production): withdrawals.test.ts
 *   races 50 concurrent requests of one creator against the balance and the daily caps.
 * Every other per-user limit runs at its production value under the whole suite.
 */
export const TEST_RATE_LIMITS = {
  RL_MONEY_IP: { namespace_id: "1605", simple: { limit: 60, period: 10 } },
  RL_CALLBACKS_SOURCE: { namespace_id: "1607", simple: { limit: 40, period: 10 } },
  RL_WITHDRAWALS_USER: { namespace_id: "1604", simple: { limit: 100, period: 60 } },
};

/** D1 bindings: the control database and `shards` ledger shards (each project has its own storage). */
function databases(shards: number): Record<string, string> {
  const bound: Record<string, string> = { CONTROL: "giftwire-control" };
  for (let i = 0; i < shards; i++) bound[`LEDGER_${i}`] = `giftwire-ledger-${i}`;
  return bound;
}

/**
 * Two projects: `unit` runs the pure domain in plain Node (fast, property tests);
 * `workers` runs the Worker inside workerd with real D1 bindings, migrations applied from
 * migrations/ exactly as `wrangler d1 migrations apply` does.
 */
export default defineConfig(async () => {
  const controlMigrations = await readD1Migrations("migrations/control");
  const ledgerMigrations = await readD1Migrations("migrations/ledger");
  return {
    test: {
      // Structured request logs are shown for failing tests only.
      silent: "passed-only" as const,
      projects: [
        {
          test: { name: "unit", include: ["test/unit/**/*.test.ts"], environment: "node" },
        },
        {
          // Real Chromium against a real `wrangler dev`; skipped (with a message) without Chromium,
          // except under CI=true, where a missing Chromium fails them (test/browser/chromium.ts).
          test: {
            name: "browser",
            include: ["test/browser/**/*.test.ts"],
            environment: "node",
            testTimeout: 120_000,
            hookTimeout: 120_000,
          },
        },
        ...WORKERS_PROJECTS.map(({ name, shards }) => ({
          plugins: [
            cloudflareTest({
              // The production configuration's bindings, with the dev entry (token minting, the
              // demo seed) as the Worker under test and the sandbox provider bound as SANDBOX:
              // what `npm start` runs, without repeating wrangler.toml's binding list.
              wrangler: { configPath: "./wrangler.toml" },
              main: "./dev/giftwire-dev.ts",
              miniflare: {
                // The control database, the shards, and two test-only shards of
                // test/integration/archive.test.ts, each its own local database.
                d1Databases: {
                  ...databases(shards),
                  ARCHIVE_TEST_SHARD: "archive-test-shard",
                  ARCHIVE_TEST_SPARE: "archive-test-spare",
                },
                serviceBindings: { SANDBOX: SANDBOX_WORKER },
                // Merged over wrangler.toml's [[ratelimits]] by binding name.
                ratelimits: TEST_RATE_LIMITS,
                workers: [sandboxProviderWorker(name)],
                // Every outbound fetch goes to the providers' test doubles, never the internet.
                outboundService: providerNetwork,
                bindings: {
                  ENVIRONMENT: "test",
                  LEDGER_SHARDS: String(shards),
                  // A low fan-out threshold: a room holds two viewer sockets itself, then spreads
                  // the rest over three shards, so the room tests run through shards too.
                  ROOM_FAN_OUT_THRESHOLD: "2",
                  ROOM_FAN_OUT_SHARDS: "3",
                  // A short switch TTL, so the switch tests measure propagation in about a second.
                  SWITCH_CACHE_TTL_MS: "1000",
                  JWT_SECRET: "test-secret-test-secret-test-secret-0123456789",
                  TEST_CONTROL_MIGRATIONS: controlMigrations,
                  TEST_LEDGER_MIGRATIONS: ledgerMigrations,
                  TEST_SHARDS: shards,
                  PAYMENT_CHANNELS: JSON.stringify(TEST_PAYMENT_CHANNELS),
                  // Test-only key ring: two keys, k2 current, so rows sealed under k1 (as before a
                  // rotation) still open and re-sealing has somewhere to go.
                  PII_KEYS: JSON.stringify({
                    current: "k2",
                    keys: {
                      k1: "Z2lmdHdpcmUtdGVzdC1waWkta2V5LW51bWJlci1rMSE=",
                      k2: "Z2lmdHdpcmUtdGVzdC1waWkta2V5LW51bWJlci1rMiE=",
                    },
                  }),
                  TEST_PROVIDER_KEYS: JSON.stringify(providerKeys),
                  // Test-only ES256 key content grants are signed with (issue 19).
                  GRANT_SIGNING_JWK: JSON.stringify({
                    kty: "EC",
                    crv: "P-256",
                    x: "_ovvttY8NihJvIWQGM0ZzM7G_-NxaOoqpfJsKG9bSAg",
                    y: "55qsq6Pkvax6hve74QVFg3oBY3uMBpT3zua39NFSQZ8",
                    d: "h28ncvPpca6IczJbuCfaxKhmGtW_F5yZF_ABRusrY-k",
                    kid: "grant-test-1",
                    alg: "ES256",
                  }),
                  TEST_RATE_LIMITS: JSON.stringify(TEST_RATE_LIMITS),
                  // test/integration/command-model.test.ts: more runs, longer sequences, a replay.
                  MODEL_RUNS: process.env.MODEL_RUNS ?? "",
                  MODEL_COMMANDS: process.env.MODEL_COMMANDS ?? "",
                  MODEL_SEED: process.env.MODEL_SEED ?? "",
                  MODEL_PATH: process.env.MODEL_PATH ?? "",
                },
              },
            }),
          ],
          test: {
            name,
            include: ["test/integration/**/*.test.ts"],
            setupFiles: ["./test/integration/apply-migrations.ts"],
            testTimeout: 60_000,
          },
        })),
      ],
    },
  };
});
