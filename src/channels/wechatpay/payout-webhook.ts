/**
 * WeChat Pay `MCHTRANSFER.BILL.FINISHED` callback (商家转账单据终态通知), per
 * ../shared/PAYOUTS-AND-PLATFORM.md §1a: the payment-callback envelope and crypto — SHA256withRSA
 * over `Wechatpay-Timestamp\nWechatpay-Nonce\n<raw body>\n` with the platform key named by
 * `Wechatpay-Serial`, ±300 s, the `WECHATPAY/SIGNTEST/` probe refused; `resource` sealed with
 * AES-256-GCM under the APIv3 key (`original_type` / `associated_data` "mch_payment").
 * Plaintext: out_bill_no, transfer_bill_no, state (SUCCESS | FAIL | CANCELLED), mch_id,
 * transfer_amount, fail_reason?. Duplicates happen: the event id dedupes.
 */
import { z } from "zod";
import type { RawCallback, VerifyFailure } from "../channel";
import { importRsaVerifyKey, spkiFromPem } from "../encoding";
import type { PayoutVerifyOutcome } from "../payout";
import { wechatBillOutcome } from "./payout";
import { importApiV3Key, openWechatCallback } from "./webhook";

export interface WechatPayoutWebhookConfig {
  readonly mchId: string;
  readonly apiV3Key: string;
  readonly platformKeys: ReadonlyMap<string, string>;
}

export const BILL_FINISHED = "MCHTRANSFER.BILL.FINISHED";

const FinishedBill = z.object({
  out_bill_no: z.string().min(1).max(32),
  transfer_bill_no: z.string().min(1).max(64),
  state: z.enum(["SUCCESS", "FAIL", "CANCELLED"]),
  mch_id: z.string().max(32).optional(),
  mchid: z.string().max(32).optional(),
  transfer_amount: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  fail_reason: z.string().max(64).optional(),
});

function refused(failure: VerifyFailure, detail: string): PayoutVerifyOutcome {
  return { ok: false, failure, detail };
}

export function wechatPayoutWebhook(config: WechatPayoutWebhookConfig) {
  const keys = new Map<string, Promise<CryptoKey> | null>();
  const keyFor = (serial: string): Promise<CryptoKey> | null => {
    if (!keys.has(serial)) {
      const pem = config.platformKeys.get(serial);
      const spki = pem ? spkiFromPem(pem) : null;
      keys.set(serial, spki ? importRsaVerifyKey(spki) : null);
    }
    return keys.get(serial) ?? null;
  };
  const aesKey = importApiV3Key(config.apiV3Key);

  return {
    async verify(callback: RawCallback, nowMs: number): Promise<PayoutVerifyOutcome> {
      const opened = await openWechatCallback(
        callback,
        nowMs,
        async (serial) => (await keyFor(serial)) ?? `serial ${serial.slice(0, 64)}`,
        () => aesKey,
      );
      if (!opened.ok) return refused(opened.failure, opened.detail);
      const { envelope, plaintext } = opened;
      if (envelope.event_type !== BILL_FINISHED) return refused("malformed", `event_type ${envelope.event_type}`);
      let bill: z.infer<typeof FinishedBill>;
      try {
        bill = FinishedBill.parse(JSON.parse(plaintext));
      } catch {
        return refused("malformed", "bill resource");
      }
      const mch = bill.mch_id ?? bill.mchid;
      if (mch !== undefined && mch !== config.mchId) return refused("malformed", `mch_id ${mch} is not ours`);
      return {
        ok: true,
        notification: {
          channel: "wechatpay",
          eventId: envelope.id,
          withdrawalId: bill.out_bill_no,
          outcome: wechatBillOutcome(bill),
          amountMinor: bill.transfer_amount,
        },
      };
    },
    received: () => new Response(null, { status: 204 }),
    retryLater: (message: string) => Response.json({ code: "FAIL", message: message.slice(0, 200) }, { status: 500 }),
  };
}
