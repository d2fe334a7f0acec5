/**
 * Stripe webhooks.
 *
 * Per Stripe's "Verify webhook signatures" (see shared/PAYMENT-CHANNELS.md):
 * `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`; the signed payload is
 * `t + "." + <raw body>`; the expected signature is hex HMAC-SHA256 keyed with the UTF-8
 * bytes of the whole `whsec_…` secret. Accept when any v1 matches (several appear while a
 * secret rolls; other schemes such as v0 are ignored) and |now − t| ≤ 300 s. HMAC verify is
 * constant time. Each retry has a new `t` and signature, so events dedupe on `event.id`.
 * Answer 2xx quickly; anything else is retried for up to 3 days.
 */

import { z } from "zod";
import {
  type ChannelAdapter,
  type ChannelEvent,
  type MerchantCheck,
  type RawCallback,
  refuse,
  type VerifyFailure,
  type VerifyOutcome,
} from "../channel";
import { framed, hexBytes, importHmacKey, strictUtf8, utf8Bytes } from "../encoding";

const STRIPE_TOLERANCE_S = 300;

export interface StripeConfig {
  /** Endpoint secrets (`whsec_…`); two while rolling one over. */
  readonly webhookSecrets: readonly string[];
  readonly livemode: boolean;
}

const Event = z.object({
  id: z.string().min(1).max(255),
  type: z.string().min(1).max(128),
  livemode: z.boolean(),
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
});

const PaymentIntent = z.object({
  id: z.string().min(1).max(255),
  amount: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  amount_received: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  currency: z.string().min(3).max(3),
  metadata: z.object({ order_no: z.string().min(1).max(64) }),
});

const Charge = z.object({
  id: z.string().min(1).max(255),
  payment_intent: z.string().min(1).max(255).nullable(),
  amount_refunded: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  currency: z.string().min(3).max(3),
  metadata: z.object({ order_no: z.string().min(1).max(64) }),
});

/** A Stripe-Signature that checks out (t within the window, a v1 HMAC over `t.body` under a secret), or why not. */
export type StripeSignatureCheck =
  | { readonly ok: true }
  | { readonly ok: false; readonly failure: VerifyFailure; readonly detail: string };

/**
 * The check every Stripe webhook gets (payments and payouts alike): `t` and every `v1` from
 * Stripe-Signature, ±300 s, and one `v1` matching HMAC-SHA256 over `t.body` under any of the
 * endpoint's secrets (several while rolling).
 */
export async function checkStripeSignature(
  callback: RawCallback,
  nowMs: number,
  keys: Promise<readonly CryptoKey[]>,
): Promise<StripeSignatureCheck> {
  const refused = (failure: VerifyFailure, detail: string) => ({ ok: false, failure, detail }) as const;
  const header = callback.headers.get("stripe-signature");
  if (!header) return refused("missing_signature", "Stripe-Signature");
  const parsed = parseStripeSignature(header);
  if (!parsed || !/^[0-9]{1,12}$/.test(parsed.t)) return refused("malformed", "Stripe-Signature has no t");
  if (parsed.v1.length === 0) return refused("missing_signature", "no v1 signature (other schemes are ignored)");
  if (Math.abs(nowMs / 1000 - Number(parsed.t)) > STRIPE_TOLERANCE_S) {
    return refused("stale_timestamp", `t=${parsed.t}`);
  }
  const payload = framed(`${parsed.t}.`, callback.body);
  for (const candidate of parsed.v1) {
    const bytes = hexBytes(candidate);
    if (bytes?.length !== 32) continue;
    for (const key of await keys) {
      if (await crypto.subtle.verify("HMAC", key, bytes, payload)) return { ok: true };
    }
  }
  return refused("bad_signature", "no v1 signature matches");
}

function parseStripeSignature(header: string): { t: string; v1: string[] } | null {
  let t: string | null = null;
  const v1: string[] = [];
  for (const part of header.split(",").slice(0, 16)) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (k === "t") t = v;
    else if (k === "v1") v1.push(v);
  }
  return t === null ? null : { t, v1 };
}

export function stripe(config: StripeConfig): ChannelAdapter {
  const keys = Promise.all(config.webhookSecrets.map((s) => importHmacKey(utf8Bytes(s), ["verify"])));
  return {
    name: "stripe",
    async verify(callback: RawCallback, nowMs: number): Promise<VerifyOutcome> {
      const signed = await checkStripeSignature(callback, nowMs, keys);
      if (!signed.ok) return refuse(signed.failure, signed.detail);

      let event: z.infer<typeof Event>;
      try {
        event = Event.parse(JSON.parse(strictUtf8(callback.body)));
      } catch {
        return refuse("malformed", "event body");
      }
      const merchant: MerchantCheck[] = [
        { field: "livemode", expected: String(config.livemode), actual: String(event.livemode) },
      ];
      const mapped = eventOf(event, merchant);
      if (!mapped) return refuse("malformed", `${event.type} object`);
      return { ok: true, notification: { channel: "stripe", eventId: event.id, event: mapped } };
    },
    received: () => Response.json({ received: true }, { status: 200 }),
    retryLater: (message) => Response.json({ error: message.slice(0, 200) }, { status: 500 }),
  };
}

const PAYMENT_STATUS: Record<string, "succeeded" | "failed" | "closed"> = {
  "payment_intent.succeeded": "succeeded",
  "payment_intent.payment_failed": "failed",
  "payment_intent.canceled": "closed",
};

function eventOf(event: z.infer<typeof Event>, merchant: MerchantCheck[]): ChannelEvent | null {
  const status = PAYMENT_STATUS[event.type];
  if (status) {
    const pi = PaymentIntent.safeParse(event.data.object);
    if (!pi.success) return null;
    return {
      kind: "payment",
      status,
      merchantOrderNo: pi.data.metadata.order_no,
      providerTxnId: pi.data.id,
      amountMinor: status === "succeeded" ? (pi.data.amount_received ?? pi.data.amount) : pi.data.amount,
      currency: pi.data.currency.toUpperCase(),
      merchant,
    };
  }
  if (event.type === "charge.refunded") {
    const charge = Charge.safeParse(event.data.object);
    if (!charge.success) return null;
    return {
      kind: "refund",
      merchantOrderNo: charge.data.metadata.order_no,
      providerRefundId: `${charge.data.id}:${charge.data.amount_refunded}`,
      amountMinor: null,
      refundedTotalMinor: charge.data.amount_refunded,
      currency: charge.data.currency.toUpperCase(),
      merchant,
    };
  }
  return { kind: "ignored", reason: `event type ${event.type.slice(0, 64)}` };
}
