/** `npm start`'s demo creator is ready to be paid: verified, with a cooled sandbox default account. */

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEMO_PAYOUT_ACCOUNT_ID } from "../../dev/seed-payout";
import { findPayoutAccount, openPayee } from "../../src/db/reads/payout-accounts";
import { call, invariantReport, token } from "./helpers";

describe("the demo seed", () => {
  it("verifies the demo creator and binds a sandbox default account past its cooling, once", async () => {
    expect((await call("POST", "/v1/dev/seed")).status).toBe(200);
    const first = await findPayoutAccount(env.CONTROL, DEMO_PAYOUT_ACCOUNT_ID);
    expect((await call("POST", "/v1/dev/seed")).status).toBe(200);
    expect(await findPayoutAccount(env.CONTROL, DEMO_PAYOUT_ACCOUNT_ID)).toEqual(first);

    const creator = await token("creator-lin", "creator");
    const verification = await call("GET", "/v1/creators/me/verification", { token: creator });
    expect(verification.body).toMatchObject({ state: "verified", realNameMasked: "*", rejectReason: null });
    const accounts = await call("GET", "/v1/creators/me/payout-accounts", { token: creator });
    expect(accounts.body.items).toEqual([
      expect.objectContaining({ id: DEMO_PAYOUT_ACCOUNT_ID, channel: "sandbox", isDefault: true, cooling: false }),
    ]);
    expect(await openPayee(env.PII_KEYS, first ?? (undefined as never))).toEqual({
      channel: "sandbox",
      payee: "creator-lin",
      payeeName: null,
      identity: "sandbox",
    });
  });
});

describe("the demo creator's earnings", () => {
  it("has past tips on many days, the due days settled, earnings pending and available, once however often seeded", async () => {
    expect((await call("POST", "/v1/dev/seed")).status).toBe(200);
    const creator = await token("creator-lin", "creator");
    const earnings = async () => (await call("GET", "/v1/creators/me/earnings", { token: creator })).body;
    const first = await earnings();
    // T+N: the days at least N old are settled to available, the newer ones are still pending.
    expect(first.availableMinor).toBeGreaterThan(0);
    expect(first.pendingMinor).toBeGreaterThan(0);
    const settlements = (await call("GET", "/v1/creators/me/settlements?limit=30", { token: creator })).body.items;
    expect(settlements.length).toBeGreaterThanOrEqual(5);
    expect(settlements.every((s: { state: string }) => s.state === "settled")).toBe(true);
    // What settled is available, less what the demo's withdrawal in review holds (dev/seed-queues.ts).
    expect(first.withdrawingMinor).toBe(50_00);
    expect(settlements.reduce((sum: number, s: { netMinor: number }) => sum + s.netMinor, 0)).toBe(
      first.availableMinor + first.withdrawingMinor,
    );
    const trend = (await call("GET", "/v1/creators/me/insights?days=30", { token: creator })).body.daily;
    expect(trend.filter((d: { tips: number }) => d.tips > 0).length).toBeGreaterThanOrEqual(10);

    // Seeding again changes nothing.
    expect((await call("POST", "/v1/dev/seed")).status).toBe(200);
    expect(await earnings()).toEqual(first);
    expect((await call("GET", "/v1/creators/me/settlements?limit=30", { token: creator })).body.items).toEqual(
      settlements,
    );
    expect(await invariantReport()).toMatchObject({ ok: true });
  });
});
