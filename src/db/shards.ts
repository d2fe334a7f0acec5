/**
 * The ledger's databases at run time: the control database and the shards, and where each
 * owner's rows live (domain/shards.ts). Every Worker entry (a request, a queue batch, a cron
 * run) opens one `Ledger` and asks it for the shard of the owner or object it writes.
 *
 * Shards are the `LEDGER_0` … `LEDGER_{n-1}` D1 bindings; their number is the deployment's
 * shard count. The bucket map is read from the control database, which is given its first,
 * even map the first time a deployment starts.
 */

import { fail, type Result } from "../domain/errors";
import { assert, LIMITS } from "../domain/limits";
import {
  type BucketMap,
  bucketOf,
  evenBucketMap,
  homeOfAccount,
  LEDGER_BUCKETS,
  LEDGER_SHARDS_MAX,
  parseBucketMap,
  shardOf,
  shardOfId,
} from "../domain/shards";
import type { TransitRef } from "./messages/ledger-postings";

/**
 * One ledger shard: its index (its place in the bucket map), its database, where each
 * account lives as seen from it, and how it announces the credits it owes other shards once
 * they are committed (the ledger-postings queue; the sweeper redelivers what this misses).
 */
export interface LedgerShard {
  readonly index: number;
  readonly db: D1Database;
  readonly homeOf: (address: string) => number | "origin";
  readonly dispatch: (refs: readonly TransitRef[]) => Promise<void>;
}

/** Sends transit refs to the consumer that posts them in their destination shards. */
export type TransitSender = (refs: readonly TransitRef[]) => Promise<void>;

export class Ledger {
  readonly shards: readonly LedgerShard[];

  constructor(
    readonly control: D1Database,
    databases: readonly D1Database[],
    readonly map: BucketMap,
    send: TransitSender = async () => {},
  ) {
    assert(databases.length >= 1 && databases.length <= LEDGER_SHARDS_MAX, "a ledger has 1 to 64 shards");
    const homeOf = (address: string) => homeOfAccount(address, map);
    const dispatch = async (refs: readonly TransitRef[]) => {
      if (refs.length > 0) await send(refs);
    };
    this.shards = databases.map((db, index) => ({ index, db, homeOf, dispatch }));
  }

  shard(index: number): LedgerShard {
    const shard = this.shards[index];
    assert(shard !== undefined, `shard ${index} exists`);
    return shard;
  }

  /** The shard of a user's or creator's rows. */
  forOwner(ownerId: string): LedgerShard {
    return this.shard(shardOf(ownerId, this.map));
  }

  /** The shard of an object whose id carries its owner's bucket (an order, a packet, a subsidy). */
  forId(id: string): LedgerShard {
    return this.shard(shardOfId(id, this.map));
  }

  bucketOf(ownerId: string): number {
    return bucketOf(ownerId);
  }
}

/**
 * The shard databases of an environment, in index order: LEDGER_0 … LEDGER_{n-1}, where n is
 * the `LEDGER_SHARDS` variable (wrangler.toml), or every consecutive binding if it is unset.
 * A binding beyond n is not a shard yet (one being prepared for a bucket move).
 */
export function shardBindings(env: object): D1Database[] {
  const bindings = env as Record<string, unknown>;
  const declared = bindings.LEDGER_SHARDS === undefined ? null : Number(bindings.LEDGER_SHARDS);
  assert(
    declared === null || (Number.isInteger(declared) && declared >= 1 && declared <= LEDGER_SHARDS_MAX),
    "LEDGER_SHARDS is a whole number from 1 to 64",
  );
  const databases: D1Database[] = [];
  for (let i = 0; i < (declared ?? LEDGER_SHARDS_MAX); i++) {
    const db = bindings[`LEDGER_${i}`] as D1Database | undefined;
    if (db === undefined) {
      assert(declared === null, `LEDGER_SHARDS = ${declared} but LEDGER_${i} is not bound`);
      break;
    }
    databases.push(db);
  }
  return databases;
}

interface CachedMap {
  readonly control: D1Database;
  readonly shards: number;
  readonly map: BucketMap;
  readonly loadedAtMs: number;
}

/** The map, per isolate, for `bucketMapCacheMs`: the map changes only by a bucket move. */
let cached: CachedMap | null = null;

/**
 * Opens the ledger of an environment with `CONTROL` and `LEDGER_n` bindings. With a
 * `LEDGER_POSTINGS` queue, committed cross-shard credits are announced on it at once.
 */
export async function openLedger(
  env: { readonly CONTROL: D1Database; readonly LEDGER_POSTINGS?: Queue },
  nowMs = Date.now(),
): Promise<Ledger> {
  const queue = env.LEDGER_POSTINGS;
  const send: TransitSender = async (refs) => {
    if (queue === undefined) return;
    await queue.sendBatch(refs.map((body) => ({ body, contentType: "json" as const })));
  };
  const databases = shardBindings(env);
  assert(databases.length >= 1, "at least one ledger shard is bound (LEDGER_0)");
  if (
    cached !== null &&
    cached.control === env.CONTROL &&
    cached.shards === databases.length &&
    nowMs - cached.loadedAtMs < LIMITS.bucketMapCacheMs
  ) {
    return new Ledger(env.CONTROL, databases, cached.map, send);
  }
  const map = await loadBucketMap(env.CONTROL, databases.length, nowMs);
  if (!map.ok) throw new Error(map.message);
  cached = { control: env.CONTROL, shards: databases.length, map: map.value, loadedAtMs: nowMs };
  return new Ledger(env.CONTROL, databases, map.value, send);
}

/**
 * The bucket map as the control database holds it; the first time, the even map of this
 * many shards is written (every bucket at once, so two first starts agree: the second
 * inserts nothing). A map that names a shard this environment does not bind is refused.
 */
export async function loadBucketMap(control: D1Database, shards: number, nowMs: number): Promise<Result<BucketMap>> {
  const read = () =>
    control
      .prepare("SELECT bucket, shard FROM ledger_buckets ORDER BY bucket")
      .all<{ bucket: number; shard: number }>();
  let { results } = await read();
  if (results.length === 0) {
    const even = evenBucketMap(shards);
    const rows = even.map((shard, bucket) => [bucket, shard]);
    // 1,024 rows in bound statements of at most 100 parameters (D1's limit): 3 per row.
    const perStatement = 33;
    const statements: D1PreparedStatement[] = [];
    for (let at = 0; at < rows.length; at += perStatement) {
      const chunk = rows.slice(at, at + perStatement);
      statements.push(
        control
          .prepare(
            `INSERT OR IGNORE INTO ledger_buckets (bucket, shard, updated_at_ms) VALUES ${chunk.map(() => "(?, ?, ?)").join(", ")}`,
          )
          .bind(...chunk.flatMap(([bucket, shard]) => [bucket, shard, nowMs])),
      );
    }
    await control.batch(statements);
    ({ results } = await read());
  }
  if (results.length !== LEDGER_BUCKETS) return fail("internal_error", "the bucket map is incomplete");
  return parseBucketMap(
    results.map((r) => r.shard),
    shards,
  );
}

/** Forgets the cached map (a bucket move switched one; tests that change the shard count). */
export function forgetBucketMap(): void {
  cached = null;
}
