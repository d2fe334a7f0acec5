import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { accountAddress, mayGoNegative, type Posting } from "../../../src/domain/accounts";
import { type AccountHome, splitAcrossShards } from "../../../src/domain/cross-shard";

const SHARDS = 4;
/** Accounts named `u{shard}-{n}` live in that shard; `platform:revenue` is in every shard. */
const homeOf = (address: string): AccountHome => {
  const match = /^user:u(\d)-/.exec(address);
  return match ? Number(match[1]) : "origin";
};
const user = (shard: number, n: number) => accountAddress.userWallet(`u${shard}-${n}`);

/** An operation paid from one origin shard: every debit there, credits anywhere. */
const operation = fc.integer({ min: 0, max: SHARDS - 1 }).chain((origin) =>
  fc.record({
    origin: fc.constant(origin),
    postings: fc.array(
      fc
        .record({
          from: fc.constantFrom(user(origin, 1), user(origin, 2), "platform:revenue"),
          to: fc.oneof(
            fc
              .tuple(fc.integer({ min: 0, max: SHARDS - 1 }), fc.integer({ min: 3, max: 5 }))
              .map(([s, n]) => user(s, n)),
            fc.constant("platform:revenue"),
          ),
          amountMinor: fc.integer({ min: 1, max: 1_000_000 }),
        })
        .filter((p) => p.from !== p.to),
      { minLength: 1, maxLength: 6 },
    ),
  }),
);

/** Balances per (shard, account) after applying postings in a shard. */
function apply(balances: Map<string, number>, shard: number, postings: readonly Posting[]) {
  for (const p of postings) {
    balances.set(`${shard}|${p.from}`, (balances.get(`${shard}|${p.from}`) ?? 0) - p.amountMinor);
    balances.set(`${shard}|${p.to}`, (balances.get(`${shard}|${p.to}`) ?? 0) + p.amountMinor);
  }
}

describe("an operation split across ledger shards", () => {
  it("leaves an operation whose accounts all live in its origin unchanged: one shard, no transit", () => {
    const postings = [
      { from: user(2, 1), to: user(2, 3), amountMinor: 700 },
      { from: user(2, 1), to: "platform:revenue", amountMinor: 300 },
    ];
    expect(splitAcrossShards(postings, 2, homeOf)).toEqual({ origin: postings, deliveries: new Map() });
  });

  it("sends a tip's creator part through the transit pair and keeps the platform's part in the origin", () => {
    const split = splitAcrossShards(
      [
        { from: user(0, 1), to: user(3, 3), amountMinor: 2079 },
        { from: user(0, 1), to: "platform:revenue", amountMinor: 891 },
      ],
      0,
      homeOf,
    );
    expect(split.origin).toEqual([
      { from: user(0, 1), to: "transit:3", amountMinor: 2079 },
      { from: user(0, 1), to: "platform:revenue", amountMinor: 891 },
    ]);
    expect([...split.deliveries]).toEqual([[3, [{ from: "transit:0", to: user(3, 3), amountMinor: 2079 }]]]);
    expect(mayGoNegative("transit:0")).toBe(true);
  });

  it("keeps every shard balanced, every real account's net as if unsharded, and transit pairs equal to what is in flight", () => {
    fc.assert(
      fc.property(
        fc.array(operation, { minLength: 1, maxLength: 8 }),
        fc.infiniteStream(fc.boolean()),
        (ops, delivered) => {
          const sharded = new Map<string, number>();
          const flat = new Map<string, number>();
          const inFlight = new Map<string, number>(); // "a|b" with a < b → amount not yet delivered, both ways
          const pending: { shard: number; postings: readonly Posting[]; pair: string; amount: number }[] = [];
          for (const op of ops) {
            apply(flat, 0, op.postings);
            const split = splitAcrossShards(op.postings, op.origin, homeOf);
            // Each shard's own postings move money between two accounts of that shard.
            for (const p of split.origin) expect(p.from === p.to).toBe(false);
            apply(sharded, op.origin, split.origin);
            for (const [dest, legs] of split.deliveries) {
              expect(dest).not.toBe(op.origin);
              const pair = [op.origin, dest].sort().join("|");
              const amount = legs.reduce((s, l) => s + l.amountMinor, 0);
              inFlight.set(pair, (inFlight.get(pair) ?? 0) + amount);
              pending.push({ shard: dest, postings: legs, pair, amount });
            }
          }
          // Deliver some; the rest stay in flight.
          const it = delivered[Symbol.iterator]();
          const later: typeof pending = [];
          for (const d of pending) {
            if (it.next().value) {
              apply(sharded, d.shard, d.postings);
              inFlight.set(d.pair, (inFlight.get(d.pair) ?? 0) - d.amount);
            } else later.push(d);
          }
          const shardSum = (shard: number) =>
            [...sharded].filter(([k]) => k.startsWith(`${shard}|`)).reduce((s, [, v]) => s + v, 0);
          const pairSum = (a: number, b: number) =>
            (sharded.get(`${a}|transit:${b}`) ?? 0) + (sharded.get(`${b}|transit:${a}`) ?? 0);
          for (let shard = 0; shard < SHARDS; shard++) expect(shardSum(shard)).toBe(0);
          for (let a = 0; a < SHARDS; a++) {
            for (let b = a + 1; b < SHARDS; b++) expect(pairSum(a, b)).toBe(inFlight.get(`${a}|${b}`) ?? 0);
          }
          // Once the rest arrives, every transit pair is settled and every user's wallet, in its
          // home shard, holds exactly what one unsharded ledger would.
          for (const d of later) apply(sharded, d.shard, d.postings);
          for (let a = 0; a < SHARDS; a++) {
            for (let b = a + 1; b < SHARDS; b++) expect(pairSum(a, b)).toBe(0);
          }
          for (const [key, net] of flat) {
            const address = key.slice("0|".length);
            const home = homeOf(address);
            if (home === "origin") continue; // per-shard shares of platform accounts, summed below
            expect(sharded.get(`${home}|${address}`) ?? 0).toBe(net);
          }
          const platformTotal = [...sharded]
            .filter(([k]) => k.endsWith("|platform:revenue"))
            .reduce((s, [, v]) => s + v, 0);
          expect(platformTotal).toBe(flat.get("0|platform:revenue") ?? 0);
        },
      ),
    );
  });

  it("returns a delivery whose account moved back to the delivery's own origin, through this shard's own transit account", () => {
    // Shard 1 committed a credit to an account then in shard 2; by the delivery the account lives in shard 1 again.
    const split = splitAcrossShards([{ from: accountAddress.transit(1), to: user(1, 7), amountMinor: 250 }], 2, homeOf);
    expect(split.origin).toEqual([
      { from: "transit:1", to: "transit:2", amountMinor: 250 },
      { from: "transit:2", to: "transit:1", amountMinor: 250 },
    ]);
    expect([...split.deliveries]).toEqual([[1, [{ from: "transit:2", to: user(1, 7), amountMinor: 250 }]]]);
  });

  it("refuses a debit outside the origin shard: an operation commits where its payer's money is", () => {
    expect(() => splitAcrossShards([{ from: user(1, 1), to: user(0, 3), amountMinor: 1 }], 0, homeOf)).toThrow(
      "an operation debits only in its origin shard",
    );
  });
});
