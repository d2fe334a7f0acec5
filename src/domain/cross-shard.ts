/**
 * An operation across ledger shards. It commits synchronously in its payer's shard (the
 * origin): every debit is there. A credit whose account lives in another shard is split in
 * two: in the origin, the debit side pays the origin's `transit:{destination}` account, in
 * the same batch as an outbox row; later, in the destination, `transit:{origin}` pays the
 * real account, posted by a queue consumer and idempotent by the operation's id.
 *
 * So each shard balances on its own, and for every pair of shards A and B
 *   A's transit:B + B's transit:A = what is still in flight between them, both ways,
 * which the invariant checker holds against the undelivered outbox rows. An operation whose
 * accounts all live in the origin is unchanged: one shard, one batch, no transit.
 */

import { accountAddress, type Posting } from "./accounts";
import { assert } from "./limits";

/**
 * Where an account lives: a shard index, or "origin" for the accounts every shard has its own
 * share of (platform revenue, platform subsidy, channel clearing, world adjustments), which
 * take part in whichever shard the operation commits in.
 */
export type AccountHome = number | "origin";

export interface ShardedOperation {
  /** The origin shard's postings, including the legs into transit accounts. */
  readonly origin: readonly Posting[];
  /** Per destination shard, the postings out of its transit account to the real accounts. */
  readonly deliveries: ReadonlyMap<number, readonly Posting[]>;
}

export function splitAcrossShards(
  postings: readonly Posting[],
  originShard: number,
  homeOf: (address: string) => AccountHome,
): ShardedOperation {
  const where = (address: string) => {
    const home = homeOf(address);
    return home === "origin" ? originShard : home;
  };
  const origin: Posting[] = [];
  const deliveries = new Map<number, Posting[]>();
  for (const p of postings) {
    assert(where(p.from) === originShard, "an operation debits only in its origin shard");
    const destination = where(p.to);
    if (destination === originShard) {
      origin.push(p);
      continue;
    }
    if (p.from === accountAddress.transit(destination)) {
      // A delivery from `destination` to an account that has since moved back there (a bucket
      // move): the credit returns. A transfer from transit:{d} to itself cannot be written,
      // so it passes through this shard's own transit account and nets to zero on both.
      const self = accountAddress.transit(originShard);
      origin.push({ from: p.from, to: self, amountMinor: p.amountMinor });
      origin.push({ from: self, to: p.from, amountMinor: p.amountMinor });
    } else origin.push({ from: p.from, to: accountAddress.transit(destination), amountMinor: p.amountMinor });
    const leg = { from: accountAddress.transit(originShard), to: p.to, amountMinor: p.amountMinor };
    deliveries.set(destination, [...(deliveries.get(destination) ?? []), leg]);
  }
  return { origin, deliveries };
}
