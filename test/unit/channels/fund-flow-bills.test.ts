/**
 * The fund-flow bills that list our payouts: WeChat's 资金账单 and Alipay's 账务明细
 * (signcustomer). The fixtures are illustrative files in the documented layouts (the Alipay
 * one GBK-encoded, as its zip holds it); their 业务名称 / 业务类型 values are made up, which
 * is the point: rows are told apart by our withdrawal number, never by those names.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseStatement } from "../../../src/channels/statement";
import type { StatementParse } from "../../../src/channels/statement-csv";
import type { PayoutLine } from "../../../src/domain/reconcile-payouts";
import { beijing, refusal } from "../../support/statements";

const WECHAT = readFileSync("test/fixtures/wechatpay-fund-flow.csv", "utf8");
const ALIPAY = new TextDecoder("gbk", { fatal: true, ignoreBOM: false }).decode(
  readFileSync("test/fixtures/alipay-account-detail.gbk.csv"),
);

function payouts(parsed: StatementParse): PayoutLine[] {
  if (!parsed.ok) throw new Error(`refused: line ${parsed.error.line}: ${parsed.error.detail}`);
  expect(parsed.lines).toEqual([]);
  return parsed.payouts;
}

describe("WeChat 资金账单 (fund_flow)", () => {
  it("reads 商家转账 rows by 业务凭证号 = our out_bill_no: 支出 paid, 收入 returned; amounts exact in fen", () => {
    const parsed = parseStatement("wechatpay", WECHAT, "fund_flow");
    expect(payouts(parsed)).toEqual([
      {
        kind: "payout",
        withdrawalId: "wd_01KAZ00000000000000000000A",
        providerRef: "1330000071100000000000000001",
        amountMinor: 9_800,
        currency: "CNY",
        status: "paid",
        occurredAtMs: beijing(2026, 11, 21, 10, 0, 5),
        line: 3,
      },
      expect.objectContaining({
        withdrawalId: "wd_01KAZ00000000000000000000B",
        amountMinor: 1,
        status: "paid",
        line: 4,
      }),
      expect.objectContaining({
        withdrawalId: "wd_01KAZ00000000000000000000B",
        amountMinor: 1,
        status: "reversed",
        line: 5,
      }),
    ]);
    if (!parsed.ok) return;
    expect(parsed.summary.declaredTotals).toBe("checked");
    expect(parsed.summary.skipped.map((s) => s.line)).toEqual([2, 6]);
  });

  it("refuses a header without a required column, naming it", () => {
    const renamed = WECHAT.replace("业务凭证号", "商户单号");
    expect(refusal(parseStatement("wechatpay", renamed, "fund_flow"))).toEqual({
      line: 1,
      detail: "the 资金账单 header lacks the required column(s) 业务凭证号",
    });
  });

  it("refuses a file whose summary disagrees with its rows (a row lost or altered)", () => {
    const rows = WECHAT.split("\r\n");
    const dropped = [...rows.slice(0, 2), ...rows.slice(3)].join("\r\n");
    expect(refusal(parseStatement("wechatpay", dropped, "fund_flow"))).toEqual({
      line: 7,
      detail: "资金流水总笔数 says 5, the lines add up to 4: the file is truncated or altered",
    });
    const altered = WECHAT.replace("`支出,`98.00", "`支出,`98.10");
    expect(refusal(parseStatement("wechatpay", altered, "fund_flow")).detail).toBe(
      "支出金额 says 9861, the lines add up to 9871: the file is truncated or altered",
    );
    const cut = rows.slice(0, 5).join("\r\n");
    expect(refusal(parseStatement("wechatpay", cut, "fund_flow")).detail).toBe(
      "no summary (资金流水总笔数,…): the file is truncated",
    );
  });

  it("refuses amounts that are not exact fen and directions it does not know", () => {
    expect(refusal(parseStatement("wechatpay", WECHAT.replace("`98.00", "`98.005"), "fund_flow"))).toEqual({
      line: 3,
      detail: '收支金额（元） "98.005" is not an exact decimal amount',
    });
    expect(refusal(parseStatement("wechatpay", WECHAT.replace("`支出,`98.00", "`冻结,`98.00"), "fund_flow"))).toEqual({
      line: 3,
      detail: "收支类型 冻结 is not 收入 or 支出",
    });
  });
});

describe("Alipay 账务明细 (fund_flow, signcustomer), decoded from GBK", () => {
  it("reads transfer rows by 商户订单号 = our out_biz_no: money out is paid, in fen", () => {
    const parsed = parseStatement("alipay", ALIPAY, "fund_flow");
    expect(payouts(parsed)).toEqual([
      {
        kind: "payout",
        withdrawalId: "wd_01KAZ00000000000000000000C",
        providerRef: "20261121110070000006000000000001",
        amountMinor: 19_600,
        currency: "CNY",
        status: "paid",
        occurredAtMs: beijing(2026, 11, 21, 10, 0, 0),
        line: 7,
      },
      expect.objectContaining({ withdrawalId: "wd_01KAZ00000000000000000000D", amountMinor: 3_000, line: 8 }),
    ]);
    if (!parsed.ok) return;
    expect(parsed.summary.declaredTotals).toBe("not_provided");
    expect(parsed.summary.skipped.map((s) => s.line)).toEqual([6, 9]);
  });

  it("a transfer's money coming back (收入 under our number) is a reversed line", () => {
    const back = ALIPAY.replace("\t,\t,-30.00\t,9824.00", "\t,+30.00\t,\t,9884.00");
    expect(payouts(parseStatement("alipay", back, "fund_flow"))[1]).toMatchObject({
      withdrawalId: "wd_01KAZ00000000000000000000D",
      amountMinor: 3_000,
      status: "reversed",
    });
  });

  it("refuses a renamed column, a row with both amounts, a sign against its column, and a file cut short", () => {
    expect(refusal(parseStatement("alipay", ALIPAY.replace("商户订单号", "外部订单号"), "fund_flow"))).toEqual({
      line: 5,
      detail: "the 账务明细 header lacks the required column(s) 商户订单号",
    });
    expect(refusal(parseStatement("alipay", ALIPAY.replace("\t,\t,-30.00", "\t,+1.00\t,-30.00"), "fund_flow"))).toEqual(
      { line: 8, detail: "both 收入金额 and 支出金额 are set" },
    );
    expect(refusal(parseStatement("alipay", ALIPAY.replace("\t,\t,-30.00", "\t,\t,+30.00"), "fund_flow"))).toEqual({
      line: 8,
      detail: '支出金额（-元） "+30.00" is not an exact decimal amount',
    });
    const cut = ALIPAY.split("\r\n").slice(0, 8).join("\r\n");
    expect(refusal(parseStatement("alipay", cut, "fund_flow"))).toEqual({
      line: 9,
      detail: "no `#` footer after the rows: the file is truncated",
    });
  });

  it("the GBK file read as UTF-8 is refused, not half-read", () => {
    const wrong = new TextDecoder("utf-8").decode(readFileSync("test/fixtures/alipay-account-detail.gbk.csv"));
    expect(refusal(parseStatement("alipay", wrong, "fund_flow")).detail).toMatch(/lacks the required column/);
  });
});
