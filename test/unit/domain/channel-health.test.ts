import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type CallSample, channelHealth, channelsToTry, HEALTH_RULES } from "../../../src/domain/channel-health";

const NOW = 1_800_000_000_000;
const at = (agoMs: number, ok: boolean): CallSample => ({ ok, atMs: NOW - agoMs });

describe("channel health", () => {
  it("is healthy with no recent calls, or when old failures are past the lookback", () => {
    expect(channelHealth([], NOW)).toBe("healthy");
    const old = HEALTH_RULES.lookbackMs;
    expect(channelHealth([at(old, false), at(old + 1_000, false), at(old + 2_000, false)], NOW)).toBe("healthy");
  });

  it("needs the failures close together: three failures spread over more than the window do not trip", () => {
    expect(channelHealth([at(100, false), at(10_100, false), at(20_100, false)], NOW)).toBe("healthy");
  });

  it("stays tripped through failed probes, and recovers on the first success", () => {
    const outage = [at(60_000, false), at(59_000, false), at(58_000, false)];
    const probes = [50_000, 40_000, 30_000, 20_000, 10_000].map((ago) => at(ago, false));
    expect(channelHealth([...outage, ...probes], NOW)).toBe("probe");
    expect(channelHealth([...outage, ...probes, at(1_000, false)], NOW)).toBe("unhealthy");
    expect(channelHealth([...outage, ...probes, at(1_000, true)], NOW)).toBe("healthy");
  });

  it("trips after three failures in the window when the newest call failed", () => {
    expect(channelHealth([at(100, false), at(1_000, false)], NOW)).toBe("healthy");
    expect(channelHealth([at(100, false), at(1_000, false), at(2_000, false)], NOW)).toBe("unhealthy");
  });

  it("stays healthy while most calls succeed, and recovers on the first success", () => {
    const mostlyOk = [at(100, false), at(200, false), at(300, false), ...[1, 2, 3, 4].map((i) => at(400 + i, true))];
    expect(channelHealth(mostlyOk, NOW)).toBe("healthy");
    expect(channelHealth([at(50, true), at(100, false), at(200, false), at(300, false)], NOW)).toBe("healthy");
  });

  it("admits a probe once the newest failure is older than the probe interval", () => {
    const failing = [at(HEALTH_RULES.probeIntervalMs, false), at(6_000, false), at(7_000, false)];
    expect(channelHealth(failing, NOW)).toBe("probe");
    expect(channelHealth(failing, NOW - 1)).toBe("unhealthy");
  });

  it("property: a success as the newest call is always healthy; an empty lookback always healthy", () => {
    fc.assert(
      fc.property(fc.array(fc.record({ ok: fc.boolean(), ago: fc.integer({ min: 1, max: 20_000 }) })), (calls) => {
        const samples = calls.map((c) => at(c.ago, c.ok));
        expect(channelHealth([...samples, at(0, true)], NOW)).toBe("healthy");
        expect(channelHealth(samples, NOW + HEALTH_RULES.lookbackMs)).toBe("healthy");
      }),
    );
  });

  it("property: fewer than three failures in the window never trip", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 9_999 }), { maxLength: 2 }),
        fc.array(fc.integer({ min: 0, max: 9_999 })),
        (fails, oks) => {
          const samples = [...fails.map((a) => at(a, false)), ...oks.map((a) => at(a, true))];
          expect(channelHealth(samples, NOW)).toBe("healthy");
        },
      ),
    );
  });
});

describe("failover order", () => {
  it("tries the primary first when healthy, the backup first when the primary is down, and everything as a last resort", () => {
    const health = { wechatpay: "healthy", alipay: "healthy" } as const;
    expect(channelsToTry(["wechatpay", "alipay"], (c) => health[c])).toEqual(["wechatpay", "alipay"]);
    expect(channelsToTry(["wechatpay", "alipay"], (c) => (c === "wechatpay" ? "unhealthy" : "healthy"))).toEqual([
      "alipay",
      "wechatpay",
    ]);
    expect(channelsToTry(["wechatpay", "alipay"], (c) => (c === "wechatpay" ? "probe" : "healthy"))).toEqual([
      "wechatpay",
      "alipay",
    ]);
  });

  it("property: every channel is tried exactly once", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.constantFrom("a", "b", "c", "d"), { minLength: 1 }),
        fc.func(fc.constantFrom("healthy" as const, "unhealthy" as const, "probe" as const)),
        (pref, health) => {
          const order = channelsToTry(pref, (c) => health(c));
          expect([...order].sort()).toEqual([...pref].sort());
        },
      ),
    );
  });
});
