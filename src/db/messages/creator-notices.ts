/**
 * The CREATOR_NOTICES queue's message, defined once: a notice for a creator's inbox
 * (domain/notices.ts says what each kind carries). Producers: the Worker's `noticeCreator`
 * (src/worker/notifications/notice.ts: settlement, withdrawals, verification) and the LiveRoom
 * object (tips merged per minute, big gifts). The consumer (src/worker/queues/creator-notices.ts)
 * stores each id once in the creator's ledger shard, skipping the kinds the creator muted.
 *
 * Why here: the room produces it and may not import the Worker (dependencies point down), like
 * the ledger-postings message beside this file.
 */

import { CreatorNotice } from "../../domain/notices";

export const CreatorNoticeMessage = CreatorNotice;
export type CreatorNoticeMessage = CreatorNotice;

/**
 * Sends notices, each checked against the schema first (a malformed notice is a producer bug:
 * it throws here rather than being dropped by the consumer). One `sendBatch` per call.
 */
export async function sendCreatorNotices(queue: Queue, notices: readonly CreatorNotice[]): Promise<void> {
  if (notices.length === 0) return;
  const bodies = notices.map((n) => CreatorNoticeMessage.parse(n));
  await queue.sendBatch(bodies.map((body) => ({ body, contentType: "json" as const })));
}
