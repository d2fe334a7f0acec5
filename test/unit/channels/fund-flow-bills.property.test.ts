/**
 * Fund-flow bills, generated: whatever movements a day holds, every movement under one of our
 * withdrawal numbers comes back as exactly one payout line with its amount in fen (never via
 * a float), everything else is skipped; and a WeChat 资金账单 with any one amount altered is
 * refused by its own summary.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseStatement } from "../../../src/channels/statement";
import { newId } from "../../../src/domain/ids";
import { withdrawalNumber } from "../../../src/domain/withdrawal-number";

interface Movement {
  readonly ours: boolean;
  readonly out: boolean;
  readonly amountMinor: number;
  readonly seed: number;
}

const movement = fc.record({
  ours: fc.boolean(),
  out: fc.boolean(),
  amountMinor: fc.integer({ min: 1, max: 9_999_999_999 }),
  seed: fc.integer({ min: 0, max: 255 }),
});

const yuan = (minor: number) => `${Math.floor(minor / 100)}.${String(minor % 100).padStart(2, "0")}`;
const numberOf = (m: Movement, i: number) =>
  m.ours ? withdrawalNumber(newId("wd", 1_790_000_000_000 + i, (n) => new Uint8Array(n).fill(m.seed))) : `order_${i}`;

function wechatBill(ms: readonly Movement[], alter?: number): string {
  const tick = (f: readonly string[]) => f.map((x) => `\`${x}`).join(",");
  const sum = (out: boolean) => ms.filter((m) => m.out === out).reduce((s, m) => s + m.amountMinor, 0);
  const count = (out: boolean) => ms.filter((m) => m.out === out).length;
  return [
    "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),资金变更提交申请人,备注,业务凭证号",
    ...ms.map((m, i) =>
      tick([
        "2026-11-21 10:00:00",
        `13300000711${i}`,
        `19000000012${i}`,
        "x",
        "y",
        m.out ? "支出" : "收入",
        yuan(m.amountMinor + (alter === i ? 1 : 0)),
        "0.00",
        "API",
        "",
        numberOf(m, i),
      ]),
    ),
    "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额",
    tick([`${ms.length}.0`, `${count(false)}.0`, yuan(sum(false)), `${count(true)}.0`, yuan(sum(true))]),
  ].join("\n");
}

function alipayBill(ms: readonly Movement[]): string {
  return [
    "#支付宝账务明细查询",
    "账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,收入金额（+元）,支出金额（-元）,账户余额（元）,交易渠道,业务类型,备注",
    ...ms.map((m, i) =>
      [
        `2026112120004001110${i}`,
        `2026112111007000000${i}`,
        numberOf(m, i),
        "x",
        "2026-11-21 10:00:00",
        "",
        m.out ? "" : `${m.seed % 2 ? "+" : ""}${yuan(m.amountMinor)}`,
        m.out ? `${m.seed % 2 ? "-" : ""}${yuan(m.amountMinor)}` : "",
        "0.00",
        "支付宝",
        "y",
        "",
      ]
        .map((f) => `${f}\t`)
        .join(","),
    ),
    "#-----账务明细列表结束-----",
  ].join("\r\n");
}

function expected(ms: readonly Movement[]) {
  return ms.flatMap((m, i) =>
    m.ours ? [{ number: numberOf(m, i), amountMinor: m.amountMinor, status: m.out ? "paid" : "reversed" }] : [],
  );
}

describe("fund-flow bills, generated", () => {
  it("every movement under our number is one payout line, exact in fen; the rest are skipped", () => {
    fc.assert(
      fc.property(fc.array(movement, { maxLength: 40 }), (ms) => {
        for (const [channel, text] of [
          ["wechatpay", wechatBill(ms)],
          ["alipay", alipayBill(ms)],
        ] as const) {
          const parsed = parseStatement(channel, text, "fund_flow");
          if (!parsed.ok) throw new Error(`${channel}: ${parsed.error.line}: ${parsed.error.detail}`);
          expect(
            parsed.payouts.map((p) => ({
              number: withdrawalNumber(p.withdrawalId ?? ""),
              amountMinor: p.amountMinor,
              status: p.status,
            })),
          ).toEqual(expected(ms));
          expect(parsed.summary.skipped).toHaveLength(ms.filter((m) => !m.ours).length);
        }
      }),
    );
  });

  it("a WeChat bill with any one amount altered by one fen is refused", () => {
    fc.assert(
      fc.property(
        fc
          .array(movement, { minLength: 1, maxLength: 20 })
          .chain((ms) => fc.tuple(fc.constant(ms), fc.nat({ max: ms.length - 1 }))),
        ([ms, at]) => {
          const parsed = parseStatement("wechatpay", wechatBill(ms, at), "fund_flow");
          expect(parsed.ok).toBe(false);
          if (!parsed.ok) expect(parsed.error.detail).toMatch(/the file is truncated or altered/);
        },
      ),
    );
  });
});
