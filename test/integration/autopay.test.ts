import { describe, expect, it } from "vitest";
import { call, fund, invariantReport, key, ledgerSnapshot, openRoom, setPin, TEST_PIN, token } from "./helpers";

async function tip(roomId: string, userId: string, body: Record<string, unknown>, idempotencyKey = key()) {
  return call("POST", `/v1/rooms/${roomId}/tips`, { token: await token(userId), idempotencyKey, body });
}

async function setLimits(userId: string, perTipMax: string, perDayMax: string) {
  return call("PUT", "/v1/me/autopay", { token: await token(userId), body: { perTipMax, perDayMax } });
}

describe("小额免密: password-free wallet tips", () => {
  it("applies the platform's defaults to users who chose none", async () => {
    const res = await call("GET", "/v1/me/autopay", { token: await token("ap-default") });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      perTipMaxMinor: 20_000,
      perTipMax: "200.00",
      perDayMaxMinor: 100_000,
      perDayMax: "1000.00",
      custom: false,
      spentTodayMinor: 0,
    });
  });

  it("asks for the PIN above the per-tip limit, changes nothing, and sends with it under the same key", async () => {
    const roomId = await openRoom("ap-creator-1");
    await fund("ap-big", "1000.00");
    await setPin("ap-big");
    const k = key();
    const before = await ledgerSnapshot();
    const asked = await tip(roomId, "ap-big", { kind: "custom", amount: "200.01" }, k);
    expect([asked.status, asked.body.error.code]).toEqual([428, "pin_required"]);
    expect(await ledgerSnapshot()).toBe(before);
    const confirmed = await tip(roomId, "ap-big", { kind: "custom", amount: "200.01", pin: TEST_PIN }, k);
    expect(confirmed.status).toBe(201);
    expect(confirmed.body.walletBalanceMinor).toBe(100_000 - 20_001);
    expect((await tip(roomId, "ap-big", { kind: "custom", amount: "200.00" })).status).toBe(201);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("reports insufficient funds before asking for a PIN that could not help", async () => {
    const roomId = await openRoom("ap-creator-2");
    await fund("ap-poor", "5.00");
    const res = await tip(roomId, "ap-poor", { kind: "gift", giftId: "rocket" });
    expect([res.status, res.body.error.code]).toEqual([409, "insufficient_funds"]);
  });

  it("holds the daily limit under concurrent tips: exactly as many as fit go through without the PIN", async () => {
    const roomId = await openRoom("ap-creator-3");
    await fund("ap-daily", "500.00");
    await setPin("ap-daily");
    const set = await setLimits("ap-daily", "10.00", "30.00");
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ perTipMaxMinor: 1_000, perDayMaxMinor: 3_000, custom: true });
    const replies = await Promise.all(
      Array.from({ length: 12 }, () => tip(roomId, "ap-daily", { kind: "custom", amount: "10.00" })),
    );
    const statuses = replies.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(3);
    expect(statuses.filter((s) => s === 428)).toHaveLength(9);
    const state = await call("GET", "/v1/me/autopay", { token: await token("ap-daily") });
    expect(state.body.spentTodayMinor).toBe(3_000);
    // Tips with the PIN still go through, and count towards the day.
    expect((await tip(roomId, "ap-daily", { kind: "custom", amount: "10.00", pin: TEST_PIN })).status).toBe(201);
    expect((await tip(roomId, "ap-daily", { kind: "custom", amount: "1.00" })).status).toBe(428);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("lets a user require the PIN for every tip with a zero limit", async () => {
    const roomId = await openRoom("ap-creator-4");
    await fund("ap-careful", "10.00");
    await setPin("ap-careful");
    expect((await setLimits("ap-careful", "0", "0.00")).status).toBe(200);
    expect((await tip(roomId, "ap-careful", { kind: "gift", giftId: "heart" })).status).toBe(428);
    expect((await tip(roomId, "ap-careful", { kind: "gift", giftId: "heart", pin: TEST_PIN })).status).toBe(201);
  });

  it("refuses limits that make no sense with a stable code and keeps the old ones", async () => {
    await setLimits("ap-bad", "10.00", "50.00");
    const cases: [string, string, number, string][] = [
      ["60.00", "50.00", 422, "amount_out_of_range"],
      ["5000.01", "20000.00", 422, "amount_out_of_range"],
      ["10.00", "20000.01", 422, "amount_out_of_range"],
      ["1.234", "5.00", 400, "malformed_request"],
      ["-1", "5.00", 400, "malformed_request"],
    ];
    for (const [perTip, perDay, status, code] of cases) {
      const res = await setLimits("ap-bad", perTip, perDay);
      expect([res.status, res.body.error.code], `${perTip}/${perDay}`).toEqual([status, code]);
    }
    const unauth = await call("PUT", "/v1/me/autopay", { body: { perTipMax: "1.00", perDayMax: "1.00" } });
    expect(unauth.status).toBe(401);
    const state = await call("GET", "/v1/me/autopay", { token: await token("ap-bad") });
    expect(state.body).toMatchObject({ perTipMaxMinor: 1_000, perDayMaxMinor: 5_000 });
  });
});
