/**
 * How webhook code reaches the network: the receivers' URLs and DNS over HTTPS. The Worker uses
 * the runtime's fetch; tests put their own in (a receiver that fails half its requests, a DNS
 * that answers 10.0.0.1) with `setWebhookNetwork`, which nothing in production calls.
 */
export interface WebhookNetwork {
  /** Sends an attempt to the receiver. */
  readonly fetch: typeof fetch;
  /** Asks cloudflare-dns.com (DNS over HTTPS, JSON). */
  readonly dnsFetch: typeof fetch;
}

const runtime: WebhookNetwork = {
  fetch: (input, init) => fetch(input, init),
  dnsFetch: (input, init) => fetch(input, init),
};
let current: WebhookNetwork = runtime;

export function webhookNetwork(): WebhookNetwork {
  return current;
}

/** Tests only: replaces the network (null puts the runtime's back). */
export function setWebhookNetwork(network: WebhookNetwork | null): void {
  current = network ?? runtime;
}
