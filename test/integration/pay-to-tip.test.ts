import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { applyPaymentReport } from "../../src/db/payment-reports";
import { applySwitchChange, switchCache } from "../../src/db/switches";
import { configFrom } from "../../src/platform/config";
import {
  balanceOf,
  call,
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
import { controlCount, countInShards as count, paid } from "./payment-helpers";

async function tipOrder(userId: string, tip: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return call("POST", "/v1/payments/orders", {
    token: await token(userId),
    idempotencyKey: key(),
    body: { kind: "tip", method: "sandbox", tip, ...extra },
  });
}

const orderRow = async (id: string) =>
  (await shardDbOfId(id))
    .prepare("SELECT state, tip_id, tip_outcome FROM payment_orders WHERE id = ?")
    .bind(id)
    .first<{ state: string; tip_id: string | null; tip_outcome: string | null }>();
describe("pay-to-tip orders", () => {
  it("a tip paused (runtime switch) when its payment arrives keeps the money in the wallet, the order says why", async () => {
    const roomId = await openRoom("ptt-sw-creator");
    const created = await tipOrder("ptt-sw-fan", { roomId, kind: "gift", giftId: "sports-car" });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const order = created.body.order;
    const control = (await ledger()).control;
    const scope = { type: "room" as const, id: roomId };
    const set = await applySwitchChange(
      control,
      { op: "set", kind: "tips_paused", scope, value: null, reason: "test", actorId: "ops-test", expiresAtMs: null },
      Date.now(),
    );
    expect(set.ok).toBe(true);
    switchCache.forget();
    try {
      // A new pay-to-tip order into the paused room is refused at once.
      expect((await tipOrder("ptt-sw-fan", { roomId, kind: "gift", giftId: "rose" })).body.error.code).toBe(
        "switch_tips_paused",
      );
      expect((await paid(order)).status).toBe(200);
      const settled = await until(
        () => orderRow(order.id),
        (r) => r?.tip_outcome !== null,
      );
      expect(settled).toEqual({
        state: "succeeded",
        tip_id: `tip_${order.id.slice(6)}`,
        tip_outcome: "switch_tips_paused",
      });
      expect(await balanceOf("user:ptt-sw-fan:wallet")).toBe(52_000);
      expect(await count("SELECT COUNT(*) AS n FROM tips WHERE room_id = ?", roomId)).toBe(0);
    } finally {
      await applySwitchChange(control, { op: "clear", kind: "tips_paused", scope, actorId: "ops-test" }, Date.now());
      switchCache.forget();
    }
    expect((await invariantReport()).ok).toBe(true);
  });

  it("prices the tip at creation and, once paid, credits the wallet and sends the tip in one step", async () => {
    const roomId = await openRoom("ptt-creator");
    const created = await tipOrder("ptt-fan", { roomId, kind: "gift", giftId: "sports-car" });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const order = created.body.order;
    expect(order).toMatchObject({ kind: "tip", amountMinor: 52_000, state: "pending", method: "sandbox" });
    expect(order.tip).toEqual({
      request: { roomId, kind: "gift", giftId: "sports-car", quantity: 1 },
      tipId: null,
      outcome: null,
    });

    expect((await paid(order)).status).toBe(200);
    const settled = await until(
      () => orderRow(order.id),
      (r) => r?.tip_outcome !== null,
    );
    expect(settled).toEqual({ state: "succeeded", tip_id: `tip_${order.id.slice(6)}`, tip_outcome: "sent" });
    // The money passed through the wallet into the tip: nothing stays, the creator earned it.
    expect(await balanceOf("user:ptt-fan:wallet")).toBe(0);
    // The creator's part may be owed to another shard: delivered before it is read.
    await settleTransit();
    expect(await balanceOf("creator:ptt-creator:pending")).toBe(52_000 - 15_600);
    const tipRow = await (await shardDbOfId(order.id))
      .prepare("SELECT amount_minor, gift_id, room_id, viewer_id FROM tips WHERE id = ?")
      .bind(settled?.tip_id)
      .first();
    expect(tipRow).toEqual({ amount_minor: 52_000, gift_id: "sports-car", room_id: roomId, viewer_id: "ptt-fan" });
    // The room hears of it like any tip: through the outbox, delivered.
    expect(
      await until(
        () =>
          count("SELECT COUNT(*) AS n FROM room_outbox WHERE id = ? AND delivered_at_ms IS NOT NULL", settled?.tip_id),
        (n) => n === 1,
      ),
    ).toBe(1);
    const view = await call("GET", `/v1/payments/orders/${order.id}`, { token: await token("ptt-fan") });
    expect(view.body.order.tip).toMatchObject({ tipId: settled?.tip_id, outcome: "sent" });
    expect((await invariantReport()).ok).toBe(true);
  });

  it("a success naming a provider transaction that settled another order credits nothing and sends no tip, though the wallet could pay it", async () => {
    const roomId = await openRoom("ptt-txn-creator");
    const fan = "ptt-txn-fan";
    await fund(fan, "100.00");
    const first = (await tipOrder(fan, { roomId, kind: "gift", giftId: "rose" })).body.order;
    const second = (await tipOrder(fan, { roomId, kind: "gift", giftId: "rose" })).body.order;
    expect((await paid(first)).status).toBe(200);
    await until(
      () => orderRow(first.id),
      (r) => r?.tip_outcome === "sent",
    );
    const wallet = await balanceOf(`user:${fan}:wallet`);
    // The second order reported paid under the first one's provider transaction.
    await applyPaymentReport(await ledger(), {
      channel: "sandbox",
      event: {
        kind: "payment",
        status: "succeeded",
        merchantOrderNo: second.id,
        providerTxnId: `sbx_${first.id.slice(6)}`,
        amountMinor: second.amountMinor,
        currency: "CNY",
        merchant: [],
      },
      ref: "ptt-txn-reused",
      cause: "query",
      nowMs: Date.now(),
      tipRules: configFrom(env),
    });
    const row = await orderRow(second.id);
    expect(row?.state).not.toBe("succeeded");
    expect(row?.tip_outcome).toBe(null);
    expect(await count("SELECT COUNT(*) AS n FROM tips WHERE id = ?", `tip_${second.id.slice(6)}`)).toBe(0);
    expect(await balanceOf(`user:${fan}:wallet`)).toBe(wallet);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("sends the tip exactly once however often and however concurrently the payment is reported", async () => {
    const roomId = await openRoom("ptt-dup-creator");
    const order = (await tipOrder("ptt-dup-fan", { roomId, kind: "custom", amount: "18.80" })).body.order;
    const replies = await Promise.all(Array.from({ length: 50 }, () => paid(order)));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    // A different provider event for the same transaction (a resend under a new id) too.
    expect((await paid(order, `evt_again${order.id.slice(12)}`)).status).toBe(200);
    await until(
      () => orderRow(order.id),
      (r) => r?.tip_outcome === "sent",
    );
    await until(
      () =>
        controlCount("SELECT COUNT(*) AS n FROM payment_notifications WHERE verified = 1 AND applied_at_ms IS NULL"),
      (n) => n === 0,
    );
    expect(await count("SELECT COUNT(*) AS n FROM tips WHERE viewer_id = ?", "ptt-dup-fan")).toBe(1);
    expect(await count("SELECT COUNT(*) AS n FROM operations WHERE id = ?", order.id)).toBe(1);
    expect(await balanceOf("user:ptt-dup-fan:wallet")).toBe(0);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("keeps the money in the wallet and says why when the room ended before the payment arrived", async () => {
    const roomId = await openRoom("ptt-end-creator");
    const order = (await tipOrder("ptt-end-fan", { roomId, kind: "gift", giftId: "rose", quantity: 3 })).body.order;
    expect(order.amountMinor).toBe(300);
    const ended = await call("POST", `/v1/rooms/${roomId}/end`, {
      token: await token("ptt-end-creator", "creator", "viewer"),
    });
    expect(ended.status).toBe(200);
    await paid(order);
    const settled = await until(
      () => orderRow(order.id),
      (r) => r?.tip_outcome !== null,
    );
    expect(settled).toEqual({ state: "succeeded", tip_id: `tip_${order.id.slice(6)}`, tip_outcome: "room_not_live" });
    expect(await balanceOf("user:ptt-end-fan:wallet")).toBe(300);
    expect(await count("SELECT COUNT(*) AS n FROM tips WHERE viewer_id = ?", "ptt-end-fan")).toBe(0);
    // A redelivery after the room is live again does not send it late.
    await (await ledger()).control.prepare("UPDATE rooms SET status = 'live' WHERE id = ?").bind(roomId).run();
    await paid(order, `evt_late${order.id.slice(11)}`);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await count("SELECT COUNT(*) AS n FROM tips WHERE viewer_id = ?", "ptt-end-fan")).toBe(0);
    expect(await balanceOf("user:ptt-end-fan:wallet")).toBe(300);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("refuses a tip order that could not be sent, with a stable code, and creates nothing", async () => {
    const roomId = await openRoom("ptt-bad-creator");
    const before = await count("SELECT COUNT(*) AS n FROM payment_orders");
    const cases: [Record<string, unknown>, Record<string, unknown>, number, string][] = [
      [{ roomId, kind: "gift", giftId: "no-such-gift" }, {}, 404, "gift_not_found"],
      [{ roomId: "room_01DEMD00000000000000000000", kind: "gift", giftId: "rose" }, {}, 404, "room_not_found"],
      [{ roomId, kind: "custom", amount: "0.50" }, {}, 422, "amount_out_of_range"],
      [{ roomId, kind: "gift", giftId: "rose" }, { amount: "2.00" }, 422, "amount_out_of_range"],
    ];
    for (const [tip, extra, status, code] of cases) {
      const res = await tipOrder("ptt-bad-fan", tip, extra);
      expect([res.status, res.body.error?.code], JSON.stringify(tip)).toEqual([status, code]);
    }
    const self = await call("POST", "/v1/payments/orders", {
      token: await token("ptt-bad-creator", "creator", "viewer"),
      idempotencyKey: key(),
      body: { kind: "tip", method: "sandbox", tip: { roomId, kind: "gift", giftId: "rose" } },
    });
    expect([self.status, self.body.error.code]).toEqual([422, "self_tip"]);
    const noTip = await call("POST", "/v1/payments/orders", {
      token: await token("ptt-bad-fan"),
      idempotencyKey: key(),
      body: { kind: "tip", method: "sandbox", amount: "1.00" },
    });
    expect([noTip.status, noTip.body.error.code]).toEqual([400, "malformed_request"]);
    expect(await count("SELECT COUNT(*) AS n FROM payment_orders")).toBe(before);
  });
});
