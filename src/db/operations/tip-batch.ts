/**
 * tip, group-committed: many wallet tips of one room in ONE batch of a ledger shard, each with
 * its Idempotency-Key record in the same batch (the room's group commit,
 * durable-objects/live-room.tips.ts).
 *
 * Per tip, in order:
 *   1. the key's stale record is removed: expired, or in flight from a caller that died
 *      (its lock lapsed, same request, its operation unknown to the shard), as the Worker's
 *      `runIdempotent` begins;
 *   2. the tip (`composeTip`), guarded first by "this key has no live record"
 *      (`idempotency_key_taken`), then by every guard a tip has (funds, 小额免密 limits…);
 *   3. the completed record, response bytes included, written only if the tip posts.
 * A failed guard makes only its own tip's statements no-ops (src/db/ledger.ts), so one
 * rejection never undoes a neighbour, and a rejected tip writes nothing: its key stays free.
 * When the key guard fires, the record is read after the batch, so the caller answers as the
 * key's semantics say (replay, reused, in flight).
 *
 * The batch may also carry the room's "applied" marks of earlier tips' outbox rows (one
 * UPDATE), so the outbox sweeper does not deliver them again.
 */

import { accountAddress } from "../../domain/accounts";
import type { AutopayLimits } from "../../domain/autopay";
import type { GuardCode } from "../../domain/guards";
import type { StoredIdempotencyRecord } from "../../domain/idempotency";
import { assert, LIMITS } from "../../domain/limits";
import { type ComposedOperation, dispatchPosted, type SqlCondition } from "../ledger";
import type { LedgerShard } from "../shards";
import { composeTip, type PreparedTip, tipReceipt } from "./tip";

/** A priced tip waiting in a room, with its Idempotency-Key. */
export interface BatchedTip {
  readonly tip: PreparedTip;
  readonly key: string;
  readonly requestHash: string;
  /** The payer confirmed it: the 小额免密 limits do not apply. */
  readonly confirmed: boolean;
}

export type BatchedTipOutcome =
  | { readonly kind: "posted"; readonly status: 201; readonly body: string }
  | { readonly kind: "rejected"; readonly code: GuardCode }
  /** The key has a live record (`null`: it vanished before it could be read). */
  | { readonly kind: "key_taken"; readonly record: StoredIdempotencyRecord | null };

export interface TipBatchResult {
  readonly outcomes: readonly BatchedTipOutcome[];
  /** D1 round trips this call made, and statements they carried (for the benchmark). */
  readonly batches: number;
  readonly statements: number;
  /** Announces the posted tips' cross-shard credits; the transit sweeper backs it up. */
  readonly dispatched: Promise<void>;
}

export interface TipBatchOptions {
  readonly nowMs: number;
  /** 小额免密: the platform's defaults, and where the payers' local day began. */
  readonly autopayDefaults: AutopayLimits;
  readonly dayStartMs: number;
  /** Room outbox rows of this shard the room has applied: marked delivered in this batch. */
  readonly appliedOutboxIds: readonly string[];
}

export async function commitTipBatch(
  shard: LedgerShard,
  tips: readonly BatchedTip[],
  options: TipBatchOptions,
): Promise<TipBatchResult> {
  const { db } = shard;
  const { nowMs } = options;
  assert(tips.length <= LIMITS.tipBatchMax, "a shard's tip batch is within limit");
  const marks = markAppliedStatements(db, options.appliedOutboxIds, nowMs);
  const composed: ComposedOperation[] = tips.map((t) =>
    composeTip(shard, t.tip, {
      guards: [
        {
          code: "idempotency_key_taken",
          sql: "NOT EXISTS (SELECT 1 FROM idempotency_keys WHERE principal_id = ? AND key = ?)",
          params: [t.tip.viewerId, t.key],
        },
      ],
      ...(t.confirmed
        ? {}
        : { autopay: { limits: options.autopayDefaults, dayStartMs: options.dayStartMs, limitsInBatch: true } }),
      attach: (posting) => [recordStatement(db, t, nowMs, posting)],
    }),
  );
  const statements: D1PreparedStatement[] = [...marks];
  for (const [i, t] of tips.entries()) {
    statements.push(staleRecordStatement(db, t, nowMs), ...(composed[i]?.statements ?? []));
  }
  if (statements.length === 0) return { outcomes: [], batches: 0, statements: 0, dispatched: Promise.resolve() };
  const results = await db.batch(statements);

  const verdicts = [];
  const outcomes: BatchedTipOutcome[] = [];
  const taken: number[] = [];
  let offset = marks.length;
  for (const c of composed) {
    offset += 1; // the stale-record statement
    const own = results.slice(offset, offset + c.statements.length);
    const verdict = c.verdictFrom(own);
    verdicts.push(verdict);
    offset += c.statements.length;
    switch (verdict.kind) {
      case "posted": {
        // The record is the last attached statement, just before the operation's finalize.
        const stored = own[c.statements.length - 2]?.results[0] as { response_body: string } | undefined;
        assert(stored, "a posted tip completes its idempotency record");
        outcomes.push({ kind: "posted", status: 201, body: stored.response_body });
        break;
      }
      case "rejected":
        if (verdict.code === "idempotency_key_taken") taken.push(outcomes.length);
        outcomes.push({ kind: "rejected", code: verdict.code });
        break;
      case "exists":
        // A tip id is new for every request the room takes: a bug if it is known already.
        assert(false, "a batched tip's id is new");
    }
  }
  let batches = 1;
  if (taken.length > 0) {
    const records = await readIdempotencyRecords(
      db,
      taken.map((i) => ({ principalId: tips[i]?.tip.viewerId ?? "", key: tips[i]?.key ?? "" })),
    );
    batches += 1;
    for (const [n, i] of taken.entries()) outcomes[i] = { kind: "key_taken", record: records[n] ?? null };
  }
  return {
    outcomes,
    batches,
    statements: statements.length + taken.length,
    dispatched: dispatchPosted(shard, composed, verdicts),
  };
}

/** Removes the key's record if it may be replaced (see the file's comment, step 1). */
function staleRecordStatement(db: D1Database, t: BatchedTip, nowMs: number): D1PreparedStatement {
  return db
    .prepare(
      `DELETE FROM idempotency_keys WHERE principal_id = ? AND key = ? AND (expires_at_ms <= ?
         OR (state = 'in_flight' AND locked_until_ms <= ? AND request_hash = ?
           AND NOT EXISTS (SELECT 1 FROM operations o WHERE o.id = idempotency_keys.operation_id)
           AND NOT EXISTS (SELECT 1 FROM operation_tombstones t WHERE t.id = idempotency_keys.operation_id)))`,
    )
    .bind(t.tip.viewerId, t.key, nowMs, nowMs, t.requestHash);
}

/**
 * The key's completed record with the response it will replay: the receipt, with the wallet's
 * balance after this tip filled in inside the batch. Written only if the tip posts.
 */
function recordStatement(db: D1Database, t: BatchedTip, nowMs: number, posting: SqlCondition): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO idempotency_keys (principal_id, key, request_hash, state, operation_id, locked_until_ms,
         response_status, response_body, created_at_ms, expires_at_ms)
       SELECT ?, ?, ?, 'completed', ?, ?, 201,
         json_set(?, '$.walletBalanceMinor', (SELECT balance_minor FROM accounts WHERE address = ?)), ?, ?
       WHERE ${posting.sql}
       RETURNING response_body`,
    )
    .bind(
      t.tip.viewerId,
      t.key,
      t.requestHash,
      t.tip.id,
      nowMs,
      JSON.stringify(tipReceipt(t.tip)),
      accountAddress.userWallet(t.tip.viewerId),
      nowMs,
      nowMs + LIMITS.idempotencyRetentionMs,
      ...posting.params,
    );
}

function markAppliedStatements(db: D1Database, ids: readonly string[], nowMs: number): D1PreparedStatement[] {
  const statements: D1PreparedStatement[] = [];
  for (let i = 0; i < ids.length; i += 90) {
    const chunk = ids.slice(i, i + 90);
    statements.push(
      db
        .prepare(
          `UPDATE room_outbox SET delivered_at_ms = ? WHERE id IN (${chunk.map(() => "?").join(", ")}) AND delivered_at_ms IS NULL`,
        )
        .bind(nowMs, ...chunk),
    );
  }
  return statements;
}

/** Marks room outbox rows the room applied as delivered, in a batch of their own. */
export async function markOutboxApplied(shard: LedgerShard, ids: readonly string[], nowMs: number): Promise<void> {
  const marks = markAppliedStatements(shard.db, ids, nowMs);
  if (marks.length > 0) await shard.db.batch(marks);
}

interface RecordRow {
  request_hash: string;
  state: "in_flight" | "completed";
  locked_until_ms: number;
  response_status: number | null;
  response_body: string | null;
}

/** The Idempotency-Key records of these keys (null where there is none), in one batch. */
export async function readIdempotencyRecords(
  db: D1Database,
  keys: readonly { readonly principalId: string; readonly key: string }[],
): Promise<(StoredIdempotencyRecord | null)[]> {
  if (keys.length === 0) return [];
  const results = await db.batch(
    keys.map((k) =>
      db
        .prepare(
          `SELECT request_hash, state, locked_until_ms, response_status, response_body
           FROM idempotency_keys WHERE principal_id = ? AND key = ?`,
        )
        .bind(k.principalId, k.key),
    ),
  );
  return results.map((r) => {
    const row = r.results[0] as RecordRow | undefined;
    return row
      ? {
          requestHash: row.request_hash,
          state: row.state,
          lockedUntilMs: row.locked_until_ms,
          responseStatus: row.response_status,
          responseBody: row.response_body,
        }
      : null;
  });
}
