/**
 * Stripe transfer and payout events, per ../shared/PAYOUTS-AND-PLATFORM.md §1c, verified with
 * the `Stripe-Signature` scheme (webhook.ts): `t=…,v1=<hex HMAC-SHA256 of "t.body">`, ±300 s,
 * any v1 under any endpoint secret. `transfer.created` → paid, `transfer.reversed` → failed;
 * Connect `payout.paid` / `payout.failed` / `payout.canceled` (the creator's own bank payout)
 * are mapped only when they name a withdrawal in `metadata.withdrawal_id`; other events are
 * verified and ignored. `livemode` must be the deployment's.
 */
import { z } from "zod";
import type { RawCallback, VerifyFailure } from "../channel";
import { importHmacKey, strictUtf8, utf8Bytes } from "../encoding";
import type { PayoutOutcome, PayoutVerifyOutcome } from "../payout";
import { stripeTransferOutcome, Transfer, withdrawalOf } from "./payout";
import { checkStripeSignature } from "./webhook";

export interface StripePayoutWebhookConfig {
  readonly webhookSecrets: readonly string[];
  readonly livemode: boolean;
}

const Event = z.object({
  id: z.string().min(1).max(255),
  type: z.string().min(1).max(128),
  livemode: z.boolean(),
  account: z.string().max(255).optional(),
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
});
const Payout = z.object({
  id: z.string().startsWith("po_").max(255),
  amount: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  failure_code: z.string().max(128).nullable().optional(),
  metadata: z.record(z.string(), z.string()),
});

function no(failure: VerifyFailure, detail: string): PayoutVerifyOutcome {
  return { ok: false, failure, detail };
}

export function stripePayoutWebhook(config: StripePayoutWebhookConfig) {
  const keys = Promise.all(config.webhookSecrets.map((s) => importHmacKey(utf8Bytes(s), ["verify"])));
  return {
    async verify(callback: RawCallback, nowMs: number): Promise<PayoutVerifyOutcome> {
      const signed = await checkStripeSignature(callback, nowMs, keys);
      if (!signed.ok) return no(signed.failure, signed.detail);
      let event: z.infer<typeof Event>;
      try {
        event = Event.parse(JSON.parse(strictUtf8(callback.body)));
      } catch {
        return no("malformed", "event body");
      }
      if (event.livemode !== config.livemode) return no("malformed", `livemode ${event.livemode}`);
      const ignored = (why: string): PayoutVerifyOutcome => ({ ok: true, notification: null, ignored: why });
      const notified = (withdrawalId: string, outcome: PayoutOutcome, amountMinor: number): PayoutVerifyOutcome => ({
        ok: true,
        notification: { channel: "stripe", eventId: event.id, withdrawalId, outcome, amountMinor },
      });
      if (
        event.type === "transfer.created" ||
        event.type === "transfer.reversed" ||
        event.type === "transfer.updated"
      ) {
        const transfer = Transfer.safeParse(event.data.object);
        if (!transfer.success) return no("malformed", `${event.type} object`);
        const withdrawalId = withdrawalOf(transfer.data);
        if (!withdrawalId) return ignored(`${transfer.data.id} names no withdrawal`);
        return notified(withdrawalId, stripeTransferOutcome(transfer.data), transfer.data.amount);
      }
      if (event.type === "payout.paid" || event.type === "payout.failed" || event.type === "payout.canceled") {
        const payout = Payout.safeParse(event.data.object);
        if (!payout.success) return no("malformed", `${event.type} object`);
        const withdrawalId = payout.data.metadata.withdrawal_id;
        if (!withdrawalId) return ignored(`${event.type} ${payout.data.id} names no withdrawal`);
        const outcome: PayoutOutcome =
          event.type === "payout.paid"
            ? { state: "paid", providerRef: payout.data.id }
            : {
                state: "failed",
                providerRef: payout.data.id,
                reason: event.type === "payout.canceled" ? "canceled" : (payout.data.failure_code ?? "failed"),
              };
        return notified(withdrawalId, outcome, payout.data.amount);
      }
      return ignored(`event type ${event.type}`);
    },
    received: () => Response.json({ received: true }, { status: 200 }),
    retryLater: (message: string) => Response.json({ error: message.slice(0, 200) }, { status: 500 }),
  };
}
