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
 *
 * The tips are composed as one set-based group (tip-group.ts: 3 statements per tip and 8
 * per group, with the same verdicts and rows), or, with `composition: "per_tip"`, each with
 * `composeTip` as listed above (the reference the group is tested against; also the fallback
 * for a group the set-based composer declines).
 */

import { accountAddress } from "../../domain/accounts";
import type { AutopayLimits } from "../../domain/autopay";
import type { GuardCode } from "../../domain/guards";
import type { StoredIdempotencyRecord } from "../../domain/idempotency";
import { assert, LIMITS } from "../../domain/limits";
import {
  type ComposedOperation,
  dispatchPosted,
  dispatchTransit,
  type Guard,
  type SqlCondition,
  type Verdict,
} from "../ledger";
import type { LedgerShard } from "../shards";
import { composeTip, type PreparedTip, tipReceipt } from "./tip";
import { composeTipGroup } from "./tip-group";

/** A priced tip waiting in a room, with its Idempotency-Key. */
export interface BatchedTip {
  readonly tip: PreparedTip;
  readonly key: string;
  readonly requestHash: string;
  /** The payer confirmed it with their PIN (checked by the Worker): the 小额免密 limits do not apply. */
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
  /**
   * How the tips are composed: as one set-based group (tip-group.ts, the default), or each on
   * its own (`composeTip`: simpler to read, ~4× the statements; the group's reference in tests).
   */
  readonly composition?: "set_based" | "per_tip";
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
  const group = options.composition === "per_tip" ? null : composeTipGroup(shard, tips, options);
  if (group !== null) {
    const statements = [...marks, ...group.statements];
    const results = await db.batch(statements);
    const read = group.read(results.slice(marks.length));
    return answer(shard, tips, read, statements.length, (verdicts) => dispatchTransit(shard, group.transit, verdicts));
  }
  const composed: ComposedOperation[] = tips.map((t) =>
    composeTip(shard, t.tip, {
      guards: [keyTakenGuard(t)],
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

  const read: { verdict: Verdict; body: string | null }[] = [];
  let offset = marks.length;
  for (const c of composed) {
    offset += 1; // the stale-record statement
    const own = results.slice(offset, offset + c.statements.length);
    const verdict = c.verdictFrom(own);
    offset += c.statements.length;
    // The record is the last attached statement, just before the operation's finalize.
    const stored = own[c.statements.length - 2]?.results[0] as { response_body: string } | undefined;
    read.push({ verdict, body: verdict.kind === "posted" ? (stored?.response_body ?? null) : null });
  }
  return answer(shard, tips, read, statements.length, (verdicts) => dispatchPosted(shard, composed, verdicts));
}

/** The tips' outcomes from their verdicts; the records of taken keys are read in one more batch. */
async function answer(
  shard: LedgerShard,
  tips: readonly BatchedTip[],
  read: readonly { verdict: Verdict; body: string | null }[],
  statements: number,
  dispatch: (verdicts: readonly Verdict[]) => Promise<void>,
): Promise<TipBatchResult> {
  const outcomes: BatchedTipOutcome[] = [];
  const taken: number[] = [];
  for (const { verdict, body } of read) {
    switch (verdict.kind) {
      case "posted":
        assert(body !== null, "a posted tip completes its idempotency record");
        outcomes.push({ kind: "posted", status: 201, body });
        break;
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
      shard.db,
      taken.map((i) => ({ principalId: tips[i]?.tip.viewerId ?? "", key: tips[i]?.key ?? "" })),
    );
    batches += 1;
    for (const [n, i] of taken.entries()) outcomes[i] = { kind: "key_taken", record: records[n] ?? null };
  }
  return {
    outcomes,
    batches,
    statements: statements + taken.length,
    dispatched: dispatch(read.map((r) => r.verdict)),
  };
}

/** "This key has no live record": a batched tip's first guard. */
export function keyTakenGuard(t: BatchedTip): Guard {
  return {
    code: "idempotency_key_taken",
    sql: "NOT EXISTS (SELECT 1 FROM idempotency_keys WHERE principal_id = ? AND key = ?)",
    params: [t.tip.viewerId, t.key],
  };
}

/** Removes the key's record if it may be replaced (see the file's comment, step 1). */
export function staleRecordStatement(db: D1Database, t: BatchedTip, nowMs: number): D1PreparedStatement {
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
export function recordStatement(
  db: D1Database,
  t: BatchedTip,
  nowMs: number,
  posting: SqlCondition,
  /** Subtracted from the wallet's stored balance: a set-based group's debits not written yet. */
  unwritten: SqlCondition | null = null,
): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO idempotency_keys (principal_id, key, request_hash, state, operation_id, locked_until_ms,
         response_status, response_body, created_at_ms, expires_at_ms)
       SELECT ?, ?, ?, 'completed', ?, ?, 201,
         json_set(?, '$.walletBalanceMinor', (SELECT balance_minor FROM accounts WHERE address = ?)${
           unwritten ? ` - ${unwritten.sql}` : ""
         }), ?, ?
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
      ...(unwritten?.params ?? []),
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
