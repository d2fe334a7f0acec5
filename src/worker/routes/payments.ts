import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { CHANNELS } from "../../channels/channel";
import { utf8Bytes } from "../../channels/encoding";
import { signSandbox } from "../../channels/sandbox";
import { createOrder, findOrder, type OrderRow } from "../../db/payments";
import { parseIdempotencyKey } from "../../domain/idempotency";
import { newId } from "../../domain/ids";
import { LIMITS } from "../../domain/limits";
import { DEFAULT_CURRENCY, parseAmountMinor } from "../../domain/money";
import { ORDER_KINDS, ORDER_STATES } from "../../domain/order";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { requireAuth } from "../middleware/auth";
import { money } from "../money-view";
import { receiveCallback } from "../payments/callbacks";
import { channelSecrets, channels } from "../payments/channels";
import {
  AmountMinor,
  bearerSecurity,
  DecimalAmount,
  errorResponses,
  IdempotencyKeyHeader,
  jsonBody,
  jsonResponse,
  UserId,
} from "../schemas";

/**
 * Payment orders: money entering giftwire through a channel. Creating an order is
 * idempotent per (user, Idempotency-Key); the wallet is credited when the channel reports
 * the payment (callback, or an active query), once.
 */

const OrderId = z.string().regex(/^order_[0-9A-HJKMNP-TV-Z]{26}$/);

const CreateOrderRequest = z
  .strictObject({
    kind: z.enum(["topup"]).default("topup").openapi({ description: "`topup` credits the wallet." }),
    channel: z.enum(CHANNELS),
    amount: DecimalAmount,
  })
  .openapi("CreateOrderRequest", { example: { kind: "topup", channel: "sandbox", amount: "52.00" } });

const OrderSchema = z
  .object({
    id: OrderId.openapi({ description: "Also the merchant order number the channel sees." }),
    kind: z.enum(ORDER_KINDS),
    userId: UserId,
    channel: z.enum(CHANNELS),
    currency: z.string(),
    amountMinor: AmountMinor,
    amount: z.string(),
    state: z.enum(ORDER_STATES),
    providerTxnId: z.string().nullable(),
    refundedMinor: AmountMinor,
    createdAtMs: z.number().int(),
    expiresAtMs: z.number().int(),
    updatedAtMs: z.number().int(),
  })
  .openapi("PaymentOrder");

const PaymentStep = z
  .object({
    kind: z.literal("sandbox_decision"),
    path: z.string().openapi({ description: "POST `{ outcome }` here to approve or decline as the payer." }),
  })
  .nullable()
  .openapi("PaymentStep");

function orderBody(r: OrderRow) {
  return {
    id: r.id,
    kind: r.kind,
    userId: r.user_id,
    channel: r.channel,
    currency: r.currency,
    ...money(r.amount_minor),
    state: r.state,
    providerTxnId: r.provider_txn_id,
    refundedMinor: r.refunded_minor,
    createdAtMs: r.created_at_ms,
    expiresAtMs: r.expires_at_ms,
    updatedAtMs: r.updated_at_ms,
  };
}

const orderParams = z.object({ orderId: OrderId.openapi({ param: { name: "orderId", in: "path" } }) });

export const payments = new OpenAPIHono<AppEnv>();

payments.use("/payments/orders", requireAuth());
payments.use("/payments/orders/*", requireAuth());
payments.use("/sandbox/*", requireAuth());

payments.openapi(
  createRoute({
    method: "post",
    path: "/payments/orders",
    tags: ["payments"],
    summary: "Create a top-up order on a payment channel",
    description:
      "Idempotent per Idempotency-Key: the same key answers the same order (200). The wallet is credited " +
      "once the channel reports the payment. `payment` says what the payer does next.",
    security: bearerSecurity,
    request: { headers: IdempotencyKeyHeader, body: jsonBody(CreateOrderRequest) },
    responses: {
      200: jsonResponse(z.object({ order: OrderSchema, payment: PaymentStep }), "The order this key created earlier"),
      201: jsonResponse(z.object({ order: OrderSchema, payment: PaymentStep }), "The order"),
      ...errorResponses(400, 401, 404, 409, 422),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const key = parseIdempotencyKey(c.req.header("idempotency-key"));
    if (!key.ok) throw ApiError.from(key);
    const amount = parseAmountMinor(body.amount, LIMITS.orderAmountMaxMinor);
    if (!amount.ok) throw ApiError.from(amount);
    if (!channels(c.env).has(body.channel)) {
      throw new ApiError("channel_not_found", `The ${body.channel} channel is not enabled on this deployment.`);
    }
    const nowMs = Date.now();
    const userId = c.var.principal.userId;
    const { row, created } = await createOrder(c.env.DB, {
      kind: body.kind,
      userId,
      channel: body.channel,
      currency: DEFAULT_CURRENCY,
      amountMinor: amount.value,
      idempotencyKey: key.value,
      nowMs,
      expiresAtMs: nowMs + LIMITS.orderTtlMs,
      // The sandbox needs no call to open a payment; the real channels' create calls are still to come.
      opened: body.channel === "sandbox",
    });
    if (row.kind !== body.kind || row.channel !== body.channel || row.amount_minor !== amount.value) {
      throw new ApiError("idempotency_key_reused");
    }
    const payment =
      row.channel === "sandbox"
        ? { kind: "sandbox_decision" as const, path: `/v1/sandbox/orders/${row.id}/decision` }
        : null;
    return c.json({ order: orderBody(row), payment }, created ? 201 : 200);
  },
);

payments.openapi(
  createRoute({
    method: "get",
    path: "/payments/orders/{orderId}",
    tags: ["payments"],
    summary: "A payment order (its payer, or finance and admin)",
    security: bearerSecurity,
    request: { params: orderParams },
    responses: {
      200: jsonResponse(z.object({ order: OrderSchema }), "The order"),
      ...errorResponses(401, 404),
    },
  }),
  async (c) => {
    const { orderId } = c.req.valid("param");
    const order = await findOrder(c.env.DB, orderId);
    const p = c.var.principal;
    const staff = p.roles.has("admin") || p.roles.has("finance");
    if (!order || (order.user_id !== p.userId && !staff)) throw new ApiError("order_not_found");
    return c.json({ order: orderBody(order) }, 200);
  },
);

const SandboxDecision = z
  .strictObject({ outcome: z.enum(["succeeded", "failed"]) })
  .openapi("SandboxDecision", { example: { outcome: "succeeded" } });

payments.openapi(
  createRoute({
    method: "post",
    path: "/sandbox/orders/{orderId}/decision",
    tags: ["payments"],
    summary: "Sandbox channel: the payer approves or declines (sends the signed callback)",
    description:
      "The sandbox stands in for a provider: the decision becomes a callback signed with the sandbox secret and " +
      "delivered through the same verify → store → enqueue path as a real provider's.",
    security: bearerSecurity,
    request: { params: orderParams, body: jsonBody(SandboxDecision) },
    responses: {
      202: jsonResponse(z.object({ delivered: z.boolean() }), "The callback was sent"),
      ...errorResponses(400, 401, 404),
    },
  }),
  async (c) => {
    const { orderId } = c.req.valid("param");
    const { outcome } = c.req.valid("json");
    const secrets = channelSecrets(c.env).sandbox;
    const adapter = channels(c.env).get("sandbox");
    if (!secrets || !adapter) throw new ApiError("channel_not_found", "The sandbox channel is not enabled.");
    const order = await findOrder(c.env.DB, orderId);
    if (!order || order.channel !== "sandbox" || order.user_id !== c.var.principal.userId) {
      throw new ApiError("order_not_found");
    }
    const nowMs = Date.now();
    const event = JSON.stringify({
      id: `evt_${newId("ntf", nowMs).slice(4)}`,
      type: outcome === "succeeded" ? "payment.succeeded" : "payment.failed",
      merchant_id: secrets.merchantId,
      order_no: order.id,
      txn_id: `sbx_${order.id.slice(6)}`,
      amount_minor: order.amount_minor,
      currency: order.currency,
    });
    const headers = new Headers({
      "content-type": "application/json",
      "sandbox-signature": await signSandbox(secrets.secret, event, nowMs),
    });
    const res = await receiveCallback(c.env, c.var.log, adapter, headers, utf8Bytes(event));
    return c.json({ delivered: res.ok }, 202);
  },
);
