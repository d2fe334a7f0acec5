/**
 * A user's withdrawable part of the wallet (docs/adr/0017), the `user_winnings` row in the
 * user's shard. Claims add to it here, in the batch that credits the wallet; withdrawals take
 * from it and releases give back (operations/withdrawal-hold.ts, withdrawal-release.ts); the
 * trigger `user_winnings_follow_wallet` lowers it to the wallet's balance when spending goes
 * below it (top-ups are spent first).
 */

import { accountAddress } from "../domain/accounts";
import type { SqlCondition } from "./ledger";
import type { LedgerShard } from "./shards";

const WALLET = /^user:([A-Za-z0-9_-]{1,64}):wallet$/;

/**
 * The statements that make a claim's credits to wallets withdrawable, written only while
 * `whenPosting` holds: for each credit to a `user:{id}:wallet` that lives in this shard (a
 * credit bound for another shard is made withdrawable there, by its transit delivery).
 */
export function winningsCreditStatements(
  shard: LedgerShard,
  credits: readonly { readonly to: string; readonly amountMinor: number }[],
  currency: string,
  nowMs: number,
  whenPosting: SqlCondition,
): D1PreparedStatement[] {
  return credits.flatMap((credit) => {
    const userId = WALLET.exec(credit.to)?.[1];
    if (userId === undefined || shard.homeOf(credit.to) !== shard.index) return [];
    return [
      shard.db
        .prepare(
          `INSERT INTO user_winnings (user_id, currency, withdrawable_minor, claimed_minor, withdrawn_minor, updated_at_ms)
           SELECT ?, ?, ?, ?, 0, ? WHERE ${whenPosting.sql}
           ON CONFLICT (user_id) DO UPDATE SET withdrawable_minor = withdrawable_minor + excluded.withdrawable_minor,
             claimed_minor = claimed_minor + excluded.claimed_minor, updated_at_ms = excluded.updated_at_ms`,
        )
        .bind(userId, currency, credit.amountMinor, credit.amountMinor, nowMs, ...whenPosting.params),
    ];
  });
}

export interface Winnings {
  /** What the user may withdraw now (never more than the wallet). */
  readonly withdrawableMinor: number;
  readonly walletMinor: number;
  readonly claimedMinor: number;
  readonly withdrawnMinor: number;
}

/** A user's winnings beside the wallet, read in one batch (one snapshot). */
export async function readWinnings(shard: LedgerShard, userId: string): Promise<Winnings> {
  const row = await shard.db
    .prepare(
      `SELECT COALESCE((SELECT balance_minor FROM accounts WHERE address = ?), 0) AS wallet,
              COALESCE(w.withdrawable_minor, 0) AS withdrawable, COALESCE(w.claimed_minor, 0) AS claimed,
              COALESCE(w.withdrawn_minor, 0) AS withdrawn
         FROM (SELECT 1) LEFT JOIN user_winnings AS w ON w.user_id = ?`,
    )
    .bind(accountAddress.userWallet(userId), userId)
    .first<{ wallet: number; withdrawable: number; claimed: number; withdrawn: number }>();
  return {
    withdrawableMinor: row?.withdrawable ?? 0,
    walletMinor: row?.wallet ?? 0,
    claimedMinor: row?.claimed ?? 0,
    withdrawnMinor: row?.withdrawn ?? 0,
  };
}
