/**
 * `noticeCreator`: how the Worker puts a notice in a creator's inbox, through the
 * CREATOR_NOTICES queue (stored once per id, muted kinds skipped, retried by the queue). The
 * hooks below are what settlement, withdrawals and verification review call after their own
 * change committed; each builds the deterministic id of its event, so calling a hook again
 * (a retried run, a redelivered callback) stores nothing twice.
 *
 * A notice is not money and never blocks the change it reports: a queue that refuses the send
 * is logged as an alert and the caller goes on (`false`).
 */

import { sendCreatorNotices } from "../../db/messages/creator-notices";
import type { Ledger } from "../../db/shards";
import { findWithdrawal } from "../../db/withdrawals";
import type { CreatorNotice, NoticeVars } from "../../domain/notices";
import type { WithdrawalState } from "../../domain/withdrawal-states";
import type { Logger } from "../../platform/logger";
import { createLogger } from "../../platform/logger";

export async function noticeCreator(
  env: Pick<Env, "CREATOR_NOTICES">,
  notice: CreatorNotice,
  log: Logger = createLogger({ component: "notices" }),
): Promise<boolean> {
  try {
    await sendCreatorNotices(env.CREATOR_NOTICES, [notice]);
    return true;
  } catch (error) {
    log.error("alert_notice_send_failed", {
      noticeId: notice.id,
      kind: notice.kind,
      error: error instanceof Error ? error.message : String(error),
    });
    return false;
  }
}

/** Settlement: a creator's business day settled (call once the settlement operation committed). */
export function noticeSettlementDone(
  env: Pick<Env, "CREATOR_NOTICES">,
  creatorId: string,
  vars: NoticeVars<"settlement_done">,
  atMs: number,
  log?: Logger,
): Promise<boolean> {
  return noticeCreator(
    env,
    { id: `settled:${creatorId}:${vars.day}`, creatorId, kind: "settlement_done", vars, atMs },
    log,
  );
}

/** Withdrawals: a withdrawal entered `vars.state` (one notice per withdrawal per state). */
export function noticeWithdrawalState(
  env: Pick<Env, "CREATOR_NOTICES">,
  creatorId: string,
  vars: NoticeVars<"withdrawal_state"> & { state: WithdrawalState },
  atMs: number,
  log?: Logger,
): Promise<boolean> {
  return noticeCreator(
    env,
    { id: `withdrawal:${vars.withdrawalId}:${vars.state}`, creatorId, kind: "withdrawal_state", vars, atMs },
    log,
  );
}

/**
 * Verification review: an operator verified or rejected the creator. `reviewedAtMs` is part of
 * the id: a creator rejected, resubmitting and reviewed again gets a second notice.
 */
export function noticeVerificationResult(
  env: Pick<Env, "CREATOR_NOTICES">,
  creatorId: string,
  vars: NoticeVars<"verification_result">,
  reviewedAtMs: number,
  log?: Logger,
): Promise<boolean> {
  return noticeCreator(
    env,
    {
      id: `verification:${creatorId}:${reviewedAtMs}`,
      creatorId,
      kind: "verification_result",
      vars,
      atMs: reviewedAtMs,
    },
    log,
  );
}

/**
 * After a settlement run: one `settlement_done` notice per creator the run settled, with the
 * figures of their `creator_settlements` row (read from each creator's shard).
 */
export async function noticeSettledDay(
  env: Pick<Env, "CREATOR_NOTICES">,
  ledger: Ledger,
  day: string,
  creatorIds: readonly string[],
  atMs: number,
  log?: Logger,
): Promise<number> {
  let sent = 0;
  for (const creatorId of creatorIds) {
    const row = await ledger
      .forOwner(creatorId)
      .db.prepare(
        "SELECT tip_count, gross_minor, net_minor FROM creator_settlements WHERE creator_id = ? AND day = ? AND state = 'settled'",
      )
      .bind(creatorId, day)
      .first<{ tip_count: number; gross_minor: number; net_minor: number }>();
    if (!row) continue;
    const vars = { day, tipCount: row.tip_count, grossMinor: row.gross_minor, netMinor: row.net_minor };
    if (await noticeSettlementDone(env, creatorId, vars, atMs, log)) sent++;
  }
  return sent;
}

/**
 * After anything that may have moved a withdrawal (the request, a review, a payout answer): a
 * `withdrawal_state` notice for the state it is in now. The notice id is per withdrawal and
 * state, so calling this again after a no-op (a duplicate callback, a repeated review) stores
 * nothing new; a state passed through between two calls (approved → paying inside one message)
 * is not announced on its own.
 */
export async function noticeWithdrawalNow(
  env: Pick<Env, "CREATOR_NOTICES">,
  ledger: Ledger,
  withdrawalId: string,
  atMs: number,
  log?: Logger,
): Promise<boolean> {
  const row = await findWithdrawal(ledger, withdrawalId);
  // A user's winnings withdrawal has no creator inbox to land in: the user reads its state.
  if (!row || row.owner_kind === "user") return false;
  const vars = {
    withdrawalId: row.id,
    state: row.state,
    amountMinor: row.amount_minor,
    reason: row.reject_reason ?? row.failure_reason ?? null,
  };
  return noticeWithdrawalState(env, row.creator_id, vars, atMs, log);
}
