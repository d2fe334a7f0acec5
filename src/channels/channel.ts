/**
 * Payment channels behind one interface. An adapter turns a provider's raw callback (the
 * exact bytes and headers received) into a verified, provider-neutral event, or says why it
 * refused it; and answers the provider in the form it requires. Nothing here touches the
 * ledger: the queue consumer applies verified events to orders.
 */

export const CHANNELS = ["sandbox", "wechatpay", "alipay", "stripe"] as const;
export type ChannelName = (typeof CHANNELS)[number];

export function isChannel(value: string): value is ChannelName {
  return (CHANNELS as readonly string[]).includes(value);
}

/** Why a callback was refused. Each is logged with the stored raw notification. */
export const VERIFY_FAILURES = [
  "malformed", // not the provider's shape
  "missing_signature",
  "unknown_key", // a key serial we do not hold, even after reloading
  "probe_signature", // WeChat's WECHATPAY/SIGNTEST/ probe
  "weak_algorithm", // e.g. Alipay sign_type=RSA (SHA1)
  "stale_timestamp", // outside the provider's replay window
  "bad_signature",
  "decrypt_failed", // WeChat resource: wrong key, tampered ciphertext, nonce or AAD
] as const;
export type VerifyFailure = (typeof VERIFY_FAILURES)[number];

/** The provider's account our merchant credentials name, to compare with what a callback says. */
export interface MerchantCheck {
  readonly field: string;
  readonly expected: string;
  readonly actual: string | null;
}

export type PaymentStatus = "succeeded" | "failed" | "closed";

export type ChannelEvent =
  | {
      readonly kind: "payment";
      readonly status: PaymentStatus;
      readonly merchantOrderNo: string;
      /** The provider's transaction id; unique per payment, the key a credit is applied once by. */
      readonly providerTxnId: string | null;
      readonly amountMinor: number;
      readonly currency: string;
      readonly merchant: readonly MerchantCheck[];
    }
  | {
      readonly kind: "refund";
      readonly merchantOrderNo: string;
      readonly providerRefundId: string;
      /** This refund's amount, where the provider says it (WeChat, Stripe). */
      readonly amountMinor: number | null;
      /** Everything refunded on the payment so far, where the provider says it (Alipay, Stripe). */
      readonly refundedTotalMinor: number | null;
      readonly currency: string;
      readonly merchant: readonly MerchantCheck[];
    }
  /** A verified event this service does not act on (kept, acknowledged). */
  | { readonly kind: "ignored"; readonly reason: string };

export interface VerifiedNotification {
  readonly channel: ChannelName;
  /** The provider's id for this notification; the same across the provider's resends. */
  readonly eventId: string;
  readonly event: ChannelEvent;
}

export type VerifyOutcome =
  | { readonly ok: true; readonly notification: VerifiedNotification }
  | { readonly ok: false; readonly failure: VerifyFailure; readonly detail: string };

export interface RawCallback {
  readonly headers: Headers;
  /** The body exactly as received: signatures cover these bytes, never a re-serialization. */
  readonly body: Uint8Array<ArrayBuffer>;
}

export interface ChannelAdapter {
  readonly name: ChannelName;
  verify(callback: RawCallback, nowMs: number): Promise<VerifyOutcome>;
  /** The answer that tells the provider the notification was received. */
  received(): Response;
  /** The answer that asks the provider to deliver it again later. */
  retryLater(message: string): Response;
}

export function refuse(failure: VerifyFailure, detail: string): VerifyOutcome {
  return { ok: false, failure, detail };
}

export function mismatched(checks: readonly MerchantCheck[]): MerchantCheck[] {
  return checks.filter((c) => c.actual !== c.expected);
}
