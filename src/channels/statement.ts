/**
 * Daily statement files, parsed into provider-neutral lines for reconciliation
 * (src/domain/reconcile.ts): each provider's parser, run on the engine in statement-csv.ts.
 */

import { parseAlipayStatement } from "./alipay/statement";
import type { ChannelName } from "./channel";
import { parseSandboxStatement } from "./sandbox/statement";
import { readStatement, type StatementParse, type StatementParser } from "./statement-csv";
import { parseStripeStatement } from "./stripe/statement";
import { parseWechatStatement } from "./wechatpay/statement";

const PARSERS: Readonly<Record<ChannelName, StatementParser>> = {
  sandbox: parseSandboxStatement,
  wechatpay: parseWechatStatement,
  alipay: parseAlipayStatement,
  stripe: parseStripeStatement,
};

/**
 * Whether the channel's statement lists our payouts (transfers to creators), so that a paid
 * withdrawal it does not show is a finding. Stripe's balance report lists Connect transfers.
 * WeChat's trade bill and Alipay's 业务明细 do not list 商家转账 / uni.transfer (those are in
 * their fund-flow bills, not read yet), and the sandbox's file lists payments and refunds only.
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

/** The channel's statement `text` as lines, or why it is refused whole (`statement_malformed`, with its line). */
export function parseStatement(channel: ChannelName, text: string): StatementParse {
  return readStatement(channel, text, PARSERS[channel]);
}
