import { z } from "zod";
import { alipayClient } from "../../channels/alipay/api";
import { alipay } from "../../channels/alipay/webhook";
import type { ChannelAdapter, ChannelName } from "../../channels/channel";
import type { ChannelClient } from "../../channels/client";
import { sandboxClient } from "../../channels/sandbox/api";
import { sandbox } from "../../channels/sandbox/webhook";
import { stripeClient } from "../../channels/stripe/api";
import { stripe } from "../../channels/stripe/webhook";
import { type WechatPayClient, wechatPayClient } from "../../channels/wechatpay/api";
import { isPublicKeyId, wechatPay } from "../../channels/wechatpay/webhook";
import { LIMITS } from "../../domain/limits";
import { configFrom } from "../../platform/config";
import { AlipayPayoutSettings, StripePayoutSettings, WechatPayoutSettings } from "../payouts/channel-config";

/**
 * Channel credentials live in one secret, `PAYMENT_CHANNELS` (JSON), so a deploy names
 * exactly the channels it has contracts for; a channel that is absent is disabled (orders
 * refuse it, its callback route answers 404). Parsed and validated once per env object.
 *
 *   { "sandbox":   { "secret": "…", "merchantId": "giftwire-sandbox" },
 *     "wechatpay": { "mchId": "…", "appId": "…", "apiV3Key": "<32 bytes>", "platformKeys": { "PUB_KEY_ID_…": "<PEM>" },
 *                    "merchantSerial": "…", "merchantPrivateKey": "<PKCS#8 PEM>" },
 *     "alipay":    { "appId": "…", "sellerId": "2088…", "alipayPublicKey": "<PEM or base64>", "appPrivateKey": "<PKCS#8>" },
 *     "stripe":    { "webhookSecrets": ["whsec_…"], "livemode": true, "secretKey": "sk_live_…" } }
 *
 * `apiBase` / `gateway` point a channel at another endpoint (a provider's sandbox, a test double).
 * A channel's optional `payouts` block makes it pay creators out too, with the same credentials
 * (src/worker/payouts/channel-config.ts says what each needs).
 *
 * The sandbox channel also needs its provider, the simulator Worker, bound as `SANDBOX`: only
 * the development and test configurations bind it, so in production the channel does not
 * exist (no client, no callback adapter) even if PAYMENT_CHANNELS names it.
 */
const ChannelSecrets = z
  .object({
    sandbox: z
      .object({
        // The simulator's signing secret (its SIGNING_SECRET), which is also our API key there.
        secret: z.string().min(16),
        merchantId: z.string().min(1).max(64),
      })
      .optional(),
    wechatpay: z
      .object({
        mchId: z.string().min(1).max(32),
        appId: z.string().min(1).max(32),
        apiV3Key: z.string().refine((k) => new TextEncoder().encode(k).length === 32, "the APIv3 key is 32 bytes"),
        platformKeys: z.record(z.string().min(1).max(64), z.string().min(64)),
        // Outbound API calls: the merchant API certificate's serial and private key (PKCS#8).
        merchantSerial: z.string().min(1).max(64),
        merchantPrivateKey: z.string().min(64),
        apiBase: z.url().optional(),
        // Payouts (商家转账) through this merchant: worker/payouts/channel-config.ts.
        payouts: WechatPayoutSettings.optional(),
      })
      .optional(),
    alipay: z
      .object({
        appId: z.string().min(1).max(32),
        sellerId: z.string().min(1).max(32),
        alipayPublicKey: z.string().min(64),
        // Outbound API calls are signed with the app's private key (PKCS#8).
        appPrivateKey: z.string().min(64),
        gateway: z.url().optional(),
        payouts: AlipayPayoutSettings.optional(),
      })
      .optional(),
    stripe: z
      .object({
        webhookSecrets: z.array(z.string().startsWith("whsec_")).min(1).max(2),
        livemode: z.boolean(),
        secretKey: z.string().regex(/^(sk|rk)_(test|live)_[A-Za-z0-9]{8,}$/),
        apiBase: z.url().optional(),
        payouts: StripePayoutSettings.optional(),
      })
      .optional(),
  })
  .strict();
export type ChannelSecrets = z.infer<typeof ChannelSecrets>;

interface Enabled {
  readonly adapters: ReadonlyMap<ChannelName, ChannelAdapter>;
  readonly clients: ReadonlyMap<ChannelName, ChannelClient>;
}

const cache = new WeakMap<object, Enabled>();

/** The secret parsed and the enabled channels' adapters built, once per env (keys are imported once). */
function enabled(env: Env): Enabled {
  const cached = cache.get(env);
  if (cached) return cached;
  const raw = env.PAYMENT_CHANNELS ?? "";
  const secrets = ChannelSecrets.parse(JSON.parse(raw === "" ? "{}" : raw));
  const deps = {
    fetch: (input: RequestInfo | URL, init?: RequestInit) => fetch(input, init),
    now: Date.now,
    timeoutMs: LIMITS.channelCallTimeoutMs,
  };
  const adapters = new Map<ChannelName, ChannelAdapter>();
  // The sandbox needs its provider bound as SANDBOX, which only the dev and test configurations
  // do: in production the channel has no adapter and no client, whatever the secret says.
  const sandboxApi = secrets.sandbox && env.SANDBOX ? sandboxClient(env.SANDBOX, secrets.sandbox, deps) : null;
  if (secrets.sandbox && sandboxApi) adapters.set("sandbox", sandbox(secrets.sandbox));
  let wechatClient: WechatPayClient | null = null;
  if (secrets.wechatpay) {
    const platformKeys = new Map(Object.entries(secrets.wechatpay.platformKeys));
    const client = wechatPayClient({ ...secrets.wechatpay, platformKeys }, deps);
    wechatClient = client;
    // Certificate mode (any certificate serial configured, or none at all): a callback under a
    // serial not held downloads WeChat's current certificates. Public key mode has nothing to download.
    const certificateMode = platformKeys.size === 0 || [...platformKeys.keys()].some((id) => !isPublicKeyId(id));
    const reloadKeys = certificateMode ? () => client.downloadPlatformCertificates() : undefined;
    adapters.set("wechatpay", wechatPay({ ...secrets.wechatpay, platformKeys, reloadKeys }));
  }
  if (secrets.alipay) adapters.set("alipay", alipay(secrets.alipay));
  if (secrets.stripe) adapters.set("stripe", stripe(secrets.stripe));

  const clients = new Map<ChannelName, ChannelClient>();
  if (sandboxApi) clients.set("sandbox", sandboxApi);
  if (wechatClient) clients.set("wechatpay", wechatClient);
  if (secrets.alipay) clients.set("alipay", alipayClient(secrets.alipay, deps));
  // Stripe's report covers an interval of instants: the business day's, in the business zone.
  const statementTimeZone = configFrom(env).businessTimeZone;
  if (secrets.stripe) clients.set("stripe", stripeClient({ ...secrets.stripe, statementTimeZone }, deps));
  const built = { adapters, clients };
  cache.set(env, built);
  return built;
}

/** The parsed `PAYMENT_CHANNELS` secret (payouts build their clients from the same credentials). */
export function channelSecrets(env: Env): ChannelSecrets {
  const cached = secretsCache.get(env);
  if (cached) return cached;
  const raw = env.PAYMENT_CHANNELS ?? "";
  const secrets = ChannelSecrets.parse(JSON.parse(raw === "" ? "{}" : raw));
  secretsCache.set(env, secrets);
  return secrets;
}

const secretsCache = new WeakMap<object, ChannelSecrets>();

export function channels(env: Env): ReadonlyMap<ChannelName, ChannelAdapter> {
  return enabled(env).adapters;
}

/** The enabled channels' outbound API clients. */
export function channelClients(env: Env): ReadonlyMap<ChannelName, ChannelClient> {
  return enabled(env).clients;
}
