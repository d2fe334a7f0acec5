import { z } from "zod";
import { checkWebhookUrl, judgeResolved, type UrlRefusal, type UrlRules } from "../../domain/webhooks";

/**
 * Whether a webhook URL may be called (SSRF guard; issue 18): the URL's own rules
 * (domain/webhooks.ts), then its host's A and AAAA records through DNS over HTTPS
 * (cloudflare-dns.com's JSON API), refused when any answer is not a public address. Run at
 * registration and again before every attempt, so a name re-pointed at a private address after
 * registration is refused at delivery. The attempt itself never follows a redirect.
 *
 * `fetcher` is injectable: the tests answer DNS themselves.
 */

const DOH_URL = "https://cloudflare-dns.com/dns-query";
const DOH_TIMEOUT_MS = 5_000;

const DohAnswer = z.object({
  Status: z.number().int(),
  Answer: z.array(z.object({ type: z.number().int(), data: z.string() })).optional(),
});

/** The A (1) and AAAA (28) addresses of `host`; CNAMEs are followed by the resolver. */
export async function resolveHost(host: string, fetcher: typeof fetch): Promise<string[] | null> {
  const answers = await Promise.all(
    (["A", "AAAA"] as const).map(async (type) => {
      const res = await fetcher(`${DOH_URL}?name=${encodeURIComponent(host)}&type=${type}`, {
        headers: { accept: "application/dns-json" },
        signal: AbortSignal.timeout(DOH_TIMEOUT_MS),
      });
      if (!res.ok) return null;
      const parsed = DohAnswer.safeParse(await res.json());
      if (!parsed.success) return null;
      // NOERROR with answers, or NXDOMAIN / no records (then nothing of this type).
      return (parsed.data.Answer ?? []).filter((a) => a.type === 1 || a.type === 28).map((a) => a.data);
    }),
  );
  if (answers.some((a) => a === null)) return null;
  return answers.flatMap((a) => a ?? []);
}

export type UrlVerdict = { ok: true } | { ok: false; reason: UrlRefusal };

export async function vetWebhookUrl(url: string, rules: UrlRules, fetcher: typeof fetch): Promise<UrlVerdict> {
  const checked = checkWebhookUrl(url, rules);
  if (typeof checked === "string") return { ok: false, reason: checked };
  // Loopback allowed (development): localhost names are not looked up in public DNS.
  if (checked.loopback) return { ok: true };
  let addresses: string[] | null;
  try {
    addresses = await resolveHost(checked.host, fetcher);
  } catch {
    addresses = null;
  }
  if (addresses === null) return { ok: false, reason: "url_unresolvable" };
  const verdict = judgeResolved(addresses, rules);
  return verdict === "ok" ? { ok: true } : { ok: false, reason: verdict };
}
