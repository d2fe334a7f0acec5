/**
 * A fake network for the partner webhook tests (src/worker/webhooks/network.ts): DNS over HTTPS
 * answered from a table (names → addresses, as cloudflare-dns.com's JSON API would), and
 * receivers registered by URL prefix. Nothing leaves workerd.
 */
import type { WebhookNetwork } from "../../src/worker/webhooks/network";

export type Receiver = (request: Request) => Promise<Response> | Response;

export class FakeWebhookNetwork implements WebhookNetwork {
  readonly dns = new Map<string, string[]>();
  readonly receivers = new Map<string, Receiver>();
  readonly dnsQueries: string[] = [];

  readonly dnsFetch: typeof fetch = async (input) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.host !== "cloudflare-dns.com") throw new Error(`unexpected DNS request ${url}`);
    const name = url.searchParams.get("name") ?? "";
    const type = url.searchParams.get("type");
    this.dnsQueries.push(`${name} ${type}`);
    const addresses = (this.dns.get(name) ?? []).filter((a) => (type === "AAAA" ? a.includes(":") : !a.includes(":")));
    const known = this.dns.has(name);
    return Response.json({
      Status: known ? 0 : 3,
      Answer: addresses.map((data) => ({ name, type: type === "AAAA" ? 28 : 1, TTL: 60, data })),
    });
  };

  readonly fetch: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    for (const [prefix, receiver] of this.receivers) {
      if (request.url.startsWith(prefix)) {
        // As the runtime does: the caller's signal (its deadline) ends a request the receiver hangs.
        // A 3xx comes back as it is (`redirect: "manual"`): this network never follows one.
        const signal = init?.signal;
        if (!signal) return receiver(request);
        signal.throwIfAborted();
        return Promise.race([
          receiver(request),
          new Promise<never>((_, reject) =>
            signal.addEventListener("abort", () => reject(signal.reason), { once: true }),
          ),
        ]);
      }
    }
    throw new Error(`no receiver for ${request.url}`);
  };
}
