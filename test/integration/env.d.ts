declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    /** migrations/ledger, for tests that set up a ledger shard binding themselves. */
    TEST_LEDGER_MIGRATIONS: import("cloudflare:test").D1Migration[];
    /** Test-only ledger shards (vitest.config.ts), each its own local database. */
    ARCHIVE_TEST_SHARD: D1Database;
    ARCHIVE_TEST_SPARE: D1Database;
    // From wrangler.toml, declared here until worker-configuration.d.ts is regenerated for the
    // sharded ledger (identical declarations merge).
    LEDGER_ARCHIVE: R2Bucket;
    /** JSON: test/fixtures/provider-keys.json (the providers' private keys, test only). */
    TEST_PROVIDER_KEYS: string;
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
