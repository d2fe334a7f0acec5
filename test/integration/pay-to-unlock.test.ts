/**
 * Pay-to-unlock (issue 19 item 2): an `unlock` order whose payment, once credited, unlocks the
 * item from the wallet in the same batch — the entitlement and the split with the credit, or
 * none of them — exactly once; never when the order failed or expired first, never twice when
 * the payer unlocked from the wallet meanwhile. Sandbox callbacks, signed as the sandbox signs
 * them, drive every path; the invariant checker runs after each.
 */

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { creditOrder } from "../../src/db/operations/payment-credit";
import { findOrder } from "../../src/db/reads/orders";
import { splitRevenue } from "../../src/domain/revenue-share";
import { queryContext } from "../../src/worker/payments/channel-tasks";
import { queryOrder } from "../../src/worker/payments/orders";
import {
  balanceOf,
  call,
  config,
  fund,
  invariantReport,
  key,
  ledger,
  openRoom,
  settleTransit,
  shardDbOfId,
  token,
  until,
} from "./helpers";
import { controlCount, countInShards as count, paid, sandboxCallback } from "./payment-helpers";

const run = crypto.randomUUID().slice(0, 8);
const quiet = { info() {}, warn() {}, error() {} };

/** A creator with a room (so the creator is known) and a priced article registered by an operator. */
async function pricedItem(label: string, price: string): Promise<{ creatorId: string; contentId: string }> {
  const creatorId = `ptu-${label}-creator-${run}`;
  await openRoom(creatorId);
  const res = await call("POST", "/v1/admin/content", {
    token: await token(`ptu-admin-${run}`, "admin"),
    body: { creatorId, kind: "article", title: `Paywalled ${label}`, price },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { creatorId, contentId: res.body.id };
}

async function unlockOrder(userId: string, contentId: string, extra: Record<string, unknown> = {}) {
  return call("POST", "/v1/payments/orders", {
    token: await token(userId),
    idempotencyKey: key(),
    body: { kind: "unlock", method: "sandbox", unlock: { contentId }, ...extra },
  });
}

const orderRow = async (id: string) =>
  (await shardDbOfId(id))
    .prepare("SELECT state, unlock_id, unlock_outcome FROM payment_orders WHERE id = ?")
    .bind(id)
    .first<{ state: string; unlock_id: string | null; unlock_outcome: string | null }>();

const unlockIdOf = (orderId: string) => `unl_${orderId.slice("order_".length)}`;

/** Entitlements (active or not) of a user to an item, across the shards. */
const entitlements = (userId: string, contentId: string) =>
  count("SELECT COUNT(*) AS n FROM entitlements WHERE user_id = ? AND content_id = ?", userId, contentId);

/** Every verified callback has been applied by the queue consumer. */
const callbacksApplied = () =>
  until(
    () => controlCount("SELECT COUNT(*) AS n FROM payment_notifications WHERE verified = 1 AND applied_at_ms IS NULL"),
    (n) => n === 0,
  );

describe("pay-to-unlock", () => {
  it("prices the order at the item's price; 20 concurrent success callbacks make one credit, one unlock, one entitlement", async () => {
    const { creatorId, contentId } = await pricedItem("dup", "6.60");
    const userId = `ptu-dup-fan-${run}`;
    const created = await unlockOrder(userId, contentId);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const order = created.body.order;
    expect(order).toMatchObject({ kind: "unlock", amountMinor: 660, state: "pending", tip: null, packet: null });
    expect(order.unlock).toEqual({ contentId, unlockId: null, outcome: null });
    // Nothing is granted before the money arrives.
    expect(await entitlements(userId, contentId)).toBe(0);

    const replies = await Promise.all(Array.from({ length: 20 }, () => paid(order)));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    // A failure reported after the success changes nothing.
    expect((await sandboxCallback(order, "payment.failed")).status).toBe(200);
    await until(
      () => orderRow(order.id),
      (r) => r?.unlock_outcome !== null,
    );
    await callbacksApplied();
    const unlockId = unlockIdOf(order.id);
    expect(await orderRow(order.id)).toEqual({ state: "succeeded", unlock_id: unlockId, unlock_outcome: "unlocked" });
    expect(await entitlements(userId, contentId)).toBe(1);
    expect(await count("SELECT COUNT(*) AS n FROM operations WHERE id IN (?, ?)", order.id, unlockId)).toBe(2);
    // The money went through the wallet and split like a wallet unlock.
    const split = splitRevenue(660, config.platformShareBps);
    await settleTransit();
    expect(await balanceOf(`user:${userId}:wallet`)).toBe(0);
    expect(await balanceOf(`creator:${creatorId}:pending`)).toBe(split.creatorMinor);
    const entitlement = await (await shardDbOfId(unlockId))
      .prepare("SELECT id, amount_minor, state FROM entitlements WHERE user_id = ? AND content_id = ?")
      .bind(userId, contentId)
      .first();
    expect(entitlement).toEqual({ id: unlockId, amount_minor: 660, state: "active" });
    const check = await call("GET", `/v1/content/${contentId}/entitlement`, { token: await token(userId) });
    expect(check.body).toMatchObject({ entitled: true, unlockId });
    const view = await call("GET", `/v1/payments/orders/${order.id}`, { token: await token(userId) });
    expect(view.body.order.unlock).toEqual({ contentId, unlockId, outcome: "unlocked" });
    expect((await invariantReport()).ok).toBe(true);
  });

  it("never unlocks for an order that failed first: a success after the failure stays in the wallet (unlock_order_lapsed)", async () => {
    const { contentId } = await pricedItem("fail", "3.30");
    const userId = `ptu-fail-fan-${run}`;
    const order = (await unlockOrder(userId, contentId)).body.order;
    expect((await sandboxCallback(order, "payment.failed")).status).toBe(200);
    await until(
      () => orderRow(order.id),
      (r) => r?.state === "failed",
    );
    expect(await entitlements(userId, contentId)).toBe(0);
    expect((await invariantReport()).ok).toBe(true);

    // The channel then says it was paid after all: the money, never the unlock.
    await Promise.all(Array.from({ length: 10 }, () => paid(order)));
    const settled = await until(
      () => orderRow(order.id),
      (r) => r?.unlock_outcome !== null,
    );
    await callbacksApplied();
    expect(settled).toEqual({
      state: "succeeded",
      unlock_id: unlockIdOf(order.id),
      unlock_outcome: "unlock_order_lapsed",
    });
    expect(await balanceOf(`user:${userId}:wallet`)).toBe(330);
    expect(await entitlements(userId, contentId)).toBe(0);
    expect(await count("SELECT COUNT(*) AS n FROM operations WHERE id = ?", unlockIdOf(order.id))).toBe(0);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("an order that expires unpaid unlocks nothing; money that still arrives stays in the wallet", async () => {
    const { contentId } = await pricedItem("exp", "2.20");
    const userId = `ptu-exp-fan-${run}`;
    const order = (await unlockOrder(userId, contentId)).body.order;
    const verdict = await queryOrder(queryContext(env, await ledger(), quiet, order.expiresAtMs + 1), order.id);
    expect(verdict).toEqual({ kind: "done", outcome: { kind: "closed" } });
    expect(await orderRow(order.id)).toEqual({ state: "closed", unlock_id: null, unlock_outcome: null });
    await paid(order);
    const settled = await until(
      () => orderRow(order.id),
      (r) => r?.unlock_outcome !== null,
    );
    expect(settled?.unlock_outcome).toBe("unlock_order_lapsed");
    expect(await balanceOf(`user:${userId}:wallet`)).toBe(220);
    expect(await entitlements(userId, contentId)).toBe(0);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("a payment that lands after the payer unlocked from the wallet stays in the wallet (already_unlocked): never a double charge", async () => {
    const { contentId } = await pricedItem("twice", "5.00");
    const userId = `ptu-twice-fan-${run}`;
    const order = (await unlockOrder(userId, contentId)).body.order;
    // Meanwhile, from the wallet.
    await fund(userId, "5.00");
    const walletUnlock = await call("POST", `/v1/content/${contentId}/unlock`, {
      token: await token(userId),
      idempotencyKey: key(),
      body: {},
    });
    expect(walletUnlock.status, JSON.stringify(walletUnlock.body)).toBe(201);
    expect(await balanceOf(`user:${userId}:wallet`)).toBe(0);

    await Promise.all(Array.from({ length: 5 }, () => paid(order)));
    const settled = await until(
      () => orderRow(order.id),
      (r) => r?.unlock_outcome !== null,
    );
    await callbacksApplied();
    expect(settled).toEqual({
      state: "succeeded",
      unlock_id: unlockIdOf(order.id),
      unlock_outcome: "already_unlocked",
    });
    // One entitlement (the wallet's), one charge; the order's money is the payer's, in the wallet.
    expect(await entitlements(userId, contentId)).toBe(1);
    expect(await count("SELECT COUNT(*) AS n FROM operations WHERE id = ?", unlockIdOf(order.id))).toBe(0);
    expect(await balanceOf(`user:${userId}:wallet`)).toBe(500);
    // Once the order holds an entitlement, a new order for the item is refused up front.
    const again = await unlockOrder(userId, contentId);
    expect([again.status, again.body.error?.code]).toEqual([409, "already_unlocked"]);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("an item repriced or archived before the payment lands is not unlocked; the money stays in the wallet and the order says why", async () => {
    const repriced = await pricedItem("reprice", "4.00");
    const archived = await pricedItem("archive", "4.00");
    const userId = `ptu-change-fan-${run}`;
    const first = (await unlockOrder(userId, repriced.contentId)).body.order;
    const second = (await unlockOrder(userId, archived.contentId)).body.order;
    const control = (await ledger()).control;
    await control.prepare("UPDATE content_items SET price_minor = 450 WHERE id = ?").bind(repriced.contentId).run();
    await control.prepare("UPDATE content_items SET status = 'archived' WHERE id = ?").bind(archived.contentId).run();
    await Promise.all([paid(first), paid(second)]);
    const a = await until(
      () => orderRow(first.id),
      (r) => r?.unlock_outcome !== null,
    );
    const b = await until(
      () => orderRow(second.id),
      (r) => r?.unlock_outcome !== null,
    );
    expect([a?.unlock_outcome, b?.unlock_outcome]).toEqual(["unlock_price_changed", "content_archived"]);
    expect(await balanceOf(`user:${userId}:wallet`)).toBe(800);
    expect(await entitlements(userId, repriced.contentId)).toBe(0);
    expect(await entitlements(userId, archived.contentId)).toBe(0);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("never unlocks from other money: a credit refused (the channel's transaction paid another order) leaves the unlock undone", async () => {
    const one = await pricedItem("txn-a", "1.00");
    const two = await pricedItem("txn-b", "1.00");
    const userId = `ptu-txn-fan-${run}`;
    const paidOrder = (await unlockOrder(userId, one.contentId)).body.order;
    const other = (await unlockOrder(userId, two.contentId)).body.order;
    await paid(paidOrder);
    await until(
      () => orderRow(paidOrder.id),
      (r) => r?.unlock_outcome === "unlocked",
    );
    // The wallet holds enough for the other unlock, but the other order's credit is refused.
    await fund(userId, "9.00");
    const l = await ledger();
    const shard = l.forId(other.id);
    const row = await findOrder(shard.db, other.id);
    expect(row).not.toBeNull();
    const result = await creditOrder(
      l,
      shard,
      {
        // biome-ignore lint/style/noNonNullAssertion: checked just above
        order: row!,
        providerTxnId: `sbx_${paidOrder.id.slice(6)}`,
        ref: "test",
        cause: "callback",
        tipRules: config,
      },
      Date.now(),
    );
    expect(result).toEqual({ kind: "rejected", code: "provider_txn_settled_other_order" });
    expect(await orderRow(other.id)).toEqual({ state: "pending", unlock_id: null, unlock_outcome: null });
    expect(await entitlements(userId, two.contentId)).toBe(0);
    expect(await balanceOf(`user:${userId}:wallet`)).toBe(900);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("under a storm of shuffled successes and failures, each order has its money and entitlement together or neither", async () => {
    const orders: { id: string; amountMinor: number; userId: string; contentId: string }[] = [];
    for (let i = 0; i < 6; i++) {
      const { contentId } = await pricedItem(`storm-${i}`, `${i + 1}.00`);
      const userId = `ptu-storm-${i}-${run}`;
      const res = await unlockOrder(userId, contentId);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      orders.push({ ...(res.body.order as { id: string; amountMinor: number }), userId, contentId });
    }
    const reports = orders.flatMap((order, i) => [
      ...Array.from({ length: 4 }, () => () => paid(order)),
      ...Array.from({ length: i % 3 }, () => () => sandboxCallback(order, "payment.failed")),
    ]);
    for (let i = reports.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [reports[i], reports[j]] = [reports[j] as (typeof reports)[number], reports[i] as (typeof reports)[number]];
    }
    const replies = await Promise.all(reports.map((report) => report()));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    await callbacksApplied();
    for (const [i, order] of orders.entries()) {
      const row = await until(
        () => orderRow(order.id),
        (r) => r?.unlock_outcome !== null,
      );
      expect(row?.state).toBe("succeeded");
      const granted = await entitlements(order.userId, order.contentId);
      const wallet = await balanceOf(`user:${order.userId}:wallet`);
      if (row?.unlock_outcome === "unlocked") expect([granted, wallet]).toEqual([1, 0]);
      else expect([row?.unlock_outcome, granted, wallet]).toEqual(["unlock_order_lapsed", 0, order.amountMinor]);
      if (i % 3 === 0) expect(row?.unlock_outcome).toBe("unlocked");
    }
    expect((await invariantReport()).ok).toBe(true);
  });

  it("refuses an order that could not unlock, with a stable code, and creates nothing", async () => {
    const { creatorId, contentId } = await pricedItem("bad", "1.00");
    const userId = `ptu-bad-fan-${run}`;
    const mine = "SELECT COUNT(*) AS n FROM payment_orders WHERE user_id = ?";
    const free = await call("POST", "/v1/admin/content", {
      token: await token(`ptu-admin-${run}`, "admin"),
      body: { creatorId, kind: "post", title: "Free post", price: null },
    });
    expect(free.status, JSON.stringify(free.body)).toBe(201);
    const cases: [string, Record<string, unknown>, number, string][] = [
      ["cnt_01DEMD00000000000000000000", {}, 404, "content_not_found"],
      [free.body.id, {}, 409, "content_not_priced"],
      [contentId, { amount: "2.00" }, 422, "amount_out_of_range"],
    ];
    for (const [id, extra, status, code] of cases) {
      const res = await unlockOrder(userId, id, extra);
      expect([res.status, res.body.error?.code], id).toEqual([status, code]);
    }
    const own = await unlockOrder(creatorId, contentId);
    expect([own.status, own.body.error?.code]).toEqual([422, "cannot_unlock_own_content"]);
    const noUnlock = await call("POST", "/v1/payments/orders", {
      token: await token(userId),
      idempotencyKey: key(),
      body: { kind: "unlock", method: "sandbox" },
    });
    expect([noUnlock.status, noUnlock.body.error.code]).toEqual([400, "malformed_request"]);
    expect(await count(mine, userId)).toBe(0);
    expect(await count(mine, creatorId)).toBe(0);
  });
});
