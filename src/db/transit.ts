/**
 * Delivering cross-shard credits: the transit outbox rows of origin shards, posted in their
 * destination shards (operations/transit-delivery.ts), many per batch (group commit), then
 * marked delivered in their origin. Every step may be repeated: a delivery already posted is
 * "exists", and marking a row twice changes nothing. A ref whose row does not exist (its
 * operation did not post) delivers nothing.
 */

import { z } from "zod";
import { accountAddress } from "../domain/accounts";
import { isSafeAmountMinor, LIMITS } from "../domain/limits";
import { CURRENCIES } from "../domain/money";
import type { Verdict } from "./ledger";
import { runOperations } from "./ledger";
import type { TransitRef } from "./messages/ledger-postings";
import { composeTransitDelivery, type TransitDelivery } from "./operations/transit-delivery";
import type { Ledger } from "./shards";

/** What became of each ref handed to `deliverTransit`. */
export type DeliveryOutcome =
  | { readonly kind: "delivered" | "already_delivered" | "no_such_row" }
  | { readonly kind: "rejected"; readonly code: string };

const StoredLegs = z.array(
  z.object({
    from: z.string().min(1),
    to: z.string().min(1),
    amountMinor: z.number().refine(isSafeAmountMinor, "a positive amount within the per-amount limit"),
  }),
);

interface OutboxRow {
  operation_id: string;
  destination_shard: number;
  operation_kind: string;
  postings: string;
  currency: string;
  delivered_at_ms: number | null;
}

const refKey = (r: { origin: number; destination: number; operationId: string }) =>
  `${r.origin}|${r.destination}|${r.operationId}`;

/**
 * Posts the refs' deliveries and marks them delivered; returns one outcome per ref, in
 * order. Throws if a database call fails: nothing is lost, and the caller retries the refs
 * (posted ones are then "already delivered").
 */
export async function deliverTransit(
  ledger: Ledger,
  refs: readonly TransitRef[],
  nowMs: number,
): Promise<DeliveryOutcome[]> {
  const rows = await readOutboxRows(ledger, refs);
  const outcomes = new Map<string, DeliveryOutcome>();
  const byDestination = new Map<number, { ref: TransitRef; delivery: TransitDelivery }[]>();
  const seen = new Set<string>();
  for (const ref of refs) {
    const key = refKey(ref);
    // A ref given twice (a redelivered message) is posted once; both get its outcome.
    if (seen.has(key)) continue;
    seen.add(key);
    const row = rows.get(key);
    if (row === undefined) {
      outcomes.set(key, { kind: "no_such_row" });
      continue;
    }
    const legs = StoredLegs.safeParse(parseJson(row.postings));
    const currency = z.enum(CURRENCIES).safeParse(row.currency);
    // Only the origin's transit account may pay: a row is never trusted to move other money.
    const source = accountAddress.transit(ref.origin);
    if (!legs.success || !currency.success || legs.data.some((leg) => leg.from !== source)) {
      outcomes.set(key, { kind: "rejected", code: "transit_row_malformed" });
      continue;
    }
    const list = byDestination.get(ref.destination) ?? [];
    list.push({
      ref,
      delivery: {
        origin: ref.origin,
        operationId: ref.operationId,
        operationKind: row.operation_kind,
        postings: legs.data,
        currency: currency.data,
      },
    });
    byDestination.set(ref.destination, list);
  }

  const delivered: TransitRef[] = [];
  for (const [destination, list] of byDestination) {
    const shard = ledger.shard(destination);
    for (let at = 0; at < list.length; at += LIMITS.transitDeliveriesPerBatchMax) {
      const chunk = list.slice(at, at + LIMITS.transitDeliveriesPerBatchMax);
      const verdicts: Verdict[] = await runOperations(
        shard,
        chunk.map((d) => composeTransitDelivery(shard, d.delivery, nowMs)),
      );
      verdicts.forEach((verdict, i) => {
        const item = chunk[i];
        if (item === undefined) return;
        const key = refKey(item.ref);
        if (verdict.kind === "rejected") outcomes.set(key, { kind: "rejected", code: verdict.code });
        else {
          outcomes.set(key, { kind: verdict.kind === "posted" ? "delivered" : "already_delivered" });
          delivered.push(item.ref);
        }
      });
    }
  }
  await markDelivered(ledger, delivered, nowMs);
  return refs.map((ref) => outcomes.get(refKey(ref)) ?? { kind: "no_such_row" });
}

async function readOutboxRows(ledger: Ledger, refs: readonly TransitRef[]): Promise<Map<string, OutboxRow>> {
  const found = new Map<string, OutboxRow>();
  const byOrigin = groupBy(refs, (r) => r.origin);
  await Promise.all(
    [...byOrigin].map(async ([origin, list]) => {
      const { results } = await ledger
        .shard(origin)
        .db.prepare(
          `SELECT operation_id, destination_shard, operation_kind, postings, currency, delivered_at_ms FROM transit_outbox
           WHERE (operation_id, destination_shard) IN (
             SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))`,
        )
        .bind(JSON.stringify(list.map((r) => [r.operationId, r.destination])))
        .all<OutboxRow>();
      for (const row of results) {
        found.set(refKey({ origin, destination: row.destination_shard, operationId: row.operation_id }), row);
      }
    }),
  );
  return found;
}

async function markDelivered(ledger: Ledger, refs: readonly TransitRef[], nowMs: number): Promise<void> {
  const byOrigin = groupBy(refs, (r) => r.origin);
  await Promise.all(
    [...byOrigin].map(([origin, list]) =>
      ledger
        .shard(origin)
        .db.prepare(
          `UPDATE transit_outbox SET delivered_at_ms = ?, attempts = attempts + 1
           WHERE delivered_at_ms IS NULL AND (operation_id, destination_shard) IN (
             SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))`,
        )
        .bind(nowMs, JSON.stringify(list.map((r) => [r.operationId, r.destination])))
        .run(),
    ),
  );
}

/** Outbox rows of every shard still undelivered after `olderThanMs`, as refs (the sweeper's). */
export async function pendingTransit(
  ledger: Ledger,
  nowMs: number,
  olderThanMs: number,
  perShardMax: number = LIMITS.transitSweepBatchMax,
): Promise<TransitRef[]> {
  const lists = await Promise.all(
    ledger.shards.map(async (shard) => {
      const { results } = await shard.db
        .prepare(
          `SELECT operation_id, destination_shard FROM transit_outbox
           WHERE delivered_at_ms IS NULL AND created_at_ms <= ? ORDER BY created_at_ms LIMIT ?`,
        )
        .bind(nowMs - olderThanMs, perShardMax)
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

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function groupBy<T, K>(items: readonly T[], key: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = groups.get(k) ?? [];
    list.push(item);
    groups.set(k, list);
  }
  return groups;
}
