import { z } from "zod";
import { postClaimCredits } from "../../db/operations/packet-claim";
import { settleExpiredPacket } from "../../db/operations/packet-refund";
import { type PacketLedgerRow, packetInfoOf } from "../../db/reads/packets";
import { USER_ID_PATTERN } from "../../domain/accounts";
import { LIMITS } from "../../domain/limits";
import { CURRENCIES } from "../../domain/money";
import type { Logger } from "../context";
import { retryDelaySeconds } from "../rooms/outbox";

/**
 * Red-packet money after the room: claim credits from the ledger queue, and the sweeper that
 * finishes packets past expiry.
 *
 * Credits: the room puts each claim on LEDGER_POSTINGS once it is durable in its SQLite.
 * The consumer posts a whole message batch as one D1 batch (group commit); each credit is an
 * operation whose id is the claim id, so a redelivered message is "exists" and acknowledged.
 */

export const ClaimCreditMessage = z.object({
  kind: z.literal("packet.claim"),
  claimId: z.string().min(1).max(64),
  packetId: z.string().min(1).max(64),
  userId: z.string().regex(USER_ID_PATTERN),
  claimIndex: z.number().int().nonnegative().max(LIMITS.packetSharesMax),
  amountMinor: z.number().int().min(1).max(LIMITS.packetTotalMaxMinor),
  claimedAtMs: z.number().int().nonnegative(),
  currency: z.enum(CURRENCIES),
});
export type ClaimCreditMessage = z.infer<typeof ClaimCreditMessage>;

/** Failed deliveries of one message after which operators are alerted (it then goes on to the DLQ). */
const ALERT_AFTER_ATTEMPTS = 3;

export async function handleLedgerPostingsBatch(batch: MessageBatch<unknown>, env: Env, log: Logger): Promise<void> {
  const valid: { message: Message<unknown>; credit: ClaimCreditMessage }[] = [];
  for (const message of batch.messages) {
    const parsed = ClaimCreditMessage.safeParse(message.body);
    if (parsed.success) valid.push({ message, credit: parsed.data });
    else {
      // Only the room writes here; a malformed message is a bug. Keep it for the DLQ.
      log.error("ledger_posting_malformed", { messageId: message.id, attempts: message.attempts });
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    }
  }
  if (valid.length === 0) return;
  let verdicts: Awaited<ReturnType<typeof postClaimCredits>>;
  try {
    verdicts = await postClaimCredits(
      env.DB,
      valid.map((v) => v.credit),
      Date.now(),
    );
  } catch (error) {
    // The batch did not commit (nothing of it did): every credit retries.
    const attempts = Math.max(...valid.map((v) => v.message.attempts));
    const fields = { credits: valid.length, attempts, error: String(error) };
    if (attempts >= ALERT_AFTER_ATTEMPTS) log.error("alert_packet_credits_failing", fields);
    else log.warn("packet_credits_failed", fields);
    for (const v of valid) v.message.retry({ delaySeconds: retryDelaySeconds(v.message.attempts) });
    return;
  }
  let posted = 0;
  let duplicates = 0;
  verdicts.forEach((verdict, i) => {
    const v = valid[i];
    if (!v) return;
    if (verdict.kind === "posted") posted += 1;
    if (verdict.kind === "exists") duplicates += 1;
    if (verdict.kind === "rejected") {
      // The room and the ledger disagree about this packet: never credit past the escrow.
      log.error(
        v.message.attempts >= ALERT_AFTER_ATTEMPTS ? "alert_packet_credit_rejected" : "packet_credit_rejected",
        {
          claimId: v.credit.claimId,
          packetId: v.credit.packetId,
          code: verdict.code,
          attempts: v.message.attempts,
        },
      );
      v.message.retry({ delaySeconds: retryDelaySeconds(v.message.attempts) });
    } else v.message.ack();
  });
  log.info("packet_credits", { posted, duplicates, batch: batch.messages.length });
}

/** Grace after expiry before the sweeper steps in for the room's own alarm. */
const SWEEP_GRACE_MS = 60_000;
/** Credits not all landed this long after a packet finished are re-queued by its room. */
const CREDITS_LAG_MS = 5 * 60_000;
/** Packets the sweeper handles per run. */
const SWEEP_BATCH = 20;

export interface SweepSummary {
  readonly settled: number;
  readonly resent: number;
  readonly failed: number;
}

/**
 * The backstop for the room's expiry alarm: every packet still open a minute past expiry is
 * closed in its room and refunded here; every finished packet whose credits have not all
 * landed five minutes on has its credits re-queued by its room. A packet that keeps failing
 * raises `alert_packet_sweep_failing` on every run from the third failure.
 */
export async function sweepRedPackets(env: Env, nowMs: number, log: Logger): Promise<SweepSummary> {
  const { results } = await env.DB.prepare(
    `SELECT p.*, r.creator_id FROM red_packets p JOIN rooms r ON r.id = p.room_id
     WHERE (p.status = 'open' AND p.final_claim_count IS NULL AND p.expires_at_ms <= ?)
        OR (p.final_claim_count IS NOT NULL AND p.credited_count < p.final_claim_count
            AND COALESCE(p.finished_at_ms, p.expires_at_ms) <= ?)
     ORDER BY p.expires_at_ms LIMIT ?`,
  )
    .bind(nowMs - SWEEP_GRACE_MS, nowMs - CREDITS_LAG_MS, SWEEP_BATCH)
    .all<PacketLedgerRow & { creator_id: string }>();
  let settled = 0;
  let resent = 0;
  let failed = 0;
  for (const row of results) {
    try {
      const stub = env.LIVE_ROOM.getByName(row.room_id);
      const lagging = row.final_claim_count !== null && row.credited_count < row.final_claim_count;
      const final = await stub.closeExpiredPacket(packetInfoOf(row, row.creator_id), lagging);
      if (final === null) throw new Error("the room did not close the packet");
      if (lagging) resent += 1;
      if (row.status === "open" && row.final_claim_count === null) {
        const outcome = await settleExpiredPacket(env.DB, row, final, nowMs);
        if (
          outcome.kind === "refunded" &&
          outcome.verdict.kind === "rejected" &&
          outcome.verdict.code !== "packet_not_open"
        )
          throw new Error(`refund rejected: ${outcome.verdict.code}`);
        settled += 1;
      }
    } catch (error) {
      failed += 1;
      const attempts = row.sweep_attempts + 1;
      await env.DB.prepare("UPDATE red_packets SET sweep_attempts = sweep_attempts + 1 WHERE id = ?")
        .bind(row.id)
        .run()
        .catch(() => undefined);
      const fields = { packetId: row.id, roomId: row.room_id, attempts, error: String(error) };
      if (attempts >= 3) log.error("alert_packet_sweep_failing", fields);
      else log.warn("packet_sweep_failed", fields);
    }
  }
  return { settled, resent, failed };
}
