/**
 * The sandbox provider Worker (dev/sandbox-provider), run beside giftwire as an auxiliary
 * Worker: giftwire opens payments through its client over the SANDBOX binding, the payer
 * decides through the payer link, and the provider posts signed callbacks over HTTP to the
 * notify_url giftwire gave, which giftwire's callback route takes like any provider's.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, onTestFinished } from "vitest";
import { base64Bytes } from "../../src/channels/encoding";
import { sandboxClient } from "../../src/channels/sandbox/api";
import { parseStatement } from "../../src/channels/statement";
import { formatMinor, parseAmountMinor } from "../../src/domain/money";
import { RETRY_CURVES } from "../../src/domain/retry";
import {
  callbackQueueFailing,
  payerDecides,
  payerLink,
  payerView,
  providerPayment,
  runProviderAlarm,
  SANDBOX_SECRET,
  type SandboxPayment,
  sim,
  simulate,
} from "../support/sandbox-provider";
import { BASE, balanceOf, call, invariantReport, key, ledger, shardDbOfId, token, until } from "./helpers";

const CHANNELS = { sandbox: SANDBOX_SECRET };
const client = sandboxClient(env.SANDBOX as Fetcher, CHANNELS.sandbox, { now: Date.now, timeoutMs: 4_000 });

interface TopUp {
  orderId: string;
  /** The payer link order creation handed out. */
  payUrl: string;
  code: string;
}

async function topUp(userId: string, amount: string): Promise<TopUp> {
  const res = await call("POST", "/v1/payments/orders", {
    token: await token(userId),
    idempotencyKey: key(),
    body: { kind: "topup", channel: "sandbox", amount },
  });
  if (res.status !== 201) throw new Error(`order failed: ${res.status} ${JSON.stringify(res.body)}`);
  const payUrl = res.body.payment.url as string;
  return { orderId: res.body.order.id as string, payUrl, code: payerLink(payUrl).code };
}

/** Opens the order's payment through the client again: the provider answers as it did the first time. */
async function openThroughClient({ orderId, payUrl }: TopUp, amountMinor: number) {
  expect(payUrl).toMatch(new RegExp(`^https://sandbox-provider\\.test/pay\\?order=${orderId}&code=[0-9a-f]{32}$`));
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
    value: { step: { kind: "sandbox_approval", url: payUrl }, providerRef: `sbx_${orderId.slice("order_".length)}` },
  });
}

const decide = (t: TopUp, outcome: "succeeded" | "failed") => payerDecides(t.orderId, t.code, outcome);
const payment = (orderId: string): Promise<SandboxPayment> => providerPayment(orderId);
const wallet = (userId: string) => balanceOf(`user:${userId}:wallet`);
const credits = async (orderId: string) =>
  (await (
    await shardDbOfId(orderId)
  )
    .prepare("SELECT COUNT(*) AS n FROM operations WHERE id = ?")
    .bind(orderId)
    .first<number>("n")) ?? 0;
const orderState = async (id: string) =>
  (await (
    await shardDbOfId(id)
  )
    .prepare("SELECT state FROM payment_orders WHERE id = ?")
    .bind(id)
    .first<string>("state")) ?? "";
const notifications = async (eventId: string) =>
  (
    await (
      await ledger()
    ).control
      .prepare(
        "SELECT verified, headers, body_base64, applied_at_ms FROM payment_notifications WHERE channel = 'sandbox' AND event_id = ?",
      )
      .bind(eventId)
      .all<{ verified: number; headers: string; body_base64: string; applied_at_ms: number | null }>()
  ).results;
const applied = async (eventId: string) => (await notifications(eventId)).every((n) => n.applied_at_ms !== null);

/** Runs the provider's alarm until `done` holds (each run does the earliest work due). */
async function driveUntil(done: (p: SandboxPayment) => boolean, orderId: string, runsMax = 10) {
  for (let i = 0; i < runsMax && !done(await payment(orderId)); i++) await runProviderAlarm();
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
    const order = await topUp("sbx-u1", "52.00");
    const { orderId } = order;
    await openThroughClient(order, 5200);

    const sheet = await payerView(orderId, order.code);
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

    const decided = await decide(order, "succeeded");
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
    expect((await decide(order, "succeeded")).status).toBe(202);
    expect((await payment(orderId)).deliveries).toHaveLength(1);
    const flip = await decide(order, "failed");
    expect(flip.status).toBe(409);
    expect(await wallet("sbx-u1")).toBe(5200);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("retries a callback the callback path does not acknowledge, on the schedule, and the money arrives once", async () => {
    // The first two deliveries find giftwire's callback queue down: the route stores the raw
    // notification, cannot enqueue it, and answers 503 — a real "retry later".
    await simulate({ deliveryDelayMs: [60_000, 60_000] });
    const order = await topUp("sbx-u2", "18.80");
    const { orderId } = order;
    expect((await decide(order, "succeeded")).status).toBe(202);
    expect((await payment(orderId)).deliveries[0]?.attempts).toEqual([]);
    const restore = callbackQueueFailing(2);
    onTestFinished(restore);

    expect(await runProviderAlarm()).toBe(true);
    let d = (await payment(orderId)).deliveries[0];
    expect(d?.state).toBe("scheduled");
    expect(d?.attempts.map((a) => [a.status, a.acknowledged])).toEqual([[503, false]]);
    expect((d?.nextAttemptAtMs ?? 0) - (d?.attempts[0]?.atMs ?? 0)).toBe(RETRY_CURVES.sandboxCallback.stepsMs[0]);

    expect(await runProviderAlarm()).toBe(true);
    d = (await payment(orderId)).deliveries[0];
    expect(d?.attempts.map((a) => a.status)).toEqual([503, 503]);
    expect((d?.nextAttemptAtMs ?? 0) - (d?.attempts[1]?.atMs ?? 0)).toBe(RETRY_CURVES.sandboxCallback.stepsMs[1]);
    expect(await wallet("sbx-u2")).toBe(0);

    expect(await runProviderAlarm()).toBe(true);
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
    // The provider is done with it: nothing is left due for this callback.
    expect((await payment(orderId)).deliveries[0]?.nextAttemptAtMs).toBeNull();
    expect(await notifications(d?.eventId ?? "")).toHaveLength(1);
    expect(await credits(orderId)).toBe(1);
    expect(await wallet("sbx-u2")).toBe(1880);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("with duplicateRate 1 delivers every callback twice, and credits once", async () => {
    await simulate({ deliveryDelayMs: [60_000, 60_000], duplicateRate: 1 });
    const order = await topUp("sbx-u3", "8.80");
    const { orderId } = order;
    expect((await decide(order, "succeeded")).status).toBe(202);
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
    const order = await topUp("sbx-u4", "6.60");
    const { orderId } = order;
    await openThroughClient(order, 660);
    expect(await client.queryPayment(orderId, null)).toEqual({ ok: true, value: { state: "open" } });
    expect(await client.queryPayment("order_01JZZZZZZZZZZZZZZZZZZZZZZZ", null)).toEqual({
      ok: true,
      value: { state: "unknown" },
    });
    expect((await decide(order, "succeeded")).status).toBe(202);
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
    const order = await topUp("sbx-u5", "20.00");
    const { orderId } = order;
    expect((await decide(order, "succeeded")).status).toBe(202);
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

    const res = await sim("GET", `/v1/statements/${shanghaiToday()}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/csv/);
    const csv = res.body as string;
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
    // giftwire's channel client downloads the same file over the binding; reconciliation asks
    // it when none is posted.
    expect(await client.downloadStatement(shanghaiToday())).toEqual({ ok: true, value: csv });

    // Another day has none of it; the statement is the merchant's, behind its API key.
    const yesterday = new Date(Date.now() + 8 * 3_600_000 - 86_400_000).toISOString().slice(0, 10);
    expect((await sim("GET", `/v1/statements/${yesterday}`)).body).not.toContain(orderId);
    const keyless = await sim("GET", `/v1/statements/${shanghaiToday()}`, { auth: false });
    expect([keyless.status, keyless.body.error.code]).toEqual([401, "unauthorized"]);
    expect((await sim("GET", "/v1/statements/2026-02-30")).status).toBe(400);
  });

  it("closes a payment nobody decided at its deadline and sends payment.closed, which closes the order", async () => {
    await simulate({ deliveryDelayMs: [60_000, 60_000] });
    const order = await topUp("sbx-u6", "1.00");
    const { orderId } = order;
    const closed = await driveUntil((x) => x.state === "closed", orderId, 20);
    expect(closed).toMatchObject({ state: "closed", decidedAtMs: null });
    expect(closed.deliveries.map((d) => [d.type, d.state])).toEqual([["payment.closed", "scheduled"]]);
    // Too late to pay.
    const late = await decide(order, "succeeded");
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

  it("shows and lets decide a payment only with its payer link's code", async () => {
    await simulate({});
    const order = await topUp("sbx-u7", "3.00");
    const { orderId } = order;
    const codeless = await payerView(orderId, null);
    expect([codeless.status, codeless.body.error.code]).toEqual([401, "unauthorized"]);
    const guessed = "0".repeat(32);
    const other = await payerView(orderId, guessed);
    expect([other.status, other.body.error.code]).toEqual([404, "unknown_payment"]);
    expect((await payerDecides(orderId, guessed, "succeeded")).status).toBe(404);
    // The merchant API is not the payer's either.
    const keyless = await sim("GET", `/v1/payments/${orderId}`, { auth: false });
    expect(keyless.status).toBe(401);
    expect((await payment(orderId)).state).toBe("open");
    expect((await payerView(orderId, order.code)).status).toBe(200);
  });

  it("is not a channel of the production Worker, which has no SANDBOX binding", async () => {
    const { createApp } = await import("../../src/worker/app");
    const prodEnv = { ...env, SANDBOX: undefined };
    const res = await createApp().request(
      "/v1/payments/orders",
      {
        method: "POST",
        headers: {
          authorization: `Bearer ${await token("sbx-u8")}`,
          "idempotency-key": key(),
          "content-type": "application/json",
        },
        body: JSON.stringify({ kind: "topup", channel: "sandbox", amount: "1.00" }),
      },
      prodEnv,
    );
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).error.code).toBe("channel_not_found");
    const callback = await createApp().request(
      "/v1/payments/callbacks/sandbox",
      { method: "POST", body: "{}" },
      prodEnv,
    );
    expect(callback.status).toBe(404);
  });
});
