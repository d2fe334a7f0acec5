/**
 * Red packets paid at the cashier: a `packet` order whose payment, once credited, sends the
 * packet from the wallet in the same batch, exactly once; never when the order failed or
 * expired first. Sandbox callbacks, signed as the sandbox signs them, drive every path.
 */

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEFAULT_PACKET_GREETING } from "../../src/domain/red-packet";
import { queryContext } from "../../src/worker/payments/channel-tasks";
import { queryOrder } from "../../src/worker/payments/orders";
import {
  balanceOf,
  call,
  invariantReport,
  key,
  ledger,
  openRoom,
  operatorToken,
  settleTransit,
  shardDbOfId,
  token,
  until,
} from "./helpers";
import { controlCount, countInShards as count, paid, sandboxCallback, wechatPaid } from "./payment-helpers";

const quiet = { info() {}, warn() {}, error() {} };

async function packetOrder(userId: string, packet: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return call("POST", "/v1/payments/orders", {
    token: await token(userId),
    idempotencyKey: key(),
    body: { kind: "packet", method: "sandbox", packet, ...extra },
  });
}

const orderRow = async (id: string) =>
  (await shardDbOfId(id))
    .prepare("SELECT state, packet_id, packet_outcome FROM payment_orders WHERE id = ?")
    .bind(id)
    .first<{ state: string; packet_id: string | null; packet_outcome: string | null }>();

const packetIdOf = (orderId: string) => `packet_${orderId.slice("order_".length)}`;

/** Every verified callback has been applied by the queue consumer. */
const callbacksApplied = () =>
  until(
    () => controlCount("SELECT COUNT(*) AS n FROM payment_notifications WHERE verified = 1 AND applied_at_ms IS NULL"),
    (n) => n === 0,
  );

async function claim(roomId: string, packetId: string, userId: string) {
  return call("POST", `/v1/rooms/${roomId}/red-packets/${packetId}/claims`, { token: await token(userId) });
}

describe("red packets paid at the cashier", () => {
  it("freezes the packet with the order; once paid, credits the wallet and sends the packet in one step, and claims work as on any packet", async () => {
    const roomId = await openRoom("ptp-creator");
    const created = await packetOrder("ptp-fan", {
      roomId,
      total: "10.01",
      shares: 3,
      split: "equal",
      greeting: "大吉大利",
      ttlSeconds: 600,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const order = created.body.order;
    expect(order).toMatchObject({ kind: "packet", amountMinor: 1001, state: "pending", method: "sandbox", tip: null });
    expect(order.packet).toEqual({
      request: {
        roomId,
        total: "10.01",
        shares: 3,
        split: "equal",
        greeting: "大吉大利",
        audience: "everyone",
        ttlSeconds: 600,
      },
      packetId: null,
      outcome: null,
    });
    // Nothing is held before the money arrives.
    expect(await count("SELECT COUNT(*) AS n FROM red_packets WHERE sender_id = ?", "ptp-fan")).toBe(0);

    expect((await paid(order)).status).toBe(200);
    const settled = await until(
      () => orderRow(order.id),
      (r) => r?.packet_outcome !== null,
    );
    const packetId = packetIdOf(order.id);
    expect(settled).toEqual({ state: "succeeded", packet_id: packetId, packet_outcome: "sent" });
    // The money passed through the wallet into the packet's escrow.
    expect(await balanceOf("user:ptp-fan:wallet")).toBe(0);
    expect(await balanceOf(`packet:${packetId}:escrow`)).toBe(1001);
    const row = await (await shardDbOfId(packetId))
      .prepare(
        "SELECT room_id, sender_id, funding, total_minor, shares, split, greeting, status FROM red_packets WHERE id = ?",
      )
      .bind(packetId)
      .first();
    expect(row).toEqual({
      room_id: roomId,
      sender_id: "ptp-fan",
      funding: "wallet",
      total_minor: 1001,
      shares: 3,
      split: "equal",
      greeting: "大吉大利",
      status: "open",
    });
    // The room hears of it like any packet: through the outbox, delivered.
    expect(
      await until(
        () => count("SELECT COUNT(*) AS n FROM room_outbox WHERE id = ? AND delivered_at_ms IS NOT NULL", packetId),
        (n) => n === 1,
      ),
    ).toBe(1);
    const view = await call("GET", `/v1/payments/orders/${order.id}`, { token: await token("ptp-fan") });
    expect(view.body.order.packet).toMatchObject({ packetId, outcome: "sent" });

    // Claims: serialized in the room, credited through the queue, like a wallet-paid packet.
    const got: number[] = [];
    for (const u of ["ptp-grab-a", "ptp-grab-b", "ptp-grab-c"]) {
      const res = await claim(roomId, packetId, u);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      got.push(res.body.claim.amountMinor);
    }
    expect(got).toEqual([334, 334, 333]);
    expect((await claim(roomId, packetId, "ptp-grab-late")).body.error.code).toBe("packet_exhausted");
    await until(
      () =>
        (shardDbOfId(packetId) as Promise<D1Database>).then((db) =>
          db.prepare("SELECT credited_count AS n FROM red_packets WHERE id = ?").bind(packetId).first<number>("n"),
        ),
      (n) => n === 3,
      20_000,
    );
    await settleTransit();
    expect(await balanceOf("user:ptp-grab-a:wallet")).toBe(334);
    expect(await balanceOf("user:ptp-grab-c:wallet")).toBe(333);
    expect(await balanceOf(`packet:${packetId}:escrow`)).toBe(0);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("makes exactly one packet however often and concurrently the success is reported, and a failure after it changes nothing", async () => {
    const roomId = await openRoom("ptp-dup-creator");
    const order = (await packetOrder("ptp-dup-fan", { roomId, total: "8.88", shares: 4 })).body.order;
    const replies = await Promise.all(Array.from({ length: 50 }, () => paid(order)));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    // A resend of the same transaction under a new event id, and a failure reported after the success.
    expect((await paid(order, `evt_again${order.id.slice(12)}`)).status).toBe(200);
    expect((await sandboxCallback(order, "payment.failed")).status).toBe(200);
    await until(
      () => orderRow(order.id),
      (r) => r?.packet_outcome === "sent",
    );
    await callbacksApplied();
    expect(await orderRow(order.id)).toEqual({
      state: "succeeded",
      packet_id: packetIdOf(order.id),
      packet_outcome: "sent",
    });
    expect(await count("SELECT COUNT(*) AS n FROM red_packets WHERE sender_id = ?", "ptp-dup-fan")).toBe(1);
    expect(await count("SELECT COUNT(*) AS n FROM operations WHERE id IN (?, ?)", order.id, packetIdOf(order.id))).toBe(
      2,
    );
    expect(await balanceOf("user:ptp-dup-fan:wallet")).toBe(0);
    expect(await balanceOf(`packet:${packetIdOf(order.id)}:escrow`)).toBe(888);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("is paid by a WeChat Pay notification, sealed and signed as WeChat does, like by any channel: one packet however often it is resent", async () => {
    const roomId = await openRoom("ptp-wx-creator");
    const created = await packetOrder(
      "ptp-wx-fan",
      { roomId, total: "12.34", shares: 2 },
      { method: undefined, channel: "wechatpay" },
    );
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const order = created.body.order;
    expect(order).toMatchObject({ kind: "packet", channel: "wechatpay", state: "pending", amountMinor: 1234 });
    const txnId = `42000000${Date.now()}`.slice(0, 28);
    const replies = await Promise.all(Array.from({ length: 5 }, () => wechatPaid(order, txnId)));
    expect(replies.map((r) => r.status)).toEqual([204, 204, 204, 204, 204]);
    const settled = await until(
      () => orderRow(order.id),
      (r) => r?.packet_outcome !== null,
    );
    await callbacksApplied();
    expect(settled).toEqual({ state: "succeeded", packet_id: packetIdOf(order.id), packet_outcome: "sent" });
    expect(await count("SELECT COUNT(*) AS n FROM red_packets WHERE sender_id = ?", "ptp-wx-fan")).toBe(1);
    expect(await balanceOf("user:ptp-wx-fan:wallet")).toBe(0);
    expect(await balanceOf(`packet:${packetIdOf(order.id)}:escrow`)).toBe(1234);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("never sends the packet of an order that failed first: a success after the failure stays in the wallet (packet_order_lapsed)", async () => {
    const roomId = await openRoom("ptp-fail-creator");
    const order = (await packetOrder("ptp-fail-fan", { roomId, total: "6.66", shares: 2 })).body.order;
    expect((await sandboxCallback(order, "payment.failed")).status).toBe(200);
    await until(
      () => orderRow(order.id),
      (r) => r?.state === "failed",
    );
    expect(await count("SELECT COUNT(*) AS n FROM red_packets WHERE sender_id = ?", "ptp-fail-fan")).toBe(0);
    expect(await balanceOf("user:ptp-fail-fan:wallet")).toBe(0);
    expect((await invariantReport()).ok).toBe(true);

    // The channel then says it was paid after all (reordered, or the payer retried): money, never the packet.
    await Promise.all(Array.from({ length: 10 }, () => paid(order)));
    const settled = await until(
      () => orderRow(order.id),
      (r) => r?.packet_outcome !== null,
    );
    await callbacksApplied();
    expect(settled).toEqual({
      state: "succeeded",
      packet_id: packetIdOf(order.id),
      packet_outcome: "packet_order_lapsed",
    });
    expect(await balanceOf("user:ptp-fail-fan:wallet")).toBe(666);
    expect(await count("SELECT COUNT(*) AS n FROM red_packets WHERE sender_id = ?", "ptp-fail-fan")).toBe(0);
    expect(await count("SELECT COUNT(*) AS n FROM operations WHERE id = ?", packetIdOf(order.id))).toBe(0);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("an order that expires unpaid makes no packet; money that still arrives stays in the wallet", async () => {
    const roomId = await openRoom("ptp-exp-creator");
    const order = (await packetOrder("ptp-exp-fan", { roomId, total: "5.20", shares: 2 })).body.order;
    // The order's deadline passes while the payer has not paid: the query closes it.
    const verdict = await queryOrder(queryContext(env, await ledger(), quiet, order.expiresAtMs + 1), order.id);
    expect(verdict).toEqual({ kind: "done", outcome: { kind: "closed" } });
    expect(await orderRow(order.id)).toEqual({ state: "closed", packet_id: null, packet_outcome: null });
    expect(await count("SELECT COUNT(*) AS n FROM red_packets WHERE sender_id = ?", "ptp-exp-fan")).toBe(0);
    expect(await balanceOf("user:ptp-exp-fan:wallet")).toBe(0);
    expect((await invariantReport()).ok).toBe(true);

    await paid(order);
    const settled = await until(
      () => orderRow(order.id),
      (r) => r?.packet_outcome !== null,
    );
    expect(settled?.packet_outcome).toBe("packet_order_lapsed");
    expect(await balanceOf("user:ptp-exp-fan:wallet")).toBe(520);
    expect(await count("SELECT COUNT(*) AS n FROM red_packets WHERE sender_id = ?", "ptp-exp-fan")).toBe(0);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("under a storm of shuffled successes and failures, each order has its money and packet together or neither", async () => {
    const roomId = await openRoom("ptp-storm-creator");
    const orders = [];
    for (let i = 0; i < 8; i++) {
      const res = await packetOrder(`ptp-storm-${i}`, { roomId, total: `${i + 1}.00`, shares: 1 });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      orders.push(res.body.order as { id: string; amountMinor: number });
    }
    // Each order: 5 successes and 0–3 failures, in a random order, all at once with the other orders'.
    const reports = orders.flatMap((order, i) => [
      ...Array.from({ length: 5 }, () => () => paid(order)),
      ...Array.from({ length: i % 4 }, () => () => sandboxCallback(order, "payment.failed")),
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
        (r) => r?.packet_outcome !== null,
      );
      expect(row?.state).toBe("succeeded");
      const packets = await count("SELECT COUNT(*) AS n FROM red_packets WHERE sender_id = ?", `ptp-storm-${i}`);
      const wallet = await balanceOf(`user:ptp-storm-${i}:wallet`);
      if (row?.packet_outcome === "sent") {
        expect([packets, wallet, await balanceOf(`packet:${packetIdOf(order.id)}:escrow`)]).toEqual([
          1,
          0,
          order.amountMinor,
        ]);
      } else {
        // A failure that was applied before the first success: the money, never the packet.
        expect([row?.packet_outcome, packets, wallet]).toEqual(["packet_order_lapsed", 0, order.amountMinor]);
      }
    }
    // Orders with no failure reported can only have sent their packet.
    for (const [i, order] of orders.entries()) {
      if (i % 4 === 0) expect((await orderRow(order.id))?.packet_outcome).toBe("sent");
    }
    expect((await invariantReport()).ok).toBe(true);
  });

  it("keeps the money in the wallet and says why when the room ended before the payment arrived", async () => {
    const roomId = await openRoom("ptp-end-creator");
    const order = (await packetOrder("ptp-end-fan", { roomId, total: "3.00", shares: 3 })).body.order;
    const ended = await call("POST", `/v1/rooms/${roomId}/end`, {
      token: await token("ptp-end-creator", "creator", "viewer"),
    });
    expect(ended.status).toBe(200);
    await paid(order);
    const settled = await until(
      () => orderRow(order.id),
      (r) => r?.packet_outcome !== null,
    );
    expect(settled).toEqual({ state: "succeeded", packet_id: packetIdOf(order.id), packet_outcome: "room_not_live" });
    expect(await balanceOf("user:ptp-end-fan:wallet")).toBe(300);
    // A redelivery after the room is live again does not send it late.
    await (await ledger()).control.prepare("UPDATE rooms SET status = 'live' WHERE id = ?").bind(roomId).run();
    await paid(order, `evt_late${order.id.slice(11)}`);
    await callbacksApplied();
    expect(await count("SELECT COUNT(*) AS n FROM red_packets WHERE sender_id = ?", "ptp-end-fan")).toBe(0);
    expect(await balanceOf("user:ptp-end-fan:wallet")).toBe(300);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("answers a repeated key with the same order, and a reused key with another packet 422", async () => {
    const roomId = await openRoom("ptp-key-creator");
    const idempotencyKey = key();
    const ask = (packet: Record<string, unknown>) =>
      token("ptp-key-fan").then((t) =>
        call("POST", "/v1/payments/orders", {
          token: t,
          idempotencyKey,
          body: { kind: "packet", method: "sandbox", packet: { roomId, ...packet } },
        }),
      );
    const first = await ask({ total: "2.00", shares: 2 });
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const again = await ask({ total: "2.00", shares: 2 });
    expect([again.status, again.body.order.id]).toEqual([200, first.body.order.id]);
    const other = await ask({ total: "2.00", shares: 1 });
    expect([other.status, other.body.error.code]).toEqual([422, "idempotency_key_reused"]);
    expect(await count("SELECT COUNT(*) AS n FROM payment_orders WHERE user_id = ?", "ptp-key-fan")).toBe(1);
  });

  it("moderates the greeting when the order is made: a held one goes out as the default and waits for review", async () => {
    const word = `ptphold${crypto.randomUUID().slice(0, 8)}`;
    const added = await call("POST", "/v1/admin/moderation/words", {
      token: await operatorToken(),
      body: { word, level: "hold" },
    });
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    try {
      const roomId = await openRoom("ptp-greet-creator");
      const greeting = `加我 ${word}`;
      const order = (await packetOrder("ptp-greet-fan", { roomId, total: "1.00", shares: 1, greeting })).body.order;
      expect(order.packet.request.greeting).toBe(DEFAULT_PACKET_GREETING);
      await paid(order);
      await until(
        () => orderRow(order.id),
        (r) => r?.packet_outcome === "sent",
      );
      const packetId = packetIdOf(order.id);
      const db = await shardDbOfId(packetId);
      expect(await db.prepare("SELECT greeting FROM red_packets WHERE id = ?").bind(packetId).first("greeting")).toBe(
        DEFAULT_PACKET_GREETING,
      );
      expect(
        await db.prepare("SELECT text, status FROM packet_greetings WHERE packet_id = ?").bind(packetId).first(),
      ).toEqual({ text: greeting, status: "held" });
      expect((await invariantReport()).ok).toBe(true);
    } finally {
      await call("DELETE", `/v1/admin/moderation/words/${encodeURIComponent(word)}`, { token: await operatorToken() });
    }
  });

  it("refuses a packet order that could not go out, with a stable code, and creates nothing", async () => {
    const roomId = await openRoom("ptp-bad-creator");
    const mine = "SELECT COUNT(*) AS n FROM payment_orders WHERE user_id = 'ptp-bad-fan'";
    const before = await count(mine);
    const cases: [Record<string, unknown>, Record<string, unknown>, number, string][] = [
      [{ roomId: "room_01DEMD00000000000000000000", total: "1.00", shares: 1 }, {}, 404, "room_not_found"],
      [{ roomId, total: "0.02", shares: 3 }, {}, 422, "amount_out_of_range"],
      [{ roomId, total: "2.00", shares: 1 }, { amount: "3.00" }, 422, "amount_out_of_range"],
      [{ roomId, total: "1.00" }, {}, 400, "malformed_request"],
    ];
    for (const [packet, extra, status, code] of cases) {
      const res = await packetOrder("ptp-bad-fan", packet, extra);
      expect([res.status, res.body.error?.code], JSON.stringify(packet)).toEqual([status, code]);
    }
    const noPacket = await call("POST", "/v1/payments/orders", {
      token: await token("ptp-bad-fan"),
      idempotencyKey: key(),
      body: { kind: "packet", method: "sandbox", amount: "1.00" },
    });
    expect([noPacket.status, noPacket.body.error.code]).toEqual([400, "malformed_request"]);
    await call("POST", `/v1/rooms/${roomId}/end`, { token: await token("ptp-bad-creator", "creator", "viewer") });
    const offline = await packetOrder("ptp-bad-fan", { roomId, total: "1.00", shares: 1 });
    expect([offline.status, offline.body.error?.code]).toEqual([409, "room_not_live"]);
    expect(await count(mine)).toBe(before);
  });
});
