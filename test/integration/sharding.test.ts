/**
 * The sharded ledger under an adversary: a cross-shard tip storm. Viewers spread over the
 * shards tip three creators at once; the creators' parts cross through transit. The queue's
 * own consumer delivers in the background while this test delivers the same refs again,
 * shuffled and duplicated, through a consumer whose "mark delivered" fails on a fraction of
 * its batches (the crash between posting in the destination and marking in the origin).
 * After the retries: every creator credited exactly once per tip, every shard balanced, each
 * transit pair equal to what is in flight (nothing), no delivery lost or doubled.
 */

import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { composeOperation, runOperation } from "../../src/db/ledger";
import type { TransitRef } from "../../src/db/messages/ledger-postings";
import { composeAdjustment } from "../../src/db/operations/adjustment";
import { checkShardedInvariants } from "../../src/db/sharded-invariants";
import { Ledger, type LedgerShard, shardBindings } from "../../src/db/shards";
import { deliverTransit, pendingTransit } from "../../src/db/transit";
import { LIMITS } from "../../src/domain/limits";
import worker from "../../src/worker/index";
import { failingStatements } from "../support/faults";
import { call, fund, invariantReport, key, ledger, openRoom, token } from "./helpers";

const VIEWERS = 1_000;
const CREATORS = 3;
const CONCURRENCY = 25;

/** A small seeded generator, so a failure replays. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return state / 2 ** 32;
  };
}

describe("a cross-shard tip storm", () => {
  const rooms: string[] = [];
  beforeAll(async () => {
    for (let c = 0; c < CREATORS; c++) rooms.push(await openRoom(`shard-creator-${c}`));
  });

  it("credits every creator exactly once per tip through duplicates and failing deliveries", async () => {
    const l = await ledger();
    const viewers = Array.from({ length: VIEWERS }, (_, i) => `shard-viewer-${i}`);
    // Spread: every shard holds some of the viewers.
    const perShard = new Map<number, number>();
    for (const v of viewers) perShard.set(l.forOwner(v).index, (perShard.get(l.forOwner(v).index) ?? 0) + 1);
    expect(perShard.size).toBe(l.shards.length);

    const earned = new Map<string, number>();
    const stormStartMs = Date.now();
    let tips = 0;
    for (let at = 0; at < viewers.length; at += CONCURRENCY) {
      await Promise.all(
        viewers.slice(at, at + CONCURRENCY).map(async (viewer, i) => {
          await fund(viewer, "10.00");
          const creator = (at + i) % CREATORS;
          const res = await call("POST", `/v1/rooms/${rooms[creator]}/tips`, {
            token: await token(viewer),
            idempotencyKey: key(),
            body: { kind: "gift", giftId: "rose", quantity: 1 },
          });
          expect(res.status, JSON.stringify(res.body)).toBe(201);
          const id = `shard-creator-${creator}`;
          earned.set(id, (earned.get(id) ?? 0) + res.body.tip.creatorMinor);
          tips += 1;
        }),
      );
    }
    expect(tips).toBe(VIEWERS);

    // The adversarial consumer: duplicated, shuffled refs; 30 % of its batches crash after
    // posting and before marking delivered. It retries until the outboxes are empty.
    const random = prng(20261202);
    const faulty = new Ledger(
      l.control,
      shardBindings(env).map((db) => failingStatements(db, "UPDATE transit_outbox", () => random() < 0.3)),
      l.map,
    );
    let rounds = 0;
    let failedBatches = 0;
    // The Worker's own queue consumer delivers as the storm goes, so how much is still pending
    // here depends on timing: the first round re-delivers every ref of the storm, delivered or
    // not (a delivered one must change nothing), so the adversary always has the whole storm.
    let stormRefs: TransitRef[] | null = await transitRefsSince(l, stormStartMs);
    if (l.shards.length > 1) expect(stormRefs.length).toBeGreaterThan(0);
    for (;;) {
      const pending = stormRefs ?? (await pendingTransit(l, Date.now(), 0, 10_000));
      stormRefs = null;
      if (pending.length === 0) break;
      rounds += 1;
      expect(rounds, "transit settles").toBeLessThan(50);
      const refs: TransitRef[] = [...pending, ...pending.filter(() => random() < 0.5)];
      refs.sort(() => random() - 0.5);
      for (let at = 0; at < refs.length; at += 100) {
        try {
          await deliverTransit(faulty, refs.slice(at, at + 100), Date.now());
        } catch {
          failedBatches += 1;
        }
      }
    }
    if (l.shards.length > 1) expect(failedBatches).toBeGreaterThan(0);

    for (let c = 0; c < CREATORS; c++) {
      const id = `shard-creator-${c}`;
      const row = await l
        .forOwner(id)
        .db.prepare("SELECT balance_minor FROM accounts WHERE address = ?")
        .bind(`creator:${id}:pending`)
        .first<{ balance_minor: number }>();
      expect(row?.balance_minor, id).toBe(earned.get(id));
    }

    const report = await checkShardedInvariants(l, Date.now());
    expect(report.violations).toEqual([]);
    expect(report.counts.transitInFlight).toBe(0);
    // Every delivery exactly once: as many delivery operations as outbox rows.
    let outbox = 0;
    let deliveries = 0;
    for (const { db } of l.shards) {
      outbox += (await db.prepare("SELECT COUNT(*) AS n FROM transit_outbox").first<number>("n")) ?? 0;
      deliveries +=
        (await db.prepare("SELECT COUNT(*) AS n FROM operations WHERE kind = 'transit_delivery'").first<number>("n")) ??
        0;
    }
    expect(deliveries).toBe(outbox);
    if (l.shards.length > 1) expect(outbox).toBeGreaterThan(VIEWERS / 2);
    else expect(outbox).toBe(0);
    expect((await invariantReport()).violations).toEqual([]);
  }, 300_000);
});

/** An operation that credits `payee` from `payer`'s wallet: across shards when they differ. */
function creditAcross(
  origin: LedgerShard,
  id: string,
  payer: string,
  payee: string,
  amountMinor: number,
  nowMs: number,
) {
  return composeOperation(origin, {
    id,
    kind: "adjustment",
    currency: "CNY",
    postings: [{ from: `user:${payer}:wallet`, to: `user:${payee}:wallet`, amountMinor }],
    actorId: "test",
    reason: "a credit into another shard",
    metadata: null,
    nowMs,
    guards: [],
    extra: () => [],
  });
}

describe("the transit sweeper", () => {
  it("delivers a cross-shard credit whose announcement was lost, once it is 30 s old, and not before", async () => {
    const l = await ledger();
    if (l.shards.length === 1) return; // nothing crosses with one shard
    // A payer and a payee in different shards; the operation is committed by a ledger that
    // announces nothing, as if the queue send after the commit had failed.
    const payer = "sweep-payer";
    const payee = Array.from({ length: 100 }, (_, i) => `sweep-payee-${i}`).find(
      (id) => l.forOwner(id).index !== l.forOwner(payer).index,
    );
    expect(payee).toBeDefined();
    const silent = new Ledger(l.control, shardBindings(env), l.map);
    const origin = silent.forOwner(payer);
    const nowMs = Date.now();
    const funded = await runOperation(
      origin,
      composeAdjustment(
        origin,
        { id: "adj_sweep_fund", userId: payer, direction: "credit", amountMinor: 500, reason: "t", actorId: "t" },
        nowMs,
      ),
    );
    expect(funded.verdict.kind).toBe("posted");
    const gift = creditAcross(origin, "op_sweep_gift", payer, payee as string, 300, nowMs);
    expect((await runOperation(origin, gift)).verdict.kind).toBe("posted");
    const payeeWallet = () =>
      l
        .forOwner(payee as string)
        .db.prepare("SELECT balance_minor FROM accounts WHERE address = ?")
        .bind(`user:${payee}:wallet`)
        .first<number>("balance_minor");

    await worker.scheduled(createScheduledController({ scheduledTime: nowMs + 1_000 }), env);
    expect(await payeeWallet(), "not swept while it may still be on its way").toBeNull();
    await worker.scheduled(
      createScheduledController({ scheduledTime: nowMs + LIMITS.transitRedeliverAfterMs + 1_000 }),
      env,
    );
    expect(await payeeWallet()).toBe(300);
    expect((await checkShardedInvariants(l, Date.now())).violations).toEqual([]);
  });
});

describe("a transit outbox row", () => {
  it("is never trusted to move other money: a tampered row is refused alone, its neighbours delivered", async () => {
    const l = await ledger();
    if (l.shards.length === 1) return; // nothing crosses with one shard
    const payer = "tamper-payer";
    const payees = Array.from({ length: 200 }, (_, i) => `tamper-payee-${i}`)
      .filter((id) => l.forOwner(id).index !== l.forOwner(payer).index)
      .slice(0, 3);
    expect(payees).toHaveLength(3);
    const silent = new Ledger(l.control, shardBindings(env), l.map);
    const origin = silent.forOwner(payer);
    const nowMs = Date.now();
    await runOperation(
      origin,
      composeAdjustment(
        origin,
        { id: "adj_tamper_fund", userId: payer, direction: "credit", amountMinor: 900, reason: "t", actorId: "t" },
        nowMs,
      ),
    );
    const refs: TransitRef[] = [];
    for (const [i, payee] of payees.entries()) {
      const op = creditAcross(origin, `op_tamper_${i}`, payer, payee, 100, nowMs);
      expect((await runOperation(origin, op)).verdict.kind).toBe("posted");
      refs.push(...op.transit);
    }
    // Row 0 now claims to be paid by a wallet; row 1 moves more than any amount may.
    const tamper = (id: string, legs: unknown) =>
      origin.db
        .prepare("UPDATE transit_outbox SET postings = ? WHERE operation_id = ?")
        .bind(JSON.stringify(legs), id)
        .run();
    await tamper("op_tamper_0", [{ from: "user:someone:wallet", to: `user:${payees[0]}:wallet`, amountMinor: 100 }]);
    await tamper("op_tamper_1", [
      { from: `transit:${origin.index}`, to: `user:${payees[1]}:wallet`, amountMinor: LIMITS.amountMaxMinor + 1 },
    ]);
    const outcomes = await deliverTransit(l, refs, Date.now());
    expect(outcomes.map((o) => o.kind)).toEqual(["rejected", "rejected", "delivered"]);
    const balance = (payee: string) =>
      l
        .forOwner(payee)
        .db.prepare("SELECT balance_minor FROM accounts WHERE address = ?")
        .bind(`user:${payee}:wallet`)
        .first<number>("balance_minor");
    expect(await balance(payees[0] as string)).toBeNull();
    expect(await balance(payees[1] as string)).toBeNull();
    expect(await balance(payees[2] as string)).toBe(100);
    // The refused rows stay undelivered, so the checker still counts them in flight.
    const report = await checkShardedInvariants(l, Date.now());
    expect(report.counts.transitInFlight).toBe(2);
  });
});

/** Every cross-shard credit the storm wrote (delivered or not), from each shard's outbox. */
async function transitRefsSince(l: Ledger, sinceMs: number): Promise<TransitRef[]> {
  const lists = await Promise.all(
    l.shards.map(async (shard) => {
      const { results } = await shard.db
        .prepare("SELECT operation_id, destination_shard FROM transit_outbox WHERE created_at_ms >= ?")
        .bind(sinceMs)
        .all<{ operation_id: string; destination_shard: number }>();
      return results.map(
        (r): TransitRef => ({
          kind: "transit",
          origin: shard.index,
          destination: r.destination_shard,
          operationId: r.operation_id,
        }),
      );
    }),
  );
  return lists.flat();
}
