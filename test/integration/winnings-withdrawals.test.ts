/**
 * Withdrawals of red-packet winnings (docs/adr/0017): claims make wallet money withdrawable,
 * top-ups never are, spending takes top-ups first, and a user's withdrawal goes through the
 * creators' request, review and payout path (sandbox channel) from the wallet's withdrawable
 * part. The invariant checker holds the split after each scenario.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { runOperation } from "../../src/db/ledger";
import { composeWithdrawalHold } from "../../src/db/operations/withdrawal-hold";
import { payoutAccountContext } from "../../src/db/reads/payout-accounts";
import { openLedger } from "../../src/db/shards";
import { accountAddress } from "../../src/domain/accounts";
import { newOwnedId } from "../../src/domain/ids";
import { createLogger } from "../../src/platform/logger";
import { seal } from "../../src/platform/sealing";
import { queryPayout, sendPayout } from "../../src/worker/payouts/dispatch";
import { runProviderAlarm, simulate } from "../support/sandbox-provider";
import {
  balanceOf,
  call,
  fund,
  invariantReport,
  key,
  ledgerSnapshot,
  openRoom,
  operatorToken,
  setPin,
  settleTransit,
  shardDbOf,
  shardDbOfId,
  TEST_PIN,
  token,
  until,
} from "./helpers";

const log = createLogger({ test: "winnings-withdrawals" });
let counter = 0;
const unique = (what: string) => `ww-${what}-${Date.now().toString(36)}-${++counter}`;

/** A user with a PIN and a sandbox payout account past its cooling period (bound as the route binds it). */
async function user(what: string, payee = "payee-ok") {
  const id = unique(what);
  const nowMs = Date.now();
  const accountId = `pa_${id}`;
  const sealed = await seal(
    env.PII_KEYS,
    payoutAccountContext(accountId),
    JSON.stringify({ channel: "sandbox", id: payee }),
  );
  await env.CONTROL.prepare(
    `INSERT INTO payout_accounts (id, creator_id, channel, sealed, key_id, masked, is_default, cooling_until_ms,
       created_at_ms, updated_at_ms) VALUES (?, ?, 'sandbox', ?, ?, 'sandbox ****ok', 1, ?, ?, ?)`,
  )
    .bind(accountId, id, sealed.sealed, sealed.keyId, nowMs - 1, nowMs, nowMs)
    .run();
  await setPin(id);
  return { id, token: await token(id) };
}

/** A one-share red packet of `total` from a fresh funded sender, claimed by `userId`, its credit landed. */
async function win(userId: string, total: string): Promise<void> {
  const creator = unique("room");
  const sender = unique("sender");
  const roomId = await openRoom(creator);
  await fund(sender, "1000.00");
  const sent = await call("POST", `/v1/rooms/${roomId}/red-packets`, {
    token: await token(sender),
    idempotencyKey: key(),
    body: { total, shares: 1, greeting: "恭喜发财" },
  });
  expect(sent.status).toBe(201);
  const packetId: string = sent.body.packet.id;
  const claimed = await call("POST", `/v1/rooms/${roomId}/red-packets/${packetId}/claims`, {
    token: await token(userId),
  });
  expect(claimed.status).toBe(201);
  const db = await shardDbOfId(packetId);
  await until(
    () =>
      db.prepare("SELECT credited_count FROM red_packets WHERE id = ?").bind(packetId).first<number>("credited_count"),
    (n) => n === 1,
  );
  await settleTransit();
}

/**
 * A request retried while the PIN answers `pin_locked`: each request in flight claims one of the
 * PIN's 5 tries before its PBKDF2, so beyond 5 at once the PIN is locked until a right one
 * settles (db/payment-pins.ts); a client retries, as this does.
 */
async function patiently(send: () => ReturnType<typeof call<any>>) {
  for (let attempt = 0; ; attempt++) {
    const res = await send();
    if (res.body?.error?.code !== "pin_locked" || attempt >= 200) return res;
    await new Promise((r) => setTimeout(r, 10 + Math.random() * 40));
  }
}

function withdraw(u: { token: string }, amount: string, idempotencyKey = key()) {
  return call("POST", "/v1/me/winnings/withdrawals", {
    token: u.token,
    body: { amount, pin: TEST_PIN },
    idempotencyKey,
  });
}

async function winnings(u: { token: string }) {
  const res = await call("GET", "/v1/me/winnings", { token: u.token });
  expect(res.status).toBe(200);
  return res.body.winnings as {
    withdrawableMinor: number;
    walletMinor: number;
    claimedMinor: number;
    withdrawnMinor: number;
  };
}

async function row(id: string) {
  return (await shardDbOfId(id))
    .prepare("SELECT * FROM withdrawals WHERE id = ?")
    .bind(id)
    .first<Record<string, any>>();
}

async function context() {
  return { env, ledger: await openLedger(env), log, nowMs: Date.now() };
}

async function expectInvariantsClean() {
  await settleTransit();
  const report = await invariantReport();
  expect(report.violations).toEqual([]);
}

describe("winnings are the only withdrawable money", () => {
  it("a user with only top-ups is refused with winnings_insufficient and nothing moves", async () => {
    const u = await user("topup");
    await fund(u.id, "500.00");
    const before = await ledgerSnapshot();
    const res = await withdraw(u, "100.00");
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("winnings_insufficient");
    // The same answer for the smallest withdrawal: top-ups are never withdrawable.
    expect((await withdraw(u, "10.00")).body.error.code).toBe("winnings_insufficient");
    expect(await ledgerSnapshot()).toBe(before);
    expect(await winnings(u)).toEqual({
      withdrawableMinor: 0,
      withdrawable: "0.00",
      walletMinor: 50_000,
      claimedMinor: 0,
      withdrawnMinor: 0,
      currency: "CNY",
    });
    expect((await call("GET", "/v1/me/winnings/withdrawals", { token: u.token })).body.withdrawals).toEqual([]);
    await expectInvariantsClean();
  });

  it("the batch's own guard refuses a hold above the winnings even when the wallet could pay it", async () => {
    const u = await user("guard");
    await fund(u.id, "300.00");
    await win(u.id, "20.00");
    // Above the winnings but below the wallet: the domain refuses first (20.00 withdrawable).
    expect((await withdraw(u, "20.01")).body.error.code).toBe("winnings_insufficient");
    // And the batch itself, for a request whose read was stale (composed here past the domain).
    const ledger = await openLedger(env);
    const shard = ledger.forOwner(u.id);
    const nowMs = Date.now();
    const before = await ledgerSnapshot();
    const hold = composeWithdrawalHold(shard, {
      id: newOwnedId("wd", ledger.bucketOf(u.id), nowMs),
      ownerKind: "user",
      creatorId: u.id,
      amountMinor: 2_001,
      feeMinor: 0,
      currency: "CNY",
      channel: "sandbox",
      payoutAccountId: `pa_${u.id}`,
      destinationMasked: "sandbox ****ok",
      approval: "auto",
      reviewReasons: [],
      idempotencyKey: key(),
      dayStartMs: nowMs - 1_000,
      dayEndMs: nowMs + 1_000,
      perDayMax: 10,
      dailyAmountMaxMinor: 10_000_000,
      sendBackstopAtMs: nowMs + 60_000,
      nowMs,
    });
    expect((await runOperation(shard, hold)).verdict).toEqual({ kind: "rejected", code: "winnings_insufficient" });
    expect(await ledgerSnapshot()).toBe(before);
    // Exactly the winnings: held, although the wallet holds 320.00.
    const ok = await withdraw(u, "20.00");
    expect(ok.status).toBe(201);
    expect(ok.body.withdrawal).toMatchObject({ ownerKind: "user", creatorId: u.id, amountMinor: 2_000 });
    expect(await balanceOf(accountAddress.userWallet(u.id))).toBe(30_000);
    expect(await balanceOf(accountAddress.userWithdrawing(u.id))).toBe(2_000);
    expect((await withdraw(u, "10.00")).body.error.code).toBe("winnings_insufficient");
    await expectInvariantsClean();
  });
});

describe("spending order: top-ups first", () => {
  it("tips spend top-ups before winnings; winnings go only once the wallet goes below them", async () => {
    const u = await user("spend");
    const creator = unique("creator");
    const roomId = await openRoom(creator);
    await fund(u.id, "100.00");
    await win(u.id, "50.00");
    expect(await winnings(u)).toMatchObject({ withdrawableMinor: 5_000, walletMinor: 15_000, claimedMinor: 5_000 });
    const tip = (amount: string) =>
      call("POST", `/v1/rooms/${roomId}/tips`, {
        token: u.token,
        idempotencyKey: key(),
        body: { kind: "custom", amount },
      });
    // 90.00 of 150.00: the wallet (60.00) is still above the winnings (50.00).
    expect((await tip("90.00")).status).toBe(201);
    expect(await winnings(u)).toMatchObject({ withdrawableMinor: 5_000, walletMinor: 6_000 });
    // 30.00 more: the wallet (30.00) is below the winnings, which come down to it.
    expect((await tip("30.00")).status).toBe(201);
    expect(await winnings(u)).toMatchObject({ withdrawableMinor: 3_000, walletMinor: 3_000 });
    // A later top-up is not withdrawable: the spent winnings stay spent.
    await fund(u.id, "200.00");
    expect(await winnings(u)).toMatchObject({ withdrawableMinor: 3_000, walletMinor: 23_000, claimedMinor: 5_000 });
    expect((await withdraw(u, "30.01")).body.error.code).toBe("winnings_insufficient");
    expect((await withdraw(u, "30.00")).status).toBe(201);
    expect(await winnings(u)).toMatchObject({ withdrawableMinor: 0, walletMinor: 20_000, withdrawnMinor: 3_000 });
    await expectInvariantsClean();
  });
});

describe("a winnings withdrawal through the sandbox channel", () => {
  it("end to end: request, the queue's send, the provider's callback, paid; listed and read by its owner only", async () => {
    await simulate({ deliveryDelayMs: [0, 0], duplicateRate: 1 });
    const u = await user("e2e");
    await fund(u.id, "40.00");
    await win(u.id, "66.00");
    const requested = await withdraw(u, "66.00");
    expect(requested.status).toBe(201);
    const w = requested.body.withdrawal;
    expect(w).toMatchObject({ state: "approved", review: "auto", ownerKind: "user", amountMinor: 6_600 });
    await until(
      () => row(w.id),
      (r) => r?.state === "paying",
    );
    const paid = await until(
      async () => {
        await runProviderAlarm();
        return row(w.id);
      },
      (r) => r?.state === "paid",
    );
    expect(paid?.state).toBe("paid");
    expect(await balanceOf(accountAddress.userWallet(u.id))).toBe(4_000);
    expect(await balanceOf(accountAddress.userWithdrawing(u.id))).toBe(0);
    expect(await winnings(u)).toMatchObject({ withdrawableMinor: 0, walletMinor: 4_000, withdrawnMinor: 6_600 });
    const view = await call("GET", `/v1/me/winnings/withdrawals/${w.id}`, { token: u.token });
    expect(view.body.withdrawal.transitions.map((t: { cause: string; to: string }) => `${t.cause}>${t.to}`)).toEqual([
      "request>requested",
      "auto_approve>approved",
      "pay>paying",
      "callback>paid",
    ]);
    const list = await call("GET", "/v1/me/winnings/withdrawals", { token: u.token });
    expect(list.body.withdrawals.map((x: { id: string }) => x.id)).toEqual([w.id]);
    // Not a creator's withdrawal, and not anyone else's.
    expect(
      (await call("GET", `/v1/creators/me/withdrawals/${w.id}`, { token: await token(u.id, "creator") })).status,
    ).toBe(404);
    expect(
      (await call("GET", `/v1/me/winnings/withdrawals/${w.id}`, { token: await token(unique("other")) })).status,
    ).toBe(404);
    await expectInvariantsClean();
  });

  it("concurrent duplicates: one key twenty times is one withdrawal; twenty keys for all the winnings hold it once", async () => {
    const u = await user("dupes");
    await fund(u.id, "100.00");
    await win(u.id, "45.00");
    const k = key();
    const same = await Promise.all(Array.from({ length: 20 }, () => patiently(() => withdraw(u, "45.00", k))));
    const created = same.filter((r) => r.status === 201);
    expect(new Set(created.map((r) => r.body.withdrawal.id)).size).toBe(1);
    // The others were in flight while the first held it (409), never a second hold.
    for (const r of same.filter((x) => x.status !== 201)) expect(r.body.error.code).toBe("idempotency_key_in_flight");
    const holdsOf = async (userId: string) =>
      (
        await (
          await shardDbOf(userId)
        )
          .prepare("SELECT id FROM withdrawals WHERE creator_id = ? AND owner_kind = 'user'")
          .bind(userId)
          .all<{ id: string }>()
      ).results;
    expect(await holdsOf(u.id)).toEqual([{ id: created[0]?.body.withdrawal.id }]);
    expect(await balanceOf(accountAddress.userWithdrawing(u.id))).toBe(4_500);

    // Twenty keys, each for all the winnings, with 100.00 of top-ups that could pay three of them.
    const v = await user("race");
    await fund(v.id, "100.00");
    await win(v.id, "45.00");
    const many = await Promise.all(Array.from({ length: 20 }, () => patiently(() => withdraw(v, "45.00"))));
    expect(many.filter((r) => r.status === 201).length).toBe(1);
    expect(
      many
        .filter((r) => r.status !== 201)
        .map((r) => r.body.error.code)
        .every((code) => code === "winnings_insufficient"),
    ).toBe(true);
    expect((await holdsOf(v.id)).length).toBe(1);
    expect(await balanceOf(accountAddress.userWithdrawing(v.id))).toBe(4_500);
    expect(await balanceOf(accountAddress.userWallet(v.id))).toBe(10_000);
    await expectInvariantsClean();
  });

  it("a failed payout puts the money back into winnings exactly once", async () => {
    await simulate({ deliveryDelayMs: [0, 0], duplicateRate: 1 });
    const u = await user("fail", "fail-payee");
    await fund(u.id, "10.00");
    await win(u.id, "30.00");
    const w = (await withdraw(u, "25.00")).body.withdrawal;
    await sendPayout(await context(), w.id);
    expect((await row(w.id))?.state).toBe("paying");
    expect(await winnings(u)).toMatchObject({ withdrawableMinor: 500, walletMinor: 1_500, withdrawnMinor: 2_500 });
    for (let i = 0; i < 20 && (await runProviderAlarm()); i++);
    for (let i = 0; i < 4; i++) await queryPayout(await context(), w.id);
    expect((await row(w.id))?.state).toBe("failed");
    expect(await winnings(u)).toEqual(
      expect.objectContaining({ withdrawableMinor: 3_000, walletMinor: 4_000, claimedMinor: 3_000, withdrawnMinor: 0 }),
    );
    expect(await balanceOf(accountAddress.userWithdrawing(u.id))).toBe(0);
    // Withdrawable again, in full.
    expect((await withdraw(u, "30.00")).status).toBe(201);
    await expectInvariantsClean();
  });

  it("a large one waits for review like a creator's; an operator's reject gives the winnings back", async () => {
    const u = await user("review");
    // A share is at most 200.00 on average (LIMITS.packetAverageShareMaxMinor): three packets.
    for (let i = 0; i < 3; i++) await win(u.id, "200.00");
    const w = (await withdraw(u, "600.00")).body.withdrawal;
    expect(w).toMatchObject({ state: "requested", review: "manual", ownerKind: "user" });
    const rejected = await call("POST", `/v1/admin/withdrawals/${w.id}/reject`, {
      token: await operatorToken(),
      body: { reason: "payee name mismatch" },
    });
    expect(rejected.status).toBe(200);
    expect((await row(w.id))?.state).toBe("rejected");
    expect(await winnings(u)).toMatchObject({ withdrawableMinor: 60_000, walletMinor: 60_000, withdrawnMinor: 0 });
    await expectInvariantsClean();
  });
});

describe("the invariant checker covers the split", () => {
  it("names winnings above the wallet, above the claims, and a withdrawn total that does not match", async () => {
    const u = await user("tamper");
    await fund(u.id, "20.00");
    await win(u.id, "15.00");
    await expectInvariantsClean();
    const ledger = await openLedger(env);
    const db = ledger.forOwner(u.id).db;
    const set = (sql: string) => db.prepare(sql).bind(u.id).run();
    const mine = async () =>
      (await invariantReport()).violations.filter((v: { userId?: string }) => v.userId === u.id).map((v) => v.kind);
    await set("UPDATE user_winnings SET withdrawable_minor = 3501 WHERE user_id = ?");
    expect(await mine()).toEqual(["winnings_exceed_wallet"]);
    await set("UPDATE user_winnings SET withdrawable_minor = 1501 WHERE user_id = ?");
    expect(await mine()).toEqual(["winnings_exceed_claims"]);
    await set("UPDATE user_winnings SET withdrawable_minor = 1500, withdrawn_minor = 1 WHERE user_id = ?");
    expect(await mine()).toEqual(["winnings_exceed_claims"]);
    await set("UPDATE user_winnings SET withdrawable_minor = 1000, withdrawn_minor = 1 WHERE user_id = ?");
    expect(await mine()).toEqual(["winnings_withdrawn_mismatch"]);
    await set("UPDATE user_winnings SET withdrawable_minor = 1500, withdrawn_minor = 0 WHERE user_id = ?");
    await expectInvariantsClean();
  });
});
