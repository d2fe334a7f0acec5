/**
 * Risk (issue 16) end to end: rules decided at the edge for tips (both commit paths) and
 * top-ups, per-subject desks counting velocity, decisions recorded in the actor's shard, and
 * the audited admin routes.
 *
 * The control database is shared by every test file, and a rule for every tip written there
 * would refuse other files' tips: such rules are pinned in this file's isolate
 * (`riskCache.pinForTests`). Rules written through the API here only read lists of this file's
 * own devices and addresses, which no other file sends.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { riskCache } from "../../src/db/risk";
import { accountAddress } from "../../src/domain/accounts";
import { type RiskRule, RiskRuleSchema } from "../../src/domain/risk/rules";
import {
  BASE,
  balanceOf,
  call,
  fund,
  invariantReport,
  key,
  ledger,
  openRoom,
  setPin,
  shardDbOf,
  TEST_PIN,
  token,
  until,
  withPin,
} from "./helpers";
import { payableCreator } from "./money-out-support";
import { SocketProbe } from "./socket-probe";

afterEach(() => riskCache.forget());

const run = Math.random().toString(36).slice(2, 8);
const id = (name: string) => `risk-${run}-${name}`;

function rule(r: Record<string, unknown>): RiskRule {
  return RiskRuleSchema.parse({ enabled: true, outcome: "block", ...r });
}

const rose = { kind: "gift", giftId: "rose", quantity: 1 } as const;

function tip(roomId: string, as: string, headers: Record<string, string> = {}, body: unknown = rose) {
  return call("POST", `/v1/rooms/${roomId}/tips`, { token: as, body, idempotencyKey: key(), headers });
}

/** A tip through the direct commit path (TIP_COMMIT=direct), as the dev Worker serves it. */
async function directTip(roomId: string, as: string, headers: Record<string, string> = {}) {
  const { default: devWorker } = await import("../../dev/giftwire-dev");
  const ctx = createExecutionContext();
  const res = await devWorker.fetch(
    new Request(`${BASE}/v1/rooms/${roomId}/tips`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${as}`,
        "idempotency-key": key(),
        "content-type": "application/json",
        ...headers,
      },
      body: JSON.stringify(rose),
    }),
    { ...env, TIP_COMMIT: "direct" },
    ctx,
  );
  const body = (await res.json()) as any;
  await waitOnExecutionContext(ctx);
  return { status: res.status, body };
}

async function tipRows(viewerIds: readonly string[]): Promise<Map<string, number>> {
  const l = await ledger();
  const counts = new Map<string, number>();
  for (const shard of l.shards) {
    const { results } = await shard.db
      .prepare(
        "SELECT viewer_id, COUNT(*) AS n FROM tips WHERE viewer_id IN (SELECT value FROM json_each(?)) GROUP BY viewer_id",
      )
      .bind(JSON.stringify(viewerIds))
      .all<{ viewer_id: string; n: number }>();
    for (const r of results) counts.set(r.viewer_id, (counts.get(r.viewer_id) ?? 0) + r.n);
  }
  return counts;
}

async function decisionsOf(userId: string) {
  const res = await call("GET", `/v1/admin/risk/decisions?userId=${userId}&limit=100`, {
    token: await token(id("auditor"), "auditor"),
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.decisions as {
    outcome: string;
    action: string;
    deviceId: string | null;
    fired: { ruleId: string; reason: string; detail: string }[];
  }[];
}

async function inChunks<T>(items: readonly T[], size: number, each: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(each));
}

describe("risk on tips", () => {
  it("a tip storm: tips from blacklisted devices and over their velocity all fail, every other passes, the ledger holds exactly those", async () => {
    const VELOCITY = 3;
    riskCache.pinForTests(
      [
        rule({ id: "storm-device", kind: "blacklist", list: "device" }),
        rule({ id: "storm-velocity", kind: "velocity", action: "tip", scope: "user", count: VELOCITY, windowSec: 60 }),
      ],
      [
        { kind: "device", value: id("bad-dev-0") },
        { kind: "device", value: id("bad-dev-1") },
      ],
    );
    const roomId = await openRoom(id("storm-creator"));
    // 200 tips: 10 (5%) from blacklisted devices, 10 (5%) past their senders' velocity, 180 others.
    const blacklisted = Array.from({ length: 5 }, (_, i) => id(`bl-${i}`));
    const fast = Array.from({ length: 5 }, (_, i) => id(`fast-${i}`));
    const normal = Array.from({ length: 55 }, (_, i) => id(`ok-${i}`));
    const everyone = [...blacklisted, ...fast, ...normal];
    await inChunks(everyone, 8, (u) => fund(u, "10.00"));
    const tokens = new Map(await Promise.all(everyone.map(async (u) => [u, await token(u)] as const)));
    const sends: { user: string; kind: "blacklisted" | "fast" | "normal"; headers: Record<string, string> }[] = [
      ...blacklisted.flatMap((u, i) =>
        [0, 1].map(() => ({
          user: u,
          kind: "blacklisted" as const,
          headers: { "x-giftwire-device": id(`bad-dev-${i % 2}`) },
        })),
      ),
      ...fast.flatMap((u) =>
        Array.from({ length: VELOCITY + 2 }, () => ({ user: u, kind: "fast" as const, headers: {} })),
      ),
      ...normal.flatMap((u, i) =>
        Array.from({ length: VELOCITY }, () => ({
          user: u,
          kind: "normal" as const,
          headers: { "x-giftwire-device": id(`dev-${i}`) },
        })),
      ),
    ];
    expect(sends).toHaveLength(200);
    const replies = await Promise.all(sends.map((s) => tip(roomId, tokens.get(s.user) ?? "", s.headers)));

    const passed = new Map<string, number>();
    for (const [i, s] of sends.entries()) {
      const r = replies[i];
      if (r?.status === 201) passed.set(s.user, (passed.get(s.user) ?? 0) + 1);
      else if (s.kind !== "fast") expect(r?.status, JSON.stringify(r?.body)).toBe(s.kind === "blacklisted" ? 403 : 201);
      if (s.kind === "blacklisted") expect(r?.body.error.code).toBe("risk_blocked");
    }
    for (const u of blacklisted) expect(passed.get(u) ?? 0).toBe(0);
    for (const u of fast) expect(passed.get(u)).toBe(VELOCITY);
    for (const u of normal) expect(passed.get(u)).toBe(VELOCITY);
    const refused = replies.filter((r) => r.status !== 201);
    expect(refused).toHaveLength(20);
    expect(new Set(refused.map((r) => r.body.error.code))).toEqual(new Set(["risk_blocked"]));

    // The ledger: exactly the passed tips, and each wallet down by exactly them.
    const rows = await tipRows(everyone);
    for (const u of everyone) expect(rows.get(u) ?? 0, u).toBe(passed.get(u) ?? 0);
    for (const u of everyone) expect(await balanceOf(`user:${u}:wallet`), u).toBe(1_000 - 100 * (passed.get(u) ?? 0));
    expect((await invariantReport()).violations).toEqual([]);

    // Each refusal is recorded with the rule that fired and why.
    const fastDecisions = await until(
      () => decisionsOf(fast[0] ?? ""),
      (d) => d.length === 2,
    );
    expect(fastDecisions.map((d) => [d.outcome, d.action, d.fired.map((f) => f.ruleId)])).toEqual([
      ["block", "tip", ["storm-velocity"]],
      ["block", "tip", ["storm-velocity"]],
    ]);
    expect(fastDecisions[0]?.fired[0]?.reason).toBe("velocity:user");
    const blDecisions = await until(
      () => decisionsOf(blacklisted[0] ?? ""),
      (d) => d.length === 2,
    );
    expect(blDecisions[0]?.fired.map((f) => [f.ruleId, f.reason])).toEqual([["storm-device", "blacklist:device"]]);
    expect(blDecisions[0]?.deviceId).toBe(id("bad-dev-0"));
  });

  it("a velocity rule of 30 tips per 10 s lets exactly 30 of 100 tips through, fired at once or one after another", async () => {
    riskCache.pinForTests([
      rule({ id: "velocity-30", kind: "velocity", action: "tip", scope: "user", count: 30, windowSec: 10 }),
    ]);
    const roomId = await openRoom(id("velocity-creator"));
    const together = id("together");
    const inTurn = id("in-turn");
    await fund(together, "200.00");
    await fund(inTurn, "200.00");
    // One token, made before the burst: the 100 must reach the desk well inside the 10 s window
    // even on a loaded machine (one arriving 10 s after the first admitted one would rightly pass).
    const togetherToken = await token(together);
    const concurrent = await Promise.all(Array.from({ length: 100 }, () => tip(roomId, togetherToken)));
    expect(concurrent.filter((r) => r.status === 201)).toHaveLength(30);
    expect(new Set(concurrent.filter((r) => r.status !== 201).map((r) => r.body.error.code))).toEqual(
      new Set(["risk_blocked"]),
    );
    const t = await token(inTurn);
    const started = Date.now();
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++) statuses.push((await tip(roomId, t)).status);
    // All 100 inside one window: the 31st and later are refused.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(statuses.slice(0, 30)).toEqual(Array(30).fill(201));
    expect(statuses.slice(30)).toEqual(Array(70).fill(403));
    const rows = await tipRows([together, inTurn]);
    expect([rows.get(together), rows.get(inTurn)]).toEqual([30, 30]);
    expect(await balanceOf(`user:${together}:wallet`)).toBe(20_000 - 3_000);
  });

  it("the direct commit path decides the same way, and a refused tip moves nothing", async () => {
    riskCache.pinForTests(
      [
        rule({ id: "direct-device", kind: "blacklist", list: "device" }),
        rule({ id: "direct-velocity", kind: "velocity", action: "tip", scope: "user", count: 2, windowSec: 60 }),
      ],
      [{ kind: "device", value: id("direct-bad") }],
    );
    const roomId = await openRoom(id("direct-creator"));
    const viewer = id("direct-viewer");
    await fund(viewer, "10.00");
    const t = await token(viewer);
    const blocked = await directTip(roomId, t, { "x-giftwire-device": id("direct-bad") });
    expect([blocked.status, blocked.body.error.code]).toEqual([403, "risk_blocked"]);
    expect((await directTip(roomId, t)).status).toBe(201);
    expect((await directTip(roomId, t)).status).toBe(201);
    const third = await directTip(roomId, t);
    expect([third.status, third.body.error.code]).toEqual([403, "risk_blocked"]);
    expect((await tipRows([viewer])).get(viewer)).toBe(2);
    expect(await balanceOf(`user:${viewer}:wallet`)).toBe(800);
  });

  it("an unverified adult over the cap is held for review with the money; a verified adult (the `adult: true` claim) is not", async () => {
    riskCache.pinForTests([rule({ id: "adult-cap", kind: "unverified_adult_cap", maxMinor: 500, outcome: "review" })]);
    const roomId = await openRoom(id("adult-creator"));
    const minorish = id("unverified");
    const adult = id("adult");
    await fund(minorish, "20.00");
    await fund(adult, "20.00");
    const big = { kind: "custom", amount: "6.00" };
    const held = await tip(roomId, await token(minorish), {}, big);
    expect([held.status, held.body.heldTip?.state, held.body.walletBalanceMinor]).toEqual([202, "held", 1_400]);
    expect((await tip(roomId, await token(minorish), {}, { ...big, amount: "5.00" })).status).toBe(201);
    const { mintToken } = await import("../../dev/tokens");
    const { config } = await import("./helpers");
    const adultToken = await mintToken(config, { userId: adult, roles: ["viewer"] }, Date.now(), 3600, { adult: true });
    expect((await tip(roomId, adultToken, {}, big)).status).toBe(201);
    // 6.00 held (not tipped), 5.00 tipped.
    expect(await balanceOf(`user:${minorish}:wallet`)).toBe(900);
    expect(await balanceOf(`user:${minorish}:held`)).toBe(600);
    const decisions = await until(
      () => decisionsOf(minorish),
      (d) => d.length === 1,
    );
    expect(decisions[0]?.outcome).toBe("review");
    expect(decisions[0]?.fired[0]?.detail).toBe("600 above 500 without a verified adult");
  });

  it("a challenge answers risk_challenge (428); the same tip with the right PIN passes, a wrong PIN does not", async () => {
    riskCache.pinForTests([
      rule({ id: "challenge-cap", kind: "amount_cap", action: "tip", maxMinor: 200, outcome: "challenge" }),
    ]);
    const roomId = await openRoom(id("challenge-creator"));
    const viewer = id("challenged");
    await fund(viewer, "10.00");
    const t = await token(viewer);
    const ask = { kind: "gift", giftId: "rose", quantity: 3 };
    const k = key();
    const send = (body: unknown) => call("POST", `/v1/rooms/${roomId}/tips`, { token: t, body, idempotencyKey: k });
    const res = await send(ask);
    expect([res.status, res.body.error.code]).toEqual([428, "risk_challenge"]);
    expect(await balanceOf(`user:${viewer}:wallet`)).toBe(1_000);
    await setPin(viewer);
    const wrong = await send({ ...ask, pin: "975310" });
    expect([wrong.status, wrong.body.error.code]).toEqual([403, "pin_incorrect"]);
    expect(await balanceOf(`user:${viewer}:wallet`)).toBe(1_000);
    const answered = await send({ ...ask, pin: TEST_PIN });
    expect(answered.status).toBe(201);
    expect(await balanceOf(`user:${viewer}:wallet`)).toBe(1_000 - answered.body.tip.amountMinor);
  });
});

describe("risk on top-ups", () => {
  it("a top-up over the new users' cap is refused before any order exists; under it, the order is made", async () => {
    riskCache.pinForTests([
      rule({ id: "topup-new", kind: "amount_cap", action: "topup", maxMinor: 50_000, newUserDays: 7 }),
      rule({ id: "topup-velocity", kind: "velocity", action: "topup", scope: "user", count: 2, windowSec: 60 }),
    ]);
    const payer = id("payer");
    const t = await token(payer);
    const order = (amount: string) =>
      call("POST", "/v1/payments/orders", {
        token: t,
        idempotencyKey: key(),
        body: { kind: "topup", method: "sandbox", amount },
      });
    const big = await order("600.00");
    expect([big.status, big.body.error.code]).toEqual([403, "risk_blocked"]);
    expect((await order("100.00")).status).toBe(201);
    expect((await order("100.00")).status).toBe(201);
    const third = await order("100.00");
    expect([third.status, third.body.error.code]).toEqual([403, "risk_blocked"]);
    const db = (await ledger()).forOwner(payer).db;
    expect(await db.prepare("SELECT COUNT(*) AS n FROM payment_orders WHERE user_id = ?").bind(payer).first("n")).toBe(
      2,
    );
    const decisions = await until(
      () => decisionsOf(payer),
      (d) => d.length === 2,
    );
    expect(decisions.map((d) => d.fired.map((f) => f.reason))).toEqual([["velocity:user"], ["amount_cap:new_user"]]);
  });
});

describe("a risk challenge answered with the payment PIN on top-ups and red packets", () => {
  it("a challenged top-up answers risk_challenge and makes no order; a wrong PIN spends a try; the right one, same key, makes it", async () => {
    riskCache.pinForTests([
      rule({ id: "topup-challenge", kind: "amount_cap", action: "topup", maxMinor: 10_000, outcome: "challenge" }),
    ]);
    const payer = id("topup-challenged");
    const t = await token(payer);
    const k = key();
    const order = (extra: Record<string, unknown> = {}) =>
      call("POST", "/v1/payments/orders", {
        token: t,
        idempotencyKey: k,
        body: { kind: "topup", method: "sandbox", amount: "200.00", ...extra },
      });
    const orders = async () =>
      (await ledger())
        .forOwner(payer)
        .db.prepare("SELECT COUNT(*) AS n FROM payment_orders WHERE user_id = ?")
        .bind(payer)
        .first("n");
    const challenged = await order();
    expect([challenged.status, challenged.body.error.code]).toEqual([428, "risk_challenge"]);
    expect(await orders()).toBe(0);
    await setPin(payer);
    const wrong = await order({ pin: "975310" });
    expect([wrong.status, wrong.body.error.code, wrong.body.error.details]).toEqual([
      403,
      "pin_incorrect",
      { triesLeft: 4 },
    ]);
    expect(await orders()).toBe(0);
    const answered = await order({ pin: TEST_PIN });
    expect(answered.status, JSON.stringify(answered.body)).toBe(201);
    expect(answered.body.order).toMatchObject({ kind: "topup", amountMinor: 20_000, state: "pending" });
    expect(await orders()).toBe(1);
    // The same key with the PIN again answers the same order (the PIN is not in the fingerprint).
    const again = await order({ pin: TEST_PIN });
    expect([again.status, again.body.order.id]).toEqual([200, answered.body.order.id]);
    // The unanswered challenge is recorded; the wrong PIN never reached risk, the answered one passed.
    const decisions = await until(
      () => decisionsOf(payer),
      (d) => d.length >= 1,
    );
    expect(decisions.map((d) => [d.action, d.outcome])).toEqual([["topup", "challenge"]]);
  });

  it("a challenged red packet holds nothing; a wrong PIN spends a try and the lock applies; the right one sends it under the same key", async () => {
    riskCache.pinForTests([
      rule({
        id: "packet-challenge",
        kind: "amount_cap",
        action: "packet_send",
        maxMinor: 1_000,
        outcome: "challenge",
      }),
    ]);
    const roomId = await openRoom(id("pkt-challenge-creator"));
    const sender = id("pkt-challenged");
    await fund(sender, "50.00");
    const t = await token(sender);
    const k = key();
    const send = (extra: Record<string, unknown> = {}, idempotencyKey = k) =>
      call("POST", `/v1/rooms/${roomId}/red-packets`, {
        token: t,
        idempotencyKey,
        body: { total: "20.00", shares: 2, ...extra },
      });
    const packets = async () =>
      (await ledger())
        .forOwner(sender)
        .db.prepare("SELECT COUNT(*) AS n FROM red_packets WHERE sender_id = ?")
        .bind(sender)
        .first("n");
    const challenged = await send();
    expect([challenged.status, challenged.body.error.code]).toEqual([428, "risk_challenge"]);
    expect(await balanceOf(`user:${sender}:wallet`)).toBe(5_000);
    await setPin(sender);
    const wrong = await send({ pin: "975310" });
    expect([wrong.status, wrong.body.error.code, wrong.body.error.details]).toEqual([
      403,
      "pin_incorrect",
      { triesLeft: 4 },
    ]);
    expect(await balanceOf(`user:${sender}:wallet`)).toBe(5_000);
    expect(await packets()).toBe(0);
    const answered = await send({ pin: TEST_PIN });
    expect(answered.status, JSON.stringify(answered.body)).toBe(201);
    expect(answered.body.packet.totalMinor).toBe(2_000);
    expect(await balanceOf(`user:${sender}:wallet`)).toBe(3_000);
    expect(await balanceOf(`packet:${answered.body.packet.id}:escrow`)).toBe(2_000);

    // Five wrong PINs on another challenged packet lock it: then even the right one is refused.
    const other = key();
    const codes: string[] = [];
    for (let i = 0; i < 5; i++) codes.push((await send({ pin: "975310" }, other)).body.error.code);
    expect(codes).toEqual(["pin_incorrect", "pin_incorrect", "pin_incorrect", "pin_incorrect", "pin_locked"]);
    const locked = await send({ pin: TEST_PIN }, other);
    expect([locked.status, locked.body.error.code]).toEqual([423, "pin_locked"]);
    expect(await balanceOf(`user:${sender}:wallet`)).toBe(3_000);
    expect(await packets()).toBe(1);
    expect((await invariantReport()).ok).toBe(true);
  });
});

describe("risk on red packets and withdrawals", () => {
  it("a packet above the send cap is refused with nothing held; a claimer over the claim velocity is refused before the room", async () => {
    riskCache.pinForTests([
      rule({ id: "packet-cap", kind: "amount_cap", action: "packet_send", maxMinor: 1_000 }),
      rule({ id: "claim-velocity", kind: "velocity", action: "packet_claim", scope: "user", count: 1, windowSec: 60 }),
    ]);
    const roomId = await openRoom(id("packet-creator"));
    const sender = id("packet-sender");
    await fund(sender, "50.00");
    const t = await token(sender);
    const send = (total: string) =>
      call("POST", `/v1/rooms/${roomId}/red-packets`, {
        token: t,
        idempotencyKey: key(),
        body: { total, shares: 2 },
      });
    const big = await send("20.00");
    expect([big.status, big.body.error.code]).toEqual([403, "risk_blocked"]);
    expect(await balanceOf(`user:${sender}:wallet`)).toBe(5_000);
    const first = await send("2.00");
    const second = await send("2.00");
    expect([first.status, second.status]).toEqual([201, 201]);
    const claimer = await token(id("claimer"));
    const claim = (packetId: string) =>
      call("POST", `/v1/rooms/${roomId}/red-packets/${packetId}/claims`, { token: claimer });
    expect((await claim(first.body.packet.id)).status).toBe(201);
    const again = await claim(second.body.packet.id);
    expect([again.status, again.body.error.code]).toEqual([403, "risk_blocked"]);
    const claims = await call("GET", `/v1/rooms/${roomId}/red-packets/${second.body.packet.id}/claims`, {
      token: claimer,
    });
    expect(claims.status, JSON.stringify(claims.body)).toBe(200);
    expect(claims.body.claims).toEqual([]);
  });

  it("a blacklisted device claims nothing over HTTP or the room socket; the shares stay for others; claim velocity holds on sockets too", async () => {
    const badDevice = id("claim-bad-dev");
    riskCache.pinForTests(
      [
        rule({ id: "claim-device", kind: "blacklist", list: "device" }),
        rule({ id: "claim-rate", kind: "velocity", action: "packet_claim", scope: "user", count: 1, windowSec: 60 }),
      ],
      [{ kind: "device", value: badDevice }],
    );
    const roomId = await openRoom(id("claim-creator"));
    const sender = id("claim-sender");
    await fund(sender, "20.00");
    const send = async () => {
      const res = await call("POST", `/v1/rooms/${roomId}/red-packets`, {
        token: await token(sender),
        idempotencyKey: key(),
        body: { total: "2.00", shares: 2 },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.packet.id as string;
    };
    const [packetId, secondId] = [await send(), await send()];
    const socketOf = async (userId: string, query = "", headers: Record<string, string> = {}) => {
      const socket = await SocketProbe.open(
        `/v1/rooms/${roomId}/live?access_token=${await token(userId)}${query}`,
        headers,
      );
      await socket.next("snapshot");
      return socket;
    };
    let requestSeq = 0;
    const claimOver = async (socket: SocketProbe, packet: string) => {
      const requestId = `risk-${++requestSeq}`;
      socket.send({ type: "packet.claim", packetId: packet, requestId });
      await socket.until((fs) => fs.some((f) => f.type === "packet.claim.result" && f.requestId === requestId));
      return socket.frames.find((f) => f.type === "packet.claim.result" && f.requestId === requestId);
    };
    const claimHttp = async (userId: string, packet: string, headers: Record<string, string> = {}) =>
      call("POST", `/v1/rooms/${roomId}/red-packets/${packet}/claims`, { token: await token(userId), headers });

    // The blacklisted device: over HTTP (its header), over a socket that named it in the query
    // (browsers cannot set headers on a socket), and over one that sent the header on its upgrade.
    const bad = id("claim-bad");
    const http = await claimHttp(bad, packetId, { "x-giftwire-device": badDevice });
    expect([http.status, http.body.error.code]).toEqual([403, "risk_blocked"]);
    const byQuery = await socketOf(bad, `&device=${badDevice}`);
    const refused = await claimOver(byQuery, packetId);
    expect(refused).toMatchObject({ ok: false, status: 403, error: { code: "risk_blocked" } });
    expect(refused.error.details.decisionId).toMatch(/^rsk_/);
    const bad2 = id("claim-bad-2");
    const byHeader = await socketOf(bad2, "", { "x-giftwire-device": badDevice });
    expect(await claimOver(byHeader, packetId)).toMatchObject({
      ok: false,
      status: 403,
      error: { code: "risk_blocked" },
    });
    const live = await call("GET", `/v1/rooms/${roomId}/red-packets/${packetId}`, { token: await token(sender) });
    expect(live.body.live.remainingShares).toBe(2);

    // Both shares go to others: one over HTTP, one over a socket.
    const good = await claimHttp(id("claim-good-1"), packetId, { "x-giftwire-device": id("claim-ok-dev") });
    expect(good.status, JSON.stringify(good.body)).toBe(201);
    const goodSocket = await socketOf(id("claim-good-2"), `&device=${id("claim-ok-dev-2")}`);
    expect(await claimOver(goodSocket, packetId)).toMatchObject({ ok: true, status: 201 });
    const claims = await call("GET", `/v1/rooms/${roomId}/red-packets/${packetId}/claims`, {
      token: await token(sender),
    });
    expect(claims.body.claims.map((c: { userId: string }) => c.userId).sort()).toEqual(
      [id("claim-good-1"), id("claim-good-2")].sort(),
    );
    // The claim velocity (1 per minute per user) is counted by the same desk for socket claims.
    const again = await claimOver(goodSocket, secondId);
    expect(again).toMatchObject({ ok: false, status: 403, error: { code: "risk_blocked" } });
    // A repeat of a claim the room already holds is answered without risk.
    expect(await claimOver(goodSocket, packetId)).toMatchObject({ ok: true, status: 200 });
    // The workers projects keep 2 viewer sockets in the room (ROOM_FAN_OUT_THRESHOLD): the third
    // and this fourth are on fan-out shards, which forward the frame with the socket's signals.
    const onShard = await socketOf(id("claim-bad-3"), `&device=${badDevice}`);
    const shardSockets = await Promise.all(
      [0, 1, 2].map((k) => env.ROOM_FAN_OUT.getByName(`${roomId}:${k}`).sockets()),
    );
    expect(shardSockets.reduce((a, b) => a + b, 0)).toBe(2);
    expect(await claimOver(onShard, secondId)).toMatchObject({
      ok: false,
      status: 403,
      error: { code: "risk_blocked" },
    });
    const second = await call("GET", `/v1/rooms/${roomId}/red-packets/${secondId}`, { token: await token(sender) });
    expect(second.body.live.remainingShares).toBe(2);

    const decisions = await until(
      () => decisionsOf(bad),
      (d) => d.length === 2,
    );
    expect(decisions.map((d) => [d.action, d.outcome, d.deviceId, d.fired.map((f) => f.reason)])).toEqual([
      ["packet_claim", "block", badDevice, ["blacklist:device"]],
      ["packet_claim", "block", badDevice, ["blacklist:device"]],
    ]);
    for (const s of [byQuery, byHeader, goodSocket, onShard]) s.close();
  });

  it("a withdrawal to a blacklisted payout account is refused before anything is held", async () => {
    const creatorId = id("wd-creator");
    const accountId = `pa_${creatorId}`;
    riskCache.pinForTests(
      [rule({ id: "payout-blacklist", kind: "blacklist", list: "payout_account" })],
      [{ kind: "payout_account", value: accountId }],
    );
    expect(await payableCreator(creatorId, 50_000)).toEqual({ accountId });
    const db = await shardDbOf(creatorId);
    const res = await call("POST", "/v1/creators/me/withdrawals", {
      token: await token(creatorId, "creator"),
      body: await withPin(creatorId, { amount: "200.00" }),
      idempotencyKey: key(),
    });
    expect([res.status, res.body.error.code]).toEqual([403, "risk_blocked"]);
    expect(await balanceOf(accountAddress.creatorAvailable(creatorId))).toBe(50_000);
    expect(
      await db.prepare("SELECT COUNT(*) AS n FROM withdrawals WHERE creator_id = ?").bind(creatorId).first("n"),
    ).toBe(0);
  });
});

describe("risk rules and lists through the admin API", () => {
  it("a risk operator's blacklist of a CIDR block is honoured within the cache bound, audited, and lifted again", async () => {
    const risk = await token(id("risk-op"), "risk");
    const ruleId = `cidr-${run}`;
    const put = await call("PUT", `/v1/admin/risk/rules/${ruleId}`, {
      token: risk,
      body: { kind: "blacklist", list: "cidr", outcome: "block", enabled: true, description: "test" },
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body.rule.rule).toMatchObject({ id: ruleId, kind: "blacklist", list: "cidr" });
    // A unique /29 of TEST-NET-2 per run: nobody else sends from it.
    const octet = 8 * Math.floor(Math.random() * 31);
    const added = await call("POST", "/v1/admin/risk/lists/cidr", {
      token: risk,
      body: { value: `198.51.100.${octet}/29`, reason: "card testing" },
    });
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    const changedAtMs = Date.now();

    const roomId = await openRoom(id("cidr-creator"));
    const viewer = id("cidr-viewer");
    await fund(viewer, "10.00");
    const t = await token(viewer);
    const inside = { "cf-connecting-ip": `198.51.100.${octet + 5}` };
    const refused = await until(
      () => tip(roomId, t, inside),
      (r) => r.status === 403,
    );
    expect(refused.body.error.code).toBe("risk_blocked");
    expect(Date.now() - changedAtMs).toBeLessThanOrEqual(put.body.effectiveByMs - changedAtMs + 1_000);
    expect((await tip(roomId, t, { "cf-connecting-ip": `198.51.100.${octet + 8}` })).status).toBe(201);

    const audit = await call(
      "GET",
      `/v1/admin/audit?action=risk_list.add&target=${encodeURIComponent(`cidr:198.51.100.${octet}/29`)}`,
      {
        token: await token(id("auditor"), "auditor"),
      },
    );
    expect(audit.status, JSON.stringify(audit.body)).toBe(200);
    expect(audit.body.items.map((e: any) => [e.actor, e.detail])).toEqual([
      [id("risk-op"), { before: null, after: { reason: "card testing" } }],
    ]);
    const ruleAudit = await call("GET", `/v1/admin/audit?action=risk_rule.put&target=${ruleId}`, {
      token: await token(id("auditor"), "auditor"),
    });
    expect(ruleAudit.body.items).toHaveLength(1);

    // Support reads rules but may not change them.
    const support = await token(id("support"), "support");
    expect((await call("GET", "/v1/admin/risk/rules", { token: support })).status).toBe(200);
    expect((await call("DELETE", `/v1/admin/risk/rules/${ruleId}`, { token: support })).status).toBe(403);

    const removed = await call("DELETE", `/v1/admin/risk/rules/${ruleId}`, { token: risk });
    expect(removed.status).toBe(200);
    expect(
      (
        await call("DELETE", `/v1/admin/risk/lists/cidr?value=${encodeURIComponent(`198.51.100.${octet}/29`)}`, {
          token: risk,
        })
      ).status,
    ).toBe(200);
    await until(
      () => tip(roomId, t, inside),
      (r) => r.status === 201,
    );
  });

  it("refuses a malformed rule or list entry and changes nothing", async () => {
    const risk = await token(id("risk-op-2"), "risk");
    const bad = await call("PUT", `/v1/admin/risk/rules/bad-${run}`, {
      token: risk,
      body: {
        kind: "velocity",
        outcome: "block",
        enabled: true,
        action: "tip",
        scope: "user",
        count: 0,
        windowSec: 10,
      },
    });
    expect([bad.status, bad.body.error.code]).toEqual([400, "malformed_request"]);
    const cidr = await call("POST", "/v1/admin/risk/lists/cidr", {
      token: risk,
      body: { value: "10.0.0.1/8", reason: "host bits set" },
    });
    expect([cidr.status, cidr.body.error.code]).toEqual([400, "malformed_request"]);
    const rules = await call("GET", "/v1/admin/risk/rules", { token: risk });
    expect(rules.body.rules.map((r: any) => r.rule.id)).not.toContain(`bad-${run}`);
    const missing = await call("DELETE", `/v1/admin/risk/rules/none-${run}`, { token: risk });
    expect([missing.status, missing.body.error.code]).toEqual([404, "risk_rule_not_found"]);
  });
});
