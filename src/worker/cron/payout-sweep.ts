/**
 * The payout sweeper: every withdrawal on its way out reaches a final state even when the
 * queue and the channel's callbacks fall silent.
 *
 * - `approved` past its send backstop (the queue's send was lost): sent now, unless its creator
 *   is under risk hold (dispatch.ts): then it stays approved and is looked at again later.
 * - `paying` whose next query is due (no callback yet): the channel is asked; an unknown
 *   answer sends the same number again (dispatch.ts), never a new one.
 * - `paying` for longer than LIMITS.withdrawalPayingStuckMs: flagged for an operator once
 *   (control payment_flags, kind payout_stuck, and a `stuck` step on the withdrawal); it
 *   keeps being queried.
 */

import { flag } from "../../db/payout-answers";
import { openLedger } from "../../db/shards";
import { runStep, setColumns, type WithdrawalRow } from "../../db/withdrawals";
import { LIMITS } from "../../domain/limits";
import type { Logger } from "../../platform/logger";
import { queryPayout, sendPayout } from "../payouts/dispatch";

export interface PayoutSweepReport {
  readonly sent: number;
  /** Approved but not sent: the creator is under risk hold. */
  readonly held: number;
  readonly queried: number;
  readonly stuck: number;
}

export async function sweepPayouts(env: Env, nowMs: number, log: Logger): Promise<PayoutSweepReport> {
  const ledger = await openLedger(env, nowMs);
  const ctx = { env, ledger, log, nowMs };
  let sent = 0;
  let held = 0;
  let queried = 0;
  let stuck = 0;
  for (const shard of ledger.shards) {
    const [due, stale] = await shard.db.batch<WithdrawalRow>([
      shard.db
        .prepare(
          `SELECT * FROM withdrawals WHERE next_query_at_ms <= ? AND state IN ('approved', 'paying')
           ORDER BY next_query_at_ms LIMIT ?`,
        )
        .bind(nowMs, LIMITS.payoutSweepBatchMax),
      shard.db
        .prepare(
          `SELECT * FROM withdrawals WHERE state = 'paying' AND stuck_flagged_at_ms IS NULL AND paying_since_ms <= ?
           ORDER BY paying_since_ms LIMIT ?`,
        )
        .bind(nowMs - LIMITS.withdrawalPayingStuckMs, LIMITS.payoutSweepBatchMax),
    ]);
    for (const row of due?.results ?? []) {
      try {
        if (row.state === "approved") {
          // Held by a runtime switch or a risk hold: it stays approved and is due again later.
          if ((await sendPayout(ctx, row.id)).kind === "held") held += 1;
          else sent += 1;
        } else {
          await queryPayout(ctx, row.id);
          queried += 1;
        }
      } catch (error) {
        log.warn("payout_sweep_failed", { withdrawalId: row.id, state: row.state, error: String(error) });
      }
    }
    for (const row of stale?.results ?? []) {
      // The flag first, under an id derived from the withdrawal: a run that dies between the
      // two writes leaves the flag, and the next run's step finds it there (written once).
      await flag(ledger, row, "payout_stuck", { ref: null, nowMs }, { payingSinceMs: row.paying_since_ms });
      const flagged = await runStep(ledger, {
        id: row.id,
        from: "paying",
        to: "paying",
        cause: "stuck",
        ref: null,
        actorId: null,
        nowMs,
        set: setColumns({ stuck_flagged_at_ms: nowMs }),
        only: { sql: "stuck_flagged_at_ms IS NULL", params: [] },
      });
      if (flagged) {
        stuck += 1;
        log.error("alert_payout_stuck", {
          withdrawalId: row.id,
          channel: row.channel,
          payingSinceMs: row.paying_since_ms,
        });
      }
    }
  }
  return { sent, held, queried, stuck };
}
