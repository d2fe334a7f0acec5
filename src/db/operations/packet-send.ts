/**
 * packet_send: a red packet is a hold on the sender's money. The total moves into the
 * packet's escrow (from the sender's wallet, or from a subsidy's grant for a B2C packet)
 * with the packet row and its announcement to the room in one batch. Claims take it out of
 * escrow (packet-claim.ts); at expiry the rest goes back (packet-refund.ts).
 *
 * A packet lives in its sender's shard (its id carries the sender's bucket), so its escrow,
 * the sender's wallet and a subsidy's grant are all in the shard the operation commits in.
 */

import { accountAddress } from "../../domain/accounts";
import { type ErrorCode, fail, ok, type Result } from "../../domain/errors";
import { commitmentOf, newPacketSeed } from "../../domain/fair-packet";
import { errorForGuard } from "../../domain/guards";
import { LIMITS } from "../../domain/limits";
import { DEFAULT_CURRENCY, parseAmountMinor } from "../../domain/money";
import {
  type Audience,
  admitPacket,
  type PacketFunding,
  type SplitMode,
  type SubsidyFacts,
} from "../../domain/red-packet";
import { liveStreamOf } from "../../domain/room/live";
import { type Attach, type ComposedOperation, composeOperation, type Guard } from "../ledger";
import type { PacketInfo, PacketSentEvent } from "../messages/room-events";
import type { PacketLedgerRow } from "../reads/packets";
import { countOpenPacketsInRoom } from "../reads/packets";
import { findRoom } from "../reads/rooms";
import { findSubsidy } from "../reads/subsidies";
import { outboxInsert } from "../room-outbox";
import type { Ledger, LedgerShard } from "../shards";

export interface PacketAsk {
  readonly id: string;
  readonly roomId: string;
  readonly senderId: string;
  /** The decimal total from the wallet, or null when a subsidy pays. */
  readonly total: string | null;
  readonly subsidyId: string | null;
  readonly shares: number;
  readonly split: SplitMode;
  /** The greeting the room shows now: the sender's (masked), or the default while theirs is held. */
  readonly greeting: string;
  /** The sender's greeting held for review (moderated at the edge); absent or null: none. */
  readonly heldGreeting?: HeldGreeting | null;
  readonly audience: Audience;
  readonly ttlMs: number;
}

/** A greeting with a hold-level word: `text` as written, `shown` as the room shows it once approved. */
export interface HeldGreeting {
  readonly text: string;
  readonly shown: string;
}

export interface PreparedPacket {
  readonly row: PacketLedgerRow;
  readonly info: PacketInfo;
  readonly funding: PacketFunding;
  readonly heldGreeting: HeldGreeting | null;
}

/**
 * Reads what the packet needs from outside its shard and admits it in the domain; nothing
 * moves yet. A ledger batch cannot read the control database, so the room's "live" check and
 * the room's cap on open packets (whose packets live in their senders' shards) are made here,
 * before the batch: a room that ends its stream between this read and the commit still gets
 * the packet, as it would have a moment earlier; the cap may be passed by the few sends that
 * race it (the batch still holds it within the sender's shard).
 */
export async function preparePacketSend(
  ledger: Ledger,
  ask: PacketAsk,
  nowMs: number,
): Promise<Result<PreparedPacket, ErrorCode>> {
  const [room, openInRoom] = await Promise.all([
    findRoom(ledger.control, ask.roomId),
    countOpenPacketsInRoom(ledger, ask.roomId, nowMs),
  ]);
  const live = liveStreamOf(room);
  if (!live.ok) return live;
  if (openInRoom >= LIMITS.packetsOpenPerRoomMax) return fail(errorForGuard("room_packets_open_max"));
  let subsidy: SubsidyFacts | null | "wallet" = "wallet";
  let totalMinor: number | null = null;
  if (ask.subsidyId !== null) {
    subsidy = await findSubsidy(ledger, ask.subsidyId);
  } else {
    const parsed = parseAmountMinor(ask.total ?? "");
    if (!parsed.ok) return parsed;
    totalMinor = parsed.value;
  }
  const funding = admitPacket(ask.senderId, { subsidy, totalMinor }, ask.shares);
  if (!funding.ok) return funding;
  if (funding.value.kind === "subsidy") {
    // A partner's campaign is for one room (routes/partner-campaigns.ts): its subsidies are
    // spent there only. An operator's campaign has no room.
    const campaign = await ledger.control
      .prepare("SELECT room_id FROM subsidy_campaigns WHERE id = ?")
      .bind(funding.value.campaignId)
      .first<{ room_id: string | null }>();
    if (campaign?.room_id != null && campaign.room_id !== ask.roomId) return fail("subsidy_room_mismatch");
  }
  const expiresAtMs = nowMs + ask.ttlMs;
  const f = funding.value;
  // Every share is drawn from this seed in claim order; only its commitment is public until
  // the packet is finished (docs/adr/0008).
  const seed = newPacketSeed();
  const row: PacketLedgerRow = {
    id: ask.id,
    room_id: ask.roomId,
    stream_id: live.value.streamId,
    sender_id: ask.senderId,
    funding: f.kind,
    subsidy_id: f.kind === "subsidy" ? f.subsidyId : null,
    campaign_id: f.kind === "subsidy" ? f.campaignId : null,
    currency: DEFAULT_CURRENCY,
    total_minor: f.totalMinor,
    shares: ask.shares,
    split: ask.split,
    greeting: ask.greeting,
    audience: ask.audience,
    created_at_ms: nowMs,
    expires_at_ms: expiresAtMs,
    status: "open",
    credited_count: 0,
    credited_minor: 0,
    final_claim_count: null,
    final_claimed_minor: null,
    refunded_minor: 0,
    finished_at_ms: null,
    sweep_attempts: 0,
    seed_hex: seed,
    commitment_hex: commitmentOf(seed),
  };
  const info: PacketInfo = {
    id: ask.id,
    senderId: ask.senderId,
    creatorId: live.value.creatorId,
    currency: DEFAULT_CURRENCY,
    totalMinor: f.totalMinor,
    shares: ask.shares,
    split: ask.split,
    greeting: ask.greeting,
    audience: ask.audience,
    createdAtMs: nowMs,
    expiresAtMs,
    seed,
  };
  return ok({ row, info, funding: f, heldGreeting: ask.heldGreeting ?? null });
}

/**
 * The packet's batch: escrow posting, its row, its announcement (and a held greeting). A
 * cashier-paid packet (packet-send-paid.ts) adds its order's guards in `extraGuards`.
 */
export function composePacketSend(
  shard: LedgerShard,
  packet: PreparedPacket,
  nowMs: number,
  attach?: Attach,
  extraGuards: readonly Guard[] = [],
): ComposedOperation {
  const { db } = shard;
  const { row, info, funding, heldGreeting } = packet;
  const source =
    funding.kind === "subsidy"
      ? accountAddress.subsidyGrant(funding.subsidyId)
      : accountAddress.userWallet(row.sender_id);
  const event: PacketSentEvent = { type: "packet.sent", id: row.id, roomId: row.room_id, packet: info };
  const guards: Guard[] = [
    {
      code: "room_packets_open_max",
      sql: "(SELECT COUNT(*) FROM red_packets WHERE room_id = ? AND status = 'open' AND expires_at_ms > ?) < ?",
      params: [row.room_id, nowMs, LIMITS.packetsOpenPerRoomMax],
    },
    ...extraGuards,
  ];
  if (funding.kind === "subsidy") {
    // The subsidy's row is in its campaign's shard; its grant account is here, in its user's
    // (the sender's) shard. A grant that was credited and is now empty was spent: that is the
    // "used" rule, decided in this batch. A grant not yet credited (its cross-shard credit is
    // still on the way) fails the funds guard: retry in a moment.
    guards.push({
      code: "subsidy_used",
      sql: "NOT EXISTS (SELECT 1 FROM accounts WHERE address = ? AND balance_minor = 0)",
      params: [source],
    });
  }
  return composeOperation(shard, {
    id: row.id,
    kind: "packet_send",
    currency: row.currency,
    postings: [{ from: source, to: accountAddress.packetEscrow(row.id), amountMinor: row.total_minor }],
    actorId: row.sender_id,
    reason: null,
    metadata: { roomId: row.room_id, shares: row.shares, split: row.split, subsidyId: row.subsidy_id },
    nowMs,
    guards,
    extra: (posting) => [
      db
        .prepare(
          `INSERT INTO red_packets (id, room_id, stream_id, sender_id, funding, subsidy_id, campaign_id, currency,
             total_minor, shares, split, greeting, audience, created_at_ms, expires_at_ms, status, seed_hex, commitment_hex)
           SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ? WHERE ${posting.sql}`,
        )
        .bind(
          row.id,
          row.room_id,
          row.stream_id,
          row.sender_id,
          row.funding,
          row.subsidy_id,
          row.campaign_id,
          row.currency,
          row.total_minor,
          row.shares,
          row.split,
          row.greeting,
          row.audience,
          row.created_at_ms,
          row.expires_at_ms,
          row.seed_hex,
          row.commitment_hex,
          ...posting.params,
        ),
      outboxInsert(db, event, nowMs, posting),
      // A held greeting waits for review beside the packet (src/db/packet-greetings.ts).
      ...(heldGreeting === null
        ? []
        : [
            db
              .prepare(
                `INSERT INTO packet_greetings (packet_id, room_id, sender_id, creator_id, text, shown, status, created_at_ms)
                 SELECT ?, ?, ?, ?, ?, ?, 'held', ? WHERE ${posting.sql}`,
              )
              .bind(
                row.id,
                row.room_id,
                row.sender_id,
                info.creatorId,
                heldGreeting.text,
                heldGreeting.shown,
                nowMs,
                ...posting.params,
              ),
          ]),
    ],
    attach,
  });
}

/**
 * After a subsidy packet posted: its subsidy's row, in the campaign's shard, says so. The
 * money's rule is the grant account in the sender's shard (composePacketSend), so this row is
 * the campaign's view of it; writing it again changes nothing, and the expiry refund writes
 * it too (markSubsidyUsed in the sweeper and the room's alarm), so a failure here is mended
 * by then.
 */
export async function markSubsidyUsed(ledger: Ledger, packet: PacketLedgerRow, nowMs: number): Promise<void> {
  if (packet.funding !== "subsidy" || packet.subsidy_id === null || packet.campaign_id === null) return;
  await ledger
    .forId(packet.campaign_id)
    .db.prepare(
      "UPDATE subsidies SET status = 'used', packet_id = ?, used_at_ms = ? WHERE id = ? AND status = 'issued'",
    )
    .bind(packet.id, nowMs, packet.subsidy_id)
    .run();
}
