/**
 * The ledger's invariants over every shard: each shard's own (./invariants.ts: balanced,
 * no protected account negative, balances = Σ transfers, packets and orders whole), and
 * across shards, for the credits that cross through transit (domain/cross-shard.ts):
 *
 *   - for every pair of shards A < B:
 *       A's transit:B + B's transit:A = Σ of A→B outbox rows not yet posted in B
 *                                     + Σ of B→A outbox rows not yet posted in A;
 *   - no posting lost: an outbox row marked delivered has its delivery in its destination;
 *   - no posting doubled or invented: every delivery in a shard matches an outbox row of its
 *     origin, to the fen (and its id, `{operation}>{destination}`, is unique by key);
 *   - operation ids are unique across shards.
 *
 * Each violation names the shard(s), the row and both numbers. The cross-shard part reads
 * every outbox row and delivery and every operation id: meant for `npm run ledger:verify`,
 * the operator endpoint and tests, not for a request path.
 */

import { accountAddress } from "../domain/accounts";
import { LIMITS } from "../domain/limits";
import { checkLedgerInvariants, type InvariantReport, type Violation } from "./invariants";
import { checkMoneyOutInvariants, type MoneyOutViolation } from "./money-out-invariants";
import { deliveryId } from "./operations/transit-delivery";
import type { Ledger } from "./shards";
import { checkWithdrawalInvariants, type WithdrawalViolation } from "./withdrawal-invariants";

export type CrossShardViolation =
  | {
      readonly kind: "transit_pair_mismatch";
      readonly shardA: number;
      readonly shardB: number;
      /** A's transit:B + B's transit:A. */
      readonly transitSumMinor: number;
      /** What the outboxes say is still in flight between them, both ways. */
      readonly inFlightMinor: number;
    }
  | {
      readonly kind: "transit_delivery_lost";
      readonly origin: number;
      readonly destination: number;
      readonly operationId: string;
      readonly amountMinor: number;
    }
  | {
      readonly kind: "transit_delivery_unmatched";
      readonly origin: number;
      readonly destination: number;
      readonly deliveryId: string;
      readonly deliveredMinor: number;
      /** The outbox row's amount, or null if the origin has no such row. */
      readonly outboxMinor: number | null;
    }
  | { readonly kind: "operation_id_repeated"; readonly operationId: string; readonly shards: number[] };

export type ShardedViolation =
  | ((Violation | MoneyOutViolation | WithdrawalViolation) & { readonly shard: number })
  | CrossShardViolation;

export interface ShardedInvariantReport {
  readonly ok: boolean;
  readonly checkedAtMs: number;
  readonly shards: number;
  readonly counts: InvariantReport["counts"] & { readonly transitInFlight: number };
  readonly violationCount: number;
  /** At most `LIMITS.invariantViolationsReportedMax`; `violationCount` is always exact. */
  readonly violations: readonly ShardedViolation[];
}

interface OutboxRow {
  operation_id: string;
  destination_shard: number;
  amount_minor: number;
  delivered_at_ms: number | null;
}

interface DeliveryRow {
  id: string;
  amount_minor: number;
  origin: number;
  operation_id: string;
}

export async function checkShardedInvariants(ledger: Ledger, nowMs: number): Promise<ShardedInvariantReport> {
  const violations: ShardedViolation[] = [];
  let violationCount = 0;
  const add = (v: ShardedViolation) => {
    violationCount += 1;
    if (violations.length < LIMITS.invariantViolationsReportedMax) violations.push(v);
  };

  const counts = { accounts: 0, operations: 0, transfers: 0, transitInFlight: 0 };
  const perShard = await Promise.all(ledger.shards.map((s) => checkLedgerInvariants(s.db, nowMs)));
  perShard.forEach((report, shard) => {
    counts.accounts += report.counts.accounts;
    counts.operations += report.counts.operations;
    counts.transfers += report.counts.transfers;
    // The per-shard count is exact even where the list was cut.
    violationCount += report.violationCount - report.violations.length;
    for (const v of report.violations) add({ ...v, shard });
  });
  // Settlement and tip reversals (money-out-invariants.ts), shard by shard.
  const moneyOut = await Promise.all(ledger.shards.map((s) => checkMoneyOutInvariants(s.db)));
  moneyOut.forEach((found, shard) => {
    for (const v of found) add({ ...v, shard });
  });

  // Withdrawals and payouts (withdrawal-invariants.ts), shard by shard.
  const withdrawals = await Promise.all(ledger.shards.map((s) => checkWithdrawalInvariants(s.db)));
  withdrawals.forEach((list, shard) => {
    for (const v of list) add({ ...v, shard });
  });

  const reads = await Promise.all(
    ledger.shards.map(async ({ db }) => {
      const [outbox, deliveries, transit, ids, tombstones] = await db.batch<Record<string, unknown>>([
        db.prepare("SELECT operation_id, destination_shard, amount_minor, delivered_at_ms FROM transit_outbox"),
        db.prepare(
          // What a delivery received is what its origin's transit account paid (a credit that
          // returns to its origin passes through this shard's own transit account too: cross-shard.ts).
          `SELECT o.id, json_extract(o.metadata, '$.origin') AS origin,
             json_extract(o.metadata, '$.operationId') AS operation_id,
             (SELECT COALESCE(SUM(t.amount_minor), 0) FROM transfers t
              WHERE t.operation_id = o.id AND t.from_account = 'transit:' || json_extract(o.metadata, '$.origin')) AS amount_minor
           FROM operations o WHERE o.kind = 'transit_delivery'`,
        ),
        db.prepare("SELECT address, balance_minor FROM accounts WHERE address LIKE 'transit:%'"),
        db.prepare("SELECT id FROM operations"),
        // Operations archival pruned (operation_tombstones): one half of a cross-shard credit
        // may be archived in its shard while the other half is still live in the other.
        db.prepare("SELECT id FROM operation_tombstones"),
      ]);
      return {
        outbox: (outbox?.results ?? []) as unknown as OutboxRow[],
        deliveries: (deliveries?.results ?? []) as unknown as DeliveryRow[],
        transit: new Map(
          ((transit?.results ?? []) as { address: string; balance_minor: number }[]).map((r) => [
            r.address,
            r.balance_minor,
          ]),
        ),
        ids: ((ids?.results ?? []) as { id: string }[]).map((r) => r.id),
        archived: new Set(((tombstones?.results ?? []) as { id: string }[]).map((r) => r.id)),
      };
    }),
  );

  const deliveredIn = reads.map((r) => new Map(r.deliveries.map((d) => [d.id, d])));
  // In flight from each origin to each destination: rows whose delivery is not posted yet.
  const inFlight = new Map<string, number>();
  reads.forEach((r, origin) => {
    for (const row of r.outbox) {
      const id = deliveryId(row.operation_id, row.destination_shard);
      const posted = deliveredIn[row.destination_shard]?.get(id);
      // Posted, then archived in the destination: no longer in flight, its amount is in the archive.
      if (posted === undefined && reads[row.destination_shard]?.archived.has(id)) continue;
      if (posted === undefined) {
        const key = `${origin}>${row.destination_shard}`;
        inFlight.set(key, (inFlight.get(key) ?? 0) + row.amount_minor);
        counts.transitInFlight += 1;
        if (row.delivered_at_ms !== null) {
          add({
            kind: "transit_delivery_lost",
            origin,
            destination: row.destination_shard,
            operationId: row.operation_id,
            amountMinor: row.amount_minor,
          });
        }
      } else if (posted.amount_minor !== row.amount_minor) {
        add({
          kind: "transit_delivery_unmatched",
          origin,
          destination: row.destination_shard,
          deliveryId: posted.id,
          deliveredMinor: posted.amount_minor,
          outboxMinor: row.amount_minor,
        });
      }
    }
  });
  // Deliveries with no outbox row behind them.
  const outboxOf = reads.map((r) => new Map(r.outbox.map((o) => [`${o.operation_id}|${o.destination_shard}`, o])));
  reads.forEach((r, destination) => {
    for (const d of r.deliveries) {
      // An outbox row leaves with its operation once delivered: an archived origin matches.
      if (reads[d.origin]?.archived.has(d.operation_id)) continue;
      if (outboxOf[d.origin]?.get(`${d.operation_id}|${destination}`) === undefined) {
        add({
          kind: "transit_delivery_unmatched",
          origin: d.origin,
          destination,
          deliveryId: d.id,
          deliveredMinor: d.amount_minor,
          outboxMinor: null,
        });
      }
    }
  });
  for (let a = 0; a < reads.length; a++) {
    for (let b = a + 1; b < reads.length; b++) {
      const transitSumMinor =
        (reads[a]?.transit.get(accountAddress.transit(b)) ?? 0) +
        (reads[b]?.transit.get(accountAddress.transit(a)) ?? 0);
      const inFlightMinor = (inFlight.get(`${a}>${b}`) ?? 0) + (inFlight.get(`${b}>${a}`) ?? 0);
      if (transitSumMinor !== inFlightMinor) {
        add({ kind: "transit_pair_mismatch", shardA: a, shardB: b, transitSumMinor, inFlightMinor });
      }
    }
  }
  const seen = new Map<string, number[]>();
  reads.forEach((r, shard) => {
    for (const id of r.ids) seen.set(id, [...(seen.get(id) ?? []), shard]);
  });
  for (const [operationId, shards] of seen) {
    if (shards.length > 1) add({ kind: "operation_id_repeated", operationId, shards });
  }

  return {
    ok: violationCount === 0,
    checkedAtMs: nowMs,
    shards: ledger.shards.length,
    counts,
    violationCount,
    violations,
  };
}
