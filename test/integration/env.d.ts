declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    /** JSON: test/fixtures/provider-keys.json (the providers' private keys, test only). */
    TEST_PROVIDER_KEYS: string;
  }
}
