/**
 * packet_refund: what is left of an expired red packet goes back, escrow → the sender's
 * wallet (or the campaign's budget for a subsidy packet).
 *
 * The room closes the packet and tells the ledger its final count; the refund's id is fixed
 * by the packet (`refund_` + its id), so the room's alarm and the cron sweeper may both try
 * and it posts once. The final count is recorded with it, so the invariant checker knows how
 * much is still on its way to claimers' wallets through the queue.
 */

import { accountAddress } from "../../domain/accounts";
import { assert } from "../../domain/limits";
import { composeOperation, runOperation, type Verdict } from "../ledger";
import type { PacketLedgerRow } from "../reads/packets";
import type { LedgerShard } from "../shards";

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

export async function settleExpiredPacket(
  shard: LedgerShard,
  packet: PacketLedgerRow,
  final: PacketFinal,
  nowMs: number,
): Promise<SettleOutcome> {
  const { db } = shard;
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
  assert(packet.funding === "wallet" || packet.campaign_id !== null, "a subsidy packet names its campaign");
  const to =
    packet.funding === "wallet"
      ? accountAddress.userWallet(packet.sender_id)
      : accountAddress.campaignBudget(packet.campaign_id ?? "");
  const composed = composeOperation(shard, {
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
        code: "packet_not_open",
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
  const { verdict } = await runOperation(shard, composed);
  return { kind: "refunded", refundedMinor: remainderMinor, verdict };
}
