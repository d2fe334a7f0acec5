/**
 * The sandbox provider Worker: a simulated payment provider with the three faces a real one
 * has. giftwire reaches its merchant API through a service binding (dev and test only);
 * payers reach its checkout sheet in their browser through the payer link it hands out; and
 * its SandboxProvider object posts signed callbacks to the merchant's notify_url over HTTP.
 *
 *   merchant API (Authorization: Bearer <SIGNING_SECRET>, the merchant's API key)
 *     POST /v1/payments                 open a payment → { payment, payUrl }
 *     GET  /v1/payments/:orderNo        what became of it → { payment }
 *     POST /v1/refunds                  refund part or all of a paid payment → { refund }
 *     POST /v1/payouts                  send a payout under the merchant's payout number → { payout }
 *     GET  /v1/payouts/:payoutNo        what became of it → { payout }
 *     GET  /v1/statements/:date         the day's statement (CSV), an Asia/Shanghai day
 *     PUT  /v1/control/simulation       set the delay and duplicate rate (null: back to the vars)
 *     POST /v1/control/run-due          run the armed alarm now → { ran } (tests drive time with it)
 *   payer (X-Pay-Code: the code of the payer link)
 *     GET  /pay/api/payments/:orderNo            the checkout sheet's payment
 *     POST /pay/api/payments/:orderNo/decision   approve or decline → 202
 *   static: /pay (pay.html), /pay.css, /pay.js (public/)
 *
 * Failures answer `{ error: { code, detail } }`, with the provider's own codes.
 */
import { Hono } from "hono";
import { z } from "zod";
import { formatMinor } from "../../../src/domain/money";
import { OpenPayoutInput } from "./payouts";
import {
  type DecideResult,
  Decision,
  OpenPaymentInput,
  RefundInput,
  type SandboxPayment,
  Simulation,
  StatementDate,
} from "./provider";

export { SandboxProvider } from "./provider";

type Provider = { Bindings: SandboxProviderEnv };

const app = new Hono<Provider>();

/** The one provider object: the simulator is one "company" with one book of payments. */
const provider = (env: SandboxProviderEnv) => env.PROVIDER.getByName("sandbox");

const fail = (code: string, detail: string, status: 400 | 401 | 404 | 409) =>
  Response.json({ error: { code, detail } }, { status });

async function json<T>(request: Request, schema: z.ZodType<T>): Promise<{ ok: true; value: T } | { ok: false }> {
  const parsed = schema.safeParse(await request.json().catch(() => undefined));
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false };
}

/** Compares in time independent of where the strings first differ. */
function sameSecret(given: string, expected: string): boolean {
  if (given.length !== expected.length || expected.length === 0) return false;
  let diff = 0;
  for (let i = 0; i < given.length; i++) diff |= given.charCodeAt(i) ^ expected.charCodeAt(i);
  return diff === 0;
}

// ── merchant API ─────────────────────────────────────────────────────────────────────────

app.use("/v1/*", async (c, next) => {
  const bearer = /^Bearer (.+)$/.exec(c.req.header("authorization") ?? "")?.[1] ?? "";
  if (!sameSecret(bearer, c.env.SIGNING_SECRET))
    return fail("unauthorized", "The merchant API key is missing or wrong.", 401);
  await next();
});

/** The link the merchant shows the payer (a QR code or a redirect, with a real provider). */
function payUrl(env: SandboxProviderEnv, orderNo: string, payCode: string): string {
  const url = new URL("/pay", env.PUBLIC_URL);
  url.searchParams.set("order", orderNo);
  url.searchParams.set("code", payCode);
  return url.toString();
}

app.post("/v1/payments", async (c) => {
  const body = await c.req.json().catch(() => undefined);
  const parsed = OpenPaymentInput.safeParse(body);
  if (!parsed.success) return fail("invalid_request", z.prettifyError(parsed.error), 400);
  const opened = await provider(c.env).openPayment(parsed.data);
  if (opened.kind === "rejected")
    return fail(opened.code, opened.detail, opened.code === "invalid_request" ? 400 : 409);
  return c.json(
    { payment: opened.payment, payUrl: payUrl(c.env, opened.payment.orderNo, opened.payCode) },
    opened.kind === "opened" ? 201 : 200,
  );
});

app.get("/v1/payments/:orderNo", async (c) => {
  const payment = await provider(c.env).payment(c.req.param("orderNo"));
  if (!payment) return fail("unknown_payment", "No payment has that order number.", 404);
  return c.json({ payment }, 200);
});

app.post("/v1/refunds", async (c) => {
  const body = await json(c.req.raw, RefundInput);
  if (!body.ok) return fail("invalid_request", "Send a refund request.", 400);
  const outcome = await provider(c.env).refund(body.value);
  if (outcome.kind === "rejected")
    return fail(outcome.code, outcome.detail, outcome.code === "invalid_request" ? 400 : 409);
  return c.json(
    { refund: { refundId: outcome.refundId, amountMinor: outcome.amountMinor, status: outcome.status } },
    200,
  );
});

app.post("/v1/payouts", async (c) => {
  const parsed = OpenPayoutInput.safeParse(await c.req.json().catch(() => undefined));
  if (!parsed.success) return fail("invalid_request", z.prettifyError(parsed.error), 400);
  const opened = await provider(c.env).openPayout(parsed.data);
  if (opened.kind === "rejected")
    return fail(opened.code, opened.detail, opened.code === "invalid_request" ? 400 : 409);
  return c.json({ payout: opened.payout }, opened.kind === "opened" ? 201 : 200);
});

app.get("/v1/payouts/:payoutNo", async (c) => {
  const payout = await provider(c.env).payout(c.req.param("payoutNo"));
  if (!payout) return fail("unknown_payout", "No payout has that number.", 404);
  return c.json({ payout }, 200);
});

app.get("/v1/statements/:date", async (c) => {
  const date = StatementDate.safeParse(c.req.param("date"));
  if (!date.success) return fail("invalid_request", "The date is a calendar date, YYYY-MM-DD.", 400);
  return c.body(await provider(c.env).statement(date.data), 200, {
    "content-type": "text/csv; charset=utf-8",
    "content-disposition": `attachment; filename="sandbox-statement-${date.data}.csv"`,
  });
});

app.put("/v1/control/simulation", async (c) => {
  const body = await json(c.req.raw, z.object({ simulation: Simulation.nullable() }));
  if (!body.ok) return fail("invalid_request", "Send { simulation: { deliveryDelayMs, duplicateRate } | null }.", 400);
  return c.json({ simulation: await provider(c.env).setSimulation(body.value.simulation) }, 200);
});

app.post("/v1/control/run-due", async (c) => c.json({ ran: await provider(c.env).runDue() }, 200));

// ── payer ────────────────────────────────────────────────────────────────────────────────

/** What the checkout sheet shows, with the provider's clock for a countdown that does not trust the device's. */
function payerView(env: SandboxProviderEnv, p: SandboxPayment) {
  return {
    orderNo: p.orderNo,
    merchantName: env.MERCHANT_NAME,
    merchantId: p.merchantId,
    description: p.description,
    currency: p.currency,
    amountMinor: p.amountMinor,
    amount: formatMinor(p.amountMinor),
    state: p.state,
    txnId: p.txnId,
    createdAtMs: p.createdAtMs,
    expiresAtMs: p.expiresAtMs,
    decidedAtMs: p.decidedAtMs,
    closedAtMs: p.closedAtMs,
    refundedMinor: p.refundedMinor,
    deliveries: p.deliveries,
    serverTimeMs: Date.now(),
  };
}

app.use("/pay/api/*", async (c, next) => {
  if (!c.req.header("x-pay-code")) return fail("unauthorized", "Open this page from the payer link.", 401);
  await next();
});

app.get("/pay/api/payments/:orderNo", async (c) => {
  const payment = await provider(c.env).payerPayment(c.req.param("orderNo"), c.req.header("x-pay-code") ?? "");
  if (!payment) return fail("unknown_payment", "There is no such payment for this link.", 404);
  return c.json({ payment: payerView(c.env, payment) }, 200);
});

const DECLINED: Record<Exclude<DecideResult, { kind: "decided" }>["code"], [string, 404 | 409]> = {
  unknown_payment: ["There is no such payment for this link.", 404],
  expired: ["This payment has expired and is closed.", 409],
  already_decided: ["This payment was already decided.", 409],
};

app.post("/pay/api/payments/:orderNo/decision", async (c) => {
  const body = await json(c.req.raw, z.strictObject({ outcome: Decision }));
  if (!body.ok) return fail("invalid_request", 'Send { outcome: "succeeded" | "failed" }.', 400);
  const decided = await provider(c.env).decide(
    c.req.param("orderNo"),
    c.req.header("x-pay-code") ?? "",
    body.value.outcome,
  );
  if (decided.kind === "rejected") {
    const [message, status] = DECLINED[decided.code];
    const detail =
      decided.code === "already_decided" && decided.payment
        ? `This payment was already ${decided.payment.state}.`
        : message;
    return fail(decided.code, detail, status);
  }
  // The same decision again (a second tap) is answered the same: nothing new is sent.
  return c.json({ delivered: true, payment: payerView(c.env, decided.payment) }, 202);
});

app.notFound(() => fail("not_found", "No such route.", 404));

export default { fetch: app.fetch } satisfies ExportedHandler<SandboxProviderEnv>;
