declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    /** JSON: test/fixtures/provider-keys.json (the providers' private keys, test only). */
    TEST_PROVIDER_KEYS: string;
  }
}

/** Vite's raw imports: a file's text, used to check code against wrangler.toml. */
declare module "*?raw" {
  const text: string;
  export default text;
}
