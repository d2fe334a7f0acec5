/**
 * Tip messages held for review (`tip_messages`, in the payer's ledger shard beside the tip):
 * the review queue across every shard, and an operator's decision. Approving one changes its
 * status and writes a `tip.message` event to the shard's room outbox in ONE batch, with the
 * operator's audit entry in the shard's chain; the Worker then delivers the event like a tip's
 * (src/worker/rooms/outbox.ts), so it reaches the room's sockets even if the first delivery
 * fails. Rejecting one only changes its status: it is never shown. A message on a content item's
 * tip (issue 19) has no room to tell: approving it only changes its status (content views show
 * a message only once it is not held).
 */

import type { AuditAction } from "../domain/audit-chain";
import { assert, LIMITS } from "../domain/limits";
import type { MessageStatus } from "../domain/moderation";
import { batchWithAuditEntry, WHEN_PREVIOUS_CHANGED } from "./audit";
import type { TipMessageEvent } from "./messages/room-events";
import { outboxInsert } from "./room-outbox";
import type { Ledger, LedgerShard } from "./shards";

export interface TipMessageRow {
  tip_id: string;
  /** The tip's room, or (a tip on a content item, issue 19) null and `content_id` set. */
  room_id: string | null;
  content_id: string | null;
  viewer_id: string;
  creator_id: string;
  text: string;
  shown: string;
  status: MessageStatus;
  created_at_ms: number;
  reviewed_by: string | null;
  reviewed_at_ms: number | null;
}

/** A held message of either kind, as the review queue lists it. */
export interface HeldMessageRow {
  kind: "tip" | "packet";
  /** The tip's or the packet's id. */
  id: string;
  /** Null for a tip on a content item (`content_id` set); a packet's greeting always has its room. */
  room_id: string | null;
  content_id: string | null;
  /** Who wrote it: the tip's viewer, the packet's sender. */
  author_id: string;
  creator_id: string;
  text: string;
  shown: string;
  status: MessageStatus;
  created_at_ms: number;
  reviewed_by: string | null;
  reviewed_at_ms: number | null;
}

export interface HeldPage {
  readonly messages: readonly HeldMessageRow[];
  /** Where the next page starts (the last message's time and id), or null at the end. */
  readonly next: { readonly createdAtMs: number; readonly id: string } | null;
}

/**
 * Held messages oldest first — tip messages and red-packet greetings (src/db/packet-greetings.ts)
 * — after `after` (exclusive, by time then id), across every shard, merged.
 */
export async function listHeldMessages(
  ledger: Ledger,
  after: { readonly createdAtMs: number; readonly id: string } | null,
  limit: number,
): Promise<HeldPage> {
  assert(limit >= 1 && limit <= LIMITS.heldMessagesPageMax, "a page is within its limit");
  const perShard = await Promise.all(
    ledger.shards.map(async (shard) => {
      const { results } = await shard.db
        .prepare(
          `SELECT 'tip' AS kind, tip_id AS id, room_id, content_id, viewer_id AS author_id, creator_id, text, shown, status,
             created_at_ms, reviewed_by, reviewed_at_ms
           FROM tip_messages WHERE status = 'held' AND (created_at_ms > ?1 OR (created_at_ms = ?1 AND tip_id > ?2))
           UNION ALL
           SELECT 'packet', packet_id, room_id, NULL, sender_id, creator_id, text, shown, status,
             created_at_ms, reviewed_by, reviewed_at_ms
           FROM packet_greetings WHERE status = 'held' AND (created_at_ms > ?1 OR (created_at_ms = ?1 AND packet_id > ?2))
           ORDER BY created_at_ms, id LIMIT ?3`,
        )
        .bind(after?.createdAtMs ?? -1, after?.id ?? "", limit + 1)
        .all<HeldMessageRow>();
      return results;
    }),
  );
  const merged = perShard
    .flat()
    .sort((a, b) => a.created_at_ms - b.created_at_ms || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const page = merged.slice(0, limit);
  const last = page.at(-1);
  return {
    messages: page,
    next: merged.length > limit && last ? { createdAtMs: last.created_at_ms, id: last.id } : null,
  };
}

/** The shard that holds a tip's message (a bucket move may have left it behind, so every shard is asked). */
export async function findTipMessage(
  ledger: Ledger,
  tipId: string,
): Promise<{ shard: LedgerShard; row: TipMessageRow } | null> {
  const found = await Promise.all(
    ledger.shards.map(async (shard) => {
      const row = await shard.db
        .prepare("SELECT * FROM tip_messages WHERE tip_id = ?")
        .bind(tipId)
        .first<TipMessageRow>();
      return row === null ? null : { shard, row };
    }),
  );
  return found.find((f) => f !== null) ?? null;
}

export type ReviewOutcome =
  | {
      readonly kind: "reviewed";
      readonly row: TipMessageRow;
      readonly shardIndex: number;
      readonly outboxId: string | null;
    }
  | { readonly kind: "not_found" }
  | { readonly kind: "not_held"; readonly row: TipMessageRow };

export const approvedMessageEventId = (tipId: string) => `msg_${tipId}`;

/**
 * Approves (the room shows it) or rejects (it stays hidden) a held message, with `audit` in
 * the same batch. Only a held message changes: a second decision, even a concurrent one,
 * finds it decided (`not_held`) and writes nothing.
 */
export async function reviewTipMessage(
  ledger: Ledger,
  tipId: string,
  decision: "approve" | "reject",
  actorId: string,
  audit: AuditAction,
  nowMs: number,
): Promise<ReviewOutcome> {
  const found = await findTipMessage(ledger, tipId);
  if (found === null) return { kind: "not_found" };
  const { shard, row } = found;
  if (row.status !== "held") return { kind: "not_held", row };
  const status: MessageStatus = decision === "approve" ? "approved" : "rejected";
  const update = shard.db
    .prepare(
      "UPDATE tip_messages SET status = ?, reviewed_by = ?, reviewed_at_ms = ? WHERE tip_id = ? AND status = 'held'",
    )
    .bind(status, actorId, nowMs, tipId);
  const event: TipMessageEvent | null =
    row.room_id === null
      ? null
      : {
          type: "tip.message",
          id: approvedMessageEventId(tipId),
          roomId: row.room_id,
          tipId,
          viewerId: row.viewer_id,
          text: row.shown,
          atMs: nowMs,
        };
  const statements =
    decision === "approve" && event !== null
      ? [update, outboxInsert(shard.db, event, nowMs, WHEN_PREVIOUS_CHANGED)]
      : [update];
  const [updated] = await batchWithAuditEntry(shard.db, audit, statements);
  if ((updated?.meta.changes ?? 0) !== 1) {
    const now = await shard.db
      .prepare("SELECT * FROM tip_messages WHERE tip_id = ?")
      .bind(tipId)
      .first<TipMessageRow>();
    return now === null ? { kind: "not_found" } : { kind: "not_held", row: now };
  }
  return {
    kind: "reviewed",
    row: { ...row, status, reviewed_by: actorId, reviewed_at_ms: nowMs },
    shardIndex: shard.index,
    outboxId: decision === "approve" && event !== null ? event.id : null,
  };
}
