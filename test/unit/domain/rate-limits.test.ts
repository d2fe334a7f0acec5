import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { ERROR_CODES } from "../../../src/domain/errors";
import { clientAddress, RATE_LIMITS, retryAfterS } from "../../../src/domain/rate-limits";

describe("the rate limits", () => {
  it("are wrangler.toml's [[ratelimits]], binding for binding (the code answers Retry-After from its copy)", () => {
    const config = unstable_readConfig({ config: "wrangler.toml" });
    const declared = Object.fromEntries(
      config.ratelimits.map((r: { name: string; namespace_id: string; simple: { limit: number; period: number } }) => [
        r.name,
        { namespaceId: r.namespace_id, limit: r.simple.limit, periodS: r.simple.period },
      ]),
    );
    const coded = Object.fromEntries(
      Object.values(RATE_LIMITS).map((r) => [
        r.binding,
        { namespaceId: r.namespaceId, limit: r.limit, periodS: r.periodS },
      ]),
    );
    expect(declared).toEqual(coded);
  });

  it("each count in their own namespace, with a period the binding accepts", () => {
    const ids = Object.values(RATE_LIMITS).map((r) => r.namespaceId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of Object.values(RATE_LIMITS)) {
      expect([10, 60]).toContain(r.periodS);
      expect(Number.isInteger(Number(r.namespaceId)) && Number(r.namespaceId) > 0).toBe(true);
    }
  });

  it("answer 429 rate_limited with Retry-After the window's length", () => {
    expect(ERROR_CODES.rate_limited.status).toBe(429);
    expect(retryAfterS("tips")).toBe(10);
    expect(retryAfterS("payments")).toBe(60);
  });
});

describe("clientAddress", () => {
  it.each([
    ["203.0.113.7", "203.0.113.7"],
    [" 203.0.113.7 ", "203.0.113.7"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:DB8:0001:0002::9", "2001:db8:1:2::/64"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["::ffff:198.51.100.9", "198.51.100.9"],
  ])("counts %s as %s", (header, expected) => {
    expect(clientAddress(header)).toBe(expected);
  });

  it("puts every address of one /64 under one key", () => {
    expect(clientAddress("2001:db8:aa:bb:1::1")).toBe(clientAddress("2001:db8:aa:bb:ffff:ffff:ffff:ffff"));
    expect(clientAddress("2001:db8:aa:bb::1")).not.toBe(clientAddress("2001:db8:aa:bc::1"));
  });

  it.each([
    undefined,
    null,
    "",
    "unknown",
    "256.1.1.1",
    "1.2.3",
    "1::2::3",
    "2001:db8:1:2:3:4:5:6:7",
    "g::1",
    "1.2.3.4, 5.6.7.8",
  ])("has no address for %j (counted by user only)", (header) => {
    expect(clientAddress(header)).toBeNull();
  });
});
