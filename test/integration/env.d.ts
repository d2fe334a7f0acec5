declare namespace Cloudflare {
  interface Env {
    TEST_CONTROL_MIGRATIONS: import("cloudflare:test").D1Migration[];
    TEST_LEDGER_MIGRATIONS: import("cloudflare:test").D1Migration[];
    /** How many ledger shards this project binds (LEDGER_0 …). */
    TEST_SHARDS: number;
    /** Test-only ledger shards for test/integration/archive.test.ts, each its own local database. */
    ARCHIVE_TEST_SHARD: D1Database;
    ARCHIVE_TEST_SPARE: D1Database;
    /** JSON: test/fixtures/provider-keys.json (the providers' private keys, test only). */
    TEST_PROVIDER_KEYS: string;
    /** JSON: vitest.config.ts TEST_RATE_LIMITS (the test-only limits of some [[ratelimits]]). */
    TEST_RATE_LIMITS: string;
    /** The command-model test's knobs from the environment ("" = its defaults). */
    MODEL_RUNS: string;
    MODEL_COMMANDS: string;
    MODEL_SEED: string;
    MODEL_PATH: string;
  }
}

/** Vite's raw imports: a file's text, used to check code against wrangler.toml. */
declare module "*?raw" {
  const text: string;
  export default text;
}
