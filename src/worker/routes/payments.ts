/**
 * Payment orders: money entering giftwire through a channel. Creating an order is
 * idempotent per (user, Idempotency-Key); the wallet is credited when the channel reports
 * the payment (callback, or an active query), once.
 *
 * An order is made in its payer's ledger shard, with the payer's bucket in its id; everything
 * about it afterwards (reads, refunds) goes to the shard its id names.
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { ChannelName } from "../../channels/channel";
import { CHANNELS } from "../../channels/channel";
import { emitOperationEvents } from "../../db/business-events";
import { preparePaidPacket, StoredPacketOrder } from "../../db/operations/packet-send-paid";
import { composeRefundRequest } from "../../db/operations/payment-refund";
import { prepareTip } from "../../db/operations/tip";
import { notUnlockedGuard, prepareUnlock } from "../../db/operations/unlock";
import { createOrder } from "../../db/orders";
import { findOrder, type OrderRow, refundsOf } from "../../db/reads/orders";
import { currentSwitches, refusalDetails } from "../../db/switches";
import { accountAddress } from "../../domain/accounts";
import { fail, ok } from "../../domain/errors";
import { parseIdempotencyKey } from "../../domain/idempotency";
import { bucketOfId } from "../../domain/ids";
import { assert, LIMITS } from "../../domain/limits";
import { DEFAULT_CURRENCY, parseAmountMinor } from "../../domain/money";
import { ORDER_KINDS, ORDER_STATES } from "../../domain/order";
import { refusalFor } from "../../domain/switches";
import { operatorAction } from "../audit";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { balancePatch, runIdempotent } from "../idempotency";
import { operatorMay } from "../middleware/auth";
import { moderatedGreeting } from "../moderation";
import { money } from "../money-view";
import { channelClients } from "../payments/channels";
import { openOrder } from "../payments/orders";
import { requirePin } from "../pin";
import { fourEyes } from "../proposals";
import { enqueueRefund, type PaymentQueryMessage } from "../queues/payment-callbacks";
import { assessRisk } from "../risk";
import {
  AmountMinor,
  DecimalAmount,
  errorResponses,
  IdempotencyKeyHeader,
  jsonBody,
  jsonResponse,
  Pin,
  PrefixedId,
  TipAskSchema,
  UserId,
} from "../schemas";
import { ContentId } from "./content";
import { defineRoute } from "./define";
import { PacketAskFields } from "./red-packets";
import { RoomId } from "./rooms";

const OrderId = PrefixedId("order");

const TipOrderRequest = z.intersection(z.object({ roomId: RoomId }), TipAskSchema).openapi("TipOrderRequest", {
  example: { roomId: "room_01JDEMO0000000000000000000", kind: "gift", giftId: "rocket" },
});

const PacketOrderRequest = z
  .strictObject({
    roomId: RoomId,
    total: DecimalAmount.openapi({ description: "The packet's total: the order's amount." }),
    ...PacketAskFields,
  })
  .openapi("PacketOrderRequest", {
    example: { roomId: "room_01JDEMO0000000000000000000", total: "88.88", shares: 10, split: "lucky" },
  });

const UnlockOrderRequest = z
  .strictObject({ contentId: ContentId })
  .openapi("UnlockOrderRequest", { example: { contentId: "cnt_01JDEMO0000000000000000000" } });

const CreateOrderRequest = z
  .strictObject({
    kind: z
      .enum(ORDER_KINDS)
      .default("topup")
      .openapi({
        description:
          "`topup` credits the wallet; `tip` credits it and sends `tip` from it once paid; `packet` credits it and " +
          "sends the red packet `packet` from it once paid (a red packet paid at the cashier); `unlock` credits it " +
          "and unlocks the content item `unlock.contentId` from it once paid (pay-to-unlock, at its price now).",
      }),
    channel: z.enum(CHANNELS).optional().openapi({ description: "A channel by name; or give `method`." }),
    method: z
      .string()
      .regex(/^[a-z_]{1,32}$/)
      .optional()
      .openapi({
        description: "A payment method (`qr`, `card`, …): its primary channel, or a backup while the primary is down.",
      }),
    amount: DecimalAmount.optional().openapi({
      description:
        "Required for a top-up; a tip's amount is its price, a packet's its total, an unlock's the item's price " +
        "(if given, it must match).",
    }),
    tip: TipOrderRequest.optional(),
    packet: PacketOrderRequest.optional(),
    unlock: UnlockOrderRequest.optional(),
    pin: Pin.optional().openapi({
      description:
        "Your payment PIN, to answer a risk challenge (428 `risk_challenge`): send the same request again with it. " +
        "Checked only when given (a wrong one counts a try); never part of the request's fingerprint.",
    }),
  })
  .refine((b) => (b.channel === undefined) !== (b.method === undefined), "give exactly one of channel and method")
  .refine((b) => (b.kind === "tip") === (b.tip !== undefined), "a tip order has a tip, no other order has one")
  .refine(
    (b) => (b.kind === "packet") === (b.packet !== undefined),
    "a packet order has a packet, no other order has one",
  )
  .refine(
    (b) => (b.kind === "unlock") === (b.unlock !== undefined),
    "an unlock order has an unlock, no other order has one",
  )
  .refine((b) => b.kind !== "topup" || b.amount !== undefined, "a top-up has an amount")
  .openapi("CreateOrderRequest", { example: { kind: "topup", method: "qr", amount: "52.00" } });

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
    method: z.string().nullable(),
    providerTxnId: z.string().nullable(),
    tip: z
      .object({
        request: z.unknown(),
        tipId: z.string().nullable(),
        outcome: z
          .string()
          .nullable()
          .openapi({ description: "`sent`, or why the tip could not be sent (the money stays in the wallet)." }),
      })
      .nullable(),
    packet: z
      .object({
        request: z.object({
          roomId: RoomId,
          total: z.string(),
          shares: z.number().int(),
          split: z.string(),
          greeting: z.string().openapi({ description: "As the room shows it (moderated when the order was made)." }),
          audience: z.string(),
          ttlSeconds: z.number().int(),
        }),
        packetId: z.string().nullable(),
        outcome: z
          .string()
          .nullable()
          .openapi({
            description:
              "`sent`, or why the packet could not go out when the money arrived (the money stays in the wallet); " +
              "`packet_order_lapsed`: the payment arrived after the order had failed or expired.",
          }),
      })
      .nullable(),
    unlock: z
      .object({
        contentId: ContentId,
        unlockId: z.string().nullable(),
        outcome: z
          .string()
          .nullable()
          .openapi({
            description:
              "`unlocked`, or why the item could not be unlocked when the money arrived (the money stays in the " +
              "wallet): `already_unlocked` (unlocked meanwhile), `content_archived`, `unlock_price_changed`, " +
              "`unlock_order_lapsed` (the payment arrived after the order had failed or expired).",
          }),
      })
      .nullable(),
    refundedMinor: AmountMinor,
    createdAtMs: z.number().int(),
    expiresAtMs: z.number().int(),
    updatedAtMs: z.number().int(),
  })
  .openapi("PaymentOrder");

const PaymentStep = z
  .discriminatedUnion("kind", [
    z.object({ kind: z.literal("qr_code"), codeUrl: z.string() }),
    z.object({ kind: z.literal("redirect"), url: z.string() }),
    z.object({ kind: z.literal("client_secret"), clientSecret: z.string() }),
    z.object({ kind: z.literal("sandbox_approval"), url: z.string() }),
  ])
  .nullable()
  .openapi("PaymentStep", { description: "What the payer does next; null once the order is settled." });

function orderBody(r: OrderRow) {
  return {
    id: r.id,
    kind: r.kind,
    userId: r.user_id,
    channel: r.channel,
    currency: r.currency,
    ...money(r.amount_minor),
    state: r.state,
    method: r.method,
    providerTxnId: r.provider_txn_id,
    tip:
      r.tip_request === null
        ? null
        : { request: JSON.parse(r.tip_request) as unknown, tipId: r.tip_id, outcome: r.tip_outcome },
    packet: r.packet_request === null ? null : packetView(r.packet_request, r.packet_id, r.packet_outcome),
    unlock:
      r.unlock_content_id === null
        ? null
        : { contentId: r.unlock_content_id, unlockId: r.unlock_id, outcome: r.unlock_outcome },
    refundedMinor: r.refunded_minor,
    createdAtMs: r.created_at_ms,
    expiresAtMs: r.expires_at_ms,
    updatedAtMs: r.updated_at_ms,
  };
}

function packetView(stored: string, packetId: string | null, outcome: string | null) {
  const {
    greetingAsked: _theSendersOwnWords,
    heldGreeting: _held,
    ttlMs,
    ...request
  } = StoredPacketOrder.parse(JSON.parse(stored));
  return { request: { ...request, ttlSeconds: ttlMs / 1000 }, packetId, outcome };
}

const orderParams = z.object({ orderId: OrderId.openapi({ param: { name: "orderId", in: "path" } }) });

/**
 * Is a repeated packet order the same ask? Compared by what the sender asked, not by the
 * moderated greeting: a word list changed between two tries of one key is not a different request.
 */
function samePacketAsk(stored: string | null, asked: string | null): boolean {
  if (stored === null || asked === null) return stored === asked;
  const { greeting: _a, heldGreeting: _b, ...first } = StoredPacketOrder.parse(JSON.parse(stored));
  const { greeting: _c, heldGreeting: _d, ...again } = StoredPacketOrder.parse(JSON.parse(asked));
  return JSON.stringify(first) === JSON.stringify(again);
}

/** What the payer sees at the channel's checkout, per order kind. */
const ORDER_SUBJECTS: Readonly<Record<(typeof ORDER_KINDS)[number], string>> = {
  topup: "giftwire wallet top-up",
  tip: "giftwire tip",
  packet: "giftwire red packet",
  unlock: "giftwire content unlock",
};

export const payments = new OpenAPIHono<AppEnv>();

payments.openapi(
  defineRoute({
    method: "post",
    path: "/payments/orders",
    auth: "signed-in",
    rateLimit: { user: "payments", ip: "moneyIp" },
    tags: ["payments"],
    summary: "Create a top-up, pay-to-tip, red-packet or pay-to-unlock order on a payment channel",
    description:
      "Idempotent per Idempotency-Key: the same key answers the same order (200). The wallet is credited " +
      "once the channel reports the payment. `payment` says what the payer does next. A `tip`, `packet` or " +
      "`unlock` order is checked now (as a wallet tip, packet send or unlock would be) and, once paid, sends " +
      "its tip or red packet, or unlocks its item, from the wallet in the same step as the credit, exactly " +
      "once; if it can no longer happen, the money stays in the wallet and the order's `outcome` says why.",
    request: { headers: IdempotencyKeyHeader, body: jsonBody(CreateOrderRequest) },
    responses: {
      200: jsonResponse(z.object({ order: OrderSchema, payment: PaymentStep }), "The order this key created earlier"),
      201: jsonResponse(z.object({ order: OrderSchema, payment: PaymentStep }), "The order"),
      ...errorResponses(400, 401, 403, 404, 409, 422, 423, 428, 503),
    },
  }),
  async (c) => {
    // The PIN is never compared with the order's stored request: the same key is reused after `risk_challenge`.
    const { pin, ...body } = c.req.valid("json");
    const key = parseIdempotencyKey(c.req.header("idempotency-key"));
    if (!key.ok) throw ApiError.from(key);
    const userId = c.var.principal.userId;
    const nowMs = Date.now();
    const enabled = channelClients(c.env);
    const preference = body.channel ? [body.channel] : (c.var.config.paymentMethods[body.method ?? ""] ?? []);
    const enabledPreferred = preference.filter((ch) => enabled.has(ch));
    if (enabledPreferred.length === 0) {
      throw new ApiError("channel_not_found", `No enabled channel serves ${body.channel ?? body.method}.`);
    }
    // Channels an operator took out (or money read-only: runtime switches) get no new orders; a
    // method's backups take them, as in a failover. None left: refused with the switch's code.
    const switches = await currentSwitches(c.var.ledger.control, c.var.config.switchCacheTtlMs);
    const usable = enabledPreferred.filter(
      (channel) => refusalFor(switches, { kind: "payment_order", channel }, nowMs) === null,
    );
    const out = refusalFor(switches, { kind: "payment_order", channel: enabledPreferred[0] as ChannelName }, nowMs);
    if (usable.length === 0 && out !== null) throw new ApiError(out.code, undefined, refusalDetails(out));
    let amountMinor: number;
    let tipRequest: string | null = null;
    let packetRequest: string | null = null;
    let unlockContentId: string | null = null;
    let recipientId: string | null = null;
    if (body.unlock) {
      // Priced and checked now (item active and priced, not the payer's own, not unlocked yet);
      // checked again when paid: the order's amount is the price now, and a repriced item is not unlocked.
      const { contentId } = body.unlock;
      const quote = await prepareUnlock(
        c.var.ledger.control,
        c.var.config,
        { id: "unl_quote", contentId, userId },
        nowMs,
      );
      if (!quote.ok) throw ApiError.from(quote);
      const held = notUnlockedGuard(userId, contentId);
      const free = await c.var.ledger
        .forOwner(userId)
        .db.prepare(`SELECT ${held.sql} AS free`)
        .bind(...held.params)
        .first<number>("free");
      if (free !== 1) throw new ApiError("already_unlocked");
      amountMinor = quote.value.priced.amountMinor;
      const stated = body.amount === undefined ? null : parseAmountMinor(body.amount);
      if (stated && (!stated.ok || stated.value !== amountMinor)) {
        throw new ApiError(
          "amount_out_of_range",
          `This item's price is ${money(amountMinor).amount}, not ${body.amount}.`,
        );
      }
      if (amountMinor > LIMITS.orderAmountMaxMinor) throw new ApiError("amount_out_of_range");
      unlockContentId = contentId;
      recipientId = quote.value.creatorId;
    } else if (body.packet) {
      // Validated now and frozen with the order (room live, its open packets under the cap, the
      // split admissible, red packets not paused; the greeting moderated); checked again when paid.
      const { roomId, total, shares, split, greeting, audience, ttlSeconds } = body.packet;
      const moderated = await moderatedGreeting(c, greeting);
      const stored: StoredPacketOrder = {
        roomId,
        total,
        shares,
        split,
        greetingAsked: greeting,
        greeting: moderated.greeting,
        heldGreeting: moderated.held,
        audience,
        ttlMs: ttlSeconds * 1000,
      };
      const quote = await preparePaidPacket(
        c.var.ledger,
        "packet_quote",
        userId,
        stored,
        c.var.config.switchCacheTtlMs,
        nowMs,
      );
      if (!quote.ok) throw ApiError.from(quote);
      amountMinor = quote.value.row.total_minor;
      const stated = body.amount === undefined ? null : parseAmountMinor(body.amount);
      if (stated && (!stated.ok || stated.value !== amountMinor)) {
        throw new ApiError(
          "amount_out_of_range",
          `This packet's total is ${money(amountMinor).amount}, not ${body.amount}.`,
        );
      }
      if (amountMinor > LIMITS.orderAmountMaxMinor) throw new ApiError("amount_out_of_range");
      packetRequest = JSON.stringify(stored);
    } else if (body.tip) {
      // Priced and checked now (room live, gift on sale, not a self-tip); checked again when paid.
      const { roomId, ...request } = body.tip;
      // The room and the gift are control facts, read before anything is written in the payer's shard.
      const quote = await prepareTip(
        c.var.ledger.control,
        c.var.config,
        { id: "tip_quote", roomId, viewerId: userId, ask: request },
        nowMs,
      );
      if (!quote.ok) throw ApiError.from(quote);
      amountMinor = quote.value.priced.amountMinor;
      const stated = body.amount === undefined ? null : parseAmountMinor(body.amount);
      if (stated && (!stated.ok || stated.value !== amountMinor)) {
        throw new ApiError("amount_out_of_range", `This tip costs ${money(amountMinor).amount}, not ${body.amount}.`);
      }
      if (amountMinor > LIMITS.orderAmountMaxMinor) throw new ApiError("amount_out_of_range");
      tipRequest = JSON.stringify({ roomId, ...request });
    } else {
      const amount = parseAmountMinor(body.amount ?? "", LIMITS.orderAmountMaxMinor);
      if (!amount.ok) throw ApiError.from(amount);
      amountMinor = amount.value;
    }
    // A PIN answers a risk challenge; checked once the request is well-formed, before risk (a
    // wrong one spends a try and is refused whatever risk would say).
    const pinVerified = pin !== undefined;
    if (pinVerified) await requirePin(c.var.ledger.forOwner(userId), userId, pin, Date.now());
    // Risk before the order exists: a refused top-up (or pay-to-tip, assessed as a tip) leaves nothing behind.
    const riskAction =
      body.kind === "tip"
        ? "tip"
        : body.kind === "packet"
          ? "packet_send"
          : body.kind === "unlock"
            ? "unlock"
            : "topup";
    await assessRisk(c, { action: riskAction, amountMinor, pinVerified, ...(recipientId ? { recipientId } : {}) });
    const { row, created } = await createOrder(c.var.ledger, {
      kind: body.kind,
      userId,
      channel: usable[0] as ChannelName,
      currency: DEFAULT_CURRENCY,
      amountMinor,
      idempotencyKey: key.value,
      nowMs,
      expiresAtMs: nowMs + LIMITS.orderTtlMs,
      method: body.method ?? null,
      tipRequest,
      packetRequest,
      unlockContentId,
    });
    const sameRequest =
      row.kind === body.kind &&
      row.amount_minor === amountMinor &&
      row.method === (body.method ?? null) &&
      (body.channel === undefined || row.channel === body.channel) &&
      row.tip_request === tipRequest &&
      samePacketAsk(row.packet_request, packetRequest) &&
      row.unlock_content_id === unlockContentId;
    if (!sameRequest) throw new ApiError("idempotency_key_reused");
    if (created) {
      // The order's deadline brings an active query of the channel; the sweeper backs it up.
      const delaySeconds = Math.ceil((row.expires_at_ms - nowMs) / 1000) + 5;
      try {
        await c.env.PAYMENT_CALLBACKS.send({ kind: "payment.query", orderId: row.id } satisfies PaymentQueryMessage, {
          delaySeconds,
        });
      } catch (error) {
        c.var.log.warn("payment_query_enqueue_failed", { orderId: row.id, error: String(error) });
      }
    }
    const opened = await openOrder(
      {
        ledger: c.var.ledger,
        clients: enabled,
        log: c.var.log,
        notifyBase: `${new URL(c.req.url).origin}/v1/payments/callbacks`,
        nowMs: Date.now,
      },
      row,
      usable,
      ORDER_SUBJECTS[body.kind],
    );
    return c.json({ order: orderBody(opened.row), payment: opened.step }, created ? 201 : 200);
  },
);

payments.openapi(
  defineRoute({
    method: "get",
    path: "/payments/orders/{orderId}",
    auth: "signed-in",
    tags: ["payments"],
    summary: "A payment order (its payer, or an operator with payment.read)",
    request: { params: orderParams },
    responses: {
      200: jsonResponse(z.object({ order: OrderSchema }), "The order"),
      ...errorResponses(401, 404),
    },
  }),
  async (c) => {
    const { orderId } = c.req.valid("param");
    const order = await findOrder(c.var.ledger.forId(orderId).db, orderId);
    if (!order || (order.user_id !== c.var.principal.userId && !(await operatorMay(c, "payment.read")))) {
      throw new ApiError("order_not_found");
    }
    return c.json({ order: orderBody(order) }, 200);
  },
);

const RefundRequest = z
  .strictObject({
    amount: DecimalAmount,
    reason: z.string().min(1).max(LIMITS.refundReasonMaxLength),
  })
  .openapi("RefundRequest", { example: { amount: "18.80", reason: "payer asked within 7 days" } });

const RefundSchema = z
  .object({
    id: z.string().openapi({ example: "orf_01JDEMO0000000000000000000" }),
    orderId: OrderId,
    amountMinor: AmountMinor,
    amount: z.string(),
    state: z.enum(["requested", "pending", "succeeded", "failed"]),
    reason: z.string(),
    actorId: UserId,
    createdAtMs: z.number().int(),
  })
  .openapi("PaymentRefund");

payments.openapi(
  defineRoute({
    method: "post",
    path: "/admin/payments/orders/{orderId}/refunds",
    auth: { permission: "refund.create" },
    fourEyes: { when: "above `FOUR_EYES_REFUND_MINOR` (default 1,000.00)" },
    tags: ["operators"],
    summary: "Refund (part of) a paid order from what is still in the payer's wallet",
    description:
      "Debits the payer's wallet at once and asks the channel to refund; a channel that refuses puts the money " +
      "back. `insufficient_funds`: the payer has spent it; `order_not_refundable`: not paid, or more than it paid.",
    request: { params: orderParams, headers: IdempotencyKeyHeader, body: jsonBody(RefundRequest) },
    responses: {
      201: jsonResponse(
        z.object({ refund: RefundSchema, walletBalanceMinor: AmountMinor }),
        "The refund was requested",
      ),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
  }),
  async (c) => {
    const { orderId } = c.req.valid("param");
    const body = c.req.valid("json");
    const actorId = c.var.principal.userId;
    // The refund, its operation and the operator's key live in the order's shard, beside the
    // payer's wallet it debits; the refund's id carries the order's bucket, so it routes there too.
    const shard = c.var.ledger.forId(orderId);
    const bucket = bucketOfId(orderId);
    assert(bucket !== null, "an order id names a bucket");
    // Parsed once, before four-eyes: a malformed amount is refused, never proposed.
    const amount = parseAmountMinor(body.amount, LIMITS.orderAmountMaxMinor);
    if (!amount.ok) throw ApiError.from(amount);
    const proposed = await fourEyes(c, {
      required: amount.value > c.var.config.fourEyes.refundMinor,
      summary: `Refund ${body.amount} of order ${orderId}: ${body.reason}`,
      body,
    });
    if (proposed) return proposed;
    return runIdempotent(c, { shard, bucket }, "orf", { orderId, ...body }, async (id, nowMs) => {
      const order = await findOrder(shard.db, orderId);
      if (!order) return fail("order_not_found");
      if (order.state !== "succeeded" && order.state !== "refunded") return fail("order_not_refundable");
      const request = {
        id,
        order,
        amountMinor: amount.value,
        reason: body.reason,
        actorId,
        firstAttemptAtMs: nowMs + LIMITS.refundFirstSweepAfterMs,
      };
      return ok({
        compose: (attach) => composeRefundRequest(shard, request, nowMs, attach),
        status: 201,
        onPosted: () => {
          c.executionCtx.waitUntil(enqueueRefund(c.env, id, c.var.log));
          // `payment.refunded` at once (the business-event sweeper is the backstop; same id).
          c.executionCtx.waitUntil(emitOperationEvents(c.env, shard, [{ id, kind: "payment_refund" }], c.var.log));
        },
        body: {
          refund: {
            id,
            orderId,
            ...money(amount.value),
            state: "requested" as const,
            reason: body.reason,
            actorId,
            createdAtMs: nowMs,
          },
          walletBalanceMinor: 0,
        },
        patches: [balancePatch("$.walletBalanceMinor", accountAddress.userWallet(order.user_id))],
        audit: operatorAction(c, {
          action: "payment.refund",
          target: orderId,
          before: { orderState: order.state },
          after: { refundId: id, payerId: order.user_id, amountMinor: amount.value, reason: body.reason },
        }),
      });
    });
  },
);

payments.openapi(
  defineRoute({
    method: "get",
    path: "/admin/payments/orders/{orderId}/refunds",
    auth: { permission: "payment.read" },
    tags: ["operators"],
    summary: "An order's refunds and their states",
    request: { params: orderParams },
    responses: {
      200: jsonResponse(z.object({ refunds: z.array(RefundSchema) }), "The refunds, oldest first"),
      ...errorResponses(401, 403, 404),
    },
  }),
  async (c) => {
    const { orderId } = c.req.valid("param");
    const rows = await refundsOf(c.var.ledger.forId(orderId).db, orderId, LIMITS.pageSizeMax);
    return c.json(
      {
        refunds: rows.map((r) => ({
          id: r.id,
          orderId: r.order_id,
          ...money(r.amount_minor),
          state: r.state,
          reason: r.reason,
          actorId: r.actor_id,
          createdAtMs: r.created_at_ms,
        })),
      },
      200,
    );
  },
);
