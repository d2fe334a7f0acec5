/**
 * The payout callback verifier of each channel, built from PAYMENT_CHANNELS once per env
 * object; the route (routes/payout-callbacks.ts) answers 404 for a channel that has none.
 */
import type { ChannelName, RawCallback } from "../../channels/channel";
import type { PayoutVerifyOutcome } from "../../channels/payout";
import { sandboxPayoutWebhook } from "../../channels/sandbox/payout-webhook";
import { channelSecrets } from "../payments/channels";
import { channelPayoutWebhook } from "./channel-clients";

export interface PayoutWebhook {
  verify(callback: RawCallback, nowMs: number): Promise<PayoutVerifyOutcome>;
  /** The acknowledgement in the provider's format. */
  received(): Response;
  /** "Deliver it again later", in the provider's format. */
  retryLater(message: string): Response;
}

const jsonReplies = {
  received: () => Response.json({ received: true }, { status: 200 }),
  retryLater: (message: string) => Response.json({ error: message.slice(0, 200) }, { status: 503 }),
};

const cache = new WeakMap<object, Map<ChannelName, PayoutWebhook | null>>();

export function payoutWebhookFor(env: Env, channel: ChannelName): PayoutWebhook | null {
  let hooks = cache.get(env);
  if (!hooks) {
    hooks = new Map();
    cache.set(env, hooks);
  }
  if (!hooks.has(channel)) hooks.set(channel, build(env, channel));
  return hooks.get(channel) ?? null;
}

function build(env: Env, channel: ChannelName): PayoutWebhook | null {
  const secrets = channelSecrets(env);
  switch (channel) {
    case "sandbox":
      return secrets.sandbox && env.SANDBOX ? { ...sandboxPayoutWebhook(secrets.sandbox), ...jsonReplies } : null;
    case "wechatpay":
    case "alipay":
    case "stripe":
      return channelPayoutWebhook(env, channel);
  }
}
