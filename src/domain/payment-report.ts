/**
 * How a channel's report about one of our orders is judged: credit it, record that it failed,
 * leave it, or raise a flag for operators. Pure; the db layer reads the order, asks here, and
 * carries out the answer (src/db/payments.ts). A report is judged on what it says and on the
 * order as read; the credit's own guards re-check the order inside its batch.
 */

import { CREDITABLE_STATES, OPEN_STATES, type OrderState } from "./order";

/** One field of our merchant identity as the channel's report states it. */
export interface MerchantCheck {
  readonly field: string;
  readonly expected: string;
  readonly actual: string | null;
}

export const PAYMENT_FLAG_KINDS = [
  "unknown_order",
  "channel_mismatch",
  "merchant_mismatch",
  "amount_mismatch",
  "second_payment",
  "credit_rejected",
  "refund_unmatched",
  "refund_rejected",
  "refund_stuck",
] as const;
export type PaymentFlagKind = (typeof PAYMENT_FLAG_KINDS)[number];

export interface ReportedPayment {
  readonly status: "succeeded" | "failed" | "closed";
  readonly merchantOrderNo: string;
  readonly providerTxnId: string | null;
  readonly amountMinor: number;
  readonly currency: string;
  readonly merchant: readonly MerchantCheck[];
}

export interface ReportedRefund {
  readonly merchantOrderNo: string;
  readonly providerRefundId: string;
  /** This refund's amount, where the provider says it. */
  readonly amountMinor: number | null;
  /** Everything refunded on the payment so far, where the provider says it. */
  readonly refundedTotalMinor: number | null;
  readonly currency: string;
  readonly merchant: readonly MerchantCheck[];
}

/** What judging needs of the order the report names. */
export interface OrderFacts {
  readonly id: string;
  readonly channel: string;
  readonly amountMinor: number;
  readonly currency: string;
  readonly state: OrderState;
  readonly providerTxnId: string | null;
}

export type Flagged = { readonly kind: "flag"; readonly flag: PaymentFlagKind; readonly detail: string };

export type PaymentJudgement =
  | Flagged
  /** The order already moved on (settled by another report); nothing to write. */
  | { readonly kind: "no_change" }
  /** The channel says the payment failed or closed while the order still waits for it. */
  | { readonly kind: "settle_unpaid"; readonly to: "failed" | "closed" }
  /** The common duplicate: the same transaction already credited this order. */
  | { readonly kind: "already_credited" }
  | { readonly kind: "credit" };

function mismatched(checks: readonly MerchantCheck[]): MerchantCheck[] {
  return checks.filter((c) => c.actual !== c.expected);
}

function describe(checks: readonly MerchantCheck[]): string {
  return checks.map((c) => `${c.field} ${c.actual ?? "(missing)"} ≠ ${c.expected}`).join("; ");
}

/** A payment report about `order` (null: no such order of ours) from `channel`. */
export function judgePayment(channel: string, report: ReportedPayment, order: OrderFacts | null): PaymentJudgement {
  if (order === null) {
    return { kind: "flag", flag: "unknown_order", detail: `no order ${report.merchantOrderNo.slice(0, 64)}` };
  }
  if (order.channel !== channel) {
    return { kind: "flag", flag: "channel_mismatch", detail: `order is on ${order.channel}` };
  }
  const foreign = mismatched(report.merchant);
  if (foreign.length > 0) return { kind: "flag", flag: "merchant_mismatch", detail: describe(foreign) };
  if (report.amountMinor !== order.amountMinor || report.currency !== order.currency) {
    return {
      kind: "flag",
      flag: "amount_mismatch",
      detail: `paid ${report.amountMinor} ${report.currency}, order is ${order.amountMinor} ${order.currency}`,
    };
  }
  if (report.status !== "succeeded") {
    if (!OPEN_STATES.includes(order.state)) return { kind: "no_change" };
    return { kind: "settle_unpaid", to: report.status };
  }
  if (!CREDITABLE_STATES.includes(order.state) && order.providerTxnId === report.providerTxnId) {
    return { kind: "already_credited" };
  }
  return { kind: "credit" };
}

export type RefundJudgement = Flagged | { readonly kind: "match" };

/**
 * A refund report is checked like a payment's before it is matched to our refunds: a refund
 * confirmed for another merchant, or by a channel the order was never on, would tell
 * operators the payer got money back when they did not.
 */
export function judgeRefund(channel: string, report: ReportedRefund, order: OrderFacts | null): RefundJudgement {
  if (order && order.channel !== channel) {
    return { kind: "flag", flag: "channel_mismatch", detail: `order is on ${order.channel}` };
  }
  const foreign = mismatched(report.merchant);
  if (foreign.length > 0) return { kind: "flag", flag: "merchant_mismatch", detail: describe(foreign) };
  return { kind: "match" };
}

export interface RefundFacts {
  readonly id: string;
  readonly amountMinor: number;
  readonly state: "requested" | "pending" | "succeeded" | "failed";
  readonly providerRefundId: string | null;
}

/**
 * Which of our refunds (oldest first) a provider's refund report is about: by the provider's
 * refund id when we have it; else — WeChat and the sandbox name this refund's amount, Alipay
 * and Stripe the running total — the oldest unconfirmed refund of that amount, or the one
 * whose amount completes that total. A running total our confirmed refunds already make is
 * the report of the last of them: Stripe sends `charge.refunded` (and Alipay its notify)
 * after a refund its API already answered as done. Null: a refund we never asked for.
 */
export function matchRefund<R extends RefundFacts>(refunds: readonly R[], report: ReportedRefund): R | null {
  const live = refunds.filter((r) => r.state !== "failed");
  const byId = live.find((r) => r.providerRefundId === report.providerRefundId);
  if (byId) return byId;
  const open = live.filter((r) => r.state === "requested" || r.state === "pending");
  if (report.amountMinor !== null) return open.find((r) => r.amountMinor === report.amountMinor) ?? null;
  if (report.refundedTotalMinor !== null) {
    const confirmed = live.filter((r) => r.state === "succeeded");
    let total = confirmed.reduce((sum, r) => sum + r.amountMinor, 0);
    if (total === report.refundedTotalMinor && confirmed.length > 0) return confirmed.at(-1) ?? null;
    for (const r of open) {
      total += r.amountMinor;
      if (total === report.refundedTotalMinor) return r;
    }
  }
  return null;
}
