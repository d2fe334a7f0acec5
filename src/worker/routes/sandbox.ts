import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { SANDBOX_PROVIDER_NAME } from "../../channels/sandbox-api";
import { findOrder, type OrderRow } from "../../db/reads/orders";
import { assert } from "../../domain/limits";
import { formatMinor } from "../../domain/money";
import { type SandboxPayment, StatementDate } from "../../durable-objects/sandbox-provider";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { hasAnyRole, requireAuth } from "../middleware/auth";
import { money } from "../money-view";
import { channelSecrets, channels } from "../payments/channels";
import { AmountMinor, bearerSecurity, errorResponses, jsonBody, jsonResponse } from "../schemas";

/**
 * The sandbox channel's provider-side pages, for development, demos and tests: what the
 * payer's checkout sheet shows, the payer's decision, and the provider's daily statement.
 * The SandboxProvider object plays the provider; after a decision it delivers the signed
 * callback itself, late, retried and sometimes twice, as a real provider would. These
 * routes exist only where the sandbox channel is enabled.
 */

const OrderNo = z
  .string()
  .regex(/^order_[0-9A-HJKMNP-TV-Z]{26}$/)
  .openapi({ description: "The payment order's id, which is the merchant order number." });

const paymentParams = z.object({ orderNo: OrderNo.openapi({ param: { name: "orderNo", in: "path" } }) });
const orderParams = z.object({ orderId: OrderNo.openapi({ param: { name: "orderId", in: "path" } }) });

/** Shown on the checkout sheet as the payee, as a provider shows the merchant's registered name. */
const MERCHANT_NAME = "giftwire";

const Attempt = z.object({
  n: z.number().int(),
  atMs: z.number().int(),
  duplicate: z.boolean().openapi({ description: "A repeat of a delivery already acknowledged." }),
  status: z.number().int().nullable().openapi({ description: "The callback path's HTTP status; null without one." }),
  acknowledged: z.boolean(),
  error: z.string().nullable(),
});

const Delivery = z.object({
  eventId: z.string(),
  type: z.enum(["payment.succeeded", "payment.failed", "payment.closed", "refund.succeeded"]),
  state: z.enum(["scheduled", "delivered", "gave_up"]),
  createdAtMs: z.number().int(),
  nextAttemptAtMs: z.number().int().nullable(),
  deliveredAtMs: z.number().int().nullable().openapi({ description: "When the callback was first acknowledged." }),
  attempts: z.array(Attempt),
});

const SandboxPaymentSchema = z
  .object({
    orderNo: z.string(),
    merchantName: z.string(),
    merchantId: z.string(),
    description: z.string(),
    currency: z.string(),
    amountMinor: AmountMinor,
    amount: z.string(),
    state: z.enum(["open", "succeeded", "failed", "closed"]),
    txnId: z.string(),
    createdAtMs: z.number().int(),
    expiresAtMs: z.number().int(),
    decidedAtMs: z.number().int().nullable(),
    closedAtMs: z.number().int().nullable(),
    refundedMinor: AmountMinor,
    deliveries: z.array(Delivery).openapi({ description: "The callbacks the provider owes and how each went." }),
    serverTimeMs: z.number().int().openapi({ description: "For a countdown that does not trust the device clock." }),
  })
  .openapi("SandboxPayment");

const SandboxDecision = z
  .strictObject({ outcome: z.enum(["succeeded", "failed"]) })
  .openapi("SandboxDecision", { example: { outcome: "succeeded" } });

const DecisionReply = z.object({
  delivered: z.boolean().openapi({
    description:
      "True when the provider took the decision and owes its callback, which it delivers after its delay and " +
      "retries until acknowledged; `payment.deliveries` tells when it arrived.",
  }),
  payment: SandboxPaymentSchema,
});

function paymentBody(p: SandboxPayment, nowMs: number) {
  return {
    orderNo: p.orderNo,
    merchantName: MERCHANT_NAME,
    merchantId: p.merchantId,
    description: p.description,
    currency: p.currency,
    ...money(p.amountMinor),
    state: p.state,
    txnId: p.txnId,
    createdAtMs: p.createdAtMs,
    expiresAtMs: p.expiresAtMs,
    decidedAtMs: p.decidedAtMs,
    closedAtMs: p.closedAtMs,
    refundedMinor: p.refundedMinor,
    deliveries: p.deliveries.map((d) => ({ ...d, attempts: [...d.attempts] })),
    serverTimeMs: nowMs,
  };
}

function provider(env: Env) {
  return env.SANDBOX_PROVIDER.getByName(SANDBOX_PROVIDER_NAME);
}

/**
 * The provider's payment for one of the caller's sandbox orders. An order the provider has
 * not heard of (created before order creation opened it there, or whose opening call
 * failed) is opened now from the order itself: the payer is at the checkout, so the
 * provider must know the payment, and opening is idempotent per order number.
 */
async function payersPayment(env: Env, userId: string, orderNo: string, origin: string): Promise<SandboxPayment> {
  const order = await findOrder(env.DB, orderNo);
  if (order?.channel !== "sandbox" || order.user_id !== userId) throw new ApiError("order_not_found");
  const known = await provider(env).payment(order.id);
  if (known) return known;
  return openFromOrder(env, order, origin);
}

async function openFromOrder(env: Env, order: OrderRow, origin: string): Promise<SandboxPayment> {
  const secrets = channelSecrets(env).sandbox;
  assert(secrets, "the sandbox routes run only with the sandbox enabled");
  const opened = await provider(env).openPayment({
    merchantId: secrets.merchantId,
    merchantOrderNo: order.id,
    amountMinor: order.amount_minor,
    currency: order.currency,
    description: `${MERCHANT_NAME} wallet top-up ¥${formatMinor(order.amount_minor)}`,
    notifyUrl: `${origin}/v1/payments/callbacks/sandbox`,
    expiresAtMs: order.expires_at_ms,
  });
  if (opened.kind === "rejected") {
    if (opened.code === "already_expired") throw new ApiError("conflict", "This payment expired before it was opened.");
    throw new Error(`the sandbox refused to open ${order.id}: ${opened.code} ${opened.detail}`);
  }
  return opened.payment;
}

export const sandboxRoutes = new OpenAPIHono<AppEnv>();

// Where the sandbox channel is not enabled its routes do not exist, for everyone.
sandboxRoutes.use("/sandbox/*", async (c, next) => {
  if (!channels(c.env).has("sandbox")) {
    throw new ApiError("channel_not_found", "The sandbox channel is not enabled on this deployment.");
  }
  await next();
});
sandboxRoutes.use("/sandbox/*", requireAuth());

sandboxRoutes.openapi(
  createRoute({
    method: "get",
    path: "/sandbox/payments/{orderNo}",
    tags: ["sandbox"],
    summary: "Sandbox provider: the payment the payer is asked to approve",
    description: "What the checkout sheet shows (merchant, amount, description, deadline) and the callbacks' progress.",
    security: bearerSecurity,
    request: { params: paymentParams },
    responses: {
      200: jsonResponse(z.object({ payment: SandboxPaymentSchema }), "The provider's payment"),
      ...errorResponses(401, 404, 409),
    },
  }),
  async (c) => {
    const { orderNo } = c.req.valid("param");
    const payment = await payersPayment(c.env, c.var.principal.userId, orderNo, new URL(c.req.url).origin);
    return c.json({ payment: paymentBody(payment, Date.now()) }, 200);
  },
);

const decisionRoute = <P extends typeof paymentParams | typeof orderParams>(path: string, params: P, summary: string) =>
  createRoute({
    method: "post",
    path,
    tags: ["sandbox"],
    summary,
    description:
      "The payer's decision goes to the sandbox provider, which then delivers a signed callback through the same " +
      "verify → store → enqueue path as a real provider's: after its delay, retried until acknowledged, sometimes " +
      "twice. The same decision again is answered the same; the other one is a 409.",
    security: bearerSecurity,
    request: {
      params,
      body: jsonBody(SandboxDecision),
    },
    responses: {
      202: jsonResponse(DecisionReply, "The provider took the decision; its callback is on its way"),
      ...errorResponses(400, 401, 404, 409),
    },
  });

async function decide(env: Env, userId: string, orderNo: string, outcome: "succeeded" | "failed", origin: string) {
  await payersPayment(env, userId, orderNo, origin);
  const decided = await provider(env).decide(orderNo, outcome);
  if (decided.kind === "decided") return decided.payment;
  if (decided.code === "expired") throw new ApiError("conflict", "This payment has expired and is closed.");
  if (decided.code === "already_decided") {
    throw new ApiError("conflict", `This payment was already ${decided.payment?.state ?? "decided"}.`);
  }
  throw new ApiError("order_not_found");
}

sandboxRoutes.openapi(
  decisionRoute(
    "/sandbox/payments/{orderNo}/decision",
    paymentParams,
    "Sandbox provider: the payer approves or declines",
  ),
  async (c) => {
    const { orderNo } = c.req.valid("param");
    const { outcome } = c.req.valid("json");
    const payment = await decide(c.env, c.var.principal.userId, orderNo, outcome, new URL(c.req.url).origin);
    return c.json({ delivered: true, payment: paymentBody(payment, Date.now()) }, 202);
  },
);

// The first sandbox decision path, which order creation still hands out; kept working as an alias.
sandboxRoutes.openapi(
  decisionRoute(
    "/sandbox/orders/{orderId}/decision",
    orderParams,
    "Sandbox provider: the payer approves or declines (first path)",
  ),
  async (c) => {
    const { orderId } = c.req.valid("param");
    const { outcome } = c.req.valid("json");
    const payment = await decide(c.env, c.var.principal.userId, orderId, outcome, new URL(c.req.url).origin);
    return c.json({ delivered: true, payment: paymentBody(payment, Date.now()) }, 202);
  },
);

/** Reconciliation is finance's: the statement lists every payer's payments. */
const STATEMENT_READERS = ["admin", "finance"] as const;

sandboxRoutes.openapi(
  createRoute({
    method: "get",
    path: "/sandbox/statements/{date}",
    tags: ["sandbox"],
    summary: "Sandbox provider: the daily statement (CSV) for reconciliation",
    description:
      "Every payment that succeeded and every refund made on that day (an Asia/Shanghai day), in the format " +
      "src/channels/statements.ts reads: times in ISO 8601 UTC, amounts in decimal yuan, and a " +
      "`# total_count=…,total_amount=…` trailer (the sum of the amount column). Admin and finance.",
    security: bearerSecurity,
    request: {
      params: z.object({
        date: StatementDate.openapi({ param: { name: "date", in: "path" }, example: "2026-11-22" }),
      }),
    },
    responses: {
      200: { content: { "text/csv": { schema: z.string() } }, description: "The statement" },
      ...errorResponses(400, 401, 403, 404),
    },
  }),
  async (c) => {
    if (!hasAnyRole(c.var.principal, STATEMENT_READERS)) {
      throw new ApiError("forbidden", `This needs one of the roles: ${STATEMENT_READERS.join(", ")}.`);
    }
    const { date } = c.req.valid("param");
    const csv = await provider(c.env).statement(date);
    return c.body(csv, 200, {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="sandbox-statement-${date}.csv"`,
    });
  },
);
