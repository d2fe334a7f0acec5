/** Red packets as the ledger records them (the room holds the live claim state). */

import type { Currency } from "../../domain/money";
import type { PacketInfo } from "../messages/room-events";

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
}

export async function findPacket(db: D1Database, packetId: string): Promise<PacketLedgerRow | null> {
  return db.prepare("SELECT * FROM red_packets WHERE id = ?").bind(packetId).first<PacketLedgerRow>();
}

/** A packet with its room's creator (the audience rule and the room's copy need both): one query. */
export async function findPacketWithCreator(
  db: D1Database,
  packetId: string,
): Promise<(PacketLedgerRow & { creator_id: string }) | null> {
  return db
    .prepare("SELECT p.*, r.creator_id FROM red_packets p JOIN rooms r ON r.id = p.room_id WHERE p.id = ?")
    .bind(packetId)
    .first<PacketLedgerRow & { creator_id: string }>();
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
  };
}
