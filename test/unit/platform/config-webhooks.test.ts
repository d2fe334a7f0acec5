import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { configFrom } from "../../../src/platform/config";

/** wrangler.toml's vars with the secrets a start needs, as the Worker's Env. */
function envWith(vars: Record<string, string>): Env {
  const config = unstable_readConfig({ config: "wrangler.toml" });
  return {
    ...config.vars,
    JWT_SECRET: "unit-test-secret-unit-test-secret-0123456789",
    PAYMENT_CHANNELS: "{}",
    PII_KEYS: "",
    ACCESS_TEAM_DOMAIN: "https://team.cloudflareaccess.com",
    ACCESS_AUD: "a".repeat(64),
    ...vars,
  } as unknown as Env;
}

describe("the webhook loopback setting", () => {
  it("is off in wrangler.toml, and production refuses to start with it on", () => {
    expect(configFrom(envWith({})).webhooks.allowLoopback).toBe(false);
    expect(() => configFrom(envWith({ WEBHOOK_ALLOW_LOOPBACK: "true" }))).toThrow(/WEBHOOK_ALLOW_LOOPBACK/);
  });

  it("may be on in development, for the demo receiver", () => {
    const dev = configFrom(envWith({ ENVIRONMENT: "development", WEBHOOK_ALLOW_LOOPBACK: "true" }));
    expect(dev.webhooks.allowLoopback).toBe(true);
  });
});
