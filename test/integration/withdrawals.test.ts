/**
 * Withdrawals end to end through the sandbox channel: the request's guards under concurrency,
 * review and rejection, the payout's send, callbacks and queries in any order and number,
 * failure after acceptance, unknown answers, the stuck flag; the invariants after each.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { signSandbox } from "../../dev/sandbox-provider/src/signature";
import { runOperation } from "../../src/db/ledger";
import { composeWithdrawalHold } from "../../src/db/operations/withdrawal-hold";
import { applyPayoutOutcome } from "../../src/db/payout-answers";
import { payoutAccountContext } from "../../src/db/reads/payout-accounts";
import { openLedger } from "../../src/db/shards";
import { switchCache } from "../../src/db/switches";
import { moveWithdrawal, setColumns } from "../../src/db/withdrawals";
import { accountAddress } from "../../src/domain/accounts";
import { newOwnedId } from "../../src/domain/ids";
import { LIMITS } from "../../src/domain/limits";
import { withdrawalNumber } from "../../src/domain/withdrawal-number";
import { createLogger } from "../../src/platform/logger";
import { seal } from "../../src/platform/sealing";
import { sweepPayouts } from "../../src/worker/cron/payout-sweep";
import { queryPayout, sendPayout } from "../../src/worker/payouts/dispatch";
import { handlePayoutsBatch } from "../../src/worker/queues/payouts";
import { operationRows } from "../support/ledger-rows";
import { runProviderAlarm, SANDBOX_SECRET, sim, simulate } from "../support/sandbox-provider";
import {
  balanceOf,
  call,
  invariantReport,
  key,
  operatorToken,
  setPin,
  settleTransit,
  shardDbOf,
  TEST_PIN,
  token,
  until,
} from "./helpers";

const log = createLogger({ test: "withdrawals" });
let creatorCounter = 0;

interface Creator {
  readonly id: string;
  readonly token: string;
}

/** A creator with `availableMinor` settled, verified, with a sandbox payout account past its cooling period. */
async function creator(
  availableMinor: number,
  options: { payee?: string; riskHold?: boolean; verified?: boolean; coolingUntilMs?: number } = {},
): Promise<Creator> {
  creatorCounter += 1;
  const id = `wdc-${Date.now().toString(36)}-${creatorCounter}`;
  const nowMs = Date.now();
  const accountId = `pa_${id}`;
  const sealedAccount = await seal(
    env.PII_KEYS,
    payoutAccountContext(accountId),
    JSON.stringify({ channel: "sandbox", id: options.payee ?? "payee-ok" }),
  );
  const sealedIdentity = await seal(env.PII_KEYS, `verification:${id}`, JSON.stringify({ realName: "张三" }));
  await env.CONTROL.batch([
    env.CONTROL.prepare(
      "INSERT INTO creators (user_id, display_name, risk_hold, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?)",
    ).bind(id, id, options.riskHold ? 1 : 0, nowMs, nowMs),
    env.CONTROL.prepare(
      `INSERT INTO creator_verifications (creator_id, state, sealed, key_id, real_name_masked, id_number_masked,
         submitted_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, '张*', '1101**********1234', ?, ?)`,
    ).bind(
      id,
      options.verified === false ? "pending_review" : "verified",
      sealedIdentity.sealed,
      sealedIdentity.keyId,
      nowMs,
      nowMs,
    ),
    env.CONTROL.prepare(
      `INSERT INTO payout_accounts (id, creator_id, channel, sealed, key_id, masked, is_default, cooling_until_ms,
         created_at_ms, updated_at_ms) VALUES (?, ?, 'sandbox', ?, ?, 'sandbox ****ok', 1, ?, ?, ?)`,
    ).bind(accountId, id, sealedAccount.sealed, sealedAccount.keyId, options.coolingUntilMs ?? nowMs - 1, nowMs, nowMs),
  ]);
  if (availableMinor > 0) {
    const db = await shardDbOf(id);
    await db.batch(
      operationRows(db, {
        id: `test-settle:${id}`,
        kind: "adjustment",
        postings: [
          {
            from: accountAddress.worldAdjustments(),
            to: accountAddress.creatorAvailable(id),
            amountMinor: availableMinor,
          },
        ],
        atMs: nowMs,
      }),
    );
  }
  await setPin(id);
  return { id, token: await token(id, "creator") };
}

function request(c: Creator, amount: string, idempotencyKey = key(), pin: string | null = TEST_PIN) {
  return call("POST", "/v1/creators/me/withdrawals", {
    token: c.token,
    body: pin === null ? { amount } : { amount, pin },
    idempotencyKey,
  });
}

/**
 * A request many of which are in flight at once: each claims one of the PIN's 5 tries before
 * its PBKDF2, so beyond 5 in flight the PIN answers `pin_locked` until a right one settles and
 * clears the count (db/payment-pins.ts); a client retries, as this does.
 */
async function requestConcurrently(c: Creator, amount: string) {
  for (let attempt = 0; ; attempt++) {
    const res = await request(c, amount);
    if (res.body?.error?.code !== "pin_locked" || attempt >= 200) return res;
    await new Promise((r) => setTimeout(r, 10 + Math.random() * 40));
  }
}

async function balances(creatorId: string) {
  return {
    available: await balanceOf(accountAddress.creatorAvailable(creatorId)),
    withdrawing: await balanceOf(accountAddress.creatorWithdrawing(creatorId)),
  };
}

async function expectInvariantsClean() {
  await settleTransit();
  const report = await invariantReport();
  expect(report.violations).toEqual([]);
  expect(report.ok).toBe(true);
}

async function context(bindings: Env = env) {
  return { env: bindings, ledger: await openLedger(bindings), log, nowMs: Date.now() };
}

async function row(id: string) {
  const ledger = await openLedger(env);
  return ledger.forId(id).db.prepare("SELECT * FROM withdrawals WHERE id = ?").bind(id).first<Record<string, any>>();
}

async function operationsOf(withdrawalId: string) {
  const ledger = await openLedger(env);
  const { results } = await ledger
    .forId(withdrawalId)
    .db.prepare("SELECT id, kind FROM operations WHERE json_extract(metadata, '$.withdrawalId') = ? ORDER BY id")
    .bind(withdrawalId)
    .all<{ id: string; kind: string }>();
  return results;
}

async function transitionCauses(withdrawalId: string): Promise<string[]> {
  const { results } = await (await openLedger(env))
    .forId(withdrawalId)
    .db.prepare("SELECT cause FROM withdrawal_transitions WHERE withdrawal_id = ? ORDER BY seq")
    .bind(withdrawalId)
    .all<{ cause: string }>();
  return results.map((r) => r.cause);
}

/** The environment with its sandbox channel wrapped: counts the payout sends per number. */
function countingSandbox() {
  const sandbox = env.SANDBOX;
  if (!sandbox) throw new Error("SANDBOX is bound in the workers project");
  const sent: string[] = [];
  const fetcher = {
    fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = new Request(input, init);
      if (request.method === "POST" && new URL(request.url).pathname === "/v1/payouts") {
        sent.push((JSON.parse(await request.clone().text()) as { payoutNo: string }).payoutNo);
      }
      return sandbox.fetch(request);
    },
  } as unknown as Fetcher;
  return {
    env: { ...env, SANDBOX: fetcher } as Env,
    sends: (payoutNo: string) => sent.filter((n) => n === payoutNo).length,
  };
}

/** Runs the provider's alarm until it has nothing armed (settles payouts, delivers callbacks). */
async function drainProvider(): Promise<void> {
  for (let i = 0; i < 20 && (await runProviderAlarm()); i++);
}

/** A queue batch of payout messages for the consumer, recording acks and retries. */
function batchOf(bodies: unknown[]) {
  const acked: number[] = [];
  const retried: number[] = [];
  const batch = {
    queue: "giftwire-payouts",
    messages: bodies.map((body, i) => ({
      id: `m-${i}`,
      timestamp: new Date(),
      attempts: 1,
      body,
      ack: () => acked.push(i),
      retry: () => retried.push(i),
    })),
    ackAll: () => undefined,
    retryAll: () => undefined,
  } as unknown as MessageBatch<unknown>;
  return { batch, acked, retried };
}

describe("withdrawal requests", () => {
  it("50 concurrent requests for the whole balance: exactly the balance is held, the rest refused", async () => {
    const c = await creator(20_000);
    const replies = await Promise.all(Array.from({ length: 50 }, () => requestConcurrently(c, "200.00")));
    const held = replies.filter((r) => r.status === 201);
    const refused = replies.filter((r) => r.status !== 201);
    expect(held).toHaveLength(1);
    expect(refused.map((r) => [r.status, r.body.error.code])).toEqual(
      Array.from({ length: 49 }, () => [409, "insufficient_funds"]),
    );
    expect(await balances(c.id)).toEqual({ available: 0, withdrawing: 20_000 });
    const listed = await call("GET", "/v1/creators/me/withdrawals", { token: c.token });
    expect(listed.body.withdrawals).toHaveLength(1);
    expect(listed.body.withdrawals[0].amountMinor).toBe(20_000);
    await expectInvariantsClean();
  });

  it("the day's count cap holds under 20 concurrent requests", async () => {
    const c = await creator(100_000);
    const replies = await Promise.all(Array.from({ length: 20 }, () => requestConcurrently(c, "10.00")));
    expect(replies.filter((r) => r.status === 201)).toHaveLength(LIMITS.withdrawalsPerDayMax);
    const refused = replies.filter((r) => r.status !== 201);
    expect(new Set(refused.map((r) => `${r.status} ${r.body.error.code}`))).toEqual(
      new Set(["422 amount_out_of_range"]),
    );
    expect(await balances(c.id)).toEqual({
      available: 100_000 - LIMITS.withdrawalsPerDayMax * 1_000,
      withdrawing: LIMITS.withdrawalsPerDayMax * 1_000,
    });
    await expectInvariantsClean();
  });

  it("the day's amount cap holds under concurrency", async () => {
    const c = await creator(10_000_000);
    // 20,000.00 each against a 50,000.00 day: two fit, a third would pass the cap.
    const replies = await Promise.all(Array.from({ length: 10 }, () => requestConcurrently(c, "20000.00")));
    expect(replies.filter((r) => r.status === 201)).toHaveLength(2);
    expect(new Set(replies.filter((r) => r.status !== 201).map((r) => r.body.error.code))).toEqual(
      new Set(["amount_out_of_range"]),
    );
    expect(await balances(c.id)).toEqual({ available: 6_000_000, withdrawing: 4_000_000 });
    await expectInvariantsClean();
  });

  it("needs the payment PIN: without it nothing is held, a wrong one counts a try, a locked one refuses", async () => {
    const c = await creator(50_000);
    const missing = await request(c, "100.00", key(), null);
    expect([missing.status, missing.body.error.code]).toEqual([400, "malformed_request"]);
    const k = key();
    const wrong = await request(c, "100.00", k, "135790");
    expect([wrong.status, wrong.body.error.code, wrong.body.error.details]).toEqual([
      403,
      "pin_incorrect",
      { triesLeft: 4 },
    ]);
    expect(await balances(c.id)).toEqual({ available: 50_000, withdrawing: 0 });
    // The refused attempt left its key free: the right PIN under the same key holds the money.
    const right = await request(c, "100.00", k);
    expect(right.status).toBe(201);
    expect(await balances(c.id)).toEqual({ available: 40_000, withdrawing: 10_000 });
    for (let i = 0; i < 5; i++) await request(c, "10.00", key(), "135790");
    const locked = await request(c, "10.00");
    expect([locked.status, locked.body.error.code]).toEqual([423, "pin_locked"]);
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await balances(c.id)).toEqual({ available: 40_000, withdrawing: 10_000 });
    const none = await creator(50_000);
    await (await shardDbOf(none.id)).prepare("DELETE FROM payment_pins WHERE user_id = ?").bind(none.id).run();
    const unset = await request(none, "100.00");
    expect([unset.status, unset.body.error.code]).toEqual([409, "pin_not_set"]);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("refuses below the minimum, unverified creators, and replays by Idempotency-Key", async () => {
    const c = await creator(50_000);
    expect((await request(c, "9.99")).body.error.code).toBe("amount_out_of_range");
    const unverified = await creator(50_000, { verified: false });
    const refused = await request(unverified, "10.00");
    expect([refused.status, refused.body.error.code]).toEqual([403, "forbidden"]);
    const cooling = await creator(50_000, { coolingUntilMs: Date.now() + 3_600_000 });
    const coolingRefused = await request(cooling, "10.00");
    expect([coolingRefused.status, coolingRefused.body.error.code]).toEqual([403, "forbidden"]);
    expect(coolingRefused.body.error.message).toContain("payout_account_cooling");
    expect(await balances(cooling.id)).toEqual({ available: 50_000, withdrawing: 0 });
    const k = key();
    const first = await request(c, "10.00", k);
    const again = await request(c, "10.00", k);
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body).toEqual(first.body);
    expect(await balances(c.id)).toEqual({ available: 49_000, withdrawing: 1_000 });
  });
});

describe("review", () => {
  it("a large request waits in the review queue; reject returns the money once, a second reject is a no-op", async () => {
    const c = await creator(80_000);
    const requested = await request(c, "600.00");
    expect(requested.status).toBe(201);
    const w = requested.body.withdrawal;
    expect([w.state, w.review, w.reviewReasons]).toEqual(["requested", "manual", ["amount_at_or_above_auto_approval"]]);
    const ops = await operatorToken();
    const queue = await call("GET", "/v1/admin/withdrawals?state=requested&limit=100", { token: ops });
    expect(queue.body.withdrawals.map((x: { id: string }) => x.id)).toContain(w.id);
    const reject = () =>
      call("POST", `/v1/admin/withdrawals/${w.id}/reject`, { token: ops, body: { reason: "documents unclear" } });
    const [first, second] = [await reject(), await reject()];
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(second.body.withdrawal.state).toBe("rejected");
    expect(second.body.withdrawal.rejectReason).toBe("documents unclear");
    expect(second.body.withdrawal.transitions.map((t: { to: string; cause: string }) => `${t.cause}>${t.to}`)).toEqual([
      "request>requested",
      "reject>rejected",
    ]);
    expect(await balances(c.id)).toEqual({ available: 80_000, withdrawing: 0 });
    expect((await operationsOf(w.id)).map((o) => o.kind)).toEqual(["withdrawal_hold", "withdrawal_release"]);
    // Approving a rejected withdrawal is a conflict; nothing moves.
    const approve = await call("POST", `/v1/admin/withdrawals/${w.id}/approve`, { token: ops });
    expect([approve.status, approve.body.error.code]).toEqual([409, "conflict"]);
    await expectInvariantsClean();
  });

  it("a creator under risk hold goes to review even below the threshold; approved, it waits for the lift", async () => {
    const c = await creator(10_000, { riskHold: true });
    const requested = await request(c, "50.00");
    expect(requested.body.withdrawal.reviewReasons).toEqual(["risk_flagged"]);
    const w = requested.body.withdrawal;
    const ops = await operatorToken();
    const approved = await call("POST", `/v1/admin/withdrawals/${w.id}/approve`, { token: ops });
    expect(approved.status).toBe(200);
    expect(approved.body.withdrawal.state).toBe("approved");
    expect(approved.body.withdrawal.reviewerId).toBe("ops-test");
    // The approval's send (through the PAYOUTS consumer) finds the creator still held: not sent.
    const held = await until(
      () => transitionCauses(w.id),
      (causes) => causes.includes("risk_hold"),
    );
    expect(held).toEqual(["request", "approve", "risk_hold"]);
    expect((await row(w.id))?.state).toBe("approved");
    expect(await balances(c.id)).toEqual({ available: 5_000, withdrawing: 5_000 });
    // Lifted: sent at once.
    const lifted = await call("PUT", `/v1/admin/creators/${c.id}/risk-hold`, { token: ops, body: { hold: false } });
    expect(lifted.status).toBe(200);
    const sent = await until(
      () => row(w.id),
      (r) => r?.state !== "approved",
    );
    expect(["paying", "paid"]).toContain(sent?.state);
    const creatorView = await call("GET", `/v1/creators/me/withdrawals/${w.id}`, { token: c.token });
    expect(creatorView.status).toBe(200);
    const stranger = await creator(0);
    const hidden = await call("GET", `/v1/creators/me/withdrawals/${w.id}`, { token: stranger.token });
    expect(hidden.status).toBe(404);
  });

  it("a hold set between approval and send: nothing reaches the channel, money stays withdrawing; lifted, paid once", async () => {
    await simulate({ deliveryDelayMs: [0, 0], duplicateRate: 1 });
    // 600.00 is at the review threshold: approved here without the route, so nothing is enqueued.
    const c = await creator(80_000);
    const w = (await request(c, "600.00")).body.withdrawal;
    expect(w.state).toBe("requested");
    const ledger = await openLedger(env);
    const approved = await moveWithdrawal(ledger, w.id, "approve", {
      cause: "approve",
      ref: null,
      actorId: "ops-test",
      nowMs: Date.now(),
      set: setColumns({ next_query_at_ms: 0 }),
    });
    expect(approved.kind).toBe("changed");
    const ops = await operatorToken();
    const hold = await call("PUT", `/v1/admin/creators/${c.id}/risk-hold`, {
      token: ops,
      body: { hold: true, reason: "chargeback spree" },
    });
    expect(hold.status).toBe(200);

    const counting = countingSandbox();
    // The queue's send, its redelivery, and the sweeper (due now, and again past the recheck).
    expect(await sendPayout(await context(counting.env), w.id)).toEqual({
      kind: "held",
      code: "risk_hold",
      reason: "chargeback spree",
    });
    expect(await sendPayout(await context(counting.env), w.id)).toEqual({
      kind: "held",
      code: "risk_hold",
      reason: "chargeback spree",
    });
    await sweepPayouts(counting.env, Date.now() + LIMITS.payoutRiskHoldRecheckMs + 1, log);
    expect(counting.sends(withdrawalNumber(w.id))).toBe(0);
    const waiting = await row(w.id);
    expect(waiting?.state).toBe("approved");
    expect(waiting?.next_query_at_ms).toBeGreaterThan(Date.now());
    expect(await transitionCauses(w.id)).toEqual(["request", "approve", "risk_hold"]);
    expect(await balances(c.id)).toEqual({ available: 20_000, withdrawing: 60_000 });
    const flagged = await env.CONTROL.prepare("SELECT kind, detail, resolved_at_ms FROM payment_flags WHERE id = ?")
      .bind(`payout_risk_held:${w.id}`)
      .first<{ kind: string; detail: string; resolved_at_ms: number | null }>();
    expect(flagged?.kind).toBe("payout_risk_held");
    expect(JSON.parse(flagged?.detail ?? "{}")).toEqual({
      withdrawalId: w.id,
      creatorId: c.id,
      reason: "chargeback spree",
    });
    expect(flagged?.resolved_at_ms).toBeNull();
    await expectInvariantsClean();

    // Lifted: the route enqueues the send (the PAYOUTS consumer makes it); the sweeper and a
    // redelivered message race it. One payout, one withdrawal_payout.
    const lifted = await call("PUT", `/v1/admin/creators/${c.id}/risk-hold`, { token: ops, body: { hold: false } });
    expect(lifted.status).toBe(200);
    await Promise.all([
      sendPayout(await context(counting.env), w.id),
      sweepPayouts(counting.env, Date.now() + LIMITS.payoutRiskHoldRecheckMs + 1, log),
    ]);
    await until(
      () => row(w.id),
      (r) => r?.state !== "approved",
    );
    await drainProvider();
    await queryPayout(await context(), w.id);
    expect((await row(w.id))?.state).toBe("paid");
    expect(await transitionCauses(w.id)).toEqual(["request", "approve", "risk_hold", "pay", expect.any(String)]);
    expect((await operationsOf(w.id)).map((o) => o.kind)).toEqual(["withdrawal_hold", "withdrawal_payout"]);
    expect(await balances(c.id)).toEqual({ available: 20_000, withdrawing: 0 });
    const payout = await sim("GET", `/v1/payouts/${withdrawalNumber(w.id)}`);
    expect([payout.body.payout.state, payout.body.payout.amountMinor]).toEqual(["succeeded", 60_000]);
    const resolved = await env.CONTROL.prepare("SELECT resolved_at_ms FROM payment_flags WHERE id = ?")
      .bind(`payout_risk_held:${w.id}`)
      .first<{ resolved_at_ms: number | null }>();
    expect(resolved?.resolved_at_ms).not.toBeNull();
    await expectInvariantsClean();
  });
});

describe("payouts through the sandbox", () => {
  it("end to end through the queue: request, the consumer's send, the provider's signed callback, paid", async () => {
    await simulate({ deliveryDelayMs: [0, 0], duplicateRate: 1 });
    const c = await creator(30_000);
    const w = (await request(c, "88.00")).body.withdrawal;
    expect(w.state).toBe("approved");
    // The PAYOUTS consumer sends it (nothing here calls the dispatcher).
    const paying = await until(
      () => row(w.id),
      (r) => r?.state === "paying",
    );
    expect(paying?.state).toBe("paying");
    // The provider settles it and posts its callback (twice) to /v1/payouts/callbacks/sandbox.
    const paid = await until(
      async () => {
        await runProviderAlarm();
        return row(w.id);
      },
      (r) => r?.state === "paid",
    );
    expect(paid?.state).toBe("paid");
    const view = await call("GET", `/v1/creators/me/withdrawals/${w.id}`, { token: c.token });
    expect(view.body.withdrawal.transitions.map((t: { cause: string; to: string }) => `${t.cause}>${t.to}`)).toEqual([
      "request>requested",
      "auto_approve>approved",
      "pay>paying",
      "callback>paid",
    ]);
    expect(await balances(c.id)).toEqual({ available: 21_200, withdrawing: 0 });
    // The creator's inbox hears the request and the payment, each once (duplicate callbacks included).
    const notices = await until(
      async () =>
        (
          await (
            await shardDbOf(c.id)
          )
            .prepare("SELECT id FROM inbox_messages WHERE creator_id = ? AND kind = 'withdrawal_state' ORDER BY id")
            .bind(c.id)
            .all<{ id: string }>()
        ).results.map((r) => r.id),
      (ids) => ids.includes(`withdrawal:${w.id}:paid`),
    );
    expect(notices).toContain(`withdrawal:${w.id}:paid`);
    expect(notices).toContain(`withdrawal:${w.id}:approved`);
    expect(new Set(notices).size).toBe(notices.length);
    await expectInvariantsClean();
  });

  it("auto-approved, sent, paid once whatever the order and number of callbacks and query answers", async () => {
    await simulate({ deliveryDelayMs: [0, 0], duplicateRate: 1 });
    const c = await creator(30_000);
    const requested = await request(c, "100.00");
    const w = requested.body.withdrawal;
    expect([w.state, w.review]).toEqual(["approved", "auto"]);
    const sent = await sendPayout(await context(), w.id);
    expect(sent.kind).toBe("done");
    expect((await row(w.id))?.state).toBe("paying");
    await drainProvider();
    const payout = await sim("GET", `/v1/payouts/${withdrawalNumber(w.id)}`);
    expect(payout.body.payout.state).toBe("succeeded");
    // 1,000 deliveries of one callback, interleaved with query answers, through the consumer.
    const callback = {
      kind: "payout.callback",
      notificationId: `ntf-test-${w.id}`,
      channel: "sandbox",
      eventId: `evt_test${Date.now()}`,
      withdrawalId: withdrawalNumber(w.id),
      outcome: { state: "paid", providerRef: payout.body.payout.payoutId },
      amountMinor: 10_000,
    };
    for (let round = 0; round < 10; round++) {
      const { batch, acked } = batchOf(Array.from({ length: 100 }, () => callback));
      await Promise.all([handlePayoutsBatch(batch, env, log), queryPayout(await context(), w.id)]);
      expect(acked).toHaveLength(100);
    }
    // And signed callbacks over HTTP, the same event many times: stored once.
    const body = JSON.stringify({
      id: `evt_http${Date.now()}`,
      type: "payout.succeeded",
      merchant_id: SANDBOX_SECRET.merchantId,
      payout_no: withdrawalNumber(w.id),
      payout_id: payout.body.payout.payoutId,
      amount_minor: 10_000,
      currency: "CNY",
    });
    const answers = await Promise.all(
      Array.from({ length: 20 }, async () =>
        call("POST", "/v1/payouts/callbacks/sandbox", {
          rawBody: body,
          headers: {
            "content-type": "application/json",
            "sandbox-signature": await signSandbox(SANDBOX_SECRET.secret, body, Date.now()),
          },
        }),
      ),
    );
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([200]));
    const stored = await env.CONTROL.prepare(
      "SELECT COUNT(*) AS n FROM payment_notifications WHERE channel = 'payout:sandbox' AND event_id = ?",
    )
      .bind(JSON.parse(body).id)
      .first<{ n: number }>();
    expect(stored?.n).toBe(1);
    const forged = await call("POST", "/v1/payouts/callbacks/sandbox", {
      rawBody: body,
      headers: {
        "content-type": "application/json",
        "sandbox-signature": `t=${Math.floor(Date.now() / 1000)},v1=${"0".repeat(64)}`,
      },
    });
    expect(forged.status).toBe(503);

    const after = await row(w.id);
    expect(after?.state).toBe("paid");
    expect((await operationsOf(w.id)).map((o) => o.kind)).toEqual(["withdrawal_hold", "withdrawal_payout"]);
    expect(await balances(c.id)).toEqual({ available: 20_000, withdrawing: 0 });
    const view = await call("GET", `/v1/creators/me/withdrawals/${w.id}`, { token: c.token });
    expect(view.body.withdrawal.transitions.map((t: { to: string }) => t.to)).toEqual([
      "requested",
      "approved",
      "paying",
      "paid",
    ]);
    await expectInvariantsClean();
  });

  it("a payout that fails after being accepted puts the money back in available exactly once", async () => {
    await simulate({ deliveryDelayMs: [0, 0], duplicateRate: 1 });
    const c = await creator(30_000, { payee: "fail-payee" });
    const w = (await request(c, "120.00")).body.withdrawal;
    await sendPayout(await context(), w.id);
    expect((await row(w.id))?.state).toBe("paying");
    expect(await balances(c.id)).toEqual({ available: 18_000, withdrawing: 12_000 });
    await drainProvider();
    // The provider's callbacks (and their duplicates) and our queries, all saying failed.
    for (let i = 0; i < 5; i++) await queryPayout(await context(), w.id);
    const failed = await row(w.id);
    expect(failed?.state).toBe("failed");
    expect(failed?.failure_reason).toBe("PAYEE_ACCOUNT_ABNORMAL");
    expect((await operationsOf(w.id)).map((o) => o.kind)).toEqual(["withdrawal_hold", "withdrawal_release"]);
    expect(await balances(c.id)).toEqual({ available: 30_000, withdrawing: 0 });
    // A late "paid" for a failed withdrawal moves nothing: an operator is told, once.
    const late = {
      kind: "payout.callback",
      notificationId: `ntf-late-${w.id}`,
      channel: "sandbox",
      eventId: `evt_late${Date.now()}`,
      withdrawalId: withdrawalNumber(w.id),
      outcome: { state: "paid", providerRef: "sbp_x" },
      amountMinor: 12_000,
    };
    await handlePayoutsBatch(batchOf([late, late]).batch, env, log);
    const flags = await env.CONTROL.prepare("SELECT kind FROM payment_flags WHERE id = ?")
      .bind(`payout_contradiction:${w.id}`)
      .all();
    expect(flags.results).toEqual([{ kind: "payout_contradiction" }]);
    expect(await balances(c.id)).toEqual({ available: 30_000, withdrawing: 0 });
    await expectInvariantsClean();
  });

  it("an unknown answer is retried under the same number, never a new one", async () => {
    await simulate({ deliveryDelayMs: [0, 0], duplicateRate: 0 });
    const c = await creator(30_000);
    const w = (await request(c, "50.00")).body.withdrawal;
    const sandbox = env.SANDBOX;
    if (!sandbox) throw new Error("SANDBOX is bound in the workers project");
    const sentNumbers: string[] = [];
    let lost = 0;
    // The first send reaches the provider, but its answer is lost (a 503 on the way back).
    const flaky = {
      fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
        const request = new Request(input, init);
        if (request.method === "POST" && new URL(request.url).pathname === "/v1/payouts") {
          sentNumbers.push((JSON.parse(await request.clone().text()) as { payoutNo: string }).payoutNo);
          const answer = await sandbox.fetch(request);
          if (lost++ === 0) return new Response("upstream gone", { status: 503 });
          return answer;
        }
        return sandbox.fetch(request);
      },
    } as unknown as Fetcher;
    const flakyEnv = { ...env, SANDBOX: flaky } as Env;
    const first = await sendPayout(await context(flakyEnv), w.id);
    expect(first.kind).toBe("retry");
    expect((await row(w.id))?.state).toBe("paying");
    const second = await sendPayout(await context(flakyEnv), w.id);
    expect(second.kind).toBe("done");
    expect(sentNumbers).toEqual([withdrawalNumber(w.id), withdrawalNumber(w.id)]);
    await drainProvider();
    await queryPayout(await context(), w.id);
    expect((await row(w.id))?.state).toBe("paid");
    expect((await operationsOf(w.id)).map((o) => o.kind)).toEqual(["withdrawal_hold", "withdrawal_payout"]);
    expect(await balanceOf(accountAddress.creatorWithdrawing(c.id))).toBe(0);
    await expectInvariantsClean();
  });

  it("the request charges the deployment's fee (fixed + rate, rounded down) and the payee gets amount − fee", async () => {
    const { createExecutionContext, waitOnExecutionContext } = await import("cloudflare:test");
    const { default: devWorker } = await import("../../dev/giftwire-dev");
    const feeEnv = { ...env, WITHDRAWAL_FEE_FIXED_MINOR: "100", WITHDRAWAL_FEE_BPS: "55" };
    const c = await creator(50_000);
    const ctx = createExecutionContext();
    const res = await devWorker.fetch(
      new Request("https://giftwire.test/v1/creators/me/withdrawals", {
        method: "POST",
        headers: { authorization: `Bearer ${c.token}`, "content-type": "application/json", "idempotency-key": key() },
        body: JSON.stringify({ amount: "123.45", pin: TEST_PIN }),
      }),
      feeEnv,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(201);
    const { withdrawal } = (await res.json()) as { withdrawal: Record<string, unknown> };
    // 100 + floor(12,345 × 0.55 %) = 100 + 67 = 167.
    expect(withdrawal).toMatchObject({ amountMinor: 12_345, feeMinor: 167, payoutMinor: 12_178 });
    expect(await balances(c.id)).toEqual({ available: 50_000 - 12_345, withdrawing: 12_345 });
    await expectInvariantsClean();
  });

  it("a fee goes to platform:fees and the channel is paid amount − fee", async () => {
    await simulate({ deliveryDelayMs: [0, 0], duplicateRate: 0 });
    const c = await creator(50_000);
    const ledger = await openLedger(env);
    const shard = ledger.forOwner(c.id);
    const nowMs = Date.now();
    const id = newOwnedId("wd", ledger.bucketOf(c.id), nowMs);
    // The policy's fee is 0 by default: the hold is composed here with a fee of 2.50.
    const { verdict } = await runOperation(
      shard,
      composeWithdrawalHold(shard, {
        id,
        ownerKind: "creator",
        creatorId: c.id,
        amountMinor: 10_000,
        feeMinor: 250,
        currency: "CNY",
        channel: "sandbox",
        payoutAccountId: `pa_${c.id}`,
        destinationMasked: "sandbox ****ok",
        approval: "auto",
        reviewReasons: [],
        idempotencyKey: key(),
        dayStartMs: nowMs - 1_000,
        dayEndMs: nowMs + 1_000,
        perDayMax: 3,
        dailyAmountMaxMinor: 5_000_000,
        sendBackstopAtMs: nowMs + 60_000,
        nowMs,
      }),
    );
    expect(verdict.kind).toBe("posted");
    const feesBefore = await balanceOf(accountAddress.platformFees());
    await sendPayout(await context(), id);
    const payout = await sim("GET", `/v1/payouts/${withdrawalNumber(id)}`);
    expect(payout.body.payout.amountMinor).toBe(9_750);
    await drainProvider();
    await queryPayout(await context(), id);
    expect((await row(id))?.state).toBe("paid");
    expect((await balanceOf(accountAddress.platformFees())) - feesBefore).toBe(250);
    expect(await balances(c.id)).toEqual({ available: 40_000, withdrawing: 0 });
    await expectInvariantsClean();
  });

  it("a creator's confirmation (WeChat's WAIT_USER_CONFIRM) is recorded once and the withdrawal stays paying", async () => {
    await simulate({ deliveryDelayMs: [600_000, 600_000], duplicateRate: 0 });
    const c = await creator(30_000);
    const w = (await request(c, "20.00")).body.withdrawal;
    await sendPayout(await context(), w.id);
    const ledger = await openLedger(env);
    const confirm = { state: "needs_user_confirm", providerRef: "bill-1", packageInfo: "pkg-abc" } as const;
    for (let i = 0; i < 3; i++) {
      const applied = await applyPayoutOutcome(ledger, w.id, confirm, {
        cause: "query",
        ref: null,
        nowMs: Date.now(),
        random: 0,
      });
      expect(applied).toEqual({ kind: "waiting", retrySameNumber: false });
    }
    const view = await call("GET", `/v1/creators/me/withdrawals/${w.id}`, { token: c.token });
    expect(view.body.withdrawal.state).toBe("paying");
    expect(view.body.withdrawal.channelState).toEqual(confirm);
    expect(view.body.withdrawal.transitions.map((t: { cause: string }) => t.cause)).toEqual([
      "request",
      "auto_approve",
      "pay",
      "needs_user_confirm",
    ]);
    await simulate({ deliveryDelayMs: [0, 0], duplicateRate: 0 });
  });

  it("the money-out invariants catch a payout, a hold or a release that does not match", async () => {
    await simulate({ deliveryDelayMs: [0, 0], duplicateRate: 0 });
    const c = await creator(30_000);
    const paid = (await request(c, "40.00")).body.withdrawal;
    const open = (await request(c, "20.00")).body.withdrawal;
    await sendPayout(await context(), paid.id);
    await drainProvider();
    await queryPayout(await context(), paid.id);
    expect((await row(paid.id))?.state).toBe("paid");
    await expectInvariantsClean();
    const db = (await openLedger(env)).forId(paid.id).db;
    const tamper = (sql: string, id: string) => db.prepare(sql).bind(id).run();
    await tamper("UPDATE withdrawals SET fee_minor = 1 WHERE id = ?", paid.id);
    await tamper("UPDATE withdrawals SET amount_minor = amount_minor + 1 WHERE id = ?", open.id);
    const report = await invariantReport();
    const mine = report.violations.filter(
      (v) => v.channel === "sandbox" || v.creatorId === c.id || v.withdrawalId === paid.id,
    );
    expect(mine.map((v) => v.kind).sort()).toEqual(["channel_payouts_mismatch", "withdrawing_mismatch"]);
    await tamper("UPDATE withdrawals SET fee_minor = 0 WHERE id = ?", paid.id);
    await tamper("UPDATE withdrawals SET amount_minor = amount_minor - 1 WHERE id = ?", open.id);
    await tamper("UPDATE withdrawals SET state = 'rejected' WHERE id = ?", open.id);
    const unreleased = await invariantReport();
    expect(unreleased.violations.filter((v) => v.withdrawalId === open.id).map((v) => v.kind)).toEqual([
      "withdrawal_operation_missing",
    ]);
    await tamper("UPDATE withdrawals SET state = 'requested' WHERE id = ?", open.id);
    await expectInvariantsClean();
  });

  it("the sweeper sends what the queue lost, queries what heard nothing, and flags a stuck payout once", async () => {
    await simulate({ deliveryDelayMs: [600_000, 600_000], duplicateRate: 0 });
    // At the review threshold, so it waits for review; approved here without the route, so no
    // send is enqueued: only the sweeper can send it.
    const c = await creator(80_000);
    const w = (await request(c, "600.00")).body.withdrawal;
    const ledger = await openLedger(env);
    const db = ledger.forId(w.id).db;
    const approved = await moveWithdrawal(ledger, w.id, "approve", {
      cause: "approve",
      ref: null,
      actorId: "ops-test",
      nowMs: Date.now(),
      set: setColumns({ next_query_at_ms: 0 }),
    });
    expect(approved.kind).toBe("changed");
    const nowMs = Date.now();
    await sweepPayouts(env, nowMs, log);
    const swept = await row(w.id);
    expect(swept?.state).toBe("paying");
    const causes = await db
      .prepare("SELECT cause FROM withdrawal_transitions WHERE withdrawal_id = ? ORDER BY seq")
      .bind(w.id)
      .all<{ cause: string }>();
    expect(causes.results.map((r) => r.cause)).toEqual(["request", "approve", "pay"]);
    // Paying for longer than the limit, with no answer: flagged once however often the sweeper runs.
    await db
      .prepare("UPDATE withdrawals SET paying_since_ms = ?, next_query_at_ms = ? WHERE id = ?")
      .bind(nowMs - LIMITS.withdrawalPayingStuckMs - 1, nowMs + 3_600_000, w.id)
      .run();
    await sweepPayouts(env, Date.now(), log);
    await sweepPayouts(env, Date.now(), log);
    const stuck = await row(w.id);
    expect(stuck?.state).toBe("paying");
    expect(stuck?.stuck_flagged_at_ms).not.toBeNull();
    const flags = await env.CONTROL.prepare("SELECT COUNT(*) AS n FROM payment_flags WHERE id = ?")
      .bind(`payout_stuck:${w.id}`)
      .first<{ n: number }>();
    expect(flags?.n).toBe(1);
    const steps = await db
      .prepare("SELECT cause FROM withdrawal_transitions WHERE withdrawal_id = ? AND cause = 'stuck'")
      .bind(w.id)
      .all();
    expect(steps.results).toHaveLength(1);
    // The provider settles it, but its callback is ten minutes away: the sweeper's query finds it paid.
    expect(await runProviderAlarm()).toBe(true);
    await db.prepare("UPDATE withdrawals SET next_query_at_ms = 0 WHERE id = ?").bind(w.id).run();
    await sweepPayouts(env, Date.now(), log);
    const paid = await db
      .prepare("SELECT cause, to_state FROM withdrawal_transitions WHERE withdrawal_id = ? ORDER BY seq DESC LIMIT 1")
      .bind(w.id)
      .first();
    expect(paid).toEqual({ cause: "query", to_state: "paid" });
    expect(await balanceOf(accountAddress.creatorWithdrawing(c.id))).toBe(0);
    await expectInvariantsClean();
    await simulate({ deliveryDelayMs: [0, 0], duplicateRate: 0 });
  });

  it("a payout channel out (runtime switch) sends nothing and leaves the withdrawal approved; it goes once cleared", async () => {
    await simulate({ deliveryDelayMs: [600_000, 600_000], duplicateRate: 0 });
    const c = await creator(30_000, { riskHold: true });
    const w = (await request(c, "30.00")).body.withdrawal;
    const ledger = await openLedger(env);
    const approved = await moveWithdrawal(ledger, w.id, "approve", {
      cause: "approve",
      ref: null,
      actorId: "ops-test",
      nowMs: Date.now(),
      set: setColumns({ next_query_at_ms: 0 }),
    });
    expect(approved.kind).toBe("changed");
    // The hold only kept the request in review; lifted, so that the switch alone holds the send.
    await env.CONTROL.prepare("UPDATE creators SET risk_hold = 0 WHERE user_id = ?").bind(c.id).run();
    const out = {
      kind: "payout_channel_out" as const,
      scope: { type: "channel" as const, id: "sandbox" },
      value: null,
      reason: "channel incident",
      setBy: "ops-test",
      setAtMs: Date.now(),
      expiresAtMs: null,
    };
    switchCache.pinForTests([out]);
    try {
      // The queue's send, the dispatcher and the sweeper all hold it.
      const { batch, acked, retried } = batchOf([{ kind: "payout.send", withdrawalId: w.id }]);
      await handlePayoutsBatch(batch, env, log);
      expect({ acked, retried }).toEqual({ acked: [0], retried: [] });
      expect(await sendPayout(await context(), w.id)).toEqual({ kind: "held", code: "switch_channel_out" });
      await sweepPayouts(env, Date.now(), log);
      expect((await row(w.id))?.state).toBe("approved");
      expect((await sim("GET", `/v1/payouts/${withdrawalNumber(w.id)}`)).status).toBe(404);
      expect(await balanceOf(accountAddress.creatorWithdrawing(c.id))).toBe(3_000);
      // Read-only holds payouts too.
      switchCache.pinForTests([{ ...out, kind: "read_only", scope: { type: "platform" } }]);
      expect(await sendPayout(await context(), w.id)).toEqual({ kind: "held", code: "switch_read_only" });
    } finally {
      switchCache.forget();
    }
    // Cleared: the sweeper's next run sends it.
    await sweepPayouts(env, Date.now(), log);
    expect((await row(w.id))?.state).toBe("paying");
    expect((await sim("GET", `/v1/payouts/${withdrawalNumber(w.id)}`)).status).toBe(200);
    await expectInvariantsClean();
    await simulate({ deliveryDelayMs: [0, 0], duplicateRate: 0 });
  });
});
