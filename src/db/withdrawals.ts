/**
 * Withdrawal state changes that move no money: approve, start paying, the channel's
 * non-final answers (accepted, needs the creator's confirmation, unknown), the stuck flag.
 * Each is a guarded UPDATE of the withdrawal (on the state it leaves) with its transition row
 * in the same batch; the ones that move money (request, reject, failed, paid) are operations
 * (src/db/operations/withdrawal-*.ts) that attach the same statements. A withdrawal lives in
 * its creator's shard (its id carries the creator's bucket: `ledger.forId(id)`).
 */

import type { WithdrawalOwnerKind } from "../domain/accounts";
import type { AuditAction } from "../domain/audit-chain";
import { assert } from "../domain/limits";
import {
  transitionWithdrawal,
  type WithdrawalEvent,
  type WithdrawalState,
  type WithdrawalTransition,
} from "../domain/withdrawal-states";
import { WHEN_PREVIOUS_CHANGED, withAuditEntry } from "./audit";
import type { SqlCondition } from "./ledger";
import type { Ledger } from "./shards";

export interface WithdrawalRow {
  id: string;
  /** The owner's id, a creator's or a user's (`owner_kind`). */
  creator_id: string;
  owner_kind: WithdrawalOwnerKind;
  amount_minor: number;
  fee_minor: number;
  currency: string;
  channel: string;
  payout_account_id: string;
  destination_masked: string;
  state: WithdrawalState;
  review: "auto" | "manual";
  review_reasons: string | null;
  reviewer_id: string | null;
  reject_reason: string | null;
  failure_reason: string | null;
  provider_ref: string | null;
  channel_state: string | null;
  paying_since_ms: number | null;
  query_attempts: number;
  next_query_at_ms: number | null;
  stuck_flagged_at_ms: number | null;
  idempotency_key: string;
  transition_count: number;
  created_at_ms: number;
  updated_at_ms: number;
}

export interface TransitionRow {
  withdrawal_id: string;
  seq: number;
  from_state: WithdrawalState | null;
  to_state: WithdrawalState;
  cause: string;
  ref: string | null;
  actor_id: string | null;
  at_ms: number;
}

/** What the payee receives: the amount held less the fee (the fee goes to platform:fees). */
export function payoutMinorOf(row: Pick<WithdrawalRow, "amount_minor" | "fee_minor">): number {
  return row.amount_minor - row.fee_minor;
}

export function findWithdrawal(ledger: Ledger, id: string): Promise<WithdrawalRow | null> {
  return ledger.forId(id).db.prepare("SELECT * FROM withdrawals WHERE id = ?").bind(id).first<WithdrawalRow>();
}

/** One recorded step of a withdrawal: from `from` to `to` (the same state for a note such as `stuck`). */
export interface StepSpec {
  readonly id: string;
  readonly from: WithdrawalState;
  readonly to: WithdrawalState;
  /** approve, auto_approve, reject, pay, accepted, needs_user_confirm, callback, query, stuck, … */
  readonly cause: string;
  readonly ref: string | null;
  readonly actorId: string | null;
  readonly nowMs: number;
  /** More columns to set with the step (`provider_ref = ?`), with their parameters. */
  readonly set?: SqlCondition;
  /** A further condition on the withdrawal row (`stuck_flagged_at_ms IS NULL`). */
  readonly only?: SqlCondition;
}

/**
 * The step's two statements: its transition row (numbered after the last, written only while
 * the withdrawal is in `from`), then the withdrawal moved to `to`, only if that row was just
 * written. `when` (an operation's posting condition) gates both. The second statement's
 * `meta.changes` is 1 exactly when the step happened.
 */
export function stepStatements(db: D1Database, s: StepSpec, when?: SqlCondition): D1PreparedStatement[] {
  const extra = [s.only, when].filter((c): c is SqlCondition => c !== undefined);
  const cond = extra.map((c) => ` AND (${c.sql})`).join("");
  const params = extra.flatMap((c) => c.params);
  return [
    db
      .prepare(
        `INSERT INTO withdrawal_transitions (withdrawal_id, seq, from_state, to_state, cause, ref, actor_id, at_ms)
         SELECT id, transition_count + 1, state, ?, ?, ?, ?, ? FROM withdrawals WHERE id = ? AND state = ?${cond}`,
      )
      .bind(s.to, s.cause, s.ref, s.actorId, s.nowMs, s.id, s.from, ...params),
    db
      .prepare(
        `UPDATE withdrawals SET state = ?, transition_count = transition_count + 1, updated_at_ms = ?${
          s.set ? `, ${s.set.sql}` : ""
        }
         WHERE id = ? AND state = ?
           AND EXISTS (SELECT 1 FROM withdrawal_transitions t
                       WHERE t.withdrawal_id = withdrawals.id AND t.seq = withdrawals.transition_count + 1)${cond}`,
      )
      .bind(s.to, s.nowMs, ...(s.set?.params ?? []), s.id, s.from, ...params),
  ];
}

/** Runs one step on its own; true when it happened (false: the withdrawal was not in `from`). */
export async function runStep(ledger: Ledger, s: StepSpec, audit?: AuditAction): Promise<boolean> {
  const { db } = ledger.forId(s.id);
  const run = async (statements: D1PreparedStatement[]) => ((await db.batch(statements))[1]?.meta.changes ?? 0) === 1;
  if (audit === undefined) return run(stepStatements(db, s));
  // An operator's step carries its audit entry, appended only if the step happened.
  return withAuditEntry(db, audit, (draft) => run([...stepStatements(db, s), draft.statement(WHEN_PREVIOUS_CHANGED)]));
}

export type StepOutcome =
  | { readonly kind: "changed"; readonly row: WithdrawalRow }
  /** The event led to the state the withdrawal is already in: nothing to do. */
  | { readonly kind: "unchanged"; readonly row: WithdrawalRow }
  | { readonly kind: "illegal"; readonly row: WithdrawalRow; readonly transition: WithdrawalTransition }
  | { readonly kind: "not_found" };

/**
 * A state change that moves no money (`approve`, `pay`), decided by domain/withdrawal-states.ts
 * on the row as read, then made with the guard on that state; a race lost to another path is
 * decided again on the row as it then is.
 */
export async function moveWithdrawal(
  ledger: Ledger,
  id: string,
  event: Extract<WithdrawalEvent, "approve" | "pay">,
  step: Omit<StepSpec, "id" | "from" | "to">,
  audit?: AuditAction,
): Promise<StepOutcome> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const row = await findWithdrawal(ledger, id);
    if (!row) return { kind: "not_found" };
    const t = transitionWithdrawal(row.state, event);
    if (!t.ok) return { kind: "illegal", row, transition: t };
    if (!t.changed) return { kind: "unchanged", row };
    if (await runStep(ledger, { ...step, id, from: row.state, to: t.state }, audit)) {
      const after = await findWithdrawal(ledger, id);
      assert(after, "a withdrawal is never deleted");
      return { kind: "changed", row: after };
    }
  }
  throw new Error(`withdrawal ${id} kept changing under ${event}`);
}

/** Columns set by a step, as SQL and parameters. */
export function setColumns(columns: Record<string, unknown>): SqlCondition {
  const names = Object.keys(columns);
  for (const n of names) assert(/^[a-z_]+$/.test(n), "column names are identifiers");
  return { sql: names.map((n) => `${n} = ?`).join(", "), params: names.map((n) => columns[n]) };
}

/**
 * The channel's answer that changes no state (accepted, unknown): remembered on a withdrawal
 * still in `paying`, with when to ask the channel next. Not a transition: nothing happened yet.
 */
export async function notePayingAnswer(
  ledger: Ledger,
  id: string,
  note: { providerRef: string | null; channelState: unknown; nextQueryAtMs: number; countAttempt: boolean },
  nowMs: number,
): Promise<boolean> {
  const result = await ledger
    .forId(id)
    .db.prepare(
      `UPDATE withdrawals SET provider_ref = COALESCE(?, provider_ref), channel_state = ?, next_query_at_ms = ?,
         query_attempts = query_attempts + ?, updated_at_ms = ?
       WHERE id = ? AND state = 'paying'`,
    )
    .bind(
      note.providerRef,
      note.channelState === null ? null : JSON.stringify(note.channelState),
      note.nextQueryAtMs,
      note.countAttempt ? 1 : 0,
      nowMs,
      id,
    )
    .run();
  return result.meta.changes === 1;
}

/**
 * An approved withdrawal not sent because its creator is under risk hold: it stays `approved`
 * and is looked at again at `recheckAtMs` (so held rows do not crowd the sweeper's batch). One
 * `risk_hold` step records it in the withdrawal's history, written only when the last step is
 * not already one (the sweeper's rechecks while the hold lasts add nothing).
 */
export async function noteRiskHold(ledger: Ledger, id: string, nowMs: number, recheckAtMs: number): Promise<void> {
  const { db } = ledger.forId(id);
  const step = stepStatements(db, {
    id,
    from: "approved",
    to: "approved",
    cause: "risk_hold",
    ref: null,
    actorId: null,
    nowMs,
    only: {
      sql: `NOT EXISTS (SELECT 1 FROM withdrawal_transitions l WHERE l.withdrawal_id = withdrawals.id
              AND l.seq = withdrawals.transition_count AND l.cause = 'risk_hold')`,
      params: [],
    },
  });
  await db.batch([
    ...step,
    db.prepare("UPDATE withdrawals SET next_query_at_ms = ? WHERE id = ? AND state = 'approved'").bind(recheckAtMs, id),
  ]);
}

/**
 * A creator's risk hold lifted: their approved withdrawals held back (noteRiskHold) are due for
 * sending now (the caller enqueues them; `sendBackstopAtMs` is when the sweeper sends any whose
 * message is lost), and their `payout_risk_held` flags are resolved. Returns their ids.
 */
export async function releaseRiskHeld(
  ledger: Ledger,
  creatorId: string,
  nowMs: number,
  sendBackstopAtMs: number,
): Promise<string[]> {
  const { results } = await ledger
    .forOwner(creatorId)
    .db.prepare("UPDATE withdrawals SET next_query_at_ms = ? WHERE creator_id = ? AND state = 'approved' RETURNING id")
    .bind(sendBackstopAtMs, creatorId)
    .all<{ id: string }>();
  const ids = results.map((r) => r.id);
  for (let i = 0; i < ids.length; i += 90) {
    const chunk = ids.slice(i, i + 90).map((id) => `payout_risk_held:${id}`);
    await ledger.control
      .prepare(
        `UPDATE payment_flags SET resolved_at_ms = ? WHERE resolved_at_ms IS NULL AND id IN (${chunk.map(() => "?").join(", ")})`,
      )
      .bind(nowMs, ...chunk)
      .run();
  }
  return ids;
}
