import { assert, LIMITS } from "../../domain/limits";
import { formatMinor } from "../../domain/money";
import type { PaymentLineStatus, RefundLineStatus, StatementLine } from "../../domain/reconcile";
import {
  amountOrRefuse,
  checkTotal,
  clip,
  cnyOrRefuse,
  csvField,
  idOrRefuse,
  type ParsedStatement,
  positiveOrRefuse,
  readCsv,
  refuse,
} from "../statement-csv";

/**
 * Sandbox: our own simulated provider's daily file. The simulator writes it with
 * `formatSandboxStatement`; reconciliation reads it with `parseSandboxStatement`.
 *
 * A plain UTF-8 CSV (RFC 4180 quoting), one header row, one row per line, and a trailer
 * `# total_count=<lines>,total_amount=<sum of the amount column>`. Amounts are CNY yuan
 * decimals ("18.80"); times are ISO 8601 UTC with milliseconds. Empty ids are absent ones.
 */
const SANDBOX_COLUMNS = ["occurred_at", "type", "order_no", "txn_id", "refund_id", "amount", "currency", "status"];
const SANDBOX_TRAILER = /^# total_count=(0|[1-9][0-9]{0,8}),total_amount=([0-9.]{1,20})$/;
/** Years 1970–9999 keep `toISOString` in its four-digit form. */
const ISO_MS_MAX = Date.UTC(10000, 0, 1) - 1;

/** The sandbox provider's daily file for `lines` (their `line` numbers are ignored). */
export function formatSandboxStatement(lines: readonly StatementLine[]): string {
  assert(lines.length <= LIMITS.statementLinesMax - 2, "a sandbox statement fits its line limit");
  const rows = [SANDBOX_COLUMNS.join(",")];
  let totalMinor = 0;
  for (const l of lines) {
    assert(l.currency === "CNY", "sandbox statements are in CNY");
    assert(l.merchantRefundNo === null, "the sandbox statement has no merchant refund number");
    assert(Number.isSafeInteger(l.amountMinor) && l.amountMinor > 0, "amounts are positive integers");
    assert(
      Number.isSafeInteger(l.occurredAtMs) && l.occurredAtMs >= 0 && l.occurredAtMs <= ISO_MS_MAX,
      "time in range",
    );
    for (const v of [l.merchantOrderNo, l.providerTxnId, l.providerRefundId]) {
      assert(v === null || (v.length > 0 && v.length <= LIMITS.statementIdMaxLength), "ids are absent or bounded");
    }
    totalMinor += l.amountMinor;
    assert(Number.isSafeInteger(totalMinor), "the sandbox total is exact");
    const fields = [
      new Date(l.occurredAtMs).toISOString(),
      l.kind,
      l.merchantOrderNo ?? "",
      l.providerTxnId ?? "",
      l.providerRefundId ?? "",
      formatMinor(l.amountMinor),
      l.currency,
      l.status,
    ];
    rows.push(fields.map(csvField).join(","));
  }
  rows.push(`# total_count=${lines.length},total_amount=${formatMinor(totalMinor)}`);
  return `${rows.join("\n")}\n`;
}

/** The sandbox provider's daily file, read back: the reverse of `formatSandboxStatement`, and as strict as a real provider's parser. */
export function parseSandboxStatement(text: string): ParsedStatement {
  const items = readCsv(text, true);
  const header = items[0];
  if (header?.kind !== "row" || header.fields.join(",") !== SANDBOX_COLUMNS.join(",")) {
    refuse(header?.line ?? 1, `the header must be ${SANDBOX_COLUMNS.join(",")}`);
  }
  const lines: StatementLine[] = [];
  let trailer: { line: number; count: number; amountMinor: number } | null = null;
  for (const item of items.slice(1)) {
    if (trailer) refuse(item.line, "content after the trailer");
    if (item.kind === "comment") {
      const m = SANDBOX_TRAILER.exec(item.text);
      if (!m) refuse(item.line, "a comment that is not the trailer # total_count=…,total_amount=…");
      trailer = {
        line: item.line,
        count: Number(m[1]),
        amountMinor: amountOrRefuse(m[2] ?? "", 2, item.line, "total_amount"),
      };
      continue;
    }
    const f = item.fields;
    if (f.length !== SANDBOX_COLUMNS.length)
      refuse(item.line, `${f.length} fields; the header has ${SANDBOX_COLUMNS.length}`);
    const [occurredAt, type, orderNo, txnId, refundId, amount, currency, status] = f as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const base = {
      merchantOrderNo: idOrRefuse(orderNo, item.line, "order_no", false),
      providerTxnId: idOrRefuse(txnId, item.line, "txn_id", false),
      amountMinor: positiveOrRefuse(amount, 2, item.line, "amount"),
      currency: cnyOrRefuse(currency, item.line, "currency"),
      occurredAtMs: isoOrRefuse(occurredAt, item.line),
      line: item.line,
    };
    if (type === "payment") {
      if (refundId !== "") refuse(item.line, "a payment with a refund_id");
      lines.push({
        ...base,
        kind: "payment",
        status: paymentStatusOrRefuse(status, item.line),
        providerRefundId: null,
        merchantRefundNo: null,
      });
    } else if (type === "refund") {
      lines.push({
        ...base,
        kind: "refund",
        status: refundStatusOrRefuse(status, item.line),
        providerRefundId: idOrRefuse(refundId, item.line, "refund_id", false),
        merchantRefundNo: null,
      });
    } else {
      refuse(item.line, `type ${clip(type)} is not payment or refund`);
    }
  }
  const lastLine = items.at(-1)?.line ?? 1;
  if (!trailer) refuse(lastLine + 1, "no trailer # total_count=…: the file is truncated");
  const sumMinor = lines.reduce((s, l) => s + BigInt(l.amountMinor), 0n);
  checkTotal(trailer.line, "total_count", BigInt(trailer.count), BigInt(lines.length));
  checkTotal(trailer.line, "total_amount", BigInt(trailer.amountMinor), sumMinor);
  return { lines, declaredTotals: "checked", skipped: [] };
}

const PAYMENT_STATUSES: readonly PaymentLineStatus[] = ["succeeded", "reversed"];
const REFUND_STATUSES: readonly RefundLineStatus[] = ["refunded", "pending", "failed"];

function paymentStatusOrRefuse(value: string, line: number): PaymentLineStatus {
  const s = PAYMENT_STATUSES.find((x) => x === value);
  return s ?? refuse(line, `payment status ${clip(value)} is not ${PAYMENT_STATUSES.join(" or ")}`);
}

function refundStatusOrRefuse(value: string, line: number): RefundLineStatus {
  const s = REFUND_STATUSES.find((x) => x === value);
  return s ?? refuse(line, `refund status ${clip(value)} is not ${REFUND_STATUSES.join(", ")}`);
}

function isoOrRefuse(value: string, line: number): number {
  const ms = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$/.test(value) ? Date.parse(value) : NaN;
  // Date.parse rolls 2026-02-30 over to March; printing it back catches that.
  if (!Number.isSafeInteger(ms) || ms < 0 || new Date(ms).toISOString() !== value) {
    refuse(line, `occurred_at ${clip(value)} is not an ISO 8601 UTC time like 2026-11-22T02:00:00.000Z`);
  }
  return ms;
}
