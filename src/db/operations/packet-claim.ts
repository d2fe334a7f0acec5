/**
 * packet_claim: a red-packet claim's money, escrow → the claimer's wallet.
 *
 * The claim itself was decided in the room's Durable Object (serialized, one per user, never
 * more than the shares) and reaches the ledger through the LEDGER_POSTINGS queue. The
 * operation id is the room's claim id, so however often the message is delivered the wallet
 * is credited once; many credits share one batch (group commit), each with its own guards.
 *
 * A credit commits in its packet's shard (the sender's: the escrow and the packet row are
 * there); a claimer whose wallet is in another shard is paid through transit (ledger.ts).
 *
 * Claimed money is winnings: withdrawable (docs/adr/0017). The same batch adds it to the
 * claimer's `user_winnings` when the wallet is in this shard, or the transit delivery does
 * (operations/transit-delivery.ts).
 */

import { accountAddress } from "../../domain/accounts";
import { type ComposedOperation, composeOperation, runOperations, type Verdict } from "../ledger";
import type { ClaimCreditMessage } from "../messages/ledger-postings";
import type { LedgerShard } from "../shards";
import { winningsCreditStatements } from "../winnings";

/** A claim the room made durable, as its LEDGER_POSTINGS message carries it. */
export type ClaimCredit = Omit<ClaimCreditMessage, "kind">;

function composeClaimCredit(shard: LedgerShard, claim: ClaimCredit, nowMs: number): ComposedOperation {
  const { db } = shard;
  const wallet = accountAddress.userWallet(claim.userId);
  return composeOperation(shard, {
    id: claim.claimId,
    kind: "packet_claim",
    currency: claim.currency,
    postings: [
      {
        from: accountAddress.packetEscrow(claim.packetId),
        to: wallet,
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
        code: "packet_shares_credited",
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
      ...winningsCreditStatements(
        shard,
        [{ to: wallet, amountMinor: claim.amountMinor }],
        claim.currency,
        nowMs,
        posting,
      ),
    ],
  });
}

/** Posts many credits in one batch (group commit); returns each one's verdict, in order. */
export function postClaimCredits(
  shard: LedgerShard,
  credits: readonly ClaimCredit[],
  nowMs: number,
): Promise<Verdict[]> {
  return runOperations(
    shard,
    credits.map((credit) => composeClaimCredit(shard, credit, nowMs)),
  );
}
