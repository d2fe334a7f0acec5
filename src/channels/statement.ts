/**
 * Daily statement files, parsed into provider-neutral lines for reconciliation
 * (src/domain/reconcile.ts): each provider's parser, run on the engine in statement-csv.ts.
 */

import { parseAlipayAccountDetail } from "./alipay/account-detail";
import { parseAlipayStatement } from "./alipay/statement";
import type { ChannelName } from "./channel";
import { parseSandboxStatement } from "./sandbox/statement";
import { readStatement, type StatementParse, type StatementParser } from "./statement-csv";
import { parseStripeStatement } from "./stripe/statement";
import { parseWechatFundFlow } from "./wechatpay/fund-flow";
import { parseWechatStatement } from "./wechatpay/statement";

const PARSERS: Readonly<Record<ChannelName, StatementParser>> = {
  sandbox: parseSandboxStatement,
  wechatpay: parseWechatStatement,
  alipay: parseAlipayStatement,
  stripe: parseStripeStatement,
};

/**
 * Which of a channel's daily files: `trade`, the statement of payments and refunds (WeChat
 * 交易账单, Alipay 业务明细, Stripe's balance report, the sandbox's file); `fund_flow`, the
 * account's money movements where WeChat 商家转账 and Alipay uni.transfer payouts appear
 * (WeChat 资金账单, Alipay 账务明细 signcustomer). A fund-flow file is reconciled for payouts
 * only: it is not the record of payments.
 */
export const STATEMENT_BILLS = ["trade", "fund_flow"] as const;
export type StatementBill = (typeof STATEMENT_BILLS)[number];

const FUND_FLOW_PARSERS: Readonly<Partial<Record<ChannelName, StatementParser>>> = {
  wechatpay: parseWechatFundFlow,
  alipay: parseAlipayAccountDetail,
};

/** Whether the channel has a fund-flow file we read (Stripe's balance report already lists transfers). */
export function hasFundFlowBill(channel: ChannelName): boolean {
  return FUND_FLOW_PARSERS[channel] !== undefined;
}

/**
 * Whether the channel's trade statement lists our payouts (transfers to creators), so that a paid
 * withdrawal it does not show is a finding. Stripe's balance report lists Connect transfers.
 * WeChat's trade bill and Alipay's 业务明细 do not list 商家转账 / uni.transfer (those are in
 * their fund-flow bills, `fund_flow`), and the sandbox's file lists payments and refunds only.
 */
const LISTS_PAYOUTS: Readonly<Record<ChannelName, boolean>> = {
  sandbox: false,
  wechatpay: false,
  alipay: false,
  stripe: true,
};

export function statementListsPayouts(channel: ChannelName): boolean {
  return LISTS_PAYOUTS[channel];
}

/**
 * The channel's statement `text` as lines, or why it is refused whole (`statement_malformed`,
 * with its line). A fund-flow bill of a channel that has none is the caller's to refuse first.
 */
export function parseStatement(channel: ChannelName, text: string, bill: StatementBill = "trade"): StatementParse {
  const parser = bill === "trade" ? PARSERS[channel] : FUND_FLOW_PARSERS[channel];
  if (!parser) throw new Error(`${channel} has no ${bill} bill parser`);
  return readStatement(channel, text, parser);
}
