import { z } from "zod";
import { alipay } from "../../channels/alipay";
import type { ChannelAdapter, ChannelName } from "../../channels/channel";
import { sandbox } from "../../channels/sandbox";
import { stripe } from "../../channels/stripe";
import { wechatPay } from "../../channels/wechatpay";

/**
 * Channel credentials live in one secret, `PAYMENT_CHANNELS` (JSON), so a deploy names
 * exactly the channels it has contracts for; a channel that is absent is disabled (orders
 * refuse it, its callback route answers 404). Parsed and validated once per env object.
 *
 *   { "sandbox":   { "secret": "…", "merchantId": "giftwire-sandbox" },
 *     "wechatpay": { "mchId": "…", "appId": "…", "apiV3Key": "<32 bytes>", "platformKeys": { "PUB_KEY_ID_…": "<PEM>" } },
 *     "alipay":    { "appId": "…", "sellerId": "2088…", "alipayPublicKey": "<PEM or base64>" },
 *     "stripe":    { "webhookSecrets": ["whsec_…"], "livemode": true } }
 */
export const ChannelSecrets = z
  .object({
    sandbox: z.object({ secret: z.string().min(16), merchantId: z.string().min(1).max(64) }).optional(),
    wechatpay: z
      .object({
        mchId: z.string().min(1).max(32),
        appId: z.string().min(1).max(32),
        apiV3Key: z.string().refine((k) => new TextEncoder().encode(k).length === 32, "the APIv3 key is 32 bytes"),
        platformKeys: z.record(z.string().min(1).max(64), z.string().min(64)),
      })
      .optional(),
    alipay: z
      .object({
        appId: z.string().min(1).max(32),
        sellerId: z.string().min(1).max(32),
        alipayPublicKey: z.string().min(64),
      })
      .optional(),
    stripe: z
      .object({ webhookSecrets: z.array(z.string().startsWith("whsec_")).min(1).max(2), livemode: z.boolean() })
      .optional(),
  })
  .strict();
export type ChannelSecrets = z.infer<typeof ChannelSecrets>;

const cache = new WeakMap<object, ReadonlyMap<ChannelName, ChannelAdapter>>();

export function channelSecrets(env: Env): ChannelSecrets {
  const raw = env.PAYMENT_CHANNELS ?? "";
  return ChannelSecrets.parse(JSON.parse(raw === "" ? "{}" : raw));
}

/** The enabled channels' adapters, built once per env (keys are imported once). */
export function channels(env: Env): ReadonlyMap<ChannelName, ChannelAdapter> {
  const cached = cache.get(env);
  if (cached) return cached;
  const s = channelSecrets(env);
  const built = new Map<ChannelName, ChannelAdapter>();
  if (s.sandbox) built.set("sandbox", sandbox(s.sandbox));
  if (s.wechatpay) {
    const keys = s.wechatpay.platformKeys;
    // Platform keys come from the secret; a rotation is a `wrangler secret put` away. The
    // adapter reloads once per unknown serial, which also picks up a redeployed secret.
    built.set("wechatpay", wechatPay({ ...s.wechatpay, loadPlatformKeys: async () => new Map(Object.entries(keys)) }));
  }
  if (s.alipay) built.set("alipay", alipay(s.alipay));
  if (s.stripe) built.set("stripe", stripe(s.stripe));
  cache.set(env, built);
  return built;
}
