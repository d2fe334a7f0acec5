import { LIMITS } from "../domain/limits";
import { ARCHIVED_FLOWS_SQL } from "./archive/checkpoints";

/**
 * The ledger's invariants, checked over the whole database:
 *   - per currency, Σ of all balances is 0 (money is neither created nor destroyed);
 *   - no protected account is below 0;
 *   - every balance equals Σ credits − Σ debits of its transfers, the archived ones counted
 *     by their checkpoints (archive/checkpoints.ts: what verified and pruned archives moved);
 *   - every operation's transfers sum to the amount it declares, in its declared count and
 *     currency, and no operation is left half-posted;
 *   - every transfer's currency matches both of its accounts;
 *   - for every red packet: escrow = total − credited − refunded; credited = Σ of its
 *     credited claims; once finished, claimed + refunded = total and nothing stays in flight
 *     to claimers' wallets for longer than the redelivery window;
 *   - for every payment order: a paid one was credited exactly its amount once (the credit's
 *     id is the order id) and an unpaid one not at all; its refunded total equals its live
 *     refunds and what the ledger moved back for them; a pay-to-tip order that says its tip
 *     was sent has that tip;
 *   - for every payer with tips held for review: `user:{id}:held` = Σ of their held tips still
 *     `held` (operations/tip-hold.ts), and every approved one has its tip;
 *   - paid unlocks: every entitlement has its unlock operation (same id, same amount), every
 *     unlock operation its entitlement, and no user holds two active entitlements to one item.
 * Each violation names the row and the two numbers that disagree.
 *
 * Only the balance check reaches into archives: every other check is over live rows, and
 * holds on them alone because nothing a live row needs is ever archived (archive/retention.ts).
 * Conservation and "not negative" read the accounts, which are never archived.
 */
export type Violation =
  | { readonly kind: "currency_not_conserved"; readonly currency: string; readonly sumMinor: number }
  | { readonly kind: "negative_balance"; readonly account: string; readonly balanceMinor: number }
  | {
      readonly kind: "balance_mismatch";
      readonly account: string;
      readonly balanceMinor: number;
      /** Σ of its live transfers plus what archives moved (balance checkpoints). */
      readonly transfersSumMinor: number;
    }
  | {
      readonly kind: "operation_unbalanced";
      readonly operationId: string;
      readonly declaredMinor: number;
      readonly transfersSumMinor: number;
      readonly declaredCount: number;
      readonly transferCount: number;
    }
  | { readonly kind: "operation_not_posted"; readonly operationId: string; readonly state: string }
  | { readonly kind: "transfer_currency_mismatch"; readonly transferId: number; readonly currency: string }
  | {
      readonly kind: "packet_escrow_mismatch";
      readonly packetId: string;
      readonly escrowMinor: number;
      readonly expectedMinor: number;
    }
  | {
      readonly kind: "packet_credits_mismatch";
      readonly packetId: string;
      readonly creditedMinor: number;
      readonly claimsSumMinor: number;
      readonly creditedCount: number;
      readonly claimsCount: number;
    }
  | {
      readonly kind: "packet_not_whole";
      readonly packetId: string;
      readonly totalMinor: number;
      readonly finalClaimedMinor: number;
      readonly refundedMinor: number;
    }
  | {
      readonly kind: "packet_credits_in_flight";
      readonly packetId: string;
      readonly inFlightMinor: number;
      readonly finishedAtMs: number;
    }
  | {
      readonly kind: "order_credit_mismatch";
      readonly orderId: string;
      readonly state: string;
      readonly amountMinor: number;
      readonly creditedMinor: number;
    }
  | {
      readonly kind: "order_refunds_mismatch";
      readonly orderId: string;
      readonly refundedMinor: number;
      readonly refundsSumMinor: number;
      readonly ledgerRefundedMinor: number;
    }
  | { readonly kind: "order_tip_missing"; readonly orderId: string; readonly tipId: string }
  /**
   * A packet order and its red packet disagree: it says `sent` and there is no such packet (or
   * not of its amount, or the order is not paid), or a packet exists that it does not say it sent.
   */
  | {
      readonly kind: "order_packet_mismatch";
      readonly orderId: string;
      readonly state: string;
      readonly packetOutcome: string | null;
    }
  /**
   * A pay-to-unlock order that says it unlocked without its `unlock` operation and entitlement
   * (of its amount, payer and item) or without being paid, or an order's unlock that exists
   * though the order does not say it unlocked (operations/unlock-paid.ts).
   */
  | {
      readonly kind: "order_unlock_mismatch";
      readonly orderId: string;
      readonly state: string;
      readonly unlockOutcome: string | null;
    }
  | {
      readonly kind: "held_balance_mismatch";
      readonly account: string;
      readonly balanceMinor: number;
      /** Σ amount of the payer's held tips in state `held`. */
      readonly heldTipsMinor: number;
    }
  | { readonly kind: "held_tip_unmatched"; readonly heldTipId: string; readonly state: string }
  | {
      /** An entitlement without its unlock operation (or of another amount), or an unlock without its entitlement. */
      readonly kind: "entitlement_unmatched";
      readonly unlockId: string;
      readonly entitlementMinor: number | null;
      readonly unlockMinor: number | null;
    }
  | {
      readonly kind: "entitlement_duplicated";
      readonly userId: string;
      readonly contentId: string;
      readonly activeCount: number;
    };

export interface InvariantReport {
  readonly ok: boolean;
  readonly checkedAtMs: number;
  readonly counts: { readonly accounts: number; readonly operations: number; readonly transfers: number };
  readonly violationCount: number;
  /** At most `LIMITS.invariantViolationsReportedMax`; `violationCount` is always exact. */
  readonly violations: readonly Violation[];
}

const MAX = LIMITS.invariantViolationsReportedMax;

/** The operation `idSql` names exists as `kind`, or was archived and pruned (its tombstone). */
function knownOperation(idSql: string, kind: string): string {
  return `(EXISTS (SELECT 1 FROM operations op WHERE op.id = ${idSql} AND op.kind = '${kind}')
    OR EXISTS (SELECT 1 FROM operation_tombstones ot WHERE ot.id = ${idSql}))`;
}

const QUERIES = {
  conservation:
    "SELECT currency, SUM(balance_minor) AS sum FROM accounts GROUP BY currency HAVING SUM(balance_minor) <> 0",
  negative: "SELECT address, balance_minor FROM accounts WHERE may_go_negative = 0 AND balance_minor < 0",
  balances: `
    WITH flows AS (
      SELECT to_account AS address, amount_minor AS delta FROM transfers
      UNION ALL
      SELECT from_account AS address, -amount_minor AS delta FROM transfers
      UNION ALL ${ARCHIVED_FLOWS_SQL}
    ), sums AS (SELECT address, SUM(delta) AS total FROM flows GROUP BY address)
    SELECT a.address, a.balance_minor, COALESCE(s.total, 0) AS total
    FROM accounts a LEFT JOIN sums s ON s.address = a.address
    WHERE a.balance_minor <> COALESCE(s.total, 0)
    UNION ALL
    SELECT s.address, 0, s.total FROM sums s WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.address = s.address)`,
  operations: `
    SELECT o.id, o.amount_minor, o.transfer_count, COALESCE(SUM(t.amount_minor), 0) AS total, COUNT(t.id) AS n
    FROM operations o LEFT JOIN transfers t ON t.operation_id = o.id
    GROUP BY o.id
    HAVING o.amount_minor <> COALESCE(SUM(t.amount_minor), 0) OR o.transfer_count <> COUNT(t.id)
    UNION ALL
    SELECT t.operation_id, 0, 0, SUM(t.amount_minor), COUNT(*) FROM transfers t
    WHERE NOT EXISTS (SELECT 1 FROM operations o WHERE o.id = t.operation_id) GROUP BY t.operation_id`,
  unposted: "SELECT id, state FROM operations WHERE state <> 'posted'",
  currencies: `
    SELECT t.id, t.currency FROM transfers t
    JOIN accounts f ON f.address = t.from_account JOIN accounts d ON d.address = t.to_account
    JOIN operations o ON o.id = t.operation_id
    WHERE t.currency <> f.currency OR t.currency <> d.currency OR t.currency <> o.currency`,
  packetEscrow: `
    SELECT p.id, COALESCE(a.balance_minor, 0) AS escrow, p.total_minor - p.credited_minor - p.refunded_minor AS expected
    FROM red_packets p LEFT JOIN accounts a ON a.address = 'packet:' || p.id || ':escrow'
    WHERE COALESCE(a.balance_minor, 0) <> p.total_minor - p.credited_minor - p.refunded_minor`,
  packetCredits: `
    SELECT p.id, p.credited_minor, p.credited_count, COALESCE(SUM(c.amount_minor), 0) AS sum, COUNT(c.id) AS n
    FROM red_packets p LEFT JOIN red_packet_claims c ON c.packet_id = p.id
    GROUP BY p.id
    HAVING p.credited_minor <> COALESCE(SUM(c.amount_minor), 0) OR p.credited_count <> COUNT(c.id)`,
  packetWhole: `
    SELECT id, total_minor, final_claimed_minor, refunded_minor FROM red_packets
    WHERE (status = 'refunded' AND (final_claimed_minor IS NULL OR final_claimed_minor + refunded_minor <> total_minor))
       OR (status = 'exhausted' AND (credited_minor <> total_minor OR credited_count <> shares OR refunded_minor <> 0))
       OR (final_claimed_minor IS NOT NULL AND credited_minor > final_claimed_minor)`,
  packetInFlight: `
    SELECT id, final_claimed_minor - credited_minor AS in_flight, COALESCE(finished_at_ms, expires_at_ms) AS finished
    FROM red_packets
    WHERE final_claimed_minor IS NOT NULL AND credited_minor < final_claimed_minor
      AND COALESCE(finished_at_ms, expires_at_ms) < ?`,
  orderCredits: `
    SELECT o.id, o.state, o.amount_minor, COALESCE(op.amount_minor, 0) AS credited
    FROM payment_orders o LEFT JOIN operations op ON op.id = o.id AND op.kind = 'payment_credit'
    WHERE (o.state IN ('succeeded', 'refunded') AND (op.id IS NULL OR op.amount_minor <> o.amount_minor))
       OR (o.state NOT IN ('succeeded', 'refunded') AND op.id IS NOT NULL)`,
  orderRefunds: `
    SELECT * FROM (
      SELECT o.id, o.refunded_minor,
        COALESCE((SELECT SUM(r.amount_minor) FROM payment_refunds r WHERE r.order_id = o.id AND r.state <> 'failed'), 0)
          AS refunds,
        COALESCE((SELECT SUM(op.amount_minor) FROM payment_refunds r JOIN operations op ON op.id = r.id
                  WHERE r.order_id = o.id), 0)
        - COALESCE((SELECT SUM(op.amount_minor) FROM payment_refunds r JOIN operations op ON op.id = r.id || '_reversal'
                  WHERE r.order_id = o.id), 0) AS ledger
      FROM payment_orders o
      WHERE o.refunded_minor <> 0 OR EXISTS (SELECT 1 FROM payment_refunds r WHERE r.order_id = o.id)
    ) WHERE refunded_minor <> refunds OR refunded_minor <> ledger`,
  orderTips: `
    SELECT o.id, o.tip_id FROM payment_orders o
    WHERE o.tip_outcome = 'sent' AND NOT EXISTS (SELECT 1 FROM operations op WHERE op.id = o.tip_id AND op.kind = 'tip')`,
  orderPackets: `
    SELECT o.id, o.state, o.packet_outcome FROM payment_orders o
    WHERE o.kind = 'packet' AND (
      COALESCE(o.packet_outcome = 'sent', 0) <> EXISTS (
        SELECT 1 FROM operations op WHERE op.id = 'packet_' || substr(o.id, 7) AND op.kind = 'packet_send')
      OR (o.packet_outcome = 'sent' AND (o.state NOT IN ('succeeded', 'refunded') OR NOT EXISTS (
        SELECT 1 FROM red_packets p WHERE p.id = o.packet_id AND p.total_minor = o.amount_minor AND p.sender_id = o.user_id)))
    )`,
  orderUnlocks: `
    SELECT o.id, o.state, o.unlock_outcome FROM payment_orders o
    WHERE o.kind = 'unlock' AND (
      COALESCE(o.unlock_outcome = 'unlocked', 0) <> EXISTS (
        SELECT 1 FROM operations op WHERE op.id = 'unl_' || substr(o.id, 7) AND op.kind = 'unlock')
      OR (o.unlock_outcome = 'unlocked' AND (o.state NOT IN ('succeeded', 'refunded') OR NOT EXISTS (
        SELECT 1 FROM entitlements e WHERE e.id = o.unlock_id AND e.amount_minor = o.amount_minor
          AND e.user_id = o.user_id AND e.content_id = o.unlock_content_id)))
    )`,
  heldBalances: `
    WITH held AS (
      SELECT 'user:' || viewer_id || ':held' AS address, SUM(amount_minor) AS total
      FROM held_tips WHERE state = 'held' GROUP BY viewer_id
    )
    SELECT a.address, a.balance_minor, COALESCE(h.total, 0) AS total
    FROM accounts a LEFT JOIN held h ON h.address = a.address
    WHERE a.address LIKE 'user:%:held' AND a.balance_minor <> COALESCE(h.total, 0)
    UNION ALL
    SELECT h.address, 0, h.total FROM held h WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.address = h.address)`,
  // Each decided held tip has the one operation its decision made (and a held one has neither);
  // an operation archival pruned counts by its tombstone.
  heldTips: `
    SELECT h.id, h.state FROM held_tips h
    WHERE NOT ${knownOperation("h.id", "tip_hold")}
       OR (h.state = 'approved') <> ${knownOperation("h.tip_id", "tip")}
       OR (h.state IN ('declined', 'expired')) <> ${knownOperation("h.id || ':release'", "tip_hold_release")}`,
  // Paid unlocks (operations/unlock.ts): each entitlement has its unlock operation of the same
  // id and amount (a pruned one counts by its tombstone), each unlock operation its entitlement,
  // and a user holds at most one active entitlement per item. A copy a bucket move brought in
  // (`moved_from_shard`) answers to its operation in the shard of its original.
  entitlements: `
    SELECT e.id, e.amount_minor AS entitlement, op.amount_minor AS unlock FROM entitlements e
    LEFT JOIN operations op ON op.id = e.id AND op.kind = 'unlock'
    WHERE e.moved_from_shard IS NULL
      AND (NOT ${knownOperation("e.id", "unlock")} OR (op.id IS NOT NULL AND op.amount_minor <> e.amount_minor))
    UNION ALL
    SELECT op.id, NULL, op.amount_minor FROM operations op
    WHERE op.kind = 'unlock' AND NOT EXISTS (SELECT 1 FROM entitlements e WHERE e.id = op.id)`,
  entitlementsDuplicated: `
    SELECT user_id, content_id, COUNT(*) AS n FROM entitlements WHERE state = 'active'
    GROUP BY user_id, content_id HAVING COUNT(*) > 1`,
  counts: `SELECT (SELECT COUNT(*) FROM accounts) AS accounts, (SELECT COUNT(*) FROM operations) AS operations,
           (SELECT COUNT(*) FROM transfers) AS transfers`,
} as const;

type Row = Record<string, unknown>;
const num = (v: unknown): number => Number(v);
const str = (v: unknown): string => String(v);

/**
 * Runs every check in one batch so they all see the same snapshot of the ledger.
 */
export async function checkLedgerInvariants(db: D1Database, nowMs: number): Promise<InvariantReport> {
  const [
    conservation,
    negative,
    balances,
    ops,
    unposted,
    currencies,
    packetEscrow,
    packetCredits,
    packetWhole,
    packetInFlight,
    orderCredits,
    orderRefunds,
    orderTips,
    orderPackets,
    orderUnlocks,
    heldBalances,
    heldTips,
    entitlements,
    entitlementsDuplicated,
    counts,
  ] = await db.batch<Row>([
    db.prepare(QUERIES.conservation),
    db.prepare(QUERIES.negative),
    db.prepare(QUERIES.balances),
    db.prepare(QUERIES.operations),
    db.prepare(QUERIES.unposted),
    db.prepare(QUERIES.currencies),
    db.prepare(QUERIES.packetEscrow),
    db.prepare(QUERIES.packetCredits),
    db.prepare(QUERIES.packetWhole),
    db.prepare(QUERIES.packetInFlight).bind(nowMs - LIMITS.packetCreditsInFlightMaxMs),
    db.prepare(QUERIES.orderCredits),
    db.prepare(QUERIES.orderRefunds),
    db.prepare(QUERIES.orderTips),
    db.prepare(QUERIES.orderPackets),
    db.prepare(QUERIES.orderUnlocks),
    db.prepare(QUERIES.heldBalances),
    db.prepare(QUERIES.heldTips),
    db.prepare(QUERIES.entitlements),
    db.prepare(QUERIES.entitlementsDuplicated),
    db.prepare(QUERIES.counts),
  ]);
  const violations: Violation[] = [
    ...(conservation?.results ?? []).map(
      (r): Violation => ({ kind: "currency_not_conserved", currency: str(r.currency), sumMinor: num(r.sum) }),
    ),
    ...(negative?.results ?? []).map(
      (r): Violation => ({ kind: "negative_balance", account: str(r.address), balanceMinor: num(r.balance_minor) }),
    ),
    ...(balances?.results ?? []).map(
      (r): Violation => ({
        kind: "balance_mismatch",
        account: str(r.address),
        balanceMinor: num(r.balance_minor),
        transfersSumMinor: num(r.total),
      }),
    ),
    ...(ops?.results ?? []).map(
      (r): Violation => ({
        kind: "operation_unbalanced",
        operationId: str(r.id),
        declaredMinor: num(r.amount_minor),
        transfersSumMinor: num(r.total),
        declaredCount: num(r.transfer_count),
        transferCount: num(r.n),
      }),
    ),
    ...(unposted?.results ?? []).map(
      (r): Violation => ({ kind: "operation_not_posted", operationId: str(r.id), state: str(r.state) }),
    ),
    ...(currencies?.results ?? []).map(
      (r): Violation => ({ kind: "transfer_currency_mismatch", transferId: num(r.id), currency: str(r.currency) }),
    ),
    ...(packetEscrow?.results ?? []).map(
      (r): Violation => ({
        kind: "packet_escrow_mismatch",
        packetId: str(r.id),
        escrowMinor: num(r.escrow),
        expectedMinor: num(r.expected),
      }),
    ),
    ...(packetCredits?.results ?? []).map(
      (r): Violation => ({
        kind: "packet_credits_mismatch",
        packetId: str(r.id),
        creditedMinor: num(r.credited_minor),
        claimsSumMinor: num(r.sum),
        creditedCount: num(r.credited_count),
        claimsCount: num(r.n),
      }),
    ),
    ...(packetWhole?.results ?? []).map(
      (r): Violation => ({
        kind: "packet_not_whole",
        packetId: str(r.id),
        totalMinor: num(r.total_minor),
        finalClaimedMinor: num(r.final_claimed_minor),
        refundedMinor: num(r.refunded_minor),
      }),
    ),
    ...(packetInFlight?.results ?? []).map(
      (r): Violation => ({
        kind: "packet_credits_in_flight",
        packetId: str(r.id),
        inFlightMinor: num(r.in_flight),
        finishedAtMs: num(r.finished),
      }),
    ),
    ...(orderCredits?.results ?? []).map(
      (r): Violation => ({
        kind: "order_credit_mismatch",
        orderId: str(r.id),
        state: str(r.state),
        amountMinor: num(r.amount_minor),
        creditedMinor: num(r.credited),
      }),
    ),
    ...(orderRefunds?.results ?? []).map(
      (r): Violation => ({
        kind: "order_refunds_mismatch",
        orderId: str(r.id),
        refundedMinor: num(r.refunded_minor),
        refundsSumMinor: num(r.refunds),
        ledgerRefundedMinor: num(r.ledger),
      }),
    ),
    ...(orderTips?.results ?? []).map(
      (r): Violation => ({ kind: "order_tip_missing", orderId: str(r.id), tipId: str(r.tip_id) }),
    ),
    ...(orderPackets?.results ?? []).map(
      (r): Violation => ({
        kind: "order_packet_mismatch",
        orderId: str(r.id),
        state: str(r.state),
        packetOutcome: r.packet_outcome === null ? null : str(r.packet_outcome),
      }),
    ),
    ...(orderUnlocks?.results ?? []).map(
      (r): Violation => ({
        kind: "order_unlock_mismatch",
        orderId: str(r.id),
        state: str(r.state),
        unlockOutcome: r.unlock_outcome === null ? null : str(r.unlock_outcome),
      }),
    ),
    ...(heldBalances?.results ?? []).map(
      (r): Violation => ({
        kind: "held_balance_mismatch",
        account: str(r.address),
        balanceMinor: num(r.balance_minor),
        heldTipsMinor: num(r.total),
      }),
    ),
    ...(heldTips?.results ?? []).map(
      (r): Violation => ({ kind: "held_tip_unmatched", heldTipId: str(r.id), state: str(r.state) }),
    ),
    ...(entitlements?.results ?? []).map(
      (r): Violation => ({
        kind: "entitlement_unmatched",
        unlockId: str(r.id),
        entitlementMinor: r.entitlement === null ? null : num(r.entitlement),
        unlockMinor: r.unlock === null ? null : num(r.unlock),
      }),
    ),
    ...(entitlementsDuplicated?.results ?? []).map(
      (r): Violation => ({
        kind: "entitlement_duplicated",
        userId: str(r.user_id),
        contentId: str(r.content_id),
        activeCount: num(r.n),
      }),
    ),
  ];
  const c = counts?.results[0] ?? {};
  return {
    ok: violations.length === 0,
    checkedAtMs: nowMs,
    counts: { accounts: num(c.accounts), operations: num(c.operations), transfers: num(c.transfers) },
    violationCount: violations.length,
    violations: violations.slice(0, MAX),
  };
}
