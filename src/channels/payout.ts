/**
 * Payouts (money out to creators) behind one interface. Each provider's payout client sends
 * a transfer under the withdrawal id as its idempotency number (WeChat `out_bill_no`, Alipay
 * `out_biz_no`, Stripe `Idempotency-Key`) and maps the answer to a provider-neutral outcome.
 *
 * `unknown` (timeout, 5xx, an answer we cannot authenticate or read) means: query, or retry
 * with the same number and the identical request; never mint a new number until a query
 * confirms the old one `failed`.
 */
import type { ChannelName, VerifyFailure } from "./channel";

export interface PayoutRequest {
  /** Our withdrawal id: the channel's idempotency number. Digits and letters, ≤ 32 chars. */
  readonly withdrawalId: string;
  readonly amountMinor: number;
  readonly currency: string;
  /** WeChat openid, Alipay user id / logon id, Stripe `acct_…`. */
  readonly payee: string;
  /** The payee's real name (WeChat ≥ 2,000 元, Alipay logon id); null when not needed. */
  readonly payeeName: string | null;
  /** Shown to the payee (WeChat `transfer_remark` ≤ 32 chars, Alipay `order_title`). */
  readonly remark: string;
}

export type PayoutOutcome =
  /** The channel took it; the result comes by callback or query. */
  | { readonly state: "accepted"; readonly providerRef: string }
  /** WeChat: the creator must confirm in WeChat with this package (valid 24 h). */
  | { readonly state: "needs_user_confirm"; readonly providerRef: string; readonly packageInfo: string }
  | { readonly state: "paid"; readonly providerRef: string }
  /** Confirmed failed (or cancelled): the money goes back and a new number may be minted. */
  | { readonly state: "failed"; readonly providerRef: string | null; readonly reason: string }
  /** Nothing definite: query (or retry with the same number), never re-mint. */
  | { readonly state: "unknown"; readonly detail: string };

export interface PayoutClient {
  readonly name: ChannelName;
  pay(request: PayoutRequest): Promise<PayoutOutcome>;
  query(withdrawalId: string): Promise<PayoutOutcome>;
}

/** A verified payout callback, provider-neutral. */
export interface PayoutNotification {
  readonly channel: ChannelName;
  /** The provider's id for this notification; the same across resends. */
  readonly eventId: string;
  readonly withdrawalId: string;
  readonly outcome: PayoutOutcome;
  /** The amount the provider reports, in minor units, to compare with the withdrawal. */
  readonly amountMinor: number | null;
}

/** A payout callback verified, or refused with a stable code (the payment callbacks' codes). */
export type PayoutVerifyOutcome =
  | { readonly ok: true; readonly notification: PayoutNotification }
  /** Verified, but about nothing a withdrawal waits for (kept and acknowledged). */
  | { readonly ok: true; readonly notification: null; readonly ignored: string }
  | { readonly ok: false; readonly failure: VerifyFailure; readonly detail: string };

/**
 * A refusal in provider-neutral terms. Only codes the provider documents as "nothing was
 * created" are `failed`; any other (new, unknown) code is `unknown`: query before re-minting.
 */
export function refusalOutcome(code: string, detail: string, definite: ReadonlySet<string>): PayoutOutcome {
  return definite.has(code)
    ? { state: "failed", providerRef: null, reason: code }
    : { state: "unknown", detail: `${code}: ${detail}`.slice(0, 300) };
}

/** Idempotency numbers are digits and letters only (WeChat `out_bill_no` rule), ≤ 32. */
export const WITHDRAWAL_ID = /^[0-9A-Za-z]{1,32}$/;
