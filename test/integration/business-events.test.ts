/**
 * Business events (issue 19 item 3), proved in workerd through the real queues: each fact's
 * event reaches a partner endpoint once — verified by the independent `standardwebhooks`
 * package — however often the paths that record it run (duplicate payment callbacks, duplicate
 * payout callbacks, the ledger queue's and the room's redeliveries), with one event id per fact;
 * and an event lost between the commit and the send is sent by the sweeper with the same id.
 */

import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signSandbox } from "../../dev/sandbox-provider/src/signature";
import { emitOperationEvents, findBusinessEvent } from "../../src/db/business-events";
import { payoutAccountContext } from "../../src/db/reads/payout-accounts";
import { accountAddress } from "../../src/domain/accounts";
import { type BusinessEvent, businessEventId } from "../../src/domain/business-events";
import type { LiveRoom } from "../../src/durable-objects/live-room";
import { createLogger } from "../../src/platform/logger";
import { seal } from "../../src/platform/sealing";
import { BUSINESS_EVENTS_RETENTION_MS, sweepBusinessEvents } from "../../src/worker/cron/business-event-sweep";
import { handleBusinessEventsBatch } from "../../src/worker/queues/business-events";
import { handlePaymentCallbacksBatch } from "../../src/worker/queues/payment-callbacks";
import { handlePayoutsBatch } from "../../src/worker/queues/payouts";
import { setWebhookNetwork } from "../../src/worker/webhooks/network";
import { operationRows } from "../support/ledger-rows";
import { runProviderAlarm, simulate } from "../support/sandbox-provider";
import { FakeWebhookNetwork } from "../support/webhook-network";
import {
  BASE,
  call,
  fund,
  key,
  ledger,
  openRoom,
  setPin,
  shardDbOf,
  shardDbOfId,
  TEST_PIN,
  token,
  until,
} from "./helpers";
import { eachIdOnce, partnerReceiver as partnerReceiverOn, SETTLE_MS } from "./partner-receiver";

const run = crypto.randomUUID().slice(0, 8);
const network = new FakeWebhookNetwork();
const log = createLogger({ test: "business-events" });
const SANDBOX = { secret: "sandbox-test-secret-0123456789", merchantId: "giftwire-sandbox" };

beforeAll(() => setWebhookNetwork(network));
afterAll(() => setWebhookNetwork(null));

const partnerReceiver = (name: string, creatorId: string) => partnerReceiverOn(network, run, name, creatorId);

async function tipOrder(userId: string, roomId: string) {
  const created = await call("POST", "/v1/payments/orders", {
    token: await token(userId),
    idempotencyKey: key(),
    body: { kind: "tip", method: "sandbox", tip: { roomId, kind: "gift", giftId: "rose" } },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body.order as { id: string; amountMinor: number };
}

/** The sandbox's signed success callback for an order (a distinct event id per notification). */
async function paidCallback(order: { id: string; amountMinor: number }, eventId: string) {
  const body = JSON.stringify({
    id: eventId,
    type: "payment.succeeded",
    merchant_id: SANDBOX.merchantId,
    order_no: order.id,
    txn_id: `sbx_${order.id.slice(6)}`,
    amount_minor: order.amountMinor,
    currency: "CNY",
  });
  const headers = {
    "content-type": "application/json",
    "sandbox-signature": await signSandbox(SANDBOX.secret, body, Date.now()),
  };
  const res = await exports.default.fetch(`${BASE}/v1/payments/callbacks/sandbox`, { method: "POST", headers, body });
  expect(res.status).toBe(200);
}

/** A queue batch for a consumer called directly, recording acks and retries. */
function batchOf(queue: string, bodies: unknown[]) {
  const acked: number[] = [];
  const retried: number[] = [];
  const batch = {
    queue,
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

/** The environment with BUSINESS_EVENTS refusing every send (the fault between commit and enqueue). */
function refusingEvents(): { env: Env; refused: () => number } {
  let refused = 0;
  const queue = {
    send: async () => {
      refused += 1;
      throw new Error("injected: the queue refused");
    },
    sendBatch: async () => {
      refused += 1;
      throw new Error("injected: the queue refused");
    },
  } as unknown as Queue;
  return { env: { ...env, BUSINESS_EVENTS: queue } as Env, refused: () => refused };
}

/** The environment with BUSINESS_EVENTS recording the event ids sent through it. */
function recordingEvents(): { env: Env; sent: string[] } {
  const sent: string[] = [];
  const queue = {
    send: async (body: BusinessEvent) => {
      sent.push(body.id);
      await env.BUSINESS_EVENTS.send(body);
    },
    sendBatch: async (messages: Iterable<MessageSendRequest<BusinessEvent>>) => {
      const list = [...messages];
      sent.push(...list.map((m) => m.body.id));
      await env.BUSINESS_EVENTS.sendBatch(list);
    },
  } as unknown as Queue;
  return { env: { ...env, BUSINESS_EVENTS: queue } as Env, sent };
}

describe("payment.succeeded and tip.created", () => {
  it("three callbacks for one paid order: one event each, the same id, one webhook each", async () => {
    const creatorId = `be-pay-${run}`;
    const partner = await partnerReceiver("be-pay", creatorId);
    const roomId = await openRoom(creatorId);
    const order = await tipOrder(`be-fan-${run}`, roomId);
    await Promise.all([
      paidCallback(order, `evt_${order.id.slice(6)}a`),
      paidCallback(order, `evt_${order.id.slice(6)}b`),
      paidCallback(order, `evt_${order.id.slice(6)}c`),
    ]);
    const payments = await partner.settled("payment.succeeded");
    expect(payments.map((d) => d.data)).toEqual([
      {
        orderId: order.id,
        orderKind: "tip",
        userId: `be-fan-${run}`,
        channel: "sandbox",
        currency: "CNY",
        amountMinor: order.amountMinor,
        roomId,
        tipId: `tip_${order.id.slice(6)}`,
        packetId: null,
        contentId: null,
        unlockId: null,
        succeededAtMs: expect.any(Number),
      },
    ]);
    const tips = await partner.settled("tip.created");
    expect(tips.map((d) => [d.data.tipId, d.data.amountMinor, d.data.creatorId])).toEqual([
      [`tip_${order.id.slice(6)}`, order.amountMinor, creatorId],
    ]);
    eachIdOnce(partner.accepted);
    expect(await findBusinessEvent(env.CONTROL, "payment.succeeded", order.id)).toMatchObject({
      id: `payment.succeeded:${order.id}`,
      state: "done",
    });

    // Emitted again from the ledger (what any retry does): the same envelope, and the consumer skips it.
    const again = await emitOperationEvents(
      env,
      (await ledger()).forId(order.id),
      [{ id: order.id, kind: "payment_credit" }],
      log,
    );
    expect(again.map((e) => e.id)).toEqual([businessEventId("payment.succeeded", order.id)]);
    const seen: string[] = [];
    const spy = {
      name: "spy",
      types: ["payment.succeeded" as const],
      handle: async (events: readonly BusinessEvent[]) => {
        seen.push(...events.map((e) => e.id));
      },
    };
    const b = batchOf("giftwire-business-events", [again[0], again[0]]);
    await handleBusinessEventsBatch(b.batch, env, log, [spy]);
    expect([b.acked, b.retried, seen]).toEqual([[0, 1], [], []]);
  });
});

describe("the sweeper", () => {
  it("sends, with the same id, a payment.succeeded whose send failed after the credit committed", async () => {
    const creatorId = `be-sweep-${run}`;
    const partner = await partnerReceiver("be-sweep", creatorId);
    const roomId = await openRoom(creatorId);
    const order = await tipOrder(`be-sweep-fan-${run}`, roomId);
    // The payments consumer applies the callback (the credit commits), then the send fails.
    const faulty = refusingEvents();
    const b = batchOf("giftwire-payment-callbacks", [
      {
        kind: "payment.callback",
        notificationId: `ntf_be_${run}`,
        channel: "sandbox",
        eventId: `evt_sweep_${order.id}`,
        event: {
          kind: "payment",
          status: "succeeded",
          merchantOrderNo: order.id,
          providerTxnId: `sbx_${order.id.slice(6)}`,
          amountMinor: order.amountMinor,
          currency: "CNY",
          merchant: [],
        },
      },
    ]);
    await handlePaymentCallbacksBatch(b.batch, faulty.env, log);
    expect(b.acked).toEqual([0]);
    expect(faulty.refused()).toBeGreaterThanOrEqual(1);
    const state = await (await shardDbOfId(order.id))
      .prepare("SELECT state FROM payment_orders WHERE id = ?")
      .bind(order.id)
      .first<string>("state");
    expect(state).toBe("succeeded");
    expect(await findBusinessEvent(env.CONTROL, "payment.succeeded", order.id)).toBeNull();

    // The sweep (a minute later) finds the credit without an event and sends it, with the fact's id.
    const recording = recordingEvents();
    const figures = await sweepBusinessEvents(recording.env, Date.now() + 61_000, log);
    expect(recording.sent).toContain(`payment.succeeded:${order.id}`);
    expect(figures.resent).toBeGreaterThanOrEqual(1);
    const payments = await partner.settled("payment.succeeded");
    expect(payments.map((d) => d.data.orderId)).toEqual([order.id]);
    expect(await findBusinessEvent(env.CONTROL, "payment.succeeded", order.id)).toMatchObject({ state: "done" });

    // The next sweep has nothing of it to send: the consumer took it.
    const next = recordingEvents();
    await sweepBusinessEvents(next.env, Date.now() + 61_000, log);
    expect(next.sent).not.toContain(`payment.succeeded:${order.id}`);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    expect(partner.accepted.filter((d) => d.type === "payment.succeeded")).toHaveLength(1);
  });
});

describe("red packets", () => {
  const room = (roomId: string) => env.LIVE_ROOM.getByName(roomId);

  async function sendPacket(roomId: string, senderId: string, body: Record<string, unknown>) {
    const res = await call("POST", `/v1/rooms/${roomId}/red-packets`, {
      token: await token(senderId),
      idempotencyKey: key(),
      body,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.packet.id as string;
  }

  async function claim(roomId: string, packetId: string, userId: string) {
    for (let attempt = 0; ; attempt++) {
      const res = await call("POST", `/v1/rooms/${roomId}/red-packets/${packetId}/claims`, {
        token: await token(userId),
      });
      if (res.status !== 429 || attempt > 50) {
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        return res.body.claim.amountMinor as number;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it("sent, exhausted and refunded reach the partner once each, whatever runs twice", async () => {
    const creatorId = `be-rp-${run}`;
    const senderId = `be-rp-sender-${run}`;
    const partner = await partnerReceiver("be-rp", creatorId);
    const roomId = await openRoom(creatorId);
    await fund(senderId, "20.00");

    // Two shares, both claimed: exhausted once the ledger queue credits the second.
    const full = await sendPacket(roomId, senderId, { total: "2.00", shares: 2, split: "equal" });
    await claim(roomId, full, `be-rp-a-${run}`);
    await claim(roomId, full, `be-rp-b-${run}`);
    const exhausted = await partner.settled("red_packet.exhausted");
    expect(exhausted.map((d) => d.data)).toEqual([
      {
        packetId: full,
        roomId,
        senderId,
        currency: "CNY",
        totalMinor: 200,
        shares: 2,
        exhaustedAtMs: expect.any(Number),
      },
    ]);

    // Three shares, one claimed, then expired: the room's alarm refunds the remainder.
    const partial = await sendPacket(roomId, senderId, { total: "3.00", shares: 3, split: "equal" });
    await claim(roomId, partial, `be-rp-c-${run}`);
    const at = Date.now() - 1_000;
    await (await shardDbOfId(partial))
      .prepare("UPDATE red_packets SET expires_at_ms = ? WHERE id = ?")
      .bind(at, partial)
      .run();
    await runInDurableObject(room(roomId), async (_instance: LiveRoom, state) => {
      state.storage.sql.exec("UPDATE packets SET expires_at_ms = ? WHERE id = ?", at, partial);
    });
    await runDurableObjectAlarm(room(roomId));
    await until(
      async () =>
        (await shardDbOfId(partial))
          .prepare("SELECT status FROM red_packets WHERE id = ?")
          .bind(partial)
          .first<string>("status"),
      (s) => s === "refunded",
    );
    // Again: the alarm, the packet sweeper and the event sweeper — the same fact, the same id.
    await runDurableObjectAlarm(room(roomId));
    const { sweepRedPackets } = await import("../../src/worker/cron/red-packet-sweep");
    await sweepRedPackets(env, Date.now() + 10 * 60_000, log);
    await sweepBusinessEvents(env, Date.now() + 61_000, log);
    const refunded = await partner.settled("red_packet.refunded");
    expect(refunded.map((d) => d.data)).toEqual([
      {
        packetId: partial,
        roomId,
        senderId,
        currency: "CNY",
        totalMinor: 300,
        claimCount: 1,
        claimedMinor: 100,
        refundedMinor: 200,
        refundedAtMs: expect.any(Number),
      },
    ]);
    const sent = await partner.settled("red_packet.sent", 2);
    expect(sent.map((d) => d.data.packetId).sort()).toEqual([full, partial].sort());
    eachIdOnce(partner.accepted);
  });
});

describe("withdrawal.paid", () => {
  /** A verified creator with `availableMinor` settled and a sandbox payout account (as withdrawals.test.ts makes one). */
  async function creator(id: string, availableMinor: number): Promise<string> {
    const nowMs = Date.now();
    const accountId = `pa_${id}`;
    const sealedAccount = await seal(
      env.PII_KEYS,
      payoutAccountContext(accountId),
      JSON.stringify({ channel: "sandbox", id: "payee-ok" }),
    );
    const sealedIdentity = await seal(env.PII_KEYS, `verification:${id}`, JSON.stringify({ realName: "张三" }));
    await env.CONTROL.batch([
      env.CONTROL.prepare(
        "INSERT INTO creators (user_id, display_name, risk_hold, created_at_ms, updated_at_ms) VALUES (?, ?, 0, ?, ?)",
      ).bind(id, id, nowMs, nowMs),
      env.CONTROL.prepare(
        `INSERT INTO creator_verifications (creator_id, state, sealed, key_id, real_name_masked, id_number_masked,
           submitted_at_ms, updated_at_ms) VALUES (?, 'verified', ?, ?, '张*', '1101**********1234', ?, ?)`,
      ).bind(id, sealedIdentity.sealed, sealedIdentity.keyId, nowMs, nowMs),
      env.CONTROL.prepare(
        `INSERT INTO payout_accounts (id, creator_id, channel, sealed, key_id, masked, is_default, cooling_until_ms,
           created_at_ms, updated_at_ms) VALUES (?, ?, 'sandbox', ?, ?, 'sandbox ****ok', 1, ?, ?, ?)`,
      ).bind(accountId, id, sealedAccount.sealed, sealedAccount.keyId, nowMs - 1, nowMs, nowMs),
    ]);
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
    await setPin(id);
    return id;
  }

  it("duplicate payout callbacks and a redelivered query: one event, one webhook, one inbox notice", async () => {
    const creatorId = await creator(`be-wd-${run}`, 30_000);
    const partner = await partnerReceiver("be-wd", creatorId);
    await simulate({ deliveryDelayMs: [0, 0], duplicateRate: 1 });
    try {
      const requested = await call("POST", "/v1/creators/me/withdrawals", {
        token: await token(creatorId, "creator"),
        idempotencyKey: key(),
        body: { amount: "88.00", pin: TEST_PIN },
      });
      expect(requested.status, JSON.stringify(requested.body)).toBe(201);
      const withdrawalId = requested.body.withdrawal.id as string;
      await until(
        async () => {
          await runProviderAlarm();
          return (await shardDbOfId(withdrawalId))
            .prepare("SELECT state FROM withdrawals WHERE id = ?")
            .bind(withdrawalId)
            .first<string>("state");
        },
        (s) => s === "paid",
        30_000,
      );
      // A redelivered query of the paid withdrawal, twice: the same event id again.
      const b = batchOf("giftwire-payouts", [
        { kind: "payout.query", withdrawalId },
        { kind: "payout.query", withdrawalId },
      ]);
      await handlePayoutsBatch(b.batch, env, log);
      const paid = await partner.settled("withdrawal.paid");
      expect(paid.map((d) => d.data)).toEqual([
        {
          withdrawalId,
          creatorId,
          currency: "CNY",
          amountMinor: 8_800,
          feeMinor: 0,
          channel: "sandbox",
          paidAtMs: expect.any(Number),
        },
      ]);
      eachIdOnce(partner.accepted);
      // The internal consumer: the creator's inbox holds the paid notice once.
      const notices = await until(
        async () =>
          (await shardDbOf(creatorId))
            .prepare("SELECT COUNT(*) AS n FROM inbox_messages WHERE id = ?")
            .bind(`withdrawal:${withdrawalId}:paid`)
            .first<number>("n"),
        (n) => n === 1,
      );
      expect(notices).toBe(1);
    } finally {
      await simulate({});
    }
  });
});

describe("the consumer", () => {
  it("retries the batch when a consumer throws, and fans out once it succeeds (the id stays taken meanwhile)", async () => {
    const factId = `order_consumer_${run}`;
    const event = {
      v: 1,
      id: `payment.succeeded:${factId}`,
      type: "payment.succeeded",
      factId,
      occurredAtMs: 1_000,
      creatorId: null,
      roomId: null,
      data: {
        orderId: factId,
        orderKind: "topup",
        userId: `be-consumer-${run}`,
        channel: "sandbox",
        currency: "CNY",
        amountMinor: 100,
        roomId: null,
        tipId: null,
        succeededAtMs: 1_000,
      },
    };
    const failing = {
      name: "failing",
      types: ["payment.succeeded" as const],
      handle: async () => {
        throw new Error("injected: the consumer failed");
      },
    };
    const first = batchOf("giftwire-business-events", [event]);
    await handleBusinessEventsBatch(first.batch, env, log, [failing]);
    expect([first.acked, first.retried]).toEqual([[], [0]]);
    expect(await findBusinessEvent(env.CONTROL, "payment.succeeded", factId)).toMatchObject({ state: "received" });

    const seen: string[] = [];
    const healthy = {
      name: "healthy",
      types: ["payment.succeeded" as const],
      handle: async (events: readonly BusinessEvent[]) => {
        seen.push(...events.map((e) => e.id));
      },
    };
    const second = batchOf("giftwire-business-events", [event]);
    await handleBusinessEventsBatch(second.batch, env, log, [healthy]);
    expect([second.acked, second.retried, seen]).toEqual([[0], [], [event.id]]);
    expect(await findBusinessEvent(env.CONTROL, "payment.succeeded", factId)).toMatchObject({ state: "done" });
  });
});

describe("what the consumer remembers", () => {
  it("the sweep forgets events received more than 7 days ago, and only those", async () => {
    const nowMs = Date.now();
    const run = crypto.randomUUID().slice(0, 8);
    const rows = [
      { id: `evt-old-${run}`, receivedAtMs: nowMs - BUSINESS_EVENTS_RETENTION_MS - 60_000 },
      { id: `evt-edge-${run}`, receivedAtMs: nowMs - BUSINESS_EVENTS_RETENTION_MS + 60_000 },
      { id: `evt-new-${run}`, receivedAtMs: nowMs - 60_000 },
    ];
    for (const r of rows) {
      await env.CONTROL.prepare(
        `INSERT INTO business_events (id, type, fact_id, occurred_at_ms, received_at_ms, state, done_at_ms)
         VALUES (?, 'payment.succeeded', ?, ?, ?, 'done', ?)`,
      )
        .bind(r.id, `fact-${r.id}`, r.receivedAtMs, r.receivedAtMs, r.receivedAtMs)
        .run();
    }
    await sweepBusinessEvents(env, nowMs, log);
    const left = await env.CONTROL.prepare("SELECT id FROM business_events WHERE id IN (?, ?, ?) ORDER BY id")
      .bind(...rows.map((r) => r.id))
      .all<{ id: string }>();
    expect(left.results.map((r) => r.id)).toEqual([`evt-edge-${run}`, `evt-new-${run}`]);
  });
});
