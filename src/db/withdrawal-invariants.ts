/**
 * The money-out invariants of one ledger shard (withdrawals live in their creator's shard, and
 * their operations commit there, so each shard answers for its own):
 *
 * - per channel: Σ (amount − fee) of paid withdrawals = the balance of `channel:{ch}:payouts`;
 * - per creator: the balance of `creator:{id}:withdrawing` = Σ amounts of their withdrawals
 *   still on the way out (requested, approved, paying);
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
  | { readonly kind: "withdrawal_operation_missing"; readonly withdrawalId: string; readonly operationId: string };

export async function checkWithdrawalInvariants(db: D1Database): Promise<WithdrawalViolation[]> {
  const [payouts, withdrawing, unmatched] = await db.batch<Record<string, unknown>>([
    db.prepare(
      `SELECT channel, SUM(paid) AS paid, SUM(balance) AS balance FROM (
         SELECT channel, amount_minor - fee_minor AS paid, 0 AS balance FROM withdrawals WHERE state = 'paid'
         UNION ALL
         SELECT substr(address, 9, length(address) - 16), 0, balance_minor FROM accounts
          WHERE address LIKE 'channel:%:payouts')
       GROUP BY channel HAVING SUM(paid) <> SUM(balance)`,
    ),
    db.prepare(
      `SELECT creator_id, SUM(open) AS open, SUM(balance) AS balance FROM (
         SELECT creator_id, amount_minor AS open, 0 AS balance FROM withdrawals
          WHERE state IN ('requested', 'approved', 'paying')
         UNION ALL
         SELECT substr(address, 9, length(address) - 20), 0, balance_minor FROM accounts
          WHERE address LIKE 'creator:%:withdrawing')
       GROUP BY creator_id HAVING SUM(open) <> SUM(balance)`,
    ),
    db.prepare(
      `SELECT id, op FROM (
         SELECT id, id || CASE state WHEN 'paid' THEN ':payout' ELSE ':release' END AS op FROM withdrawals
          WHERE state IN ('paid', 'rejected', 'failed'))
       WHERE NOT EXISTS (SELECT 1 FROM operations WHERE operations.id = op)
         AND NOT EXISTS (SELECT 1 FROM operation_tombstones WHERE operation_tombstones.id = op)`,
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
      creatorId: r.creator_id,
      withdrawingMinor: r.balance,
      openWithdrawalsMinor: r.open,
    });
  }
  for (const r of (unmatched?.results ?? []) as { id: string; op: string }[]) {
    violations.push({ kind: "withdrawal_operation_missing", withdrawalId: r.id, operationId: r.op });
  }
  return violations;
}
