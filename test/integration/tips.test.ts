import { beforeAll, describe, expect, it } from "vitest";
import {
  balanceOf,
  call,
  callApproved,
  fund,
  invariantReport,
  key,
  ledgerSnapshot,
  openRoom,
  operatorToken,
  settleTransit,
  shardDbOf,
  token,
} from "./helpers";

let roomId: string;
let viewer: string;

beforeAll(async () => {
  roomId = await openRoom("tips-creator");
  await fund("tips-viewer", "100.00");
  viewer = await token("tips-viewer");
});

function tip(body: unknown, idempotencyKey: string | undefined = key(), as = viewer, room = roomId) {
  return call("POST", `/v1/rooms/${room}/tips`, { token: as, body, idempotencyKey });
}

describe("POST /v1/rooms/{roomId}/tips", () => {
  it("debits the viewer and credits the creator's pending earnings and the platform, 70/30 by default", async () => {
    const before = await balanceOf("user:tips-viewer:wallet");
    const pendingBefore = await balanceOf("creator:tips-creator:pending");
    const res = await tip({ kind: "gift", giftId: "lucky-cat", quantity: 3 });
    expect(res.status).toBe(201);
    // 3 × 9.90 = 29.70; platform 30% of 2970 = 891; creator 2079.
    expect(res.body.tip).toMatchObject({
      roomId,
      viewerId: "tips-viewer",
      creatorId: "tips-creator",
      giftId: "lucky-cat",
      quantity: 3,
      amountMinor: 2970,
      amount: "29.70",
      platformMinor: 891,
      creatorMinor: 2079,
      currency: "CNY",
    });
    expect(res.body.tip.id).toMatch(/^tip_[0-9A-Z]{26}$/);
    expect(res.body.walletBalanceMinor).toBe(before - 2970);
    expect(await balanceOf("user:tips-viewer:wallet")).toBe(before - 2970);
    // The creator's part crosses to the creator's shard (4 shards) or posts at once (1).
    await settleTransit();
    expect(await balanceOf("creator:tips-creator:pending")).toBe(pendingBefore + 2079);
    const row = await (await shardDbOf("tips-viewer"))
      .prepare("SELECT * FROM tips WHERE id = ?")
      .bind(res.body.tip.id)
      .first();
    expect(row).toMatchObject({ amount_minor: 2970, platform_minor: 891, creator_minor: 2079 });
  });

  it("takes a custom amount as an exact decimal string, rounding the platform's part down", async () => {
    const res = await tip({ kind: "custom", amount: "18.8" });
    expect(res.status).toBe(201);
    // 1880 × 30% = 564 exactly.
    expect(res.body.tip).toMatchObject({
      giftId: null,
      quantity: 1,
      amountMinor: 1880,
      platformMinor: 564,
      creatorMinor: 1316,
    });
    const odd = await tip({ kind: "custom", amount: "6.67" });
    // 667 × 30% = 200.1 → platform 200, creator 467: the fen of rounding goes to the creator.
    expect(odd.body.tip).toMatchObject({ amountMinor: 667, platformMinor: 200, creatorMinor: 467 });
  });

  it("applies a creator's revenue-share override", async () => {
    const ops = await operatorToken();
    const set = await callApproved("PUT", "/v1/admin/creators/tips-creator/share", {
      token: ops,
      body: { platformShareBps: 1000 },
    });
    expect(set.status).toBe(200);
    const res = await tip({ kind: "gift", giftId: "rose", quantity: 1 });
    expect(res.body.tip).toMatchObject({ amountMinor: 100, platformMinor: 10, creatorMinor: 90 });
    await callApproved("PUT", "/v1/admin/creators/tips-creator/share", {
      token: ops,
      body: { platformShareBps: null },
    });
    const back = await tip({ kind: "gift", giftId: "rose", quantity: 1 });
    expect(back.body.tip).toMatchObject({ platformMinor: 30, creatorMinor: 70 });
  });

  it("replays the stored response for the same key and body, and rejects the key with another body", async () => {
    const k = key();
    const first = await tip({ kind: "gift", giftId: "rose", quantity: 2 }, k);
    const balance = await balanceOf("user:tips-viewer:wallet");
    const again = await tip({ quantity: 2, giftId: "rose", kind: "gift" }, k);
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body).toEqual(first.body);
    expect(await balanceOf("user:tips-viewer:wallet")).toBe(balance);
    const other = await tip({ kind: "gift", giftId: "rose", quantity: 3 }, k);
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe("idempotency_key_reused");
  });

  it("scopes keys per user: another viewer's same key is a different request", async () => {
    await fund("tips-other", "10.00");
    const k = key();
    const a = await tip({ kind: "gift", giftId: "rose", quantity: 1 }, k);
    const b = await tip({ kind: "gift", giftId: "rose", quantity: 1 }, k, await token("tips-other"));
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.body.tip.id).not.toBe(a.body.tip.id);
  });

  describe("rejections change nothing", () => {
    const cases: [string, () => Promise<{ status: number; body: any }>, number, string][] = [
      ["insufficient funds", () => tip({ kind: "gift", giftId: "rocket", quantity: 1 }), 409, "insufficient_funds"],
      ["an unknown gift", () => tip({ kind: "gift", giftId: "unicorn", quantity: 1 }), 404, "gift_not_found"],
      ["a custom amount below the minimum", () => tip({ kind: "custom", amount: "0.99" }), 422, "amount_out_of_range"],
      [
        "a custom amount above the maximum",
        () => tip({ kind: "custom", amount: "50000.01" }),
        422,
        "amount_out_of_range",
      ],
      ["a zero amount", () => tip({ kind: "custom", amount: "0" }), 422, "amount_out_of_range"],
      ["a float amount", () => tip({ kind: "custom", amount: 18.8 }), 400, "malformed_request"],
      ["three decimals", () => tip({ kind: "custom", amount: "1.005" }), 400, "malformed_request"],
      ["a negative amount", () => tip({ kind: "custom", amount: "-5.00" }), 400, "malformed_request"],
      ["an exponent", () => tip({ kind: "custom", amount: "1e3" }), 400, "malformed_request"],
      ["quantity zero", () => tip({ kind: "gift", giftId: "rose", quantity: 0 }), 400, "malformed_request"],
      ["an unknown kind", () => tip({ kind: "hug" }), 400, "malformed_request"],
      ["a misspelt field", () => tip({ kind: "custom", ammount: "5.00" }), 400, "malformed_request"],
      [
        "an extra field",
        () => tip({ kind: "custom", amount: "5.00", viewerId: "someone-else" }),
        400,
        "malformed_request",
      ],
      ["no Idempotency-Key", () => tip({ kind: "gift", giftId: "rose" }, ""), 400, "idempotency_key_missing"],
      [
        "an unknown room",
        () => tip({ kind: "gift", giftId: "rose" }, key(), viewer, "room_01ZZZZZZZZZZZZZZZZZZZZZZZZ"),
        404,
        "room_not_found",
      ],
      [
        "a malformed room id",
        () => tip({ kind: "gift", giftId: "rose" }, key(), viewer, "not-a-room"),
        400,
        "malformed_request",
      ],
    ];
    for (const [name, send, status, code] of cases) {
      it(`rejects ${name} with ${status} ${code}`, async () => {
        const before = await ledgerSnapshot();
        const res = await send();
        expect(res.status).toBe(status);
        expect(res.body.error).toMatchObject({ code, requestId: expect.any(String), message: expect.any(String) });
        expect(await ledgerSnapshot()).toBe(before);
      });
    }

    it("rejects a disabled gift", async () => {
      const ops = await operatorToken();
      await call("PATCH", "/v1/admin/gifts/crown", { token: ops, body: { enabled: false } });
      const before = await ledgerSnapshot();
      const res = await tip({ kind: "gift", giftId: "crown", quantity: 1 });
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe("gift_disabled");
      expect(await ledgerSnapshot()).toBe(before);
      await call("PATCH", "/v1/admin/gifts/crown", { token: ops, body: { enabled: true } });
    });

    it("rejects tipping yourself", async () => {
      await fund("tips-creator", "10.00");
      const before = await ledgerSnapshot();
      const res = await tip({ kind: "gift", giftId: "rose" }, key(), await token("tips-creator", "creator", "viewer"));
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe("self_tip");
      expect(await ledgerSnapshot()).toBe(before);
    });

    it("rejects a tip to a room that has ended", async () => {
      const ended = await openRoom("tips-ended-creator");
      await call("POST", `/v1/rooms/${ended}/end`, { token: await token("tips-ended-creator", "creator") });
      const before = await ledgerSnapshot();
      const res = await tip({ kind: "gift", giftId: "rose" }, key(), viewer, ended);
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe("room_not_live");
      expect(await ledgerSnapshot()).toBe(before);
    });

    it("frees the key after a rejection, so the same key succeeds once the cause is fixed", async () => {
      await fund("tips-poor", "1.00");
      const poor = await token("tips-poor");
      const k = key();
      const first = await tip({ kind: "gift", giftId: "lucky-cat", quantity: 1 }, k, poor);
      expect(first.body.error.code).toBe("insufficient_funds");
      await fund("tips-poor", "10.00");
      const second = await tip({ kind: "gift", giftId: "lucky-cat", quantity: 1 }, k, poor);
      expect(second.status).toBe(201);
      expect(second.body.walletBalanceMinor).toBe(1100 - 990);
    });

    it("rejects a non-JSON body and a body over the size limit", async () => {
      const before = await ledgerSnapshot();
      const notJson = await call("POST", `/v1/rooms/${roomId}/tips`, {
        token: viewer,
        idempotencyKey: key(),
        rawBody: "kind=gift",
        headers: { "content-type": "text/plain" },
      });
      expect(notJson.status).toBe(415);
      expect(notJson.body.error.code).toBe("unsupported_media_type");
      const broken = await call("POST", `/v1/rooms/${roomId}/tips`, {
        token: viewer,
        idempotencyKey: key(),
        rawBody: "{",
        headers: { "content-type": "application/json" },
      });
      expect(broken.status).toBe(400);
      expect(broken.body.error.code).toBe("malformed_request");
      const huge = await call("POST", `/v1/rooms/${roomId}/tips`, {
        token: viewer,
        idempotencyKey: key(),
        rawBody: JSON.stringify({ kind: "custom", amount: "1.00", pad: "x".repeat(20_000) }),
        headers: { "content-type": "application/json" },
      });
      expect(huge.status).toBe(413);
      expect(huge.body.error.code).toBe("payload_too_large");
      expect(await ledgerSnapshot()).toBe(before);
    });
  });

  describe("security", () => {
    it("needs a token (401) and a viewer or creator role (403)", async () => {
      const anonymous = await call("POST", `/v1/rooms/${roomId}/tips`, {
        body: { kind: "gift", giftId: "rose" },
        idempotencyKey: key(),
      });
      expect(anonymous.status).toBe(401);
      expect(anonymous.body.error.code).toBe("unauthenticated");
      const support = await tip({ kind: "gift", giftId: "rose" }, key(), await token("support-1", "support"));
      expect(support.status).toBe(403);
      expect(support.body.error.code).toBe("forbidden");
    });
  });

  it("leaves the ledger invariants intact", async () => {
    const report = await invariantReport();
    expect(report.violations).toEqual([]);
    expect(report.ok).toBe(true);
  });
});
