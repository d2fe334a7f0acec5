/**
 * DNS rebinding at webhook delivery (issue 18): every attempt looks the endpoint's name up again
 * through DNS over HTTPS, as the last step before its POST, and is refused (and logged) when the
 * name now answers a private, loopback or link-local address — a name that was public when the
 * endpoint was registered included. A resolver that cannot answer refuses the attempt too.
 */

import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emitWebhookEvents, type WebhookAttemptMessage } from "../../src/db/webhooks";
import { createLogger } from "../../src/platform/logger";
import { type AttemptDeps, attemptDelivery } from "../../src/worker/queues/webhooks";
import { setWebhookNetwork, type WebhookNetwork } from "../../src/worker/webhooks/network";
import { FakeWebhookNetwork } from "../support/webhook-network";
import { call, token } from "./helpers";

const run = crypto.randomUUID().slice(0, 8);
const fake = new FakeWebhookNetwork();
const log = createLogger({ test: "webhook-rebinding" });
/** What reached the network, in order: `dns <name> <type>` and `POST <url>`. */
const events: string[] = [];
let dnsDown = false;
const recording: WebhookNetwork = {
  dnsFetch: async (input, init) => {
    const url = new URL(String(input));
    events.push(`dns ${url.searchParams.get("name")} ${url.searchParams.get("type")}`);
    if (dnsDown) return new Response("unavailable", { status: 503 });
    return fake.dnsFetch(input, init);
  },
  fetch: async (input, init) => {
    events.push(`POST ${new Request(input, init).url}`);
    return fake.fetch(input, init);
  },
};
const deps: AttemptDeps = { ...recording, nowMs: () => Date.now(), timeoutMs: 2_000 };

beforeAll(() => setWebhookNetwork(recording));
afterAll(() => setWebhookNetwork(null));

/** A partner owning a fresh creator with one endpoint whose name resolves public at registration. */
async function registered(name: string): Promise<{ endpointId: string; creatorId: string; host: string; url: string }> {
  const admin = await token(`rb-admin-${run}`, "admin");
  const creatorId = `rb-${name}-${run}`;
  const partner = await call("POST", "/v1/admin/partners", {
    token: admin,
    body: { name, contactEmail: "dev@partner.example", creatorIds: [creatorId] },
  });
  const key = await call("POST", `/v1/admin/partners/${partner.body.id}/keys`, {
    token: admin,
    body: { name: "hooks", mode: "test", scopes: ["webhooks.manage"] },
  });
  const host = `${name}-${run}.rebind.example`;
  fake.dns.set(host, ["93.184.215.14"]);
  const url = `https://${host}/hooks`;
  const endpoint = await call("POST", "/v1/partner/webhooks/endpoints", {
    headers: { "x-api-key": key.body.key },
    body: { url, eventTypes: ["tip.created"] },
  });
  expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(201);
  return { endpointId: endpoint.body.id, creatorId, host, url };
}

async function firstAttempt(creatorId: string, eventKey: string): Promise<WebhookAttemptMessage> {
  const sent: WebhookAttemptMessage[] = [];
  const queue = {
    send: async (body: WebhookAttemptMessage) => void sent.push(body),
    sendBatch: async (batch: Iterable<{ body: WebhookAttemptMessage }>) => {
      for (const m of batch) sent.push(m.body);
    },
  } as unknown as Queue;
  await emitWebhookEvents(
    env.CONTROL,
    queue,
    [{ type: "tip.created", creatorId, eventKey, data: {}, createdAtMs: Date.now() }],
    Date.now(),
  );
  expect(sent).toHaveLength(1);
  return sent[0] as WebhookAttemptMessage;
}

async function attemptsOf(endpointId: string) {
  const { results } = await env.CONTROL.prepare(
    "SELECT attempt_no, outcome, status, error FROM webhook_attempts WHERE endpoint_id = ? ORDER BY attempt_no",
  )
    .bind(endpointId)
    .all();
  return results;
}

describe("webhook delivery and DNS rebinding", () => {
  it("refuses and logs an attempt when a name public at registration resolves private at delivery", async () => {
    const s = await registered("flip");
    let received = 0;
    fake.receivers.set(s.url, () => {
      received += 1;
      return new Response(null, { status: 204 });
    });
    let message = await firstAttempt(s.creatorId, `tip_flip_${run}`);
    events.length = 0;
    fake.dns.set(s.host, ["192.168.1.20"]);
    const refused = await attemptDelivery(env, message, deps, log);
    expect(refused.kind).toBe("next");
    if (refused.kind !== "next") throw new Error("unreachable");
    message = refused.message;
    // Looked up again (both families), and nothing was sent.
    expect(events).toEqual([`dns ${s.host} A`, `dns ${s.host} AAAA`]);
    expect(received).toBe(0);
    expect(await attemptsOf(s.endpointId)).toEqual([
      { attempt_no: 1, outcome: "refused", status: null, error: "refused: url_private_address" },
    ]);
    // Public again: the next attempt looks it up once more, right before its POST, and delivers.
    events.length = 0;
    fake.dns.set(s.host, ["93.184.215.14"]);
    expect(await attemptDelivery(env, message, deps, log)).toEqual({ kind: "settled", outcome: "succeeded" });
    expect(events).toEqual([`dns ${s.host} A`, `dns ${s.host} AAAA`, `POST ${s.url}`]);
    expect(received).toBe(1);
  });

  it("refuses an attempt whose name cannot be resolved at delivery, sending nothing", async () => {
    const s = await registered("doh-down");
    fake.receivers.set(s.url, () => {
      throw new Error("sent without a DNS check");
    });
    const message = await firstAttempt(s.creatorId, `tip_dohdown_${run}`);
    events.length = 0;
    dnsDown = true;
    try {
      expect((await attemptDelivery(env, message, deps, log)).kind).toBe("next");
    } finally {
      dnsDown = false;
    }
    expect(events.some((e) => e.startsWith("POST"))).toBe(false);
    expect(await attemptsOf(s.endpointId)).toEqual([
      { attempt_no: 1, outcome: "refused", status: null, error: "refused: url_unresolvable" },
    ]);
  });
});
