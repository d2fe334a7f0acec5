/**
 * What paying out through a real channel needs beyond the merchant credentials its payments
 * already use: one optional `payouts` block per channel inside the `PAYMENT_CHANNELS` secret.
 * A channel pays out only when its block is there, so a deployment opts in per channel and the
 * credentials are never written twice.
 *
 *   "wechatpay": { …payment credentials…,
 *     "payouts": { "encryptSerial": "PUB_KEY_ID_…", "notifyUrl": "https://api…/v1/payouts/callbacks/wechatpay",
 *                  "postType": "主播", "rewardDescription": "直播打赏分成" } }
 *   "alipay":    { …, "payouts": {} }
 *   "stripe":    { …, "payouts": { "webhookSecrets": ["whsec_…"] } }
 *
 * WeChat: `encryptSerial` names the platform key (one of `platformKeys`, an SPKI public key)
 * that encrypts `user_name` at ≥ 2,000 元; `notifyUrl` is where MCHTRANSFER.BILL.FINISHED is
 * sent; `postType` / `rewardDescription` are scene 1005's two report infos (岗位类型, 报酬说明).
 * Alipay: `alipay.fund.trans.order.changed` goes to the app's 应用网关 (set in the open
 * platform, subscribed under 消息服务), which must be /v1/payouts/callbacks/alipay; nothing new
 * is configured here. Stripe: the signing secret(s) of the webhook endpoint that receives
 * transfer.* (and Connect payout.*) events, /v1/payouts/callbacks/stripe: an endpoint of its
 * own, so its own secret.
 */
import { z } from "zod";

export const WechatPayoutSettings = z
  .object({
    encryptSerial: z.string().min(1).max(64),
    // HTTPS, no query string (WeChat's rule for notify_url).
    notifyUrl: z
      .url()
      .max(256)
      .refine((u) => u.startsWith("https://") && !u.includes("?"), "an https URL without a query"),
    postType: z.string().min(1).max(32),
    rewardDescription: z.string().min(1).max(32),
  })
  .strict();

export const AlipayPayoutSettings = z.object({}).strict();

export const StripePayoutSettings = z
  .object({ webhookSecrets: z.array(z.string().startsWith("whsec_")).min(1).max(2) })
  .strict();
