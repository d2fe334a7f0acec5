/**
 * The payout client of each channel (src/channels/payout.ts), built from the same
 * PAYMENT_CHANNELS credentials as the payment clients, once per env object. A channel without
 * credentials (or the sandbox without its simulator bound) has no client: its withdrawals wait
 * in `paying` and the sweeper keeps asking, as for a channel that does not answer.
 */
import type { ChannelName } from "../../channels/channel";
import type { PayoutClient } from "../../channels/payout";
import { sandboxPayoutClient } from "../../channels/sandbox/payout";
import { LIMITS } from "../../domain/limits";
import { channelSecrets } from "../payments/channels";
import { channelPayoutClient } from "./channel-clients";

const cache = new WeakMap<object, Map<ChannelName, PayoutClient | null>>();

export function payoutClientFor(env: Env, channel: ChannelName): PayoutClient | null {
  let clients = cache.get(env);
  if (!clients) {
    clients = new Map();
    cache.set(env, clients);
  }
  if (!clients.has(channel)) clients.set(channel, build(env, channel));
  return clients.get(channel) ?? null;
}

function build(env: Env, channel: ChannelName): PayoutClient | null {
  const secrets = channelSecrets(env);
  const deps = { now: Date.now, timeoutMs: LIMITS.channelCallTimeoutMs };
  switch (channel) {
    case "sandbox":
      return secrets.sandbox && env.SANDBOX ? sandboxPayoutClient(env.SANDBOX, secrets.sandbox, deps) : null;
    // WeChat Pay, Alipay and Stripe payouts are wired by their own piece of work.
    case "wechatpay":
    case "alipay":
    case "stripe":
      return channelPayoutClient(env, channel);
  }
}
