/**
 * Red-packet greetings held for review (`packet_greetings`, in the sender's ledger shard beside
 * the packet). Approving one changes its status, sets the packet's greeting to what the room
 * shows, and writes a `packet.greeting` event to the shard's room outbox in ONE batch with the
 * operator's audit entry (the shard's chain); the Worker delivers the event like a tip message's
 * (src/worker/rooms/outbox.ts). Rejecting one only changes its status: the packet keeps the
 * default greeting. The packet's money never waits for its greeting.
 */

import type { AuditAction } from "../domain/audit-chain";
import { batchWithAuditEntry, WHEN_PREVIOUS_CHANGED } from "./audit";
import type { PacketGreetingEvent } from "./messages/room-events";
import { outboxInsert } from "./room-outbox";
import type { Ledger } from "./shards";

export interface PacketGreetingRow {
  packet_id: string;
  room_id: string;
  sender_id: string;
  creator_id: string;
  text: string;
  shown: string;
  status: "held" | "approved" | "rejected";
  created_at_ms: number;
  reviewed_by: string | null;
  reviewed_at_ms: number | null;
}

export type GreetingReviewOutcome =
  | {
      readonly kind: "reviewed";
      readonly row: PacketGreetingRow;
      readonly shardIndex: number;
      readonly outboxId: string | null;
    }
  | { readonly kind: "not_found" }
  | { readonly kind: "not_held"; readonly row: PacketGreetingRow };

export const approvedGreetingEventId = (packetId: string) => `greeting_${packetId}`;

/**
 * Approves (the packet shows it, the room hears it) or rejects (the default greeting stays) a
 * held greeting, with `audit` in the same batch. Only a held greeting changes: a second decision,
 * even a concurrent one, finds it decided (`not_held`) and writes nothing. A packet lives in its
 * sender's shard and its id names it, so one shard is asked.
 */
export async function reviewPacketGreeting(
  ledger: Ledger,
  packetId: string,
  decision: "approve" | "reject",
  actorId: string,
  audit: AuditAction,
  nowMs: number,
): Promise<GreetingReviewOutcome> {
  const shard = ledger.forId(packetId);
  const read = () =>
    shard.db.prepare("SELECT * FROM packet_greetings WHERE packet_id = ?").bind(packetId).first<PacketGreetingRow>();
  const row = await read();
  if (row === null) return { kind: "not_found" };
  if (row.status !== "held") return { kind: "not_held", row };
  const status = decision === "approve" ? "approved" : "rejected";
  const update = shard.db
    .prepare(
      "UPDATE packet_greetings SET status = ?, reviewed_by = ?, reviewed_at_ms = ? WHERE packet_id = ? AND status = 'held'",
    )
    .bind(status, actorId, nowMs, packetId);
  const event: PacketGreetingEvent = {
    type: "packet.greeting",
    id: approvedGreetingEventId(packetId),
    roomId: row.room_id,
    packetId,
    greeting: row.shown,
    atMs: nowMs,
  };
  const statements =
    decision === "approve"
      ? [
          update,
          // Only the batch whose update decided it (the row is approved by this actor at this time).
          shard.db
            .prepare(
              `UPDATE red_packets SET greeting = ?1 WHERE id = ?2 AND EXISTS (SELECT 1 FROM packet_greetings
                 WHERE packet_id = ?2 AND status = 'approved' AND reviewed_by = ?3 AND reviewed_at_ms = ?4)`,
            )
            .bind(row.shown, packetId, actorId, nowMs),
          outboxInsert(shard.db, event, nowMs, WHEN_PREVIOUS_CHANGED),
        ]
      : [update];
  const [updated] = await batchWithAuditEntry(shard.db, audit, statements);
  if ((updated?.meta.changes ?? 0) !== 1) {
    const now = await read();
    return now === null ? { kind: "not_found" } : { kind: "not_held", row: now };
  }
  return {
    kind: "reviewed",
    row: { ...row, status, reviewed_by: actorId, reviewed_at_ms: nowMs },
    shardIndex: shard.index,
    outboxId: decision === "approve" ? event.id : null,
  };
}
