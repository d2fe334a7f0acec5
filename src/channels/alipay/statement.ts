import type { StatementLine } from "../../domain/reconcile";
import {
  amountOrRefuse,
  BEIJING_OFFSET_MINUTES,
  checkTotal,
  clip,
  columnsOrRefuse,
  fieldCountOrRefuse,
  getter,
  idOrRefuse,
  type ParsedStatement,
  type Row,
  readCsv,
  refuse,
  wallClockOrRefuse,
} from "../statement-csv";

/**
 * Alipay 账单 (alipay.data.dataservice.bill.downloadurl.query, bill_type=trade): 业务明细.
 *
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

export function parseAlipayStatement(text: string): ParsedStatement {
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
