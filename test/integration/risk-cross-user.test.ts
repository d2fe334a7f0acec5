/**
 * Cross-user risk patterns (issue 16) end to end: the cash-out chain (top-up → immediate tips
 * to one creator → that creator's withdrawal, held for review with the reason readable by
 * finance) and one device behind many accounts. Rules are pinned in this file's isolate
 * (`riskCache.pinForTests`), so no other file's requests see them.
 */
import { afterEach, describe, expect, it } from "vitest";
import { riskCache } from "../../src/db/risk";
import { accountAddress } from "../../src/domain/accounts";
import { type RiskRule, RiskRuleSchema } from "../../src/domain/risk/rules";
import { payerDecidesAt } from "../support/sandbox-provider";
import {
  balanceOf,
  call,
  fund,
  invariantReport,
  key,
  ledger,
  openRoom,
  operatorToken,
  token,
  until,
  withPin,
} from "./helpers";
import { payableCreator } from "./money-out-support";

afterEach(() => riskCache.forget());

const run = Math.random().toString(36).slice(2, 8);
const id = (name: string) => `xrisk-${run}-${name}`;

function rule(r: Record<string, unknown>): RiskRule {
  return RiskRuleSchema.parse({ enabled: true, outcome: "review", ...r });
}

const CHAIN = rule({
  id: "cash-out",
  kind: "cash_out_chain",
  windowSec: 86_400,
  freshSec: 600,
  minShareBps: 5_000,
  minMinor: 1_000,
});

/** A payable creator (money-out-support.ts) with `availableMinor` settled, and a live room. */
async function creator(name: string, availableMinor: number): Promise<{ id: string; roomId: string }> {
  const creatorId = id(name);
  await payableCreator(creatorId, availableMinor);
  return { id: creatorId, roomId: await openRoom(creatorId) };
}

/** A top-up through the sandbox channel, approved by the payer, credited. */
async function topUp(userId: string, amount: string): Promise<void> {
  const created = await call("POST", "/v1/payments/orders", {
    token: await token(userId),
    idempotencyKey: key(),
    body: { kind: "topup", channel: "sandbox", amount },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const decided = await payerDecidesAt(created.body.payment.url, "succeeded");
  expect(decided.status).toBe(202);
  const amountMinor = Math.round(Number(amount) * 100);
  await until(
    () => balanceOf(accountAddress.userWallet(userId)),
    (b) => b >= amountMinor,
  );
}

async function tipCustom(roomId: string, payerId: string, amount: string) {
  const res = await call("POST", `/v1/rooms/${roomId}/tips`, {
    token: await token(payerId),
    body: { kind: "custom", amount },
    idempotencyKey: key(),
  });
  expect([200, 201, 202], JSON.stringify(res.body)).toContain(res.status);
}

/** The creator's tip rows in every shard (the queued commit path writes them after the answer). */
async function tipsInto(creatorId: string): Promise<number> {
  let n = 0;
  for (const shard of (await ledger()).shards) {
    n +=
      (await shard.db
        .prepare("SELECT COUNT(*) AS n FROM tips WHERE creator_id = ?")
        .bind(creatorId)
        .first<number>("n")) ?? 0;
  }
  return n;
}

function withdraw(creatorId: string, amount: string) {
  return token(creatorId, "creator").then(async (t) =>
    call("POST", "/v1/creators/me/withdrawals", {
      token: t,
      body: await withPin(creatorId, { amount }),
      idempotencyKey: key(),
    }),
  );
}

/** The withdrawal as finance's review queue lists it (oldest first, paged). */
async function inReviewQueue(withdrawalId: string): Promise<any> {
  const t = await operatorToken();
  let cursor: string | null = null;
  for (;;) {
    const page: { status: number; body: any } = await call(
      "GET",
      `/v1/admin/withdrawals?state=requested&limit=100${cursor === null ? "" : `&cursor=${cursor}`}`,
      { token: t },
    );
    expect(page.status, JSON.stringify(page.body)).toBe(200);
    const found = (page.body.withdrawals as any[]).find((w) => w.id === withdrawalId);
    if (found !== undefined || page.body.nextCursor === null) return found;
    cursor = page.body.nextCursor;
  }
}

describe("the cash-out chain", () => {
  it("top-ups tipped at once to one creator: that creator's withdrawal waits for review with the reason readable", async () => {
    riskCache.pinForTests([CHAIN]);
    const c = await creator("chain-creator", 50_000);
    const payers = [id("chain-p1"), id("chain-p2"), id("chain-p3")];
    for (const p of payers) {
      await topUp(p, "30.00");
      await tipCustom(c.roomId, p, "20.00");
    }
    await until(
      () => tipsInto(c.id),
      (n) => n === 3,
    );
    const res = await withdraw(c.id, "100.00");
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.withdrawal).toMatchObject({ state: "requested", review: "manual" });
    expect(res.body.withdrawal.reviewReasons).toEqual(["risk_cash_out_chain"]);
    const mine = await inReviewQueue(res.body.withdrawal.id);
    expect(mine?.reviewReasons).toEqual(["risk_cash_out_chain"]);
    // Each tip's creator part counts (the platform's share stays out): 100% of it was fresh.
    expect(mine?.reviewDetails.risk_cash_out_chain).toMatch(
      /^100% of [0-9,]+\.[0-9]{2} received in 24 h came from money topped up ≤ 10 min before the tip by 3 payers$/,
    );
    // Held, not refused: the amount left available.
    expect(await balanceOf(accountAddress.creatorAvailable(c.id))).toBe(40_000);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("paid unlocks count as income like tips: top-ups spent at once on the creator's paywall hold the withdrawal", async () => {
    riskCache.pinForTests([CHAIN]);
    const c = await creator("unlock-creator", 50_000);
    const item = await call("POST", "/v1/admin/content", {
      token: await operatorToken(),
      body: { creatorId: c.id, kind: "article", title: "Fresh-money paywall", price: "20.00" },
    });
    expect(item.status, JSON.stringify(item.body)).toBe(201);
    for (const p of [id("unlock-p1"), id("unlock-p2")]) {
      await topUp(p, "30.00");
      const unlocked = await call("POST", `/v1/content/${item.body.id}/unlock`, {
        token: await token(p),
        idempotencyKey: key(),
        body: {},
      });
      expect(unlocked.status, JSON.stringify(unlocked.body)).toBe(201);
    }
    const res = await withdraw(c.id, "100.00");
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.withdrawal).toMatchObject({ state: "requested", review: "manual" });
    expect(res.body.withdrawal.reviewReasons).toEqual(["risk_cash_out_chain"]);
    expect((await inReviewQueue(res.body.withdrawal.id))?.reviewDetails.risk_cash_out_chain).toMatch(
      /^100% of [0-9,]+\.[0-9]{2} received in 24 h came from money topped up ≤ 10 min before the tip by 2 payers$/,
    );
    expect((await invariantReport()).ok).toBe(true);
  });

  it("old money (credited long before the tips) leaves the auto-approval path as it was", async () => {
    riskCache.pinForTests([CHAIN]);
    const c = await creator("old-creator", 50_000);
    const payer = id("old-payer");
    // Funded by an operator's adjustment: no payment credit at all before the tip.
    await fund(payer, "30.00");
    await tipCustom(c.roomId, payer, "20.00");
    await until(
      () => tipsInto(c.id),
      (n) => n === 1,
    );
    const res = await withdraw(c.id, "100.00");
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.withdrawal).toMatchObject({ state: "approved", review: "auto", reviewReasons: [] });
  });

  it("a block rule refuses the withdrawal with nothing held", async () => {
    riskCache.pinForTests([{ ...CHAIN, outcome: "block" }]);
    const c = await creator("block-creator", 50_000);
    const payer = id("block-payer");
    await topUp(payer, "30.00");
    await tipCustom(c.roomId, payer, "20.00");
    await until(
      () => tipsInto(c.id),
      (n) => n === 1,
    );
    const res = await withdraw(c.id, "100.00");
    expect([res.status, res.body.error?.code]).toEqual([403, "risk_blocked"]);
    expect(await balanceOf(accountAddress.creatorAvailable(c.id))).toBe(50_000);
  });
});

describe("one device behind many accounts", () => {
  it("above maxAccounts distinct accounts on one device, the next new account is refused; those seen still pass", async () => {
    riskCache.pinForTests([
      rule({
        id: "device-accounts",
        kind: "device_accounts",
        action: "tip",
        outcome: "block",
        maxAccounts: 2,
        windowSec: 3_600,
      }),
    ]);
    const c = await creator("device-creator", 0);
    const device = { "x-giftwire-device": `dev-${run}-shared` };
    const users = [id("dev-u1"), id("dev-u2"), id("dev-u3")];
    for (const u of users) await fund(u, "10.00");
    const tip = async (u: string, headers: Record<string, string>) =>
      call("POST", `/v1/rooms/${c.roomId}/tips`, {
        token: await token(u),
        body: { kind: "gift", giftId: "rose", quantity: 1 },
        idempotencyKey: key(),
        headers,
      });
    expect((await tip(users[0] ?? "", device)).status).toBe(201);
    expect((await tip(users[1] ?? "", device)).status).toBe(201);
    const third = await tip(users[2] ?? "", device);
    expect([third.status, third.body.error?.code]).toEqual([403, "risk_blocked"]);
    // Accounts already seen on the device go on; the refused one passes from its own device.
    expect((await tip(users[0] ?? "", device)).status).toBe(201);
    expect((await tip(users[2] ?? "", { "x-giftwire-device": `dev-${run}-own` })).status).toBe(201);
    // And it stays refused on the shared one (a refused attempt is not remembered as seen).
    const again = await tip(users[2] ?? "", device);
    expect([again.status, again.body.error?.code]).toEqual([403, "risk_blocked"]);
  });
});

describe("circular tipping", () => {
  it("A tips B, then B tips A back within the window: refused; a third payer tipping A is not", async () => {
    riskCache.pinForTests([rule({ id: "circle", kind: "circular_tipping", outcome: "block", windowSec: 600 })]);
    const a = await creator("circle-a", 0);
    const b = await creator("circle-b", 0);
    const third = id("circle-c");
    for (const u of [a.id, b.id, third]) await fund(u, "10.00");
    const tip = async (payerId: string, roomId: string) =>
      call("POST", `/v1/rooms/${roomId}/tips`, {
        token: await token(payerId),
        body: { kind: "gift", giftId: "rose", quantity: 1 },
        idempotencyKey: key(),
      });
    const first = await tip(a.id, b.roomId);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect((await tip(third, a.roomId)).status).toBe(201);
    const back = await tip(b.id, a.roomId);
    expect([back.status, back.body.error?.code]).toEqual([403, "risk_blocked"]);
    // A tipping B again is not circular (B never tipped A).
    expect((await tip(a.id, b.roomId)).status).toBe(201);
  });
});
