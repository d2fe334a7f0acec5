import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decimalMinor,
  formatSandboxStatement,
  parseStatement,
  type StatementLine,
  type StatementParse,
  stripeExponent,
} from "../../../src/channels/statements";
import { LIMITS } from "../../../src/domain/limits";

/** Beijing wall-clock time as UTC milliseconds. */
const beijing = (y: number, mo: number, d: number, h: number, mi: number, s: number) =>
  Date.UTC(y, mo - 1, d, h, mi, s) - 8 * 3600_000;

function lines(parsed: StatementParse): StatementLine[] {
  if (!parsed.ok) throw new Error(`refused: line ${parsed.error.line}: ${parsed.error.detail}`);
  return parsed.lines;
}

function refusal(parsed: StatementParse): { line: number; detail: string } {
  if (parsed.ok) throw new Error("accepted");
  expect(parsed.error.code).toBe("statement_malformed");
  return { line: parsed.error.line, detail: parsed.error.detail };
}

// WeChat Pay v3 tradebill, bill_type=ALL, as downloaded: BOM, CRLF, backtick-prefixed fields,
// a summary header and summary row. A partial refund of order_02 on the same day.
const WECHAT_HEADER =
  "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
const WECHAT_ROWS = [
  "`2026-11-21 09:15:02,`wx8888888888888888,`1900000109,`0,`,`4200002345202611210000000001,`order_01,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`SUCCESS,`OTHERS,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`giftwire 充值,`,`0.00000,`0.60%,`0.01,`0.00,`",
  "`2026-11-21 12:40:00,`wx8888888888888888,`1900000109,`0,`,`4200002345202611210000000002,`order_02,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`SUCCESS,`CMB_DEBIT,`CNY,`50000.00,`0.00,`0,`0,`0.00,`0.00,`,`,`giftwire 充值,`,`300.00000,`0.60%,`50000.00,`0.00,`",
  "`2026-11-21 20:00:00,`wx8888888888888888,`1900000109,`0,`,`4200002345202611210000000003,`order_03,`oUpF8uK2pT0gY6SRlRPhLe3h0mU0,`NATIVE,`SUCCESS,`OTHERS,`CNY,`18.80,`0.00,`0,`0,`0.00,`0.00,`,`,`giftwire 充值,`,`0.11000,`0.60%,`18.80,`0.00,`",
  "`2026-11-21 21:05:11,`wx8888888888888888,`1900000109,`0,`,`4200002345202611210000000002,`order_02,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`REFUND,`CMB_DEBIT,`CNY,`0.00,`0.00,`50300000002026112100000001,`refund_01,`18.80,`0.00,`ORIGINAL,`SUCCESS,`giftwire 充值,`,`-0.11000,`0.60%,`0.00,`18.80,`",
];
const WECHAT_SUMMARY = [
  "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额",
  "`4,`50018.81,`18.80,`0.00,`300.00000,`50018.81,`18.80",
];
const wechatFile = (rows = WECHAT_ROWS, summary = WECHAT_SUMMARY, header = WECHAT_HEADER) =>
  `\uFEFF${[header, ...rows, ...summary].join("\r\n")}\r\n`;

describe("WeChat Pay trade bill (ALL)", () => {
  it("reads payments and refunds exactly, in fen, with Beijing times, from a BOM and CRLF file", () => {
    const parsed = parseStatement("wechatpay", wechatFile());
    expect(lines(parsed)).toEqual([
      {
        kind: "payment",
        status: "succeeded",
        merchantOrderNo: "order_01",
        providerTxnId: "4200002345202611210000000001",
        providerRefundId: null,
        merchantRefundNo: null,
        amountMinor: 1,
        currency: "CNY",
        occurredAtMs: beijing(2026, 11, 21, 9, 15, 2),
        line: 2,
      },
      expect.objectContaining({ kind: "payment", merchantOrderNo: "order_02", amountMinor: 5_000_000, line: 3 }),
      expect.objectContaining({ kind: "payment", merchantOrderNo: "order_03", amountMinor: 1880, line: 4 }),
      {
        kind: "refund",
        status: "refunded",
        merchantOrderNo: "order_02",
        providerTxnId: "4200002345202611210000000002",
        providerRefundId: "50300000002026112100000001",
        merchantRefundNo: "refund_01",
        amountMinor: 1880,
        currency: "CNY",
        occurredAtMs: beijing(2026, 11, 21, 21, 5, 11),
        line: 5,
      },
    ]);
    expect(parsed.ok && parsed.summary).toEqual({
      channel: "wechatpay",
      lineCount: 4,
      totals: [
        { currency: "CNY", paymentCount: 3, paymentAmountMinor: 5_001_881, refundCount: 1, refundAmountMinor: 1880 },
      ],
      declaredTotals: "checked",
      skipped: [],
    });
  });

  it("reads the same file with LF endings and without a BOM", () => {
    const plain = [WECHAT_HEADER, ...WECHAT_ROWS, ...WECHAT_SUMMARY].join("\n");
    expect(lines(parseStatement("wechatpay", plain))).toEqual(lines(parseStatement("wechatpay", wechatFile())));
  });

  it("finds columns by name, not position", () => {
    // Move 订单金额 (column 25) to the front of every detail row and the header.
    const moveToFront = (row: string) => {
      const f = row.split(",");
      const [amount] = f.splice(24, 1);
      return [amount, ...f].join(",");
    };
    const moved = wechatFile(WECHAT_ROWS.map(moveToFront), WECHAT_SUMMARY, moveToFront(WECHAT_HEADER));
    expect(lines(parseStatement("wechatpay", moved))).toEqual(lines(parseStatement("wechatpay", wechatFile())));
  });

  it("refuses a download cut before its summary", () => {
    const cut = [WECHAT_HEADER, ...WECHAT_ROWS.slice(0, 3)].join("\r\n");
    expect(refusal(parseStatement("wechatpay", cut))).toEqual({
      line: 5,
      detail: "no summary (总交易单数,…): the file is truncated",
    });
  });

  it("refuses a file whose summary disagrees with its rows, naming the total", () => {
    const missingRow = wechatFile([...WECHAT_ROWS.slice(0, 2), ...WECHAT_ROWS.slice(3)]);
    const r = refusal(parseStatement("wechatpay", missingRow));
    expect(r.line).toBe(6);
    expect(r.detail).toBe("总交易单数 says 4, the lines add up to 3: the file is truncated or altered");
    const altered = wechatFile(WECHAT_ROWS, [
      WECHAT_SUMMARY[0] as string,
      "`4,`50018.81,`18.80,`0.00,`300.00000,`50018.80,`18.80",
    ]);
    expect(refusal(parseStatement("wechatpay", altered)).detail).toMatch(
      /^订单总金额 says 5001880, the lines add up to 5001881/,
    );
  });

  it("refuses a row cut mid-line", () => {
    const row = WECHAT_ROWS[2] as string;
    const cut = wechatFile([...WECHAT_ROWS.slice(0, 2), row.slice(0, row.lastIndexOf(",`0.11000"))]);
    expect(refusal(parseStatement("wechatpay", cut))).toEqual({
      line: 4,
      detail: "22 fields; the header on line 1 has 27",
    });
  });

  it("refuses a SUCCESS-type bill, naming the refund columns it lacks", () => {
    const successHeader =
      "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注";
    const summary = ["总交易单数,应结订单总金额,手续费总金额,订单总金额", "`1,`0.01,`0.00,`0.01"];
    const row =
      "`2026-11-21 09:15:02,`wx8888888888888888,`1900000109,`0,`,`4200002345202611210000000001,`order_01,`o1,`JSAPI,`SUCCESS,`OTHERS,`CNY,`0.01,`0.00,`giftwire 充值,`,`0.00000,`0.60%,`0.01,`";
    expect(refusal(parseStatement("wechatpay", wechatFile([row], summary, successHeader)))).toEqual({
      line: 1,
      detail: "the detail header lacks the required column(s) 微信退款单号, 商户退款单号, 申请退款金额, 退款状态",
    });
  });

  it("refuses amounts that are not exact decimals, and unknown trade states", () => {
    const badAmount = wechatFile([(WECHAT_ROWS[0] as string).replace(/`0\.01,`0\.00,`$/, "`1e-2,`0.00,`")]);
    expect(refusal(parseStatement("wechatpay", badAmount)).detail).toBe(
      '订单金额 "1e-2" is not an exact decimal amount',
    );
    const notPaid = wechatFile([(WECHAT_ROWS[0] as string).replace("`SUCCESS", "`NOTPAY")]);
    expect(refusal(parseStatement("wechatpay", notPaid))).toEqual({
      line: 2,
      detail: "交易状态 NOTPAY is not SUCCESS, REVOKED or REFUND",
    });
  });
});

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

// Stripe balance_change_from_activity.itemized.3, run with payment_metadata[order_no]: quoted
// fields, zero-decimal JPY, a fee row, a refund with its re_ id, a description over two lines.
const STRIPE_FILE = [
  "balance_transaction_id,created_utc,created,available_on_utc,currency,gross,fee,net,reporting_category,source_id,description,customer_facing_amount,customer_facing_currency,charge_id,payment_intent_id,payment_metadata[order_no]",
  'txn_3QaA01,2026-11-21 02:00:00,2026-11-21 02:00:00,2026-11-23 00:00:00,cny,0.01,0.00,0.01,charge,ch_3QaA01,"giftwire top-up, order_31",0.01,cny,ch_3QaA01,pi_3QaA01,order_31',
  'txn_3QaA02,2026-11-21 03:30:00,2026-11-21 03:30:00,2026-11-23 00:00:00,jpy,1000,36,964,charge,ch_3QaA02,"giftwire ""yen""\ntop-up",1000,jpy,ch_3QaA02,pi_3QaA02,order_32',
  "txn_3QaA03,2026-11-21 04:00:00,2026-11-21 04:00:00,2026-11-23 00:00:00,usd,18.80,0.85,17.95,charge,ch_3QaA03,,18.80,usd,ch_3QaA03,pi_3QaA03,order_33",
  "txn_3QaA04,2026-11-21 05:00:00,2026-11-21 05:00:00,2026-11-21 05:00:00,usd,-5.00,0.00,-5.00,refund,re_3QaA04,,5.00,usd,ch_3QaA03,pi_3QaA03,order_33",
  "txn_3QaA05,2026-11-21 06:00:00,2026-11-21 06:00:00,2026-11-21 06:00:00,usd,-2.00,0.00,-2.00,fee,ab_1QaA05,Radar for Fraud Teams,,,,,",
];

describe("Stripe itemized balance change report", () => {
  it("reads charges and refunds in each currency's minor units and lists the rest as skipped", () => {
    const parsed = parseStatement("stripe", `${STRIPE_FILE.join("\n")}\n`);
    expect(lines(parsed)).toEqual([
      {
        kind: "payment",
        status: "succeeded",
        merchantOrderNo: "order_31",
        providerTxnId: "pi_3QaA01",
        providerRefundId: null,
        merchantRefundNo: null,
        amountMinor: 1,
        currency: "CNY",
        occurredAtMs: Date.UTC(2026, 10, 21, 2, 0, 0),
        line: 2,
      },
      expect.objectContaining({ merchantOrderNo: "order_32", currency: "JPY", amountMinor: 1000, line: 3 }),
      // The quoted description spans two physical lines, so this row starts on line 5.
      expect.objectContaining({ merchantOrderNo: "order_33", currency: "USD", amountMinor: 1880, line: 5 }),
      expect.objectContaining({
        kind: "refund",
        providerRefundId: "re_3QaA04",
        providerTxnId: "pi_3QaA03",
        amountMinor: 500,
        line: 6,
      }),
    ]);
    expect(parsed.ok && parsed.summary).toMatchObject({
      declaredTotals: "not_provided",
      skipped: [{ line: 7, reason: "reporting_category fee" }],
      totals: [
        { currency: "CNY", paymentCount: 1, paymentAmountMinor: 1, refundCount: 0, refundAmountMinor: 0 },
        { currency: "JPY", paymentCount: 1, paymentAmountMinor: 1000, refundCount: 0, refundAmountMinor: 0 },
        { currency: "USD", paymentCount: 1, paymentAmountMinor: 1880, refundCount: 1, refundAmountMinor: 500 },
      ],
    });
  });

  it("refuses a report run without the order metadata column", () => {
    const without = STRIPE_FILE.map((l) => l.split(",").slice(0, -1).join(",")).join("\n");
    expect(refusal(parseStatement("stripe", without))).toEqual({
      line: 1,
      detail: "the header lacks the required column(s) payment_metadata[order_no]",
    });
  });

  it("refuses an unclosed quote rather than guessing where the row ends", () => {
    const broken = [...STRIPE_FILE.slice(0, 2), 'txn_x,2026-11-21 02:00:00,,,cny,1.00,0,1.00,charge,ch_x,"oops'].join(
      "\n",
    );
    expect(refusal(parseStatement("stripe", broken))).toEqual({ line: 3, detail: "a quoted field is not closed" });
  });
});

describe("exact decimal amounts", () => {
  it.each([
    ["0.01", 2, 1],
    ["50000.00", 2, 5_000_000],
    ["18.80", 2, 1880],
    ["18.8", 2, 1880],
    ["0", 2, 0],
    ["-18.80", 2, -1880],
    ["1000", 0, 1000],
    ["1000.00", 0, 1000],
    ["1.234", 3, 1234],
    ["999999999999.99", 2, 99_999_999_999_999],
  ])('"%s" at exponent %i is %i', (text, exponent, minor) => {
    expect(decimalMinor(text, exponent)).toBe(minor);
  });

  it.each([
    ["18.801", 2],
    ["1000.5", 0],
    ["1e3", 2],
    ["01", 2],
    [".5", 2],
    ["1.", 2],
    [" 1", 2],
    ["+1", 2],
    ["1,000.00", 2],
    ["NaN", 2],
    ["1000000000000", 2],
  ])('"%s" at exponent %i is not money', (text, exponent) => {
    expect(decimalMinor(text, exponent)).toBeNull();
  });

  it("uses Stripe's exponents: zero-decimal, three-decimal and two for the rest", () => {
    expect([
      stripeExponent("JPY"),
      stripeExponent("KRW"),
      stripeExponent("KWD"),
      stripeExponent("CNY"),
      stripeExponent("HUF"),
    ]).toEqual([0, 0, 3, 2, 2]);
  });
});

describe("sandbox statement", () => {
  const id = fc
    .string({ minLength: 1, maxLength: 24, unit: "grapheme" })
    .filter((s) => s.length <= LIMITS.statementIdLengthMax);
  const base = {
    merchantOrderNo: fc.option(id, { nil: null }),
    providerTxnId: fc.option(id, { nil: null }),
    amountMinor: fc.integer({ min: 1, max: LIMITS.amountMaxMinor }),
    currency: fc.constant("CNY"),
    occurredAtMs: fc.integer({ min: 0, max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }),
  };
  const line = fc.oneof(
    fc.record({
      ...base,
      kind: fc.constant("payment" as const),
      status: fc.constantFrom("succeeded" as const, "reversed" as const),
      providerRefundId: fc.constant(null),
      merchantRefundNo: fc.constant(null),
    }),
    fc.record({
      ...base,
      kind: fc.constant("refund" as const),
      status: fc.constantFrom("refunded" as const, "pending" as const, "failed" as const),
      providerRefundId: fc.option(id, { nil: null }),
      merchantRefundNo: fc.constant(null),
    }),
  );

  it("round-trips: parsing what the sandbox formats gives back the same lines", () => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 30 }), (generated) => {
        // Ids may hold commas, quotes and line breaks; line numbers follow the physical lines.
        const text = formatSandboxStatement(generated.map((l) => ({ ...l, line: 0 })));
        const parsed = lines(parseStatement("sandbox", text));
        let at = 2;
        const expected = generated.map((l) => {
          const numbered = { ...l, line: at };
          at +=
            1 +
            [l.merchantOrderNo, l.providerTxnId, l.providerRefundId].reduce(
              (n, v) => n + (v?.split(/\r\n|\r|\n/).length ?? 1) - 1,
              0,
            );
          return numbered;
        });
        expect(parsed).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it("writes the documented layout", () => {
    const text = formatSandboxStatement([
      {
        kind: "payment",
        status: "succeeded",
        merchantOrderNo: "order_41",
        providerTxnId: "sbx_txn_1",
        providerRefundId: null,
        merchantRefundNo: null,
        amountMinor: 1880,
        currency: "CNY",
        occurredAtMs: Date.UTC(2026, 10, 21, 2, 0, 0),
        line: 0,
      },
      {
        kind: "refund",
        status: "refunded",
        merchantOrderNo: "order_41",
        providerTxnId: "sbx_txn_1",
        providerRefundId: "sbx_rfd_1",
        merchantRefundNo: null,
        amountMinor: 1,
        currency: "CNY",
        occurredAtMs: Date.UTC(2026, 10, 21, 3, 0, 0),
        line: 0,
      },
    ]);
    expect(text).toBe(
      [
        "occurred_at,type,order_no,txn_id,refund_id,amount,currency,status",
        "2026-11-21T02:00:00.000Z,payment,order_41,sbx_txn_1,,18.80,CNY,succeeded",
        "2026-11-21T03:00:00.000Z,refund,order_41,sbx_txn_1,sbx_rfd_1,0.01,CNY,refunded",
        "# total_count=2,total_amount=18.81",
        "",
      ].join("\n"),
    );
  });

  const sample = [
    "occurred_at,type,order_no,txn_id,refund_id,amount,currency,status",
    "2026-11-21T02:00:00.000Z,payment,order_41,sbx_txn_1,,18.80,CNY,succeeded",
    "2026-11-21T03:00:00.000Z,payment,order_42,sbx_txn_2,,50000.00,CNY,succeeded",
  ];

  it("refuses a file without its trailer or with a wrong one", () => {
    expect(refusal(parseStatement("sandbox", sample.join("\n")))).toEqual({
      line: 4,
      detail: "no trailer # total_count=…: the file is truncated",
    });
    const wrong = [...sample, "# total_count=2,total_amount=50018.81"].join("\n");
    expect(refusal(parseStatement("sandbox", wrong))).toEqual({
      line: 4,
      detail: "total_amount says 5001881, the lines add up to 5001880: the file is truncated or altered",
    });
    expect(
      lines(parseStatement("sandbox", [...sample, "# total_count=2,total_amount=50018.80"].join("\r\n"))),
    ).toHaveLength(2);
  });

  it("refuses an impossible date instead of rolling it over", () => {
    const bad = [
      sample[0],
      "2026-02-30T02:00:00.000Z,payment,order_41,sbx_txn_1,,18.80,CNY,succeeded",
      "# total_count=1,total_amount=18.80",
    ];
    expect(refusal(parseStatement("sandbox", bad.join("\n"))).line).toBe(2);
  });
});

describe("bounds", () => {
  it(`refuses more than ${LIMITS.statementLinesMax} lines before reading further`, () => {
    const huge = "x\n".repeat(LIMITS.statementLinesMax + 1);
    expect(refusal(parseStatement("wechatpay", huge))).toEqual({
      line: LIMITS.statementLinesMax + 1,
      detail: `more than ${LIMITS.statementLinesMax} lines`,
    });
  });

  it("refuses an id longer than the limit", () => {
    const long = "o".repeat(LIMITS.statementIdLengthMax + 1);
    const file = wechatFile([(WECHAT_ROWS[0] as string).replace("`order_01", `\`${long}`)]);
    expect(refusal(parseStatement("wechatpay", file))).toEqual({
      line: 2,
      detail: `商户订单号 is longer than ${LIMITS.statementIdLengthMax} characters`,
    });
  });
});
