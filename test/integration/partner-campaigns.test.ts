/**
 * A partner's red-packet campaigns (scope `campaigns.write`, issue 18): created only with the
 * scope, exactly once under duplicate and concurrent requests with one Idempotency-Key, only for
 * a room of a creator the partner owns, funded through campaign_fund and audited.
 */

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { accountAddress } from "../../src/domain/accounts";
import {
  balanceOf,
  call,
  invariantReport,
  key,
  openRoom,
  operatorToken,
  settleTransit,
  shardDbOfId,
  token,
} from "./helpers";

const run = crypto.randomUUID().slice(0, 8);

async function partnerWith(scopes: string[], creatorIds: string[]): Promise<{ id: string; key: string }> {
  const admin = await token(`pc-admin-${run}`, "admin");
  const created = await call("POST", "/v1/admin/partners", {
    token: admin,
    body: { name: `Campaigns ${run}`, contactEmail: "dev@partner.example", creatorIds },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const issued = await call("POST", `/v1/admin/partners/${created.body.id}/keys`, {
    token: admin,
    body: { name: "server", mode: "test", scopes },
  });
  expect(issued.status, JSON.stringify(issued.body)).toBe(201);
  return { id: created.body.id, key: issued.body.key };
}

const create = (partnerKey: string, idempotencyKey: string, body: unknown) =>
  call("POST", "/v1/partner/campaigns", {
    headers: { authorization: `Bearer ${partnerKey}` },
    idempotencyKey,
    body,
  });

async function campaignRows(partnerId: string) {
  const { results } = await env.CONTROL.prepare(
    "SELECT id, budget_minor, created_by, partner_id, creator_id, room_id FROM subsidy_campaigns WHERE partner_id = ?",
  )
    .bind(partnerId)
    .all();
  return results;
}

describe("partner campaigns", () => {
  it("answers 403 to a key without campaigns.write and creates nothing", async () => {
    const creator = `pc-noscope-${run}`;
    const roomId = await openRoom(creator);
    const partner = await partnerWith(["rooms.read", "tips.read", "webhooks.manage"], [creator]);
    const res = await create(partner.key, key(), { roomId, name: "Nope", budget: "10.00" });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("forbidden");
    expect(await campaignRows(partner.id)).toEqual([]);
  });

  it("creates the campaign exactly once under concurrent and repeated requests with one key", async () => {
    const creator = `pc-once-${run}`;
    const roomId = await openRoom(creator);
    const partner = await partnerWith(["campaigns.write"], [creator]);
    const idem = key();
    const body = { roomId, name: "Anniversary", budget: "88.80" };
    const concurrent = await Promise.all(Array.from({ length: 6 }, () => create(partner.key, idem, body)));
    for (const r of concurrent) expect([201, 409], JSON.stringify(r.body)).toContain(r.status);
    const replay = await create(partner.key, idem, body);
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    const campaign = replay.body.campaign;
    expect(campaign).toMatchObject({
      name: "Anniversary",
      budgetMinor: 8880,
      remainingMinor: 8880,
      createdBy: `partner:${partner.id}`,
      partnerId: partner.id,
      creatorId: creator,
      roomId,
    });
    for (const r of concurrent.filter((r) => r.status === 201)) expect(r.body.campaign.id).toBe(campaign.id);
    expect(await campaignRows(partner.id)).toEqual([
      {
        id: campaign.id,
        budget_minor: 8880,
        created_by: `partner:${partner.id}`,
        partner_id: partner.id,
        creator_id: creator,
        room_id: roomId,
      },
    ]);
    expect(await balanceOf(accountAddress.campaignBudget(campaign.id))).toBe(8880);
    // The same key with another body is refused; a new key makes a second campaign.
    const changed = await create(partner.key, idem, { ...body, budget: "1.00" });
    expect(changed.status).toBe(422);
    const second = await create(partner.key, key(), { ...body, name: "Second" });
    expect(second.status).toBe(201);
    expect(second.body.campaign.id).not.toBe(campaign.id);
    expect((await campaignRows(partner.id)).length).toBe(2);
    // Audited once, as the partner, in the campaign's shard (in the batch that funded it).
    const { results: audit } = await (await shardDbOfId(campaign.id))
      .prepare("SELECT actor, action, target FROM audit_log WHERE target = ?")
      .bind(campaign.id)
      .all();
    expect(audit).toEqual([{ actor: `partner:${partner.id}`, action: "campaign.create", target: campaign.id }]);
    expect((await invariantReport()).ok).toBe(true);
  });

  it("refuses a room of a creator the partner does not own (404), and a budget above the partner cap", async () => {
    const own = `pc-own-${run}`;
    const other = `pc-other-${run}`;
    const ownRoom = await openRoom(own);
    const otherRoom = await openRoom(other);
    const partner = await partnerWith(["campaigns.write"], [own]);
    const foreign = await create(partner.key, key(), { roomId: otherRoom, name: "Not mine", budget: "10.00" });
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.code).toBe("room_not_found");
    const tooBig = await create(partner.key, key(), { roomId: ownRoom, name: "Too big", budget: "10000.01" });
    expect(tooBig.status).toBe(422);
    expect(tooBig.body.error.code).toBe("amount_out_of_range");
    expect(await campaignRows(partner.id)).toEqual([]);
  });

  it("spends its subsidies (issued by operators, as any campaign's) only in the campaign's room", async () => {
    const creator = `pc-room-${run}`;
    const roomId = await openRoom(creator);
    const elsewhere = await openRoom(`pc-room-other-${run}`);
    const partner = await partnerWith(["campaigns.write"], [creator]);
    const made = await create(partner.key, key(), { roomId, name: "Room only", budget: "20.00" });
    expect(made.status).toBe(201);
    const campaignId = made.body.campaign.id as string;
    const fan = `pc-room-fan-${run}`;
    const issued = await call("POST", `/v1/admin/campaigns/${campaignId}/subsidies`, {
      token: await operatorToken(),
      idempotencyKey: key(),
      body: { externalId: `fan-${run}`, userId: fan, amount: "6.00" },
    });
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    const read = await call("GET", `/v1/admin/campaigns/${campaignId}`, { token: await operatorToken() });
    expect(read.body.campaign).toMatchObject({ partnerId: partner.id, creatorId: creator, roomId, issuedMinor: 600 });
    await settleTransit();
    const fanToken = await token(fan);
    const send = (room: string) =>
      call("POST", `/v1/rooms/${room}/red-packets`, {
        token: fanToken,
        idempotencyKey: key(),
        body: { subsidyId: issued.body.subsidy.id, shares: 2 },
      });
    const wrong = await send(elsewhere);
    expect([wrong.status, wrong.body.error?.code]).toEqual([409, "subsidy_room_mismatch"]);
    expect(await balanceOf(accountAddress.subsidyGrant(issued.body.subsidy.id))).toBe(600);
    const right = await send(roomId);
    expect(right.status, JSON.stringify(right.body)).toBe(201);
    expect(right.body.packet).toMatchObject({ funding: "subsidy", totalMinor: 600 });
  });
});
