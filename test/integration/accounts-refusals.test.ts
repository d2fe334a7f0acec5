/**
 * A refused request changes nothing: every refusal of the verification and payout-account
 * routes leaves both control tables byte-identical.
 */

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, token } from "./helpers";

const ID = "11010519491231002X";

async function snapshot() {
  const tables = ["creator_verifications", "payout_accounts"];
  const out: Record<string, unknown[]> = {};
  for (const t of tables) out[t] = (await env.CONTROL.prepare(`SELECT * FROM ${t} ORDER BY rowid`).all()).results;
  return out;
}

describe("refused requests", () => {
  it("leave the verifications and payout accounts exactly as they were", async () => {
    const creator = await token("refusals-creator", "creator");
    const pending = await token("refusals-pending", "creator");
    const support = await token("refusals-support", "support");
    const verified = "refusals-verified";
    const verifiedToken = await token(verified, "creator");
    expect(
      (
        await call("POST", "/v1/creators/me/verification", {
          token: verifiedToken,
          body: { realName: "甲", idNumber: ID },
        })
      ).status,
    ).toBe(201);
    expect((await call("POST", `/v1/admin/verifications/${verified}/approve`, { token: support })).status).toBe(200);
    expect(
      (await call("POST", "/v1/creators/me/verification", { token: pending, body: { realName: "乙", idNumber: ID } }))
        .status,
    ).toBe(201);
    const account = await call("POST", "/v1/creators/me/payout-accounts", {
      token: creator,
      body: { channel: "sandbox", id: "refusals-1" },
    });
    expect(account.status).toBe(201);

    const refusals: [string, string, { token?: string; body?: unknown }, number][] = [
      [
        "POST",
        "/v1/creators/me/verification",
        { token: creator, body: { realName: "丙", idNumber: "110105194912310021" } },
        422,
      ],
      ["POST", "/v1/creators/me/verification", { token: creator, body: { realName: "", idNumber: ID } }, 422],
      ["POST", "/v1/creators/me/verification", { token: pending, body: { realName: "丙", idNumber: ID } }, 409],
      ["POST", "/v1/creators/me/verification", { token: verifiedToken, body: { realName: "丙", idNumber: ID } }, 409],
      ["POST", "/v1/creators/me/verification", { body: { realName: "丙", idNumber: ID } }, 401],
      ["POST", `/v1/admin/verifications/${verified}/reject`, { token: support, body: { reason: "late" } }, 409],
      ["POST", "/v1/admin/verifications/refusals-nobody/approve", { token: support }, 404],
      ["POST", "/v1/admin/verifications/refusals-pending/approve", { token: creator }, 403],
      ["POST", "/v1/creators/me/payout-accounts", { token: creator, body: { channel: "wechatpay", openid: "x" } }, 400],
      ["POST", "/v1/creators/me/payout-accounts", { token: support, body: { channel: "sandbox", id: "s" } }, 403],
      ["PUT", `/v1/creators/me/payout-accounts/pa_${"0".repeat(26)}/default`, { token: creator }, 404],
      ["PUT", `/v1/creators/me/payout-accounts/${account.body.id}/default`, { token: pending }, 404],
      ["DELETE", `/v1/creators/me/payout-accounts/${account.body.id}`, { token: pending }, 404],
      ["POST", "/v1/admin/pii/reseal", { token: support, body: { rowsMax: 10 } }, 403],
    ];
    for (const [method, path, options, status] of refusals) {
      const before = await snapshot();
      const res = await call(method, path, options);
      expect(res.status, `${method} ${path}`).toBe(status);
      expect(await snapshot(), `${method} ${path}`).toEqual(before);
    }
  });
});
