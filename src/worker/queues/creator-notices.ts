/**
 * The consumer of CREATOR_NOTICES (message: src/db/messages/creator-notices.ts): each notice is
 * stored in its creator's ledger shard with INSERT OR IGNORE on its deterministic id, so a
 * redelivery, a producer's resend or a room's retried flush stores it once. A kind the creator
 * muted is acknowledged without storing (mutes apply from the moment they are set; messages
 * already in the inbox stay). One control read for the batch's mutes, one D1 batch per shard;
 * a failed read or write retries the affected messages with backoff, then the DLQ.
 */

import { insertNotice, mutedKeys } from "../../db/inbox";
import { CreatorNoticeMessage } from "../../db/messages/creator-notices";
import { openLedger } from "../../db/shards";
import type { CreatorNotice } from "../../domain/notices";
import type { Logger } from "../../platform/logger";
import { dropMalformed } from "./malformed";
import { retryDelaySeconds } from "./retry";

/** The queue's name in wrangler.toml; index.ts dispatches on it exactly. */
export const CREATOR_NOTICES_QUEUE = "giftwire-creator-notices";

interface Parsed {
  message: Message<unknown>;
  notice: CreatorNotice;
}

export async function handleCreatorNoticesBatch(batch: MessageBatch<unknown>, env: Env, log: Logger): Promise<void> {
  const parsed: Parsed[] = [];
  for (const message of batch.messages) {
    const result = CreatorNoticeMessage.safeParse(message.body);
    if (result.success) parsed.push({ message, notice: result.data });
    else dropMalformed(CREATOR_NOTICES_QUEUE, message, result.error, log);
  }
  if (parsed.length === 0) return;
  // Same curve as the other D1-facing queues: 5 s doubling up to 5 min.
  const retry = (p: Parsed) => p.message.retry({ delaySeconds: retryDelaySeconds("roomQueue", p.message.attempts) });

  let muted: Set<string>;
  const ledger = await openLedger(env);
  try {
    muted = await mutedKeys(ledger.control, [...new Set(parsed.map((p) => p.notice.creatorId))]);
  } catch (error) {
    log.error("creator_notices_mutes_unreadable", { error: String(error), messages: parsed.length });
    for (const p of parsed) retry(p);
    return;
  }

  const byShard = new Map<number, { db: D1Database; items: Parsed[] }>();
  for (const p of parsed) {
    if (muted.has(`${p.notice.creatorId}\u0000${p.notice.kind}`)) {
      log.info("creator_notice_muted", { noticeId: p.notice.id, kind: p.notice.kind });
      p.message.ack();
      continue;
    }
    const shard = ledger.forOwner(p.notice.creatorId);
    const group = byShard.get(shard.index) ?? { db: shard.db, items: [] };
    group.items.push(p);
    byShard.set(shard.index, group);
  }
  for (const [index, { db, items }] of byShard) {
    try {
      const results = await db.batch(items.map((p) => insertNotice(db, p.notice)));
      items.forEach((p, i) => {
        if ((results[i]?.meta.changes ?? 0) === 0) log.info("creator_notice_duplicate", { noticeId: p.notice.id });
        p.message.ack();
      });
    } catch (error) {
      log.error("creator_notices_store_failed", { shard: index, error: String(error), messages: items.length });
      for (const p of items) retry(p);
    }
  }
}
