/**
 * Held tips on content items (issue 19 with issue 16's review): a content tip a risk rule sends
 * to review is held with its money (202 naming the item), once per Idempotency-Key; an approval
 * makes it the tip on the item (the id fixed when held, the split, the creator's pending, the
 * item's leaderboard, the `tip.created` event naming the item), exactly once under racing
 * duplicates; a decline or the sweeper returns the money; the invariants hold throughout.
 *
 * The review rule is pinned in this file's isolate (`riskCache.pinForTests`): written to the
 * shared control database it would hold other files' tips.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { OPERATION_FACT_WHERE, readOperationEvents } from "../../src/db/business-events";
import { riskCache } from "../../src/db/risk";
import { RiskRuleSchema } from "../../src/domain/risk/rules";
import { createLogger } from "../../src/platform/logger";
import { expireHeldTips } from "../../src/worker/held-tips";
import { balanceOf, call, fund, invariantReport, key, openRoom, settleTransit, shardDbOf, token } from "./helpers";

afterEach(() => riskCache.forget());

const run = crypto.randomUUID().slice(0, 8);
const id = (name: string) => `hctip-${name}-${run}`;

/** Tips above 3.00 go to review; nothing else is ruled. */
function pinReviewRule(): void {
  riskCache.pinForTests([
    RiskRuleSchema.parse({
      id: "held-content-review-cap",
      kind: "amount_cap",
      action: "tip",
      maxMinor: 300,
      outcome: "review",
      enabled: true,
    }),
  ]);
}

/** A creator whose room was opened and ended (offline), and an unpriced article of theirs. */
async function offlineItem(label: string): Promise<{ creatorId: string; contentId: string }> {
  const creatorId = id(`${label}-creator`);
  const roomId = await openRoom(creatorId);
  const ended = await call("POST", `/v1/rooms/${roomId}/end`, { token: await token(creatorId, "creator", "viewer") });
  expect(ended.status, JSON.stringify(ended.body)).toBeLessThan(300);
  const res = await call("POST", "/v1/admin/content", {
    token: await token(id("admin"), "admin"),
    body: { creatorId, kind: "article", title: `Held ${label}` },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { creatorId, contentId: res.body.id };
}

const tipOn = (contentId: string, t: string, body: object, idempotencyKey: string = key()) =>
  call("POST", `/v1/content/${contentId}/tips`, { token: t, idempotencyKey, body });

const decide = (ops: string, heldId: string, how: "approve" | "decline") =>
  call("POST", `/v1/admin/risk/reviews/${heldId}/${how}`, {
    token: ops,
    body: how === "decline" ? { reason: "a stolen card" } : undefined,
  });

async function heldRow(viewerId: string, heldId: string) {
  return (await shardDbOf(viewerId))
    .prepare("SELECT * FROM held_tips WHERE id = ?")
    .bind(heldId)
    .first<Record<string, unknown>>();
}

async function tipsOn(viewerId: string, contentId: string) {
  const { results } = await (await shardDbOf(viewerId))
    .prepare("SELECT * FROM tips WHERE viewer_id = ? AND content_id = ? ORDER BY id")
    .bind(viewerId, contentId)
    .all<Record<string, unknown>>();
  return results;
}

describe("a content tip sent to review is held with its money", () => {
  it("holds once per key (202 naming the item); racing approvals make one tip on the item, split, ranked, announced", async () => {
    pinReviewRule();
    const { creatorId, contentId } = await offlineItem("approve");
    const viewerId = id("approve-viewer");
    await fund(viewerId, "20.00");
    const t = await token(viewerId, "viewer");

    // A small tip posts at once; a big one, sent three times at once under one key, holds once.
    const small = await tipOn(contentId, t, { amount: "1.00" });
    expect(small.status, JSON.stringify(small.body)).toBe(201);
    const k = key();
    const racing = await Promise.all([1, 2, 3].map(() => tipOn(contentId, t, { amount: "8.80", message: "好文" }, k)));
    for (const r of racing) expect([202, 409], JSON.stringify(r.body)).toContain(r.status);
    const res = await tipOn(contentId, t, { amount: "8.80", message: "好文" }, k);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.headers.get("idempotent-replayed")).toBe("true");
    expect(res.body).toEqual({
      heldTip: {
        id: expect.stringMatching(/^held_/),
        state: "held",
        contentId,
        creatorId,
        viewerId,
        giftId: null,
        quantity: 1,
        amountMinor: 880,
        amount: "8.80",
        currency: "CNY",
        createdAtMs: expect.any(Number),
        expiresAtMs: expect.any(Number),
        decisionId: expect.stringMatching(/^rsk_/),
      },
      walletBalanceMinor: 2_000 - 100 - 880,
    });
    expect(res.body.heldTip).not.toHaveProperty("roomId");
    const heldId = res.body.heldTip.id as string;
    expect(await heldRow(viewerId, heldId)).toMatchObject({ room_id: null, content_id: contentId, state: "held" });
    expect(await balanceOf(`user:${viewerId}:held`)).toBe(880);
    expect((await tipsOn(viewerId, contentId)).length).toBe(1);
    expect((await invariantReport()).violations).toEqual([]);

    // The review queue shows the item, not a room.
    const ops = await token(id("reviewer"), "risk");
    const one = await call("GET", `/v1/admin/risk/reviews/${heldId}`, { token: ops });
    expect(one.status, JSON.stringify(one.body)).toBe(200);
    expect(one.body.heldTip).toMatchObject({ roomId: null, contentId, creatorId, state: "held" });

    // Five approvals at once (two operators' duplicates): the money moves once, every answer is the approval.
    const approvals = await Promise.all([1, 2, 3, 4, 5].map(() => decide(ops, heldId, "approve")));
    for (const r of approvals) {
      expect([r.status, r.body.heldTip?.state], JSON.stringify(r.body)).toEqual([200, "approved"]);
    }
    const state = (await heldRow(viewerId, heldId))?.state;
    await settleTransit();
    expect(await balanceOf(`user:${viewerId}:held`)).toBe(0);
    const tips = await tipsOn(viewerId, contentId);
    expect(state).toBe("approved");
    const tipId = `tip_${heldId.slice("held_".length)}`;
    expect((await heldRow(viewerId, heldId))?.tip_id).toBe(tipId);
    expect(await balanceOf(`user:${viewerId}:wallet`)).toBe(2_000 - 100 - 880);
    expect(tips.length).toBe(2);
    const tip = tips.find((x) => x.id === tipId);
    const first = tips.find((x) => x.id !== tipId);
    expect(tip).toMatchObject({ room_id: null, stream_id: null, content_id: contentId, creator_id: creatorId });
    expect(tip?.amount_minor).toBe(880);
    expect(Number(tip?.creator_minor) + Number(tip?.platform_minor)).toBe(880);
    // Split at the same rate as the wallet tip on the item a moment before (the creator's rate).
    expect(tip?.platform_bps).toBe(first?.platform_bps);
    expect(tip?.platform_minor).toBe(Math.floor((880 * Number(tip?.platform_bps)) / 10_000));
    const message = await (await shardDbOf(viewerId))
      .prepare("SELECT * FROM tip_messages WHERE tip_id = ?")
      .bind(tipId)
      .first();
    expect(message).toMatchObject({ room_id: null, content_id: contentId, text: "好文" });
    // The creator's pending got both creator parts (the transit crossed).
    expect(await balanceOf(`creator:${creatorId}:pending`)).toBe(
      Number(tip?.creator_minor) + Number(first?.creator_minor),
    );
    // The item's leaderboard counts the approved tip.
    const board = await call("GET", `/v1/content/${contentId}/leaderboard`, { token: t });
    expect(board.status, JSON.stringify(board.body)).toBe(200);
    expect(board.body).toMatchObject({
      contentId,
      totalMinor: 980,
      tipCount: 2,
      entries: [{ rank: 1, userId: viewerId, amountMinor: 980 }],
    });
    // Its business event names the item, and the sweeper walks its operation.
    const db = await shardDbOf(viewerId);
    const events = await readOperationEvents(db, [{ id: tipId, kind: "tip" }]);
    expect(events.map((e) => [e.type, e.data])).toEqual([
      [
        "tip.created",
        expect.objectContaining({ tipId, contentId, roomId: null, streamId: null, viewerId, amountMinor: 880 }),
      ],
    ]);
    const walked = await db
      .prepare(`SELECT id FROM operations WHERE id = ? AND kind = 'tip' AND ${OPERATION_FACT_WHERE}`)
      .bind(tipId)
      .first<{ id: string }>();
    expect(walked?.id).toBe(tipId);
    // Approving again answers the same; declining now is refused; nothing moves.
    const again = await decide(ops, heldId, "approve");
    expect([again.status, again.body.heldTip.state]).toEqual([200, "approved"]);
    const contrary = await decide(ops, heldId, "decline");
    expect([contrary.status, contrary.body.error.code]).toEqual([409, "held_tip_decided"]);
    expect((await tipsOn(viewerId, contentId)).length).toBe(2);
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("a declined content tip returns the money; an undecided one expires back to the wallet; neither tips the item", async () => {
    pinReviewRule();
    const { contentId } = await offlineItem("decline");
    const viewerId = id("decline-viewer");
    await fund(viewerId, "10.00");
    const t = await token(viewerId, "viewer");
    const a = await tipOn(contentId, t, { amount: "5.00" });
    const b = await tipOn(contentId, t, { amount: "4.00" });
    expect([a.status, b.status], JSON.stringify([a.body, b.body])).toEqual([202, 202]);
    expect(await balanceOf(`user:${viewerId}:wallet`)).toBe(100);
    expect(await balanceOf(`user:${viewerId}:held`)).toBe(900);

    const ops = await token(id("decliner"), "risk");
    const declines = await Promise.all([1, 2, 3].map(() => decide(ops, a.body.heldTip.id, "decline")));
    for (const r of declines)
      expect([r.status, r.body.heldTip?.state], JSON.stringify(r.body)).toEqual([200, "declined"]);
    expect(await balanceOf(`user:${viewerId}:wallet`)).toBe(600);
    expect(await balanceOf(`user:${viewerId}:held`)).toBe(400);

    const log = createLogger({ test: "held-content-tips" });
    const due = b.body.heldTip.expiresAtMs + 1;
    await Promise.all([expireHeldTips(env, due, log), expireHeldTips(env, due, log)]);
    expect((await heldRow(viewerId, b.body.heldTip.id))?.state).toBe("expired");
    expect(await balanceOf(`user:${viewerId}:wallet`)).toBe(1_000);
    expect(await balanceOf(`user:${viewerId}:held`)).toBe(0);
    expect((await tipsOn(viewerId, contentId)).length).toBe(0);
    const late = await decide(ops, b.body.heldTip.id, "approve");
    expect([late.status, late.body.error.code]).toEqual([409, "held_tip_decided"]);
    const board = await call("GET", `/v1/content/${contentId}/leaderboard`, { token: t });
    expect(board.body).toMatchObject({ totalMinor: 0, tipCount: 0, entries: [] });
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("a held content tip on an unknown item is refused as the tip would be, and moves nothing", async () => {
    pinReviewRule();
    const viewerId = id("unknown-viewer");
    await fund(viewerId, "10.00");
    const res = await tipOn(`cnt_${"0".repeat(26)}`, await token(viewerId, "viewer"), { amount: "5.00" });
    expect(res.status, JSON.stringify(res.body)).toBe(404);
    expect(await balanceOf(`user:${viewerId}:wallet`)).toBe(1_000);
    expect(await balanceOf(`user:${viewerId}:held`)).toBe(0);
  });
});
