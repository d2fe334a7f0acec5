import { assert, LIMITS } from "../domain/limits";
import { formatMinor } from "../domain/money";
import type { PaymentLineStatus, RefundLineStatus, StatementLine } from "../domain/reconcile";
import type { ChannelName } from "./channel";

export type { PaymentLine, RefundLine, StatementLine } from "../domain/reconcile";

/**
 * Daily statement files, parsed into provider-neutral lines for reconciliation
 * (src/domain/reconcile.ts). Text in, lines or a refusal out; nothing is fetched here.
 *
 * A statement is refused whole rather than read in part: a line we cannot read exactly, a
 * required column missing, or the provider's own totals disagreeing with the lines (the
 * usual sign of a truncated download) would otherwise turn into findings about money that
 * is really fine, or hide money that is not. Columns are found by their header name, never
 * by position, because providers add columns over time.
 *
 * The caller hands over text: WeChat and Stripe serve UTF-8; Alipay's download is a zip of
 * GBK-encoded CSVs, which the fetcher unzips and decodes first (the 业务明细 file, not its
 * 汇总 companion).
 */

export interface StatementError {
  readonly code: "statement_malformed";
  /** 1-based physical line of the file; 0 for the file as a whole. */
  readonly line: number;
  readonly detail: string;
}

export interface StatementTotals {
  readonly currency: string;
  readonly paymentCount: number;
  readonly paymentAmountMinor: number;
  readonly refundCount: number;
  readonly refundAmountMinor: number;
}

export interface StatementSummary {
  readonly channel: ChannelName;
  readonly lineCount: number;
  /** Sums of the lines, per currency (all statuses), in currency order. */
  readonly totals: readonly StatementTotals[];
  /** `checked`: the file's own totals matched its lines. Stripe's reports carry none. */
  readonly declaredTotals: "checked" | "not_provided";
  /** Rows that are not payments or refunds of an order (Stripe fees, payouts, disputes…), for operators. */
  readonly skipped: readonly { readonly line: number; readonly reason: string }[];
}

export type StatementParse =
  | { readonly ok: true; readonly lines: StatementLine[]; readonly summary: StatementSummary }
  | { readonly ok: false; readonly error: StatementError };

interface Parsed {
  lines: StatementLine[];
  declaredTotals: StatementSummary["declaredTotals"];
  skipped: { line: number; reason: string }[];
}

export function parseStatement(channel: ChannelName, text: string): StatementParse {
  try {
    const bytes = utf8Length(text);
    if (bytes > LIMITS.statementBytesMax) {
      refuse(0, `the file is ${bytes} bytes; at most ${LIMITS.statementBytesMax} are read`);
    }
    // WeChat's and Excel-saved files start with a BOM; it is not part of the first column's name.
    const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
    const parsed = PARSERS[channel](body);
    return {
      ok: true,
      lines: parsed.lines,
      summary: {
        channel,
        lineCount: parsed.lines.length,
        totals: totalsOf(parsed.lines),
        declaredTotals: parsed.declaredTotals,
        skipped: parsed.skipped,
      },
    };
  } catch (e) {
    if (e instanceof Refusal)
      return { ok: false, error: { code: "statement_malformed", line: e.line, detail: e.detail } };
    throw e;
  }
}

const PARSERS: Readonly<Record<ChannelName, (text: string) => Parsed>> = {
  sandbox: parseSandbox,
  wechatpay: parseWechat,
  alipay: parseAlipay,
  stripe: parseStripe,
};

/* ------------------------------------------------------------------------------------------ */
/* Sandbox: our own simulated provider's daily file.                                          */

/**
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
      assert(v === null || (v.length > 0 && v.length <= LIMITS.statementIdLengthMax), "ids are absent or bounded");
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

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

function parseSandbox(text: string): Parsed {
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

/* ------------------------------------------------------------------------------------------ */
/* WeChat Pay v3 交易账单 (GET /v3/bill/tradebill, bill_type=ALL).                              */

/**
 * Per https://pay.weixin.qq.com/docs/merchant/products/bill-download/format-trade.html: a
 * detail header row, detail rows, a summary header row and one summary row, comma
 * separated, every detail and summary field prefixed with a backtick (so Excel keeps long
 * ids as text). Amounts are yuan. 交易时间 is Beijing time: the payment's success time, or
 * when the refund was accepted (a refund row's status is a snapshot and is not updated
 * later). Refund rows carry 0 in 订单金额 and the refund in 申请退款金额, so the summary's
 * 订单总金额 and 申请退款总金额 are plain sums of those columns over all rows, and 总交易单数
 * counts all rows. We use the amounts the payer and we asked for (订单金额, 申请退款金额), not
 * the settlement ones net of coupons, because those are what our orders and refunds hold.
 * ALL is required: SUCCESS files have no refund columns and are refused by name.
 */
const WECHAT_COLUMNS = [
  "交易时间",
  "微信订单号",
  "商户订单号",
  "交易状态",
  "货币种类",
  "订单金额",
  "微信退款单号",
  "商户退款单号",
  "申请退款金额",
  "退款状态",
] as const;
const WECHAT_SUMMARY_COLUMNS = ["总交易单数", "订单总金额", "申请退款总金额"] as const;
/** 退款状态 values: SUCCESS, PROCESSING, CLOSED, ABNORMAL (the bank refused the refund to the card). */
const WECHAT_REFUND_STATUS: Readonly<Record<string, RefundLineStatus>> = {
  SUCCESS: "refunded",
  PROCESSING: "pending",
  CLOSED: "failed",
  ABNORMAL: "failed",
};
const BEIJING_OFFSET_MINUTES = 8 * 60;

function wechatField(raw: string): string {
  const s = raw.trim();
  return (s.startsWith("`") ? s.slice(1) : s).trim();
}

function parseWechat(text: string): Parsed {
  const rows = rowsOnly(readCsv(text, false), wechatField);
  const header = rows[0];
  if (!header) refuse(1, "the file is empty");
  const col = columnsOrRefuse(header, WECHAT_COLUMNS, "the detail header");
  const lines: StatementLine[] = [];
  let orderColumnMinor = 0n;
  let refundColumnMinor = 0n;
  let i = 1;
  for (; i < rows.length; i++) {
    const row = rows[i] as Row;
    if (row.fields.includes("总交易单数")) break;
    fieldCountOrRefuse(row, header);
    const get = getter(row, col);
    const n = row.line;
    orderColumnMinor += BigInt(amountOrRefuse(get("订单金额"), 2, n, "订单金额"));
    refundColumnMinor += BigInt(amountOrRefuse(get("申请退款金额"), 2, n, "申请退款金额"));
    const base = {
      merchantOrderNo: idOrRefuse(get("商户订单号"), n, "商户订单号", true),
      providerTxnId: idOrRefuse(get("微信订单号"), n, "微信订单号", true),
      currency: cnyOrRefuse(get("货币种类"), n, "货币种类"),
      occurredAtMs: wallClockOrRefuse(get("交易时间"), BEIJING_OFFSET_MINUTES, n, "交易时间"),
      line: n,
    };
    const state = get("交易状态");
    if (state === "SUCCESS" || state === "REVOKED") {
      lines.push({
        ...base,
        kind: "payment",
        status: state === "SUCCESS" ? "succeeded" : "reversed",
        amountMinor: positiveOrRefuse(get("订单金额"), 2, n, "订单金额"),
        providerRefundId: null,
        merchantRefundNo: null,
      });
    } else if (state === "REFUND") {
      const status = WECHAT_REFUND_STATUS[get("退款状态")];
      if (!status)
        refuse(n, `退款状态 ${clip(get("退款状态"))} is not one of ${Object.keys(WECHAT_REFUND_STATUS).join(", ")}`);
      lines.push({
        ...base,
        kind: "refund",
        status,
        amountMinor: positiveOrRefuse(get("申请退款金额"), 2, n, "申请退款金额"),
        providerRefundId: idOrRefuse(get("微信退款单号"), n, "微信退款单号", true),
        merchantRefundNo: idOrRefuse(get("商户退款单号"), n, "商户退款单号", false),
      });
    } else {
      refuse(n, `交易状态 ${clip(state)} is not SUCCESS, REVOKED or REFUND`);
    }
  }
  const summaryHeader = rows[i];
  const summary = rows[i + 1];
  if (!summaryHeader) refuse((rows.at(-1)?.line ?? 0) + 1, "no summary (总交易单数,…): the file is truncated");
  if (!summary) refuse(summaryHeader.line + 1, "the summary header has no summary row: the file is truncated");
  const extra = rows[i + 2];
  if (extra) refuse(extra.line, "content after the summary row");
  fieldCountOrRefuse(summary, summaryHeader);
  const get = getter(summary, columnsOrRefuse(summaryHeader, WECHAT_SUMMARY_COLUMNS, "the summary header"));
  checkTotal(
    summary.line,
    "总交易单数",
    countOrRefuse(get("总交易单数"), summary.line, "总交易单数"),
    BigInt(lines.length),
  );
  checkTotal(
    summary.line,
    "订单总金额",
    BigInt(amountOrRefuse(get("订单总金额"), 2, summary.line, "订单总金额")),
    orderColumnMinor,
  );
  checkTotal(
    summary.line,
    "申请退款总金额",
    BigInt(amountOrRefuse(get("申请退款总金额"), 2, summary.line, "申请退款总金额")),
    refundColumnMinor,
  );
  return { lines, declaredTotals: "checked", skipped: [] };
}

/* ------------------------------------------------------------------------------------------ */
/* Alipay 账单 (alipay.data.dataservice.bill.downloadurl.query, bill_type=trade): 业务明细.     */

/**
 * The 业务明细 CSV as Alipay lays it out (and as the parsers that read it in production
 * expect): `#` lines (#支付宝业务明细查询, #账号：[…], #起始日期：[…], a dashed
 * 业务明细列表 rule), the column header, one row per trade or refund, a dashed 业务明细列表结束
 * rule, then `#交易合计：N笔，商家实收共X元，商家优惠共Y元`, `#退款合计：M笔，商家实收退款共-Z元，
 * 商家优惠退款共W元` and `#导出时间：[…]`. Values often end in a tab (Alipay's guard against
 * Excel), headers use full-width parentheses (订单金额（元）). 业务类型 is 交易 or 退款; refund
 * rows are negative, and 退款批次号/请求号 is our refund request number (out_request_no).
 * The footer totals are over 商家实收（元）, so that column is read to check them, while
 * lines carry 订单金额（元）, the amount the order was for (Alipay's total_amount).
 */
const ALIPAY_COLUMNS = [
  "支付宝交易号",
  "商户订单号",
  "业务类型",
  "完成时间",
  "订单金额（元）",
  "商家实收（元）",
  "退款批次号/请求号",
] as const;
const ALIPAY_TRADE_TOTAL = /^#交易合计[：:]\s*(0|[1-9][0-9]*)\s*笔[，,]\s*商家实收共\s*(-?[0-9]+(?:\.[0-9]+)?)\s*元/;
const ALIPAY_REFUND_TOTAL =
  /^#退款合计[：:]\s*(0|[1-9][0-9]*)\s*笔[，,]\s*商家实收退款共\s*(-?[0-9]+(?:\.[0-9]+)?)\s*元/;

function alipayField(raw: string): string {
  // Header names are compared in one form whichever parentheses the file used.
  return raw.trim().replaceAll("(", "（").replaceAll(")", "）");
}

interface FooterTotal {
  readonly line: number;
  readonly count: bigint;
  readonly amountMinor: bigint;
}

function parseAlipay(text: string): Parsed {
  const items = readCsv(text, true);
  const headerAt = items.findIndex((x) => x.kind === "row");
  const headerItem = items[headerAt];
  if (headerItem?.kind !== "row") refuse(1, "no column header row (支付宝交易号,商户订单号,…)");
  const header: Row = { line: headerItem.line, fields: headerItem.fields.map(alipayField) };
  const col = columnsOrRefuse(header, ALIPAY_COLUMNS, "the column header");
  const lines: StatementLine[] = [];
  const sums = { 交易: { count: 0n, amountMinor: 0n }, 退款: { count: 0n, amountMinor: 0n } };
  let tradeTotal: FooterTotal | null = null;
  let refundTotal: FooterTotal | null = null;
  for (const item of items.slice(headerAt + 1)) {
    if (item.kind === "comment") {
      const t = ALIPAY_TRADE_TOTAL.exec(item.text);
      const r = ALIPAY_REFUND_TOTAL.exec(item.text);
      const m = t ?? r;
      if (!m) continue; // the end-of-list rule, 导出时间 and anything Alipay adds
      const total = {
        line: item.line,
        count: BigInt(m[1] ?? "0"),
        amountMinor: BigInt(amountOrRefuse(m[2] ?? "", 2, item.line, "the footer amount")),
      };
      if ((t && tradeTotal) || (r && refundTotal)) refuse(item.line, "the footer repeats a total");
      if (t) tradeTotal = total;
      else refundTotal = total;
      continue;
    }
    const row: Row = { line: item.line, fields: item.fields.map((f) => f.trim()) };
    if (row.fields.every((f) => f === "")) continue;
    if (tradeTotal || refundTotal) refuse(row.line, "a row after the footer totals");
    fieldCountOrRefuse(row, header);
    const get = getter(row, col);
    const n = row.line;
    const type = get("业务类型");
    if (type !== "交易" && type !== "退款") refuse(n, `业务类型 ${clip(type)} is not 交易 or 退款`);
    const orderMinor = amountOrRefuse(get("订单金额（元）"), 2, n, "订单金额（元）");
    if (orderMinor === 0) refuse(n, "订单金额（元） is zero");
    sums[type].count += 1n;
    sums[type].amountMinor += BigInt(amountOrRefuse(get("商家实收（元）"), 2, n, "商家实收（元）"));
    const base = {
      merchantOrderNo: idOrRefuse(get("商户订单号"), n, "商户订单号", true),
      providerTxnId: idOrRefuse(get("支付宝交易号"), n, "支付宝交易号", true),
      amountMinor: Math.abs(orderMinor),
      currency: "CNY",
      occurredAtMs: wallClockOrRefuse(get("完成时间"), BEIJING_OFFSET_MINUTES, n, "完成时间"),
      line: n,
    };
    if (type === "交易") {
      // The trade bill lists trades once paid; there is no other payment status in it.
      lines.push({ ...base, kind: "payment", status: "succeeded", providerRefundId: null, merchantRefundNo: null });
    } else {
      lines.push({
        ...base,
        kind: "refund",
        status: "refunded",
        providerRefundId: null,
        merchantRefundNo: idOrRefuse(get("退款批次号/请求号"), n, "退款批次号/请求号", false),
      });
    }
  }
  const end = (items.at(-1)?.line ?? 0) + 1;
  if (!tradeTotal) refuse(end, "no #交易合计 footer: the file is truncated");
  if (!refundTotal) refuse(end, "no #退款合计 footer: the file is truncated");
  checkTotal(tradeTotal.line, "#交易合计 笔数", tradeTotal.count, sums.交易.count);
  checkTotal(tradeTotal.line, "#交易合计 商家实收", tradeTotal.amountMinor, sums.交易.amountMinor);
  checkTotal(refundTotal.line, "#退款合计 笔数", refundTotal.count, sums.退款.count);
  checkTotal(refundTotal.line, "#退款合计 商家实收退款", refundTotal.amountMinor, sums.退款.amountMinor);
  return { lines, declaredTotals: "checked", skipped: [] };
}

/* ------------------------------------------------------------------------------------------ */
/* Stripe: the itemized balance change report (balance_change_from_activity.itemized.3).       */

/**
 * Per https://docs.stripe.com/reports/report-types/balance and
 * https://docs.stripe.com/reports/reporting-categories: one header row, one row per balance
 * transaction; `gross` is in major units ("10.00", "-5.00", "1000" for JPY) and negative for
 * money out; `created_utc` is `YYYY-MM-DD HH:MM:SS` UTC; `reporting_category` is `charge`
 * for a payment and `refund` for a refund (`source_id` is then the re_… id). The report
 * must be run with the `payment_metadata[order_no]` column (our order id, as the
 * PaymentIntent's metadata carries it) and the default decimal separator. It carries no
 * totals, so the caller should compare the downloaded size with the File object's `size`.
 * Other categories (fee, payout, dispute, refund_failure, …) are listed in `skipped`.
 */
const STRIPE_COLUMNS = [
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

function parseStripe(text: string): Parsed {
  const rows = rowsOnly(readCsv(text, false), (f) => f.trim());
  const header = rows[0];
  if (!header) refuse(1, "the file is empty");
  const col = columnsOrRefuse(header, STRIPE_COLUMNS, "the header");
  const lines: StatementLine[] = [];
  const skipped: { line: number; reason: string }[] = [];
  for (const row of rows.slice(1)) {
    fieldCountOrRefuse(row, header);
    const get = getter(row, col);
    const n = row.line;
    const category = get("reporting_category");
    if (category !== "charge" && category !== "refund") {
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
    if (category === "charge") {
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
  return { lines, declaredTotals: "not_provided", skipped };
}

/* ------------------------------------------------------------------------------------------ */
/* CSV and fields.                                                                             */

/** Thrown inside this module only; parseStatement turns it into a `statement_malformed` value. */
class Refusal {
  constructor(
    readonly line: number,
    readonly detail: string,
  ) {}
}

function refuse(line: number, detail: string): never {
  throw new Refusal(line, detail);
}

interface Row {
  readonly line: number;
  readonly fields: readonly string[];
}

type CsvItem =
  | { readonly kind: "row"; readonly line: number; readonly fields: string[] }
  | { readonly kind: "comment"; readonly line: number; readonly text: string };

const LF = 10;
const CR = 13;
const QUOTE = 34;
const COMMA = 44;
const HASH = 35;

/**
 * RFC 4180 records: quoted fields may hold commas, doubled quotes and line breaks; CRLF, LF
 * and a lone CR end a record; empty lines are skipped. With `comments`, a line starting
 * with `#` is kept whole as a comment (Alipay's footers contain commas). Each item carries
 * the physical line it starts on.
 */
function readCsv(text: string, comments: boolean): CsvItem[] {
  const items: CsvItem[] = [];
  const n = text.length;
  let i = 0;
  let line = 1;
  const push = (item: CsvItem) => {
    if (items.length >= LIMITS.statementLinesMax) refuse(item.line, `more than ${LIMITS.statementLinesMax} lines`);
    items.push(item);
  };
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === LF) {
      i += 1;
      line += 1;
      continue;
    }
    if (c === CR) {
      i += text.charCodeAt(i + 1) === LF ? 2 : 1;
      line += 1;
      continue;
    }
    const start = line;
    if (comments && c === HASH) {
      let j = i;
      while (j < n && text.charCodeAt(j) !== LF && text.charCodeAt(j) !== CR) j++;
      push({ kind: "comment", line: start, text: text.slice(i, j) });
      i = j;
      continue;
    }
    const fields: string[] = [];
    for (;;) {
      if (text.charCodeAt(i) === QUOTE) {
        let value = "";
        let j = i + 1;
        for (;;) {
          const q = text.indexOf('"', j);
          if (q < 0) refuse(start, "a quoted field is not closed");
          const chunk = text.slice(j, q);
          line += newlines(chunk);
          value += chunk;
          if (text.charCodeAt(q + 1) === QUOTE) {
            value += '"';
            j = q + 2;
            continue;
          }
          i = q + 1;
          break;
        }
        const d = text.charCodeAt(i);
        if (i < n && d !== COMMA && d !== LF && d !== CR) refuse(line, "text after a closing quote");
        fields.push(value);
      } else {
        let j = i;
        while (j < n) {
          const d = text.charCodeAt(j);
          if (d === COMMA || d === LF || d === CR) break;
          j++;
        }
        fields.push(text.slice(i, j));
        i = j;
      }
      if (i < n && text.charCodeAt(i) === COMMA) {
        i += 1;
        continue;
      }
      break; // the record's line break, if any, is consumed (and counted) by the outer loop
    }
    push({ kind: "row", line: start, fields });
  }
  return items;
}

function newlines(chunk: string): number {
  let count = 0;
  for (let k = 0; k < chunk.length; k++) {
    const c = chunk.charCodeAt(k);
    if (c === LF || (c === CR && chunk.charCodeAt(k + 1) !== LF)) count++;
  }
  return count;
}

/** Rows with `clean` applied to every field; rows that are empty after cleaning are dropped. */
function rowsOnly(items: readonly CsvItem[], clean: (field: string) => string): Row[] {
  const rows: Row[] = [];
  for (const item of items) {
    if (item.kind !== "row") continue;
    const fields = item.fields.map(clean);
    if (fields.every((f) => f === "")) continue;
    rows.push({ line: item.line, fields });
  }
  return rows;
}

function columnsOrRefuse<K extends string>(header: Row, required: readonly K[], where: string): Record<K, number> {
  const at = new Map<string, number>();
  const repeated = new Set<string>();
  header.fields.forEach((name, index) => {
    if (at.has(name)) repeated.add(name);
    else at.set(name, index);
  });
  const missing = required.filter((k) => !at.has(k));
  if (missing.length > 0) refuse(header.line, `${where} lacks the required column(s) ${missing.join(", ")}`);
  const ambiguous = required.filter((k) => repeated.has(k));
  if (ambiguous.length > 0) refuse(header.line, `${where} repeats the column(s) ${ambiguous.join(", ")}`);
  return Object.fromEntries(required.map((k) => [k, at.get(k)])) as Record<K, number>;
}

function fieldCountOrRefuse(row: Row, header: Row): void {
  // A short row is most often a download cut mid-line; a long one, a value with an unquoted comma.
  if (row.fields.length !== header.fields.length) {
    refuse(row.line, `${row.fields.length} fields; the header on line ${header.line} has ${header.fields.length}`);
  }
}

function getter<K extends string>(row: Row, col: Record<K, number>): (k: K) => string {
  return (k) => {
    const v = row.fields[col[k]];
    assert(v !== undefined, "a row has every header column");
    return v;
  };
}

function idOrRefuse(value: string, line: number, column: string, required: true): string;
function idOrRefuse(value: string, line: number, column: string, required: boolean): string | null;
function idOrRefuse(value: string, line: number, column: string, required: boolean): string | null {
  if (value === "") return required ? refuse(line, `${column} is empty`) : null;
  if (value.length > LIMITS.statementIdLengthMax) {
    refuse(line, `${column} is longer than ${LIMITS.statementIdLengthMax} characters`);
  }
  return value;
}

function cnyOrRefuse(value: string, line: number, column: string): string {
  // Yuan-denominated statements: any other currency would make every amount wrong by its exponent.
  if (value !== "CNY") refuse(line, `${column} ${clip(value)} is not CNY`);
  return value;
}

/** Signed decimal: at most 12 integer digits, so every amount and sum of a file is exact. */
const DECIMAL = /^(-?)(0|[1-9][0-9]{0,11})(?:\.([0-9]{1,6}))?$/;

/**
 * "18.80" → 1880 at exponent 2, "1000" → 1000 at exponent 0, "-5.00" → -500. Digits past
 * the currency's exponent must be zeros ("1000.00" JPY is 1000; "0.001" CNY is not money).
 * Never goes through a float.
 */
export function decimalMinor(text: string, exponent: number): number | null {
  assert(Number.isInteger(exponent) && exponent >= 0 && exponent <= 3, "a known exponent");
  const m = DECIMAL.exec(text);
  if (!m) return null;
  const fraction = m[3] ?? "";
  if (/[^0]/.test(fraction.slice(exponent))) return null;
  const kept = fraction.slice(0, exponent).padEnd(exponent, "0");
  const minor = Number(m[2]) * 10 ** exponent + (kept === "" ? 0 : Number(kept));
  assert(Number.isSafeInteger(minor), "a bounded decimal is a safe integer");
  return m[1] === "-" && minor !== 0 ? -minor : minor;
}

function amountOrRefuse(value: string, exponent: number, line: number, column: string): number {
  const minor = decimalMinor(value, exponent);
  if (minor === null) refuse(line, `${column} "${clip(value)}" is not an exact decimal amount`);
  return minor;
}

function positiveOrRefuse(value: string, exponent: number, line: number, column: string): number {
  const minor = amountOrRefuse(value, exponent, line, column);
  if (minor <= 0) refuse(line, `${column} "${clip(value)}" is not a positive amount`);
  return minor;
}

function countOrRefuse(value: string, line: number, column: string): bigint {
  if (!/^(0|[1-9][0-9]{0,8})$/.test(value)) refuse(line, `${column} "${clip(value)}" is not a count`);
  return BigInt(value);
}

function checkTotal(line: number, what: string, declared: bigint, actual: bigint): void {
  if (declared !== actual) {
    refuse(line, `${what} says ${declared}, the lines add up to ${actual}: the file is truncated or altered`);
  }
}

const WALL_CLOCK = /^([0-9]{4})-([0-9]{2})-([0-9]{2})(?: +|T)([0-9]{2}):([0-9]{2}):([0-9]{2})$/;

/** `YYYY-MM-DD HH:MM:SS` at a fixed UTC offset (China has no daylight saving time). */
function wallClockOrRefuse(value: string, offsetMinutes: number, line: number, column: string): number {
  const m = WALL_CLOCK.exec(value);
  const [y, mo, d, h, mi, s] = (m ? m.slice(1) : []).map(Number);
  if (
    m &&
    y !== undefined &&
    mo !== undefined &&
    d !== undefined &&
    h !== undefined &&
    mi !== undefined &&
    s !== undefined
  ) {
    const ms = Date.UTC(y, mo - 1, d, h, mi, s);
    const back = new Date(ms);
    // Date.UTC rolls 2026-02-30 and 24:00:00 over; reading the parts back refuses them.
    if (
      back.getUTCFullYear() === y &&
      back.getUTCMonth() === mo - 1 &&
      back.getUTCDate() === d &&
      back.getUTCHours() === h &&
      back.getUTCMinutes() === mi &&
      back.getUTCSeconds() === s
    ) {
      return ms - offsetMinutes * 60_000;
    }
  }
  return refuse(line, `${column} "${clip(value)}" is not a time like 2026-11-21 10:00:00`);
}

function totalsOf(lines: readonly StatementLine[]): StatementTotals[] {
  const by = new Map<
    string,
    { paymentCount: number; paymentAmountMinor: bigint; refundCount: number; refundAmountMinor: bigint }
  >();
  for (const l of lines) {
    const t = by.get(l.currency) ?? { paymentCount: 0, paymentAmountMinor: 0n, refundCount: 0, refundAmountMinor: 0n };
    if (l.kind === "payment") {
      t.paymentCount += 1;
      t.paymentAmountMinor += BigInt(l.amountMinor);
    } else {
      t.refundCount += 1;
      t.refundAmountMinor += BigInt(l.amountMinor);
    }
    by.set(l.currency, t);
  }
  return [...by.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([currency, t]) => ({
      currency,
      paymentCount: t.paymentCount,
      paymentAmountMinor: exactOrRefuse(t.paymentAmountMinor),
      refundCount: t.refundCount,
      refundAmountMinor: exactOrRefuse(t.refundAmountMinor),
    }));
}

function exactOrRefuse(sum: bigint): number {
  if (sum > BigInt(Number.MAX_SAFE_INTEGER)) refuse(0, "the file's totals exceed the exact integer range");
  return Number(sum);
}

function utf8Length(text: string): number {
  let bytes = 0;
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && k + 1 < text.length) {
      bytes += 4; // a surrogate pair is one 4-byte code point
      k++;
    } else bytes += 3;
  }
  return bytes;
}

/** Values quoted back in error details stay short (they may be anything). */
function clip(value: string): string {
  return value.length > 40 ? `${value.slice(0, 40)}…` : value;
}
