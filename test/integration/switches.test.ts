/**
 * Runtime switches (src/domain/switches.ts) end to end: set through the admin API (the control
 * database, read by each isolate's copy at most once per SWITCH_CACHE_TTL_MS, 1 s in tests),
 * honoured by the Worker and by the rooms.
 *
 * The control database is shared by every test file, so a platform-wide switch (read-only, a
 * channel out) written there would stop other files' requests: those kinds are pinned in this
 * file's isolate instead (`switchCache.pinForTests`), which every path here reads (the Worker,
 * the rooms, the queues). Room- and gift-scoped switches go through the real store and API.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { switchCache } from "../../src/db/switches";
import { LIMITS } from "../../src/domain/limits";
import type { Switch, SwitchKind, SwitchScope } from "../../src/domain/switches";
import {
  allDatabases,
  balanceOf,
  call,
  callApproved,
  config,
  fund,
  invariantReport,
  key,
  ledgerSnapshot,
  operatorToken,
  token,
  until,
  withPin,
} from "./helpers";
import { paid } from "./payment-helpers";
import { SocketProbe } from "./socket-probe";

afterEach(() => switchCache.forget());

async function goLive(creatorId: string): Promise<string> {
  const res = await call("POST", "/v1/rooms", {
    token: await token(creatorId, "creator"),
    body: { title: "switches" },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
}

function pinned(kind: SwitchKind, scope: SwitchScope, value: number | null = null): Switch {
  return { kind, scope, value, reason: "test", setBy: "ops-test", setAtMs: Date.now(), expiresAtMs: null };
}

async function setSwitch(kind: SwitchKind, scope: string, body: Record<string, unknown> = {}) {
  // Every switch change is four-eyed: a second operator approves it (test helpers' checker).
  const res = await callApproved("PUT", `/v1/admin/switches/${kind}/${encodeURIComponent(scope)}`, {
    token: await operatorToken(),
    body: { reason: "switch test", ...body },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

async function clearSwitch(kind: SwitchKind, scope: string) {
  return callApproved("DELETE", `/v1/admin/switches/${kind}/${encodeURIComponent(scope)}`, {
    token: await operatorToken(),
  });
}

/** A wallet tip; a sports car is above the password-free limit, so it carries the payer's PIN. */
function tipRequest(roomId: string, viewerId: string, body: Record<string, unknown>, idempotencyKey = key()) {
  const withBody = body.giftId === "sports-car" ? withPin(viewerId, body) : Promise.resolve(body);
  return Promise.all([token(viewerId), withBody]).then(([t, sent]) =>
    call("POST", `/v1/rooms/${roomId}/tips`, { token: t, idempotencyKey, body: sent }),
  );
}

async function tipRowsOf(roomId: string): Promise<{ id: string; viewer_id: string; amount_minor: number }[]> {
  const rows: { id: string; viewer_id: string; amount_minor: number }[] = [];
  for (const { name, db } of await allDatabases()) {
    if (name === "control") continue;
    const found = await db
      .prepare("SELECT id, viewer_id, amount_minor FROM tips WHERE room_id = ?")
      .bind(roomId)
      .all<{ id: string; viewer_id: string; amount_minor: number }>();
    rows.push(...found.results);
  }
  return rows;
}

async function transfersOf(id: string): Promise<number> {
  let n = 0;
  for (const { name, db } of await allDatabases()) {
    if (name === "control") continue;
    const row = await db
      .prepare("SELECT COUNT(*) AS n FROM transfers WHERE operation_id = ?")
      .bind(id)
      .first<{ n: number }>();
    n += row?.n ?? 0;
  }
  return n;
}

describe("a switch flipped under a tip storm", () => {
  it("leaves every tip done or refused with the switch's code, none half-applied, within the bound", async () => {
    const creator = "sw-storm-creator";
    const roomId = await goLive(creator);
    const viewers = Array.from({ length: 6 }, (_, i) => `sw-storm-v${i}`);
    for (const v of viewers) await fund(v, "500.00");
    const before = new Map<string, number>();
    for (const v of viewers) before.set(v, await balanceOf(`user:${v}:wallet`));

    type Sent = {
      viewerId: string;
      sentAtMs: number;
      answeredAtMs: number;
      status: number;
      code: string | null;
      tipId: string | null;
    };
    const sent: Promise<Sent>[] = [];
    const startMs = Date.now();
    let flippedAtMs: number | null = null;
    let flipStartedAtMs = Number.POSITIVE_INFINITY;
    let i = 0;
    // Three tips every ~10 ms into one room through the real group-commit batcher; the switch is
    // flipped 600 ms in, and the storm goes on for a TTL and a half after.
    const stormMs = 600 + config.switchCacheTtlMs * 1.5 + 500;
    const flip = (async () => {
      await new Promise((r) => setTimeout(r, 600));
      flipStartedAtMs = Date.now();
      await setSwitch("tips_paused", `room:${roomId}`);
      flippedAtMs = Date.now();
    })();
    while (Date.now() - startMs < stormMs) {
      for (let burst = 0; burst < 3; burst++) {
        const viewerId = viewers[i % viewers.length] as string;
        i += 1;
        const sentAtMs = Date.now();
        sent.push(
          tipRequest(roomId, viewerId, { kind: "custom", amount: "1.00" }).then((res) => ({
            viewerId,
            sentAtMs,
            answeredAtMs: Date.now(),
            status: res.status,
            code: res.body?.error?.code ?? null,
            tipId: res.body?.tip?.id ?? null,
          })),
        );
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await flip;
    const answers = await Promise.all(sent);
    expect(flippedAtMs).not.toBeNull();
    const flipAt = flippedAtMs as unknown as number;

    // Every request is done (201) or refused with the switch's code; nothing else.
    for (const a of answers) {
      if (a.status === 201) expect(a.tipId).not.toBeNull();
      else expect({ status: a.status, code: a.code }).toEqual({ status: 503, code: "switch_tips_paused" });
    }
    const accepted = answers.filter((a) => a.status === 201);
    const refused = answers.filter((a) => a.status !== 201);
    expect(accepted.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    // Nothing is refused before the flip committed; everything sent one TTL (plus a read) after it is.
    const firstRefusedSentAtMs = Math.min(...refused.map((a) => a.sentAtMs));
    for (const a of refused) expect(a.answeredAtMs).toBeGreaterThanOrEqual(flipStartedAtMs);
    const lastAcceptedSentAtMs = Math.max(...accepted.map((a) => a.sentAtMs));
    const propagationMs = Math.max(0, lastAcceptedSentAtMs - flipAt);
    expect(propagationMs).toBeLessThanOrEqual(config.switchCacheTtlMs + 500);
    expect(propagationMs).toBeLessThanOrEqual(LIMITS.switchPropagationMaxMs);
    console.info(
      `switch storm: ${answers.length} tips, ${accepted.length} done, ${refused.length} refused; ` +
        `first refusal sent ${firstRefusedSentAtMs - flipAt} ms after the flip, last acceptance sent ` +
        `${lastAcceptedSentAtMs - flipAt} ms after it (TTL ${config.switchCacheTtlMs} ms, bound ${LIMITS.switchPropagationMaxMs} ms)`,
    );

    // No tip half-applied: the ledger's tips are exactly the accepted ones, each with its transfers…
    const rows = await tipRowsOf(roomId);
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(accepted.map((a) => a.tipId)));
    for (const a of accepted) expect(await transfersOf(a.tipId as string)).toBeGreaterThan(0);
    // …each payer paid exactly for their accepted tips, and the room's board counts exactly those.
    const board = await env.LIVE_ROOM.getByName(roomId).leaderboard("live", null, 10);
    for (const v of viewers) {
      const paid = accepted.filter((a) => a.viewerId === v).length * 100;
      expect((before.get(v) as number) - (await balanceOf(`user:${v}:wallet`)), v).toBe(paid);
      const entry = board.top.find((e: { viewerId: string }) => e.viewerId === v);
      expect(entry?.totalMinor ?? 0, v).toBe(paid);
    }
    expect((await invariantReport()).ok).toBe(true);

    // Cleared: tips flow again within the bound.
    await clearSwitch("tips_paused", `room:${roomId}`);
    const clearedAtMs = Date.now();
    let res = await tipRequest(roomId, viewers[0] as string, { kind: "custom", amount: "1.00" });
    while (res.status !== 201 && Date.now() - clearedAtMs < LIMITS.switchPropagationMaxMs) {
      await new Promise((r) => setTimeout(r, 100));
      res = await tipRequest(roomId, viewers[0] as string, { kind: "custom", amount: "1.00" });
    }
    expect(res.status).toBe(201);
  });
});

describe("tips paused per room or per gift", () => {
  it("a gift's pause refuses that gift anywhere and leaves other gifts and rooms alone", async () => {
    const roomA = await goLive("sw-gift-a");
    const roomB = await goLive("sw-gift-b");
    await fund("sw-gift-fan", "100.00");
    await setSwitch("tips_paused", "gift:heart");
    switchCache.forget();
    for (const roomId of [roomA, roomB]) {
      const refused = await tipRequest(roomId, "sw-gift-fan", { kind: "gift", giftId: "heart", quantity: 1 });
      expect(refused.body.error.code).toBe("switch_tips_paused");
      expect(refused.body.error.details).toBeUndefined();
      const rose = await tipRequest(roomId, "sw-gift-fan", { kind: "gift", giftId: "rose", quantity: 1 });
      expect(rose.status).toBe(201);
    }
    expect((await clearSwitch("tips_paused", "gift:heart")).status).toBe(200);
    expect((await clearSwitch("tips_paused", "gift:heart")).body.error.code).toBe("switch_not_found");
  });
});

describe("money read-only", () => {
  it("refuses every money path with switch_read_only, moves nothing, and reads still work", async () => {
    const roomId = await goLive("sw-ro-creator");
    await fund("sw-ro-fan", "100.00");
    const fan = await token("sw-ro-fan");
    const sent = await call("POST", `/v1/rooms/${roomId}/red-packets`, {
      token: fan,
      idempotencyKey: key(),
      body: { total: "5.00", shares: 5 },
    });
    expect(sent.status).toBe(201);
    const packetId = sent.body.packet.id as string;
    // The creator's PIN set before (its withdrawal needs it): a right PIN checked leaves its row as it was.
    await withPin("sw-ro-creator", {});
    const before = await ledgerSnapshot();

    switchCache.pinForTests([pinned("read_only", { type: "platform" })]);
    const attempts = {
      tip: await tipRequest(roomId, "sw-ro-fan", { kind: "custom", amount: "1.00" }),
      packet: await call("POST", `/v1/rooms/${roomId}/red-packets`, {
        token: fan,
        idempotencyKey: key(),
        body: { total: "5.00", shares: 5 },
      }),
      claim: await call("POST", `/v1/rooms/${roomId}/red-packets/${packetId}/claims`, {
        token: await token("sw-ro-claimer"),
      }),
      topUp: await call("POST", "/v1/payments/orders", {
        token: fan,
        idempotencyKey: key(),
        body: { kind: "topup", channel: "sandbox", amount: "10.00" },
      }),
      payToTip: await call("POST", "/v1/payments/orders", {
        token: fan,
        idempotencyKey: key(),
        body: { kind: "tip", channel: "sandbox", tip: { roomId, kind: "custom", amount: "1.00" } },
      }),
      withdrawal: await call("POST", "/v1/creators/me/withdrawals", {
        token: await token("sw-ro-creator", "creator"),
        idempotencyKey: key(),
        body: await withPin("sw-ro-creator", { amount: "100.00" }),
      }),
      adjustment: await call("POST", "/v1/users/sw-ro-fan/wallet/adjustments", {
        token: await operatorToken(),
        idempotencyKey: key(),
        body: { direction: "credit", amount: "1.00", reason: "during read-only" },
      }),
    };
    for (const [path, res] of Object.entries(attempts)) {
      expect({ path, status: res.status, code: res.body?.error?.code }).toEqual({
        path,
        status: 503,
        code: "switch_read_only",
      });
    }
    // Reads still work.
    const wallet = await call("GET", "/v1/users/sw-ro-fan/wallet", { token: fan });
    expect(wallet.status).toBe(200);
    expect((await call("GET", `/v1/rooms/${roomId}/red-packets/${packetId}`, { token: fan })).status).toBe(200);
    expect((await call("GET", "/v1/admin/switches", { token: await operatorToken() })).status).toBe(200);
    // Nothing moved, in any shard.
    expect(await ledgerSnapshot()).toBe(before);

    switchCache.forget();
    expect((await tipRequest(roomId, "sw-ro-fan", { kind: "custom", amount: "1.00" })).status).toBe(201);
  });
});

describe("a payment channel out", () => {
  it("refuses new orders on that channel only; a method's backup takes them", async () => {
    switchCache.pinForTests([pinned("payment_channel_out", { type: "channel", id: "sandbox" })]);
    const payer = await token("sw-pay-u");
    const onSandbox = await call("POST", "/v1/payments/orders", {
      token: payer,
      idempotencyKey: key(),
      body: { kind: "topup", channel: "sandbox", amount: "10.00" },
    });
    expect(onSandbox.status).toBe(503);
    expect(onSandbox.body.error).toMatchObject({
      code: "switch_channel_out",
      details: { switch: { kind: "payment_channel_out", scope: "channel:sandbox" } },
    });
    switchCache.pinForTests([pinned("payment_channel_out", { type: "channel", id: "wechatpay" })]);
    const sandbox = await call("POST", "/v1/payments/orders", {
      token: payer,
      idempotencyKey: key(),
      body: { kind: "topup", channel: "sandbox", amount: "10.00" },
    });
    expect(sandbox.status, JSON.stringify(sandbox.body)).toBe(201);
    // The qr method's primary (wechatpay) is out: its backup (alipay) takes the order.
    const qr = await call("POST", "/v1/payments/orders", {
      token: payer,
      idempotencyKey: key(),
      body: { kind: "topup", method: "qr", amount: "10.00" },
    });
    expect(qr.status, JSON.stringify(qr.body)).toBe(201);
    expect(qr.body.order.channel).toBe("alipay");
  });
});

describe("red packets paused", () => {
  it("per room refuses sends and claims in that room only; platform-wide refuses them everywhere", async () => {
    const roomA = await goLive("sw-pkt-a");
    const roomB = await goLive("sw-pkt-b");
    await fund("sw-pkt-fan", "100.00");
    const fan = await token("sw-pkt-fan");
    const send = (roomId: string) =>
      call("POST", `/v1/rooms/${roomId}/red-packets`, {
        token: fan,
        idempotencyKey: key(),
        body: { total: "3.00", shares: 3 },
      });
    const open = await send(roomA);
    expect(open.status).toBe(201);
    const packetA = open.body.packet.id as string;

    await setSwitch("packets_paused", `room:${roomA}`);
    switchCache.forget();
    expect((await send(roomA)).body.error.code).toBe("switch_packets_paused");
    const claim = await call("POST", `/v1/rooms/${roomA}/red-packets/${packetA}/claims`, {
      token: await token("sw-pkt-claimer"),
    });
    expect(claim.body.error.code).toBe("switch_packets_paused");
    const inB = await send(roomB);
    expect(inB.status).toBe(201);
    await clearSwitch("packets_paused", `room:${roomA}`);
    switchCache.forget();
    const claimed = await call("POST", `/v1/rooms/${roomA}/red-packets/${packetA}/claims`, {
      token: await token("sw-pkt-claimer"),
    });
    expect(claimed.status).toBe(201);

    switchCache.pinForTests([pinned("packets_paused", { type: "platform" })]);
    expect((await send(roomA)).body.error.code).toBe("switch_packets_paused");
    expect((await send(roomB)).body.error.code).toBe("switch_packets_paused");
    // A tip is not a packet: it still goes.
    expect((await tipRequest(roomB, "sw-pkt-fan", { kind: "custom", amount: "1.00" })).status).toBe(201);
  });
});

describe("effects degraded", () => {
  it("sends only the big-gift lane: small tips count on the board but no merged frame goes out", async () => {
    const roomId = await goLive("sw-fx-creator");
    await fund("sw-fx-fan", "2000.00");
    const viewer = await SocketProbe.open(`/v1/rooms/${roomId}/live?access_token=${await token("sw-fx-fan")}`);
    await viewer.next("snapshot");
    switchCache.pinForTests([pinned("effects_degraded", { type: "room", id: roomId })]);
    expect((await tipRequest(roomId, "sw-fx-fan", { kind: "custom", amount: "2.00" })).status).toBe(201);
    expect((await tipRequest(roomId, "sw-fx-fan", { kind: "gift", giftId: "sports-car", quantity: 1 })).status).toBe(
      201,
    );
    await viewer.next("gift.big");
    const stub = env.LIVE_ROOM.getByName(roomId);
    await runDurableObjectAlarm(stub);
    await new Promise((r) => setTimeout(r, 200));
    expect(viewer.ofType("tips.merged")).toHaveLength(0);
    const board = await stub.leaderboard("live", null, 10);
    expect(board.top[0]).toMatchObject({ viewerId: "sw-fx-fan", totalMinor: 200 + 52_000 });

    // Restored: the next window's small tips go out merged again.
    switchCache.forget();
    expect((await tipRequest(roomId, "sw-fx-fan", { kind: "custom", amount: "3.00" })).status).toBe(201);
    await runDurableObjectAlarm(stub);
    const merged = await viewer.next("tips.merged");
    expect(merged.merged).toMatchObject({ tipCount: 1, totalMinor: 300 });
    viewer.close();
  });
});

describe("unlocks paused", () => {
  const run = crypto.randomUUID().slice(0, 8);

  async function item(creatorId: string, price = "3.00"): Promise<string> {
    const res = await call("POST", "/v1/admin/content", {
      token: await token(`sw-unl-admin-${run}`, "admin"),
      body: { creatorId, kind: "article", title: "Paywalled", price },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id as string;
  }

  const unlock = async (userId: string, contentId: string) =>
    call("POST", `/v1/content/${contentId}/unlock`, { token: await token(userId), idempotencyKey: key(), body: {} });
  const unlockOrder = async (userId: string, contentId: string) =>
    call("POST", "/v1/payments/orders", {
      token: await token(userId),
      idempotencyKey: key(),
      body: { kind: "unlock", method: "sandbox", unlock: { contentId } },
    });
  const orderCount = (userId: string) =>
    countInLedger("SELECT COUNT(*) AS n FROM payment_orders WHERE user_id = ?", userId);

  it("per item, per creator and platform-wide: refused with switch_unlocks_paused before anything moves; cleared, it works", async () => {
    const creator = `sw-unl-creator-${run}`;
    const other = `sw-unl-other-${run}`;
    await goLive(creator);
    await goLive(other);
    const [a, b, c] = [await item(creator), await item(creator), await item(other)];
    const fan = `sw-unl-fan-${run}`;
    await fund(fan, "20.00");

    // One item: that item refused (wallet and a new order), the creator's other item unlocks.
    await setSwitch("unlocks_paused", `content:${a}`);
    switchCache.forget();
    const before = await ledgerSnapshot();
    const refused = await unlock(fan, a);
    expect({ status: refused.status, code: refused.body.error.code }).toEqual({
      status: 503,
      code: "switch_unlocks_paused",
    });
    const order = await unlockOrder(fan, a);
    expect({ status: order.status, code: order.body.error.code }).toEqual({
      status: 503,
      code: "switch_unlocks_paused",
    });
    expect(await ledgerSnapshot()).toBe(before);
    expect(await orderCount(fan)).toBe(0);
    expect((await unlock(fan, b)).status).toBe(201);
    expect((await clearSwitch("unlocks_paused", `content:${a}`)).status).toBe(200);

    // One creator: every item of theirs, no one else's.
    await setSwitch("unlocks_paused", `creator:${creator}`);
    switchCache.forget();
    expect((await unlock(fan, a)).body.error.code).toBe("switch_unlocks_paused");
    expect((await unlock(fan, c)).status).toBe(201);
    expect((await clearSwitch("unlocks_paused", `creator:${creator}`)).status).toBe(200);

    // Platform-wide (pinned in this isolate: other files share the store) and read-only both refuse.
    switchCache.pinForTests([pinned("unlocks_paused", { type: "platform" })]);
    expect((await unlock(fan, a)).body.error.code).toBe("switch_unlocks_paused");
    switchCache.pinForTests([pinned("read_only", { type: "platform" })]);
    expect((await unlock(fan, a)).body.error.code).toBe("switch_read_only");

    // Cleared: it works.
    switchCache.forget();
    const done = await unlock(fan, a);
    expect(done.status, JSON.stringify(done.body)).toBe(201);
    expect(await balanceOf(`user:${fan}:wallet`)).toBe(2_000 - 3 * 300);
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("tips on content honour the tip switches (platform, gift); unlock switches stop only unlocks", async () => {
    const creator = `sw-unl-tips-creator-${run}`;
    await goLive(creator);
    const contentId = await item(creator);
    const fan = `sw-unl-tips-fan-${run}`;
    await fund(fan, "20.00");
    const tipOn = async (giftId: string) =>
      call("POST", `/v1/content/${contentId}/tips`, {
        token: await token(fan),
        idempotencyKey: key(),
        body: { giftId, quantity: 1 },
      });
    switchCache.pinForTests([pinned("tips_paused", { type: "gift", id: "heart" })]);
    expect((await tipOn("heart")).body.error.code).toBe("switch_tips_paused");
    expect((await tipOn("rose")).status).toBe(201);
    switchCache.pinForTests([pinned("tips_paused", { type: "platform" })]);
    expect((await tipOn("rose")).body.error.code).toBe("switch_tips_paused");
    // Unlocks paused everywhere and for this creator: tips on the item go on, its unlock does not.
    switchCache.pinForTests([
      pinned("unlocks_paused", { type: "platform" }),
      pinned("unlocks_paused", { type: "creator", id: creator }),
    ]);
    expect((await tipOn("rose")).status).toBe(201);
    expect((await unlock(fan, contentId)).body.error.code).toBe("switch_unlocks_paused");
  });

  it("a pay-to-unlock paid while unlocks are paused keeps the money in the wallet, and the order says so", async () => {
    const creator = `sw-unl-paid-creator-${run}`;
    await goLive(creator);
    const contentId = await item(creator, "4.00");
    const payer = `sw-unl-payer-${run}`;
    const made = await unlockOrder(payer, contentId);
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const order = made.body.order;
    // Paused after the order was made, before its payment lands.
    await setSwitch("unlocks_paused", `content:${contentId}`);
    switchCache.forget();
    expect((await paid(order)).status).toBe(200);
    const view = await until(
      async () => (await call("GET", `/v1/payments/orders/${order.id}`, { token: await token(payer) })).body.order,
      (o) => o?.unlock?.outcome !== null && o?.unlock?.outcome !== undefined,
    );
    expect(view.state).toBe("succeeded");
    expect(view.unlock).toEqual({
      contentId,
      unlockId: `unl_${order.id.slice("order_".length)}`,
      outcome: "switch_unlocks_paused",
    });
    expect(await balanceOf(`user:${payer}:wallet`)).toBe(400);
    expect(
      await countInLedger(
        "SELECT COUNT(*) AS n FROM entitlements WHERE user_id = ? AND content_id = ?",
        payer,
        contentId,
      ),
    ).toBe(0);
    expect((await clearSwitch("unlocks_paused", `content:${contentId}`)).status).toBe(200);
    // The money is the payer's: once unlocks resume, the wallet pays for the item.
    switchCache.forget();
    expect((await unlock(payer, contentId)).status).toBe(201);
    expect(await balanceOf(`user:${payer}:wallet`)).toBe(0);
    expect((await invariantReport()).violations).toEqual([]);
  });
});

/** A count summed over the ledger shards. */
async function countInLedger(sql: string, ...params: unknown[]): Promise<number> {
  let n = 0;
  for (const { name, db } of await allDatabases()) {
    if (name === "control") continue;
    const row = await db
      .prepare(sql)
      .bind(...params)
      .first<{ n: number }>();
    n += row?.n ?? 0;
  }
  return n;
}

describe("the admin API", () => {
  it("lists, validates and versions switches", async () => {
    const ops = await operatorToken();
    const set = await setSwitch("claims_tightened", "room:sw-admin-room", {
      value: 3,
      expiresAtMs: Date.now() + 60_000,
    });
    expect(set.switch).toMatchObject({ kind: "claims_tightened", scope: "room:sw-admin-room", value: 3, active: true });
    expect(set.effectiveByMs - Date.now()).toBeLessThanOrEqual(LIMITS.switchPropagationMaxMs);
    const again = await setSwitch("claims_tightened", "room:sw-admin-room", { value: 2 });
    expect(again.before).toMatchObject({ value: 3 });
    expect(again.version).toBeGreaterThan(set.version);
    const list = await call("GET", "/v1/admin/switches", { token: ops });
    expect(list.body.switches).toContainEqual(expect.objectContaining({ scope: "room:sw-admin-room", value: 2 }));
    expect(list.body.propagationMaxMs).toBe(LIMITS.switchPropagationMaxMs);

    const bad = [
      ["read_only", "room:x", {}],
      ["claims_tightened", "room:x", {}],
      ["tips_paused", "room:x", { value: 3 }],
      ["payment_channel_out", "channel:nope", {}],
      ["tips_paused", "room:x", { expiresAtMs: 1 }],
      ["unlocks_paused", "room:x", {}],
      ["tips_paused", "content:x", {}],
    ] as const;
    for (const [kind, scope, body] of bad) {
      const res = await call("PUT", `/v1/admin/switches/${kind}/${encodeURIComponent(scope)}`, {
        token: ops,
        body: { reason: "bad", ...body },
      });
      expect({ kind, scope, status: res.status, code: res.body.error.code }).toEqual({
        kind,
        scope,
        status: 400,
        code: "malformed_request",
      });
    }
    const viewer = await call("GET", "/v1/admin/switches", { token: await token("sw-admin-viewer") });
    expect(viewer.status).toBe(403);
    const cleared = await clearSwitch("claims_tightened", "room:sw-admin-room");
    expect(cleared.body).toMatchObject({ switch: null, before: { value: 2 } });
  });
});
