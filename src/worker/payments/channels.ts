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
const ChannelSecrets = z
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

interface Enabled {
  readonly secrets: ChannelSecrets;
  readonly adapters: ReadonlyMap<ChannelName, ChannelAdapter>;
}

const cache = new WeakMap<object, Enabled>();

/** The secret parsed and the enabled channels' adapters built, once per env (keys are imported once). */
function enabled(env: Env): Enabled {
  const cached = cache.get(env);
  if (cached) return cached;
  const raw = env.PAYMENT_CHANNELS ?? "";
  const secrets = ChannelSecrets.parse(JSON.parse(raw === "" ? "{}" : raw));
  const adapters = new Map<ChannelName, ChannelAdapter>();
  if (secrets.sandbox) adapters.set("sandbox", sandbox(secrets.sandbox));
  if (secrets.wechatpay) {
    const platformKeys = new Map(Object.entries(secrets.wechatpay.platformKeys));
    adapters.set("wechatpay", wechatPay({ ...secrets.wechatpay, platformKeys }));
  }
  if (secrets.alipay) adapters.set("alipay", alipay(secrets.alipay));
  if (secrets.stripe) adapters.set("stripe", stripe(secrets.stripe));
  const built = { secrets, adapters };
  cache.set(env, built);
  return built;
}

export function channelSecrets(env: Env): ChannelSecrets {
  return enabled(env).secrets;
}

export function channels(env: Env): ReadonlyMap<ChannelName, ChannelAdapter> {
  return enabled(env).adapters;
}
