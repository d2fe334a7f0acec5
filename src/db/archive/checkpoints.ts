/**
 * Balances once transfers have been archived. An account's balance is what its transfers
 * moved; after pruning, part of those transfers are in R2 only, and what they moved is kept
 * in `balance_checkpoints`, per archive and account. So, at every moment, including halfway
 * through pruning:
 *
 *   balance(account) = Σ ARCHIVED_FLOWS_SQL(account) + Σ live transfers(account)
 *
 * ARCHIVED_FLOWS_SQL yields rows `(address, delta)` shaped like the invariant checker's
 * `flows` (src/db/invariants.ts): UNION ALL it into those flows and the balance check holds
 * over checkpoint + live rows. An archive counts once it is verified — the only state in
 * which its rows may leave — and while it is being pruned, the rows still live are subtracted
 * back, so the sum is exact whichever of them are gone.
 */

export const ARCHIVED_FLOWS_SQL = `
  SELECT c.account AS address, c.balance_minor AS delta
  FROM balance_checkpoints c JOIN ledger_archives a ON a.id = c.archive_id
  WHERE a.state IN ('verified', 'pruned')
  UNION ALL
  SELECT t.to_account AS address, -t.amount_minor AS delta
  FROM ledger_archives a JOIN ledger_archive_ranges r ON r.archive_id = a.id
  JOIN transfers t ON t.id BETWEEN r.from_transfer_id AND r.to_transfer_id
  WHERE a.state = 'verified'
  UNION ALL
  SELECT t.from_account AS address, t.amount_minor AS delta
  FROM ledger_archives a JOIN ledger_archive_ranges r ON r.archive_id = a.id
  JOIN transfers t ON t.id BETWEEN r.from_transfer_id AND r.to_transfer_id
  WHERE a.state = 'verified'`;

/**
 * Per account, the part of its balance held by archives rather than by live transfers
 * (accounts whose archived part is zero are left out). For tools and tests; the invariant
 * checker should use ARCHIVED_FLOWS_SQL inside its own query.
 */
export async function checkpointBalances(db: D1Database): Promise<Map<string, number>> {
  const { results } = await db
    .prepare(
      `SELECT address, SUM(delta) AS balance_minor FROM (${ARCHIVED_FLOWS_SQL})
       GROUP BY address HAVING SUM(delta) <> 0 ORDER BY address`,
    )
    .all<{ address: string; balance_minor: number }>();
  return new Map(results.map((r) => [r.address, r.balance_minor]));
}

/** One account's archived part (0 if none). */
export async function archivedBalanceOf(db: D1Database, account: string): Promise<number> {
  const row = await db
    .prepare(`SELECT COALESCE(SUM(delta), 0) AS balance_minor FROM (${ARCHIVED_FLOWS_SQL}) WHERE address = ?`)
    .bind(account)
    .first<{ balance_minor: number }>();
  return row?.balance_minor ?? 0;
}
