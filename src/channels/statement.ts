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

/** The channel's statement `text` as lines, or why it is refused whole (`statement_malformed`, with its line). */
export function parseStatement(channel: ChannelName, text: string): StatementParse {
  return readStatement(channel, text, PARSERS[channel]);
}
