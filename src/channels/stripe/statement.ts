import type { StatementLine } from "../../domain/reconcile";
import type { PayoutLine } from "../../domain/reconcile-payouts";
import {
  amountOrRefuse,
  clip,
  columnsOrRefuse,
  fieldCountOrRefuse,
  getter,
  idOrRefuse,
  type ParsedStatement,
  readCsv,
  refuse,
  rowsOnly,
  wallClockOrRefuse,
} from "../statement-csv";

/**
 * Stripe: the itemized balance change report (balance_change_from_activity.itemized.3).
 *
 * Per https://docs.stripe.com/reports/report-types/balance and
 * https://docs.stripe.com/reports/reporting-categories: one header row, one row per balance
 * transaction; `gross` is in major units ("10.00", "-5.00", "1000" for JPY) and negative for
 * money out; `created_utc` is `YYYY-MM-DD HH:MM:SS` UTC; `reporting_category` is `charge`
 * for a payment, `refund` for a refund (`source_id` is then the re_… id) and `transfer` for
 * a Connect transfer to a creator's account (`source_id` the tr_… id, gross negative: a payout
 * line, matched to the withdrawal whose provider_ref it is). The report
 * must be run with the `payment_metadata[order_no]` column (our order id, as the
 * PaymentIntent's metadata carries it) and the default decimal separator. It carries no
 * totals, so the caller should compare the downloaded size with the File object's `size`.
 * Other categories (fee, payout — our own bank payout —, dispute, refund_failure,
 * transfer_reversal — whose source_id is the trr_… reversal, not the transfer —, …) are listed
 * in `skipped`; a reversed transfer shows in the transfer.reversed event and the transfer query.
 */
export const STRIPE_STATEMENT_COLUMNS = [
  "created_utc",
  "currency",
  "gross",
  "reporting_category",
  "source_id",
  "payment_intent_id",
  "payment_metadata[order_no]",
] as const;

/**
 * Minor-unit exponents as Stripe's API counts them (https://docs.stripe.com/currencies):
 * zero-decimal and three-decimal currencies; every other currency, including the special
 * cases ISK, HUF and TWD that the API still represents with two decimals, uses 2.
 */
const STRIPE_ZERO_DECIMAL = new Set([
  "BIF",
  "CLP",
  "DJF",
  "GNF",
  "JPY",
  "KMF",
  "KRW",
  "MGA",
  "PYG",
  "RWF",
  "UGX",
  "VND",
  "VUV",
  "XAF",
  "XOF",
  "XPF",
]);
const STRIPE_THREE_DECIMAL = new Set(["BHD", "JOD", "KWD", "OMR", "TND"]);

export function stripeExponent(currency: string): number {
  return STRIPE_ZERO_DECIMAL.has(currency) ? 0 : STRIPE_THREE_DECIMAL.has(currency) ? 3 : 2;
}

export function parseStripeStatement(text: string): ParsedStatement {
  const rows = rowsOnly(readCsv(text, false), (f) => f.trim());
  const header = rows[0];
  if (!header) refuse(1, "the file is empty");
  const col = columnsOrRefuse(header, STRIPE_STATEMENT_COLUMNS, "the header");
  const lines: StatementLine[] = [];
  const payouts: PayoutLine[] = [];
  const skipped: { line: number; reason: string }[] = [];
  for (const row of rows.slice(1)) {
    fieldCountOrRefuse(row, header);
    const get = getter(row, col);
    const n = row.line;
    const category = get("reporting_category");
    if (category !== "charge" && category !== "refund" && category !== "transfer") {
      skipped.push({ line: n, reason: `reporting_category ${clip(category)}` });
      continue;
    }
    const lower = get("currency");
    if (!/^[a-z]{3}$/.test(lower)) refuse(n, `currency ${clip(lower)} is not a lower-case ISO 4217 code`);
    const currency = lower.toUpperCase();
    const grossMinor = amountOrRefuse(get("gross"), stripeExponent(currency), n, "gross");
    const base = {
      merchantOrderNo: idOrRefuse(get("payment_metadata[order_no]"), n, "payment_metadata[order_no]", false),
      providerTxnId: idOrRefuse(get("payment_intent_id"), n, "payment_intent_id", false),
      currency,
      occurredAtMs: wallClockOrRefuse(get("created_utc"), 0, n, "created_utc"),
      line: n,
    };
    if (category === "transfer") {
      if (grossMinor >= 0) refuse(n, "a transfer whose gross is not negative");
      const ref = idOrRefuse(get("source_id"), n, "source_id", true);
      if (!ref.startsWith("tr_")) refuse(n, `source_id ${clip(ref)} of a transfer is not a tr_… id`);
      payouts.push({
        kind: "payout",
        withdrawalId: null,
        providerRef: ref,
        amountMinor: -grossMinor,
        currency,
        status: "paid",
        occurredAtMs: base.occurredAtMs,
        line: n,
      });
    } else if (category === "charge") {
      if (grossMinor <= 0) refuse(n, "a charge whose gross is not positive");
      lines.push({
        ...base,
        kind: "payment",
        status: "succeeded",
        amountMinor: grossMinor,
        providerRefundId: null,
        merchantRefundNo: null,
      });
    } else {
      if (grossMinor >= 0) refuse(n, "a refund whose gross is not negative");
      lines.push({
        ...base,
        kind: "refund",
        status: "refunded",
        amountMinor: -grossMinor,
        providerRefundId: idOrRefuse(get("source_id"), n, "source_id", true),
        merchantRefundNo: null,
      });
    }
  }
  return { lines, payouts, declaredTotals: "not_provided", skipped };
}
