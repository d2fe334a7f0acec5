/**
 * Opening orders on a channel (with failover), and asking channels what became of them.
 *
 * Opening: the method's channels are tried in the order their health allows
 * (domain/channel-health.ts). A channel that does not answer is recorded as a failed call
 * and the order moves to the next channel in the same request, while nothing has been
 * opened anywhere yet; so an outage costs the payer a few seconds, not the payment, and
 * after three failures new orders skip the channel until a probe finds it back.
 *
 * Asking: the order's deadline brings a delayed queue message, and the cron sweeper picks
 * up whatever that message missed. A final answer is applied exactly like a callback (the
 * credit is once per order whichever path reports it); a channel still waiting past the
 * deadline closes the order on our side (money that still arrives is credited: closed →
 * succeeded); a channel that does not answer is asked again on the tiered schedule.
 *
 * An order is in its payer's ledger shard (its id says which); the channels' health and the
 * calls that make it are in the control database, shared by every shard's orders.
 */

import type { ChannelName } from "../../channels/channel";
import type { ChannelClient, OutboundFailure, PayerStep } from "../../channels/client";
import { healthOf, recordCall } from "../../db/channel-calls";
import type { TipRules } from "../../db/operations/tip";
import { markOpened, moveToChannel, scheduleQuery, settleUnpaid } from "../../db/orders";
import { applyPaymentReport, type PaymentOutcome } from "../../db/payment-reports";
import { findOrder, type OrderRow } from "../../db/reads/orders";
import type { Ledger } from "../../db/shards";
import { channelsToTry } from "../../domain/channel-health";
import { CREDITABLE_STATES, OPEN_STATES } from "../../domain/order";
import { retryDelayMs } from "../../domain/retry";
import type { Logger } from "../../platform/logger";
import { ApiError } from "../errors";

export interface OpenContext {
  readonly ledger: Ledger;
  readonly clients: ReadonlyMap<ChannelName, ChannelClient>;
  readonly log: Logger;
  /** Absolute URL prefix of the callback route: `${notifyBase}/${channel}`. */
  readonly notifyBase: string;
  readonly nowMs: () => number;
}

export interface OpenedOrder {
  readonly row: OrderRow;
  readonly step: PayerStep | null;
}

export function payerStepOf(row: OrderRow): PayerStep | null {
  return row.payer_step === null ? null : (JSON.parse(row.payer_step) as PayerStep);
}

/**
 * Opens a `created` order on the first channel of `preference` that answers. Returns the
 * order as stored afterwards: `pending` with the payer's next step, or `failed` when every
 * channel refused it. When no channel answered at all, the order stays `created` and the
 * caller gets `channel_unavailable`: the same Idempotency-Key retries the opening.
 */
export async function openOrder(
  ctx: OpenContext,
  order: OrderRow,
  preference: readonly ChannelName[],
  description: string,
): Promise<OpenedOrder> {
  if (order.state !== "created") return { row: order, step: payerStepOf(order) };
  const { control } = ctx.ledger;
  const { db } = ctx.ledger.forId(order.id);
  const usable = preference.filter((c) => ctx.clients.has(c));
  const health = await healthOf(control, usable, ctx.nowMs());
  const toTry = channelsToTry(usable, (c) => health.get(c) ?? "healthy");
  // An explicitly named channel is tried even when the failover list would not include it.
  if (!toTry.includes(order.channel) && ctx.clients.has(order.channel)) toTry.unshift(order.channel);
  const failures: { channel: ChannelName; failure: OutboundFailure }[] = [];
  let current = order.channel;
  for (const channel of toTry) {
    const client = ctx.clients.get(channel);
    if (!client) continue;
    if (channel !== current) {
      if (!(await moveToChannel(db, order.id, current, channel, ctx.nowMs()))) break; // opened elsewhere meanwhile
      ctx.log.warn("payment_channel_failover", { orderId: order.id, from: current, to: channel });
      current = channel;
    }
    const res = await client.createPayment({
      merchantOrderNo: order.id,
      amountMinor: order.amount_minor,
      currency: order.currency,
      description,
      notifyUrl: `${ctx.notifyBase}/${channel}`,
      expiresAtMs: order.expires_at_ms,
    });
    // A refusal is an answer: the channel is up. Only silence and errors count against it.
    await recordCall(
      control,
      channel,
      "create",
      res.ok || res.failure.kind === "rejected",
      res.ok ? null : res.failure.detail,
      ctx.nowMs(),
    );
    if (res.ok) {
      const ref =
        failures.length === 0
          ? null
          : `after ${failures.map((f) => `${f.channel}: ${f.failure.detail}`).join("; ")}`.slice(0, 500);
      await markOpened(
        db,
        { id: order.id, channel },
        { providerRef: res.value.providerRef, payerStep: JSON.stringify(res.value.step), ref },
        ctx.nowMs(),
      );
      break;
    }
    failures.push({ channel, failure: res.failure });
    ctx.log.warn("payment_channel_create_failed", { orderId: order.id, channel, ...res.failure });
  }
  const row = await findOrder(db, order.id);
  if (!row) throw new Error("the order exists after opening it");
  if (row.state === "created") {
    if (failures.length > 0 && failures.every((f) => f.failure.kind === "rejected")) {
      const codes = failures
        .map((f) => `${f.channel}: ${f.failure.kind === "rejected" ? f.failure.code : ""}`)
        .join("; ");
      await settleUnpaid(db, row.id, "failed", "channel_rejected", codes.slice(0, 500), ctx.nowMs());
      throw new ApiError("channel_rejected", `The payment channel refused this payment (${codes.slice(0, 200)}).`);
    }
    throw new ApiError("channel_unavailable");
  }
  return { row, step: payerStepOf(row) };
}

export type QueryVerdict =
  | { readonly kind: "done"; readonly outcome: PaymentOutcome | { readonly kind: "closed" | "settled_before" } }
  | { readonly kind: "later"; readonly atMs: number }
  | { readonly kind: "retry"; readonly delayMs: number; readonly attempts: number; readonly detail: string };

/** What a background call to a channel (a query, a refund) runs with: one clock reading, injectable randomness. */
export interface ChannelTaskContext {
  readonly ledger: Ledger;
  readonly clients: ReadonlyMap<ChannelName, ChannelClient>;
  readonly log: Logger;
  readonly nowMs: number;
  readonly random: () => number;
}

export interface QueryContext extends ChannelTaskContext {
  readonly tipRules: TipRules;
}

/** Asks the order's channel about it, once; see the module comment for what each answer does. */
export async function queryOrder(
  ctx: QueryContext,
  orderId: string,
  options: { readonly settledToo?: boolean } = {},
): Promise<QueryVerdict> {
  const { db } = ctx.ledger.forId(orderId);
  const order = await findOrder(db, orderId);
  if (!order) return { kind: "done", outcome: { kind: "settled_before" } };
  if (!OPEN_STATES.includes(order.state)) {
    // Reconciliation asks about orders our clock closed (or a channel failed) when the
    // statement says they were paid: a final answer is credited as usual; anything else
    // leaves the order as it is.
    if (!options.settledToo || !CREDITABLE_STATES.includes(order.state)) {
      return { kind: "done", outcome: { kind: "settled_before" } };
    }
    return querySettled(ctx, order);
  }
  const client = ctx.clients.get(order.channel);
  const expired = ctx.nowMs >= order.expires_at_ms;
  if (order.state === "created" || !client) {
    // Never opened anywhere (every channel was down), or its channel has been disabled since.
    if (!expired) {
      await scheduleQuery(db, order.id, order.expires_at_ms, order.query_attempts);
      return { kind: "later", atMs: order.expires_at_ms };
    }
    await settleUnpaid(db, order.id, "closed", "expired", client ? "never opened" : "channel disabled", ctx.nowMs);
    return { kind: "done", outcome: { kind: "closed" } };
  }
  const answer = await askChannel(ctx, order, client);
  if (answer.kind === "failed") {
    const attempts = order.query_attempts + 1;
    const delayMs = retryDelayMs("channelCall", attempts, ctx.random());
    await scheduleQuery(db, order.id, ctx.nowMs + delayMs, attempts);
    return { kind: "retry", delayMs, attempts, detail: answer.detail };
  }
  if (answer.kind === "applied") {
    // The channel answered: the retry ladder starts again from the bottom.
    await scheduleQuery(db, order.id, null, 0);
    return { kind: "done", outcome: answer.outcome };
  }
  if (!expired) {
    await scheduleQuery(db, order.id, order.expires_at_ms, 0);
    return { kind: "later", atMs: order.expires_at_ms };
  }
  const why =
    answer.state === "open"
      ? "deadline passed; the channel still waits for the payer"
      : "the channel has no such payment";
  await settleUnpaid(db, order.id, "closed", "expired", why, ctx.nowMs);
  return { kind: "done", outcome: { kind: "closed" } };
}

async function querySettled(ctx: QueryContext, order: OrderRow): Promise<QueryVerdict> {
  const client = ctx.clients.get(order.channel);
  if (!client) return { kind: "done", outcome: { kind: "settled_before" } };
  const answer = await askChannel(ctx, order, client);
  if (answer.kind === "failed") {
    return { kind: "retry", delayMs: retryDelayMs("channelCall", 1, ctx.random()), attempts: 1, detail: answer.detail };
  }
  return { kind: "done", outcome: answer.kind === "applied" ? answer.outcome : { kind: "settled_before" } };
}

/**
 * One query of the order's channel, recorded against its health; a final answer is applied
 * exactly like a callback (the credit's id is the order id, so this path credits at most once).
 */
async function askChannel(
  ctx: QueryContext,
  order: OrderRow,
  client: ChannelClient,
): Promise<
  | { readonly kind: "failed"; readonly detail: string }
  | { readonly kind: "applied"; readonly outcome: PaymentOutcome }
  | { readonly kind: "waiting"; readonly state: "open" | "unknown" }
> {
  const res = await client.queryPayment(order.id, order.provider_ref);
  await recordCall(ctx.ledger.control, order.channel, "query", res.ok, res.ok ? null : res.failure.detail, ctx.nowMs);
  if (!res.ok) return { kind: "failed", detail: res.failure.detail };
  if (res.value.state !== "final") return { kind: "waiting", state: res.value.state };
  const outcome = await applyPaymentReport(ctx.ledger, {
    channel: order.channel,
    event: res.value.event,
    ref: `query:${order.id}`,
    cause: "query",
    nowMs: ctx.nowMs,
    tipRules: ctx.tipRules,
  });
  return { kind: "applied", outcome };
}
