/**
 * Business events of every paid order kind, of unlocks and of winnings withdrawals (issue 19
 * item 3), proved in workerd through the real queues: a cashier-paid packet's and a
 * pay-to-unlock's `payment.succeeded` name what the order made; `unlock.created` reaches the
 * partner owning the item's creator once per unlock — from the wallet or through an order,
 * however often the payment is reported; a user's winnings withdrawal is its own
 * `winnings_withdrawal.paid`, never a creator's `withdrawal.paid`. Deliveries are verified by
 * the independent `standardwebhooks` package.
 */

import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emitOperationEvents, findBusinessEvent, readOperationEvents } from "../../src/db/business-events";
import { runOperation } from "../../src/db/ledger";
import { composeUnlock, prepareUnlock } from "../../src/db/operations/unlock";
import { payoutAccountContext } from "../../src/db/reads/payout-accounts";
import { type BusinessEvent, safeParseBusinessEvent } from "../../src/domain/business-events";
import { newOwnedId } from "../../src/domain/ids";
import { splitRevenue } from "../../src/domain/revenue-share";
import { bucketOf } from "../../src/domain/shards";
import { createLogger } from "../../src/platform/logger";
import { seal } from "../../src/platform/sealing";
import { sweepBusinessEvents } from "../../src/worker/cron/business-event-sweep";
import { setWebhookNetwork } from "../../src/worker/webhooks/network";
import { runProviderAlarm, simulate } from "../support/sandbox-provider";
import { FakeWebhookNetwork } from "../support/webhook-network";
import {
  call,
  callApproved,
  config,
  fund,
  key,
  ledger,
  openRoom,
  setPin,
  settleTransit,
  shardDbOfId,
  TEST_PIN,
  token,
  until,
} from "./helpers";
import { reverseApi } from "./money-out-support";
import { eachIdOnce, partnerReceiver as partnerReceiverOn, SETTLE_MS } from "./partner-receiver";
import { paid } from "./payment-helpers";

const run = crypto.randomUUID().slice(0, 8);
const network = new FakeWebhookNetwork();
const log = createLogger({ test: "business-events-orders" });

beforeAll(() => setWebhookNetwork(network));
afterAll(() => setWebhookNetwork(null));

const partnerReceiver = (name: string, creatorId: string) => partnerReceiverOn(network, run, name, creatorId);

/** A priced article of `creatorId`, registered by an operator. */
async function pricedItem(creatorId: string, price: string): Promise<string> {
  const res = await call("POST", "/v1/admin/content", {
    token: await token(`beo-admin-${run}`, "admin"),
    body: { creatorId, kind: "article", title: "Paywalled", price },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id;
}

/** The events of an operation as read back from its shard (`idInShard` names the shard), each a valid envelope. */
async function readBack(operationId: string, kind: string, idInShard = operationId) {
  const events = await readOperationEvents((await ledger()).forId(idInShard).db, [{ id: operationId, kind }]);
  for (const e of events) expect(safeParseBusinessEvent(e).success, e.id).toBe(true);
  return events;
}

describe("payment.succeeded of every order kind", () => {
  it("a cashier-paid packet's order: one event naming its packet and room, delivered to the room's creator's partner", async () => {
    const creatorId = `beo-pkt-${run}`;
    const partner = await partnerReceiver("beo-pkt", creatorId);
    const roomId = await openRoom(creatorId);
    const userId = `beo-pkt-fan-${run}`;
    const created = await call("POST", "/v1/payments/orders", {
      token: await token(userId),
      idempotencyKey: key(),
      body: { kind: "packet", method: "sandbox", packet: { roomId, total: "3.00", shares: 3 } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const order = created.body.order;
    await Promise.all([paid(order), paid(order, `evt_b${order.id.slice(7)}`), paid(order)]);
    const packetId = `packet_${order.id.slice("order_".length)}`;
    const payments = await partner.settled("payment.succeeded");
    expect(payments.map((d) => d.data)).toEqual([
      {
        orderId: order.id,
        orderKind: "packet",
        userId,
        channel: "sandbox",
        currency: "CNY",
        amountMinor: 300,
        roomId,
        tipId: null,
        packetId,
        contentId: null,
        unlockId: null,
        succeededAtMs: expect.any(Number),
      },
    ]);
    const sent = await partner.settled("red_packet.sent");
    expect(sent.map((d) => d.data.packetId)).toEqual([packetId]);
    eachIdOnce(partner.accepted);
    expect(await findBusinessEvent(env.CONTROL, "payment.succeeded", order.id)).toMatchObject({ state: "done" });
    expect((await readBack(order.id, "payment_credit")).map((e) => e.id)).toEqual([`payment.succeeded:${order.id}`]);
  });
});

describe("unlock.created", () => {
  it("a wallet unlock and a pay-to-unlock (paid five times over) each reach the item's partner once", async () => {
    const creatorId = `beo-unl-${run}`;
    const partner = await partnerReceiver("beo-unl", creatorId);
    await openRoom(creatorId);
    const contentId = await pricedItem(creatorId, "6.00");
    const split = splitRevenue(600, config.platformShareBps);

    // From the wallet.
    const reader = `beo-unl-reader-${run}`;
    await fund(reader, "6.00");
    const unlocked = await call("POST", `/v1/content/${contentId}/unlock`, {
      token: await token(reader),
      idempotencyKey: key(),
      body: {},
    });
    expect(unlocked.status, JSON.stringify(unlocked.body)).toBe(201);
    const walletUnlockId = unlocked.body.unlock.id as string;

    // Through a channel order, its success reported five times.
    const payer = `beo-unl-payer-${run}`;
    const created = await call("POST", "/v1/payments/orders", {
      token: await token(payer),
      idempotencyKey: key(),
      body: { kind: "unlock", method: "sandbox", unlock: { contentId } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const order = created.body.order;
    await Promise.all(Array.from({ length: 5 }, (_, i) => paid(order, `evt_${i}${order.id.slice(7)}`)));
    const orderUnlockId = `unl_${order.id.slice("order_".length)}`;

    const unlocks = await partner.settled("unlock.created", 2);
    const expected = (unlockId: string, userId: string, orderId: string | null) => ({
      unlockId,
      contentId,
      userId,
      creatorId,
      currency: "CNY",
      amountMinor: 600,
      platformMinor: split.platformMinor,
      creatorMinor: split.creatorMinor,
      orderId,
      createdAtMs: expect.any(Number),
    });
    expect(unlocks.map((d) => d.data).sort((a, b) => String(a.unlockId).localeCompare(String(b.unlockId)))).toEqual(
      [expected(walletUnlockId, reader, null), expected(orderUnlockId, payer, order.id)].sort((a, b) =>
        a.unlockId.localeCompare(b.unlockId),
      ),
    );
    // The order's payment names the unlock it made, and reaches the same partner (the item's creator's).
    const payments = await partner.settled("payment.succeeded");
    expect(payments.map((d) => d.data)).toEqual([
      expect.objectContaining({
        orderId: order.id,
        orderKind: "unlock",
        roomId: null,
        contentId,
        unlockId: orderUnlockId,
      }),
    ]);
    eachIdOnce(partner.accepted);
    for (const id of [walletUnlockId, orderUnlockId]) {
      expect(await findBusinessEvent(env.CONTROL, "unlock.created", id)).toMatchObject({ state: "done" });
      expect((await readBack(id, "unlock")).map((e) => e.id)).toEqual([`unlock.created:${id}`]);
    }

    // Emitted again (what any retry or the sweeper does): the same id, and no second webhook.
    const again = await emitOperationEvents(
      env,
      (await ledger()).forId(orderUnlockId),
      [{ id: orderUnlockId, kind: "unlock" }],
      log,
    );
    expect(again.map((e) => e.id)).toEqual([`unlock.created:${orderUnlockId}`]);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    expect(partner.accepted.filter((d) => d.type === "unlock.created")).toHaveLength(2);
  });
});

describe("the sweeper and unlocks", () => {
  it("sends, with the unlock's id, an unlock.created nobody announced (the send lost after the commit)", async () => {
    const creatorId = `beo-sw-${run}`;
    const partner = await partnerReceiver("beo-sw", creatorId);
    await openRoom(creatorId);
    const contentId = await pricedItem(creatorId, "2.00");
    const userId = `beo-sw-reader-${run}`;
    await fund(userId, "2.00");
    // The unlock commits straight at the ledger: no route, so no one sends its event.
    const l = await ledger();
    const nowMs = Date.now();
    const id = newOwnedId("unl", bucketOf(userId), nowMs);
    const prepared = await prepareUnlock(l.control, config, { id, contentId, userId }, nowMs);
    if (!prepared.ok) throw new Error(prepared.code);
    const { verdict } = await runOperation(l.forOwner(userId), composeUnlock(l.forOwner(userId), prepared.value));
    expect(verdict.kind).toBe("posted");
    expect(await findBusinessEvent(env.CONTROL, "unlock.created", id)).toBeNull();

    const sent: string[] = [];
    const recording = {
      ...env,
      BUSINESS_EVENTS: {
        sendBatch: async (messages: Iterable<MessageSendRequest<BusinessEvent>>) => {
          const list = [...messages];
          sent.push(...list.map((m) => m.body.id));
          await env.BUSINESS_EVENTS.sendBatch(list);
        },
      } as unknown as Queue,
    } as Env;
    await sweepBusinessEvents(recording, Date.now() + 61_000, log);
    expect(sent).toContain(`unlock.created:${id}`);
    const unlocks = await partner.settled("unlock.created");
    expect(unlocks.map((d) => [d.data.unlockId, d.data.orderId])).toEqual([[id, null]]);
    expect(await findBusinessEvent(env.CONTROL, "unlock.created", id)).toMatchObject({ state: "done" });
  });
});

describe("refunds reach the partners", () => {
  it("reversed tips, on a content item and in a room: one tip.reversed each, naming the item or none", async () => {
    const creatorId = `beo-rev-${run}`;
    const partner = await partnerReceiver("beo-rev", creatorId);
    const roomId = await openRoom(creatorId);
    const contentId = await pricedItem(creatorId, "6.00");
    const viewerId = `beo-rev-fan-${run}`;
    await fund(viewerId, "20.00");
    const onItem = await call("POST", `/v1/content/${contentId}/tips`, {
      token: await token(viewerId),
      idempotencyKey: key(),
      body: { amount: "3.00" },
    });
    expect(onItem.status, JSON.stringify(onItem.body)).toBe(201);
    const inRoom = await call("POST", `/v1/rooms/${roomId}/tips`, {
      token: await token(viewerId),
      idempotencyKey: key(),
      body: { kind: "custom", amount: "2.00" },
    });
    expect(inRoom.status, JSON.stringify(inRoom.body)).toBe(201);
    await settleTransit();
    const reversals: string[] = [];
    for (const tip of [onItem.body.tip, inRoom.body.tip]) {
      // The same reversal asked twice (a retried request): one reversal, one event.
      const idempotencyKey = key();
      const first = await reverseApi(tip.id, idempotencyKey);
      expect(first.status, JSON.stringify(first.body)).toBe(201);
      expect((await reverseApi(tip.id, idempotencyKey)).status).toBe(201);
      reversals.push(first.body.reversal.id);
    }

    const heard = await partner.settled("tip.reversed", 2);
    const byTip = (a: Record<string, unknown>, b: Record<string, unknown>) =>
      String(a.tipId).localeCompare(String(b.tipId));
    expect(heard.map((d) => d.data).sort(byTip)).toEqual(
      [
        { tip: onItem.body.tip, contentId, reversalId: reversals[0] },
        { tip: inRoom.body.tip, contentId: null, reversalId: reversals[1] },
      ]
        .map(({ tip, contentId, reversalId }) => ({
          reversalId,
          tipId: tip.id,
          contentId,
          creatorId,
          viewerId,
          currency: "CNY",
          amountMinor: tip.amountMinor,
          reversedAtMs: expect.any(Number),
        }))
        .sort(byTip),
    );
    eachIdOnce(partner.accepted);
    // Emitted again (a retry, the sweeper): the same id, no second webhook.
    const creatorShard = (await ledger()).forOwner(creatorId);
    for (const id of reversals) {
      const again = await emitOperationEvents(env, creatorShard, [{ id, kind: "tip_reversal" }], log);
      expect(again.map((e) => e.id)).toEqual([`tip.reversed:${id}`]);
      expect(safeParseBusinessEvent(again[0]).success).toBe(true);
      expect(await findBusinessEvent(env.CONTROL, "tip.reversed", id)).toMatchObject({ state: "done" });
    }
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    expect(partner.accepted.filter((d) => d.type === "tip.reversed")).toHaveLength(2);
  });

  it("a pay-to-tip order refunded in part: one payment.refunded, routed to the room's creator's partner", async () => {
    const creatorId = `beo-orf-${run}`;
    const partner = await partnerReceiver("beo-orf", creatorId);
    const roomId = await openRoom(creatorId);
    const userId = `beo-orf-fan-${run}`;
    const created = await call("POST", "/v1/payments/orders", {
      token: await token(userId),
      idempotencyKey: key(),
      body: { kind: "tip", method: "sandbox", tip: { roomId, kind: "custom", amount: "8.80" } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const order = created.body.order;
    await paid(order);
    await partner.settled("payment.succeeded");
    // The tip spent the payment; the refund comes from what the payer holds now.
    await fund(userId, "5.00");
    const adminToken = await token(`beo-orf-ops-${run}`, "admin");
    const idempotencyKey = key();
    const refund = () =>
      callApproved("POST", `/v1/admin/payments/orders/${order.id}/refunds`, {
        token: adminToken,
        idempotencyKey,
        body: { amount: "2.00", reason: "payer asked within 7 days" },
      });
    const refunded = await refund();
    expect(refunded.status, JSON.stringify(refunded.body)).toBe(201);
    expect((await refund()).status).toBe(201);

    const heard = await partner.settled("payment.refunded");
    expect(heard.map((d) => d.data)).toEqual([
      {
        refundId: refunded.body.refund.id,
        orderId: order.id,
        orderKind: "tip",
        contentId: null,
        userId,
        channel: "sandbox",
        currency: "CNY",
        amountMinor: 200,
        refundedAtMs: expect.any(Number),
      },
    ]);
    eachIdOnce(partner.accepted);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    expect(partner.accepted.filter((d) => d.type === "payment.refunded")).toHaveLength(1);
  });
  it("a pay-to-unlock order whose unlock could not be made: its payment and its refund reach the item's partner", async () => {
    const creatorId = `beo-unf-${run}`;
    const partner = await partnerReceiver("beo-unf", creatorId);
    await openRoom(creatorId);
    const contentId = await pricedItem(creatorId, "6.00");
    const userId = `beo-unf-reader-${run}`;
    const created = await call("POST", "/v1/payments/orders", {
      token: await token(userId),
      idempotencyKey: key(),
      body: { kind: "unlock", method: "sandbox", unlock: { contentId } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const order = created.body.order;
    // Repriced before the payment lands: the money stays in the wallet, no unlock.
    const admin = await token(`beo-admin-${run}`, "admin");
    const repriced = await call("PATCH", `/v1/admin/content/${contentId}`, { token: admin, body: { price: "4.50" } });
    expect(repriced.status, JSON.stringify(repriced.body)).toBe(200);
    await paid(order);

    // No entitlement names the creator: the item does.
    const payments = await partner.settled("payment.succeeded");
    expect(payments.map((d) => d.data)).toEqual([
      expect.objectContaining({ orderId: order.id, orderKind: "unlock", contentId, unlockId: null, roomId: null }),
    ]);
    const refunded = await callApproved("POST", `/v1/admin/payments/orders/${order.id}/refunds`, {
      token: admin,
      idempotencyKey: key(),
      body: { amount: "6.00", reason: "the unlock failed" },
    });
    expect(refunded.status, JSON.stringify(refunded.body)).toBe(201);
    const refunds = await partner.settled("payment.refunded");
    expect(refunds.map((d) => d.data)).toEqual([
      expect.objectContaining({
        refundId: refunded.body.refund.id,
        orderId: order.id,
        orderKind: "unlock",
        contentId,
        amountMinor: 600,
      }),
    ]);
    eachIdOnce(partner.accepted);
  });
});

describe("winnings_withdrawal.paid", () => {
  it("a user's winnings withdrawal, paid with duplicate callbacks, is one winnings_withdrawal.paid and no withdrawal.paid", async () => {
    const userId = `beo-win-${run}`;
    const nowMs = Date.now();
    const accountId = `pa_${userId}`;
    const sealed = await seal(
      env.PII_KEYS,
      payoutAccountContext(accountId),
      JSON.stringify({ channel: "sandbox", id: "payee-ok" }),
    );
    await env.CONTROL.prepare(
      `INSERT INTO payout_accounts (id, creator_id, channel, sealed, key_id, masked, is_default, cooling_until_ms,
         created_at_ms, updated_at_ms) VALUES (?, ?, 'sandbox', ?, ?, 'sandbox ****ok', 1, ?, ?, ?)`,
    )
      .bind(accountId, userId, sealed.sealed, sealed.keyId, nowMs - 1, nowMs, nowMs)
      .run();
    await setPin(userId);
    // Winnings: a one-share packet claimed by the user.
    const roomId = await openRoom(`beo-win-room-${run}`);
    const sender = `beo-win-sender-${run}`;
    await fund(sender, "50.00");
    const sent = await call("POST", `/v1/rooms/${roomId}/red-packets`, {
      token: await token(sender),
      idempotencyKey: key(),
      body: { total: "12.00", shares: 1 },
    });
    expect(sent.status, JSON.stringify(sent.body)).toBe(201);
    const packetId = sent.body.packet.id as string;
    const claimed = await call("POST", `/v1/rooms/${roomId}/red-packets/${packetId}/claims`, {
      token: await token(userId),
    });
    expect(claimed.status, JSON.stringify(claimed.body)).toBe(201);
    await until(
      async () =>
        (await shardDbOfId(packetId))
          .prepare("SELECT credited_count FROM red_packets WHERE id = ?")
          .bind(packetId)
          .first<number>("credited_count"),
      (n) => n === 1,
    );
    await settleTransit();

    await simulate({ deliveryDelayMs: [0, 0], duplicateRate: 1 });
    const requested = await call("POST", "/v1/me/winnings/withdrawals", {
      token: await token(userId),
      idempotencyKey: key(),
      body: { amount: "12.00", pin: TEST_PIN },
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
    const recorded = await until(
      () => findBusinessEvent(env.CONTROL, "winnings_withdrawal.paid", withdrawalId),
      (r) => r?.state === "done",
      30_000,
    );
    expect(recorded?.id).toBe(`winnings_withdrawal.paid:${withdrawalId}`);
    expect(await findBusinessEvent(env.CONTROL, "withdrawal.paid", withdrawalId)).toBeNull();
    const payout = await readBack(`${withdrawalId}:payout`, "withdrawal_payout", withdrawalId);
    expect(payout).toEqual([
      expect.objectContaining({
        id: `winnings_withdrawal.paid:${withdrawalId}`,
        creatorId: null,
        roomId: null,
        data: {
          withdrawalId,
          userId,
          currency: "CNY",
          amountMinor: 1200,
          feeMinor: expect.any(Number),
          channel: "sandbox",
          paidAtMs: expect.any(Number),
        },
      }),
    ]);
  });
});
