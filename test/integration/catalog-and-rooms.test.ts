import { describe, expect, it } from "vitest";
import { call, fund, key, openRoom, operatorToken, token } from "./helpers";

describe("gift catalog", () => {
  it("is public and lists enabled gifts by sort order, the tip presets and custom bounds", async () => {
    const res = await call("GET", "/v1/gifts");
    expect(res.status).toBe(200);
    const ids = res.body.gifts.map((g: { id: string }) => g.id);
    expect(ids.slice(0, 2)).toEqual(["heart", "rose"]);
    expect(ids).toContain("rocket");
    expect(res.body.gifts.find((g: { id: string }) => g.id === "sports-car")).toMatchObject({
      priceMinor: 52000,
      price: "520.00",
      tier: "big",
      enabled: true,
    });
    expect(res.body.tipPresets.map((p: { amount: string }) => p.amount)).toEqual(["6.60", "8.80", "18.80", "52.00"]);
    expect(res.body.customTip).toEqual({ minMinor: 100, maxMinor: 5_000_000, currency: "CNY" });
  });

  it("lets admin and ops create, update, disable and delete gifts", async () => {
    const ops = await token("ops-1", "ops");
    const created = await call("POST", "/v1/admin/gifts", {
      token: ops,
      body: {
        id: "dragon",
        name: "Dragon",
        price: "888.00",
        tier: "epic",
        animationKey: "dragon-roar",
        enabled: true,
        sortOrder: 200,
      },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: "dragon", priceMinor: 88800, tier: "epic" });
    const dup = await call("POST", "/v1/admin/gifts", { token: ops, body: { ...created.body, price: "1.00" } });
    expect(dup.status).toBe(400); // unknown keys in the body
    const again = await call("POST", "/v1/admin/gifts", {
      token: ops,
      body: {
        id: "dragon",
        name: "Dragon",
        price: "1.00",
        tier: "epic",
        animationKey: "dragon-roar",
        enabled: true,
        sortOrder: 1,
      },
    });
    expect(again.status).toBe(409);
    const patched = await call("PATCH", "/v1/admin/gifts/dragon", {
      token: ops,
      body: { price: "999.00", enabled: false },
    });
    expect(patched.body).toMatchObject({ priceMinor: 99900, enabled: false });
    const hidden = await call("GET", "/v1/gifts");
    expect(hidden.body.gifts.map((g: { id: string }) => g.id)).not.toContain("dragon");
    const all = await call("GET", "/v1/gifts?includeDisabled=true");
    expect(all.body.gifts.map((g: { id: string }) => g.id)).toContain("dragon");
    const deleted = await call("DELETE", "/v1/admin/gifts/dragon", { token: ops });
    expect(deleted.status).toBe(204);
    expect((await call("DELETE", "/v1/admin/gifts/dragon", { token: ops })).status).toBe(404);
    expect((await call("PATCH", "/v1/admin/gifts/dragon", { token: ops, body: { enabled: true } })).status).toBe(404);
  });

  it("refuses to delete a gift that has been sent (disable it instead)", async () => {
    const room = await openRoom("cat-creator");
    await fund("cat-viewer", "5.00");
    const sent = await call("POST", `/v1/rooms/${room}/tips`, {
      token: await token("cat-viewer"),
      idempotencyKey: key(),
      body: { kind: "gift", giftId: "heart", quantity: 1 },
    });
    expect(sent.status).toBe(201);
    const res = await call("DELETE", "/v1/admin/gifts/heart", { token: await operatorToken() });
    expect(res.status).toBe(409);
  });

  it("validates gift fields and keeps viewers and creators out", async () => {
    const ops = await operatorToken();
    const bad = await call("POST", "/v1/admin/gifts", {
      token: ops,
      body: {
        id: "Bad Id",
        name: "",
        price: "1.5.0",
        tier: "legendary",
        animationKey: "x",
        enabled: true,
        sortOrder: 0,
      },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(["id", "name", "price", "tier"]);
    const empty = await call("PATCH", "/v1/admin/gifts/rose", { token: ops, body: {} });
    expect(empty.status).toBe(400);
    const viewer = await call("PATCH", "/v1/admin/gifts/rose", { token: await token("v"), body: { enabled: false } });
    expect(viewer.status).toBe(403);
    const creator = await call("POST", "/v1/admin/gifts", { token: await token("c", "creator"), body: {} });
    expect(creator.status).toBe(403);
    const anonymous = await call("DELETE", "/v1/admin/gifts/rose");
    expect(anonymous.status).toBe(401);
  });
});

describe("rooms", () => {
  it("a creator goes live in one persistent room, one stream at a time, and ends it", async () => {
    const creator = await token("room-creator", "creator");
    const opened = await call("POST", "/v1/rooms", { token: creator, body: { title: "Evening karaoke" } });
    expect(opened.status).toBe(201);
    expect(opened.body).toMatchObject({
      creatorId: "room-creator",
      title: "Evening karaoke",
      status: "live",
      stream: { id: expect.stringMatching(/^stream_/), endedAtMs: null },
      bigGiftThresholdMinor: null,
    });
    const second = await call("POST", "/v1/rooms", { token: creator, body: { title: "Another" } });
    expect(second.status).toBe(409);
    expect(second.body.error.code).toBe("room_already_live");
    const read = await call("GET", `/v1/rooms/${opened.body.id}`, { token: await token("anyone") });
    expect(read.body.status).toBe("live");
    const ended = await call("POST", `/v1/rooms/${opened.body.id}/end`, { token: creator });
    expect(ended.body).toMatchObject({
      status: "offline",
      stream: { id: opened.body.stream.id, endedAtMs: expect.any(Number) },
    });
    const endedAgain = await call("POST", `/v1/rooms/${opened.body.id}/end`, { token: creator });
    expect(endedAgain.status).toBe(200);
    expect(endedAgain.body.stream.endedAtMs).toBe(ended.body.stream.endedAtMs);
    const next = await call("POST", "/v1/rooms", { token: creator, body: { title: "Back again" } });
    expect(next.status).toBe(201);
    // Same room, new stream.
    expect(next.body.id).toBe(opened.body.id);
    expect(next.body.stream.id).not.toBe(opened.body.stream.id);
    expect(next.body.title).toBe("Back again");
  });

  it("lets the creator set a big-gift threshold and nobody else", async () => {
    const creator = await token("room-threshold", "creator");
    const roomId = await openRoom("room-threshold");
    const set = await call("PATCH", `/v1/rooms/${roomId}`, { token: creator, body: { bigGiftThresholdMinor: 10_000 } });
    expect(set.body.bigGiftThresholdMinor).toBe(10_000);
    const other = await call("PATCH", `/v1/rooms/${roomId}`, {
      token: await token("room-x", "creator"),
      body: { title: "mine" },
    });
    expect(other.status).toBe(403);
    const cleared = await call("PATCH", `/v1/rooms/${roomId}`, {
      token: creator,
      body: { bigGiftThresholdMinor: null },
    });
    expect(cleared.body.bigGiftThresholdMinor).toBeNull();
    expect((await call("PATCH", `/v1/rooms/${roomId}`, { token: creator, body: {} })).status).toBe(400);
  });

  it("only creators open rooms, and only the room's creator (or admin/ops) ends it", async () => {
    const viewer = await call("POST", "/v1/rooms", { token: await token("room-viewer"), body: { title: "Nope" } });
    expect(viewer.status).toBe(403);
    const roomId = await openRoom("room-owner");
    const stranger = await call("POST", `/v1/rooms/${roomId}/end`, { token: await token("room-other", "creator") });
    expect(stranger.status).toBe(403);
    const ops = await call("POST", `/v1/rooms/${roomId}/end`, { token: await token("room-ops", "ops") });
    expect(ops.body.status).toBe("offline");
  });

  it("answers 404 for an unknown room, 400 for a malformed id, 401 without a token", async () => {
    const t = await token("room-reader");
    expect((await call("GET", "/v1/rooms/room_01ZZZZZZZZZZZZZZZZZZZZZZZZ", { token: t })).body.error.code).toBe(
      "room_not_found",
    );
    expect((await call("GET", "/v1/rooms/abc", { token: t })).status).toBe(400);
    expect((await call("GET", "/v1/rooms/room_01ZZZZZZZZZZZZZZZZZZZZZZZZ")).status).toBe(401);
    const blank = await call("POST", "/v1/rooms", { token: await token("room-c2", "creator"), body: { title: "   " } });
    expect(blank.status).toBe(400);
  });
});

describe("OpenAPI", () => {
  it("publishes a 3.1 document generated from the request schemas", async () => {
    const res = await call("GET", "/v1/openapi.json");
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe("3.1.0");
    const tip = res.body.paths["/rooms/{roomId}/tips"].post;
    expect(tip.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(["roomId", "idempotency-key"]),
    );
    expect(tip.requestBody.content["application/json"].schema).toEqual({
      $ref: "#/components/schemas/TipRequest",
    });
    // A gift or a custom amount, strict (unknown fields refused), the amount a decimal string,
    // with an optional message (issue 16).
    const variants = res.body.components.schemas.TipRequest.oneOf;
    expect(variants.map((v: { properties: object }) => "message" in v.properties)).toEqual([true, true]);
    expect(variants.map((v: { properties: { kind: { enum: string[] } } }) => v.properties.kind.enum)).toEqual([
      ["gift"],
      ["custom"],
    ]);
    expect(variants.map((v: { additionalProperties: boolean }) => v.additionalProperties)).toEqual([false, false]);
    expect(variants[1].properties.amount).toMatchObject({
      type: "string",
      pattern: "^(0|[1-9][0-9]*)(\\.[0-9]{1,2})?$",
    });
    expect(res.body.components.schemas.Error.properties.error.properties.code.enum).toContain("insufficient_funds");
    expect(Object.keys(res.body.paths).some((p) => p.startsWith("/dev"))).toBe(false);
  });
});
