/**
 * Alipay `alipay.fund.trans.order.changed` (消息服务 message to the app gateway), per
 * ../shared/PAYOUTS-AND-PLATFORM.md §1b: a form POST with msg_method, app_id, utc_timestamp,
 * version, sign_type=RSA2, sign, notify_id, charset and biz_content (JSON: out_biz_no,
 * order_id, status, trans_amount, error_code?, fail_reason?…). RSA2 over the sorted parameters
 * without `sign` and `sign_type` ("V1"); if that fails, with `sign_type` kept ("V2"). Reply
 * with the literal `success`.
 */
import { z } from "zod";
import type { RawCallback } from "../channel";
import { base64Bytes, importRsaVerifyKey, spkiFromPem, strictUtf8, utf8Bytes } from "../encoding";
import type { PayoutVerifyOutcome } from "../payout";
import { alipayTransferOutcome, yuanToFen } from "./payout";
import { alipaySigningString } from "./webhook";

export interface AlipayPayoutWebhookConfig {
  readonly appId: string;
  readonly alipayPublicKey: string;
}

export const ORDER_CHANGED = "alipay.fund.trans.order.changed";
const PARAMS_MAX = 64;
const VALUE_MAX = 4_096;

const BizContent = z.object({
  out_biz_no: z.string().min(1).max(64),
  order_id: z.string().min(1).max(64).optional(),
  status: z.string().min(1).max(32),
  trans_amount: z.string().max(20).optional(),
  error_code: z.string().max(128).optional(),
  fail_reason: z.string().max(512).optional(),
  origin_interface: z.string().max(64).optional(),
});

/** The "V2" signing string: every parameter but `sign`, sorted, `k=v&…`. */
export function alipaySigningStringV2(params: ReadonlyMap<string, string>): string {
  return [...params]
    .filter(([k]) => k !== "sign")
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

export function alipayPayoutWebhook(config: AlipayPayoutWebhookConfig) {
  const spki = spkiFromPem(config.alipayPublicKey);
  const key = spki ? importRsaVerifyKey(spki) : null;
  const no = (
    failure: Extract<PayoutVerifyOutcome, { ok: false }>["failure"],
    detail: string,
  ): PayoutVerifyOutcome => ({
    ok: false,
    failure,
    detail,
  });
  return {
    async verify(callback: RawCallback, _nowMs: number): Promise<PayoutVerifyOutcome> {
      const params = new Map<string, string>();
      try {
        for (const [k, v] of new URLSearchParams(strictUtf8(callback.body))) {
          if (params.has(k) || params.size >= PARAMS_MAX || v.length > VALUE_MAX) throw new Error("malformed");
          params.set(k, v);
        }
      } catch {
        return no("malformed", "not a form body");
      }
      const sign = params.get("sign");
      if (!sign) return no("missing_signature", "sign");
      if (params.get("sign_type") !== "RSA2") return no("weak_algorithm", `sign_type ${params.get("sign_type") ?? ""}`);
      const bytes = base64Bytes(sign);
      if (!bytes) return no("bad_signature", "sign is not base64");
      if (!key) return no("unknown_key", "alipayPublicKey is not an SPKI public key");
      const k = await key;
      const verifies = async (text: string) => crypto.subtle.verify("RSASSA-PKCS1-v1_5", k, bytes, utf8Bytes(text));
      if (!(await verifies(alipaySigningString(params))) && !(await verifies(alipaySigningStringV2(params))))
        return no("bad_signature", "SHA256withRSA over the sorted parameters");
      if (params.get("msg_method") !== ORDER_CHANGED) return no("malformed", "msg_method");
      if (params.get("app_id") !== config.appId) return no("malformed", "app_id is not ours");
      const notifyId = params.get("notify_id");
      if (!notifyId) return no("malformed", "notify_id");
      let biz: z.infer<typeof BizContent>;
      try {
        biz = BizContent.parse(JSON.parse(params.get("biz_content") ?? ""));
      } catch {
        return no("malformed", "biz_content");
      }
      const amountMinor = yuanToFen(biz.trans_amount);
      if (biz.trans_amount !== undefined && amountMinor === null) return no("malformed", "trans_amount");
      return {
        ok: true,
        notification: {
          channel: "alipay",
          eventId: notifyId,
          withdrawalId: biz.out_biz_no,
          outcome: alipayTransferOutcome(biz),
          amountMinor,
        },
      };
    },
    received: () => new Response("success", { status: 200, headers: { "content-type": "text/plain" } }),
    retryLater: (message: string) =>
      new Response(`fail: ${message.slice(0, 200)}`, { status: 200, headers: { "content-type": "text/plain" } }),
  };
}
