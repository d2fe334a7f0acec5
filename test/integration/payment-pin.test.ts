import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { mintToken } from "../../dev/tokens";
import { LIMITS } from "../../src/domain/limits";
import { configFrom } from "../../src/platform/config";
import {
  balanceOf,
  call,
  fund,
  invariantReport,
  key,
  ledgerSnapshot,
  openRoom,
  setPin,
  shardDbOf,
  TEST_PIN,
  token,
} from "./helpers";

const WRONG = "135790";

function user(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 12)}`;
}

async function tip(roomId: string, userId: string, body: Record<string, unknown>, idempotencyKey = key()) {
  return call("POST", `/v1/rooms/${roomId}/tips`, { token: await token(userId), idempotencyKey, body });
}

/** 200.01 is above the default per-tip password-free limit (200.00). */
const BIG = { kind: "custom", amount: "200.01" } as const;

async function status(userId: string) {
  return (await call("GET", "/v1/me/pin", { token: await token(userId) })).body;
}

/** A token from a sign-in `ageMs` ago (the OIDC auth_time claim). */
async function freshToken(userId: string, ageMs: number | null) {
  const nowMs = Date.now();
  return mintToken(
    configFrom(env),
    { userId, roles: ["viewer"] },
    nowMs,
    3600,
    ageMs === null ? {} : { auth_time: Math.floor((nowMs - ageMs) / 1000) },
  );
}

describe("payment PIN: set, change, state", () => {
  it("sets a first PIN, never answers it, and stores only a salted PBKDF2 hash", async () => {
    const u = user("pin-set");
    expect(await status(u)).toMatchObject({ set: false, lockedUntilMs: null, triesLeft: LIMITS.pinTriesMax });
    const res = await call("PUT", "/v1/me/pin", { token: await token(u), body: { pin: TEST_PIN } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ set: true, lockedUntilMs: null, triesLeft: 5 });
    expect(JSON.stringify(res.body)).not.toContain(TEST_PIN);
    const row = await (await shardDbOf(u))
      .prepare("SELECT * FROM payment_pins WHERE user_id = ?")
      .bind(u)
      .first<Record<string, unknown>>();
    expect(row).toMatchObject({ iterations: 100_000, tries_used: 0, locked_until_ms: 0 });
    expect(String(row?.hash_hex)).toMatch(/^[0-9a-f]{64}$/);
    expect(String(row?.salt_hex)).toMatch(/^[0-9a-f]{32}$/);
    expect(JSON.stringify(row)).not.toContain(TEST_PIN);
  });

  it("refuses trivial and malformed PINs with a clear code, and a second set without the old PIN", async () => {
    const u = user("pin-rules");
    const t = await token(u);
    for (const pin of ["111111", "123456", "654321"]) {
      const res = await call("PUT", "/v1/me/pin", { token: t, body: { pin } });
      expect([res.status, res.body.error.code]).toEqual([422, "pin_too_simple"]);
    }
    for (const pin of ["12345", "1234567", "12a456", 246810]) {
      const res = await call("PUT", "/v1/me/pin", { token: t, body: { pin } });
      expect([res.status, res.body.error.code]).toEqual([400, "malformed_request"]);
    }
    expect((await status(u)).set).toBe(false);
    await setPin(u);
    const again = await call("PUT", "/v1/me/pin", { token: t, body: { pin: "808182" } });
    expect([again.status, again.body.error.code]).toEqual([428, "pin_required"]);
  });

  it("changes the PIN only with the old one; a wrong old one counts as a try", async () => {
    const u = user("pin-change");
    const t = await token(u);
    await setPin(u);
    const wrong = await call("PUT", "/v1/me/pin", { token: t, body: { pin: "808182", oldPin: WRONG } });
    expect([wrong.status, wrong.body.error.code, wrong.body.error.details]).toEqual([
      403,
      "pin_incorrect",
      { triesLeft: 4 },
    ]);
    const changed = await call("PUT", "/v1/me/pin", { token: t, body: { pin: "808182", oldPin: TEST_PIN } });
    expect([changed.status, changed.body.triesLeft]).toEqual([200, 5]);
    const old = await call("PUT", "/v1/me/pin", { token: t, body: { pin: "909192", oldPin: TEST_PIN } });
    expect(old.body.error.code).toBe("pin_incorrect");
  });
});

describe("payment PIN above the password-free limits", () => {
  it("asks for the PIN, then sends with the right one under the same key; `confirmed` alone is refused", async () => {
    const roomId = await openRoom(user("pin-creator"));
    const u = user("pin-tipper");
    await fund(u, "1000.00");
    await setPin(u);
    const k = key();
    // A wrong PIN changes nothing but its counted try.
    const before = await ledgerSnapshot({ except: ["payment_pins"] });
    const asked = await tip(roomId, u, BIG, k);
    expect([asked.status, asked.body.error.code]).toEqual([428, "pin_required"]);
    const confirmed = await tip(roomId, u, { ...BIG, confirmed: true }, k);
    expect([confirmed.status, confirmed.body.error.code]).toEqual([400, "malformed_request"]);
    expect(JSON.stringify(confirmed.body.error.details)).toContain("confirmed");
    const wrong = await tip(roomId, u, { ...BIG, pin: WRONG }, k);
    expect([wrong.status, wrong.body.error.code, wrong.body.error.details]).toEqual([
      403,
      "pin_incorrect",
      { triesLeft: 4 },
    ]);
    expect(await ledgerSnapshot({ except: ["payment_pins"] })).toBe(before);
    const sent = await tip(roomId, u, { ...BIG, pin: TEST_PIN }, k);
    expect(sent.status).toBe(201);
    expect(sent.body.walletBalanceMinor).toBe(100_000 - 20_001);
    expect(JSON.stringify(sent.body)).not.toContain(TEST_PIN);
    // The right PIN started the count again; a replay by key answers the same tip.
    expect((await status(u)).triesLeft).toBe(5);
    const replay = await tip(roomId, u, { ...BIG, pin: TEST_PIN }, k);
    expect([replay.status, replay.body.tip.id]).toEqual([201, sent.body.tip.id]);
    expect(await balanceOf(`user:${u}:wallet`)).toBe(100_000 - 20_001);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("answers pin_not_set to a PIN from a user who has none", async () => {
    const roomId = await openRoom(user("pin-creator"));
    const u = user("pin-none");
    await fund(u, "1000.00");
    const res = await tip(roomId, u, { ...BIG, pin: TEST_PIN });
    expect([res.status, res.body.error.code]).toEqual([409, "pin_not_set"]);
  });

  it("locks after 5 wrong tries: the 6th, right, is refused with Retry-After until the lock runs out", async () => {
    const roomId = await openRoom(user("pin-creator"));
    const u = user("pin-lock");
    await fund(u, "1000.00");
    await setPin(u);
    const left: unknown[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await tip(roomId, u, { ...BIG, pin: WRONG });
      left.push([res.status, res.body.error.code, res.body.error.details.triesLeft]);
    }
    expect(left).toEqual([
      [403, "pin_incorrect", 4],
      [403, "pin_incorrect", 3],
      [403, "pin_incorrect", 2],
      [403, "pin_incorrect", 1],
    ]);
    const fifth = await tip(roomId, u, { ...BIG, pin: WRONG });
    expect([fifth.status, fifth.body.error.code]).toEqual([423, "pin_locked"]);
    const right = await tip(roomId, u, { ...BIG, pin: TEST_PIN });
    expect([right.status, right.body.error.code]).toEqual([423, "pin_locked"]);
    const retryAfterS = Number(right.headers.get("retry-after"));
    expect(retryAfterS).toBeGreaterThan(LIMITS.pinLockMs / 1000 - 60);
    expect(retryAfterS).toBeLessThanOrEqual(LIMITS.pinLockMs / 1000);
    expect(right.body.error.details.lockedUntilMs).toBeGreaterThan(Date.now());
    const state = await status(u);
    expect(state).toMatchObject({ set: true, triesLeft: 0 });
    expect(state.lockedUntilMs).toBe(right.body.error.details.lockedUntilMs);
    expect(await balanceOf(`user:${u}:wallet`)).toBe(100_000);

    // The lock runs out (its end moved into the past, as the clock would): a fresh count.
    await (await shardDbOf(u))
      .prepare("UPDATE payment_pins SET locked_until_ms = ? WHERE user_id = ?")
      .bind(Date.now() - 1, u)
      .run();
    expect(await status(u)).toMatchObject({ lockedUntilMs: null, triesLeft: 5 });
    const wrongAgain = await tip(roomId, u, { ...BIG, pin: WRONG });
    expect(wrongAgain.body.error.details).toEqual({ triesLeft: 4 });
    expect((await tip(roomId, u, { ...BIG, pin: TEST_PIN })).status).toBe(201);
    expect(await status(u)).toMatchObject({ lockedUntilMs: null, triesLeft: 5 });
    expect((await invariantReport()).ok).toBe(true);
  });

  it("gets nowhere by brute force in parallel: of 50 concurrent guesses at most 5 are evaluated", async () => {
    const roomId = await openRoom(user("pin-creator"));
    const u = user("pin-brute");
    await fund(u, "1000.00");
    await setPin(u, "808182");
    // 50 distinct guesses, the right one last among them: it must not get through.
    const guesses = Array.from({ length: 50 }, (_, i) => (i === 49 ? "808182" : String(900_000 + i * 37)));
    const replies = await Promise.all(guesses.map((pin) => tip(roomId, u, { ...BIG, pin })));
    const codes = replies.map((r) => r.body.error?.code ?? String(r.status));
    const evaluated = codes.filter((c) => c === "pin_incorrect" || c === "201").length;
    const lockedOut = codes.filter((c) => c === "pin_locked").length;
    expect(evaluated + lockedOut).toBe(50);
    // The five claimed tries: the fifth wrong one answers pin_locked itself.
    expect(codes.filter((c) => c === "pin_incorrect").length).toBeLessThanOrEqual(4);
    expect(lockedOut).toBeGreaterThanOrEqual(45);
    const row = await (await shardDbOf(u))
      .prepare("SELECT tries_used, locked_until_ms FROM payment_pins WHERE user_id = ?")
      .bind(u)
      .first<{ tries_used: number; locked_until_ms: number }>();
    if (!codes.includes("201")) {
      // Locked for the whole window: the right PIN is refused like any other.
      expect(row).toMatchObject({ tries_used: 5 });
      expect(row?.locked_until_ms).toBeGreaterThan(Date.now());
      expect((await tip(roomId, u, { ...BIG, pin: "808182" })).body.error.code).toBe("pin_locked");
      expect(await balanceOf(`user:${u}:wallet`)).toBe(100_000);
    }
    expect((await invariantReport()).ok).toBe(true);
  });
});

describe("payment PIN reset", () => {
  it("needs a token with a recent auth_time, and clears a lock", async () => {
    const u = user("pin-reset");
    await setPin(u);
    for (let i = 0; i < 5; i++) {
      await call("PUT", "/v1/me/pin", { token: await token(u), body: { pin: "808182", oldPin: WRONG } });
    }
    expect((await status(u)).lockedUntilMs).not.toBeNull();
    for (const ageMs of [null, LIMITS.pinReauthMaxAgeMs + 60_000, -10 * 60_000]) {
      const res = await call("POST", "/v1/me/pin/reset", {
        token: await freshToken(u, ageMs),
        body: { pin: "808182" },
      });
      expect([res.status, res.body.error.code]).toEqual([401, "reauthentication_required"]);
    }
    const trivial = await call("POST", "/v1/me/pin/reset", {
      token: await freshToken(u, 30_000),
      body: { pin: "000000" },
    });
    expect(trivial.body.error.code).toBe("pin_too_simple");
    const reset = await call("POST", "/v1/me/pin/reset", {
      token: await freshToken(u, 30_000),
      body: { pin: "808182" },
    });
    expect([reset.status, reset.body]).toMatchObject([200, { set: true, lockedUntilMs: null, triesLeft: 5 }]);
    const t = await token(u);
    const withNew = await call("PUT", "/v1/me/pin", { token: t, body: { pin: "909192", oldPin: "808182" } });
    expect(withNew.status).toBe(200);
  });
});
