/**
 * The typed client's retry arithmetic (packages/client/src/index.ts): Retry-After in both of
 * its forms, and full-jitter backoff that doubles up to its cap. The retries themselves run
 * against the Worker in test/integration/client.test.ts.
 */
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { backoffMs, RETRY_DEFAULTS, retryAfterMs } from "../../../packages/client/src/index";

describe("retryAfterMs", () => {
  const nowMs = Date.UTC(2026, 11, 2, 12, 0, 0);
  it("reads delta seconds and HTTP dates; null when absent or unreadable", () => {
    expect(retryAfterMs("5", nowMs)).toBe(5_000);
    expect(retryAfterMs(" 0 ", nowMs)).toBe(0);
    expect(retryAfterMs("Wed, 02 Dec 2026 12:00:30 GMT", nowMs)).toBe(30_000);
    expect(retryAfterMs("Wed, 02 Dec 2026 11:00:00 GMT", nowMs)).toBe(0);
    expect(retryAfterMs(null, nowMs)).toBeNull();
    expect(retryAfterMs("soon", nowMs)).toBeNull();
    expect(retryAfterMs("-3", nowMs)).toBeNull();
  });
});

describe("backoffMs", () => {
  it("draws in [0, min(max, base · 2^retry)) and so never waits past the cap", () => {
    fc.assert(
      fc.property(fc.nat({ max: 40 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (retry, r) => {
        const ceiling = Math.min(RETRY_DEFAULTS.delayMaxMs, RETRY_DEFAULTS.delayBaseMs * 2 ** retry);
        const wait = backoffMs(retry, RETRY_DEFAULTS, () => r);
        expect(Number.isInteger(wait)).toBe(true);
        expect(wait).toBeGreaterThanOrEqual(0);
        expect(wait).toBeLessThan(ceiling);
      }),
    );
    expect([0, 1, 2, 3, 4, 5, 6].map((retry) => backoffMs(retry, RETRY_DEFAULTS, () => 0.5))).toEqual([
      100, 200, 400, 800, 1_600, 2_500, 2_500,
    ]);
  });
});

describe("packages/client/package.json", () => {
  it("names the openapi-fetch version the repository pins and tests", () => {
    const root = JSON.parse(readFileSync("package.json", "utf8"));
    const client = JSON.parse(readFileSync("packages/client/package.json", "utf8"));
    expect(client.dependencies).toEqual({ "openapi-fetch": root.devDependencies["openapi-fetch"] });
  });
});
