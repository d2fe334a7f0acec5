/**
 * settlement: one creator's business day, T+N (domain/settlement.ts), in the creator's shard:
 *
 *   creator:{id}:pending → creator:{id}:available     net
 *                        → platform:tax_payable        withholding
 *                        → platform:receivables        receivable offset (what the creator owed)
 *
 * Its id is the settlement key (`settlement:{creator}:{day}`), so a day moves once however
 * often it is run; the `creator_settlements` row (state `settled`, replacing a `held` one) is
 * written in the same batch. The record was computed from the reversals of that day and the
 * outstanding receivable as read; a guard holds both unchanged inside the batch, so a reversal
 * that commits in between makes the settlement refuse (`settlement_inputs_changed`) and the
 * run re-read and retry, never settle on stale numbers.
 *
 * A day whose creator part was entirely reversed before settlement moves nothing: its row is
 * written under the same guards by `composeEmptySettlement`, with no operation (the invariant
 * checker holds every settled row with money to its operation, and every empty one to none).
 */

import { accountAddress, type Posting } from "../../domain/accounts";
import { assert } from "../../domain/limits";
import type { Currency } from "../../domain/money";
import type { SettlementRecord } from "../../domain/settlement";
import { type ComposedOperation, composeOperation, type Guard, type SqlCondition, type Verdict } from "../ledger";
import { RECEIVABLE_SQL, REVERSED_BEFORE_SQL } from "../reads/settlement-inputs";
import type { LedgerShard } from "../shards";

export interface SettlementInput {
  readonly record: SettlementRecord;
  readonly tipCount: number;
  readonly currency: Currency;
  readonly withholdingBps: number;
  /** The run (cron or an operator's) that writes it. */
  readonly runId: string;
  readonly actorId: string;
  readonly nowMs: number;
  /** The receivable the record was computed from (its reversals are `record.reversedMinor`). */
  readonly receivableBeforeMinor: number;
}

/** Moves what settles from pending: net, withholding and offset (the postings that are not zero). */
export function settlementPostings(record: SettlementRecord): Posting[] {
  const pending = accountAddress.creatorPending(record.creatorId);
  return [
    { from: pending, to: accountAddress.creatorAvailable(record.creatorId), amountMinor: record.netMinor },
    { from: pending, to: accountAddress.platformTaxPayable(), amountMinor: record.withholdingMinor },
    { from: pending, to: accountAddress.platformReceivables(), amountMinor: record.receivableOffsetMinor },
  ].filter((p) => p.amountMinor > 0);
}

/** The inputs the record was computed from are what the shard holds now. */
function inputsGuard(input: SettlementInput): Guard {
  const { creatorId, day, reversedMinor } = input.record;
  return {
    code: "settlement_inputs_changed",
    sql: `${REVERSED_BEFORE_SQL} = ? AND ${RECEIVABLE_SQL} = ?`,
    params: [creatorId, day, reversedMinor, creatorId, creatorId, input.receivableBeforeMinor],
  };
}

export function composeSettlement(shard: LedgerShard, input: SettlementInput): ComposedOperation {
  const { record } = input;
  const postings = settlementPostings(record);
  assert(postings.length > 0, "a settlement that moves nothing is composed by composeEmptySettlement");
  return composeOperation(shard, {
    id: record.key,
    kind: "settlement",
    currency: input.currency,
    postings,
    actorId: input.actorId,
    reason: null,
    metadata: {
      creatorId: record.creatorId,
      day: record.day,
      runId: input.runId,
      withholdingBps: input.withholdingBps,
      receivableBeforeMinor: input.receivableBeforeMinor,
      receivableAfterMinor: record.receivableAfterMinor,
    },
    nowMs: input.nowMs,
    guards: [inputsGuard(input)],
    extra: (posting) => [settledRow(shard.db, input, posting)],
  });
}

/**
 * A settled day that moves no money (every fen of it reversed before settlement): the row,
 * guarded like the operation, as a composed unit that group-commits beside operations. Its
 * verdict is `exists` once the day is settled, `settlement_inputs_changed` if a reversal
 * committed since the read.
 */
export function composeEmptySettlement(shard: LedgerShard, input: SettlementInput): ComposedOperation {
  const { record } = input;
  assert(settlementPostings(record).length === 0, "an empty settlement moves nothing");
  const { db } = shard;
  const guard = inputsGuard(input);
  const settled: SqlCondition = {
    sql: "EXISTS (SELECT 1 FROM creator_settlements WHERE id = ? AND state = 'settled')",
    params: [record.key],
  };
  const verdictExpression: SqlCondition = {
    sql: `CASE WHEN ${settled.sql} THEN 'exists' WHEN NOT (${guard.sql}) THEN '${guard.code}' ELSE NULL END`,
    params: [...settled.params, ...guard.params],
  };
  const verdict = db.prepare(`SELECT ${verdictExpression.sql} AS verdict`).bind(...verdictExpression.params);
  const write = settledRow(db, input, {
    sql: `NOT ${settled.sql} AND (${guard.sql})`,
    params: [...settled.params, ...guard.params],
  });
  const statements = [verdict, write];
  return {
    id: record.key,
    statements,
    transit: [],
    verdictExpression,
    verdictFrom(results): Verdict {
      assert(results.length === statements.length, "one result per statement");
      const row = results[0]?.results[0] as { verdict: string | null } | undefined;
      const written = (results[1]?.meta.changes ?? 0) === 1;
      if (row?.verdict === null || row?.verdict === undefined) {
        assert(written, "an empty settlement with its inputs unchanged is written");
        return { kind: "posted" };
      }
      assert(!written, "a refused empty settlement writes nothing");
      return row.verdict === "exists" ? { kind: "exists" } : { kind: "rejected", code: guard.code };
    },
  };
}

const ROW_COLUMNS = `id, creator_id, day, state, due_at_ms, gross_minor, platform_minor, creator_part_minor,
  reversed_minor, withholding_minor, receivable_offset_minor, net_minor, tip_count, currency, run_id, held_reason,
  created_at_ms, updated_at_ms`;

/** The record's columns from `id` through `currency`, in ROW_COLUMNS order (state is literal in the SQL). */
function recordValues(input: SettlementInput): unknown[] {
  const r = input.record;
  return [
    r.key,
    r.creatorId,
    r.day,
    r.dueAtMs,
    r.grossMinor,
    r.platformMinor,
    r.creatorPartMinor,
    r.reversedMinor,
    r.withholdingMinor,
    r.receivableOffsetMinor,
    r.netMinor,
    input.tipCount,
    input.currency,
  ];
}

/** The day's row in state `settled`, written only while `when` holds; a `held` row becomes settled. */
function settledRow(db: D1Database, input: SettlementInput, when: SqlCondition): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO creator_settlements (${ROW_COLUMNS})
       SELECT ?, ?, ?, 'settled', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ? WHERE ${when.sql}
       ON CONFLICT (id) DO UPDATE SET state = 'settled', due_at_ms = excluded.due_at_ms,
         gross_minor = excluded.gross_minor, platform_minor = excluded.platform_minor,
         creator_part_minor = excluded.creator_part_minor, reversed_minor = excluded.reversed_minor,
         withholding_minor = excluded.withholding_minor, receivable_offset_minor = excluded.receivable_offset_minor,
         net_minor = excluded.net_minor, tip_count = excluded.tip_count, run_id = excluded.run_id,
         updated_at_ms = excluded.updated_at_ms
       WHERE creator_settlements.state = 'held'`,
    )
    .bind(...recordValues(input), input.runId, input.nowMs, input.nowMs, ...when.params);
}

/**
 * A day of a creator under risk hold: recorded `held` with the operator's reason (what it would
 * settle now, for the operator's eyes; recomputed when it settles). Moves no money; a day
 * already settled is left alone.
 */
export function heldRow(db: D1Database, input: SettlementInput, heldReason: string): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO creator_settlements (${ROW_COLUMNS})
       VALUES (?, ?, ?, 'held', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET held_reason = excluded.held_reason, run_id = excluded.run_id,
         updated_at_ms = excluded.updated_at_ms
       WHERE creator_settlements.state = 'held'`,
    )
    .bind(...recordValues(input), input.runId, heldReason, input.nowMs, input.nowMs);
}
