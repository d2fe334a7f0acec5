/**
 * The money-out invariants of one ledger shard (withdrawals live in their creator's shard, and
 * their operations commit there, so each shard answers for its own):
 *
 * - per channel: Σ (amount − fee) of paid withdrawals = the balance of `channel:{ch}:payouts`;
 * - per owner: the balance of `creator:{id}:withdrawing` (or a user's `user:{id}:withdrawing`)
 *   = Σ amounts of their withdrawals of that kind still on the way out (requested, approved,
 *   paying);
 * - per user, the winnings split (docs/adr/0017): 0 ≤ withdrawable ≤ the wallet's balance
 *   (no top-up money is withdrawable); withdrawable ≤ claimed − withdrawn (never more than
 *   claims put in, less what was withdrawn or spent); withdrawn = Σ amounts of the user's
 *   winnings withdrawals not given back (requested, approved, paying, paid);
 * - every paid withdrawal is matched by its withdrawal_payout operation (or that operation's
 *   archival tombstone), and every rejected or failed one by its withdrawal_release.
 *
 * "No available balance negative" is the shard checker's protected-account rule
 * (`creator:{id}:available` may not go negative: domain/accounts.ts).
 */

export type WithdrawalViolation =
  | {
      readonly kind: "channel_payouts_mismatch";
      readonly channel: string;
      readonly paidWithdrawalsMinor: number;
      readonly payoutsBalanceMinor: number;
    }
  | {
      readonly kind: "withdrawing_mismatch";
      readonly creatorId: string;
      readonly withdrawingMinor: number;
      readonly openWithdrawalsMinor: number;
    }
  | { readonly kind: "withdrawal_operation_missing"; readonly withdrawalId: string; readonly operationId: string }
  | {
      readonly kind: "winnings_exceed_wallet" | "winnings_exceed_claims" | "winnings_withdrawn_mismatch";
      readonly userId: string;
      readonly withdrawableMinor: number;
      readonly walletMinor: number;
      readonly claimedMinor: number;
      readonly withdrawnMinor: number;
      readonly openOrPaidWithdrawalsMinor: number;
    };

export async function checkWithdrawalInvariants(db: D1Database): Promise<WithdrawalViolation[]> {
  const [payouts, withdrawing, unmatched, winnings] = await db.batch<Record<string, unknown>>([
    db.prepare(
      `SELECT channel, SUM(paid) AS paid, SUM(balance) AS balance FROM (
         SELECT channel, amount_minor - fee_minor AS paid, 0 AS balance FROM withdrawals WHERE state = 'paid'
         UNION ALL
         SELECT substr(address, 9, length(address) - 16), 0, balance_minor FROM accounts
          WHERE address LIKE 'channel:%:payouts')
       GROUP BY channel HAVING SUM(paid) <> SUM(balance)`,
    ),
    db.prepare(
      // `creator:` is 8 characters and `user:` 5; `:withdrawing` is 12.
      `SELECT owner_kind, creator_id, SUM(open) AS open, SUM(balance) AS balance FROM (
         SELECT owner_kind, creator_id, amount_minor AS open, 0 AS balance FROM withdrawals
          WHERE state IN ('requested', 'approved', 'paying')
         UNION ALL
         SELECT 'creator', substr(address, 9, length(address) - 20), 0, balance_minor FROM accounts
          WHERE address LIKE 'creator:%:withdrawing'
         UNION ALL
         SELECT 'user', substr(address, 6, length(address) - 17), 0, balance_minor FROM accounts
          WHERE address LIKE 'user:%:withdrawing')
       GROUP BY owner_kind, creator_id HAVING SUM(open) <> SUM(balance)`,
    ),
    db.prepare(
      `SELECT id, op FROM (
         SELECT id, id || CASE state WHEN 'paid' THEN ':payout' ELSE ':release' END AS op FROM withdrawals
          WHERE state IN ('paid', 'rejected', 'failed'))
       WHERE NOT EXISTS (SELECT 1 FROM operations WHERE operations.id = op)
         AND NOT EXISTS (SELECT 1 FROM operation_tombstones WHERE operation_tombstones.id = op)`,
    ),
    db.prepare(
      `SELECT * FROM (
         SELECT w.user_id, w.withdrawable_minor, w.claimed_minor, w.withdrawn_minor,
           COALESCE((SELECT balance_minor FROM accounts WHERE address = 'user:' || w.user_id || ':wallet'), 0) AS wallet,
           (SELECT COALESCE(SUM(amount_minor), 0) FROM withdrawals
             WHERE creator_id = w.user_id AND owner_kind = 'user'
               AND state IN ('requested', 'approved', 'paying', 'paid')) AS withdrawals
         FROM user_winnings AS w)
       WHERE withdrawable_minor < 0 OR withdrawable_minor > wallet
          OR withdrawable_minor > claimed_minor - withdrawn_minor OR withdrawn_minor <> withdrawals`,
    ),
  ]);
  const violations: WithdrawalViolation[] = [];
  for (const r of (payouts?.results ?? []) as { channel: string; paid: number; balance: number }[]) {
    violations.push({
      kind: "channel_payouts_mismatch",
      channel: r.channel,
      paidWithdrawalsMinor: r.paid,
      payoutsBalanceMinor: r.balance,
    });
  }
  for (const r of (withdrawing?.results ?? []) as { creator_id: string; open: number; balance: number }[]) {
    violations.push({
      kind: "withdrawing_mismatch",
      // The owner's id (a creator's or, for winnings, a user's).
      creatorId: r.creator_id,
      withdrawingMinor: r.balance,
      openWithdrawalsMinor: r.open,
    });
  }
  for (const r of (unmatched?.results ?? []) as { id: string; op: string }[]) {
    violations.push({ kind: "withdrawal_operation_missing", withdrawalId: r.id, operationId: r.op });
  }
  for (const r of (winnings?.results ?? []) as {
    user_id: string;
    withdrawable_minor: number;
    claimed_minor: number;
    withdrawn_minor: number;
    wallet: number;
    withdrawals: number;
  }[]) {
    const kind =
      r.withdrawable_minor < 0 || r.withdrawable_minor > r.wallet
        ? "winnings_exceed_wallet"
        : r.withdrawable_minor > r.claimed_minor - r.withdrawn_minor
          ? "winnings_exceed_claims"
          : "winnings_withdrawn_mismatch";
    violations.push({
      kind,
      userId: r.user_id,
      withdrawableMinor: r.withdrawable_minor,
      walletMinor: r.wallet,
      claimedMinor: r.claimed_minor,
      withdrawnMinor: r.withdrawn_minor,
      openOrPaidWithdrawalsMinor: r.withdrawals,
    });
  }
  return violations;
}
