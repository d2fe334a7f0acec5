/** Red packets as the ledger records them (the room holds the live claim state). */

import type { Currency } from "../../domain/money";
import type { PacketInfo } from "../messages/room-events";
import type { Ledger } from "../shards";

export interface PacketLedgerRow {
  readonly id: string;
  readonly room_id: string;
  readonly stream_id: string;
  readonly sender_id: string;
  readonly funding: "wallet" | "subsidy";
  readonly subsidy_id: string | null;
  readonly campaign_id: string | null;
  readonly currency: Currency;
  readonly total_minor: number;
  readonly shares: number;
  readonly split: "lucky" | "equal";
  readonly greeting: string;
  readonly audience: "everyone" | "followers";
  readonly created_at_ms: number;
  readonly expires_at_ms: number;
  readonly status: "open" | "exhausted" | "refunded";
  readonly credited_count: number;
  readonly credited_minor: number;
  readonly final_claim_count: number | null;
  readonly final_claimed_minor: number | null;
  readonly refunded_minor: number;
  readonly finished_at_ms: number | null;
  readonly sweep_attempts: number;
  /** Secret until the packet is finished (docs/adr/0008); null before the scheme. */
  readonly seed_hex: string | null;
  readonly commitment_hex: string | null;
}

export async function findPacket(db: D1Database, packetId: string): Promise<PacketLedgerRow | null> {
  return db.prepare("SELECT * FROM red_packets WHERE id = ?").bind(packetId).first<PacketLedgerRow>();
}

/**
 * A packet with its room's creator (the audience rule and the room's copy need both): the
 * packet from its sender's shard (its id routes), the creator from the control database.
 */
export async function findPacketWithCreator(
  ledger: Ledger,
  packetId: string,
): Promise<(PacketLedgerRow & { creator_id: string }) | null> {
  const packet = await findPacket(ledger.forId(packetId).db, packetId);
  if (packet === null) return null;
  const room = await ledger.control
    .prepare("SELECT creator_id FROM rooms WHERE id = ?")
    .bind(packet.room_id)
    .first<{ creator_id: string }>();
  return room === null ? null : { ...packet, creator_id: room.creator_id };
}

/**
 * The room's open, unexpired packets, over every shard (each is in its sender's): the
 * `red_packets_room_created` index, one count per shard, in parallel.
 */
export async function countOpenPacketsInRoom(ledger: Ledger, roomId: string, nowMs: number): Promise<number> {
  const counts = await Promise.all(
    ledger.shards.map((s) =>
      s.db
        .prepare("SELECT COUNT(*) AS n FROM red_packets WHERE room_id = ? AND status = 'open' AND expires_at_ms > ?")
        .bind(roomId, nowMs)
        .first<number>("n"),
    ),
  );
  return counts.reduce<number>((sum, n) => sum + (n ?? 0), 0);
}

/** The room's copy of a packet, from its ledger row (the room re-learns packets it has not heard of). */
export function packetInfoOf(row: PacketLedgerRow, creatorId: string): PacketInfo {
  return {
    id: row.id,
    senderId: row.sender_id,
    creatorId,
    currency: row.currency,
    totalMinor: row.total_minor,
    shares: row.shares,
    split: row.split,
    greeting: row.greeting,
    audience: row.audience,
    createdAtMs: row.created_at_ms,
    expiresAtMs: row.expires_at_ms,
    seed: row.seed_hex,
  };
}
