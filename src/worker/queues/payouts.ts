/**
 * The payouts queue (message schema: src/db/messages/payouts.ts): approved withdrawals sent to
 * their channel, queries, and verified payout callbacks (stored raw first by
 * routes/payout-callbacks.ts). Each is applied once per withdrawal state, so redeliveries,
 * resent callbacks and answers in any order change nothing twice.
 */

import { emitOperationEvents } from "../../db/business-events";
import { type PayoutCallbackMessage, PayoutQueueMessage } from "../../db/messages/payouts";
import { payoutOperationId } from "../../db/operations/withdrawal-payout";
import { applyPayoutOutcome } from "../../db/payout-answers";
import { type Ledger, openLedger } from "../../db/shards";
import { LIMITS } from "../../domain/limits";
import { withdrawalIdOf } from "../../domain/withdrawal-number";
import type { Logger } from "../../platform/logger";
import { noticeWithdrawalNow } from "../notifications/notice";
import { queryPayout, sendPayout } from "../payouts/dispatch";
import { dropMalformed } from "./malformed";
import { retryDelaySeconds } from "./retry";

/** The queue's name in wrangler.toml; index.ts dispatches on it exactly. */
export const PAYOUTS_QUEUE = "giftwire-payouts";

export async function handlePayoutsBatch(batch: MessageBatch<unknown>, env: Env, log: Logger): Promise<void> {
  const ledger = await openLedger(env);
  for (const message of batch.messages) {
    const parsed = PayoutQueueMessage.safeParse(message.body);
    if (!parsed.success) {
      dropMalformed(PAYOUTS_QUEUE, message, parsed.error, log);
      continue;
    }
    const m = parsed.data;
    try {
      const ctx = { env, ledger, log, nowMs: Date.now() };
      if (m.kind === "payout.callback") await applyCallback(ledger, m, log);
      else {
        const verdict =
          m.kind === "payout.send" ? await sendPayout(ctx, m.withdrawalId) : await queryPayout(ctx, m.withdrawalId);
        if (verdict.kind === "retry") {
          log.warn("payout_answer_unknown", { withdrawalId: m.withdrawalId, detail: verdict.detail });
          // The same message again later: the same withdrawal, so the same channel number.
          message.retry({ delaySeconds: Math.ceil(verdict.delayMs / 1000) });
          continue;
        }
      }
    } catch (error) {
      const fields = { kind: m.kind, messageId: message.id, attempts: message.attempts, error: String(error) };
      if (message.attempts >= LIMITS.alertAfterAttempts) log.error("alert_payout_message_failing", fields);
      else log.warn("payout_message_failed", fields);
      message.retry({ delaySeconds: retryDelaySeconds("paymentCallback", message.attempts) });
      continue;
    }
    message.ack();
    const withdrawalId = m.kind === "payout.callback" ? withdrawalIdOf(m.withdrawalId) : m.withdrawalId;
    if (withdrawalId) {
      await noticeWithdrawalNow(env, ledger, withdrawalId, Date.now(), log);
      // withdrawal.paid once the payout committed (nothing when it is not paid); a lost send is the sweeper's.
      await emitOperationEvents(
        env,
        ledger.forId(withdrawalId),
        [{ id: payoutOperationId(withdrawalId), kind: "withdrawal_payout" }],
        log,
      );
    }
  }
}

/** Enqueues the send of an approved withdrawal; if that fails, the sweeper sends it. */
export async function enqueuePayoutSend(env: Env, withdrawalId: string, log: Logger): Promise<void> {
  try {
    await env.PAYOUTS.send({ kind: "payout.send", withdrawalId } satisfies PayoutQueueMessage);
  } catch (error) {
    log.warn("payout_send_enqueue_failed", { withdrawalId, error: String(error) });
  }
}

async function applyCallback(ledger: Ledger, m: PayoutCallbackMessage, log: Logger): Promise<void> {
  const nowMs = Date.now();
  const withdrawalId = withdrawalIdOf(m.withdrawalId);
  const applied = withdrawalId
    ? await applyPayoutOutcome(
        ledger,
        withdrawalId,
        m.outcome,
        { cause: "callback", ref: m.notificationId, nowMs, random: Math.random() },
        m.amountMinor,
      )
    : ({ kind: "unknown_withdrawal" } as const);
  await ledger.control
    .prepare("UPDATE payment_notifications SET outcome = ?, applied_at_ms = ? WHERE id = ?")
    .bind(JSON.stringify(applied).slice(0, 1000), nowMs, m.notificationId)
    .run();
  const fields = { notificationId: m.notificationId, channel: m.channel, withdrawalId: m.withdrawalId };
  if (applied.kind === "flagged" || applied.kind === "unknown_withdrawal") {
    log.error("alert_payout_callback_flagged", { ...fields, applied: applied.kind });
  } else log.info("payout_callback_applied", { ...fields, applied: applied.kind });
}
