/**
 * Payout accounts through the API: binding (validated, sealed, masked), the list, the one
 * default and switching it (atomically, under concurrency), removal, and the cooling period
 * that blocks withdrawals to an account that just became the place money goes.
 */

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { findDefaultPayoutAccount, findPayoutAccount, openPayee } from "../../src/db/reads/payout-accounts";
import { LIMITS } from "../../src/domain/limits";
import { call, token } from "./helpers";

const COOLING = LIMITS.payoutAccountCoolingMs;

const SECRETS = {
  openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
  alipayLogon: "13812345678",
  alipayName: "张三丰",
  alipayUserId: "2088102146225135",
  stripe: "acct_1Nv0FGQ9RKHgCVdK",
  sandbox: "sandbox-creator-42",
};

const ACCOUNTS = {
  wechatpay: { channel: "wechatpay", openid: SECRETS.openid },
  alipay: { channel: "alipay", identity: "logon_id", id: SECRETS.alipayLogon, name: SECRETS.alipayName },
  alipayUser: { channel: "alipay", identity: "user_id", id: SECRETS.alipayUserId },
  stripe: { channel: "stripe", accountId: SECRETS.stripe },
  sandbox: { channel: "sandbox", id: SECRETS.sandbox },
} as const;

let counter = 0;
function newCreator(): string {
  counter += 1;
  return `pac-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

async function bind(creatorId: string, body: Record<string, unknown>) {
  return call("POST", "/v1/creators/me/payout-accounts", { token: await token(creatorId, "creator"), body });
}

async function list(creatorId: string) {
  return call("GET", "/v1/creators/me/payout-accounts", { token: await token(creatorId, "creator") });
}

async function makeDefault(creatorId: string, accountId: string) {
  return call("PUT", `/v1/creators/me/payout-accounts/${accountId}/default`, {
    token: await token(creatorId, "creator"),
  });
}

async function remove(creatorId: string, accountId: string) {
  return call("DELETE", `/v1/creators/me/payout-accounts/${accountId}`, { token: await token(creatorId, "creator") });
}

async function defaultsOf(creatorId: string): Promise<string[]> {
  const { results } = await env.CONTROL.prepare(
    "SELECT id FROM payout_accounts WHERE creator_id = ? AND is_default = 1 AND removed_at_ms IS NULL",
  )
    .bind(creatorId)
    .all<{ id: string }>();
  return results.map((r) => r.id);
}

/** Pretend an account was bound long ago: its cooling is over. */
async function cooledDown(accountId: string) {
  await env.CONTROL.prepare("UPDATE payout_accounts SET cooling_until_ms = 1 WHERE id = ?").bind(accountId).run();
}

describe("binding a payout account", () => {
  it("binds each channel, shows it masked, seals it, and never answers or stores the account in clear", async () => {
    const creatorId = newCreator();
    const replies: unknown[] = [];
    const expected = {
      wechatpay: "oUpF****eS6o",
      alipay: "138****5678 · **丰",
      alipayUser: "2088****5135",
      stripe: "acct_1Nv0****CVdK",
      sandbox: "sand****r-42",
    };
    for (const [name, body] of Object.entries(ACCOUNTS)) {
      const t0 = Date.now();
      const res = await bind(creatorId, body);
      const t1 = Date.now();
      replies.push(res.body);
      expect(res.status, name).toBe(201);
      expect(res.body).toMatchObject({
        channel: body.channel,
        masked: expected[name as keyof typeof expected],
        isDefault: name === "wechatpay",
        cooling: true,
      });
      expect(res.body.id).toMatch(/^pa_[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(res.body.coolingUntilMs).toBeGreaterThanOrEqual(t0 + COOLING);
      expect(res.body.coolingUntilMs).toBeLessThanOrEqual(t1 + COOLING);

      // The row holds the account only sealed; it opens, for the payout path, as what was bound.
      const row = await findPayoutAccount(env.CONTROL, res.body.id);
      expect(row?.key_id).toBe("k2");
      const payee = await openPayee(env.PII_KEYS, row ?? (undefined as never));
      expect(payee.channel).toBe(body.channel);
    }
    const listed = await list(creatorId);
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((a: { id: string }) => a.id)).toEqual(replies.map((r) => (r as { id: string }).id));
    replies.push(listed.body);

    const { results } = await env.CONTROL.prepare("SELECT * FROM payout_accounts WHERE creator_id = ?")
      .bind(creatorId)
      .all();
    const stored = JSON.stringify(results);
    const answered = JSON.stringify(replies);
    for (const secret of [...Object.values(SECRETS), "张三", "8uMuAJO", "12345678", "102146225"]) {
      expect(stored, secret).not.toContain(secret);
      expect(answered, secret).not.toContain(secret);
    }
    expect(answered).not.toContain("sealed");
  });

  it("opens each account as the channel's payout client addresses it", async () => {
    const creatorId = newCreator();
    const payees = [];
    for (const body of Object.values(ACCOUNTS)) {
      const res = await bind(creatorId, body);
      payees.push(
        await openPayee(env.PII_KEYS, (await findPayoutAccount(env.CONTROL, res.body.id)) ?? (undefined as never)),
      );
    }
    expect(payees).toEqual([
      { channel: "wechatpay", payee: SECRETS.openid, payeeName: null, identity: "openid" },
      { channel: "alipay", payee: SECRETS.alipayLogon, payeeName: SECRETS.alipayName, identity: "logon_id" },
      { channel: "alipay", payee: SECRETS.alipayUserId, payeeName: null, identity: "user_id" },
      { channel: "stripe", payee: SECRETS.stripe, payeeName: null, identity: "account" },
      { channel: "sandbox", payee: SECRETS.sandbox, payeeName: null, identity: "sandbox" },
    ]);
  });

  it("refuses an invalid account with the rule it broke, and unknown fields, storing nothing", async () => {
    const creatorId = newCreator();
    const cases: [Record<string, unknown>, string][] = [
      [{ channel: "wechatpay", openid: "short" }, "openid_invalid"],
      [{ channel: "alipay", identity: "logon_id", id: "13812345678" }, "payee_name_required"],
      [{ channel: "alipay", identity: "user_id", id: "2088123" }, "alipay_user_id_invalid"],
      [{ channel: "stripe", accountId: "cus_1Nv0FGQ9RKHgCVdK" }, "stripe_account_invalid"],
      [{ channel: "sandbox", id: "has space" }, "sandbox_id_invalid"],
    ];
    for (const [body, problem] of cases) {
      const res = await bind(creatorId, body);
      expect(res.status, problem).toBe(400);
      expect(res.body.error, problem).toMatchObject({ code: "malformed_request", details: { problem } });
    }
    expect((await bind(creatorId, { channel: "paypal", id: "x" })).status).toBe(400);
    expect((await bind(creatorId, { ...ACCOUNTS.stripe, isDefault: true })).status).toBe(400);
    expect((await list(creatorId)).body.items).toEqual([]);
  });

  it(`allows at most ${LIMITS.payoutAccountsPerCreatorMax} bound accounts; removed ones do not count`, async () => {
    const creatorId = newCreator();
    const ids: string[] = [];
    for (let i = 0; i < LIMITS.payoutAccountsPerCreatorMax; i++) {
      const res = await bind(creatorId, { channel: "sandbox", id: `acct-${i}`, makeDefault: i === 3 });
      expect(res.status).toBe(201);
      ids.push(res.body.id);
    }
    const over = await bind(creatorId, { ...ACCOUNTS.sandbox, makeDefault: true });
    expect(over.status).toBe(409);
    expect(over.body.error.code).toBe("payout_accounts_limit");
    // The refused makeDefault did not clear the default either.
    expect(await defaultsOf(creatorId)).toEqual([ids[3]]);
    await remove(creatorId, ids[0] ?? "");
    expect((await bind(creatorId, ACCOUNTS.sandbox)).status).toBe(201);
  });
});

describe("the default account", () => {
  it("is the first account; makeDefault on a new one moves it, and the new one cools", async () => {
    const creatorId = newCreator();
    const first = await bind(creatorId, ACCOUNTS.sandbox);
    const second = await bind(creatorId, ACCOUNTS.stripe);
    expect([first.body.isDefault, second.body.isDefault]).toEqual([true, false]);
    const third = await bind(creatorId, { ...ACCOUNTS.wechatpay, makeDefault: true });
    expect(third.body.isDefault).toBe(true);
    expect(await defaultsOf(creatorId)).toEqual([third.body.id]);
    expect((await findDefaultPayoutAccount(env.CONTROL, creatorId))?.id).toBe(third.body.id);
  });

  it("switching to a cooled-down account starts its cooling again; re-choosing the default changes nothing", async () => {
    const creatorId = newCreator();
    const a = (await bind(creatorId, ACCOUNTS.sandbox)).body;
    const b = (await bind(creatorId, ACCOUNTS.stripe)).body;
    await cooledDown(b.id);
    await cooledDown(a.id);

    const t0 = Date.now();
    const switched = await makeDefault(creatorId, b.id);
    const t1 = Date.now();
    expect(switched.status).toBe(200);
    expect(switched.body).toMatchObject({ id: b.id, isDefault: true, changed: true, cooling: true });
    expect(switched.body.coolingUntilMs).toBeGreaterThanOrEqual(t0 + COOLING);
    expect(switched.body.coolingUntilMs).toBeLessThanOrEqual(t1 + COOLING);
    expect(await defaultsOf(creatorId)).toEqual([b.id]);

    await cooledDown(b.id);
    const again = await makeDefault(creatorId, b.id);
    expect(again.body).toMatchObject({ id: b.id, isDefault: true, changed: false, cooling: false, coolingUntilMs: 1 });

    // The account that lost the default keeps its state; it is not cooling.
    const listed = (await list(creatorId)).body.items as { id: string; isDefault: boolean; cooling: boolean }[];
    expect(listed.map((x) => [x.id, x.isDefault, x.cooling])).toEqual([
      [a.id, false, false],
      [b.id, true, false],
    ]);
  });

  it("has exactly one winner when two switches race", async () => {
    const creatorId = newCreator();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await bind(creatorId, { channel: "sandbox", id: `race-${i}` })).body.id);
    for (let round = 0; round < 8; round++) {
      const [x, y] = [ids[1 + (round % 2)] ?? "", ids[2 - (round % 2)] ?? ""];
      const replies = await Promise.all([makeDefault(creatorId, x), makeDefault(creatorId, y)]);
      expect(replies.map((r) => r.status)).toEqual([200, 200]);
      const defaults = await defaultsOf(creatorId);
      expect(defaults).toHaveLength(1);
      expect([x, y]).toContain(defaults[0]);
    }
    // Racing binds that each ask to be the default: still one default, and it is one of them.
    const binds = await Promise.all(
      [0, 1, 2].map((i) => bind(creatorId, { channel: "sandbox", id: `bind-race-${i}`, makeDefault: true })),
    );
    expect(binds.map((r) => r.status)).toEqual([201, 201, 201]);
    const defaults = await defaultsOf(creatorId);
    expect(defaults).toHaveLength(1);
    expect(binds.map((r) => r.body.id)).toContain(defaults[0]);
  });

  it("refuses another creator's account, a removed one and an unknown one, leaving the default alone", async () => {
    const owner = newCreator();
    const other = newCreator();
    const mine = (await bind(owner, ACCOUNTS.sandbox)).body;
    const spare = (await bind(owner, ACCOUNTS.stripe)).body;
    const theirs = (await bind(other, ACCOUNTS.wechatpay)).body;
    for (const id of [theirs.id, `pa_${"0".repeat(26)}`]) {
      const res = await makeDefault(owner, id);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe("payout_account_not_found");
    }
    await remove(owner, spare.id);
    expect((await makeDefault(owner, spare.id)).body.error.code).toBe("payout_account_not_found");
    expect(await defaultsOf(owner)).toEqual([mine.id]);
    expect(await defaultsOf(other)).toEqual([theirs.id]);
    expect((await remove(owner, theirs.id)).status).toBe(404);
    expect((await list(other)).body.items).toHaveLength(1);
  });
});

describe("removing an account", () => {
  it("is soft and idempotent; removing the default leaves none until another is chosen", async () => {
    const creatorId = newCreator();
    const a = (await bind(creatorId, ACCOUNTS.sandbox)).body;
    const b = (await bind(creatorId, ACCOUNTS.stripe)).body;
    const removed = await remove(creatorId, a.id);
    expect(removed).toMatchObject({ status: 200, body: { id: a.id, removed: true } });
    expect((await remove(creatorId, a.id)).body).toEqual({ id: a.id, removed: false });
    expect((await list(creatorId)).body.items.map((x: { id: string }) => x.id)).toEqual([b.id]);
    expect(await defaultsOf(creatorId)).toEqual([]);
    const row = await findPayoutAccount(env.CONTROL, a.id);
    expect(row?.removed_at_ms).toBeGreaterThan(0);
    // A withdrawal already addressed to it can still be paid.
    expect((await openPayee(env.PII_KEYS, row ?? (undefined as never))).payee).toBe(SECRETS.sandbox);
    expect((await makeDefault(creatorId, b.id)).body).toMatchObject({ isDefault: true, changed: true });
  });
});

describe("sealed accounts", () => {
  it("refuse to open when tampered with or moved to another row", async () => {
    const creatorId = newCreator();
    const a = (await bind(creatorId, ACCOUNTS.sandbox)).body;
    const b = (await bind(creatorId, ACCOUNTS.stripe)).body;
    const rowA = (await findPayoutAccount(env.CONTROL, a.id)) ?? (undefined as never);
    const rowB = (await findPayoutAccount(env.CONTROL, b.id)) ?? (undefined as never);

    // A's ciphertext copied into B's row (say, to redirect B's payouts): B no longer opens.
    await env.CONTROL.prepare("UPDATE payout_accounts SET sealed = ? WHERE id = ?").bind(rowA.sealed, b.id).run();
    const moved = (await findPayoutAccount(env.CONTROL, b.id)) ?? (undefined as never);
    await expect(openPayee(env.PII_KEYS, moved)).rejects.toMatchObject({ code: "sealed_value_corrupt" });

    // One flipped byte of B's own ciphertext.
    const bytes = Uint8Array.from(atob(rowB.sealed), (ch) => ch.charCodeAt(0));
    bytes[20] = (bytes[20] ?? 0) ^ 1;
    const tampered = btoa(String.fromCharCode(...bytes));
    await expect(openPayee(env.PII_KEYS, { ...rowB, sealed: tampered })).rejects.toMatchObject({
      code: "sealed_value_corrupt",
    });
    // Claimed to be under a key the ring does not hold.
    await expect(openPayee(env.PII_KEYS, { ...rowB, key_id: "k9" })).rejects.toMatchObject({ code: "pii_key_unknown" });
    // The original still opens.
    expect((await openPayee(env.PII_KEYS, rowB)).payee).toBe(SECRETS.stripe);
  });
});

describe("who may", () => {
  it("keeps payout accounts to creators", async () => {
    for (const roles of [["viewer"], ["support", "admin", "finance"]] as const) {
      const t = await token("not-a-creator", ...roles);
      const res = await call("GET", "/v1/creators/me/payout-accounts", { token: t });
      expect(res.status).toBe(403);
    }
  });
});
