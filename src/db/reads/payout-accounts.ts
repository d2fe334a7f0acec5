/**
 * Payout accounts as withdrawals read them (control `payout_accounts`). The account itself is
 * sealed (platform/sealing.ts) under the context `payoutAccountContext(id)`; its plaintext is
 * the JSON of domain/payout-account.ts `PayoutAccount`. Only the payout path opens it, to
 * address the channel; everything else shows `masked`.
 */

import type { ChannelName } from "../../channels/channel";
import type { PayoutAccount } from "../../domain/payout-account";
import { unseal } from "../../platform/sealing";

export interface PayoutAccountRow {
  id: string;
  creator_id: string;
  channel: "wechatpay" | "alipay" | "stripe" | "sandbox";
  sealed: string;
  key_id: string;
  masked: string;
  is_default: number;
  cooling_until_ms: number;
  created_at_ms: number;
  updated_at_ms: number;
  removed_at_ms: number | null;
}

export const payoutAccountContext = (accountId: string) => `payout_account:${accountId}`;

/** The creator's default, not removed, payout account. */
export function findDefaultPayoutAccount(control: D1Database, creatorId: string): Promise<PayoutAccountRow | null> {
  return control
    .prepare("SELECT * FROM payout_accounts WHERE creator_id = ? AND is_default = 1 AND removed_at_ms IS NULL")
    .bind(creatorId)
    .first<PayoutAccountRow>();
}

export function findPayoutAccount(control: D1Database, accountId: string): Promise<PayoutAccountRow | null> {
  return control.prepare("SELECT * FROM payout_accounts WHERE id = ?").bind(accountId).first<PayoutAccountRow>();
}

/** Who a payout goes to, as a channel's payout client addresses them. */
export interface Payee {
  readonly channel: ChannelName;
  /** WeChat openid, Alipay user id or logon id, Stripe `acct_…`, the sandbox id. */
  readonly payee: string;
  /** Alipay's payee name check, WeChat's ≥ 2,000 元 real name; null when the account has none. */
  readonly payeeName: string | null;
  readonly identity: "openid" | "user_id" | "logon_id" | "account" | "sandbox";
}

export function payeeOf(account: PayoutAccount): Payee {
  switch (account.channel) {
    case "wechat":
      return { channel: "wechatpay", payee: account.openid, payeeName: null, identity: "openid" };
    case "alipay":
      return { channel: "alipay", payee: account.id, payeeName: account.name, identity: account.identity };
    case "stripe":
      return { channel: "stripe", payee: account.accountId, payeeName: null, identity: "account" };
    case "sandbox":
      return { channel: "sandbox", payee: account.id, payeeName: null, identity: "sandbox" };
  }
}

/** Opens an account row for the payout path (SealingError when the keys cannot open it). */
export async function openPayee(piiKeys: string | undefined, row: PayoutAccountRow): Promise<Payee> {
  const plaintext = await unseal(piiKeys, payoutAccountContext(row.id), { sealed: row.sealed, keyId: row.key_id });
  return payeeOf(JSON.parse(plaintext) as PayoutAccount);
}
