/**
 * The operator console's work queues that live in the control database: payment flags,
 * reconciliation findings and dead letters — their open items, oldest first, their bounded
 * counts, and an operator's resolution of one (audited in the resolution's own batch; a second
 * resolution changes nothing and appends no entry).
 */

import type { AuditAction } from "../domain/audit-chain";
import { assert, LIMITS } from "../domain/limits";
import { batchWithAuditEntry } from "./audit";
import type { Ledger } from "./shards";

export interface PaymentFlagRow {
  id: string;
  kind: string;
  channel: string;
  order_id: string | null;
  notification_id: string | null;
  detail: string;
  created_at_ms: number;
  resolved_at_ms: number | null;
  resolved_by: string | null;
  resolution: string | null;
}

export interface FindingRow {
  id: string;
  run_id: string;
  kind: string;
  order_id: string | null;
  provider_ref: string | null;
  ours_amount_minor: number | null;
  theirs_amount_minor: number | null;
  ours_status: string | null;
  theirs_status: string | null;
  repair: string;
  repair_outcome: string | null;
  detail: string;
  resolved_at_ms: number | null;
  resolved_by: string | null;
  resolution: string | null;
  channel: string;
  statement_date: string;
}

export interface DeadLetterRow {
  id: string;
  queue: string;
  original_queue: string;
  message_id: string;
  body: string | null;
  body_truncated: number;
  attempts: number;
  first_seen_at_ms: number;
  last_seen_at_ms: number;
  state: "open" | "replayed" | "discarded";
  decided_by: string | null;
  decided_at_ms: number | null;
  note: string | null;
}

/** Which payment flags: `payout_stuck` is its own queue (payouts stuck); `payments` is every other kind. */
export type FlagGroup = "payments" | "payouts_stuck";
const FLAG_GROUP_SQL: Record<FlagGroup, string> = {
  payments: "kind <> 'payout_stuck'",
  payouts_stuck: "kind = 'payout_stuck'",
};

interface Page<T> {
  rows: T[];
  /** The last row's key when there are more. */
  next: string | null;
}

function paged<T>(rows: T[], limit: number, key: (row: T) => string): Page<T> {
  const shown = rows.slice(0, limit);
  const last = shown.at(-1);
  return { rows: shown, next: rows.length > limit && last ? key(last) : null };
}

/** Open (or resolved) payment flags of a group, oldest first; the cursor is `createdAtMs.id`. */
export async function listPaymentFlags(
  control: D1Database,
  group: FlagGroup,
  open: boolean,
  after: { createdAtMs: number; id: string } | null,
  limit: number,
): Promise<Page<PaymentFlagRow>> {
  assert(limit >= 1 && limit <= LIMITS.pageSizeMax, "a page is within its limit");
  const { results } = await control
    .prepare(
      `SELECT * FROM payment_flags
       WHERE resolved_at_ms IS ${open ? "" : "NOT "}NULL AND ${FLAG_GROUP_SQL[group]}
         AND (created_at_ms > ?1 OR (created_at_ms = ?1 AND id > ?2))
       ORDER BY created_at_ms, id LIMIT ?3`,
    )
    .bind(after?.createdAtMs ?? -1, after?.id ?? "", limit + 1)
    .all<PaymentFlagRow>();
  return paged(results, limit, (r) => `${r.created_at_ms}.${r.id}`);
}

/** Open (or resolved) reconciliation findings with their run's channel and day, oldest first by id. */
export async function listFindings(
  control: D1Database,
  open: boolean,
  afterId: string | null,
  limit: number,
): Promise<Page<FindingRow>> {
  assert(limit >= 1 && limit <= LIMITS.pageSizeMax, "a page is within its limit");
  const { results } = await control
    .prepare(
      `SELECT f.*, r.channel, r.statement_date FROM reconciliation_findings f
       JOIN reconciliation_runs r ON r.id = f.run_id
       WHERE f.resolved_at_ms IS ${open ? "" : "NOT "}NULL AND f.id > ?1
       ORDER BY f.id LIMIT ?2`,
    )
    .bind(afterId ?? "", limit + 1)
    .all<FindingRow>();
  return paged(results, limit, (r) => r.id);
}

export async function findFinding(control: D1Database, id: string): Promise<FindingRow | null> {
  return control
    .prepare(
      `SELECT f.*, r.channel, r.statement_date FROM reconciliation_findings f
       JOIN reconciliation_runs r ON r.id = f.run_id WHERE f.id = ?`,
    )
    .bind(id)
    .first<FindingRow>();
}

export async function findPaymentFlag(control: D1Database, id: string): Promise<PaymentFlagRow | null> {
  return control.prepare("SELECT * FROM payment_flags WHERE id = ?").bind(id).first<PaymentFlagRow>();
}

export type Resolved<T> =
  | { kind: "not_found" }
  | { kind: "resolved"; row: T }
  /** It was resolved already (by this or another operator): nothing changed. */
  | { kind: "already"; row: T };

async function resolveIn<T extends { resolved_at_ms: number | null }>(
  control: D1Database,
  table: "payment_flags" | "reconciliation_findings",
  id: string,
  find: () => Promise<T | null>,
  resolution: { actorId: string; note: string; nowMs: number },
  audit: AuditAction,
): Promise<Resolved<T>> {
  const before = await find();
  if (!before) return { kind: "not_found" };
  if (before.resolved_at_ms !== null) return { kind: "already", row: before };
  const [updated] = await batchWithAuditEntry(control, audit, [
    control
      .prepare(
        `UPDATE ${table} SET resolved_at_ms = ?, resolved_by = ?, resolution = ? WHERE id = ? AND resolved_at_ms IS NULL`,
      )
      .bind(resolution.nowMs, resolution.actorId, resolution.note, id),
  ]);
  const row = await find();
  assert(row !== null, "a resolved row is still there");
  return { kind: (updated?.meta.changes ?? 0) === 1 ? "resolved" : "already", row };
}

export function resolveFinding(
  control: D1Database,
  id: string,
  resolution: { actorId: string; note: string; nowMs: number },
  audit: AuditAction,
): Promise<Resolved<FindingRow>> {
  return resolveIn(control, "reconciliation_findings", id, () => findFinding(control, id), resolution, audit);
}

export function resolvePaymentFlag(
  control: D1Database,
  id: string,
  resolution: { actorId: string; note: string; nowMs: number },
  audit: AuditAction,
): Promise<Resolved<PaymentFlagRow>> {
  return resolveIn(control, "payment_flags", id, () => findPaymentFlag(control, id), resolution, audit);
}

/** Dead letters in a state, oldest first; the cursor is `firstSeenAtMs.id`. */
export async function listDeadLetters(
  control: D1Database,
  state: DeadLetterRow["state"],
  after: { firstSeenAtMs: number; id: string } | null,
  limit: number,
): Promise<Page<DeadLetterRow>> {
  assert(limit >= 1 && limit <= LIMITS.pageSizeMax, "a page is within its limit");
  const { results } = await control
    .prepare(
      `SELECT * FROM dead_letters WHERE state = ?1 AND (first_seen_at_ms > ?2 OR (first_seen_at_ms = ?2 AND id > ?3))
       ORDER BY first_seen_at_ms, id LIMIT ?4`,
    )
    .bind(state, after?.firstSeenAtMs ?? -1, after?.id ?? "", limit + 1)
    .all<DeadLetterRow>();
  return paged(results, limit, (r) => `${r.first_seen_at_ms}.${r.id}`);
}

export async function findDeadLetter(control: D1Database, id: string): Promise<DeadLetterRow | null> {
  return control.prepare("SELECT * FROM dead_letters WHERE id = ?").bind(id).first<DeadLetterRow>();
}

/**
 * Moves an open dead letter to `replayed` or `discarded`, with its audit entry, at most once:
 * the conditional UPDATE is the claim, so two operators replaying together send it once.
 * `claimed` false: it was not open (any more).
 */
export async function decideDeadLetter(
  control: D1Database,
  id: string,
  to: "replayed" | "discarded",
  decision: { actorId: string; note: string | null; nowMs: number },
  audit: AuditAction,
): Promise<boolean> {
  const [updated] = await batchWithAuditEntry(control, audit, [
    control
      .prepare(
        "UPDATE dead_letters SET state = ?, decided_by = ?, decided_at_ms = ?, note = ? WHERE id = ? AND state = 'open'",
      )
      .bind(to, decision.actorId, decision.nowMs, decision.note, id),
  ]);
  return (updated?.meta.changes ?? 0) === 1;
}

/** A replay whose send failed puts the letter back (the claim's audit entry stays: it says who tried). */
export async function reopenDeadLetter(control: D1Database, id: string): Promise<void> {
  await control
    .prepare(
      "UPDATE dead_letters SET state = 'open', decided_by = NULL, decided_at_ms = NULL, note = NULL WHERE id = ? AND state = 'replayed'",
    )
    .bind(id)
    .run();
}

/** What the count of each queue reads: at most `LIMITS.workQueueCountMax` rows (a badge shows "1000+"). */
async function boundedCount(db: D1Database, sql: string, ...params: unknown[]): Promise<number> {
  const row = await db
    .prepare(`SELECT COUNT(*) AS n FROM (${sql} LIMIT ${LIMITS.workQueueCountMax})`)
    .bind(...params)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

export const WORK_QUEUES = [
  "paymentFlags",
  "findings",
  "withdrawals",
  "verifications",
  "heldMessages",
  "proposals",
  "payoutsStuck",
  "deadLetters",
  "riskReviews",
] as const;
export type WorkQueue = (typeof WORK_QUEUES)[number];

/**
 * Each asked queue's size, each count bounded by `LIMITS.workQueueCountMax` (across shards,
 * the sum of each shard's bounded count, capped again). Indexed reads: open flags and
 * findings by their `resolved_at_ms` index, withdrawals by state, proposals by state.
 */
export async function countWorkQueues(
  ledger: Ledger,
  which: readonly WorkQueue[],
  nowMs: number,
): Promise<Partial<Record<WorkQueue, number>>> {
  const control = ledger.control;
  const acrossShards = async (sql: string) =>
    Math.min(
      LIMITS.workQueueCountMax,
      (await Promise.all(ledger.shards.map((s) => boundedCount(s.db, sql)))).reduce((a, b) => a + b, 0),
    );
  const counters: Record<WorkQueue, () => Promise<number>> = {
    paymentFlags: () =>
      boundedCount(control, `SELECT 1 FROM payment_flags WHERE resolved_at_ms IS NULL AND ${FLAG_GROUP_SQL.payments}`),
    payoutsStuck: () =>
      boundedCount(
        control,
        `SELECT 1 FROM payment_flags WHERE resolved_at_ms IS NULL AND ${FLAG_GROUP_SQL.payouts_stuck}`,
      ),
    findings: () => boundedCount(control, "SELECT 1 FROM reconciliation_findings WHERE resolved_at_ms IS NULL"),
    verifications: () => boundedCount(control, "SELECT 1 FROM creator_verifications WHERE state = 'pending_review'"),
    proposals: () =>
      boundedCount(control, "SELECT 1 FROM proposals WHERE state = 'pending' AND expires_at_ms > ?", nowMs),
    deadLetters: () => boundedCount(control, "SELECT 1 FROM dead_letters WHERE state = 'open'"),
    withdrawals: () => acrossShards("SELECT 1 FROM withdrawals WHERE state = 'requested'"),
    heldMessages: () => acrossShards("SELECT 1 FROM tip_messages WHERE status = 'held'"),
    riskReviews: () => acrossShards("SELECT 1 FROM held_tips WHERE state = 'held'"),
  };
  const counts = await Promise.all(which.map(async (q) => [q, await counters[q]()] as const));
  return Object.fromEntries(counts);
}
