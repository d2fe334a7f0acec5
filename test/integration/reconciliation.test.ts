import { describe, expect, it, onTestFinished } from "vitest";
import { settleUnpaid } from "../../src/db/orders";
import {
  callbackQueueFailing,
  payerDecidesAt,
  providerPayment,
  runProviderAlarm,
  sim,
  simulate,
} from "../support/sandbox-provider";
import { balanceOf, call, invariantReport, key, ledger, operatorToken, shardDbOfId, token, until } from "./helpers";

let restoreQueue: (() => void) | null = null;

/**
 * The provider's behaviour, as sandbox.test.ts sets it: callbacks a minute late (so only
 * running its alarm delivers them), and optionally giftwire's callback queue down, so every
 * delivery is stored but answered 503.
 */
async function provideWith(options: { callbackQueueDown?: boolean } = {}): Promise<void> {
  await simulate({ deliveryDelayMs: [60_000, 60_000] });
  restoreQueue?.();
  restoreQueue = null;
  if (options.callbackQueueDown) {
    restoreQueue = callbackQueueFailing(Number.POSITIVE_INFINITY);
    onTestFinished(() => restoreQueue?.());
  }
}

const payment = providerPayment;
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
const storedRuns = async () =>
  (await (await ledger()).control.prepare("SELECT COUNT(*) AS n FROM reconciliation_runs").first<number>("n")) ?? 0;

/** Today in Asia/Shanghai (UTC+8 all year), the default BUSINESS_TIME_ZONE. */
const shanghaiToday = () => new Date(Date.now() + 8 * 3_600_000).toISOString().slice(0, 10);

/** A sandbox top-up the payer approves; returns the order id once the provider recorded the decision. */
async function paidAtProvider(userId: string, amount: string): Promise<string> {
  const created = await call("POST", "/v1/payments/orders", {
    token: await token(userId),
    idempotencyKey: key(),
    body: { kind: "topup", channel: "sandbox", amount },
  });
  expect(created.status).toBe(201);
  const orderId = created.body.order.id as string;
  const decided = await payerDecidesAt(created.body.payment.url, "succeeded");
  expect(decided.status).toBe(202);
  return orderId;
}

/** Runs the provider's alarms until the order's callback was acknowledged, then waits for the credit. */
async function delivered(orderId: string): Promise<void> {
  for (let i = 0; i < 10 && (await payment(orderId)).deliveries[0]?.state !== "delivered"; i++) {
    await runProviderAlarm();
  }
  expect((await payment(orderId)).deliveries[0]?.state).toBe("delivered");
  expect(
    await until(
      () => orderState(orderId),
      (s) => s === "succeeded",
    ),
  ).toBe("succeeded");
}

async function reconcile(body: Record<string, unknown>, as?: string) {
  return call("POST", "/v1/admin/reconciliations", { token: as ?? (await operatorToken()), body });
}

describe("reconciliation with the sandbox provider", () => {
  it("a reconciliation with one missing callback and one provider-side refund finds both", async () => {
    await provideWith();
    const matchedA = await paidAtProvider("rec-a", "12.00");
    const matchedB = await paidAtProvider("rec-b", "30.50");
    const refundedC = await paidAtProvider("rec-c", "20.00");
    for (const id of [matchedA, matchedB, refundedC]) await delivered(id);

    // (a) Paid at the provider, but the callback path is down for every delivery: it never reaches us.
    await provideWith({ callbackQueueDown: true });
    const missedD = await paidAtProvider("rec-d", "8.80");
    expect(await runProviderAlarm()).toBe(true);
    const attempt = (await payment(missedD)).deliveries[0]?.attempts[0];
    expect(attempt).toMatchObject({ status: 503, acknowledged: false });
    expect(await orderState(missedD)).toBe("pending");
    expect(await wallet("rec-d")).toBe(0);

    // (b) The provider refunds 5.00 of C on its side; nobody here asked for it.
    const refunded = await sim("POST", "/v1/refunds", {
      body: {
        merchantOrderNo: refundedC,
        refundNo: "provider-side-dispute-1",
        amountMinor: 500,
        totalMinor: 2000,
        currency: "CNY",
        reason: "dispute settled at the provider",
      },
    });
    expect(refunded.body).toMatchObject({ refund: { amountMinor: 500, status: "succeeded" } });
    const refund = refunded.body.refund as { refundId: string };

    const date = shanghaiToday();
    const first = await reconcile({ channel: "sandbox", date });
    expect(first.status).toBe(201);
    expect(first.body.run).toMatchObject({
      channel: "sandbox",
      date,
      lines: 5,
      matched: 4,
      findings: 2,
      repaired: 1,
      unrepaired: 1,
      counts: { missing_ours: 1, missing_theirs: 0, amount_mismatch: 0, status_mismatch: 1, duplicate_line: 0 },
      finishedAtMs: expect.any(Number),
    });
    const byKind = Object.fromEntries(first.body.findings.map((f: { kind: string }) => [f.kind, f]));
    expect(byKind.missing_ours).toMatchObject({
      subject: "payment",
      orderId: missedD,
      repair: "query_channel",
      repairOutcome: "credited",
      ours: { amountMinor: 880, state: "pending" },
      theirs: { amountMinor: 880, currency: "CNY", status: "succeeded" },
    });
    expect(byKind.status_mismatch).toMatchObject({
      subject: "refund",
      orderId: refundedC,
      repair: "operator",
      repairOutcome: null,
      providerRefundId: (refund as { refundId: string }).refundId,
      theirs: { amountMinor: 500, status: "refunded" },
      ours: { amountMinor: 2000, refundedMinor: 0 },
    });

    // The active query settled D: succeeded, credited once.
    expect(await orderState(missedD)).toBe("succeeded");
    expect(await credits(missedD)).toBe(1);
    expect(await wallet("rec-d")).toBe(880);

    // The same statement again: the stored run, nothing run twice.
    const again = await reconcile({ channel: "sandbox", date });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(await credits(missedD)).toBe(1);

    const read = await call("GET", `/v1/admin/reconciliations/${first.body.run.id}`, { token: await operatorToken() });
    expect(read.status).toBe(200);
    expect(read.body).toEqual(first.body);

    // Later that day the callback path is back (D's late callback may now arrive too) and one more payment
    // lands: a fresh statement, a fresh run. D is matched now; only the provider-side refund remains.
    await provideWith();
    const matchedE = await paidAtProvider("rec-e", "1.00");
    await delivered(matchedE);
    const fresh = await reconcile({ channel: "sandbox", date });
    expect(fresh.status).toBe(201);
    expect(fresh.body.run.id).not.toBe(first.body.run.id);
    expect(fresh.body.run).toMatchObject({ lines: 6, matched: 5, findings: 1, repaired: 0, unrepaired: 1 });
    expect(fresh.body.run.counts.missing_ours).toBe(0);
    expect(fresh.body.findings.map((f: { kind: string; orderId: string }) => [f.kind, f.orderId])).toEqual([
      ["status_mismatch", refundedC],
    ]);

    expect(await credits(missedD)).toBe(1);
    expect(await wallet("rec-d")).toBe(880);
    for (const [user, minor] of [
      ["rec-a", 1200],
      ["rec-b", 3050],
      ["rec-c", 2000],
      ["rec-e", 100],
    ] as const) {
      expect(await wallet(user)).toBe(minor);
    }
    expect((await invariantReport()).ok).toBe(true);
  });

  it("credits an order our clock closed before its money arrived, by the reconciliation's query", async () => {
    await provideWith({ callbackQueueDown: true });
    const lateF = await paidAtProvider("rec-f", "6.60");
    expect(await runProviderAlarm()).toBe(true);
    // The order's deadline passed while the channel still looked unpaid to us: closed here.
    expect(await settleUnpaid(await shardDbOfId(lateF), lateF, "closed", "expired", "test: deadline", Date.now())).toBe(
      true,
    );
    const run = await reconcile({ channel: "sandbox", date: shanghaiToday() });
    expect(run.status).toBe(201);
    const finding = run.body.findings.find((f: { orderId: string }) => f.orderId === lateF);
    expect(finding).toMatchObject({ kind: "missing_ours", repair: "query_channel", repairOutcome: "credited" });
    expect(await orderState(lateF)).toBe("succeeded");
    expect(await credits(lateF)).toBe(1);
    expect(await wallet("rec-f")).toBe(660);
    await provideWith();
    expect((await invariantReport()).ok).toBe(true);
  });

  it("refuses a malformed statement with 422 and its line, and stores nothing", async () => {
    const before = await storedRuns();
    const res = await reconcile({
      channel: "sandbox",
      date: "2026-12-01",
      statement: "occurred_at,type,order_no,txn_id,refund_id,amount,currency,status\nnot,a,line\n",
    });
    expect(res.status).toBe(422);
    expect(res.body.error).toMatchObject({ code: "statement_malformed", details: { line: 2 } });
    expect(await storedRuns()).toBe(before);
  });

  it("takes a statement larger than the general body limit, which other routes still refuse", async () => {
    const padding = `# ${"x".repeat(40_000)}\n`;
    const big = await reconcile({
      channel: "sandbox",
      date: "2026-12-01",
      statement: `occurred_at,type,order_no,txn_id,refund_id,amount,currency,status\n${padding}`,
    });
    // Read and refused by the parser (a comment that is not the trailer), not by the size limit.
    expect(big.status).toBe(422);
    expect(big.body.error.code).toBe("statement_malformed");

    const elsewhere = await call("POST", "/v1/payments/orders", {
      token: await token("rec-big"),
      idempotencyKey: key(),
      body: { kind: "topup", channel: "sandbox", amount: "1.00", padding },
    });
    expect(elsewhere.status).toBe(413);
  });

  it("answers 409 statement_not_ready when the channel has not produced the day's statement yet", async () => {
    // Alipay generates a day's bill the next morning: today's does not exist yet.
    const today = new Date(Date.now() + 8 * 3_600_000).toISOString().slice(0, 10);
    const res = await reconcile({ channel: "alipay", date: today });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("statement_not_ready");
  });

  it("publishes both routes in the OpenAPI document", async () => {
    const res = await call("GET", "/v1/openapi.json");
    expect(res.status).toBe(200);
    const start = res.body.paths["/admin/reconciliations"];
    const read = res.body.paths["/admin/reconciliations/{runId}"];
    expect(Object.keys(start)).toEqual(["post"]);
    expect(start.post.requestBody.content["application/json"].schema).toEqual({
      $ref: "#/components/schemas/ReconcileRequest",
    });
    expect(Object.keys(start.post.responses)).toEqual([
      "200",
      "201",
      "400",
      "401",
      "403",
      "404",
      "409",
      "413",
      "415",
      "422",
      "429",
      "503",
    ]);
    expect(Object.keys(read)).toEqual(["get"]);
    expect(Object.keys(read.get.responses)).toEqual(["200", "401", "403", "404", "429"]);
    expect(res.body.components.schemas.ReconciliationFinding.properties.kind.enum).toEqual([
      "missing_ours",
      "missing_theirs",
      "amount_mismatch",
      "status_mismatch",
      "duplicate_line",
    ]);
  });

  it("is for admin and finance only: a viewer gets 403, nobody gets 401", async () => {
    const viewer = await reconcile({ channel: "sandbox", date: "2026-12-01" }, await token("rec-viewer"));
    expect(viewer.status).toBe(403);
    const anonymous = await call("POST", "/v1/admin/reconciliations", {
      body: { channel: "sandbox", date: "2026-12-01" },
    });
    expect(anonymous.status).toBe(401);
    const read = await call("GET", "/v1/admin/reconciliations/recon_00000000000000000000000000", {
      token: await token("rec-viewer"),
    });
    expect(read.status).toBe(403);
    const missing = await call("GET", "/v1/admin/reconciliations/recon_00000000000000000000000000", {
      token: await operatorToken(),
    });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("reconciliation_not_found");
  });
});
