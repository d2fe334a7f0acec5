/**
 * Payment orchestration end to end in workerd: real D1 and queue bindings, the providers'
 * API doubles behind Miniflare's outbound service (test/support/provider-network.ts).
 *
 * The doubles are shared by every test file of a run, so every failure this file injects is
 * scoped (`match`) to this file's notify host or to one order number; the API is called on
 * its own origin so that the notify URL of every order opened here names that host.
 */

import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ChannelName } from "../../src/channels/channel";
import { createOrder } from "../../src/db/orders";
import { applyPaymentReport } from "../../src/db/payment-reports";
import type { OrderRow, RefundRow } from "../../src/db/reads/orders";
import { LIMITS } from "../../src/domain/limits";
import { configFrom } from "../../src/platform/config";
import type { Logger } from "../../src/platform/logger";
import { purgePaymentRecords } from "../../src/worker/cron/payment-records-purge";
import { sweepPayments } from "../../src/worker/cron/payment-sweep";
import worker from "../../src/worker/index";
import { queryContext } from "../../src/worker/payments/channel-tasks";
import { channelClients } from "../../src/worker/payments/channels";
import { openOrder, queryOrder } from "../../src/worker/payments/orders";
import { handlePaymentCallbacksBatch, type PaymentQueryMessage } from "../../src/worker/queues/payment-callbacks";
import { wechatTransaction } from "../support/providers";
import { payerDecidesAt, providerPayment } from "../support/sandbox-provider";
import {
  balanceOf,
  config,
  invariantReport,
  key,
  ledger,
  ledgerSnapshot,
  MONEY_TABLES,
  operatorToken,
  type Reply,
  shardDbOf,
  shardDbOfId,
  token,
  until,
} from "./helpers";
import { WECHAT, wechatNotify as wechatNotifyAt } from "./payment-helpers";

const ORIGIN = "https://orchestration.giftwire.test";
const NOTIFY_HOST = new URL(ORIGIN).host;
/** WeChat's notifications, sealed and signed as WeChat does, to this file's origin. */
const wechatNotify = (resource: Record<string, unknown>, original: "transaction" | "refund") =>
  wechatNotifyAt(resource, original, ORIGIN);

// Health is read from the last seconds of channel calls: every test starts with every channel healthy.
beforeEach(async () => {
  await (await controlDb()).prepare("DELETE FROM channel_calls").run();
});

/** Notifications, flags and channel calls: the control database. Orders and refunds: their payer's shard. */
async function controlDb(): Promise<D1Database> {
  return (await ledger()).control;
}

const scopes = new Set<string>();
afterEach(async () => {
  for (const match of scopes) {
    for (const provider of ["wechatpay", "alipay", "stripe"] as const) await control(provider, "reset", { match });
  }
  scopes.clear();
  const report = await invariantReport();
  expect(report.violations).toEqual([]);
  expect(report.ok).toBe(true);
});

// ── helpers ──────────────────────────────────────────────────────────────────────────────

async function api<T = any>(
  method: string,
  path: string,
  o: { token?: string; body?: unknown; idempotencyKey?: string } = {},
): Promise<Reply<T> & { text: string }> {
  const headers: Record<string, string> = {};
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (o.idempotencyKey) headers["idempotency-key"] = o.idempotencyKey;
  if (o.body !== undefined) headers["content-type"] = "application/json";
  const res = await exports.default.fetch(`${ORIGIN}${path}`, {
    method,
    headers,
    body: o.body === undefined ? undefined : JSON.stringify(o.body),
  });
  const text = await res.text();
  return { status: res.status, body: text === "" ? null : JSON.parse(text), headers: res.headers, text };
}

type Provider = "wechatpay" | "alipay" | "stripe";

/** Steers a provider double (test/support/provider-network.ts). */
async function control(provider: Provider, action: string, args: Record<string, unknown> = {}): Promise<any> {
  const res = await fetch(`https://doubles.test/${provider}/${action}`, { method: "POST", body: JSON.stringify(args) });
  if (!res.ok) throw new Error(`double ${provider}/${action}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function failNext(provider: Provider, count: number, match: string): Promise<void> {
  scopes.add(match);
  await control(provider, "fail", { count, match });
}

interface Seen {
  method: string;
  url: string;
  body: string;
}
const received = async (provider: Provider, match: string): Promise<Seen[]> => control(provider, "received", { match });
/** Payment creations the double received for this order. */
async function creates(provider: Provider, orderId: string): Promise<number> {
  const seen = await received(provider, orderId);
  return seen.filter((r) =>
    provider === "wechatpay"
      ? r.url.endsWith("/v3/pay/transactions/native")
      : r.body.includes("alipay.trade.precreate"),
  ).length;
}

interface LogLine {
  level: "info" | "warn" | "error";
  msg: string;
  fields: Record<string, unknown>;
}
function capture(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: LogLine["level"]) =>
    (msg: string, fields: Record<string, unknown> = {}) =>
      lines.push({ level, msg, fields });
  return { log: { info: at("info"), warn: at("warn"), error: at("error") }, lines };
}
const quiet: Logger = { info() {}, warn() {}, error() {} };

const order = async (id: string) => {
  const row = await (await shardDbOfId(id))
    .prepare("SELECT * FROM payment_orders WHERE id = ?")
    .bind(id)
    .first<OrderRow>();
  if (!row) throw new Error(`no order ${id}`);
  return row;
};
const transitions = async (orderId: string) =>
  (
    await (
      await shardDbOfId(orderId)
    )
      .prepare(
        "SELECT seq, from_state, to_state, cause, ref, at_ms FROM payment_order_transitions WHERE order_id = ? ORDER BY seq",
      )
      .bind(orderId)
      .all<{
        seq: number;
        from_state: string | null;
        to_state: string;
        cause: string;
        ref: string | null;
        at_ms: number;
      }>()
  ).results;
const wallet = (userId: string) => balanceOf(`user:${userId}:wallet`);
const operations = async (kind: string, orderId: string) =>
  (
    await (
      await shardDbOfId(orderId)
    )
      .prepare(
        "SELECT id FROM operations WHERE kind = ? AND json_extract(metadata, '$.orderId') = ? ORDER BY created_at_ms, id",
      )
      .bind(kind, orderId)
      .all<{ id: string }>()
  ).results.map((r) => r.id);
const refundRows = async (orderId: string) =>
  (
    await (
      await shardDbOfId(orderId)
    )
      .prepare("SELECT * FROM payment_refunds WHERE order_id = ? ORDER BY created_at_ms, id")
      .bind(orderId)
      .all<RefundRow>()
  ).results;
const refundRow = async (id: string) =>
  (await shardDbOfId(id)).prepare("SELECT * FROM payment_refunds WHERE id = ?").bind(id).first<RefundRow>();
const notificationOf = async (eventId: string) =>
  (await controlDb()).prepare("SELECT * FROM payment_notifications WHERE event_id = ?").bind(eventId).first<{
    id: string;
    outcome: string | null;
    applied_at_ms: number | null;
    received_at_ms: number;
    retain_until_ms: number;
  }>();

async function newOrder(userId: string, body: Record<string, unknown>, idempotencyKey = key()) {
  return api("POST", "/v1/payments/orders", {
    token: await token(userId),
    idempotencyKey,
    body: { kind: "topup", ...body },
  });
}

/** A qr order while WeChat fails: it opens on alipay after WeChat's failure. */
async function failedOverQrOrder(userId: string): Promise<string> {
  const res = await newOrder(userId, { method: "qr", amount: "10.00" });
  expect(res.status, res.text).toBe(201);
  expect(res.body.order.channel).toBe("alipay");
  return res.body.order.id as string;
}

/** Three failed WeChat creations in a row: the health rule trips. */
async function tripWechat(userId: string): Promise<string[]> {
  await failNext("wechatpay", 3, NOTIFY_HOST);
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push(await failedOverQrOrder(userId));
  return ids;
}

const calls = async (channel: ChannelName) =>
  (
    await (
      await controlDb()
    )
      .prepare("SELECT op, ok, detail, at_ms FROM channel_calls WHERE channel = ? ORDER BY id")
      .bind(channel)
      .all<{ op: string; ok: number; detail: string | null; at_ms: number }>()
  ).results;

/** An order made as the route makes it, but not opened: for driving openOrder with its own clock. */
async function createdQrOrder(userId: string): Promise<OrderRow> {
  const nowMs = Date.now();
  const { row } = await createOrder(await ledger(), {
    kind: "topup",
    userId,
    channel: "wechatpay",
    currency: "CNY",
    amountMinor: 1000,
    idempotencyKey: key(),
    nowMs,
    expiresAtMs: nowMs + LIMITS.orderTtlMs,
    method: "qr",
    tipRequest: null,
  });
  return row;
}

function openAt(nowMs: number, log: Logger = quiet) {
  return async (row: OrderRow) =>
    openOrder(
      {
        ledger: await ledger(),
        clients: channelClients(env),
        log,
        notifyBase: `${ORIGIN}/v1/payments/callbacks`,
        nowMs: () => nowMs,
      },
      row,
      config.paymentMethods.qr ?? [],
      "giftwire wallet top-up",
    );
}

/** Runs one `payment.query` message through the Worker's queue handler, as the queue delivers it. */
async function consumeQuery(orderId: string) {
  const body: PaymentQueryMessage = { kind: "payment.query", orderId };
  const batch = createMessageBatch("giftwire-payment-callbacks", [
    { id: `q-${orderId}`, timestamp: new Date(), attempts: 1, body },
  ]);
  const ctx = createExecutionContext();
  await worker.queue(batch, env);
  return getQueueResult(batch, ctx);
}

/**
 * Runs one `payment.query` message through the consumer with a logger of the test's, and
 * records its ack or retry with the delay asked for (getQueueResult does not report delays).
 */
async function consumeQueryLogged(orderId: string, attempts: number, log: Logger) {
  const settled: { acked: boolean; retryDelaySeconds: number | null } = { acked: false, retryDelaySeconds: null };
  const message = {
    id: `q-${orderId}-${attempts}`,
    timestamp: new Date(),
    attempts,
    body: { kind: "payment.query", orderId },
    ack: () => {
      settled.acked = true;
    },
    retry: (options?: QueueRetryOptions) => {
      settled.retryDelaySeconds = options?.delaySeconds ?? 0;
    },
  };
  const batch = { queue: "giftwire-payment-callbacks", messages: [message] } as unknown as MessageBatch<unknown>;
  await handlePaymentCallbacksBatch(batch, env, log);
  return settled;
}

/** Waits until the queue consumer has applied the stored notification, and returns its outcome. */
async function appliedOutcome(eventId: string): Promise<Record<string, unknown>> {
  const n = await until(
    () => notificationOf(eventId),
    (r) => r?.applied_at_ms !== null && r?.applied_at_ms !== undefined,
  );
  if (!n || n.outcome === null) throw new Error(`notification ${eventId} was not applied`);
  return JSON.parse(n.outcome);
}

/** A WeChat order the payer paid at WeChat, credited by an active query. */
async function paidWechatOrder(userId: string, amount: string): Promise<{ id: string; txnId: string }> {
  const res = await newOrder(userId, { channel: "wechatpay", amount });
  expect(res.status, res.text).toBe(201);
  const id = res.body.order.id as string;
  const { transactionId } = await control("wechatpay", "pay", { orderNo: id });
  const verdict = await queryOrder(queryContext(env, await ledger(), quiet, Date.now()), id);
  expect(verdict).toMatchObject({ kind: "done", outcome: { kind: "credited" } });
  return { id, txnId: transactionId as string };
}

/** A sandbox order the payer approved, credited by an active query (its callback follows on its own). */
async function paidSandboxOrder(userId: string, amount: string): Promise<string> {
  const res = await newOrder(userId, { channel: "sandbox", amount });
  expect(res.status, res.text).toBe(201);
  const id = res.body.order.id as string;
  const decided = await payerDecidesAt(res.body.payment.url, "succeeded");
  expect(decided.status, JSON.stringify(decided.body)).toBe(202);
  const verdict = await queryOrder(queryContext(env, await ledger(), quiet, Date.now()), id);
  expect(["credited", "already_credited"]).toContain((verdict as any).outcome?.kind);
  expect((await order(id)).state).toBe("succeeded");
  return id;
}

async function refund(orderId: string, amount: string, idempotencyKey = key(), reason = "payer asked within 7 days") {
  return api("POST", `/v1/admin/payments/orders/${orderId}/refunds`, {
    token: await operatorToken(),
    idempotencyKey,
    body: { amount, reason },
  });
}

async function adjust(userId: string, direction: "credit" | "debit", amount: string) {
  const res = await api("POST", `/v1/users/${userId}/wallet/adjustments`, {
    token: await operatorToken(),
    idempotencyKey: key(),
    body: { direction, amount, reason: "test adjustment" },
  });
  expect(res.status, res.text).toBe(201);
}

const refundState = async (id: string) => (await refundRow(id))?.state ?? "missing";

// ── 1. failover ──────────────────────────────────────────────────────────────────────────

describe("channel failover", () => {
  it("opens a qr order on alipay in the same request while WeChat fails, and after three failures sends qr orders straight to alipay", async () => {
    await failNext("wechatpay", 3, NOTIFY_HOST);
    const failedOver: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await newOrder("orc-fo1", { method: "qr", amount: "10.00" });
      expect(res.status, res.text).toBe(201);
      expect(res.body.order).toMatchObject({ channel: "alipay", state: "pending", method: "qr", amountMinor: 1000 });
      expect(res.body.payment).toEqual({
        kind: "qr_code",
        codeUrl: expect.stringMatching(/^https:\/\/qr\.alipay\.com\//),
      });
      failedOver.push(res.body.order.id);
    }
    for (const id of failedOver) {
      expect(await creates("wechatpay", id)).toBe(1);
      expect(await creates("alipay", id)).toBe(1);
      const history = await transitions(id);
      expect(history.map((t) => [t.from_state, t.to_state, t.cause])).toEqual([
        [null, "created", "created"],
        ["created", "pending", "channel_opened"],
      ]);
      expect(history[1]?.ref).toBe("after wechatpay: WeChat Pay HTTP 503");
    }

    // The channel is down now: the next qr order never reaches WeChat.
    const straight = await newOrder("orc-fo1", { method: "qr", amount: "10.00" });
    expect(straight.status, straight.text).toBe(201);
    expect(straight.body.order.channel).toBe("alipay");
    expect(straight.body.payment.kind).toBe("qr_code");
    const straightId = straight.body.order.id as string;
    expect(await creates("wechatpay", straightId)).toBe(0);
    expect(await creates("alipay", straightId)).toBe(1);
    expect((await transitions(straightId))[1]?.ref).toBeNull();

    // Measured from the recorded calls: every order was on the backup within 10 s of the first failure.
    const wechat = await calls("wechatpay");
    expect(wechat.map((c) => [c.op, c.ok])).toEqual([
      ["create", 0],
      ["create", 0],
      ["create", 0],
    ]);
    const alipay = await calls("alipay");
    expect(alipay.map((c) => [c.op, c.ok])).toEqual(Array(4).fill(["create", 1]));
    const firstFailureMs = wechat[0]?.at_ms ?? Number.NaN;
    for (const id of [...failedOver, straightId]) {
      const opened = (await transitions(id))[1]?.at_ms ?? Number.NaN;
      expect(opened).toBeGreaterThanOrEqual(firstFailureMs);
      expect(opened - firstFailureMs).toBeLessThan(10_000);
    }
    const tripMs = (await order(straightId)).created_at_ms - firstFailureMs;
    expect(tripMs).toBeLessThan(10_000);
  });

  it("a WeChat timeout counts as a failure and the order still opens on alipay in the same request", async () => {
    scopes.add(NOTIFY_HOST);
    await control("wechatpay", "hang", { count: 1, match: NOTIFY_HOST });
    const started = Date.now();
    const res = await newOrder("orc-fo2", { method: "qr", amount: "3.00" });
    const tookMs = Date.now() - started;
    expect(res.status, res.text).toBe(201);
    expect(res.body.order.channel).toBe("alipay");
    expect((await transitions(res.body.order.id))[1]?.ref).toMatch(/^after wechatpay: timed out after \d+ ms$/);
    // The payer waited for the client's deadline, not for WeChat.
    expect(tookMs).toBeLessThan(10_000);
    expect((await calls("wechatpay")).map((c) => c.ok)).toEqual([0]);
  });

  it("an order naming wechatpay while WeChat is down answers 503 channel_unavailable, stays created, and its Idempotency-Key opens it once WeChat is back", async () => {
    await tripWechat("orc-fo3");
    await failNext("wechatpay", 1, NOTIFY_HOST);
    const k = key();
    const down = await newOrder("orc-fo3", { channel: "wechatpay", amount: "6.60" }, k);
    expect(down.status, down.text).toBe(503);
    expect(down.body.error.code).toBe("channel_unavailable");
    const stuck = await (await shardDbOf("orc-fo3"))
      .prepare("SELECT * FROM payment_orders WHERE user_id = ? AND idempotency_key = ?")
      .bind("orc-fo3", k)
      .first<OrderRow>();
    expect(stuck).toMatchObject({ state: "created", channel: "wechatpay", payer_step: null });
    const id = stuck?.id ?? "";
    // A named channel is never swapped for another, even while down.
    expect(await creates("alipay", id)).toBe(0);
    expect(await creates("wechatpay", id)).toBe(1);

    const back = await newOrder("orc-fo3", { channel: "wechatpay", amount: "6.60" }, k);
    expect(back.status, back.text).toBe(200);
    expect(back.body.order).toMatchObject({ id, channel: "wechatpay", state: "pending" });
    expect(back.body.payment).toEqual({ kind: "qr_code", codeUrl: expect.stringMatching(/^weixin:\/\/wxpay\//) });
    const again = await newOrder("orc-fo3", { channel: "wechatpay", amount: "6.60" }, k);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(back.body);
    expect(await creates("wechatpay", id)).toBe(2);
    expect((await transitions(id)).map((t) => t.to_state)).toEqual(["created", "pending"]);
  });

  it("probes WeChat first 5 s after its last failure and, WeChat answering, sends later qr orders back to it", async () => {
    await tripWechat("orc-fo4");
    const lastFailureMs = Math.max(...(await calls("wechatpay")).map((c) => c.at_ms));

    // 1 ms short of the probe interval: still down, WeChat is not even asked.
    const early = await openAt(lastFailureMs + 4_999)(await createdQrOrder("orc-fo4"));
    expect(early.row.channel).toBe("alipay");
    expect(await creates("wechatpay", early.row.id)).toBe(0);

    const { log, lines } = capture();
    const probe = await openAt(lastFailureMs + 5_000, log)(await createdQrOrder("orc-fo4"));
    expect(probe.row).toMatchObject({ channel: "wechatpay", state: "pending" });
    expect(probe.step?.kind).toBe("qr_code");
    expect(await creates("wechatpay", probe.row.id)).toBe(1);
    expect(await creates("alipay", probe.row.id)).toBe(0);
    expect(lines.filter((l) => l.msg === "payment_channel_failover")).toEqual([]);

    for (const atMs of [lastFailureMs + 5_001, lastFailureMs + 6_000]) {
      const later = await openAt(atMs)(await createdQrOrder("orc-fo4"));
      expect(later.row.channel).toBe("wechatpay");
      expect(await creates("alipay", later.row.id)).toBe(0);
    }
  });

  it("a probe that fails falls through to alipay in the same request and keeps WeChat out for the next probe interval", async () => {
    await tripWechat("orc-fo5");
    const lastFailureMs = Math.max(...(await calls("wechatpay")).map((c) => c.at_ms));
    await failNext("wechatpay", 1, NOTIFY_HOST);
    const probe = await openAt(lastFailureMs + 5_000)(await createdQrOrder("orc-fo5"));
    expect(probe.row.channel).toBe("alipay");
    expect(await creates("wechatpay", probe.row.id)).toBe(1);
    expect((await transitions(probe.row.id))[1]?.ref).toBe("after wechatpay: WeChat Pay HTTP 503");

    // A second after the failed probe, the trip's failures still in the window: WeChat is skipped again.
    const during = await openAt(lastFailureMs + 6_000)(await createdQrOrder("orc-fo5"));
    expect(during.row.channel).toBe("alipay");
    expect(await creates("wechatpay", during.row.id)).toBe(0);
  });
});

// ── 2. delayed query and sweeper ─────────────────────────────────────────────────────────

describe("delayed query and sweeper", () => {
  it("credits a WeChat payment whose callback never arrives once by the delayed query; the query again, the sweeper and the late callback add nothing", async () => {
    const created = await newOrder("orc-q1", { channel: "wechatpay", amount: "18.80" });
    expect(created.status, created.text).toBe(201);
    const id = created.body.order.id as string;
    const { transactionId } = await control("wechatpay", "pay", { orderNo: id });
    expect(transactionId).toMatch(/^42000\d{23}$/);
    expect(await wallet("orc-q1")).toBe(0);

    const first = await consumeQuery(id);
    expect(first.explicitAcks).toEqual([`q-${id}`]);
    expect(first.retryMessages).toEqual([]);
    expect(await wallet("orc-q1")).toBe(1880);
    const paid = await order(id);
    expect(paid).toMatchObject({ state: "succeeded", provider_txn_id: transactionId, next_query_at_ms: null });
    expect((await transitions(id)).map((t) => [t.to_state, t.cause, t.ref])).toEqual([
      ["created", "created", null],
      ["pending", "channel_opened", null],
      ["succeeded", "query", `query:${id}`],
    ]);
    expect(await operations("payment_credit", id)).toEqual([id]);
    // The query again, the sweeper and the late callback record what they saw; no money moves.
    const credited = await ledgerSnapshot({ only: MONEY_TABLES });

    const again = await consumeQuery(id);
    expect(again.explicitAcks).toEqual([`q-${id}`]);
    const swept = await sweepPayments(env, paid.expires_at_ms + 60_000, quiet);
    expect(swept.queried).toBeLessThanOrEqual(LIMITS.paymentSweepBatchMax);
    const callback = await wechatNotify(
      wechatTransaction({ ...WECHAT, orderNo: id, txnId: transactionId, amountMinor: 1880 }),
      "transaction",
    );
    expect(callback.status).toBe(204);
    expect(await appliedOutcome(callback.eventId)).toEqual({ kind: "already_credited", orderId: id });

    expect(await wallet("orc-q1")).toBe(1880);
    expect(await operations("payment_credit", id)).toEqual([id]);
    expect((await transitions(id)).length).toBe(3);
    expect(await ledgerSnapshot({ only: MONEY_TABLES })).toBe(credited);
  });

  it("closes an unpaid order past its deadline with cause expired, and a success that arrives later still credits it", async () => {
    const created = await newOrder("orc-q2", { channel: "wechatpay", amount: "6.60" });
    expect(created.status, created.text).toBe(201);
    const id = created.body.order.id as string;
    const { expires_at_ms: expiresAtMs } = await order(id);

    // Before the deadline the sweeper leaves it alone.
    await sweepPayments(env, expiresAtMs - 1, quiet);
    expect((await order(id)).state).toBe("pending");
    // Past it: other open orders of this file are due too, oldest first, so sweep until ours is reached.
    await until(
      async () => {
        await sweepPayments(env, expiresAtMs + 1, quiet);
        return (await order(id)).state;
      },
      (s) => s !== "pending",
    );
    const closed = await order(id);
    expect(closed).toMatchObject({ state: "closed", next_query_at_ms: null });
    expect((await transitions(id)).at(-1)).toMatchObject({
      from_state: "pending",
      to_state: "closed",
      cause: "expired",
      ref: "deadline passed; the channel still waits for the payer",
    });
    expect(await wallet("orc-q2")).toBe(0);

    // The payer paid anyway (the QR code was still on screen): WeChat's callback is money.
    const { transactionId } = await control("wechatpay", "pay", { orderNo: id });
    const late = await wechatNotify(
      wechatTransaction({ ...WECHAT, orderNo: id, txnId: transactionId, amountMinor: 660 }),
      "transaction",
    );
    expect(late.status).toBe(204);
    expect(await appliedOutcome(late.eventId)).toMatchObject({ kind: "credited", orderId: id });
    expect((await order(id)).state).toBe("succeeded");
    expect((await transitions(id)).at(-1)).toMatchObject({
      from_state: "closed",
      to_state: "succeeded",
      cause: "callback",
    });
    expect(await wallet("orc-q2")).toBe(660);
    expect(await operations("payment_credit", id)).toEqual([id]);
  });

  it("retries a query the channel does not answer after 5–10 s, then 30 s and 2 min, and alerts operators at the third failure", async () => {
    const created = await newOrder("orc-q3", { channel: "wechatpay", amount: "8.80" });
    expect(created.status, created.text).toBe(201);
    const id = created.body.order.id as string;
    await failNext("wechatpay", 3, id);

    const { log, lines } = capture();
    const before = Date.now();
    const first = await consumeQueryLogged(id, 1, log);
    const after = Date.now();
    expect(first.acked).toBe(false);
    const delaySeconds = first.retryDelaySeconds ?? 0;
    expect(delaySeconds).toBeGreaterThanOrEqual(5);
    expect(delaySeconds).toBeLessThanOrEqual(10);
    const once = await order(id);
    expect(once.query_attempts).toBe(1);
    expect(once.state).toBe("pending");
    expect(once.next_query_at_ms).toBeGreaterThanOrEqual(before + 5_000);
    expect(once.next_query_at_ms).toBeLessThan(after + 10_000);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([["warn", "payment_query_failed"]]);

    expect(await consumeQueryLogged(id, 2, log)).toEqual({ acked: false, retryDelaySeconds: 30 });
    expect((await order(id)).query_attempts).toBe(2);
    expect(await consumeQueryLogged(id, 3, log)).toEqual({ acked: false, retryDelaySeconds: 120 });
    expect((await order(id)).query_attempts).toBe(3);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ["warn", "payment_query_failed"],
      ["warn", "payment_query_failed"],
      ["error", "alert_payment_query_failing"],
    ]);
    expect(lines[2]?.fields).toMatchObject({ orderId: id, attempts: 3, detail: "WeChat Pay HTTP 503" });
    expect((await calls("wechatpay")).filter((c) => c.op === "query").map((c) => c.ok)).toEqual([0, 0, 0]);

    // WeChat answers again (the payer has not paid yet): the order waits for its deadline.
    expect(await consumeQueryLogged(id, 4, log)).toEqual({ acked: true, retryDelaySeconds: null });
    const waiting = await order(id);
    expect(waiting).toMatchObject({ state: "pending", next_query_at_ms: waiting.expires_at_ms });
    expect(await wallet("orc-q3")).toBe(0);
  });
});

// ── 3. refunds ───────────────────────────────────────────────────────────────────────────

describe("operator refunds", () => {
  it("a sandbox refund debits the wallet at once and succeeds at the channel at once: the order is refunded", async () => {
    const id = await paidSandboxOrder("orc-r1", "20.00");
    expect(await wallet("orc-r1")).toBe(2000);
    const res = await refund(id, "5.00");
    expect(res.status, res.text).toBe(201);
    const refundId = res.body.refund.id as string;
    expect(res.body).toEqual({
      refund: {
        id: expect.stringMatching(/^orf_[0-9A-Z]{26}$/),
        orderId: id,
        amountMinor: 500,
        amount: "5.00",
        state: "requested",
        reason: "payer asked within 7 days",
        actorId: "ops-test",
        createdAtMs: expect.any(Number),
      },
      walletBalanceMinor: 1500,
    });
    // Debited in the request's own batch, before the channel hears of it.
    expect(await wallet("orc-r1")).toBe(1500);
    expect(await operations("payment_refund", id)).toEqual([refundId]);

    expect(
      await until(
        () => refundState(refundId),
        (s) => s === "succeeded",
      ),
    ).toBe("succeeded");
    expect(await refundRow(refundId)).toMatchObject({
      provider_refund_id: expect.stringMatching(/^sbr_/),
      next_attempt_at_ms: null,
    });
    expect(await order(id)).toMatchObject({ state: "refunded", refunded_minor: 500 });
    expect((await transitions(id)).at(-1)).toMatchObject({
      from_state: "succeeded",
      to_state: "refunded",
      cause: "refund",
    });
    expect((await providerPayment(id)).refundedMinor).toBe(500);
    const listed = await api("GET", `/v1/admin/payments/orders/${id}/refunds`, { token: await operatorToken() });
    expect(listed.body.refunds.map((r: any) => [r.id, r.state, r.amountMinor])).toEqual([[refundId, "succeeded", 500]]);
    expect(await wallet("orc-r1")).toBe(1500);
  });

  it("a WeChat refund answered PROCESSING stays pending until WeChat's refund notification confirms it", async () => {
    const { id, txnId } = await paidWechatOrder("orc-r2", "30.00");
    const res = await refund(id, "10.00");
    expect(res.status, res.text).toBe(201);
    const refundId = res.body.refund.id as string;
    expect(res.body.walletBalanceMinor).toBe(2000);
    expect(
      await until(
        () => refundState(refundId),
        (s) => s !== "requested",
      ),
    ).toBe("pending");
    const pending = await refundRow(refundId);
    expect(pending?.provider_refund_id).toMatch(/^50\d{27}$/);
    expect(await order(id)).toMatchObject({ state: "succeeded", refunded_minor: 1000 });
    const asked = (await received("wechatpay", refundId)).filter((r) => r.url.endsWith("/v3/refund/domestic/refunds"));
    expect(asked).toHaveLength(1);
    expect(JSON.parse(asked[0]?.body ?? "{}")).toMatchObject({
      out_trade_no: id,
      out_refund_no: refundId,
      amount: { refund: 1000, total: 3000, currency: "CNY" },
    });

    const before = await ledgerSnapshot({ only: MONEY_TABLES });
    const resource = {
      mchid: WECHAT.mchid,
      out_trade_no: id,
      transaction_id: txnId,
      out_refund_no: refundId,
      refund_id: pending?.provider_refund_id,
      refund_status: "SUCCESS",
      success_time: "2026-11-22T10:12:00+08:00",
      user_received_account: "支付用户零钱",
      amount: { total: 3000, refund: 1000, payer_total: 3000, payer_refund: 1000 },
    };
    const notified = await wechatNotify(resource, "refund");
    expect(notified.status).toBe(204);
    expect(await appliedOutcome(notified.eventId)).toEqual({ kind: "state_recorded", orderId: id, state: "refunded" });
    expect(await refundState(refundId)).toBe("succeeded");
    expect(await order(id)).toMatchObject({ state: "refunded", refunded_minor: 1000 });
    // WeChat resends it: nothing changes.
    const resent = await wechatNotify(resource, "refund");
    expect(await appliedOutcome(resent.eventId)).toEqual({ kind: "no_change", orderId: id, state: "refunded" });
    expect((await transitions(id)).filter((t) => t.to_state === "refunded")).toHaveLength(1);
    // Confirming a refund moves no money: the wallet paid it when it was requested.
    expect(await ledgerSnapshot({ only: MONEY_TABLES })).toBe(before);
    expect(await wallet("orc-r2")).toBe(2000);
  });

  it("a refund WeChat leaves pending for over a day is flagged for operators once, the money still held", async () => {
    const { id } = await paidWechatOrder("orc-stuck", "12.00");
    const res = await refund(id, "2.00");
    expect(res.status, res.text).toBe(201);
    const refundId = res.body.refund.id as string;
    expect(
      await until(
        () => refundState(refundId),
        (s) => s !== "requested",
      ),
    ).toBe("pending");
    const stuckFlags = async () =>
      (await (
        await controlDb()
      )
        .prepare("SELECT COUNT(*) AS n FROM payment_flags WHERE kind = 'refund_stuck' AND notification_id = ?")
        .bind(refundId)
        .first<number>("n")) ?? 0;
    const updatedAtMs = (await refundRow(refundId))?.updated_at_ms as number;
    await sweepPayments(env, updatedAtMs + 23 * 3_600_000, quiet);
    expect(await stuckFlags()).toBe(0);
    const later = updatedAtMs + 24 * 3_600_000 + 1;
    expect((await sweepPayments(env, later, quiet)).stuckRefunds).toBe(1);
    expect((await sweepPayments(env, later + 60_000, quiet)).stuckRefunds).toBe(0);
    expect(await stuckFlags()).toBe(1);
    expect(await refundState(refundId)).toBe("pending");
    expect(await wallet("orc-stuck")).toBe(1000);
  });

  it("a verified refund notification about another merchant or from another channel confirms nothing and flags operators", async () => {
    const { id, txnId } = await paidWechatOrder("orc-r7", "12.00");
    const res = await refund(id, "2.00");
    expect(res.status, res.text).toBe(201);
    const refundId = res.body.refund.id as string;
    expect(
      await until(
        () => refundState(refundId),
        (s) => s !== "requested",
      ),
    ).toBe("pending");
    const pending = await refundRow(refundId);
    const resource = (mchid: string) => ({
      mchid,
      out_trade_no: id,
      transaction_id: txnId,
      out_refund_no: refundId,
      refund_id: pending?.provider_refund_id,
      refund_status: "SUCCESS",
      amount: { total: 1200, refund: 200, payer_total: 1200, payer_refund: 200 },
    });
    const foreign = await wechatNotify(resource("1900000999"), "refund");
    expect(foreign.status).toBe(204);
    expect(await appliedOutcome(foreign.eventId)).toMatchObject({
      kind: "flagged",
      flag: "merchant_mismatch",
      orderId: id,
    });
    expect(await refundState(refundId)).toBe("pending");
    expect((await order(id)).state).toBe("succeeded");

    // The same refund reported through another channel's callback path.
    const outcome = await applyPaymentReport(await ledger(), {
      channel: "alipay",
      event: {
        kind: "refund",
        merchantOrderNo: id,
        providerRefundId: pending?.provider_refund_id ?? "",
        amountMinor: 200,
        refundedTotalMinor: null,
        currency: "CNY",
        merchant: [],
      },
      ref: "ntf_orc_other_channel",
      cause: "callback",
      nowMs: Date.now(),
      tipRules: configFrom(env),
    });
    expect(outcome).toMatchObject({ kind: "flagged", flag: "channel_mismatch", orderId: id });
    expect(await refundState(refundId)).toBe("pending");

    const ours = await wechatNotify(resource(WECHAT.mchid), "refund");
    expect(await appliedOutcome(ours.eventId)).toEqual({ kind: "state_recorded", orderId: id, state: "refunded" });
    expect(await refundState(refundId)).toBe("succeeded");
  });

  it("a refund larger than what is left in the wallet is refused with insufficient_funds and changes nothing", async () => {
    const id = await paidSandboxOrder("orc-r3", "20.00");
    await adjust("orc-r3", "debit", "15.00");
    expect(await wallet("orc-r3")).toBe(500);
    const before = await ledgerSnapshot();
    const k = key();
    const res = await refund(id, "6.00", k);
    expect(res.status, res.text).toBe(409);
    expect(res.body.error.code).toBe("insufficient_funds");
    expect(await ledgerSnapshot()).toBe(before);
    expect(await refundRows(id)).toEqual([]);
    expect(await order(id)).toMatchObject({ state: "succeeded", refunded_minor: 0 });
    // The key was released with the rejection: the corrected request may use it.
    const fits = await refund(id, "5.00", k);
    expect(fits.status, fits.text).toBe(201);
    expect(fits.body.walletBalanceMinor).toBe(0);
    await until(
      () => refundState(fits.body.refund.id),
      (s) => s === "succeeded",
    );
  });

  it("refunds beyond what the order paid are refused with order_not_refundable, however they are split", async () => {
    const id = await paidSandboxOrder("orc-r4", "20.00");
    await adjust("orc-r4", "credit", "100.00");
    const first = await refund(id, "12.00");
    expect(first.status, first.text).toBe(201);
    const before = await ledgerSnapshot();
    const over = await refund(id, "8.01");
    expect(over.status, over.text).toBe(409);
    expect(over.body.error.code).toBe("order_not_refundable");
    expect(await ledgerSnapshot()).toBe(before);
    const rest = await refund(id, "8.00");
    expect(rest.status, rest.text).toBe(201);
    const more = await refund(id, "0.01");
    expect(more.body.error.code).toBe("order_not_refundable");
    expect(await order(id)).toMatchObject({ refunded_minor: 2000 });
    expect((await refundRows(id)).map((r) => r.amount_minor)).toEqual([1200, 800]);
    expect(await wallet("orc-r4")).toBe(10_000);

    // An order that was never paid cannot be refunded at all.
    const unpaid = await newOrder("orc-r4", { channel: "wechatpay", amount: "1.00" });
    const refused = await refund(unpaid.body.order.id, "1.00");
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("order_not_refundable");
    for (const r of await refundRows(id))
      await until(
        () => refundState(r.id),
        (s) => s === "succeeded",
      );
  });

  it("a refund WeChat refuses goes back to the wallet by a reversal, fails and flags operators; its Idempotency-Key replays the stored answer", async () => {
    const { id } = await paidWechatOrder("orc-r5", "25.00");
    scopes.add(id);
    await control("wechatpay", "refund-refuse", { count: 1, code: "NOT_ENOUGH", match: id });
    const k = key();
    const res = await refund(id, "5.00", k);
    expect(res.status, res.text).toBe(201);
    expect(res.body.walletBalanceMinor).toBe(2000);
    const refundId = res.body.refund.id as string;

    expect(
      await until(
        () => refundState(refundId),
        (s) => s !== "requested",
      ),
    ).toBe("failed");
    const failed = await refundRow(refundId);
    expect(failed).toMatchObject({ state: "failed", next_attempt_at_ms: null });
    expect(failed?.failure).toMatch(/^NOT_ENOUGH: /);
    expect(await wallet("orc-r5")).toBe(2500);
    expect(await operations("payment_refund", id)).toEqual([refundId]);
    expect(await operations("payment_refund_reversal", id)).toEqual([`${refundId}_reversal`]);
    const moves = await (await shardDbOfId(id))
      .prepare(
        "SELECT operation_id, from_account, to_account, amount_minor FROM transfers WHERE operation_id IN (?, ?) ORDER BY id",
      )
      .bind(refundId, `${refundId}_reversal`)
      .all();
    expect(moves.results).toEqual([
      {
        operation_id: refundId,
        from_account: "user:orc-r5:wallet",
        to_account: "channel:wechatpay:clearing",
        amount_minor: 500,
      },
      {
        operation_id: `${refundId}_reversal`,
        from_account: "channel:wechatpay:clearing",
        to_account: "user:orc-r5:wallet",
        amount_minor: 500,
      },
    ]);
    expect(await order(id)).toMatchObject({ state: "succeeded", refunded_minor: 0 });
    const flagged = await (await controlDb())
      .prepare("SELECT kind, channel, order_id, notification_id FROM payment_flags WHERE order_id = ?")
      .bind(id)
      .all();
    expect(flagged.results).toEqual([
      { kind: "refund_rejected", channel: "wechatpay", order_id: id, notification_id: refundId },
    ]);

    const settled = await ledgerSnapshot();
    const replay = await refund(id, "5.00", k);
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.text).toBe(res.text);
    const reused = await refund(id, "6.00", k);
    expect(reused.status).toBe(422);
    expect(reused.body.error.code).toBe("idempotency_key_reused");
    expect(await ledgerSnapshot()).toBe(settled);
    expect(await refundRows(id)).toHaveLength(1);

    // The reversed refund no longer counts against the order: all of it can still be refunded.
    const whole = await refund(id, "25.00");
    expect(whole.status, whole.text).toBe(201);
    expect(
      await until(
        () => refundState(whole.body.refund.id),
        (s) => s !== "requested",
      ),
    ).toBe("pending");
    expect(await wallet("orc-r5")).toBe(0);
  });

  it("twenty concurrent refunds with different keys on one order never refund more than it paid", async () => {
    const id = await paidSandboxOrder("orc-r6", "10.00");
    await adjust("orc-r6", "credit", "100.00");
    const ops = await operatorToken();
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        api("POST", `/v1/admin/payments/orders/${id}/refunds`, {
          token: ops,
          idempotencyKey: key(),
          body: { amount: "1.00", reason: "concurrent" },
        }),
      ),
    );
    const outcomes = results.map((r) => (r.status === 201 ? "201" : `${r.status} ${r.body?.error?.code}`));
    expect(outcomes.filter((o) => o === "201")).toHaveLength(10);
    expect(outcomes.filter((o) => o === "409 order_not_refundable")).toHaveLength(10);
    const rows = await refundRows(id);
    expect(rows.reduce((sum, r) => sum + r.amount_minor, 0)).toBe(1000);
    expect(await order(id)).toMatchObject({ refunded_minor: 1000 });
    expect(await wallet("orc-r6")).toBe(11_000 - 1000);
    for (const r of rows)
      expect(
        await until(
          () => refundState(r.id),
          (s) => s === "succeeded",
        ),
      ).toBe("succeeded");
    expect((await providerPayment(id)).refundedMinor).toBe(1000);
    expect((await order(id)).state).toBe("refunded");
  });
});

// ── 4. retention ─────────────────────────────────────────────────────────────────────────

describe("payment record retention", () => {
  it("purges a stored notification past retain_until_ms and keeps a fresh one", async () => {
    const created = await newOrder("orc-p1", { channel: "wechatpay", amount: "2.00" });
    const id = created.body.order.id as string;
    const fresh = await wechatNotify(
      wechatTransaction({ ...WECHAT, orderNo: id, txnId: "4200000000000777", amountMinor: 200 }),
      "transaction",
    );
    expect(fresh.status).toBe(204);
    await appliedOutcome(fresh.eventId);
    const stored = await notificationOf(fresh.eventId);
    const retentionMs = config.paymentNotificationRetentionMs;
    expect((stored?.retain_until_ms ?? 0) - (stored?.received_at_ms ?? 0)).toBe(retentionMs);

    const nowMs = Date.now();
    await (await controlDb())
      .prepare(
        `INSERT INTO payment_notifications (id, channel, event_id, verified, refusal, headers, body_base64, received_at_ms, retain_until_ms)
       VALUES ('ntf_orc_old', 'wechatpay', 'EV-orc-old', 1, NULL, '{}', '', ?, ?)`,
      )
      .bind(nowMs - retentionMs - 86_400_000, nowMs - 86_400_000)
      .run();
    expect(await purgePaymentRecords(await controlDb(), nowMs)).toBeGreaterThanOrEqual(1);
    expect(await notificationOf("EV-orc-old")).toBeNull();
    expect(await notificationOf(fresh.eventId)).not.toBeNull();

    // Kept through its last millisecond, gone after it; the order and its money stay.
    await purgePaymentRecords(await controlDb(), stored?.retain_until_ms ?? 0);
    expect(await notificationOf(fresh.eventId)).not.toBeNull();
    await purgePaymentRecords(await controlDb(), (stored?.retain_until_ms ?? 0) + 1);
    expect(await notificationOf(fresh.eventId)).toBeNull();
    expect((await order(id)).state).toBe("succeeded");
    expect(await wallet("orc-p1")).toBe(200);
  });
});
