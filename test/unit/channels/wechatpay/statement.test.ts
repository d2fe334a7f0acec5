import { describe, expect, it } from "vitest";
import { parseStatement } from "../../../../src/channels/statement";
import { LIMITS } from "../../../../src/domain/limits";
import { beijing, lines, refusal } from "../../../support/statements";

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
      payoutCount: 0,
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

describe("bounds", () => {
  it("refuses an id longer than the limit", () => {
    const long = "o".repeat(LIMITS.statementIdMaxLength + 1);
    const file = wechatFile([(WECHAT_ROWS[0] as string).replace("`order_01", `\`${long}`)]);
    expect(refusal(parseStatement("wechatpay", file))).toEqual({
      line: 2,
      detail: `商户订单号 is longer than ${LIMITS.statementIdMaxLength} characters`,
    });
  });
});
