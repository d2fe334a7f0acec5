/**
 * The sandbox channel's payout callbacks (dev/sandbox-provider/src/payouts.ts): signed like its
 * payment callbacks (`Sandbox-Signature`, webhook.ts), `payout.succeeded` or `payout.failed`
 * for the payout number giftwire sent (the withdrawal's channel number).
 */
import { z } from "zod";
import type { RawCallback } from "../channel";
import { importHmacKey, strictUtf8, utf8Bytes } from "../encoding";
import type { PayoutOutcome, PayoutVerifyOutcome } from "../payout";
import { checkSandboxSignature } from "./webhook";

const PayoutEvent = z.object({
  id: z.string().regex(/^evt_[A-Za-z0-9]{1,64}$/),
  type: z.enum(["payout.succeeded", "payout.failed"]),
  merchant_id: z.string().min(1).max(64),
  payout_no: z.string().regex(/^[A-Za-z0-9]{1,32}$/),
  payout_id: z.string().min(1).max(64),
  amount_minor: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  currency: z.string().length(3),
  fail_reason: z.string().max(64).optional(),
});

export function sandboxPayoutWebhook(config: { readonly secret: string; readonly merchantId: string }) {
  const key = importHmacKey(utf8Bytes(config.secret), ["verify"]);
  return {
    async verify(callback: RawCallback, nowMs: number): Promise<PayoutVerifyOutcome> {
      const signed = await checkSandboxSignature(await key, callback, nowMs);
      if (!signed.ok) return signed;
      let event: z.infer<typeof PayoutEvent>;
      try {
        event = PayoutEvent.parse(JSON.parse(strictUtf8(callback.body)));
      } catch {
        return { ok: false, failure: "malformed", detail: "payout event body" };
      }
      if (event.merchant_id !== config.merchantId) {
        return { ok: false, failure: "malformed", detail: `merchant_id ${event.merchant_id} is not ours` };
      }
      const outcome: PayoutOutcome =
        event.type === "payout.succeeded"
          ? { state: "paid", providerRef: event.payout_id }
          : { state: "failed", providerRef: event.payout_id, reason: event.fail_reason ?? "failed" };
      return {
        ok: true,
        notification: {
          channel: "sandbox",
          eventId: event.id,
          withdrawalId: event.payout_no,
          outcome,
          amountMinor: event.amount_minor,
        },
      };
    },
  };
}
