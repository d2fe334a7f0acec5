/**
 * The sandbox channel's callbacks: the simulated provider (dev/sandbox-provider, a separate
 * Worker that only development and tests run) posts them to the callback route like a real
 * provider, signed the way real providers sign theirs, so the same verify-store-enqueue path
 * runs: `Sandbox-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body" keyed with the
 * simulator's signing secret>` (PAYMENT_CHANNELS.sandbox.secret here), a 300 s window, and
 * events deduplicated by id.
 */
import { z } from "zod";
import {
  type ChannelAdapter,
  type ChannelEvent,
  type RawCallback,
  refuse,
  type VerifyFailure,
  type VerifyOutcome,
} from "../channel";
import { framed, hexBytes, importHmacKey, strictUtf8, utf8Bytes } from "../encoding";

const SANDBOX_TOLERANCE_S = 300;

interface SandboxConfig {
  readonly secret: string;
  readonly merchantId: string;
}

const SandboxEvent = z.object({
  id: z.string().regex(/^evt_[A-Za-z0-9]{1,64}$/),
  type: z.enum(["payment.succeeded", "payment.failed", "payment.closed", "refund.succeeded"]),
  merchant_id: z.string().min(1).max(64),
  order_no: z.string().min(1).max(64),
  txn_id: z.string().min(1).max(64),
  amount_minor: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  currency: z.string().min(3).max(3),
  refund_id: z.string().min(1).max(64).optional(),
});
type SandboxEvent = z.infer<typeof SandboxEvent>;

export function sandbox(config: SandboxConfig): ChannelAdapter {
  const key = importHmacKey(utf8Bytes(config.secret), ["verify"]);
  return {
    name: "sandbox",
    async verify(callback: RawCallback, nowMs: number): Promise<VerifyOutcome> {
      const signed = await checkSandboxSignature(await key, callback, nowMs);
      if (!signed.ok) return refuse(signed.failure, signed.detail);
      let event: SandboxEvent;
      try {
        event = SandboxEvent.parse(JSON.parse(strictUtf8(callback.body)));
      } catch {
        return refuse("malformed", "event body");
      }
      return { ok: true, notification: { channel: "sandbox", eventId: event.id, event: eventOf(event, config) } };
    },
    ...sandboxReplies,
  };
}

/** The simulator's acknowledgements, for its payment and payout callbacks alike. */
export const sandboxReplies = {
  received: () => Response.json({ received: true }, { status: 200 }),
  retryLater: (message: string) => Response.json({ error: message.slice(0, 200) }, { status: 503 }),
};

/**
 * The simulator's signature over a callback (payments' and payouts' alike): the
 * `Sandbox-Signature` header's HMAC-SHA256 of `t.body`, within the time window.
 */
export async function checkSandboxSignature(
  key: CryptoKey,
  callback: RawCallback,
  nowMs: number,
): Promise<{ readonly ok: true } | { readonly ok: false; readonly failure: VerifyFailure; readonly detail: string }> {
  const header = callback.headers.get("sandbox-signature");
  if (!header) return { ok: false, failure: "missing_signature", detail: "Sandbox-Signature" };
  const match = /^t=([0-9]{1,12}),v1=([0-9a-f]{64})$/.exec(header);
  if (!match) return { ok: false, failure: "malformed", detail: "Sandbox-Signature" };
  const [, t, v1] = match as unknown as [string, string, string];
  if (Math.abs(nowMs / 1000 - Number(t)) > SANDBOX_TOLERANCE_S)
    return { ok: false, failure: "stale_timestamp", detail: `t=${t}` };
  const payload = framed(`${t}.`, callback.body);
  const signature = hexBytes(v1) as Uint8Array<ArrayBuffer>;
  if (!(await crypto.subtle.verify("HMAC", key, signature, payload))) {
    return { ok: false, failure: "bad_signature", detail: "HMAC-SHA256 over t.body" };
  }
  return { ok: true };
}

function eventOf(event: SandboxEvent, config: SandboxConfig): ChannelEvent {
  const merchant = [{ field: "merchant_id", expected: config.merchantId, actual: event.merchant_id }];
  if (event.type === "refund.succeeded") {
    return {
      kind: "refund",
      merchantOrderNo: event.order_no,
      providerRefundId: event.refund_id ?? event.id,
      amountMinor: event.amount_minor,
      refundedTotalMinor: null,
      currency: event.currency,
      merchant,
    };
  }
  const status =
    event.type === "payment.succeeded" ? "succeeded" : event.type === "payment.failed" ? "failed" : "closed";
  return {
    kind: "payment",
    status,
    merchantOrderNo: event.order_no,
    providerTxnId: event.txn_id,
    amountMinor: event.amount_minor,
    currency: event.currency,
    merchant,
  };
}
