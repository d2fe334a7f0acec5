import type { PayoutLine } from "../../domain/reconcile-payouts";
import { withdrawalIdOf } from "../../domain/withdrawal-number";
import {
  amountOrRefuse,
  BEIJING_OFFSET_MINUTES,
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
 * Alipay 账务明细 (alipay.data.dataservice.bill.downloadurl.query, bill_type=signcustomer):
 * the account's money movements, where alipay.fund.trans.uni.transfer payouts appear (the
 * trade bill's 业务明细, statement.ts, lists trades and refunds only). The download is a zip of
 * GBK CSVs; the operator (or a fetcher) unzips it and decodes the 账务明细 file, not its 汇总.
 *
 * The layout, as public parsers read it (a pandas reader skipping four `#` lines before the
 * header 账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,收入金额（+元）,支出金额（-元）,
 * 账户余额（元）,交易渠道,业务类型,备注[,业务描述,业务账单来源,业务基础订单号,业务订单号]): `#`
 * lines, the column header, one row per movement, `#` footer lines. Values may end in a tab.
 * 商户订单号 is the merchant's own number: for a transfer, our out_biz_no. 发生时间 is Beijing time.
 *
 * Not confirmed from Alipay's own pages (so not relied on): the 业务类型 of a transfer row, the
 * sign written in the amount columns, and the footer's wording (its totals are not checked:
 * `declaredTotals: not_provided`). So: a row is a payout line exactly when its 商户订单号 is
 * one of our withdrawal numbers; money out (支出) → paid, money in (收入, a transfer returned)
 * → reversed; each amount column is read as a magnitude (an optional sign that matches the
 * column: + for 收入, - for 支出), and a row with both or neither is refused. Every other row is
 * listed in `skipped`. A missing or repeated required column refuses the file whole.
 */
const ACCOUNT_COLUMNS = [
  "账务流水号",
  "业务流水号",
  "商户订单号",
  "发生时间",
  "收入金额（+元）",
  "支出金额（-元）",
  "业务类型",
] as const;

function headerName(raw: string): string {
  return raw.trim().replaceAll("(", "（").replaceAll(")", "）");
}

/** An amount column's magnitude in fen: "" is none; a sign other than the column's is refused. */
function magnitudeOrRefuse(value: string, sign: "+" | "-", line: number, column: string): number {
  if (value === "") return 0;
  const unsigned = value.startsWith(sign) ? value.slice(1) : value;
  const minor = amountOrRefuse(unsigned, 2, line, column);
  if (minor < 0) refuse(line, `${column} "${clip(value)}" has the other column's sign`);
  return minor;
}

export function parseAlipayAccountDetail(text: string): ParsedStatement {
  const items = readCsv(text, true);
  const headerAt = items.findIndex((x) => x.kind === "row");
  const headerItem = items[headerAt];
  if (headerItem?.kind !== "row") refuse(1, "no column header row (账务流水号,业务流水号,商户订单号,…)");
  const header: Row = { line: headerItem.line, fields: headerItem.fields.map(headerName) };
  const col = columnsOrRefuse(header, ACCOUNT_COLUMNS, "the 账务明细 header");
  const payouts: PayoutLine[] = [];
  const skipped: { line: number; reason: string }[] = [];
  let footer = false;
  for (const item of items.slice(headerAt + 1)) {
    if (item.kind === "comment") {
      footer = true;
      continue;
    }
    const row: Row = { line: item.line, fields: item.fields.map((f) => f.trim()) };
    if (row.fields.every((f) => f === "")) continue;
    if (footer) refuse(row.line, "a row after the footer");
    fieldCountOrRefuse(row, header);
    const get = getter(row, col);
    const n = row.line;
    idOrRefuse(get("账务流水号"), n, "账务流水号", true);
    const inMinor = magnitudeOrRefuse(get("收入金额（+元）"), "+", n, "收入金额（+元）");
    const outMinor = magnitudeOrRefuse(get("支出金额（-元）"), "-", n, "支出金额（-元）");
    if (inMinor > 0 && outMinor > 0) refuse(n, "both 收入金额 and 支出金额 are set");
    const occurredAtMs = wallClockOrRefuse(get("发生时间"), BEIJING_OFFSET_MINUTES, n, "发生时间");
    const withdrawalId = withdrawalIdOf(get("商户订单号"));
    if (withdrawalId === null) {
      skipped.push({ line: n, reason: `业务类型 ${clip(get("业务类型"))}: 商户订单号 is not one of our withdrawals` });
      continue;
    }
    if (inMinor === 0 && outMinor === 0) refuse(n, "neither 收入金额 nor 支出金额 is set for one of our withdrawals");
    payouts.push({
      kind: "payout",
      withdrawalId,
      providerRef: idOrRefuse(get("业务流水号"), n, "业务流水号", false),
      amountMinor: outMinor > 0 ? outMinor : inMinor,
      currency: "CNY",
      status: outMinor > 0 ? "paid" : "reversed",
      occurredAtMs,
      line: n,
    });
  }
  if (!footer) refuse((items.at(-1)?.line ?? 0) + 1, "no `#` footer after the rows: the file is truncated");
  return { lines: [], payouts, declaredTotals: "not_provided", skipped };
}
