/**
 * transit_delivery: the second half of a cross-shard credit (domain/cross-shard.ts). In the
 * destination shard, `transit:{origin}` pays the real accounts the origin's operation
 * credited; the id is `{operation}>{destination}`, so a delivery posts once however often it
 * is delivered, and no id repeats across shards.
 *
 * If an account has moved to a third shard since the origin committed (a bucket move), the
 * same composition forwards it: this shard pays `transit:{third}` and owes it a delivery.
 *
 * A red-packet claim's credit to a wallet is winnings (docs/adr/0017): delivered here, it is
 * made withdrawable in the same batch (a forwarded one is not: it arrives as a forwarding
 * delivery and stays non-withdrawable, the safe side).
 */

import type { Posting } from "../../domain/accounts";
import type { Currency } from "../../domain/money";
import { type ComposedOperation, composeOperation } from "../ledger";
import type { LedgerShard } from "../shards";
import { winningsCreditStatements } from "../winnings";

/** One outbox row of an origin shard, as the destination posts it. */
export interface TransitDelivery {
  readonly origin: number;
  readonly operationId: string;
  /** The kind of the operation in the origin (a tip, a claim…). */
  readonly operationKind: string;
  readonly postings: readonly Posting[];
  readonly currency: Currency;
}

export function deliveryId(operationId: string, destination: number): string {
  return `${operationId}>${destination}`;
}

export function composeTransitDelivery(
  shard: LedgerShard,
  delivery: TransitDelivery,
  nowMs: number,
): ComposedOperation {
  return composeOperation(shard, {
    id: deliveryId(delivery.operationId, shard.index),
    kind: "transit_delivery",
    currency: delivery.currency,
    postings: delivery.postings,
    actorId: "system:transit",
    reason: null,
    metadata: { origin: delivery.origin, operationId: delivery.operationId, operationKind: delivery.operationKind },
    nowMs,
    guards: [],
    extra: (posting) =>
      delivery.operationKind === "packet_claim"
        ? winningsCreditStatements(shard, delivery.postings, delivery.currency, nowMs, posting)
        : [],
  });
}
