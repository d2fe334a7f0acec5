/**
 * Red-packet claim credits: the room puts each claim on LEDGER_POSTINGS once it is durable in
 * its SQLite (src/durable-objects/live-room.packets.ts builds the messages), and this consumer
 * moves the money from the packet's escrow to the claimer's wallet. The message schema lives
 * in src/db/messages/ledger-postings.ts: the room, which may not import the Worker, produces it.
 */

import { ClaimCreditMessage } from "../../db/messages/ledger-postings";
import { postClaimCredits } from "../../db/operations/packet-claim";
import { LIMITS } from "../../domain/limits";
import type { Logger } from "../../platform/logger";
import { dropMalformed } from "./malformed";
import { retryDelaySeconds } from "./retry";

/** The queue's name in wrangler.toml; index.ts dispatches on it exactly. */
export const LEDGER_POSTINGS_QUEUE = "giftwire-ledger-postings";

/**
 * The consumer of LEDGER_POSTINGS: posts a whole message batch as one D1 batch (group
 * commit); each credit is an operation whose id is the claim id, so a redelivered message is
 * "exists" and acknowledged.
 */
export async function handleLedgerPostingsBatch(batch: MessageBatch<unknown>, env: Env, log: Logger): Promise<void> {
  const valid: { message: Message<unknown>; credit: ClaimCreditMessage }[] = [];
  for (const message of batch.messages) {
    const parsed = ClaimCreditMessage.safeParse(message.body);
    if (parsed.success) valid.push({ message, credit: parsed.data });
    else dropMalformed(LEDGER_POSTINGS_QUEUE, message, parsed.error, log);
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
    if (attempts >= LIMITS.alertAfterAttempts) log.error("alert_packet_credits_failing", fields);
    else log.warn("packet_credits_failed", fields);
    for (const v of valid) v.message.retry({ delaySeconds: retryDelaySeconds("roomQueue", v.message.attempts) });
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
        v.message.attempts >= LIMITS.alertAfterAttempts ? "alert_packet_credit_rejected" : "packet_credit_rejected",
        {
          claimId: v.credit.claimId,
          packetId: v.credit.packetId,
          code: verdict.code,
          attempts: v.message.attempts,
        },
      );
      v.message.retry({ delaySeconds: retryDelaySeconds("roomQueue", v.message.attempts) });
    } else v.message.ack();
  });
  log.info("packet_credits", { posted, duplicates, batch: batch.messages.length });
}
