import { listDurableObjectIds } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, fund, key, openRoom, token } from "./helpers";

// A valid-looking id no room has: addressing its object would create it.
const NO_ROOM = "room_01ZZZZZZZZZZZZZZZZZZZZZZZZ";
const NO_PACKET = "packet_01JDEM00000000000000000000";

async function roomObjectExists(roomId: string): Promise<boolean> {
  const wanted = env.LIVE_ROOM.idFromName(roomId).toString();
  return (await listDurableObjectIds(env.LIVE_ROOM)).some((id) => id.toString() === wanted);
}

describe("routes that go to a room refuse an unknown room without creating its object", () => {
  it("tips, claims, the open-packet list and the leaderboard answer 404 and leave no object behind", async () => {
    await fund("known-rooms-viewer", "10.00");
    const viewer = await token("known-rooms-viewer");
    const tip = await call("POST", `/v1/rooms/${NO_ROOM}/tips`, {
      token: viewer,
      idempotencyKey: key(),
      body: { kind: "gift", giftId: "rose", quantity: 1 },
    });
    expect(tip.status).toBe(404);
    expect(tip.body.error.code).toBe("room_not_found");
    const claim = await call("POST", `/v1/rooms/${NO_ROOM}/red-packets/${NO_PACKET}/claims`, { token: viewer });
    expect(claim.status).toBe(404);
    expect(claim.body.error.code).toBe("packet_not_found");
    const open = await call("GET", `/v1/rooms/${NO_ROOM}/red-packets`, { token: viewer });
    expect(open.status).toBe(404);
    expect(open.body.error.code).toBe("room_not_found");
    const board = await call("GET", `/v1/rooms/${NO_ROOM}/leaderboard`, { token: viewer });
    expect(board.status).toBe(404);
    expect(await roomObjectExists(NO_ROOM)).toBe(false);

    // A real room is found (and then remembered) the same way: the same calls reach it.
    const roomId = await openRoom("known-rooms-creator");
    const ok = await call("POST", `/v1/rooms/${roomId}/tips`, {
      token: viewer,
      idempotencyKey: key(),
      body: { kind: "gift", giftId: "rose", quantity: 1 },
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect((await call("GET", `/v1/rooms/${roomId}/red-packets`, { token: viewer })).status).toBe(200);
    expect((await call("GET", `/v1/rooms/${roomId}/leaderboard`, { token: viewer })).status).toBe(200);
    expect(await roomObjectExists(roomId)).toBe(true);
  });
});
