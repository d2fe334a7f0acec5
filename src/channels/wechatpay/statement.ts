import type { RefundLineStatus, StatementLine } from "../../domain/reconcile";
import {
  amountOrRefuse,
  BEIJING_OFFSET_MINUTES,
  checkTotal,
  clip,
  cnyOrRefuse,
  columnsOrRefuse,
  countOrRefuse,
  fieldCountOrRefuse,
  getter,
  idOrRefuse,
  type ParsedStatement,
  positiveOrRefuse,
  type Row,
  readCsv,
  refuse,
  rowsOnly,
  summaryOrRefuse,
  wallClockOrRefuse,
} from "../statement-csv";

/**
 * WeChat Pay v3 交易账单 (GET /v3/bill/tradebill, bill_type=ALL).
 *
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

function wechatField(raw: string): string {
  const s = raw.trim();
  return (s.startsWith("`") ? s.slice(1) : s).trim();
}

export function parseWechatStatement(text: string): ParsedStatement {
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
  const summary = summaryOrRefuse(rows, i, WECHAT_SUMMARY_COLUMNS, "总交易单数");
  const get = summary.get;
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
