/**
 * Every channel's payout client and payout callback verifier, built from the `PAYMENT_CHANNELS`
 * secret once per env object (keys are imported once): WeChat Pay 商家转账, Alipay
 * uni.transfer and Stripe Connect transfers reuse the channel's payment credentials plus its
 * `payouts` block (channel-config.ts), without which the channel does not pay out; the sandbox
 * pays out through its simulator's service binding. A channel without a client makes its
 * withdrawals wait in `paying` while the sweeper keeps asking; one without a verifier answers
 * its callbacks 404 (routes/payout-callbacks.ts).
 */
import { alipayPayoutClient } from "../../channels/alipay/payout";
import { alipayPayoutWebhook } from "../../channels/alipay/payout-webhook";
import type { ChannelAdapter, ChannelName, RawCallback } from "../../channels/channel";
import type { ClientDeps } from "../../channels/client";
import type { PayoutClient, PayoutVerifyOutcome } from "../../channels/payout";
import { sandboxPayoutClient } from "../../channels/sandbox/payout";
import { sandboxPayoutWebhook } from "../../channels/sandbox/payout-webhook";
import { sandboxReplies } from "../../channels/sandbox/webhook";
import { stripePayoutClient } from "../../channels/stripe/payout";
import { stripePayoutWebhook } from "../../channels/stripe/payout-webhook";
import { wechatPayoutClient } from "../../channels/wechatpay/payout";
import { wechatPayoutWebhook } from "../../channels/wechatpay/payout-webhook";
import { LIMITS } from "../../domain/limits";
import { channelSecrets } from "../payments/channels";

/** A payout callback verifier, answering in the provider's formats as a payment adapter does. */
export interface PayoutWebhook extends Pick<ChannelAdapter, "received" | "retryLater"> {
  verify(callback: RawCallback, nowMs: number): Promise<PayoutVerifyOutcome>;
}

interface Built {
  readonly clients: ReadonlyMap<ChannelName, PayoutClient>;
  readonly webhooks: ReadonlyMap<ChannelName, PayoutWebhook>;
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
  const clients = new Map<ChannelName, PayoutClient>();
  const webhooks = new Map<ChannelName, PayoutWebhook>();

  if (secrets.sandbox && env.SANDBOX) {
    clients.set("sandbox", sandboxPayoutClient(env.SANDBOX, secrets.sandbox, deps));
    webhooks.set("sandbox", { ...sandboxPayoutWebhook(secrets.sandbox), ...sandboxReplies });
  }
  const wechat = secrets.wechatpay;
  if (wechat?.payouts) {
    const platformKeys = new Map(Object.entries(wechat.platformKeys));
    clients.set("wechatpay", wechatPayoutClient({ ...wechat, ...wechat.payouts, platformKeys }, deps));
    webhooks.set("wechatpay", wechatPayoutWebhook({ ...wechat, platformKeys }));
  }
  const alipay = secrets.alipay;
  if (alipay?.payouts) {
    clients.set("alipay", alipayPayoutClient(alipay, deps));
    webhooks.set("alipay", alipayPayoutWebhook(alipay));
  }
  const stripe = secrets.stripe;
  if (stripe?.payouts) {
    clients.set("stripe", stripePayoutClient(stripe, deps));
    webhooks.set(
      "stripe",
      stripePayoutWebhook({ webhookSecrets: stripe.payouts.webhookSecrets, livemode: stripe.livemode }),
    );
  }
  const result = { clients, webhooks };
  cache.set(env, result);
  return result;
}

/** The channel's payout client, or null when the deployment does not pay out through it. */
export function payoutClientFor(env: Env, channel: ChannelName): PayoutClient | null {
  return built(env).clients.get(channel) ?? null;
}

/** The channel's payout callback verifier, or null when it does not pay out through it. */
export function payoutWebhookFor(env: Env, channel: ChannelName): PayoutWebhook | null {
  return built(env).webhooks.get(channel) ?? null;
}
