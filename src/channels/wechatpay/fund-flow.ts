import type { PayoutLine } from "../../domain/reconcile-payouts";
import { withdrawalIdOf } from "../../domain/withdrawal-number";
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
  rowsOnly,
  summaryOrRefuse,
  wallClockOrRefuse,
} from "../statement-csv";

/**
 * WeChat Pay v3 资金账单 (GET /v3/bill/fundflowbill, account_type BASIC → download_url): the
 * merchant account's money movements, where 商家转账 (our payouts) appear; the trade bill
 * (statement.ts) does not list them.
 *
 * Per https://pay.weixin.qq.com/docs/merchant/products/bill-download/format-fundflow.html and
 * structure/fund-bill.html: a header row 记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,
 * 收支类型,收支金额(元),账户结余(元),资金变更提交申请人,备注,业务凭证号; detail rows with every
 * field prefixed by a backtick; a summary header 资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额
 * and one summary row (counts written "20.0" in WeChat's sample). 收支类型 is 收入 or 支出,
 * 收支金额 is unsigned yuan, 记账时间 Beijing time. 业务凭证号 is "一般为商户订单号" (the
 * merchant's own number): for a 商家转账 row we read our out_bill_no there.
 *
 * Not confirmed from WeChat's pages (so not relied on): the 业务名称 / 业务类型 values of a
 * 商家转账 row, and how a transfer's return (a bill closed after the 24 h confirmation
 * window) is written. So a row is a payout line exactly when its 业务凭证号 is one of our
 * withdrawal numbers: 支出 → paid, 收入 → the money came back (reversed). Every other row
 * (trades, refunds, fees, someone's manual transfer) is listed in `skipped`. Header names are
 * compared with ASCII and full-width parentheses as one; a missing or repeated column refuses
 * the file whole, as do summary totals that disagree with the rows.
 */
const FUND_COLUMNS = ["记账时间", "微信支付业务单号", "业务名称", "收支类型", "收支金额（元）", "业务凭证号"] as const;
const FUND_SUMMARY_COLUMNS = ["资金流水总笔数", "收入笔数", "收入金额", "支出笔数", "支出金额"] as const;

function fundField(raw: string): string {
  const s = raw.trim();
  return (s.startsWith("`") ? s.slice(1) : s).trim();
}

function headerName(field: string): string {
  return field.replaceAll("(", "（").replaceAll(")", "）");
}

/** WeChat writes the summary's counts as "20.0". */
function fundCountOrRefuse(value: string, line: number, column: string): bigint {
  const m = /^(0|[1-9][0-9]{0,8})(?:\.0+)?$/.exec(value);
  if (!m?.[1]) refuse(line, `${column} "${clip(value)}" is not a count`);
  return BigInt(m[1]);
}

export function parseWechatFundFlow(text: string): ParsedStatement {
  const rows = rowsOnly(readCsv(text, false), fundField);
  const first = rows[0];
  if (!first) refuse(1, "the file is empty");
  const header: Row = { line: first.line, fields: first.fields.map(headerName) };
  const col = columnsOrRefuse(header, FUND_COLUMNS, "the 资金账单 header");
  const payouts: PayoutLine[] = [];
  const skipped: { line: number; reason: string }[] = [];
  const sums = { 收入: { count: 0n, minor: 0n }, 支出: { count: 0n, minor: 0n } };
  let i = 1;
  for (; i < rows.length; i++) {
    const row = rows[i] as Row;
    if (row.fields[0] === "资金流水总笔数") break;
    fieldCountOrRefuse(row, header);
    const get = getter(row, col);
    const n = row.line;
    const direction = get("收支类型");
    if (direction !== "收入" && direction !== "支出") refuse(n, `收支类型 ${clip(direction)} is not 收入 or 支出`);
    const amountMinor = amountOrRefuse(get("收支金额（元）"), 2, n, "收支金额（元）");
    if (amountMinor < 0)
      refuse(n, `收支金额（元） "${clip(get("收支金额（元）"))}" is negative; 收支类型 carries the sign`);
    sums[direction].count += 1n;
    sums[direction].minor += BigInt(amountMinor);
    const occurredAtMs = wallClockOrRefuse(get("记账时间"), BEIJING_OFFSET_MINUTES, n, "记账时间");
    const withdrawalId = withdrawalIdOf(get("业务凭证号"));
    if (withdrawalId === null) {
      skipped.push({ line: n, reason: `业务名称 ${clip(get("业务名称"))}: 业务凭证号 is not one of our withdrawals` });
      continue;
    }
    if (amountMinor === 0) refuse(n, "a movement of zero for one of our withdrawals");
    payouts.push({
      kind: "payout",
      withdrawalId,
      providerRef: idOrRefuse(get("微信支付业务单号"), n, "微信支付业务单号", false),
      amountMinor,
      currency: "CNY",
      status: direction === "支出" ? "paid" : "reversed",
      occurredAtMs,
      line: n,
    });
  }
  const { line: at, get } = summaryOrRefuse(rows, i, FUND_SUMMARY_COLUMNS, "资金流水总笔数");
  const rowsCount = sums.收入.count + sums.支出.count;
  checkTotal(at, "资金流水总笔数", fundCountOrRefuse(get("资金流水总笔数"), at, "资金流水总笔数"), rowsCount);
  checkTotal(at, "收入笔数", fundCountOrRefuse(get("收入笔数"), at, "收入笔数"), sums.收入.count);
  checkTotal(at, "收入金额", BigInt(amountOrRefuse(get("收入金额"), 2, at, "收入金额")), sums.收入.minor);
  checkTotal(at, "支出笔数", fundCountOrRefuse(get("支出笔数"), at, "支出笔数"), sums.支出.count);
  checkTotal(at, "支出金额", BigInt(amountOrRefuse(get("支出金额"), 2, at, "支出金额")), sums.支出.minor);
  return { lines: [], payouts, declaredTotals: "checked", skipped };
}
