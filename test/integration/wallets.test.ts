import { describe, expect, it } from "vitest";
import { call, fund, key, ledgerSnapshot, openRoom, operatorToken, token } from "./helpers";

describe("wallets", () => {
  it("reads your own wallet; an unfunded wallet is empty, not missing", async () => {
    const res = await call("GET", "/v1/users/w-empty/wallet", { token: await token("w-empty") });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ userId: "w-empty", currency: "CNY", balanceMinor: 0, balance: "0.00" });
  });

  it("forbids reading another user's wallet (403) but lets support, finance and admin read any", async () => {
    const other = await call("GET", "/v1/users/w-someone/wallet", { token: await token("w-me") });
    expect(other.status).toBe(403);
    expect(other.body.error.code).toBe("forbidden");
    for (const role of ["support", "finance", "admin"] as const) {
      const res = await call("GET", "/v1/users/w-someone/wallet", { token: await token(`op-${role}`, role) });
      expect(res.status).toBe(200);
    }
    const ops = await call("GET", "/v1/users/w-someone/wallet", { token: await token("op-ops", "ops") });
    expect(ops.status).toBe(403);
  });

  it("pages through history newest first with a cursor, each entry with direction and counterparty", async () => {
    await fund("w-hist", "100.00");
    const room = await openRoom("w-hist-creator");
    const t = await token("w-hist");
    for (let i = 1; i <= 4; i++) {
      const res = await call("POST", `/v1/rooms/${room}/tips`, {
        token: t,
        idempotencyKey: key(),
        body: { kind: "custom", amount: `${i}.00` },
      });
      expect(res.status).toBe(201);
    }
    // 1 funding credit + 4 tips × 2 transfers (creator, platform) = 9 entries.
    const seen: any[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `?limit=4&cursor=${cursor}` : "?limit=4";
      const res = await call("GET", `/v1/users/w-hist/wallet/transactions${query}`, { token: t });
      expect(res.status).toBe(200);
      seen.push(...res.body.items);
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toHaveLength(9);
    const ids = seen.map((e) => e.transferId);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(seen.at(-1)).toMatchObject({
      kind: "adjustment",
      direction: "credit",
      amountMinor: 10_000,
      counterparty: "world:adjustments",
    });
    expect(seen[0]).toMatchObject({ kind: "tip", direction: "debit" });
    const debited = seen.filter((e) => e.direction === "debit").reduce((s, e) => s + e.amountMinor, 0);
    expect(debited).toBe(1_000);
    const bad = await call("GET", "/v1/users/w-hist/wallet/transactions?cursor=abc", { token: t });
    expect(bad.status).toBe(400);
    const tooMany = await call("GET", "/v1/users/w-hist/wallet/transactions?limit=101", { token: t });
    expect(tooMany.status).toBe(400);
  });

  describe("operator adjustments", () => {
    it("credit and debit with a reason, recorded with who did it", async () => {
      const ops = await operatorToken();
      const credit = await call("POST", "/v1/users/w-adj/wallet/adjustments", {
        token: ops,
        idempotencyKey: key(),
        body: { direction: "credit", amount: "12.34", reason: "goodwill for outage" },
      });
      expect(credit.status).toBe(201);
      expect(credit.body).toMatchObject({
        adjustment: {
          userId: "w-adj",
          direction: "credit",
          amountMinor: 1234,
          amount: "12.34",
          reason: "goodwill for outage",
          actorId: "ops-test",
        },
        walletBalanceMinor: 1234,
      });
      const debit = await call("POST", "/v1/users/w-adj/wallet/adjustments", {
        token: ops,
        idempotencyKey: key(),
        body: { direction: "debit", amount: "2.34", reason: "reverse duplicate goodwill" },
      });
      expect(debit.body.walletBalanceMinor).toBe(1000);
    });

    it("cannot debit below zero, and a rejected adjustment changes nothing", async () => {
      const before = await ledgerSnapshot();
      const res = await call("POST", "/v1/users/w-adj-poor/wallet/adjustments", {
        token: await operatorToken(),
        idempotencyKey: key(),
        body: { direction: "debit", amount: "0.01", reason: "should fail" },
      });
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe("insufficient_funds");
      expect(await ledgerSnapshot()).toBe(before);
    });

    it("is for admin and finance only, and needs an Idempotency-Key and a reason", async () => {
      const body = { direction: "credit", amount: "1.00", reason: "why not" };
      const viewer = await call("POST", "/v1/users/w-self/wallet/adjustments", {
        token: await token("w-self"),
        idempotencyKey: key(),
        body,
      });
      expect(viewer.status).toBe(403);
      const support = await call("POST", "/v1/users/w-self/wallet/adjustments", {
        token: await token("sup", "support"),
        idempotencyKey: key(),
        body,
      });
      expect(support.status).toBe(403);
      const noKey = await call("POST", "/v1/users/w-self/wallet/adjustments", { token: await operatorToken(), body });
      expect(noKey.body.error.code).toBe("idempotency_key_missing");
      const noReason = await call("POST", "/v1/users/w-self/wallet/adjustments", {
        token: await operatorToken(),
        idempotencyKey: key(),
        body: { direction: "credit", amount: "1.00" },
      });
      expect(noReason.status).toBe(400);
      const longKey = await call("POST", "/v1/users/w-self/wallet/adjustments", {
        token: await operatorToken(),
        idempotencyKey: "k".repeat(256),
        body,
      });
      expect(longKey.body.error.code).toBe("idempotency_key_invalid");
      const tooMuch = await call("POST", "/v1/users/w-self/wallet/adjustments", {
        token: await operatorToken(),
        idempotencyKey: key(),
        body: { ...body, amount: "1000000.01" },
      });
      expect(tooMuch.body.error.code).toBe("amount_out_of_range");
    });
  });
});
