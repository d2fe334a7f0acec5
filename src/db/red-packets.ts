import { accountAddress } from "../domain/accounts";
import { assert } from "../domain/limits";
import type { Currency } from "../domain/money";
import { type ComposedOperation, composeOperation, runOperation, type Verdict } from "./ledger";

/**
 * The ledger side of red packets: a claim's credit (escrow → claimer's wallet) and the
 * refund at expiry (escrow → sender's wallet, or back to the campaign for B2C). Both are
 * composed operations whose ids are fixed by the facts they record (the room's claim id;
 * `refund_` + the packet's id), so every path that posts them — queue, sweeper, alarm —
 * posts each at most once.
 */

export interface ClaimCredit {
  readonly claimId: string;
  readonly packetId: string;
  readonly userId: string;
  readonly claimIndex: number;
  readonly amountMinor: number;
  readonly claimedAtMs: number;
}

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

export function composeClaimCredit(
  db: D1Database,
  claim: ClaimCredit,
  currency: Currency,
  nowMs: number,
): ComposedOperation {
  return composeOperation(db, {
    id: claim.claimId,
    kind: "packet_claim",
    currency,
    postings: [
      {
        from: accountAddress.packetEscrow(claim.packetId),
        to: accountAddress.userWallet(claim.userId),
        amountMinor: claim.amountMinor,
      },
    ],
    actorId: claim.userId,
    reason: null,
    metadata: { packetId: claim.packetId, claimIndex: claim.claimIndex },
    nowMs,
    guards: [
      { code: "packet_not_found", sql: "EXISTS (SELECT 1 FROM red_packets WHERE id = ?)", params: [claim.packetId] },
      // More credits than shares would be a bug in the room; refuse rather than overpay.
      {
        code: "packet_exhausted",
        sql: "EXISTS (SELECT 1 FROM red_packets WHERE id = ? AND credited_count < shares)",
        params: [claim.packetId],
      },
    ],
    extra: (posting) => [
      db
        .prepare(
          `INSERT INTO red_packet_claims (id, packet_id, user_id, claim_index, amount_minor, claimed_at_ms, credited_at_ms)
           SELECT ?, ?, ?, ?, ?, ?, ? WHERE ${posting.sql}`,
        )
        .bind(
          claim.claimId,
          claim.packetId,
          claim.userId,
          claim.claimIndex,
          claim.amountMinor,
          claim.claimedAtMs,
          nowMs,
          ...posting.params,
        ),
      db
        .prepare(
          `UPDATE red_packets SET
             status = CASE WHEN status = 'open' AND credited_count + 1 = shares THEN 'exhausted' ELSE status END,
             finished_at_ms = CASE WHEN status = 'open' AND credited_count + 1 = shares THEN ? ELSE finished_at_ms END,
             credited_count = credited_count + 1,
             credited_minor = credited_minor + ?
           WHERE id = ? AND ${posting.sql}`,
        )
        .bind(nowMs, claim.amountMinor, claim.packetId, ...posting.params),
    ],
  });
}

/** Posts many credits in one batch (group commit); returns each one's verdict, in order. */
export async function postClaimCredits(
  db: D1Database,
  credits: readonly { readonly credit: ClaimCredit; readonly currency: Currency }[],
  nowMs: number,
): Promise<Verdict[]> {
  if (credits.length === 0) return [];
  const composed = credits.map((c) => composeClaimCredit(db, c.credit, c.currency, nowMs));
  const results = await db.batch(composed.flatMap((c) => c.statements));
  const verdicts: Verdict[] = [];
  let offset = 0;
  for (const c of composed) {
    verdicts.push(c.verdictFrom(results.slice(offset, offset + c.statements.length)));
    offset += c.statements.length;
  }
  return verdicts;
}

/** What the room counted when it closed the packet. */
export interface PacketFinal {
  readonly claimCount: number;
  readonly claimedMinor: number;
}

export function refundOperationId(packetId: string): string {
  assert(packetId.startsWith("packet_"), "a packet id");
  return `refund_${packetId.slice("packet_".length)}`;
}

export type SettleOutcome =
  | { readonly kind: "refunded"; readonly refundedMinor: number; readonly verdict: Verdict }
  | { readonly kind: "nothing_to_refund" };

/**
 * Closes an expired packet in the ledger with the room's final count: the remainder goes
 * back (once: the refund's id is fixed), and the final count is recorded so the invariant
 * checker knows how much is still in flight to claimers' wallets.
 */
export async function settleExpiredPacket(
  db: D1Database,
  packet: PacketLedgerRow,
  final: PacketFinal,
  nowMs: number,
): Promise<SettleOutcome> {
  assert(final.claimCount <= packet.shares && final.claimedMinor <= packet.total_minor, "the final count fits");
  const remainderMinor = packet.total_minor - final.claimedMinor;
  const recordFinal = db
    .prepare(
      "UPDATE red_packets SET final_claim_count = ?, final_claimed_minor = ? WHERE id = ? AND final_claim_count IS NULL",
    )
    .bind(final.claimCount, final.claimedMinor, packet.id);
  if (remainderMinor === 0) {
    await recordFinal.run();
    return { kind: "nothing_to_refund" };
  }
  const to =
    packet.funding === "wallet"
      ? accountAddress.userWallet(packet.sender_id)
      : accountAddress.campaignBudget(packet.campaign_id ?? "");
  assert(packet.funding === "wallet" || packet.campaign_id !== null, "a subsidy packet names its campaign");
  const composed = composeOperation(db, {
    id: refundOperationId(packet.id),
    kind: "packet_refund",
    currency: packet.currency,
    postings: [{ from: accountAddress.packetEscrow(packet.id), to, amountMinor: remainderMinor }],
    actorId: "system:red-packets",
    reason: "red packet expired",
    metadata: { packetId: packet.id, claimCount: final.claimCount, claimedMinor: final.claimedMinor },
    nowMs,
    guards: [
      {
        code: "conflict",
        sql: "EXISTS (SELECT 1 FROM red_packets WHERE id = ? AND status = 'open')",
        params: [packet.id],
      },
    ],
    extra: (posting) => [
      db
        .prepare(
          `UPDATE red_packets SET status = 'refunded', final_claim_count = ?, final_claimed_minor = ?,
             refunded_minor = ?, finished_at_ms = ? WHERE id = ? AND ${posting.sql}`,
        )
        .bind(final.claimCount, final.claimedMinor, remainderMinor, nowMs, packet.id, ...posting.params),
    ],
  });
  const { verdict } = await runOperation(db, composed);
  return { kind: "refunded", refundedMinor: remainderMinor, verdict };
}
