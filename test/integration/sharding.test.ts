/**
 * The sharded ledger under an adversary: a cross-shard tip storm. Viewers spread over the
 * shards tip three creators at once; the creators' parts cross through transit. The queue's
 * own consumer delivers in the background while this test delivers the same refs again,
 * shuffled and duplicated, through a consumer whose "mark delivered" fails on a fraction of
 * its batches (the crash between posting in the destination and marking in the origin).
 * After the retries: every creator credited exactly once per tip, every shard balanced, each
 * transit pair equal to what is in flight (nothing), no delivery lost or doubled.
 */

import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { TransitRef } from "../../src/db/messages/ledger-postings";
import { checkShardedInvariants } from "../../src/db/sharded-invariants";
import { Ledger, shardBindings } from "../../src/db/shards";
import { deliverTransit, pendingTransit } from "../../src/db/transit";
import { call, fund, invariantReport, key, ledger, openRoom, token } from "./helpers";

const VIEWERS = 1_000;
const CREATORS = 3;
const CONCURRENCY = 25;

/** A database whose transit outbox updates fail with probability `rate` (a crash mid-delivery). */
function flaky(db: D1Database, rate: () => boolean): D1Database {
  return new Proxy(db, {
    get(target, prop, receiver) {
      if (prop !== "prepare") return Reflect.get(target, prop, receiver);
      return (sql: string) => {
        const statement = target.prepare(sql);
        if (!sql.trimStart().startsWith("UPDATE transit_outbox")) return statement;
        return new Proxy(statement, {
          get(s, p, r) {
            if (p === "bind") {
              return (...args: unknown[]) => {
                const bound = s.bind(...args);
                return new Proxy(bound, {
                  get(b, q, rr) {
                    if (q === "run" && rate()) return () => Promise.reject(new Error("injected: crash before marking"));
                    const value = Reflect.get(b, q, rr);
                    return typeof value === "function" ? value.bind(b) : value;
                  },
                });
              };
            }
            const value = Reflect.get(s, p, r);
            return typeof value === "function" ? value.bind(s) : value;
          },
        });
      };
    },
  });
}

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
    let tips = 0;
    for (let at = 0; at < viewers.length; at += CONCURRENCY) {
      await Promise.all(
        viewers.slice(at, at + CONCURRENCY).map(async (viewer, i) => {
          await fund(viewer, "10.00");
          const creator = (at + i) % CREATORS;
          const res = await call("POST", `/v1/rooms/${rooms[creator]}/tips`, {
            token: await token(viewer),
            idempotencyKey: key(),
            body: { kind: "gift", giftId: "crown", quantity: 1 },
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
      shardBindings(env).map((db) => flaky(db, () => random() < 0.3)),
      l.map,
    );
    let rounds = 0;
    let failedBatches = 0;
    for (;;) {
      const pending = await pendingTransit(l, Date.now(), 0, 10_000);
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
