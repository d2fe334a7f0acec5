/**
 * The gateway's rate limits (domain/rate-limits.ts) on the simulated Workers Rate Limiting
 * bindings: Miniflare counts in fixed windows of the binding's period, for real wall-clock time,
 * in storage shared by every file of the project — so each test counts under its own fresh user
 * and address, and a burst that straddles a window boundary (the counter resets mid-way) is run
 * again under fresh keys rather than asserted on.
 */

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../src/domain/limits";
import { RATE_LIMITS, type RateLimitName } from "../../src/domain/rate-limits";
import { balanceOf, call, fund, key, openRoom, type Reply, shardDbOf, token } from "./helpers";

/**
 * The limit a binding has in this project: production's (wrangler.toml), or the lower one
 * vitest.config.ts gives the limits counted by client address, which only this file reaches.
 */
const testOverrides = JSON.parse(env.TEST_RATE_LIMITS) as Record<string, { simple: { limit: number; period: number } }>;
function limitOf(name: RateLimitName): number {
  const override = testOverrides[RATE_LIMITS[name].binding];
  if (override) expect(override.simple.period).toBe(RATE_LIMITS[name].periodS);
  return override?.simple.limit ?? RATE_LIMITS[name].limit;
}

const tag = () => Math.random().toString(36).slice(2, 10);
/** A fresh client address: this file's requests are the only ones counted under it. */
const freshIp = () =>
  `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}:${Math.floor(Math.random() * 0xffff).toString(16)}::1`;

/**
 * Runs `burst` (fresh keys each time) until it fits one window of `periodS` seconds: a burst
 * cut by a window boundary proves nothing either way.
 */
async function inOneWindow<T>(periodS: number, burst: () => Promise<T>, burstMs = 1_500): Promise<T> {
  const periodMs = periodS * 1000;
  for (let attempt = 0; attempt < 4; attempt++) {
    const windowOf = () => Math.floor(Date.now() / periodMs);
    // Started with about `burstMs` left in the window at least, else at the next window's start.
    const leftMs = periodMs - (Date.now() % periodMs);
    if (leftMs < Math.min(burstMs, periodMs - 500)) await new Promise((r) => setTimeout(r, leftMs + 20));
    const started = windowOf();
    const result = await burst();
    if (windowOf() === started) return result;
  }
  throw new Error("no burst fitted one rate-limit window in four tries");
}

/** About how long a burst of a few hundred requests takes here (2 cores shared). */
const BIG_BURST_MS = 4_000;

/** Fires `n` requests at once and returns them in order. */
function fire(n: number, request: (i: number) => Promise<Reply>): Promise<Reply[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => request(i)));
}

function expectRateLimited(reply: Reply, name: RateLimitName) {
  expect(reply.status).toBe(429);
  expect(reply.body.error.code).toBe("rate_limited");
  expect(reply.body.error.details).toEqual({ limit: name });
  expect(reply.headers.get("retry-after")).toBe(String(RATE_LIMITS[name].periodS));
}

/** Each money route, a body the validators refuse (400, nothing done) and its per-user limit. */
const MONEY_ROUTES: {
  name: string;
  limit: RateLimitName;
  roles: ("viewer" | "creator")[];
  path: (room: string) => string;
}[] = [
  { name: "POST tips", limit: "tips", roles: ["viewer"], path: (room) => `/v1/rooms/${room}/tips` },
  { name: "POST red packets", limit: "packets", roles: ["viewer"], path: (room) => `/v1/rooms/${room}/red-packets` },
  {
    name: "POST red-packet claims",
    limit: "packets",
    roles: ["viewer"],
    path: (room) => `/v1/rooms/${room}/red-packets/pkt_01JDEM00000000000000000000/claims`,
  },
  { name: "POST payment orders", limit: "payments", roles: ["viewer"], path: () => "/v1/payments/orders" },
  { name: "POST withdrawals", limit: "withdrawals", roles: ["creator"], path: () => "/v1/creators/me/withdrawals" },
];

const MALFORMED = { notAField: "rate-limit probe" };

describe("per-user limits on money routes", () => {
  let roomId: string;

  it.each(MONEY_ROUTES)(
    "$name: the (N+1)th request of a user in a window is refused with 429 and Retry-After",
    async (route) => {
      roomId ??= await openRoom(`rl-creator-${tag()}`);
      const limit = limitOf(route.limit);
      const { within, over, other } = await inOneWindow(RATE_LIMITS[route.limit].periodS, async () => {
        const [t, otherToken] = await Promise.all([
          token(`rl-u-${tag()}`, ...route.roles),
          token(`rl-u-${tag()}`, ...route.roles),
        ]);
        const send = (bearer: string) =>
          call("POST", route.path(roomId), { token: bearer, idempotencyKey: key(), body: MALFORMED });
        const within = await fire(limit, () => send(t));
        return { within, over: await send(t), other: await send(otherToken) };
      });
      // Up to the limit the requests reach validation (refused there: nothing is done)…
      expect(within.map((r) => r.status)).toEqual(within.map(() => 400));
      // …the next one is refused before it, and another user is not affected.
      expectRateLimited(over, route.limit);
      expect(other.status).toBe(400);
    },
  );

  it("a refused tip moves nothing: the wallet is unchanged and no tip exists", async () => {
    const room = await openRoom(`rl-tip-creator-${tag()}`);
    const viewer = `rl-tipper-${tag()}`;
    await fund(viewer, "10.00");
    const t = await token(viewer);
    const before = await balanceOf(`user:${viewer}:wallet`);
    const tip = (k: string) =>
      call("POST", `/v1/rooms/${room}/tips`, { token: t, idempotencyKey: k, body: { kind: "custom", amount: "1.00" } });
    const refusedKey = key();
    const refused = await inOneWindow(RATE_LIMITS.tips.periodS, async () => {
      await fire(limitOf("tips"), () =>
        call("POST", `/v1/rooms/${room}/tips`, { token: t, idempotencyKey: key(), body: MALFORMED }),
      );
      return tip(refusedKey);
    });
    expectRateLimited(refused, "tips");
    expect(await balanceOf(`user:${viewer}:wallet`)).toBe(before);
    // Nothing was kept under its key either: once the window has passed, the same request is a
    // first one, and moves the money once.
    const periodMs = RATE_LIMITS.tips.periodS * 1000;
    await new Promise((r) => setTimeout(r, periodMs - (Date.now() % periodMs) + 50));
    const retried = await tip(refusedKey);
    expect(retried.status).toBe(201);
    expect(retried.headers.get("idempotent-replayed")).toBeNull();
    expect(await balanceOf(`user:${viewer}:wallet`)).toBe(before - 100);
  });

  it("a refused red packet moves nothing", async () => {
    const room = await openRoom(`rl-rp-creator-${tag()}`);
    const sender = `rl-sender-${tag()}`;
    await fund(sender, "10.00");
    const t = await token(sender);
    const refused = await inOneWindow(RATE_LIMITS.packets.periodS, async () => {
      await fire(limitOf("packets"), () =>
        call("POST", `/v1/rooms/${room}/red-packets`, { token: t, idempotencyKey: key(), body: MALFORMED }),
      );
      return call("POST", `/v1/rooms/${room}/red-packets`, {
        token: t,
        idempotencyKey: key(),
        body: { total: "5.00", shares: 2 },
      });
    });
    expectRateLimited(refused, "packets");
    expect(await balanceOf(`user:${sender}:wallet`)).toBe(1000);
  });

  it("a refused payment order opens no order", async () => {
    const user = `rl-payer-${tag()}`;
    const t = await token(user);
    const refused = await inOneWindow(RATE_LIMITS.payments.periodS, async () => {
      await fire(limitOf("payments"), () =>
        call("POST", "/v1/payments/orders", { token: t, idempotencyKey: key(), body: MALFORMED }),
      );
      return call("POST", "/v1/payments/orders", {
        token: t,
        idempotencyKey: key(),
        body: { kind: "topup", method: "sandbox", amount: "5.00" },
      });
    });
    expectRateLimited(refused, "payments");
    const orders = await (await shardDbOf(user))
      .prepare("SELECT COUNT(*) AS n FROM payment_orders WHERE user_id = ?")
      .bind(user)
      .first<{ n: number }>();
    expect(orders?.n).toBe(0);
  });
});

describe("the per-address limit on money routes", () => {
  it("counts every money route of every user from one address, and no other address", async () => {
    const room = await openRoom(`rl-ip-creator-${tag()}`);
    const limit = limitOf("moneyIp");
    // Users enough that none reaches a per-user limit.
    const users = Math.ceil(limit / (limitOf("packets") - 1));
    const { within, over, elsewhere, sameUserElsewhere } = await inOneWindow(
      RATE_LIMITS.moneyIp.periodS,
      async () => {
        const ip = freshIp();
        const tokens = await Promise.all(Array.from({ length: users + 1 }, () => token(`rl-ip-${tag()}`)));
        const send = (bearer: string, from: string, i: number) =>
          call("POST", i % 2 === 0 ? `/v1/rooms/${room}/tips` : `/v1/rooms/${room}/red-packets`, {
            token: bearer,
            idempotencyKey: key(),
            body: MALFORMED,
            headers: { "cf-connecting-ip": from },
          });
        const within = await fire(limit, (i) => send(tokens[i % users] as string, ip, i));
        const fresh = tokens[users] as string;
        return {
          within,
          over: await send(fresh, ip, 0),
          elsewhere: await send(fresh, freshIp(), 0),
          sameUserElsewhere: await send(tokens[0] as string, freshIp(), 0),
        };
      },
      BIG_BURST_MS,
    );
    expect(within.filter((r) => r.status !== 400)).toEqual([]);
    // A user who sent nothing yet is refused from that address: the address is over its limit.
    expectRateLimited(over, "moneyIp");
    expect(elsewhere.status).toBe(400);
    expect(sameUserElsewhere.status).toBe(400);
  });

  it("counts an IPv6 client by its /64", async () => {
    const room = await openRoom(`rl-v6-creator-${tag()}`);
    const limit = limitOf("moneyIp");
    const users = Math.ceil(limit / (limitOf("tips") - 1));
    const over = await inOneWindow(
      RATE_LIMITS.moneyIp.periodS,
      async () => {
        const prefix = `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}:7`;
        const tokens = await Promise.all(Array.from({ length: users + 1 }, () => token(`rl-v6-${tag()}`)));
        await fire(limit, (i) =>
          call("POST", `/v1/rooms/${room}/tips`, {
            token: tokens[i % users] as string,
            idempotencyKey: key(),
            body: MALFORMED,
            // A fresh address in the same /64 for every request.
            headers: { "cf-connecting-ip": `${prefix}:${i.toString(16)}:1:2:3` },
          }),
        );
        return call("POST", `/v1/rooms/${room}/tips`, {
          token: tokens[users] as string,
          idempotencyKey: key(),
          body: MALFORMED,
          headers: { "cf-connecting-ip": `${prefix}::ffff` },
        });
      },
      BIG_BURST_MS,
    );
    expectRateLimited(over, "moneyIp");
  });
});

describe("failed authentications per address", () => {
  const limit = limitOf("authFailures");
  const wallet = (userId: string) => `/v1/users/${userId}/wallet`;

  it("past the limit, the address is refused with 429 before verifying, even a valid token; other addresses are not", async () => {
    const user = `rl-auth-${tag()}`;
    const good = await token(user);
    const { failures, over, validFromThere, validElsewhere } = await inOneWindow(
      RATE_LIMITS.authFailures.periodS,
      async () => {
        const ip = freshIp();
        const from = (bearer: string, addr: string) =>
          call("GET", wallet(user), { token: bearer, headers: { "cf-connecting-ip": addr } });
        const failures = await fire(limit, (i) => from(i % 2 === 0 ? "not.a.token" : `${good}x`, ip));
        return {
          failures,
          over: await from("still.not.valid", ip),
          validFromThere: await from(good, ip),
          validElsewhere: await from(good, freshIp()),
        };
      },
    );
    expect(failures.map((r) => r.body.error.code)).toEqual(failures.map(() => "unauthenticated"));
    expectRateLimited(over, "authFailures");
    expectRateLimited(validFromThere, "authFailures");
    expect(validElsewhere.status).toBe(200);
  });

  it("counts operator credentials refused on operator routes too", async () => {
    const over = await inOneWindow(RATE_LIMITS.authFailures.periodS, async () => {
      const ip = freshIp();
      await fire(limit, () =>
        call("GET", "/v1/admin/ledger/invariants", {
          token: "forged.operator.token",
          headers: { "cf-connecting-ip": ip },
        }),
      );
      return call("GET", "/v1/admin/ledger/invariants", {
        token: "forged.operator.token",
        headers: { "cf-connecting-ip": ip },
      });
    });
    expectRateLimited(over, "authFailures");
  });

  it("does not count requests that present no credential", async () => {
    const ip = freshIp();
    const bare = await fire(limit + 5, () => call("GET", wallet("rl-nobody"), { headers: { "cf-connecting-ip": ip } }));
    expect(new Set(bare.map((r) => r.status))).toEqual(new Set([401]));
    const failure = await call("GET", wallet("rl-nobody"), { token: "bad.token", headers: { "cf-connecting-ip": ip } });
    expect(failure.status).toBe(401);
  });

  it("without CF-Connecting-IP (local tests only) failures are answered 401, never counted", async () => {
    const replies = await fire(limit + 5, () => call("GET", wallet("rl-nobody"), { token: "bad.token" }));
    expect(new Set(replies.map((r) => r.status))).toEqual(new Set([401]));
  });
});

describe("callbacks per channel and source address", () => {
  const limit = limitOf("callbacks");
  const post = (path: string, ip: string) =>
    call("POST", path, { rawBody: "{}", headers: { "content-type": "application/json", "cf-connecting-ip": ip } });

  it("refuses a source past its limit with 429 before reading the body, and no other source or channel", async () => {
    const { within, over, payoutOver, otherSource, otherChannel } = await inOneWindow(
      RATE_LIMITS.callbacks.periodS,
      async () => {
        const ip = freshIp();
        // An unknown channel: answered 404 at once, so the burst stores nothing.
        const within = await fire(limit, () => post("/v1/payments/callbacks/no-such-channel", ip));
        return {
          within,
          over: await post("/v1/payments/callbacks/another-unknown", ip),
          // Payment and payout callbacks of one channel and source count together.
          payoutOver: await post("/v1/payouts/callbacks/no-such-channel", ip),
          otherSource: await post("/v1/payments/callbacks/no-such-channel", freshIp()),
          otherChannel: await post("/v1/payments/callbacks/stripe", ip),
        };
      },
      BIG_BURST_MS,
    );
    expect(new Set(within.map((r) => r.body.error.code))).toEqual(new Set(["channel_not_found"]));
    expectRateLimited(over, "callbacks");
    expectRateLimited(payoutOver, "callbacks");
    expect(otherSource.body.error.code).toBe("channel_not_found");
    expect(otherChannel.status).not.toBe(429);
  });

  it("stores nothing for a refused callback", async () => {
    const stored = async (body: string) =>
      (
        await env.CONTROL.prepare("SELECT COUNT(*) AS n FROM payment_notifications WHERE body_base64 = ?")
          .bind(btoa(body))
          .first<{ n: number }>()
      )?.n ?? 0;
    const post = (from: string, body: string) =>
      call("POST", "/v1/payments/callbacks/sandbox", {
        rawBody: body,
        headers: { "content-type": "application/json", "cf-connecting-ip": from },
      });
    // The burst: bodies over the callback size limit, refused (413) before they are read or
    // stored — cheap, and counted all the same, since the limit comes first.
    const oversized = "x".repeat(LIMITS.callbackBodyMaxBytes + 1);
    const { refused, marked } = await inOneWindow(
      RATE_LIMITS.callbacks.periodS,
      async () => {
        const ip = freshIp();
        const within = await fire(limit, () => post(ip, oversized));
        expect(new Set(within.map((r) => r.status))).toEqual(new Set([413]));
        // A forged callback of ordinary size, which the route would have stored (as refused).
        const marked = JSON.stringify({ marker: `rl-cb-${tag()}` });
        return { refused: await post(ip, marked), marked };
      },
      BIG_BURST_MS,
    );
    expectRateLimited(refused, "callbacks");
    expect(await stored(marked)).toBe(0);
    // The same callback from another source is taken and stored.
    expect((await post(freshIp(), marked)).status).not.toBe(429);
    expect(await stored(marked)).toBe(1);
  });
});
