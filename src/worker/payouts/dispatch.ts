/**
 * Sending a withdrawal to its channel and asking the channel about it. The withdrawal's
 * channel number (domain/withdrawal-number.ts) is the channel's idempotency key: every send of
 * one withdrawal is the identical request under the same number, so a send after a timeout or
 * an unknown answer cannot pay twice, and no new number is ever minted here (a confirmed
 * failure ends the withdrawal; the creator's next request is a new withdrawal).
 *
 * A creator's risk hold is read again just before the first send: the hold may have been set
 * after the request (or the approval). Under hold nothing is sent, the withdrawal stays
 * `approved` (its money stays in withdrawing), an operator is told once (payment_flags
 * `payout_risk_held`, a `risk_hold` step) and the sweeper looks again later; lifting the hold
 * (routes/settlements.ts) sends it at once. A withdrawal already `paying` is sent again whatever
 * the hold: the channel may have it already, and the same number cannot pay twice.
 */

import { isChannel } from "../../channels/channel";
import type { PayoutOutcome } from "../../channels/payout";
import { type AnswerApplied, applyPayoutOutcome, flag } from "../../db/payout-answers";
import { findPayoutAccount, openPayee } from "../../db/reads/payout-accounts";
import { riskHolds } from "../../db/settlement-run";
import type { Ledger } from "../../db/shards";
import { switchRefusal } from "../../db/switches";
import { findWithdrawal, moveWithdrawal, noteRiskHold, payoutMinorOf, setColumns } from "../../db/withdrawals";
import { LIMITS } from "../../domain/limits";
import { retryDelayMs } from "../../domain/retry";
import type { SwitchCode } from "../../domain/switches";
import { withdrawalNumber } from "../../domain/withdrawal-number";
import { configFrom } from "../../platform/config";
import type { Logger } from "../../platform/logger";
import { payoutClientFor } from "./clients";

/** Shown to the payee (WeChat transfer_remark ≤ 32 characters, Alipay order_title). */
const PAYOUT_REMARK = "giftwire 主播收益提现";

/** A withdrawal moved to paying is queried first this long after the send, unless an answer comes. */
const FIRST_QUERY_AFTER_MS = 30_000;

export interface PayoutContext {
  readonly env: Env;
  readonly ledger: Ledger;
  readonly log: Logger;
  readonly nowMs: number;
}

export type SendVerdict =
  | { readonly kind: "done"; readonly applied: AnswerApplied | null }
  /**
   * Not sent, and the withdrawal stays where it was (approved stays approved): a runtime switch
   * holds it (its payout channel out, or money read-only; `code`), or the creator is under risk
   * hold (`code: "risk_hold"`, with the hold's reason). The sweeper sends it once cleared.
   */
  | { readonly kind: "held"; readonly code: SwitchCode | "risk_hold"; readonly reason?: string }
  /** Nothing definite: send the same number again after this long (or let the sweeper query). */
  | { readonly kind: "retry"; readonly delayMs: number; readonly detail: string };

/** Moves an approved withdrawal to paying (once) and sends it; sends a paying one again, same number. */
export async function sendPayout(ctx: PayoutContext, withdrawalId: string): Promise<SendVerdict> {
  const { ledger, nowMs } = ctx;
  const current = await findWithdrawal(ledger, withdrawalId);
  if (current !== null) {
    const held = await switchRefusal(
      ledger.control,
      configFrom(ctx.env).switchCacheTtlMs,
      { kind: "payout_send", channel: current.channel },
      nowMs,
    );
    if (held !== null) {
      ctx.log.warn("payout_held_by_switch", { withdrawalId, channel: current.channel, code: held.code });
      return { kind: "held", code: held.code };
    }
  }
  const before = current;
  if (before?.state === "approved") {
    // Read now, not at the request: a hold set since then stops the money before it leaves.
    // (A hold set between this read and the move below is not seen: the window is one read.)
    const reason = (await riskHolds(ledger.control, [before.creator_id])).get(before.creator_id);
    if (reason !== undefined) {
      // Once per withdrawal (reopened if an earlier lift resolved it).
      await flag(ledger, before, "payout_risk_held", { ref: null, nowMs }, { creatorId: before.creator_id, reason });
      await ledger.control
        .prepare("UPDATE payment_flags SET resolved_at_ms = NULL WHERE id = ? AND resolved_at_ms IS NOT NULL")
        .bind(`payout_risk_held:${before.id}`)
        .run();
      await noteRiskHold(ledger, before.id, nowMs, nowMs + LIMITS.payoutRiskHoldRecheckMs);
      ctx.log.warn("payout_risk_held", { withdrawalId: before.id, creatorId: before.creator_id, reason });
      return { kind: "held", code: "risk_hold", reason };
    }
  }
  const moved = await moveWithdrawal(ledger, withdrawalId, "pay", {
    cause: "pay",
    ref: null,
    actorId: null,
    nowMs,
    set: setColumns({ paying_since_ms: nowMs, next_query_at_ms: nowMs + FIRST_QUERY_AFTER_MS }),
  });
  if (moved.kind === "not_found") {
    ctx.log.error("alert_payout_unknown_withdrawal", { withdrawalId });
    return { kind: "done", applied: null };
  }
  if (moved.kind === "illegal") return { kind: "done", applied: null };
  const row = moved.row;
  // `pay` on a paying withdrawal is its repeat (unchanged): sent again under the same number.
  if (row.state !== "paying") return { kind: "done", applied: null };
  const outcome = await payOnce(ctx, row.id);
  const applied = await applyPayoutOutcome(ledger, row.id, outcome, {
    cause: "pay",
    ref: null,
    nowMs,
    random: Math.random(),
  });
  ctx.log.info("payout_sent", { withdrawalId: row.id, outcome: outcome.state, applied: applied.kind });
  if (applied.kind === "waiting" && applied.retrySameNumber) {
    const after = await findWithdrawal(ledger, row.id);
    return {
      kind: "retry",
      delayMs: retryDelayMs("channelCall", after?.query_attempts ?? 1, Math.random()),
      detail: outcome.state === "unknown" ? outcome.detail : outcome.state,
    };
  }
  return { kind: "done", applied };
}

/** Asks the channel about a withdrawal in paying; an unknown answer sends it again, same number. */
export async function queryPayout(ctx: PayoutContext, withdrawalId: string): Promise<SendVerdict> {
  const row = await findWithdrawal(ctx.ledger, withdrawalId);
  if (row?.state !== "paying") return { kind: "done", applied: null };
  const client = isChannel(row.channel) ? payoutClientFor(ctx.env, row.channel) : null;
  const outcome: PayoutOutcome = client
    ? await client.query(withdrawalNumber(row.id))
    : { state: "unknown", detail: `no payout client for ${row.channel}` };
  const applied = await applyPayoutOutcome(ctx.ledger, row.id, outcome, {
    cause: "query",
    ref: null,
    nowMs: ctx.nowMs,
    random: Math.random(),
  });
  ctx.log.info("payout_queried", { withdrawalId: row.id, outcome: outcome.state, applied: applied.kind });
  // The channel knows nothing definite (perhaps it never received the send): the same number again.
  if (outcome.state === "unknown" && client) return sendPayout(ctx, row.id);
  return { kind: "done", applied };
}

/** One send of a paying withdrawal's identical request. */
async function payOnce(ctx: PayoutContext, withdrawalId: string): Promise<PayoutOutcome> {
  const row = await findWithdrawal(ctx.ledger, withdrawalId);
  if (!row) throw new Error(`withdrawal ${withdrawalId} vanished`);
  const client = isChannel(row.channel) ? payoutClientFor(ctx.env, row.channel) : null;
  if (!client) return { state: "unknown", detail: `no payout client for ${row.channel}` };
  const account = await findPayoutAccount(ctx.ledger.control, row.payout_account_id);
  if (!account) throw new Error(`withdrawal ${row.id}'s payout account ${row.payout_account_id} is missing`);
  const payee = await openPayee(ctx.env.PII_KEYS, account);
  return client.pay({
    withdrawalId: withdrawalNumber(row.id),
    amountMinor: payoutMinorOf(row),
    currency: row.currency,
    payee: payee.payee,
    payeeName: payee.payeeName,
    remark: PAYOUT_REMARK,
  });
}
