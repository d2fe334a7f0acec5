import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

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
          // Real Chromium against a real `wrangler dev`; skipped (with a message) without Chromium.
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
                bindings: {
                  ENVIRONMENT: "test",
                  JWT_SECRET: "test-secret-test-secret-test-secret-0123456789",
                  TEST_MIGRATIONS: migrations,
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
