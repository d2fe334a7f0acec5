/** `npm start`'s demo creator is ready to be paid: verified, with a cooled sandbox default account. */

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEMO_PAYOUT_ACCOUNT_ID } from "../../dev/seed-payout";
import { findPayoutAccount, openPayee } from "../../src/db/reads/payout-accounts";
import { call, token } from "./helpers";

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
