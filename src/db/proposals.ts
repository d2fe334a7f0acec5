/**
 * Four-eyes proposals in the control database (schema: `proposals`). Every state change is one
 * conditional UPDATE on the row's current state, so two operators deciding at once cannot both
 * win: exactly one approval (or rejection) takes a pending proposal.
 */

export type ProposalState = "pending" | "approved" | "executed" | "failed" | "rejected" | "withdrawn" | "expired";

export interface ProposalRow {
  id: string;
  permission: string;
  summary: string;
  method: string;
  path: string;
  body: string | null;
  state: ProposalState;
  proposer_id: string;
  idempotency_key: string | null;
  request_id: string;
  proposed_at_ms: number;
  expires_at_ms: number;
  decider_id: string | null;
  decided_at_ms: number | null;
  decision_reason: string | null;
  result_status: number | null;
  result_body: string | null;
}

export interface NewProposal {
  readonly id: string;
  readonly permission: string;
  readonly summary: string;
  readonly method: string;
  readonly path: string;
  readonly body: string | null;
  readonly proposerId: string;
  readonly idempotencyKey: string | null;
  readonly requestId: string;
  readonly nowMs: number;
  readonly expiresAtMs: number;
}

export async function findProposal(db: D1Database, id: string): Promise<ProposalRow | null> {
  return db.prepare("SELECT * FROM proposals WHERE id = ?").bind(id).first<ProposalRow>();
}

/**
 * Records a proposal. With an Idempotency-Key, proposing again under the same key returns the
 * earlier proposal (`created: false`) while it is pending, approved or executed; one that came
 * to nothing (failed, rejected, withdrawn, expired) releases its key, as a refused request
 * releases an Idempotency-Key, so the same key proposes afresh.
 */
export async function insertProposal(
  db: D1Database,
  p: NewProposal,
): Promise<{ readonly row: ProposalRow; readonly created: boolean }> {
  if (p.idempotencyKey !== null) {
    await db
      .prepare(
        `UPDATE proposals SET idempotency_key = NULL
          WHERE proposer_id = ? AND idempotency_key = ?
            AND (state IN ('failed', 'rejected', 'withdrawn', 'expired') OR (state = 'pending' AND expires_at_ms <= ?))`,
      )
      .bind(p.proposerId, p.idempotencyKey, p.nowMs)
      .run();
  }
  const inserted = await db
    .prepare(
      `INSERT INTO proposals (id, permission, summary, method, path, body, state, proposer_id, idempotency_key,
                              request_id, proposed_at_ms, expires_at_ms)
       VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)
       ON CONFLICT DO NOTHING`,
    )
    .bind(
      p.id,
      p.permission,
      p.summary,
      p.method,
      p.path,
      p.body,
      p.proposerId,
      p.idempotencyKey,
      p.requestId,
      p.nowMs,
      p.expiresAtMs,
    )
    .run();
  if (inserted.meta.changes === 1) {
    const row = await findProposal(db, p.id);
    if (row) return { row, created: true };
  }
  const existing = await db
    .prepare("SELECT * FROM proposals WHERE proposer_id = ? AND idempotency_key = ?")
    .bind(p.proposerId, p.idempotencyKey)
    .first<ProposalRow>();
  if (!existing) throw new Error(`proposal ${p.id} was neither inserted nor found`);
  return { row: existing, created: false };
}

/**
 * Moves a proposal from `from` to `to` when it is still in `from` (and, for a decision on a
 * pending one, not expired at `nowMs`); true when this call made the change.
 */
export async function decideProposal(
  db: D1Database,
  id: string,
  from: ProposalState,
  to: ProposalState,
  decision: { readonly deciderId: string | null; readonly reason: string | null; readonly nowMs: number },
): Promise<boolean> {
  // A decision on a pending proposal must also find it unexpired.
  const expiryGuard = from === "pending" && to !== "expired";
  const res = await db
    .prepare(
      `UPDATE proposals
          SET state = ?, decider_id = COALESCE(?, decider_id), decided_at_ms = COALESCE(decided_at_ms, ?),
              decision_reason = COALESCE(?, decision_reason)
        WHERE id = ? AND state = ?${expiryGuard ? " AND expires_at_ms > ?" : ""}`,
    )
    .bind(to, decision.deciderId, decision.nowMs, decision.reason, id, from, ...(expiryGuard ? [decision.nowMs] : []))
    .run();
  return res.meta.changes === 1;
}

/** Records what the approved request answered: `executed` for a 2xx, `failed` otherwise. Once. */
export async function recordProposalResult(db: D1Database, id: string, status: number, body: string): Promise<boolean> {
  const res = await db
    .prepare(
      `UPDATE proposals SET state = ?, result_status = ?, result_body = ?
        WHERE id = ? AND state = 'approved' AND result_status IS NULL`,
    )
    .bind(status >= 200 && status < 300 ? "executed" : "failed", status, body, id)
    .run();
  return res.meta.changes === 1;
}

/** Marks pending proposals past their expiry `expired`; how many it marked. */
export async function expireProposals(db: D1Database, nowMs: number): Promise<number> {
  const res = await db
    .prepare("UPDATE proposals SET state = 'expired', decided_at_ms = ? WHERE state = 'pending' AND expires_at_ms <= ?")
    .bind(nowMs, nowMs)
    .run();
  return res.meta.changes;
}

/** Proposals in a state (or any), newest first, before the cursor id. */
export async function listProposals(
  db: D1Database,
  filter: { readonly state: ProposalState | null; readonly before: string | null; readonly limit: number },
): Promise<ProposalRow[]> {
  const { results } = await db
    .prepare(
      `SELECT * FROM proposals
        WHERE (? IS NULL OR state = ?) AND (? IS NULL OR id < ?)
        ORDER BY id DESC LIMIT ?`,
    )
    .bind(filter.state, filter.state, filter.before, filter.before, filter.limit)
    .all<ProposalRow>();
  return results;
}
