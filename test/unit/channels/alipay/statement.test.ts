import { describe, expect, it } from "vitest";
import { parseStatement } from "../../../../src/channels/statement";
import { beijing, lines, refusal } from "../../../support/statements";

// Alipay 业务明细, as in the downloaded zip once decoded from GBK: # header lines, the column
// header, rows whose values end in a tab, the end-of-list rule and # totals over 商家实收.
const ALIPAY_FILE = [
  "#支付宝业务明细查询",
  "#账号：[20880000000000000156]",
  "#起始日期：[2026年11月21日 00:00:00]   终止日期：[2026年11月22日 00:00:00]",
  "#-----------------------------------------业务明细列表----------------------------------------",
  "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注",
  "2026112122001400000000000001\t,order_11\t,交易\t,giftwire 充值,2026-11-21 10:00:00,2026-11-21 10:00:30,\t,\t,\t,\t,buy***@example.com\t,0.01,0.01,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,0.00,0.00,",
  "2026112122001400000000000002\t,order_12\t,交易\t,giftwire 充值,2026-11-21 11:59:01,2026-11-21 11:59:40,\t,\t,\t,\t,fan***@example.com\t,50000.00,49990.00,10.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,-300.00,0.00,",
  "2026112122001400000000000003\t,order_13\t,交易\t,giftwire 充值,2026-11-21 23:58:00,2026-11-21 23:59:59,\t,\t,\t,\t,buy***@example.com\t,18.80,18.80,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,-0.11,0.00,",
  "2026112122001400000000000002\t,order_12\t,退款\t,giftwire 充值,2026-11-21 15:00:00,2026-11-21 15:00:02,\t,\t,\t,\t,fan***@example.com\t,-18.80,-18.80,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,refund_11\t,0.11,0.00,",
  "#-----------------------------------------业务明细列表结束------------------------------------",
  "#交易合计：3笔，商家实收共50008.81元，商家优惠共0.00元",
  "#退款合计：1笔，商家实收退款共-18.80元，商家优惠退款共0.00元",
  "#导出时间：[2026年11月22日 09:12:40]",
];

describe("Alipay trade bill (业务明细)", () => {
  it("reads trades and refunds exactly, refunds as positive amounts with our request number", () => {
    const parsed = parseStatement("alipay", ALIPAY_FILE.join("\r\n"));
    expect(lines(parsed)).toEqual([
      {
        kind: "payment",
        status: "succeeded",
        merchantOrderNo: "order_11",
        providerTxnId: "2026112122001400000000000001",
        providerRefundId: null,
        merchantRefundNo: null,
        amountMinor: 1,
        currency: "CNY",
        occurredAtMs: beijing(2026, 11, 21, 10, 0, 30),
        line: 6,
      },
      // 订单金额, not 商家实收: the order was for 50000.00 even though a red packet paid 10.00 of it.
      expect.objectContaining({ kind: "payment", merchantOrderNo: "order_12", amountMinor: 5_000_000, line: 7 }),
      expect.objectContaining({
        merchantOrderNo: "order_13",
        amountMinor: 1880,
        occurredAtMs: beijing(2026, 11, 21, 23, 59, 59),
      }),
      {
        kind: "refund",
        status: "refunded",
        merchantOrderNo: "order_12",
        providerTxnId: "2026112122001400000000000002",
        providerRefundId: null,
        merchantRefundNo: "refund_11",
        amountMinor: 1880,
        currency: "CNY",
        occurredAtMs: beijing(2026, 11, 21, 15, 0, 2),
        line: 9,
      },
    ]);
    expect(parsed.ok && parsed.summary.declaredTotals).toBe("checked");
  });

  it("refuses a download cut before its footer totals", () => {
    const cut = ALIPAY_FILE.slice(0, 8).join("\n");
    expect(refusal(parseStatement("alipay", cut))).toEqual({
      line: 9,
      detail: "no #交易合计 footer: the file is truncated",
    });
    const halfFooter = ALIPAY_FILE.slice(0, 11).join("\n");
    expect(refusal(parseStatement("alipay", halfFooter)).detail).toBe("no #退款合计 footer: the file is truncated");
  });

  it("refuses a file whose footer disagrees with its rows (count and 商家实收)", () => {
    const dropped = [...ALIPAY_FILE.slice(0, 7), ...ALIPAY_FILE.slice(8)].join("\n");
    expect(refusal(parseStatement("alipay", dropped))).toEqual({
      line: 10,
      detail: "#交易合计 笔数 says 3, the lines add up to 2: the file is truncated or altered",
    });
    const altered = ALIPAY_FILE.map((l) => l.replace("商家实收退款共-18.80元", "商家实收退款共-18.00元")).join("\n");
    expect(refusal(parseStatement("alipay", altered)).detail).toBe(
      "#退款合计 商家实收退款 says -1800, the lines add up to -1880: the file is truncated or altered",
    );
  });

  it("refuses a header without 商户订单号, naming it", () => {
    const renamed = ALIPAY_FILE.map((l, i) => (i === 4 ? l.replace("商户订单号", "订单号") : l)).join("\n");
    expect(refusal(parseStatement("alipay", renamed))).toEqual({
      line: 5,
      detail: "the column header lacks the required column(s) 商户订单号",
    });
  });

  it("refuses business types it does not know instead of skipping money", () => {
    const other = ALIPAY_FILE.map((l, i) => (i === 5 ? l.replace("交易\t", "冻结\t") : l)).join("\n");
    expect(refusal(parseStatement("alipay", other))).toEqual({ line: 6, detail: "业务类型 冻结 is not 交易 or 退款" });
  });
});
