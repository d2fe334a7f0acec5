import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { LiveRoom } from "../../src/durable-objects/live-room";
import {
  balanceOf,
  call,
  invariantReport,
  key,
  ledgerSnapshot,
  openRoom,
  operatorToken,
  settleTransit,
  shardDbOfId,
  token,
} from "./helpers";

async function createCampaign(budget: string, name = "Spring Festival") {
  const res = await call("POST", "/v1/admin/campaigns", {
    token: await operatorToken(),
    idempotencyKey: key(),
    body: { name, budget },
  });
  expect(res.status).toBe(201);
  return res.body.campaign.id as string;
}

async function issue(campaignId: string, externalId: string, userId: string, amount: string) {
  return call("POST", `/v1/admin/campaigns/${campaignId}/subsidies`, {
    token: await operatorToken(),
    idempotencyKey: key(),
    body: { externalId, userId, amount },
  });
}

describe("subsidy campaigns (B2C red packets)", () => {
  it("issues once per external id, never past the budget, and spends a subsidy on one packet", async () => {
    const campaignId = await createCampaign("10.00");
    const campaign = await call("GET", `/v1/admin/campaigns/${campaignId}`, { token: await operatorToken() });
    expect(campaign.body.campaign).toMatchObject({ budgetMinor: 1000, remainingMinor: 1000, issuedCount: 0 });

    const first = await issue(campaignId, "ext-1", "b2c-ana", "6.00");
    expect(first.status).toBe(201);
    expect(first.body.subsidy).toMatchObject({ userId: "b2c-ana", amountMinor: 600, status: "issued" });

    // The same external id: same details → the original; another user or amount → refused, nothing issued.
    const again = await issue(campaignId, "ext-1", "b2c-ana", "6.00");
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ alreadyIssued: true, subsidy: { id: first.body.subsidy.id } });
    const before = await ledgerSnapshot();
    const otherUser = await issue(campaignId, "ext-1", "b2c-bo", "6.00");
    expect(otherUser.status).toBe(409);
    expect(otherUser.body.error.code).toBe("external_id_conflict");
    const tooMuch = await issue(campaignId, "ext-2", "b2c-bo", "5.00");
    expect(tooMuch.body.error.code).toBe("campaign_budget_exhausted");
    expect(await ledgerSnapshot()).toBe(before);
    expect((await issue(campaignId, "ext-2", "b2c-bo", "4.00")).status).toBe(201);
    expect(await balanceOf(`campaign:${campaignId}:budget`)).toBe(0);

    // Spend it: the whole subsidy goes into the packet's escrow.
    const roomId = await openRoom("b2c-creator");
    await settleTransit(); // the grant is credited in the user's shard through transit
    const sent = await call("POST", `/v1/rooms/${roomId}/red-packets`, {
      token: await token("b2c-ana"),
      idempotencyKey: key(),
      body: { subsidyId: first.body.subsidy.id, shares: 3 },
    });
    expect(sent.status).toBe(201);
    expect(sent.body.packet).toMatchObject({ funding: "subsidy", totalMinor: 600 });
    const packetId = sent.body.packet.id;
    expect(await balanceOf(`packet:${packetId}:escrow`)).toBe(600);
    const reuse = await call("POST", `/v1/rooms/${roomId}/red-packets`, {
      token: await token("b2c-ana"),
      idempotencyKey: key(),
      body: { subsidyId: first.body.subsidy.id, shares: 3 },
    });
    expect(reuse.body.error.code).toBe("subsidy_used");
    const stolen = await call("POST", `/v1/rooms/${roomId}/red-packets`, {
      token: await token("b2c-bo"),
      idempotencyKey: key(),
      body: { subsidyId: first.body.subsidy.id, shares: 3 },
    });
    expect(stolen.body.error.code).toBe("subsidy_not_found");

    const mine = await call("GET", "/v1/me/subsidies", { token: await token("b2c-ana") });
    expect(mine.body.subsidies).toEqual([
      expect.objectContaining({ status: "used", packetId, campaignName: "Spring Festival", amountMinor: 600 }),
    ]);

    // One claim, then expiry: the remainder returns to the campaign, not to the user.
    const grabbed = await call("POST", `/v1/rooms/${roomId}/red-packets/${packetId}/claims`, {
      token: await token("b2c-fan"),
    });
    const claimed = grabbed.body.claim.amountMinor as number;
    const past = Date.now() - 1000;
    await (await shardDbOfId(packetId))
      .prepare("UPDATE red_packets SET expires_at_ms = ? WHERE id = ?")
      .bind(past, packetId)
      .run();
    await runInDurableObject(env.LIVE_ROOM.getByName(roomId), async (_i: LiveRoom, state) => {
      state.storage.sql.exec("UPDATE packets SET expires_at_ms = ? WHERE id = ?", past, packetId);
    });
    await runDurableObjectAlarm(env.LIVE_ROOM.getByName(roomId));
    await settleTransit(); // the campaign's budget may be in another shard than the packet
    expect(await balanceOf(`campaign:${campaignId}:budget`)).toBe(600 - claimed);
    expect(await balanceOf("user:b2c-ana:wallet")).toBe(0);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("racing issuers cannot spend past the budget: 30 concurrent grants of 1.00 on a 10.00 budget → exactly 10", async () => {
    const campaignId = await createCampaign("10.00", "Race");
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => issue(campaignId, `race-${i}`, `race-user-${i}`, "1.00")),
    );
    const issued = results.filter((r) => r.status === 201);
    expect(issued).toHaveLength(10);
    expect(
      results.filter((r) => r.status !== 201).every((r) => r.body.error.code === "campaign_budget_exhausted"),
    ).toBe(true);
    expect(await balanceOf(`campaign:${campaignId}:budget`)).toBe(0);
    // And one external id raced 10 times issues once.
    const campaign2 = await createCampaign("100.00", "Same id");
    const same = await Promise.all(Array.from({ length: 10 }, () => issue(campaign2, "one-id", "same-user", "1.00")));
    expect(same.filter((r) => r.status === 201)).toHaveLength(1);
    expect(same.every((r) => [200, 201, 409].includes(r.status))).toBe(true);
    expect(await balanceOf(`campaign:${campaign2}:budget`)).toBe(9900);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("only admin/finance create campaigns; viewers cannot issue", async () => {
    const viewer = await call("POST", "/v1/admin/campaigns", {
      token: await token("nobody"),
      idempotencyKey: key(),
      body: { name: "x", budget: "1.00" },
    });
    expect(viewer.status).toBe(403);
    const unknown = await call("GET", "/v1/admin/campaigns/campaign_01JDEM00000000000000000000", {
      token: await operatorToken(),
    });
    expect(unknown.body.error.code).toBe("campaign_not_found");
  });
});
