/**
 * Creator verifications (control `creator_verifications`): the identity sealed under
 * `verificationContext(creatorId)`, its masked forms beside it, and the review state. Every
 * state change is one guarded statement whose WHERE names the states it may start from
 * (domain/verification.ts), so a race between two submissions or two reviewers has one winner
 * and the loser reads the state that beat it.
 */

import type { AuditAction } from "../domain/audit-chain";
import type { Failure } from "../domain/errors";
import {
  checkSubmission,
  REVIEW_TRANSITIONS,
  type ReviewAction,
  type ReviewOutcome,
  reviewOutcome,
  type StoredVerificationState,
  type VerificationState,
  type VerificationSubmission,
} from "../domain/verification";
import { seal } from "../platform/sealing";
import { batchWithAuditEntry } from "./audit";

export interface VerificationRow {
  creator_id: string;
  state: StoredVerificationState;
  sealed: string;
  key_id: string;
  real_name_masked: string;
  id_number_masked: string;
  submitted_at_ms: number;
  reviewer_id: string | null;
  reviewed_at_ms: number | null;
  reject_reason: string | null;
  updated_at_ms: number;
}

/** The additional data a creator's sealed identity is bound to. */
export const verificationContext = (creatorId: string) => `verification:${creatorId}`;

export function findVerification(control: D1Database, creatorId: string): Promise<VerificationRow | null> {
  return control
    .prepare("SELECT * FROM creator_verifications WHERE creator_id = ?")
    .bind(creatorId)
    .first<VerificationRow>();
}

/** The state a creator is in (`unverified` when they never submitted). */
export async function verificationStateOf(control: D1Database, creatorId: string): Promise<VerificationState> {
  const row = await control
    .prepare("SELECT state FROM creator_verifications WHERE creator_id = ?")
    .bind(creatorId)
    .first<{ state: StoredVerificationState }>();
  return row?.state ?? "unverified";
}

/**
 * Stores a submission, sealed, as pending_review: a first one, or one after a rejection. The
 * upsert's WHERE is the domain's "may submit" rule, so a submission racing another (or an
 * approval) cannot overwrite it.
 */
export async function submitVerification(
  control: D1Database,
  piiKeys: string | undefined,
  creatorId: string,
  submission: VerificationSubmission,
  nowMs: number,
): Promise<VerificationRow | Failure<"verification_pending" | "already_verified">> {
  const sealed = await seal(piiKeys, verificationContext(creatorId), JSON.stringify(submission.identity));
  const row = await control
    .prepare(
      `INSERT INTO creator_verifications
         (creator_id, state, sealed, key_id, real_name_masked, id_number_masked, submitted_at_ms,
          reviewer_id, reviewed_at_ms, reject_reason, updated_at_ms)
       VALUES (?1, 'pending_review', ?2, ?3, ?4, ?5, ?6, NULL, NULL, NULL, ?6)
       ON CONFLICT (creator_id) DO UPDATE SET
         state = 'pending_review', sealed = excluded.sealed, key_id = excluded.key_id,
         real_name_masked = excluded.real_name_masked, id_number_masked = excluded.id_number_masked,
         submitted_at_ms = excluded.submitted_at_ms, reviewer_id = NULL, reviewed_at_ms = NULL,
         reject_reason = NULL, updated_at_ms = excluded.updated_at_ms
       WHERE creator_verifications.state = 'rejected'
       RETURNING *`,
    )
    .bind(creatorId, sealed.sealed, sealed.keyId, submission.realNameMasked, submission.idNumberMasked, nowMs)
    .first<VerificationRow>();
  if (row) return row;
  const refused = checkSubmission(await verificationStateOf(control, creatorId));
  // The upsert only declines a row that exists and is not rejected, which checkSubmission refuses.
  if (refused.ok) throw new Error(`a submission for ${creatorId} was declined from a state that allows it`);
  return refused;
}

export interface Reviewed {
  readonly row: VerificationRow;
  /** `transition` when this call changed the state, `no_op` when the same decision was already made. */
  readonly outcome: ReviewOutcome["kind"];
}

/** An operator's decision on a pending verification (`reason` for a rejection). */
export async function reviewVerification(
  control: D1Database,
  creatorId: string,
  action: ReviewAction,
  review: { reviewerId: string; reason: string | null; nowMs: number },
  audit?: AuditAction,
): Promise<Reviewed | Failure<"verification_not_found" | "verification_not_pending">> {
  const t = REVIEW_TRANSITIONS[action];
  const update = control
    .prepare(
      `UPDATE creator_verifications
         SET state = ?1, reviewer_id = ?2, reviewed_at_ms = ?3, reject_reason = ?4, updated_at_ms = ?3
       WHERE creator_id = ?5 AND state = ?6
       RETURNING *`,
    )
    .bind(t.to, review.reviewerId, review.nowMs, action === "reject" ? review.reason : null, creatorId, t.from);
  // An operator's review carries its audit entry, appended only if the review changed the row.
  const [updated] =
    audit === undefined
      ? [await update.all<VerificationRow>()]
      : await batchWithAuditEntry(
          control,
          { ...audit, before: { state: t.from }, after: { state: t.to, reason: review.reason } },
          [update],
        );
  const changed = (updated?.results[0] as VerificationRow | undefined) ?? null;
  if (changed) return { row: changed, outcome: "transition" };
  const current = await findVerification(control, creatorId);
  const outcome = reviewOutcome(current?.state ?? "unverified", action);
  if (!outcome.ok) return outcome;
  // Only a state equal to the action's target reaches here (the pending one was guarded above).
  if (outcome.value.kind !== "no_op" || !current) throw new Error(`review of ${creatorId} lost its row`);
  return { row: current, outcome: "no_op" };
}

export interface QueuePage {
  readonly rows: VerificationRow[];
  readonly nextCursor: string | null;
}

/** Verifications in `state`, oldest submission first, keyset-paged by (submitted_at_ms, creator_id). */
export async function verificationQueue(
  control: D1Database,
  state: StoredVerificationState,
  limit: number,
  cursor: { submittedAtMs: number; creatorId: string } | null,
): Promise<QueuePage> {
  const { results } = await control
    .prepare(
      `SELECT * FROM creator_verifications
       WHERE state = ?1 AND (?2 IS NULL OR submitted_at_ms > ?2 OR (submitted_at_ms = ?2 AND creator_id > ?3))
       ORDER BY submitted_at_ms, creator_id
       LIMIT ?4`,
    )
    .bind(state, cursor?.submittedAtMs ?? null, cursor?.creatorId ?? "", limit + 1)
    .all<VerificationRow>();
  const rows = results.slice(0, limit);
  const last = rows[rows.length - 1];
  return {
    rows,
    nextCursor: results.length > limit && last ? `${last.submitted_at_ms}.${last.creator_id}` : null,
  };
}
