import { readFileSync } from "node:fs";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
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
  },
  alipay: {
    appId: "2021000000000001",
    sellerId: "2088000000000001",
    alipayPublicKey: providerKeys.alipay.publicSpkiBase64,
    appPrivateKey: providerKeys.alipay.privatePkcs8Base64,
  },
  stripe: { webhookSecrets: ["whsec_test_0123456789abcdef"], livemode: false, secretKey: "sk_test_0123456789abcdef" },
};

/**
 * Two projects: `unit` runs the pure domain in plain Node (fast, property tests);
 * `workers` runs the Worker inside workerd with real D1 bindings, migrations applied from
 * migrations/ exactly as `wrangler d1 migrations apply` does.
 */
export default defineConfig(async () => {
  const migrations = await readD1Migrations("migrations");
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
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                // Every outbound fetch goes to the providers' test doubles, never the internet.
                outboundService: providerNetwork,
                bindings: {
                  ENVIRONMENT: "test",
                  JWT_SECRET: "test-secret-test-secret-test-secret-0123456789",
                  TEST_MIGRATIONS: migrations,
                  PAYMENT_CHANNELS: JSON.stringify(TEST_PAYMENT_CHANNELS),
                  TEST_PROVIDER_KEYS: JSON.stringify(providerKeys),
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
            name: "workers",
            include: ["test/integration/**/*.test.ts"],
            setupFiles: ["./test/integration/apply-migrations.ts"],
            testTimeout: 60_000,
          },
        },
      ],
    },
  };
});
