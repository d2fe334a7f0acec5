/**
 * The money-out invariants of one ledger shard (settlement and tip reversals), joined to the
 * checker by sharded-invariants.ts:
 *
 *   - −balance(platform:receivables) = Σ outstanding receivables of the shard's creators
 *     (reversals of settled tips − what settlements offset), and each such reversal's
 *     receivable plus the withholding returned with it is its creator part;
 *   - every settled day matches its operation: net to available, withholding to tax payable,
 *     offset to receivables, to the fen; a day that moved nothing has no operation;
 *   - no creator's available balance is negative.
 *
 * Rows whose operation archival has pruned are skipped (their transfers are in the archive).
 */

import { accountAddress } from "../domain/accounts";
import { receivableSqlFor } from "./reads/settlement-inputs";

export type MoneyOutViolation =
  | {
      readonly kind: "receivables_mismatch";
      readonly balanceMinor: number;
      /** Σ over creators of what they owe, from the reversal and settlement rows. */
      readonly outstandingMinor: number;
    }
  /** Settlements offset more than the creator owed. */
  | { readonly kind: "receivable_negative"; readonly creatorId: string; readonly owedMinor: number }
  | { readonly kind: "reversal_unmatched"; readonly reversalId: string; readonly detail: string }
  | { readonly kind: "settlement_unmatched"; readonly settlementId: string; readonly detail: string }
  | { readonly kind: "available_negative"; readonly address: string; readonly balanceMinor: number };

interface SettledRow {
  id: string;
  net_minor: number;
  withholding_minor: number;
  receivable_offset_minor: number;
  kind: string | null;
  archived: number;
  to_available: number;
  to_tax: number;
  to_receivables: number;
  from_pending: number;
}

export async function checkMoneyOutInvariants(db: D1Database): Promise<MoneyOutViolation[]> {
  const violations: MoneyOutViolation[] = [];
  const [receivables, creators, reversals, settled, negative] = await db.batch<Record<string, unknown>>([
    db.prepare("SELECT balance_minor FROM accounts WHERE address = ?").bind(accountAddress.platformReceivables()),
    // RECEIVABLE_SQL per creator, summed over the shard's creators (tip_reversals and settlements).
    db.prepare(
      `SELECT creator_id, ${receivableSqlFor("c.creator_id")} AS owed
       FROM (SELECT creator_id FROM tip_reversals WHERE source = 'receivable'
             UNION SELECT creator_id FROM unlock_refunds WHERE source = 'receivable'
             UNION SELECT creator_id FROM creator_settlements WHERE receivable_offset_minor > 0) c`,
    ),
    db.prepare(
      `SELECT r.id, r.creator_minor, r.kind AS expected, o.kind,
         json_extract(o.metadata, '$.receivableMinor') AS receivable, json_extract(o.metadata, '$.withheldMinor') AS withheld,
         EXISTS (SELECT 1 FROM operation_tombstones t WHERE t.id = r.id) AS archived
       FROM (SELECT id, creator_minor, source, 'tip_reversal' AS kind FROM tip_reversals
             UNION ALL SELECT id, creator_minor, source, 'unlock_refund' FROM unlock_refunds) r
       LEFT JOIN operations o ON o.id = r.id WHERE r.source = 'receivable'`,
    ),
    db.prepare(
      `SELECT s.id, s.net_minor, s.withholding_minor, s.receivable_offset_minor, o.kind,
         EXISTS (SELECT 1 FROM operation_tombstones t WHERE t.id = s.id) AS archived,
         (SELECT COALESCE(SUM(amount_minor), 0) FROM transfers WHERE operation_id = s.id
            AND to_account = 'creator:' || s.creator_id || ':available') AS to_available,
         (SELECT COALESCE(SUM(amount_minor), 0) FROM transfers WHERE operation_id = s.id
            AND to_account = 'platform:tax_payable') AS to_tax,
         (SELECT COALESCE(SUM(amount_minor), 0) FROM transfers WHERE operation_id = s.id
            AND to_account = 'platform:receivables') AS to_receivables,
         (SELECT COALESCE(SUM(amount_minor), 0) FROM transfers WHERE operation_id = s.id
            AND from_account = 'creator:' || s.creator_id || ':pending') AS from_pending
       FROM creator_settlements s LEFT JOIN operations o ON o.id = s.id WHERE s.state = 'settled'`,
    ),
    db.prepare(
      "SELECT address, balance_minor FROM accounts WHERE address LIKE 'creator:%:available' AND balance_minor < 0",
    ),
  ]);

  let outstandingMinor = 0;
  for (const c of (creators?.results ?? []) as { creator_id: string; owed: number }[]) {
    outstandingMinor += c.owed;
    if (c.owed < 0) violations.push({ kind: "receivable_negative", creatorId: c.creator_id, owedMinor: c.owed });
  }
  const balanceMinor = (receivables?.results[0] as { balance_minor: number } | undefined)?.balance_minor ?? 0;
  if (-balanceMinor !== outstandingMinor)
    violations.push({ kind: "receivables_mismatch", balanceMinor, outstandingMinor });

  for (const r of (reversals?.results ?? []) as {
    id: string;
    creator_minor: number;
    expected: string;
    kind: string | null;
    receivable: number | null;
    withheld: number | null;
    archived: number;
  }[]) {
    if (r.archived === 1) continue;
    if (r.kind !== r.expected) {
      violations.push({ kind: "reversal_unmatched", reversalId: r.id, detail: `no ${r.expected} operation` });
    } else if ((r.receivable ?? 0) + (r.withheld ?? 0) !== r.creator_minor) {
      violations.push({
        kind: "reversal_unmatched",
        reversalId: r.id,
        detail: `receivable ${r.receivable} + withheld ${r.withheld} ≠ creator part ${r.creator_minor}`,
      });
    }
  }

  for (const s of (settled?.results ?? []) as unknown as SettledRow[]) {
    if (s.archived === 1) continue;
    const moves = s.net_minor + s.withholding_minor + s.receivable_offset_minor;
    if (moves === 0) {
      if (s.kind !== null)
        violations.push({ kind: "settlement_unmatched", settlementId: s.id, detail: "an operation for an empty day" });
      continue;
    }
    const exact =
      s.kind === "settlement" &&
      s.to_available === s.net_minor &&
      s.to_tax === s.withholding_minor &&
      s.to_receivables === s.receivable_offset_minor &&
      s.from_pending === moves;
    if (!exact) {
      violations.push({
        kind: "settlement_unmatched",
        settlementId: s.id,
        detail: `row net/withholding/offset ${s.net_minor}/${s.withholding_minor}/${s.receivable_offset_minor}, operation ${s.kind ?? "missing"} ${s.to_available}/${s.to_tax}/${s.to_receivables} from pending ${s.from_pending}`,
      });
    }
  }

  for (const n of (negative?.results ?? []) as { address: string; balance_minor: number }[]) {
    violations.push({ kind: "available_negative", address: n.address, balanceMinor: n.balance_minor });
  }
  return violations;
}
