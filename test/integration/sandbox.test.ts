import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { base64Bytes } from "../../src/channels/encoding";
import { SANDBOX_PROVIDER_NAME, sandboxClient } from "../../src/channels/sandbox-api";
import { parseStatement } from "../../src/channels/statement";
import { formatMinor, parseAmountMinor } from "../../src/domain/money";
import {
  RETRY_SCHEDULE_MS,
  type SandboxPayment,
  type SandboxProvider,
} from "../../src/durable-objects/sandbox-provider";
import { BASE, balanceOf, call, invariantReport, key, operatorToken, token, until } from "./helpers";

const CHANNELS = JSON.parse(env.PAYMENT_CHANNELS) as { sandbox: { secret: string; merchantId: string } };
const provider = () => env.SANDBOX_PROVIDER.getByName(SANDBOX_PROVIDER_NAME);
const client = sandboxClient(env.SANDBOX_PROVIDER, CHANNELS.sandbox);

interface Knobs {
  deliveryDelayMs?: [number, number];
  duplicateRate?: number;
}

/**
 * Sets the provider's simulation knobs the way a deployment does, through the sandbox block
 * of its PAYMENT_CHANNELS, by handing the provider object an env with that secret (and any
 * other binding replaced, such as a callback queue that fails).
 */
async function simulate(knobs: Knobs, bindings: Partial<Env> = {}): Promise<void> {
  // Only the sandbox block: the provider reads nothing else of the secret.
  const secret = JSON.stringify({ sandbox: { ...CHANNELS.sandbox, ...knobs } });
  await runInDurableObject(provider(), (instance: SandboxProvider) => {
    (instance as unknown as { env: Env }).env = { ...env, PAYMENT_CHANNELS: secret, ...bindings };
  });
}

/** The payment-callback queue, failing its first `failures` sends as an unavailable queue does. */
function flakyCallbackQueue(failures: number): Queue {
  let left = failures;
  return {
    async send(message, options) {
      if (left > 0) {
        left -= 1;
        throw new Error("queue temporarily unavailable (test)");
      }
      return env.PAYMENT_CALLBACKS.send(message, options);
    },
    sendBatch: (messages, options) => env.PAYMENT_CALLBACKS.sendBatch(messages, options),
  } as Queue;
}

async function topUp(userId: string, amount: string): Promise<string> {
  const res = await call("POST", "/v1/payments/orders", {
    token: await token(userId),
    idempotencyKey: key(),
    body: { kind: "topup", channel: "sandbox", amount },
  });
  if (res.status !== 201) throw new Error(`order failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.order.id as string;
}

/** Opens the order's payment through the client (idempotent if order creation already did). */
async function openThroughClient(orderId: string, amountMinor: number) {
  const opened = await client.createPayment({
    merchantOrderNo: orderId,
    amountMinor,
    currency: "CNY",
    description: "giftwire wallet top-up",
    notifyUrl: `${BASE}/v1/payments/callbacks/sandbox`,
    expiresAtMs: Date.now() + 15 * 60_000,
  });
  expect(opened).toEqual({
    ok: true,
    value: {
      step: { kind: "sandbox_approval", url: `/sandbox/pay.html?order=${orderId}` },
      providerRef: expect.any(String),
    },
  });
}

async function decide(userId: string, orderId: string, outcome: "succeeded" | "failed") {
  return call("POST", `/v1/sandbox/payments/${orderId}/decision`, { token: await token(userId), body: { outcome } });
}

const payment = async (orderId: string) => (await provider().payment(orderId)) as SandboxPayment;
const wallet = (userId: string) => balanceOf(`user:${userId}:wallet`);
const credits = async (orderId: string) =>
  (await env.DB.prepare("SELECT COUNT(*) AS n FROM operations WHERE id = ?").bind(orderId).first<number>("n")) ?? 0;
const orderState = async (id: string) =>
  (await env.DB.prepare("SELECT state FROM payment_orders WHERE id = ?").bind(id).first<string>("state")) ?? "";
const notifications = async (eventId: string) =>
  (
    await env.DB.prepare(
      "SELECT verified, headers, body_base64, applied_at_ms FROM payment_notifications WHERE channel = 'sandbox' AND event_id = ?",
    )
      .bind(eventId)
      .all<{ verified: number; headers: string; body_base64: string; applied_at_ms: number | null }>()
  ).results;
const applied = async (eventId: string) => (await notifications(eventId)).every((n) => n.applied_at_ms !== null);

/** Runs the provider's alarm until `done` holds (each run does the earliest work due). */
async function driveUntil(done: (p: SandboxPayment) => boolean, orderId: string, runsMax = 10) {
  for (let i = 0; i < runsMax && !done(await payment(orderId)); i++) await runDurableObjectAlarm(provider());
  return payment(orderId);
}

/** Today's date in Asia/Shanghai (UTC+8 all year). */
const shanghaiToday = () => new Date(Date.now() + 8 * 3_600_000).toISOString().slice(0, 10);

function amountMinorOf(text: string): number {
  const parsed = parseAmountMinor(text);
  if (!parsed.ok) throw new Error(`not an amount: ${text}`);
  return parsed.value;
}

describe("the sandbox provider", () => {
  it("delivers the approval's callback after the delay, and the wallet is credited exactly once", async () => {
    await simulate({ deliveryDelayMs: [400, 400] });
    const orderId = await topUp("sbx-u1", "52.00");
    await openThroughClient(orderId, 5200);

    const sheet = await call("GET", `/v1/sandbox/payments/${orderId}`, { token: await token("sbx-u1") });
    expect(sheet.status).toBe(200);
    expect(sheet.body.payment).toMatchObject({
      orderNo: orderId,
      merchantName: "giftwire",
      amountMinor: 5200,
      amount: "52.00",
      currency: "CNY",
      state: "open",
      deliveries: [],
    });

    const decided = await decide("sbx-u1", orderId, "succeeded");
    expect(decided.status).toBe(202);
    expect(decided.body.delivered).toBe(true);
    const [scheduled] = decided.body.payment.deliveries;
    expect(scheduled).toMatchObject({ type: "payment.succeeded", state: "scheduled", attempts: [] });
    expect(scheduled.nextAttemptAtMs - decided.body.payment.decidedAtMs).toBe(400);
    // Nothing has reached us before the delay.
    expect(await notifications(scheduled.eventId)).toEqual([]);
    expect(await wallet("sbx-u1")).toBe(0);

    expect(
      await until(
        () => wallet("sbx-u1"),
        (b) => b === 5200,
      ),
    ).toBe(5200);
    const after = await payment(orderId);
    const [delivered] = after.deliveries;
    expect(delivered).toMatchObject({ state: "delivered", attempts: [{ n: 1, status: 200, acknowledged: true }] });
    expect((delivered?.deliveredAtMs ?? 0) - (after.decidedAtMs ?? 0)).toBeGreaterThanOrEqual(400);
    const stored = await notifications(scheduled.eventId);
    expect(stored).toHaveLength(1);
    expect(stored[0]?.verified).toBe(1);
    expect(JSON.parse(stored[0]?.headers ?? "{}")["sandbox-signature"]).toMatch(/^t=[0-9]+,v1=[0-9a-f]{64}$/);
    const body = JSON.parse(new TextDecoder().decode(base64Bytes(stored[0]?.body_base64 ?? "") ?? new Uint8Array()));
    expect(body).toEqual({
      id: scheduled.eventId,
      type: "payment.succeeded",
      merchant_id: CHANNELS.sandbox.merchantId,
      order_no: orderId,
      txn_id: after.txnId,
      amount_minor: 5200,
      currency: "CNY",
    });
    await until(() => applied(scheduled.eventId), Boolean);
    expect(await credits(orderId)).toBe(1);
    expect(await orderState(orderId)).toBe("succeeded");

    // The payer tapping Approve again changes nothing; Decline now is refused.
    expect((await decide("sbx-u1", orderId, "succeeded")).status).toBe(202);
    expect((await payment(orderId)).deliveries).toHaveLength(1);
    const flip = await decide("sbx-u1", orderId, "failed");
    expect(flip.status).toBe(409);
    expect(await wallet("sbx-u1")).toBe(5200);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("retries a callback the callback path does not acknowledge, on the schedule, and the money arrives once", async () => {
    // The first two deliveries find the callback queue down: the path stores the raw
    // notification, cannot enqueue it, and answers 503 — a real "retry later".
    await simulate({ deliveryDelayMs: [60_000, 60_000] }, { PAYMENT_CALLBACKS: flakyCallbackQueue(2) });
    const orderId = await topUp("sbx-u2", "18.80");
    expect((await decide("sbx-u2", orderId, "succeeded")).status).toBe(202);
    expect((await payment(orderId)).deliveries[0]?.attempts).toEqual([]);

    expect(await runDurableObjectAlarm(provider())).toBe(true);
    let d = (await payment(orderId)).deliveries[0];
    expect(d?.state).toBe("scheduled");
    expect(d?.attempts.map((a) => [a.status, a.acknowledged])).toEqual([[503, false]]);
    expect((d?.nextAttemptAtMs ?? 0) - (d?.attempts[0]?.atMs ?? 0)).toBe(RETRY_SCHEDULE_MS[0]);

    expect(await runDurableObjectAlarm(provider())).toBe(true);
    d = (await payment(orderId)).deliveries[0];
    expect(d?.attempts.map((a) => a.status)).toEqual([503, 503]);
    expect((d?.nextAttemptAtMs ?? 0) - (d?.attempts[1]?.atMs ?? 0)).toBe(RETRY_SCHEDULE_MS[1]);
    expect(await wallet("sbx-u2")).toBe(0);

    expect(await runDurableObjectAlarm(provider())).toBe(true);
    d = (await payment(orderId)).deliveries[0];
    expect(d).toMatchObject({ state: "delivered", nextAttemptAtMs: null });
    expect(d?.attempts.map((a) => [a.n, a.status, a.acknowledged])).toEqual([
      [1, 503, false],
      [2, 503, false],
      [3, 200, true],
    ]);
    expect(
      await until(
        () => wallet("sbx-u2"),
        (b) => b === 1880,
      ),
    ).toBe(1880);
    await until(() => applied(d?.eventId ?? ""), Boolean);
    // The provider is done with it: no alarm is left for this callback.
    expect(await runDurableObjectAlarm(provider())).toBe(false);
    expect(await notifications(d?.eventId ?? "")).toHaveLength(1);
    expect(await credits(orderId)).toBe(1);
    expect(await wallet("sbx-u2")).toBe(1880);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("with duplicateRate 1 delivers every callback twice, and credits once", async () => {
    await simulate({ deliveryDelayMs: [60_000, 60_000], duplicateRate: 1 });
    const orderId = await topUp("sbx-u3", "8.80");
    expect((await decide("sbx-u3", orderId, "succeeded")).status).toBe(202);
    const p = await driveUntil((x) => (x.deliveries[0]?.attempts.length ?? 0) >= 2, orderId);
    const [d] = p.deliveries;
    expect(d?.state).toBe("delivered");
    expect(d?.attempts.map((a) => [a.status, a.duplicate])).toEqual([
      [200, false],
      [200, true],
    ]);
    expect(
      await until(
        () => wallet("sbx-u3"),
        (b) => b === 880,
      ),
    ).toBe(880);
    await until(() => applied(d?.eventId ?? ""), Boolean);
    // Stored once by (channel, event id), applied once.
    expect(await notifications(d?.eventId ?? "")).toHaveLength(1);
    expect(await credits(orderId)).toBe(1);
    expect(await wallet("sbx-u3")).toBe(880);
  });

  it("answers a query open before the payer decides, final after approval, unknown for an order it never saw", async () => {
    await simulate({ deliveryDelayMs: [60_000, 60_000] });
    const orderId = await topUp("sbx-u4", "6.60");
    await openThroughClient(orderId, 660);
    expect(await client.queryPayment(orderId, null)).toEqual({ ok: true, value: { state: "open" } });
    expect(await client.queryPayment("order_01JZZZZZZZZZZZZZZZZZZZZZZZ", null)).toEqual({
      ok: true,
      value: { state: "unknown" },
    });
    expect((await decide("sbx-u4", orderId, "succeeded")).status).toBe(202);
    const { txnId } = await payment(orderId);
    expect(await client.queryPayment(orderId, null)).toEqual({
      ok: true,
      value: {
        state: "final",
        event: {
          kind: "payment",
          status: "succeeded",
          merchantOrderNo: orderId,
          providerTxnId: txnId,
          amountMinor: 660,
          currency: "CNY",
          merchant: [
            { field: "merchant_id", expected: CHANNELS.sandbox.merchantId, actual: CHANNELS.sandbox.merchantId },
          ],
        },
      },
    });
    await driveUntil((x) => x.deliveries[0]?.state === "delivered", orderId);
    expect(
      await until(
        () => wallet("sbx-u4"),
        (b) => b === 660,
      ),
    ).toBe(660);
  });

  it("lists today's payment and its refund in the statement, which the reconciliation parser reads back", async () => {
    await simulate({ deliveryDelayMs: [60_000, 60_000] });
    const orderId = await topUp("sbx-u5", "20.00");
    expect((await decide("sbx-u5", orderId, "succeeded")).status).toBe(202);
    const refundRequest = {
      merchantOrderNo: orderId,
      providerTxnId: null,
      providerRef: null,
      refundNo: `rf${orderId.slice(6)}`,
      amountMinor: 500,
      totalMinor: 2000,
      currency: "CNY",
      reason: "test refund",
    };
    const refunded = await client.refund(refundRequest);
    expect(refunded).toEqual({
      ok: true,
      value: { providerRefundId: expect.stringMatching(/^sbr_/), status: "succeeded" },
    });
    // A retried refund request is answered as the first; more than is left is refused.
    expect(await client.refund(refundRequest)).toEqual(refunded);
    const tooMuch = await client.refund({ ...refundRequest, refundNo: "rf-too-much", amountMinor: 1501 });
    expect(tooMuch).toMatchObject({ ok: false, failure: { kind: "rejected", code: "exceeds_refundable" } });

    const p = await payment(orderId);
    expect(p.refundedMinor).toBe(500);
    expect(p.deliveries.map((d) => d.type)).toEqual(["payment.succeeded", "refund.succeeded"]);

    const res = await fetchStatement(shanghaiToday(), await operatorToken());
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/csv/);
    const csv = await res.text();
    const lines = csv.trimEnd().split("\n");
    expect(lines[0]).toBe("occurred_at,type,order_no,txn_id,refund_id,amount,currency,status");
    const rows = lines.slice(1, -1).map((l) => l.split(","));
    const mine = rows.filter((r) => r[2] === orderId);
    const refundId = refunded.ok ? refunded.value.providerRefundId : "";
    expect(mine.map((r) => r.slice(1))).toEqual([
      ["payment", orderId, p.txnId, "", "20.00", "CNY", "succeeded"],
      ["refund", orderId, p.txnId, refundId, "5.00", "CNY", "refunded"],
    ]);
    expect(mine.map((r) => Date.parse(r[0] ?? ""))).toEqual([p.decidedAtMs, p.refunds[0]?.createdAtMs]);
    const totalMinor = rows.reduce((sum, r) => sum + amountMinorOf(r[5] ?? ""), 0);
    expect(lines.at(-1)).toBe(`# total_count=${rows.length},total_amount=${formatMinor(totalMinor)}`);
    // The file is what reconciliation reads: it parses whole, its totals agreeing with its lines.
    const parsed = parseStatement("sandbox", csv);
    expect(parsed.ok && parsed.summary.declaredTotals).toBe("checked");
    // The channel client downloads the same file; reconciliation asks it when none is posted.
    expect(await client.downloadStatement(shanghaiToday())).toEqual({ ok: true, value: csv });

    // Another day has none of it; the statement is finance's, not a payer's.
    const yesterday = new Date(Date.now() + 8 * 3_600_000 - 86_400_000).toISOString().slice(0, 10);
    expect(await (await fetchStatement(yesterday, await operatorToken())).text()).not.toContain(orderId);
    expect((await fetchStatement(shanghaiToday(), await token("sbx-u5"))).status).toBe(403);
    expect((await fetchStatement("2026-02-30", await operatorToken())).status).toBe(400);
  });

  it("closes a payment nobody decided at its deadline and sends payment.closed, which closes the order", async () => {
    await simulate({ deliveryDelayMs: [60_000, 60_000] });
    const orderId = await topUp("sbx-u6", "1.00");
    const closed = await driveUntil((x) => x.state === "closed", orderId, 20);
    expect(closed).toMatchObject({ state: "closed", decidedAtMs: null });
    expect(closed.deliveries.map((d) => [d.type, d.state])).toEqual([["payment.closed", "scheduled"]]);
    // Too late to pay.
    const late = await decide("sbx-u6", orderId, "succeeded");
    expect(late.status).toBe(409);
    const delivered = await driveUntil((x) => x.deliveries[0]?.state === "delivered", orderId);
    expect(delivered.deliveries[0]?.attempts[0]).toMatchObject({ status: 200, acknowledged: true });
    expect(
      await until(
        () => orderState(orderId),
        (s) => s === "closed",
      ),
    ).toBe("closed");
    expect(await wallet("sbx-u6")).toBe(0);
  });

  it("shows a payment only to the order's payer, and only with a token", async () => {
    await simulate({});
    const orderId = await topUp("sbx-u7", "3.00");
    expect((await call("GET", `/v1/sandbox/payments/${orderId}`)).status).toBe(401);
    const other = await call("GET", `/v1/sandbox/payments/${orderId}`, { token: await token("sbx-other") });
    expect(other.status).toBe(404);
    expect(other.body.error.code).toBe("order_not_found");
    expect((await decide("sbx-other", orderId, "succeeded")).status).toBe(404);
    expect((await payment(orderId)).state).toBe("open");
  });
});

async function fetchStatement(date: string, bearer: string) {
  const { exports } = await import("cloudflare:workers");
  return exports.default.fetch(`${BASE}/v1/sandbox/statements/${date}`, {
    headers: { authorization: `Bearer ${bearer}` },
  });
}
