/**
 * Payment channels behind one interface. An adapter turns a provider's raw callback (the
 * exact bytes and headers received) into a verified, provider-neutral event, or says why it
 * refused it; and answers the provider in the form it requires. Nothing here touches the
 * ledger: the queue consumer applies verified events to orders.
 */
import { z } from "zod";

export const CHANNELS = ["sandbox", "wechatpay", "alipay", "stripe"] as const;
export type ChannelName = (typeof CHANNELS)[number];

export function isChannel(value: string): value is ChannelName {
  return (CHANNELS as readonly string[]).includes(value);
}

/** Why a callback was refused. Each is logged with the stored raw notification. */
const VERIFY_FAILURES = [
  "malformed", // not the provider's shape
  "missing_signature",
  "unknown_key", // a key serial this deployment does not hold
  "probe_signature", // WeChat's WECHATPAY/SIGNTEST/ probe
  "weak_algorithm", // e.g. Alipay sign_type=RSA (SHA1)
  "stale_timestamp", // outside the provider's replay window
  "bad_signature",
  "decrypt_failed", // WeChat resource: wrong key, tampered ciphertext, nonce or AAD
] as const;
export type VerifyFailure = (typeof VERIFY_FAILURES)[number];

const MerchantCheck = z.object({ field: z.string(), expected: z.string(), actual: z.string().nullable() });
/**
 * The provider's account our merchant credentials name, to compare with what a callback says
 * (judged in domain/payment-report.ts, whose `MerchantCheck` this schema produces).
 */
export type MerchantCheck = z.infer<typeof MerchantCheck>;

/** Amounts as providers report them: integers, bounded only by exactness (the order bounds the credit). */
const ReportedMinor = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/**
 * What a verified callback says, provider-neutral. Also the schema of the payment-callback
 * queue message, so the consumer parses exactly what the adapters produce.
 */
export const ChannelEventSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("payment"),
    status: z.enum(["succeeded", "failed", "closed"]),
    merchantOrderNo: z.string().min(1).max(64),
    /** The provider's transaction id; unique per payment. */
    providerTxnId: z.string().min(1).max(255).nullable(),
    amountMinor: ReportedMinor,
    currency: z.string().min(3).max(3),
    merchant: z.array(MerchantCheck).max(4).readonly(),
  }),
  z.object({
    kind: z.literal("refund"),
    merchantOrderNo: z.string().min(1).max(64),
    providerRefundId: z.string().min(1).max(255),
    /** This refund's amount, where the provider says it (WeChat, sandbox). */
    amountMinor: ReportedMinor.nullable(),
    /** Everything refunded on the payment so far, where the provider says it (Alipay, Stripe). */
    refundedTotalMinor: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).nullable(),
    currency: z.string().min(3).max(3),
    merchant: z.array(MerchantCheck).max(4).readonly(),
  }),
  /** A verified event this service does not act on (kept, acknowledged). */
  z.object({ kind: z.literal("ignored"), reason: z.string().max(256) }),
]);
export type ChannelEvent = z.infer<typeof ChannelEventSchema>;

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
