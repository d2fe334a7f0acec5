/**
 * The real payout channels (WeChat Pay 商家转账, Alipay uni.transfer, Stripe Connect transfers)
 * built from the `PAYMENT_CHANNELS` secret: the payment credentials, plus the channel's
 * `payouts` block (channel-config.ts), without which the channel does not pay out. Each client
 * and callback verifier is built once per env object, so keys are imported once.
 */
import { alipayPayoutClient } from "../../channels/alipay/payout";
import { alipayPayoutWebhook } from "../../channels/alipay/payout-webhook";
import type { RawCallback } from "../../channels/channel";
import type { ClientDeps } from "../../channels/client";
import type { PayoutClient, PayoutVerifyOutcome } from "../../channels/payout";
import { stripePayoutClient } from "../../channels/stripe/payout";
import { stripePayoutWebhook } from "../../channels/stripe/payout-webhook";
import { wechatPayoutClient } from "../../channels/wechatpay/payout";
import { wechatPayoutWebhook } from "../../channels/wechatpay/payout-webhook";
import { LIMITS } from "../../domain/limits";
import { channelSecrets } from "../payments/channels";

export const PAYOUT_CHANNELS = ["wechatpay", "alipay", "stripe"] as const;
export type PayoutChannel = (typeof PAYOUT_CHANNELS)[number];

export function isPayoutChannel(value: string): value is PayoutChannel {
  return (PAYOUT_CHANNELS as readonly string[]).includes(value);
}

/** A payout callback verifier and the provider's own acknowledgement formats. */
export interface PayoutWebhook {
  readonly channel: PayoutChannel;
  verify(callback: RawCallback, nowMs: number): Promise<PayoutVerifyOutcome>;
  received(): Response;
  retryLater(message: string): Response;
}

interface Built {
  readonly clients: ReadonlyMap<PayoutChannel, PayoutClient>;
  readonly webhooks: ReadonlyMap<PayoutChannel, PayoutWebhook>;
}

const cache = new WeakMap<object, Built>();

function built(env: Env): Built {
  const cached = cache.get(env);
  if (cached) return cached;
  const secrets = channelSecrets(env);
  const deps: ClientDeps = {
    fetch: (input: RequestInfo | URL, init?: RequestInit) => fetch(input, init),
    now: Date.now,
    timeoutMs: LIMITS.channelCallTimeoutMs,
  };
  const clients = new Map<PayoutChannel, PayoutClient>();
  const webhooks = new Map<PayoutChannel, PayoutWebhook>();

  const wechat = secrets.wechatpay;
  if (wechat?.payouts) {
    const platformKeys = new Map(Object.entries(wechat.platformKeys));
    const client = wechatPayoutClient({ ...wechat, ...wechat.payouts, platformKeys }, deps);
    clients.set("wechatpay", client);
    webhooks.set("wechatpay", { channel: "wechatpay", ...wechatPayoutWebhook({ ...wechat, platformKeys }) });
  }
  const alipay = secrets.alipay;
  if (alipay?.payouts) {
    clients.set("alipay", alipayPayoutClient(alipay, deps));
    webhooks.set("alipay", { channel: "alipay", ...alipayPayoutWebhook(alipay) });
  }
  const stripe = secrets.stripe;
  if (stripe?.payouts) {
    clients.set("stripe", stripePayoutClient(stripe, deps));
    webhooks.set("stripe", {
      channel: "stripe",
      ...stripePayoutWebhook({ webhookSecrets: stripe.payouts.webhookSecrets, livemode: stripe.livemode }),
    });
  }
  const result = { clients, webhooks };
  cache.set(env, result);
  return result;
}

/** The channel's payout client, or null when the deployment does not pay out through it. */
export function channelPayoutClient(env: Env, channel: PayoutChannel): PayoutClient | null {
  return built(env).clients.get(channel) ?? null;
}

/** The channel's payout callback verifier, or null when it does not pay out through it. */
export function channelPayoutWebhook(env: Env, channel: PayoutChannel): PayoutWebhook | null {
  return built(env).webhooks.get(channel) ?? null;
}
