/**
 * Unlock refunds (issue 19: "refunds revoke the entitlement"): an operator's refund returns the
 * whole price to the payer and revokes the entitlement (the platform's part in the same batch
 * as the revocation), once however many ask at once; after the unlock's day settled the
 * creator's part becomes a receivable, as a tip reversal's does; the payer may unlock again.
 */

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { readOperationEvents } from "../../src/db/business-events";
import { runOperation } from "../../src/db/ledger";
import { composeUnlock, prepareUnlock } from "../../src/db/operations/unlock";
import { composeUnlockRefund } from "../../src/db/operations/unlock-refund";
import { payerLegId } from "../../src/db/operations/unlock-refund-payer";
import { shardBindings } from "../../src/db/shards";
import { findUnlock, planUnlockRefund, refundOfUnlock, sweepPayerLegs } from "../../src/db/unlock-refunds";
import { newOwnedId } from "../../src/domain/ids";
import { bucketOf } from "../../src/domain/shards";
import { withholdingMinor } from "../../src/domain/withholding";
import {
  balanceOf,
  call,
  callApproved,
  config,
  fund,
  invariantReport,
  key,
  ledger,
  openRoom,
  operatorToken,
  settleTransit,
  token,
} from "./helpers";
import { at, runSettlementApi, settlementRow } from "./money-out-support";

const run = crypto.randomUUID().slice(0, 8);
const SHARDS = shardBindings(env).length;

async function adminToken(): Promise<string> {
  return token(`urf-admin-${run}`, "admin");
}

async function pricedItem(label: string, price = "6.00"): Promise<{ creatorId: string; contentId: string }> {
  const creatorId = `urf-${label}-creator-${run}`;
  await openRoom(creatorId);
  const res = await call("POST", "/v1/admin/content", {
    token: await adminToken(),
    body: { creatorId, kind: "article", title: `Refundable ${label}`, price },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { creatorId, contentId: res.body.id };
}

/**
 * A payer id in another ledger shard than the creator's when there are several: the refund's
 * creator leg then credits the wallet through transit, the shape the two legs exist for.
 */
async function readerApartFrom(creatorId: string, label: string): Promise<string> {
  const l = await ledger();
  for (let i = 0; i < 64; i++) {
    const userId = `urf-${label}-reader-${i}-${run}`;
    if (l.shards.length === 1 || l.forOwner(userId).index !== l.forOwner(creatorId).index) return userId;
  }
  throw new Error("no payer id in another shard");
}

async function partnerKey(creatorId: string): Promise<string> {
  const admin = await adminToken();
  const created = await call("POST", "/v1/admin/partners", {
    token: admin,
    body: {
      name: `Refunds ${run} ${creatorId.slice(0, 12)}`,
      contactEmail: "dev@partner.example",
      creatorIds: [creatorId],
    },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const issued = await call("POST", `/v1/admin/partners/${created.body.id}/keys`, {
    token: admin,
    body: { name: "server", mode: "test", scopes: ["entitlements.read"] },
  });
  expect(issued.status, JSON.stringify(issued.body)).toBe(201);
  return issued.body.key as string;
}

async function unlockApi(contentId: string, userId: string) {
  return call("POST", `/v1/content/${contentId}/unlock`, {
    token: await token(userId),
    idempotencyKey: key(),
    body: {},
  });
}

async function refundApi(unlockId: string, idempotencyKey = key(), reason = "the article was withdrawn") {
  return callApproved("POST", `/v1/admin/unlocks/${unlockId}/refund`, {
    token: await operatorToken(),
    idempotencyKey,
    body: { reason },
  });
}

async function wallet(userId: string): Promise<number> {
  await settleTransit();
  return balanceOf(`user:${userId}:wallet`);
}

async function entitlementRow(unlockId: string) {
  return (await ledger())
    .forId(unlockId)
    .db.prepare("SELECT state, revoked_at_ms FROM entitlements WHERE id = ?")
    .bind(unlockId)
    .first<{ state: string; revoked_at_ms: number | null }>();
}

/** An unlock committed at `nowMs` straight at the ledger (a past business day). */
async function unlockAt(contentId: string, userId: string, nowMs: number) {
  const l = await ledger();
  const id = newOwnedId("unl", bucketOf(userId), nowMs);
  const prepared = await prepareUnlock(l.control, config, { id, contentId, userId }, nowMs);
  if (!prepared.ok) throw new Error(prepared.code);
  const shard = l.forOwner(userId);
  const { verdict } = await runOperation(shard, composeUnlock(shard, prepared.value));
  expect(verdict).toEqual({ kind: "posted" });
  await settleTransit();
  return { id, ...prepared.value.priced };
}

describe("unlock refunds", () => {
  it("revoke access (the check and the host's grant say no), return the whole price, and the payer may unlock again", async () => {
    const { creatorId, contentId } = await pricedItem("pending", "6.00");
    const userId = await readerApartFrom(creatorId, "pending");
    await fund(userId, "20.00");
    const k = await partnerKey(creatorId);
    const hostPath = `/v1/partner/content/${contentId}/entitlements/${userId}`;
    const host = () => call("GET", hostPath, { headers: { authorization: `Bearer ${k}` } });
    const mine = async () => call("GET", `/v1/content/${contentId}/entitlement`, { token: await token(userId) });

    const unlocked = await unlockApi(contentId, userId);
    expect(unlocked.status, JSON.stringify(unlocked.body)).toBe(201);
    const unlockId = unlocked.body.unlock.id as string;
    const { creatorMinor, platformMinor, amountMinor } = unlocked.body.unlock;
    expect((await host()).body).toMatchObject({ entitled: true, unlockId, grant: expect.any(String) });
    expect((await mine()).body).toMatchObject({ entitled: true, unlockId });
    const walletBefore = await wallet(userId);
    const pendingBefore = await balanceOf(`creator:${creatorId}:pending`);
    const revenueBefore = await balanceOf("platform:revenue");
    expect(pendingBefore).toBe(creatorMinor);

    const res = await refundApi(unlockId);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({
      alreadyRefunded: false,
      refund: {
        unlockId,
        contentId,
        creatorId,
        userId,
        amountMinor,
        platformMinor,
        creatorMinor,
        source: "pending",
        payerLegDone: false,
      },
    });
    expect(res.body.refund.id).toMatch(/^urf_/);
    expect(await entitlementRow(unlockId)).toMatchObject({ state: "revoked", revoked_at_ms: expect.any(Number) });
    // This isolate dropped its cached answer: both checks read the shard and say no, with no grant.
    expect((await mine()).body).toMatchObject({ entitled: false, unlockId: null, grant: null });
    expect((await host()).body).toMatchObject({ entitled: false, unlockId: null, grant: null });

    expect(await wallet(userId)).toBe(walletBefore + amountMinor);
    expect(await balanceOf(`creator:${creatorId}:pending`)).toBe(pendingBefore - creatorMinor);
    expect(await balanceOf("platform:revenue")).toBe(revenueBefore - platformMinor);
    const l = await ledger();
    const stored = await refundOfUnlock(l.forOwner(creatorId), unlockId);
    expect(stored).toMatchObject({ source: "pending", payer_leg_at_ms: expect.any(Number) });
    expect((await invariantReport()).violations).toEqual([]);

    // The refund is a business fact, read back from the creator's shard by its operation.
    const events = await readOperationEvents(l.forOwner(creatorId).db, [
      { id: res.body.refund.id, kind: "unlock_refund" },
    ]);
    expect(events).toMatchObject([
      { type: "unlock.refunded", factId: res.body.refund.id, data: { unlockId, contentId, userId, amountMinor } },
    ]);

    // A new unlock is a new charge and a new entitlement.
    const again = await unlockApi(contentId, userId);
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(again.body.unlock.id).not.toBe(unlockId);
    expect(await wallet(userId)).toBe(walletBefore + amountMinor - amountMinor);
    expect((await host()).body).toMatchObject({ entitled: true, unlockId: again.body.unlock.id });
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("is one per unlock: a replay answers the same, 20 at once move the money once", async () => {
    const { creatorId, contentId } = await pricedItem("dup", "8.00");
    const userId = await readerApartFrom(creatorId, "dup");
    await fund(userId, "20.00");
    const unlocked = await unlockApi(contentId, userId);
    expect(unlocked.status).toBe(201);
    const unlockId = unlocked.body.unlock.id as string;
    await settleTransit();
    const walletBefore = await wallet(userId);
    const revenueBefore = await balanceOf("platform:revenue");

    const storm = await Promise.all(Array.from({ length: 20 }, () => refundApi(unlockId)));
    expect(storm.map((r) => r.status).sort()).toEqual([...Array(19).fill(200), 201]);
    expect(new Set(storm.map((r) => r.body.refund.id)).size).toBe(1);
    expect(storm.filter((r) => r.body.alreadyRefunded === true)).toHaveLength(19);
    const k = key();
    const first = await refundApi(unlockId, k);
    const replay = await refundApi(unlockId, k);
    expect(replay.body).toEqual(first.body);

    expect(await wallet(userId)).toBe(walletBefore + 800);
    expect(await balanceOf("platform:revenue")).toBe(revenueBefore - unlocked.body.unlock.platformMinor);
    expect(await balanceOf(`creator:${creatorId}:pending`)).toBe(0);
    const l = await ledger();
    const creatorLegs = await l
      .forOwner(creatorId)
      .db.prepare(
        "SELECT COUNT(*) AS n FROM operations WHERE kind = 'unlock_refund' AND json_extract(metadata, '$.unlockId') = ?",
      )
      .bind(unlockId)
      .first<number>("n");
    const payerLegs = await l
      .forOwner(userId)
      .db.prepare(
        "SELECT COUNT(*) AS n FROM operations WHERE kind = 'unlock_refund_payer' AND json_extract(metadata, '$.unlockId') = ?",
      )
      .bind(unlockId)
      .first<number>("n");
    expect([creatorLegs, payerLegs]).toEqual([1, 1]);
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("after the unlock's day settled: the creator owes a receivable, available is left alone", async () => {
    const day = "2026-10-21";
    const { creatorId, contentId } = await pricedItem("settled", "10.00");
    const userId = await readerApartFrom(creatorId, "settled");
    await fund(userId, "20.00");
    const unlock = await unlockAt(contentId, userId, at(day));
    const ran = await runSettlementApi(day);
    expect(ran.status, JSON.stringify(ran.body)).toBe(200);
    const withheld = withholdingMinor(unlock.creatorMinor, config.settlement.withholdingBps);
    const available = await balanceOf(`creator:${creatorId}:available`);
    expect(available).toBe(unlock.creatorMinor - withheld);
    const walletBefore = await wallet(userId);

    const res = await refundApi(unlock.id);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    // The answer is what the creator's leg committed; the payer's leg followed before it was sent.
    expect(res.body.refund).toMatchObject({ source: "receivable", unlockDay: day, payerLegDone: false });
    expect(await refundOfUnlock((await ledger()).forOwner(creatorId), unlock.id)).toMatchObject({
      payer_leg_at_ms: expect.any(Number),
    });
    expect(await wallet(userId)).toBe(walletBefore + unlock.amountMinor);
    expect(await balanceOf(`creator:${creatorId}:available`)).toBe(available);
    const earnings = await call("GET", "/v1/creators/me/earnings", { token: await token(creatorId, "creator") });
    expect(earnings.body.receivableMinor).toBe(unlock.creatorMinor - withheld);
    expect(await entitlementRow(unlock.id)).toMatchObject({ state: "revoked" });
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("before the unlock's day settled: that day's settlement shows the refund reversed and settles the rest", async () => {
    const day = "2026-10-22";
    const { creatorId, contentId } = await pricedItem("before", "10.00");
    const payer = await readerApartFrom(creatorId, "before-a");
    const other = await readerApartFrom(creatorId, "before-b");
    await fund(payer, "20.00");
    await fund(other, "20.00");
    const refunded = await unlockAt(contentId, payer, at(day));
    const kept = await unlockAt(contentId, other, at(day, 1_000));
    const res = await refundApi(refunded.id);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.refund).toMatchObject({ source: "pending", unlockDay: day });
    expect(await balanceOf(`creator:${creatorId}:pending`)).toBe(kept.creatorMinor);

    const ran = await runSettlementApi(day);
    expect(ran.status, JSON.stringify(ran.body)).toBe(200);
    expect(await settlementRow(creatorId, day)).toMatchObject({
      state: "settled",
      gross_minor: refunded.amountMinor + kept.amountMinor,
      creator_part_minor: refunded.creatorMinor + kept.creatorMinor,
      reversed_minor: refunded.creatorMinor,
    });
    expect(await balanceOf(`creator:${creatorId}:pending`)).toBe(0);
    expect((await invariantReport()).violations).toEqual([]);
  });

  it("a refund whose payer leg never ran (a crash) is completed by the sweeper, once", async () => {
    const { creatorId, contentId } = await pricedItem("sweep", "5.00");
    const userId = await readerApartFrom(creatorId, "sweep");
    await fund(userId, "20.00");
    const unlocked = await unlockApi(contentId, userId);
    expect(unlocked.status).toBe(201);
    const unlockId = unlocked.body.unlock.id as string;
    await settleTransit();
    const walletBefore = await wallet(userId);
    const l = await ledger();
    const found = await findUnlock(l, unlockId);
    if (found === null) throw new Error("no unlock");
    const creatorShard = l.forOwner(creatorId);
    const nowMs = Date.now();
    const id = newOwnedId("urf", bucketOf(creatorId), nowMs);
    const plan = await planUnlockRefund(creatorShard, found, {
      id,
      reason: "crash test",
      actorId: "ops-test",
      withholdingBpsNow: config.settlement.withholdingBps,
      timeZone: config.businessTimeZone,
      nowMs,
    });
    if (!plan.ok) throw new Error(plan.code);
    expect((await runOperation(creatorShard, composeUnlockRefund(creatorShard, plan.value))).verdict).toEqual({
      kind: "posted",
    });
    // Half done: the creator's part is back, the entitlement is still active.
    expect(await wallet(userId)).toBe(walletBefore + unlocked.body.unlock.creatorMinor);
    expect(await entitlementRow(unlockId)).toMatchObject({ state: "active" });
    expect((await invariantReport()).violations).toEqual([]);

    const swept = await sweepPayerLegs(l, Date.now(), 0);
    expect(swept.refused).toEqual([]);
    expect(swept.completed).toBeGreaterThanOrEqual(1);
    expect(await entitlementRow(unlockId)).toMatchObject({ state: "revoked" });
    expect(await wallet(userId)).toBe(walletBefore + unlocked.body.unlock.amountMinor);
    expect(await refundOfUnlock(creatorShard, unlockId)).toMatchObject({ payer_leg_at_ms: expect.any(Number) });
    // Again: nothing left to do, nothing moves.
    await sweepPayerLegs(l, Date.now(), 0);
    const legs = await l
      .forOwner(userId)
      .db.prepare("SELECT COUNT(*) AS n FROM operations WHERE id = ?")
      .bind(payerLegId(id))
      .first<number>("n");
    expect(legs).toBe(1);
    expect(await wallet(userId)).toBe(walletBefore + unlocked.body.unlock.amountMinor);
    // The route answers the refund the sweeper completed.
    const res = await refundApi(unlockId);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ alreadyRefunded: true, refund: { id, payerLegDone: true } });
    expect((await invariantReport()).violations).toEqual([]);
  });

  it.skipIf(SHARDS < 2)(
    "waits for the unlock's creator part to cross shards (409 unlock_refund_in_flight), then refunds",
    async () => {
      const { creatorId, contentId } = await pricedItem("inflight", "4.00");
      const userId = await readerApartFrom(creatorId, "inflight");
      await fund(userId, "10.00");
      const l = await ledger();
      const nowMs = Date.now();
      const id = newOwnedId("unl", bucketOf(userId), nowMs);
      const prepared = await prepareUnlock(l.control, config, { id, contentId, userId }, nowMs);
      if (!prepared.ok) throw new Error(prepared.code);
      const shard = l.forOwner(userId);
      // Committed without announcing its transit: the creator's part waits in the outbox.
      const composed = composeUnlock(shard, prepared.value);
      expect(composed.verdictFrom(await shard.db.batch([...composed.statements]))).toEqual({ kind: "posted" });
      const walletBefore = await balanceOf(`user:${userId}:wallet`);

      const k = key();
      const early = await refundApi(id, k);
      expect(early.status, JSON.stringify(early.body)).toBe(409);
      expect(early.body.error.code).toBe("unlock_refund_in_flight");
      expect(await entitlementRow(id)).toMatchObject({ state: "active" });
      expect(await balanceOf(`user:${userId}:wallet`)).toBe(walletBefore);

      await settleTransit();
      const later = await refundApi(id, k);
      expect(later.status, JSON.stringify(later.body)).toBe(201);
      expect(await entitlementRow(id)).toMatchObject({ state: "revoked" });
      expect(await wallet(userId)).toBe(walletBefore + prepared.value.priced.amountMinor);
      expect((await invariantReport()).violations).toEqual([]);
    },
  );

  it("refuses an unknown unlock, a bad body and a missing key, changing nothing", async () => {
    const unknown = `unl_01JDEM${"0".repeat(20)}`;
    expect((await refundApi(unknown)).body.error.code).toBe("unlock_not_found");
    const { contentId } = await pricedItem("refusals", "3.00");
    const userId = `urf-refusals-reader-${run}`;
    await fund(userId, "5.00");
    const unlocked = await unlockApi(contentId, userId);
    const unlockId = unlocked.body.unlock.id as string;
    const ops = await operatorToken();
    const noKey = await call("POST", `/v1/admin/unlocks/${unlockId}/refund`, { token: ops, body: { reason: "x" } });
    expect(noKey.body.error.code).toBe("idempotency_key_missing");
    const badBody = await call("POST", `/v1/admin/unlocks/${unlockId}/refund`, {
      token: ops,
      idempotencyKey: key(),
      body: { reason: "" },
    });
    expect(badBody.status).toBe(400);
    expect(await entitlementRow(unlockId)).toMatchObject({ state: "active", revoked_at_ms: null });
  });
});
