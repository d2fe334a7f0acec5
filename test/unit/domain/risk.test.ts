import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cidrContains, formatIp, neighbourhoodOf, parseCidr, parseIp } from "../../../src/domain/risk/cidr";
import {
  compileLists,
  evaluate,
  NO_LISTS,
  NO_STATE,
  type RiskSignals,
  type RiskState,
} from "../../../src/domain/risk/evaluate";
import { type RiskRule, RiskRuleSchema, strength } from "../../../src/domain/risk/rules";
import { SlidingWindows } from "../../../src/domain/risk/window";

const NOW = 1_800_000_000_000;

const signals: RiskSignals = {
  action: "tip",
  userId: "u1",
  deviceId: "dev-1",
  ip: "203.0.113.7",
  country: "CN",
  asn: 4134,
  adult: false,
  amountMinor: 5_000,
  card: null,
  payoutAccount: null,
};

describe("risk rules as data", () => {
  it("parses each kind and refuses a rule with an unknown field or out-of-range count", () => {
    expect(
      RiskRuleSchema.parse({
        id: "tip-velo",
        kind: "velocity",
        outcome: "block",
        enabled: true,
        action: "tip",
        scope: "user",
        count: 30,
        windowSec: 10,
      }).kind,
    ).toBe("velocity");
    expect(
      RiskRuleSchema.safeParse({
        id: "x",
        kind: "velocity",
        outcome: "block",
        enabled: true,
        action: "tip",
        scope: "user",
        count: 0,
        windowSec: 10,
      }).success,
    ).toBe(false);
    expect(
      RiskRuleSchema.safeParse({
        id: "x",
        kind: "blacklist",
        outcome: "block",
        enabled: true,
        list: "device",
        extra: 1,
      }).success,
    ).toBe(false);
    expect(
      RiskRuleSchema.safeParse({ id: "x", kind: "geo_block", outcome: "allow", enabled: true, list: "country" })
        .success,
    ).toBe(false);
  });
});

describe("evaluate", () => {
  const rule = (r: Record<string, unknown>): RiskRule =>
    RiskRuleSchema.parse({ enabled: true, outcome: "block", ...r });

  it("answers allow with nothing fired when no rule applies", () => {
    expect(evaluate(signals, NO_STATE, [], NO_LISTS, NOW)).toEqual({ outcome: "allow", fired: [] });
  });

  it("takes the strongest outcome and reports every fired rule with its reason", () => {
    const rules = [
      rule({ id: "cap", kind: "amount_cap", action: "tip", maxMinor: 1_000, outcome: "challenge" }),
      rule({ id: "bl", kind: "blacklist", list: "device" }),
      rule({ id: "adult", kind: "unverified_adult_cap", maxMinor: 2_000, outcome: "review" }),
    ];
    const d = evaluate(signals, NO_STATE, rules, compileLists([{ kind: "device", value: "dev-1" }]), NOW);
    expect(d.outcome).toBe("block");
    expect(d.fired.map((f) => [f.ruleId, f.reason])).toEqual([
      ["cap", "amount_cap"],
      ["bl", "blacklist:device"],
      ["adult", "unverified_adult_cap"],
    ]);
  });

  it("a disabled rule or a rule of another action never fires", () => {
    const rules = [
      rule({ id: "off", kind: "amount_cap", action: "tip", maxMinor: 1, enabled: false }),
      rule({ id: "topup", kind: "amount_cap", action: "topup", maxMinor: 1 }),
    ];
    expect(evaluate(signals, NO_STATE, rules, NO_LISTS, NOW).outcome).toBe("allow");
  });

  it("matches blacklisted CIDR blocks, IPv4 and IPv6", () => {
    const rules = [rule({ id: "cidr", kind: "blacklist", list: "cidr" })];
    const lists = compileLists([
      { kind: "cidr", value: "203.0.113.0/24" },
      { kind: "cidr", value: "2001:db8::/32" },
    ]);
    expect(evaluate(signals, NO_STATE, rules, lists, NOW).outcome).toBe("block");
    expect(evaluate({ ...signals, ip: "203.0.114.7" }, NO_STATE, rules, lists, NOW).outcome).toBe("allow");
    expect(evaluate({ ...signals, ip: "2001:db8:ffff::1" }, NO_STATE, rules, lists, NOW).outcome).toBe("block");
    expect(evaluate({ ...signals, ip: "2001:db9::1" }, NO_STATE, rules, lists, NOW).outcome).toBe("allow");
  });

  it("caps new users only within their first days, and verified adults pass the adult cap", () => {
    const rules = [rule({ id: "new", kind: "amount_cap", action: "tip", maxMinor: 1_000, newUserDays: 7 })];
    const young: RiskState = { ...NO_STATE, firstSeenAtMs: NOW - 86_400_000 };
    const old: RiskState = { ...NO_STATE, firstSeenAtMs: NOW - 8 * 86_400_000 };
    expect(evaluate(signals, young, rules, NO_LISTS, NOW).outcome).toBe("block");
    expect(evaluate(signals, old, rules, NO_LISTS, NOW).outcome).toBe("allow");
    const adult = [rule({ id: "adult", kind: "unverified_adult_cap", maxMinor: 1_000 })];
    expect(evaluate({ ...signals, adult: true }, NO_STATE, adult, NO_LISTS, NOW).outcome).toBe("allow");
  });

  it("compares an amount with the user's own median or average once there is enough history", () => {
    const rules = [
      rule({ id: "h", kind: "amount_vs_history", action: "tip", factor: 10, stat: "median", minHistory: 3 }),
    ];
    const history: RiskState = { ...NO_STATE, history: [100, 100, 10_000] };
    expect(evaluate({ ...signals, amountMinor: 1_001 }, history, rules, NO_LISTS, NOW).outcome).toBe("block");
    expect(evaluate({ ...signals, amountMinor: 1_000 }, history, rules, NO_LISTS, NOW).outcome).toBe("allow");
    expect(
      evaluate({ ...signals, amountMinor: 1_001 }, { ...NO_STATE, history: [100, 100] }, rules, NO_LISTS, NOW).outcome,
    ).toBe("allow");
  });

  const ruleArb: fc.Arbitrary<RiskRule> = fc.oneof(
    fc.record({
      id: fc.constantFrom("a", "b", "c"),
      kind: fc.constant("velocity" as const),
      outcome: fc.constantFrom("challenge" as const, "review" as const, "block" as const),
      enabled: fc.boolean(),
      description: fc.constant(""),
      action: fc.constantFrom("tip" as const, "topup" as const),
      scope: fc.constantFrom("user" as const, "device" as const),
      count: fc.integer({ min: 1, max: 5 }),
      windowSec: fc.integer({ min: 1, max: 60 }),
    }),
    fc.record({
      id: fc.constantFrom("d", "e"),
      kind: fc.constant("amount_cap" as const),
      outcome: fc.constantFrom("challenge" as const, "review" as const, "block" as const),
      enabled: fc.boolean(),
      description: fc.constant(""),
      action: fc.constantFrom("tip" as const, "topup" as const),
      maxMinor: fc.integer({ min: 0, max: 10_000 }),
    }),
    fc.record({
      id: fc.constant("f"),
      kind: fc.constant("blacklist" as const),
      outcome: fc.constantFrom("challenge" as const, "review" as const, "block" as const),
      enabled: fc.boolean(),
      description: fc.constant(""),
      list: fc.constantFrom("device" as const, "user" as const, "cidr" as const),
    }),
    fc.record({
      id: fc.constant("g"),
      kind: fc.constant("unverified_adult_cap" as const),
      outcome: fc.constantFrom("challenge" as const, "review" as const, "block" as const),
      enabled: fc.boolean(),
      description: fc.constant(""),
      maxMinor: fc.integer({ min: 0, max: 10_000 }),
    }),
  );

  it("adding a rule never weakens a decision (property)", () => {
    const lists = compileLists([
      { kind: "device", value: "dev-1" },
      { kind: "cidr", value: "203.0.0.0/16" },
    ]);
    fc.assert(
      fc.property(
        fc.array(ruleArb, { maxLength: 6 }),
        ruleArb,
        fc.record({
          amountMinor: fc.integer({ min: 1, max: 20_000 }),
          adult: fc.boolean(),
          deviceId: fc.constantFrom("dev-1", "dev-2"),
          action: fc.constantFrom("tip" as const, "topup" as const),
        }),
        fc.dictionary(fc.constantFrom("a", "b", "c"), fc.integer({ min: 0, max: 6 })),
        (rules, extra, s, counts) => {
          const state: RiskState = { ...NO_STATE, velocityCounts: new Map(Object.entries(counts)) };
          const before = evaluate({ ...signals, ...s }, state, rules, lists, NOW);
          const after = evaluate({ ...signals, ...s }, state, [...rules, extra], lists, NOW);
          expect(strength(after.outcome)).toBeGreaterThanOrEqual(strength(before.outcome));
          expect(after.fired.slice(0, before.fired.length)).toEqual(before.fired);
        },
      ),
    );
  });
});

describe("sliding windows", () => {
  it("admits exactly `count` in any window of `windowMs`, and refuses only when that many were admitted (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 1_000 }),
        fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 120 }),
        (count, windowMs, gaps) => {
          const w = new SlidingWindows(count, windowMs, 4);
          let t = NOW;
          const admitted: number[] = [];
          for (const gap of gaps) {
            t += gap;
            const inWindow = admitted.filter((a) => a > t - windowMs).length;
            const { admitted: yes, counts } = w.admit("tip", [{ count, windowMs }], t);
            expect(counts[0]).toBe(Math.min(inWindow, count));
            expect(yes).toBe(inWindow < count);
            if (yes) admitted.push(t);
          }
          // No interval (a − windowMs, a] ever holds more than `count` admitted attempts.
          for (const a of admitted)
            expect(admitted.filter((b) => b > a - windowMs && b <= a).length).toBeLessThanOrEqual(count);
        },
      ),
    );
  });

  it("100 attempts at one instant admit exactly the count", () => {
    const w = new SlidingWindows(30, 10_000, 8);
    const admitted = Array.from({ length: 100 }, () => w.admit("tip", [{ count: 30, windowMs: 10_000 }], NOW).admitted);
    expect(admitted.filter(Boolean)).toHaveLength(30);
    expect(w.admit("tip", [{ count: 30, windowMs: 10_000 }], NOW + 10_000).admitted).toBe(true);
  });

  it("holds at most keysMax keys of at most capPerKey timestamps, dropping idle keys", () => {
    const w = new SlidingWindows(3, 1_000, 2);
    for (let i = 0; i < 10; i++) w.record("a", NOW + i);
    expect(w.snapshot().keys).toEqual([["a", [NOW + 7, NOW + 8, NOW + 9]]]);
    w.record("b", NOW + 10);
    w.record("c", NOW + 11);
    expect(w.size).toBe(2);
    expect(w.count("a", 1_000, NOW + 11)).toBe(0);
    w.record("d", NOW + 5_000);
    expect(w.snapshot().keys.map(([k]) => k)).toEqual(["d"]);
  });

  it("survives a snapshot and restore", () => {
    const w = new SlidingWindows(5, 10_000, 4);
    for (let i = 0; i < 4; i++) w.record("tip", NOW + i);
    const again = new SlidingWindows(5, 10_000, 4);
    again.restore(JSON.parse(JSON.stringify(w.snapshot())));
    expect(again.count("tip", 10_000, NOW + 10)).toBe(4);
  });
});

describe("CIDR", () => {
  const bitsOf = (version: 4 | 6, bits: bigint) => bits.toString(2).padStart(version === 4 ? 32 : 128, "0");

  it("matches exactly when the first `prefix` bits agree (property, IPv4 and IPv6)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(4 as const, 6 as const),
        fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
        fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
        fc.integer({ min: 0, max: 128 }),
        fc.boolean(),
        (version, a, b, p, share) => {
          const w = version === 4 ? 32 : 128;
          const prefix = p % (w + 1);
          const mask = (1n << BigInt(w)) - 1n;
          const net = a & mask;
          // Half the time the address shares the network's first bits, to exercise matches.
          let addr = b & mask;
          if (share) {
            const low = (1n << BigInt(w - prefix)) - 1n;
            addr = (net & ~low) | (addr & low);
          }
          const netText = formatIp({ version, bits: net });
          const masked = parseIp(netText);
          expect(masked?.bits).toBe(net);
          const low = (1n << BigInt(w - prefix)) - 1n;
          const cidr = parseCidr(`${formatIp({ version, bits: net & ~low })}/${prefix}`);
          expect(cidr).not.toBeNull();
          const ip = parseIp(formatIp({ version, bits: addr }));
          expect(ip).not.toBeNull();
          if (cidr === null || ip === null) return;
          const naive = bitsOf(version, addr).slice(0, prefix) === bitsOf(version, net).slice(0, prefix);
          expect(cidrContains(cidr, ip)).toBe(naive);
        },
      ),
    );
  });

  it("parses the usual forms and refuses malformed ones", () => {
    expect(parseIp("::ffff:1.2.3.4")?.bits).toBe(0xffff01020304n);
    expect(parseIp("2001:db8::1")?.version).toBe(6);
    expect(parseIp("::")?.bits).toBe(0n);
    for (const bad of ["1.2.3", "1.2.3.256", "01.2.3.4", "1::2::3", "1:2:3:4:5:6:7:8:9", "gggg::", ""]) {
      expect(parseIp(bad)).toBeNull();
    }
    expect(parseCidr("10.0.0.1/8")).toBeNull();
    expect(parseCidr("10.0.0.0/33")).toBeNull();
    expect(parseCidr("10.0.0.0/8")?.prefix).toBe(8);
    expect(neighbourhoodOf(parseIp("198.51.100.23") ?? { version: 4, bits: 0n })).toBe("198.51.100.0/24");
    expect(neighbourhoodOf(parseIp("2001:db8:1:2:3::4") ?? { version: 4, bits: 0n })).toBe("2001:db8:1:2:0:0:0:0/64");
  });
});
