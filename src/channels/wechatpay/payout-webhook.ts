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
import { base64Bytes, framed, importRsaVerifyKey, spkiFromPem, strictUtf8 } from "../encoding";
import type { PayoutVerifyOutcome } from "../payout";
import { wechatBillOutcome } from "./payout";
import { importApiV3Key, openWechatSealed } from "./webhook";

export interface WechatPayoutWebhookConfig {
  readonly mchId: string;
  readonly apiV3Key: string;
  readonly platformKeys: ReadonlyMap<string, string>;
}

const WINDOW_S = 300;
export const BILL_FINISHED = "MCHTRANSFER.BILL.FINISHED";

const Envelope = z.object({
  id: z.string().min(1).max(64),
  event_type: z.string().min(1).max(64),
  resource_type: z.literal("encrypt-resource"),
  resource: z.object({
    algorithm: z.literal("AEAD_AES_256_GCM"),
    original_type: z.string().max(32),
    ciphertext: z.string().min(1).max(16_384),
    associated_data: z.string().max(256).optional().default(""),
    nonce: z.string().length(12),
  }),
});

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
      const h = callback.headers;
      const timestamp = h.get("wechatpay-timestamp");
      const nonce = h.get("wechatpay-nonce");
      const signature = h.get("wechatpay-signature");
      const serial = h.get("wechatpay-serial");
      if (!timestamp || !nonce || !signature || !serial) return refused("missing_signature", "Wechatpay-* headers");
      const type = h.get("wechatpay-signature-type");
      if (type !== null && type !== "WECHATPAY2-SHA256-RSA2048") return refused("weak_algorithm", `type ${type}`);
      if (signature.startsWith("WECHATPAY/SIGNTEST/")) return refused("probe_signature", "WECHATPAY/SIGNTEST/ probe");
      if (!/^[0-9]{1,12}$/.test(timestamp)) return refused("malformed", "Wechatpay-Timestamp");
      if (Math.abs(nowMs / 1000 - Number(timestamp)) > WINDOW_S) return refused("stale_timestamp", timestamp);
      const key = keyFor(serial);
      if (!key) return refused("unknown_key", `serial ${serial.slice(0, 64)}`);
      const bytes = base64Bytes(signature);
      if (!bytes) return refused("bad_signature", "signature is not base64");
      const message = framed(`${timestamp}\n${nonce}\n`, callback.body, "\n");
      if (!(await crypto.subtle.verify("RSASSA-PKCS1-v1_5", await key, bytes, message)))
        return refused("bad_signature", "SHA256withRSA over timestamp, nonce and body");
      let envelope: z.infer<typeof Envelope>;
      try {
        envelope = Envelope.parse(JSON.parse(strictUtf8(callback.body)));
      } catch {
        return refused("malformed", "notification body");
      }
      if (envelope.event_type !== BILL_FINISHED) return refused("malformed", `event_type ${envelope.event_type}`);
      const plaintext = await openWechatSealed(await aesKey, envelope.resource);
      if (plaintext === null) return refused("decrypt_failed", "AES-256-GCM: not authentic");
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
