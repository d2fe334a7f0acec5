/**
 * Reconciliation of one channel's daily statement against what D1 recorded for that channel
 * and day. Pure and deterministic: the same statement and records give the same findings in
 * the same order, whatever order they arrive in, so running it twice is harmless and its
 * output can be diffed between runs.
 *
 * A finding says what disagrees, both sides' view, and how it can be repaired: `query_channel`
 * when asking the channel about the order settles it through the normal credit path (the
 * order exists and still waits, or was closed or failed, while the channel says it was paid),
 * `operator` for everything a query cannot decide (money that is not ours, money we credited
 * that the channel does not show, amounts that differ, refunds nobody here made).
 */

import { assert } from "./limits";
import { CREDITABLE_STATES, type OrderState } from "./order";
import type { WithdrawalState } from "./withdrawal-states";

/** A payment line: money in. `reversed` is WeChat's REVOKED (paid, then undone by the channel). */
export type PaymentLineStatus = "succeeded" | "reversed";
/** A refund line: money out. `pending` is accepted, not yet settled (WeChat lists refunds when accepted). */
export type RefundLineStatus = "refunded" | "pending" | "failed";
/** A payout line (a transfer to a creator, reconcile-payouts.ts): `reversed` is money that came back. */
export type PayoutLineStatus = "paid" | "reversed";

interface LineBase {
  /** Our order id as the channel echoes it; null where the channel's line does not carry one (Stripe without metadata). */
  readonly merchantOrderNo: string | null;
  /** The channel's id of the payment; refund lines carry the payment they refund. */
  readonly providerTxnId: string | null;
  /** Positive integer minor units of `currency`. */
  readonly amountMinor: number;
  /** ISO 4217, upper case. */
  readonly currency: string;
  readonly occurredAtMs: number;
  /** 1-based physical line of the statement file, for operators to find it. */
  readonly line: number;
}

export interface PaymentLine extends LineBase {
  readonly kind: "payment";
  readonly status: PaymentLineStatus;
  readonly providerRefundId: null;
  readonly merchantRefundNo: null;
}

export interface RefundLine extends LineBase {
  readonly kind: "refund";
  readonly status: RefundLineStatus;
  /** The channel's id of the refund (WeChat 微信退款单号, Stripe re_…); Alipay's statement has none. */
  readonly providerRefundId: string | null;
  /** Our refund number as the channel echoes it (WeChat 商户退款单号, Alipay 退款批次号/请求号). */
  readonly merchantRefundNo: string | null;
}

/** One line of a channel's statement, provider-neutral. */
export type StatementLine = PaymentLine | RefundLine;

/** Matches `payment_refunds.state`: `requested` is ours only, `pending` was accepted by the channel. */
export const REFUND_STATES = ["requested", "pending", "succeeded", "failed"] as const;
export type RefundState = (typeof REFUND_STATES)[number];

export interface OurOrder {
  readonly kind: "order";
  readonly orderId: string;
  readonly state: OrderState;
  readonly amountMinor: number;
  readonly currency: string;
  readonly providerTxnId: string | null;
  readonly refundedMinor: number;
  /**
   * The caller selected this order as one of the day's payments (its credit falls in the
   * statement's period). Orders loaded only because the statement names them are `false`:
   * their absence from the statement is not a finding.
   */
  readonly inPeriod: boolean;
}

export interface OurRefund {
  readonly kind: "refund";
  /** Our refund id, sent to the channel as the merchant refund number. */
  readonly refundNo: string;
  readonly providerRefundId: string | null;
  readonly orderId: string;
  readonly amountMinor: number;
  readonly state: RefundState;
  /** As for orders: the refund belongs to the statement's period, so the statement should show it. */
  readonly inPeriod: boolean;
}

/** What D1 knows for the channel and day. */
export type OurRecord = OurOrder | OurRefund;

export const FINDING_KINDS = [
  "missing_ours", // the channel shows money we have not recorded
  "missing_theirs", // we recorded money the statement does not show
  "amount_mismatch", // both sides have it, amounts or currencies differ
  "status_mismatch", // both sides know the order, they disagree about what happened to it
  "duplicate_line", // the statement lists one transaction or refund twice; counted once
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

export type Repair = "query_channel" | "operator";

export interface Finding {
  readonly kind: FindingKind;
  readonly repair: Repair;
  readonly subject: "payment" | "refund" | "payout";
  /** Our order, when we have it; on payout findings, our withdrawal. */
  readonly orderId: string | null;
  /** The order as the statement names it (may name an order we do not have). */
  readonly merchantOrderNo: string | null;
  readonly providerTxnId: string | null;
  readonly providerRefundId: string | null;
  /** Our refund, when the finding is about one. */
  readonly refundNo: string | null;
  readonly theirs: {
    readonly line: number;
    readonly amountMinor: number;
    readonly currency: string;
    readonly status: PaymentLineStatus | RefundLineStatus | PayoutLineStatus;
  } | null;
  readonly ours: {
    readonly amountMinor: number;
    readonly currency: string | null;
    readonly state: OrderState | RefundState | WithdrawalState;
    /** The order's refunded total, on refund findings made at the order level. */
    readonly refundedMinor: number | null;
  } | null;
  readonly detail: string;
}

export interface ReconcileCounts {
  readonly paymentLines: number;
  readonly refundLines: number;
  readonly ourOrders: number;
  readonly ourRefunds: number;
  /** Payment lines paired with one of our orders (with or without a finding). */
  readonly matchedPayments: number;
  /** Refund lines paired with one of our refunds, or accounted for by the order's refunded total. */
  readonly matchedRefunds: number;
  readonly findings: Readonly<Record<FindingKind, number>>;
}

export interface Reconciliation {
  readonly findings: readonly Finding[];
  readonly counts: ReconcileCounts;
}

/**
 * The orders a statement names: load these (as `inPeriod: false` unless they are the day's)
 * along with the day's own records, so a line about an order paid on another day is matched
 * instead of reported as money we do not have.
 */
export function statementOrderIds(lines: readonly StatementLine[]): string[] {
  const ids = new Set<string>();
  for (const l of lines) if (l.merchantOrderNo !== null) ids.add(l.merchantOrderNo);
  return [...ids].sort(compareText);
}

/**
 * Matching rules:
 * - Lines are taken in file order. A payment line repeating a transaction (same provider
 *   transaction id and status) or a refund line repeating a refund (same provider refund id or
 *   merchant refund number) is a `duplicate_line` and is not counted again.
 * - One payment per order: the line with the order's recorded transaction id, else the
 *   first line for the order. Any other transaction on the order is a second payment
 *   (`missing_ours`, for an operator to refund). A transaction listed both paid and reversed
 *   is judged as reversed.
 * - Refunds pair with our refunds by provider refund id, then by our refund number, then by
 *   order and amount (oldest line with the lowest refund number). Where we hold no refund
 *   records for an order at all, its refund lines are summed against the order's refunded
 *   total: partial refunds that add up to no more than what we refunded are accounted for.
 */
export function reconcile(statement: readonly StatementLine[], ours: readonly OurRecord[]): Reconciliation {
  const orders = new Map<string, OurOrder>();
  const refunds: OurRefund[] = [];
  const refundNos = new Set<string>();
  for (const r of ours) {
    assert(Number.isSafeInteger(r.amountMinor) && r.amountMinor > 0, "our amounts are positive integers");
    if (r.kind === "order") {
      assert(!orders.has(r.orderId), "each order is given once");
      assert(
        Number.isSafeInteger(r.refundedMinor) && r.refundedMinor >= 0 && r.refundedMinor <= r.amountMinor,
        "an order's refunded total is within its amount",
      );
      orders.set(r.orderId, r);
    } else {
      assert(!refundNos.has(r.refundNo), "each refund is given once");
      refundNos.add(r.refundNo);
      refunds.push(r);
    }
  }
  const lines = [...statement].sort((a, b) => a.line - b.line);
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i] as StatementLine;
    assert(Number.isSafeInteger(l.amountMinor) && l.amountMinor > 0, "statement amounts are positive integers");
    assert(i === 0 || (lines[i - 1] as StatementLine).line < l.line, "statement line numbers are unique");
  }

  const findings: Finding[] = [];
  const { payments, refundLines } = dropDuplicates(lines, findings);
  const matchedPayments = reconcilePayments(payments, orders, findings);
  const matchedRefunds = reconcileRefunds(refundLines, orders, refunds, findings);

  findings.sort(compareFindings);
  const byKind = Object.fromEntries(FINDING_KINDS.map((k) => [k, 0])) as Record<FindingKind, number>;
  for (const f of findings) byKind[f.kind] += 1;
  return {
    findings,
    counts: {
      paymentLines: payments.length,
      refundLines: refundLines.length,
      ourOrders: orders.size,
      ourRefunds: refunds.length,
      matchedPayments,
      matchedRefunds,
      findings: byKind,
    },
  };
}

function dropDuplicates(
  lines: readonly StatementLine[],
  findings: Finding[],
): { payments: PaymentLine[]; refundLines: RefundLine[] } {
  const payments: PaymentLine[] = [];
  const refundLines: RefundLine[] = [];
  const firstSeen = new Map<string, StatementLine>();
  for (const l of lines) {
    const keys =
      l.kind === "payment"
        ? l.providerTxnId === null
          ? []
          : [`p:${l.status}:${l.providerTxnId}`]
        : [
            ...(l.providerRefundId === null ? [] : [`r:${l.providerRefundId}`]),
            ...(l.merchantRefundNo === null ? [] : [`n:${l.merchantRefundNo}`]),
          ];
    const first = keys.map((k) => firstSeen.get(k)).find((f) => f !== undefined);
    if (first) {
      findings.push({
        ...about(l),
        kind: "duplicate_line",
        repair: "operator",
        orderId: null,
        ours: null,
        detail: `line ${l.line} repeats line ${first.line}; counted once`,
      });
      continue;
    }
    for (const k of keys) firstSeen.set(k, l);
    if (l.kind === "payment") payments.push(l);
    else refundLines.push(l);
  }
  return { payments, refundLines };
}

function reconcilePayments(
  payments: readonly PaymentLine[],
  orders: ReadonlyMap<string, OurOrder>,
  findings: Finding[],
): number {
  const byOrder = new Map<string, PaymentLine[]>();
  for (const l of payments) {
    if (l.merchantOrderNo === null) {
      findings.push(missingOurs(l, null, "operator", "a payment that names no order of ours"));
      continue;
    }
    const list = byOrder.get(l.merchantOrderNo) ?? [];
    list.push(l);
    byOrder.set(l.merchantOrderNo, list);
  }
  const paid = new Set<string>();
  let matched = 0;
  for (const [orderNo, lines] of byOrder) {
    const order = orders.get(orderNo);
    const transactions = byTransaction(lines);
    if (!order) {
      for (const t of transactions)
        findings.push(missingOurs(t, null, "operator", "a payment for an order we do not have"));
      continue;
    }
    const chosen =
      transactions.find((t) => order.providerTxnId !== null && t.providerTxnId === order.providerTxnId) ??
      transactions.find((t) => order.providerTxnId === null || t.providerTxnId === null);
    for (const t of transactions) {
      if (t === chosen) continue;
      findings.push(
        missingOurs(
          t,
          order,
          "operator",
          `a second payment on this order (the order is settled by ${order.providerTxnId ?? "another line"})`,
        ),
      );
    }
    if (!chosen) continue;
    paid.add(order.orderId);
    matched += 1;
    const finding = comparePayment(chosen, order);
    if (finding) findings.push(finding);
  }
  for (const order of orders.values()) {
    if (!order.inPeriod || paid.has(order.orderId)) continue;
    if (order.state !== "succeeded" && order.state !== "refunded") continue;
    findings.push({
      kind: "missing_theirs",
      repair: "operator",
      subject: "payment",
      orderId: order.orderId,
      merchantOrderNo: order.orderId,
      providerTxnId: order.providerTxnId,
      providerRefundId: null,
      refundNo: null,
      theirs: null,
      ours: oursOfOrder(order),
      detail: `we credited this order (${order.state}); the statement has no payment for it`,
    });
  }
  return matched;
}

/**
 * One line per transaction, in file order. A transaction listed both paid and reversed is
 * represented by its reversal; lines without a transaction id each stand alone.
 */
function byTransaction(lines: readonly PaymentLine[]): PaymentLine[] {
  const out: PaymentLine[] = [];
  const index = new Map<string, number>();
  for (const l of lines) {
    const at = l.providerTxnId === null ? undefined : index.get(l.providerTxnId);
    if (at === undefined) {
      if (l.providerTxnId !== null) index.set(l.providerTxnId, out.length);
      out.push(l);
    } else if (l.status === "reversed") {
      out[at] = l;
    }
  }
  return out;
}

function comparePayment(line: PaymentLine, order: OurOrder): Finding | null {
  if (line.amountMinor !== order.amountMinor || line.currency !== order.currency) {
    return {
      ...about(line),
      kind: "amount_mismatch",
      repair: "operator",
      orderId: order.orderId,
      ours: oursOfOrder(order),
      detail: `the channel has ${line.amountMinor} ${line.currency}, the order is ${order.amountMinor} ${order.currency}`,
    };
  }
  const credited = order.state === "succeeded" || order.state === "refunded";
  if (line.status === "succeeded" && !credited) {
    // created/pending (the callback never came), failed/closed (our clock decided first): all creditable.
    assert(CREDITABLE_STATES.includes(order.state), "an uncredited order can still be credited");
    return missingOurs(line, order, "query_channel", `the channel says paid; the order is ${order.state}`);
  }
  if (line.status === "reversed" && credited) {
    return {
      ...about(line),
      kind: "status_mismatch",
      repair: "operator",
      orderId: order.orderId,
      ours: oursOfOrder(order),
      detail: `the channel reversed this payment; we credited it (${order.state})`,
    };
  }
  return null;
}

function reconcileRefunds(
  lines: readonly RefundLine[],
  orders: ReadonlyMap<string, OurOrder>,
  refunds: readonly OurRefund[],
  findings: Finding[],
): number {
  const sorted = [...refunds].sort((a, b) => compareText(a.refundNo, b.refundNo));
  const byProviderId = new Map<string, OurRefund>();
  const byNo = new Map<string, OurRefund>();
  const ordersWithRecords = new Set<string>();
  for (const r of sorted) {
    if (r.providerRefundId !== null) byProviderId.set(r.providerRefundId, r);
    byNo.set(r.refundNo, r);
    ordersWithRecords.add(r.orderId);
  }
  const paired = new Map<RefundLine, OurRefund>();
  const used = new Set<OurRefund>();
  const pair = (l: RefundLine, r: OurRefund | undefined) => {
    if (!r || used.has(r) || paired.has(l)) return;
    paired.set(l, r);
    used.add(r);
  };
  for (const l of lines) if (l.providerRefundId !== null) pair(l, byProviderId.get(l.providerRefundId));
  for (const l of lines) if (l.merchantRefundNo !== null) pair(l, byNo.get(l.merchantRefundNo));
  for (const l of lines) {
    if (paired.has(l) || l.merchantRefundNo !== null) continue;
    // Ids that disagree name different refunds; only a side without an id may pair by amount.
    pair(
      l,
      sorted.find(
        (r) =>
          !used.has(r) &&
          r.orderId === l.merchantOrderNo &&
          r.amountMinor === l.amountMinor &&
          (l.providerRefundId === null || r.providerRefundId === null),
      ),
    );
  }

  let matched = 0;
  const summedByOrder = new Map<string, RefundLine[]>();
  for (const l of lines) {
    const r = paired.get(l);
    if (r) {
      matched += 1;
      const finding = compareRefund(l, r, orders.get(r.orderId) ?? null);
      if (finding) findings.push(finding);
      continue;
    }
    const order = l.merchantOrderNo === null ? undefined : orders.get(l.merchantOrderNo);
    if (!order) {
      findings.push(missingOurs(l, null, "operator", "a refund on an order we do not have"));
    } else if (!ordersWithRecords.has(order.orderId)) {
      const list = summedByOrder.get(order.orderId) ?? [];
      list.push(l);
      summedByOrder.set(order.orderId, list);
    } else {
      findings.push(providerSideRefund(l, order, l.amountMinor, "a refund we have no record of"));
    }
  }
  for (const [orderId, list] of summedByOrder) {
    const order = orders.get(orderId) as OurOrder;
    // Failed lines moved nothing; accepted (pending) ones will, so they count against what we refunded.
    const movedMinor = list.filter((l) => l.status !== "failed").reduce((sum, l) => sum + l.amountMinor, 0);
    if (movedMinor <= order.refundedMinor) {
      matched += list.length;
      continue;
    }
    const first = list[0] as RefundLine;
    findings.push(
      providerSideRefund(
        first,
        order,
        movedMinor,
        `the channel refunded ${movedMinor} in ${list.length} line(s); we refunded ${order.refundedMinor}`,
      ),
    );
  }
  for (const r of sorted) {
    if (used.has(r) || !r.inPeriod || r.state !== "succeeded") continue;
    const order = orders.get(r.orderId);
    findings.push({
      kind: "missing_theirs",
      repair: "operator",
      subject: "refund",
      orderId: r.orderId,
      merchantOrderNo: r.orderId,
      providerTxnId: order?.providerTxnId ?? null,
      providerRefundId: r.providerRefundId,
      refundNo: r.refundNo,
      theirs: null,
      ours: { amountMinor: r.amountMinor, currency: order?.currency ?? null, state: r.state, refundedMinor: null },
      detail: "we refunded this; the statement has no refund for it",
    });
  }
  return matched;
}

/** What each of our refund states is consistent with on a statement (a statement is a snapshot). */
const REFUND_AGREES: Readonly<Record<RefundLineStatus, readonly RefundState[]>> = {
  refunded: ["succeeded"],
  // Accepted when the statement was cut; settled either way afterwards.
  pending: ["requested", "pending", "succeeded", "failed"],
  failed: ["failed"],
};

function compareRefund(line: RefundLine, refund: OurRefund, order: OurOrder | null): Finding | null {
  const ours = {
    amountMinor: refund.amountMinor,
    currency: order?.currency ?? null,
    state: refund.state,
    refundedMinor: null,
  };
  const base = { ...about(line), orderId: refund.orderId, refundNo: refund.refundNo, ours };
  if (line.merchantOrderNo !== refund.orderId) {
    return {
      ...base,
      kind: "status_mismatch",
      repair: "operator",
      detail: `the channel has this refund on order ${line.merchantOrderNo ?? "(none)"}; we made it on ${refund.orderId}`,
    };
  }
  if (line.amountMinor !== refund.amountMinor || (order !== null && line.currency !== order.currency)) {
    return {
      ...base,
      kind: "amount_mismatch",
      repair: "operator",
      detail:
        `the channel refunded ${line.amountMinor} ${line.currency}, we refunded ${refund.amountMinor} ${order?.currency ?? ""}`.trimEnd(),
    };
  }
  if (REFUND_AGREES[line.status].includes(refund.state)) return null;
  // Ours still waits for the channel's answer: asking the channel settles it. Otherwise both sides are final and disagree.
  const waiting = refund.state === "requested" || refund.state === "pending";
  return {
    ...base,
    kind: "status_mismatch",
    repair: waiting ? "query_channel" : "operator",
    detail: `the channel says ${line.status}; our refund is ${refund.state}`,
  };
}

function providerSideRefund(line: RefundLine, order: OurOrder, theirsMinor: number, detail: string): Finding {
  return {
    ...about(line),
    theirs: { line: line.line, amountMinor: theirsMinor, currency: line.currency, status: line.status },
    kind: "status_mismatch",
    repair: "operator",
    orderId: order.orderId,
    ours: { ...oursOfOrder(order), refundedMinor: order.refundedMinor },
    detail,
  };
}

function missingOurs(line: StatementLine, order: OurOrder | null, repair: Repair, detail: string): Finding {
  return {
    ...about(line),
    kind: "missing_ours",
    repair,
    orderId: order?.orderId ?? null,
    ours: order ? oursOfOrder(order) : null,
    detail,
  };
}

/** The statement side of a finding about `line`. */
function about(line: StatementLine) {
  return {
    subject: line.kind,
    merchantOrderNo: line.merchantOrderNo,
    providerTxnId: line.providerTxnId,
    providerRefundId: line.providerRefundId,
    refundNo: null,
    theirs: { line: line.line, amountMinor: line.amountMinor, currency: line.currency, status: line.status },
  } satisfies Partial<Finding>;
}

function oursOfOrder(order: OurOrder) {
  return { amountMinor: order.amountMinor, currency: order.currency, state: order.state, refundedMinor: null };
}

/** Code-unit order: the same in every locale and runtime. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function compareFindings(a: Finding, b: Finding): number {
  return (
    compareText(a.orderId ?? a.merchantOrderNo ?? "", b.orderId ?? b.merchantOrderNo ?? "") ||
    compareText(a.subject, b.subject) ||
    (a.theirs?.line ?? Number.MAX_SAFE_INTEGER) - (b.theirs?.line ?? Number.MAX_SAFE_INTEGER) ||
    FINDING_KINDS.indexOf(a.kind) - FINDING_KINDS.indexOf(b.kind) ||
    compareText(a.refundNo ?? "", b.refundNo ?? "")
  );
}
