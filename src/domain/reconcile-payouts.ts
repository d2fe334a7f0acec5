/**
 * Reconciliation of a statement's payout lines (transfers to creators) against our
 * withdrawals. Pure and deterministic, like reconcile.ts, whose findings it produces
 * (subject `payout`, our withdrawal in `orderId`, the channel's transfer id in
 * `providerTxnId`).
 *
 * A line names its withdrawal by our number where the channel echoes it (WeChat out_bill_no,
 * Alipay out_biz_no, the sandbox), otherwise by the channel's transfer id, which the
 * withdrawal records as `provider_ref` once paid (Stripe's report lists `tr_…`). What is
 * compared is what the channel moved: the withdrawal's amount less its fee.
 *
 * Every payout finding is for an operator: money has left (or come back) on the channel's
 * side, and no query here can undo that. A withdrawal still `paying` that the channel shows
 * paid is reported too; the payout sweeper's query settles it, and the finding says so.
 */

import { assert } from "./limits";
import { compareFindings, compareText, type Finding, type PayoutLineStatus } from "./reconcile";
import type { WithdrawalState } from "./withdrawal-states";

export interface PayoutLine {
  readonly kind: "payout";
  /** Our withdrawal id as the channel echoes it; null where the line does not carry it (Stripe). */
  readonly withdrawalId: string | null;
  /** The channel's id of the transfer (WeChat transfer_bill_no, Alipay order_id, Stripe tr_…). */
  readonly providerRef: string | null;
  /** Positive integer minor units of `currency`: what the channel moved. */
  readonly amountMinor: number;
  readonly currency: string;
  readonly status: PayoutLineStatus;
  readonly occurredAtMs: number;
  /** 1-based physical line of the statement file. */
  readonly line: number;
}

export interface OurWithdrawal {
  readonly withdrawalId: string;
  readonly state: WithdrawalState;
  /** What the channel was asked to move: amount − fee. */
  readonly payoutMinor: number;
  readonly currency: string;
  readonly providerRef: string | null;
  /** Paid during the statement's period, so the statement should list it. */
  readonly inPeriod: boolean;
}

export interface PayoutReconciliation {
  readonly findings: readonly Finding[];
  readonly counts: {
    readonly payoutLines: number;
    readonly ourWithdrawals: number;
    /** Payout lines paired with one of our withdrawals (with or without a finding). */
    readonly matchedPayouts: number;
  };
}

/** The withdrawal ids a statement names: load these along with the period's paid withdrawals. */
export function statementWithdrawalIds(lines: readonly PayoutLine[]): string[] {
  const ids = new Set<string>();
  for (const l of lines) if (l.withdrawalId !== null) ids.add(l.withdrawalId);
  return [...ids].sort(compareText);
}

/** The transfer ids of lines that name no withdrawal: look these up by `provider_ref`. */
export function statementTransferRefs(lines: readonly PayoutLine[]): string[] {
  const refs = new Set<string>();
  for (const l of lines) if (l.withdrawalId === null && l.providerRef !== null) refs.add(l.providerRef);
  return [...refs].sort(compareText);
}

/**
 * Matching rules:
 * - Lines in file order; a line repeating a transfer (same transfer id, or same withdrawal,
 *   with the same status) is a `duplicate_line`, counted once. A transfer listed paid and then
 *   reversed is judged as reversed.
 * - A line pairs with our withdrawal by withdrawal id, else by transfer id. None: `missing_ours`.
 * - Paired and paid: the amounts (amount − fee) and currencies must agree (`amount_mismatch`);
 *   the withdrawal must be `paid` (`status_mismatch` otherwise: `paying` waits for its query,
 *   `failed` / `rejected` gave the money back while the channel paid it out).
 * - Paired and reversed: a withdrawal we hold as `paid` is a `status_mismatch`.
 * - A withdrawal paid in the period that no paid line pairs with: `missing_theirs`.
 */
export function reconcilePayouts(
  statement: readonly PayoutLine[],
  ours: readonly OurWithdrawal[],
): PayoutReconciliation {
  const byId = new Map<string, OurWithdrawal>();
  const byRef = new Map<string, OurWithdrawal>();
  for (const w of ours) {
    assert(Number.isSafeInteger(w.payoutMinor) && w.payoutMinor > 0, "what a withdrawal pays out is positive");
    assert(!byId.has(w.withdrawalId), "each withdrawal is given once");
    byId.set(w.withdrawalId, w);
    if (w.providerRef !== null) byRef.set(w.providerRef, w);
  }
  const lines = [...statement].sort((a, b) => a.line - b.line);
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i] as PayoutLine;
    assert(Number.isSafeInteger(l.amountMinor) && l.amountMinor > 0, "statement amounts are positive integers");
    assert(i === 0 || (lines[i - 1] as PayoutLine).line < l.line, "statement line numbers are unique");
  }

  const findings: Finding[] = [];
  // One line per transfer: duplicates reported, a reversal replacing the paid line it undoes.
  const seen = new Map<string, PayoutLine>();
  const transfers: PayoutLine[] = [];
  const at = new Map<PayoutLine, number>();
  for (const l of lines) {
    const keys = [
      ...(l.providerRef === null ? [] : [`r:${l.providerRef}`]),
      ...(l.withdrawalId === null ? [] : [`w:${l.withdrawalId}`]),
    ];
    const same = keys.map((k) => seen.get(k)).find((f) => f !== undefined);
    // Listed paid after its reversal: the transfer is already judged as reversed.
    if (same && same.status === "reversed" && l.status === "paid") continue;
    if (same && same.status === l.status) {
      findings.push({
        ...about(l),
        kind: "duplicate_line",
        repair: "operator",
        orderId: null,
        ours: null,
        detail: `line ${l.line} repeats line ${same.line}; counted once`,
      });
      continue;
    }
    for (const k of keys) seen.set(k, l);
    if (same && l.status === "reversed") {
      transfers[at.get(same) as number] = l;
      at.set(l, at.get(same) as number);
      continue;
    }
    at.set(l, transfers.length);
    transfers.push(l);
  }

  const paidLines = new Set<string>();
  let matched = 0;
  for (const l of transfers) {
    const w =
      (l.withdrawalId === null ? undefined : byId.get(l.withdrawalId)) ??
      (l.providerRef === null ? undefined : byRef.get(l.providerRef));
    if (!w) {
      findings.push({
        ...about(l),
        kind: "missing_ours",
        repair: "operator",
        orderId: null,
        ours: null,
        detail:
          l.status === "paid"
            ? "a transfer for a withdrawal we do not have"
            : "a reversed transfer for a withdrawal we do not have",
      });
      continue;
    }
    matched += 1;
    const base = { ...about(l), orderId: w.withdrawalId, ours: oursOf(w) };
    if (l.status === "reversed") {
      if (w.state === "paid") {
        findings.push({
          ...base,
          kind: "status_mismatch",
          repair: "operator",
          detail: "the channel reversed this transfer; we hold the withdrawal as paid",
        });
      }
      continue;
    }
    paidLines.add(w.withdrawalId);
    if (l.amountMinor !== w.payoutMinor || l.currency !== w.currency) {
      findings.push({
        ...base,
        kind: "amount_mismatch",
        repair: "operator",
        detail: `the channel paid out ${l.amountMinor} ${l.currency}; the withdrawal pays ${w.payoutMinor} ${w.currency} (amount less fee)`,
      });
      continue;
    }
    if (w.state !== "paid") {
      findings.push({
        ...base,
        kind: "status_mismatch",
        repair: "operator",
        detail:
          w.state === "paying"
            ? "the channel paid this out; the withdrawal is still paying (its query will settle it)"
            : `the channel paid this out; the withdrawal is ${w.state} and its money went back to the creator`,
      });
    }
  }
  for (const w of byId.values()) {
    if (!w.inPeriod || w.state !== "paid" || paidLines.has(w.withdrawalId)) continue;
    findings.push({
      kind: "missing_theirs",
      repair: "operator",
      subject: "payout",
      orderId: w.withdrawalId,
      merchantOrderNo: w.withdrawalId,
      providerTxnId: w.providerRef,
      providerRefundId: null,
      refundNo: null,
      theirs: null,
      ours: oursOf(w),
      detail: "we hold this withdrawal as paid; the statement has no transfer for it",
    });
  }
  findings.sort(compareFindings);
  return { findings, counts: { payoutLines: transfers.length, ourWithdrawals: byId.size, matchedPayouts: matched } };
}

function about(line: PayoutLine) {
  return {
    subject: "payout",
    merchantOrderNo: line.withdrawalId,
    providerTxnId: line.providerRef,
    providerRefundId: null,
    refundNo: null,
    theirs: { line: line.line, amountMinor: line.amountMinor, currency: line.currency, status: line.status },
  } satisfies Partial<Finding>;
}

function oursOf(w: OurWithdrawal) {
  return { amountMinor: w.payoutMinor, currency: w.currency, state: w.state, refundedMinor: null };
}
