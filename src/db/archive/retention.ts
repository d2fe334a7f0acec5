/**
 * Which operations at or below an archive's cut stay live, and why. An operation leaves the
 * shard only with every row that exists for it, and only when no live row still needs it:
 * foreign keys forbid the rest (D1 enforces them and cannot turn them off), and the ledger's
 * invariants join some of them by id. An operation kept live keeps all its transfers and rows;
 * a later archive takes it once nothing holds it (its transfers are below that archive's cut
 * too, so "everything live below the cut that nothing needs" picks it up).
 *
 *   order        payment credits, refunds and their reversals, and a pay-to-tip order's tip
 *                (a packet order's packet, a pay-to-unlock order's unlock):
 *                the order and refund rows stay (they are business records, not history) and
 *                the invariant checker matches each to its operation by id.
 *   subsidy      subsidy issues: the `subsidies` row stays (its campaign counts it).
 *   entitlement  a wallet unlock while its `entitlements` row exists (always: an entitlement is a
 *                business record like an order, active or revoked), and an unlock refund's payer
 *                leg while the entitlement it revoked exists: the invariant checker matches each
 *                entitlement to its unlock operation by id (`entitlement_unmatched` once the
 *                archived id's tombstone is forgotten), and a revoked entitlement keeps the leg
 *                that revoked it beside it.
 *   unlock_refund  an unlock refund's creator leg while its `unlock_refunds` row exists (always):
 *                settlement reads the row, and the money-out checker matches a receivable
 *                refund to its operation by id (`reversal_unmatched`).
 *   held_tip     a held tip's operations while its `held_tips` row exists (always: the review
 *                record): its hold, its release, and the tip an approval made (`tip_X` for
 *                `held_X`): the invariant checker matches each row to them by id
 *                (`held_tip_unmatched` once an archived id's tombstone is forgotten).
 *   tip_reversal a tip reversal's creator leg while its `tip_reversals` row exists (always): a
 *                receivable reversal's amount is in its operation's metadata, which the
 *                creator's receivable (`RECEIVABLE_SQL`, read by every settlement) sums, and the
 *                money-out checker matches the row to it (`reversal_unmatched`).
 *   settlement   a day's settlement while its `creator_settlements` row exists (always): the
 *                money-out checker matches each settled row to its operation's postings
 *                (`settlement_unmatched` once the archived id's tombstone is forgotten).
 *   withdrawal   a withdrawal's hold, payout and release while its `withdrawals` row exists
 *                (always): the checker matches each paid, rejected or failed withdrawal to its
 *                payout or release (`withdrawal_operation_missing`).
 *   undelivered  an operation whose transit outbox row was not delivered when the archive
 *                started: the outbox row must stay until the destination shard has posted.
 *   open_packet  any operation on a red packet's escrow while the packet is not closed within
 *                the cut (open, credits in flight, or a claim or refund after the cut): a
 *                packet leaves with its sending, every claim and its refund at once, so its
 *                claims never outlive its row and its escrow check holds on live rows.
 *   spans_cut    an operation with a transfer after the cut (none in practice: an operation's
 *                transfers are inserted together, so their ids are consecutive).
 *
 * The time-varying facts (delivery, packet state) are read once, when the archive starts,
 * into `ledger_archive_holds`: every page of the export then decides the same way, however
 * often it is re-run.
 */

import { accountAddress } from "../../domain/accounts";
import type { OperationKind } from "../ledger";

export const RETENTION_REASONS = [
  "order",
  "subsidy",
  "entitlement",
  "unlock_refund",
  "held_tip",
  "tip_reversal",
  "settlement",
  "withdrawal",
  "undelivered",
  "open_packet",
  "spans_cut",
] as const;
export type RetentionReason = (typeof RETENTION_REASONS)[number];

const ORDER_KINDS = [
  "payment_credit",
  "payment_refund",
  "payment_refund_reversal",
] as const satisfies readonly OperationKind[];
const SUBSIDY_KINDS = ["subsidy_issue"] as const satisfies readonly OperationKind[];
const TIP_KIND: OperationKind = "tip";
const PACKET_SEND_KIND: OperationKind = "packet_send";
const UNLOCK_KIND: OperationKind = "unlock";
const UNLOCK_REFUND_KIND: OperationKind = "unlock_refund";
const UNLOCK_REFUND_PAYER_KIND: OperationKind = "unlock_refund_payer";
const TIP_HOLD_KIND: OperationKind = "tip_hold";
const TIP_HOLD_RELEASE_KIND: OperationKind = "tip_hold_release";
const TIP_REVERSAL_KIND: OperationKind = "tip_reversal";
const SETTLEMENT_KIND: OperationKind = "settlement";
const WITHDRAWAL_HOLD_KIND: OperationKind = "withdrawal_hold";
const WITHDRAWAL_PAYOUT_KIND: OperationKind = "withdrawal_payout";
const WITHDRAWAL_RELEASE_KIND: OperationKind = "withdrawal_release";

const quoted = (kinds: readonly string[]) => kinds.map((k) => `'${k}'`).join(", ");

/**
 * A pay-to-tip order `order_X` sends the tip `tip_X` (payment-credit.ts, tipIdFor) and names it
 * in `tip_id`; looking the order up by its primary key keeps this an index probe per tip.
 */
const PAY_TO_TIP_ORDER =
  "EXISTS (SELECT 1 FROM payment_orders p WHERE p.id = 'order_' || substr(o.id, 5) AND p.tip_id = o.id)";

/**
 * Likewise a packet order `order_X` sends the red packet `packet_X` (packet-send-paid.ts, packetIdFor)
 * and names it in `packet_id`; the invariant checker reads the packet's operation beside the order.
 */
const PAY_TO_PACKET_ORDER =
  "EXISTS (SELECT 1 FROM payment_orders p WHERE p.id = 'order_' || substr(o.id, 8) AND p.packet_id = o.id)";

/**
 * And a pay-to-unlock order `order_X` makes the unlock `unl_X` (unlock-paid.ts, unlockIdFor) and
 * names it in `unlock_id`; the invariant checker reads the unlock's operation beside the order.
 */
const PAY_TO_UNLOCK_ORDER =
  "EXISTS (SELECT 1 FROM payment_orders p WHERE p.id = 'order_' || substr(o.id, 5) AND p.unlock_id = o.id)";

/**
 * A wallet unlock's entitlement has the unlock's id (operations/unlock.ts); an unlock refund's
 * payer leg names the unlock it revoked in its metadata (unlock-refund-payer.ts). Each a probe
 * of the entitlements' primary key.
 */
const UNLOCK_ENTITLEMENT = "EXISTS (SELECT 1 FROM entitlements e WHERE e.id = o.id)";
const REVOKED_ENTITLEMENT = "EXISTS (SELECT 1 FROM entitlements e WHERE e.id = json_extract(o.metadata, '$.unlockId'))";
/** An unlock refund's row has the creator leg's id (unlock-refund.ts). */
const UNLOCK_REFUND_ROW = "EXISTS (SELECT 1 FROM unlock_refunds r WHERE r.id = o.id)";

/**
 * A held tip `held_X` (operations/tip-hold.ts) is its hold's id; its release is `held_X:release`
 * and the tip an approval makes `tip_X` (heldTipTipId). Each a probe of held_tips' primary key.
 */
const HELD_TIP_HOLD = "EXISTS (SELECT 1 FROM held_tips h WHERE h.id = o.id)";
const HELD_TIP_RELEASE =
  "EXISTS (SELECT 1 FROM held_tips h WHERE h.id = substr(o.id, 1, length(o.id) - length(':release')))";
const HELD_TIP_APPROVED = "EXISTS (SELECT 1 FROM held_tips h WHERE h.id = 'held_' || substr(o.id, 5))";

/**
 * A tip reversal's row and a settlement's row have their operation's id (operations/tip-reversal.ts,
 * settlement.ts); a withdrawal `W` is held by `W`, paid by `W:payout` (payoutOperationId) and
 * given back by `W:release` (releaseOperationId). Each a probe of the row's primary key.
 */
const TIP_REVERSAL_ROW = "EXISTS (SELECT 1 FROM tip_reversals r WHERE r.id = o.id)";
const SETTLEMENT_ROW = "EXISTS (SELECT 1 FROM creator_settlements s WHERE s.id = o.id)";
const withdrawalOf = (suffix: string) =>
  `EXISTS (SELECT 1 FROM withdrawals w WHERE w.id = substr(o.id, 1, length(o.id) - length('${suffix}')))`;
const WITHDRAWAL_HELD = "EXISTS (SELECT 1 FROM withdrawals w WHERE w.id = o.id)";

/**
 * The reason operation `o` stays live, or NULL when the archive takes it. Binds, in order:
 * the archive id (holds by operation), the archive id (holds by account), the cut.
 */
export const RETENTION_REASON_SQL = `CASE
  WHEN o.kind IN (${quoted(ORDER_KINDS)}) THEN 'order'
  WHEN o.kind = '${TIP_KIND}' AND ${PAY_TO_TIP_ORDER} THEN 'order'
  WHEN o.kind = '${PACKET_SEND_KIND}' AND ${PAY_TO_PACKET_ORDER} THEN 'order'
  WHEN o.kind = '${UNLOCK_KIND}' AND ${PAY_TO_UNLOCK_ORDER} THEN 'order'
  WHEN o.kind IN (${quoted(SUBSIDY_KINDS)}) THEN 'subsidy'
  WHEN o.kind = '${UNLOCK_KIND}' AND ${UNLOCK_ENTITLEMENT} THEN 'entitlement'
  WHEN o.kind = '${UNLOCK_REFUND_PAYER_KIND}' AND ${REVOKED_ENTITLEMENT} THEN 'entitlement'
  WHEN o.kind = '${UNLOCK_REFUND_KIND}' AND ${UNLOCK_REFUND_ROW} THEN 'unlock_refund'
  WHEN o.kind = '${TIP_HOLD_KIND}' AND ${HELD_TIP_HOLD} THEN 'held_tip'
  WHEN o.kind = '${TIP_HOLD_RELEASE_KIND}' AND ${HELD_TIP_RELEASE} THEN 'held_tip'
  WHEN o.kind = '${TIP_KIND}' AND ${HELD_TIP_APPROVED} THEN 'held_tip'
  WHEN o.kind = '${TIP_REVERSAL_KIND}' AND ${TIP_REVERSAL_ROW} THEN 'tip_reversal'
  WHEN o.kind = '${SETTLEMENT_KIND}' AND ${SETTLEMENT_ROW} THEN 'settlement'
  WHEN o.kind = '${WITHDRAWAL_HOLD_KIND}' AND ${WITHDRAWAL_HELD} THEN 'withdrawal'
  WHEN o.kind = '${WITHDRAWAL_PAYOUT_KIND}' AND ${withdrawalOf(":payout")} THEN 'withdrawal'
  WHEN o.kind = '${WITHDRAWAL_RELEASE_KIND}' AND ${withdrawalOf(":release")} THEN 'withdrawal'
  WHEN EXISTS (SELECT 1 FROM ledger_archive_holds h
               WHERE h.archive_id = ? AND h.kind = 'operation' AND h.ref = o.id) THEN 'undelivered'
  WHEN EXISTS (SELECT 1 FROM transfers e JOIN ledger_archive_holds h
                 ON h.archive_id = ? AND h.kind = 'account' AND h.ref IN (e.from_account, e.to_account)
               WHERE e.operation_id = o.id) THEN 'open_packet'
  WHEN EXISTS (SELECT 1 FROM transfers e WHERE e.operation_id = o.id AND e.id > ?) THEN 'spans_cut'
  ELSE NULL END`;

export function retentionParams(archiveId: string, cutTransferId: number): unknown[] {
  return [archiveId, archiveId, cutTransferId];
}

// A packet's escrow address as SQL around its id, from the one definition of the address.
const [ESCROW_PREFIX, ESCROW_SUFFIX] = accountAddress.packetEscrow("\u0000").split("\u0000") as [string, string];

/**
 * The holds snapshot, written in the batch that creates the archive row. A packet is closed
 * when every share was credited (`exhausted`) or it was refunded with every claim credited,
 * and nothing touched its escrow after the cut; only packets sent within the cut matter.
 */
export function holdStatements(db: D1Database, archiveId: string, cutTransferId: number): D1PreparedStatement[] {
  const escrow = "? || p.id || ?";
  return [
    db
      .prepare(
        `INSERT INTO ledger_archive_holds (archive_id, kind, ref)
         SELECT DISTINCT ?, 'operation', operation_id FROM transit_outbox WHERE delivered_at_ms IS NULL`,
      )
      .bind(archiveId),
    db
      .prepare(
        `INSERT INTO ledger_archive_holds (archive_id, kind, ref)
         SELECT ?, 'account', ${escrow} FROM red_packets p
         WHERE EXISTS (SELECT 1 FROM transfers t WHERE t.operation_id = p.id AND t.id <= ?)
           AND NOT (
             (p.status = 'exhausted' OR (p.status = 'refunded' AND p.credited_minor = p.final_claimed_minor))
             AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.from_account = ${escrow} AND t.id > ?)
             AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.to_account = ${escrow} AND t.id > ?)
           )`,
      )
      .bind(
        archiveId,
        ESCROW_PREFIX,
        ESCROW_SUFFIX,
        cutTransferId,
        ESCROW_PREFIX,
        ESCROW_SUFFIX,
        cutTransferId,
        ESCROW_PREFIX,
        ESCROW_SUFFIX,
        cutTransferId,
      ),
  ];
}
