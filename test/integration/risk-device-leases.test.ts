/**
 * Device leases (ADR 0018): a device's desk lends its counters to the desk of the one user on it,
 * so that user's attempts cost one desk round trip, and takes them back before it counts anyone
 * else's. The counts must stay exact however attempts from the holder and from others interleave,
 * and whichever desk is evicted.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { compileLists, type RiskSignals } from "../../src/domain/risk/evaluate";
import { type RiskRule, RiskRuleSchema } from "../../src/domain/risk/rules";
import { decideRisk } from "../../src/durable-objects/risk-decision";
import type { RiskDesk } from "../../src/durable-objects/risk-desk";

const run = Math.random().toString(36).slice(2, 8);
const id = (name: string) => `lease-${run}-${name}`;
const NO_LISTS = compileLists([]);

function rule(r: Record<string, unknown>): RiskRule {
  return RiskRuleSchema.parse({ enabled: true, outcome: "block", ...r });
}

function signals(userId: string, deviceId: string): RiskSignals {
  return {
    action: "tip",
    userId,
    deviceId,
    ip: null,
    country: null,
    asn: null,
    adult: true,
    amountMinor: 100,
    card: null,
    payoutAccount: null,
    recipientId: null,
  };
}

async function attempt(userId: string, deviceId: string, rules: readonly RiskRule[]): Promise<boolean> {
  const decision = await decideRisk(env.RISK_DESK, signals(userId, deviceId), rules, NO_LISTS, Date.now());
  return decision.outcome === "allow";
}

/** Who holds the device's lease, as the device's desk knows it (null: counted at the device). */
async function leaseHolder(deviceId: string): Promise<string | null> {
  return runInDurableObject(
    env.RISK_DESK.getByName(`device:${deviceId}`),
    (desk: RiskDesk) => (desk as unknown as { lease: { userId: string } | null }).lease?.userId ?? null,
  );
}

const count = (results: readonly boolean[]) => results.filter(Boolean).length;

describe("device leases", () => {
  it("the one user on a device takes its lease; a second account takes it back first; the device's count stays exact under interleaving", async () => {
    const device = id("shared");
    const rules = [
      rule({ id: "dev-25", kind: "velocity", action: "tip", scope: "device", count: 25, windowSec: 60 }),
      rule({ id: "user-1000", kind: "velocity", action: "tip", scope: "user", count: 1_000, windowSec: 60 }),
    ];
    const [a, b, c] = [id("a"), id("b"), id("c")];
    // A alone: the first attempt is counted at the device, which then lends A's desk its counters.
    for (let i = 0; i < 5; i++) expect(await attempt(a, device, rules)).toBe(true);
    expect(await leaseHolder(device)).toBe(a);
    // A desk holding counts keeps a timer pending, so it is not hibernated (and its counts lost)
    // after ~10 s idle; it keeps it for the longest window it counts (60 s here).
    const keeping = await runInDurableObject(env.RISK_DESK.getByName(`user:${a}`), (desk: RiskDesk) => {
      const held = desk as unknown as { keeper: unknown; keepUntilMs: number };
      return { pending: held.keeper !== null, leftMs: held.keepUntilMs - Date.now() };
    });
    expect(keeping.pending).toBe(true);
    expect(keeping.leftMs).toBeGreaterThan(50_000);
    expect(keeping.leftMs).toBeLessThanOrEqual(60_000);
    // Now A (on its own desk, with the lease) and B and C (at the device, which must take the
    // lease back first) all at once: 20 more may pass in all, never 21.
    const storm = await Promise.all(
      Array.from({ length: 60 }, (_, i) => attempt([a, b, c][i % 3] as string, device, rules)),
    );
    expect(count(storm)).toBe(20);
    // Full, wherever it is counted now.
    expect(await attempt(a, device, rules)).toBe(false);
    expect(await attempt(b, device, rules)).toBe(false);
    // Shared right now: nobody holds it, it is counted at the device.
    expect(await leaseHolder(device)).toBe(null);
  });

  it("device_accounts on a leased device: the holder passes on its own desk, a new account is counted against everyone seen", async () => {
    const device = id("accounts");
    const rules = [
      rule({ id: "dev-accounts", kind: "device_accounts", action: "tip", maxAccounts: 2, windowSec: 3_600 }),
    ];
    const [a, b, c] = [id("acc-a"), id("acc-b"), id("acc-c")];
    expect(await attempt(a, device, rules)).toBe(true);
    expect(await leaseHolder(device)).toBe(a);
    expect(await attempt(a, device, rules)).toBe(true);
    expect(await attempt(b, device, rules)).toBe(true);
    // B came while A used it: not lent.
    expect(await leaseHolder(device)).toBe(null);
    expect(await attempt(c, device, rules)).toBe(false);
    expect(await attempt(a, device, rules)).toBe(true);
    expect(await attempt(c, device, rules)).toBe(false);
  });

  it("a device's desk evicted with its lease out takes it back with the holder's counts (its lease record is durable)", async () => {
    const device = id("evicted");
    const rules = [rule({ id: "dev-10", kind: "velocity", action: "tip", scope: "device", count: 10, windowSec: 600 })];
    const [a, b] = [id("ev-a"), id("ev-b")];
    for (let i = 0; i < 6; i++) expect(await attempt(a, device, rules)).toBe(true);
    expect(await leaseHolder(device)).toBe(a);
    // The device's desk restarts: its lease record is durable, so B's attempt takes A's 6 back.
    const deviceDesk = env.RISK_DESK.getByName(`device:${device}`);
    // Its keep-warm timer would hold it in memory (as it should: that is what it is for).
    await runInDurableObject(deviceDesk, (desk: RiskDesk) => {
      const held = desk as unknown as { keeper: ReturnType<typeof setTimeout> | null; keepUntilMs: number };
      if (held.keeper !== null) clearTimeout(held.keeper);
      held.keeper = null;
      held.keepUntilMs = 0;
    });
    await evictDurableObject(deviceDesk);
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await attempt(b, device, rules));
    expect(results).toEqual([true, true, true, true, false, false]);
  });

  it("a grant that arrives after its revocation is ignored; a newer grant replaces an older one", async () => {
    const user = env.RISK_DESK.getByName(`user:${id("late")}`);
    const deviceId = id("late-device");
    const lease = (gen: number) => ({ deviceId, gen, windows: [{ action: "tip", atMs: [Date.now()] }], accounts: [] });
    expect(await user.revokeLease(deviceId, 3)).toBe(null);
    expect(await user.acceptLease(lease(3))).toBe(false);
    expect(await user.acceptLease(lease(4))).toBe(true);
    expect(await user.acceptLease(lease(4))).toBe(false);
    const back = await user.revokeLease(deviceId, 4);
    expect(back?.windows[0]?.atMs).toHaveLength(1);
    expect(await user.revokeLease(deviceId, 4)).toBe(null);
  });
});
