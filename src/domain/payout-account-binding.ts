import { LIMITS } from "./limits";
import { maskPayoutAccount, type PayoutAccount } from "./payout-account";

/**
 * Binding a payout account: the channel names the API and the `payout_accounts` rows use
 * (the payment channels' names) against the domain's, the masked text stored beside the sealed
 * account, and the cooling period that blocks withdrawals to an account that just became the
 * place money goes (account-takeover defence: a thief who binds their own account and makes it
 * the default must wait, while the creator gets the chance to notice).
 */

export const PAYOUT_CHANNELS = ["wechatpay", "alipay", "stripe", "sandbox"] as const;
export type PayoutChannel = (typeof PAYOUT_CHANNELS)[number];

export function payoutChannelOf(account: PayoutAccount): PayoutChannel {
  return account.channel === "wechat" ? "wechatpay" : account.channel;
}

/** What a creator and an operator see of an account: `138****5678 · *三`. */
export function maskedText(account: PayoutAccount): string {
  const m = maskPayoutAccount(account);
  return m.name === null ? m.display : `${m.display} · ${m.name}`;
}

/** Until when withdrawals to an account that became the default at `nowMs` are blocked. */
export function coolingUntilMs(nowMs: number, previousUntilMs = 0): number {
  return Math.max(previousUntilMs, nowMs + LIMITS.payoutAccountCoolingMs);
}

/** Whether an account may be paid at `nowMs`. */
export function isCooling(coolingUntil: number, nowMs: number): boolean {
  return nowMs < coolingUntil;
}
