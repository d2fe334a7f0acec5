/**
 * Outbound partner webhooks (issue 18), proved in workerd:
 * - 1,000 events to an endpoint that fails about half its requests (500s, redirects, timeouts):
 *   every message delivered, each `webhook-id` accepted once by the receiver, which verifies
 *   every delivery with the independent `standardwebhooks` package; the attempt log complete;
 *   each retry waits exactly the schedule's delay (the test re-delivers due messages at once
 *   instead of waiting hours).
 * - SSRF at delivery: a name re-pointed at a private address, a redirect to the metadata address.
 * - 410 disables the endpoint; failing for 5 days disables it and tells the partner.
 * - Replay of one message through the API, delivered by the real WEBHOOKS queue consumer.
 * - A room going live reaches a subscribed partner as `room.live`.
 */

import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emitWebhookEvents, type WebhookAttemptMessage } from "../../src/db/webhooks";
import { WEBHOOK_DISABLE_AFTER_MS, WEBHOOK_RETRY_SCHEDULE_S } from "../../src/domain/webhooks";
import { createLogger } from "../../src/platform/logger";
import { type AttemptDeps, attemptDelivery } from "../../src/worker/queues/webhooks";
import { setWebhookNetwork } from "../../src/worker/webhooks/network";
import { FakeWebhookNetwork } from "../support/webhook-network";
import { call, openRoom, token, until } from "./helpers";

const run = crypto.randomUUID().slice(0, 8);
const network = new FakeWebhookNetwork();
const log = createLogger({ test: "webhooks" });

beforeAll(() => setWebhookNetwork(network));
afterAll(() => setWebhookNetwork(null));

interface Setup {
  partnerId: string;
  key: string;
  creatorId: string;
  endpointId: string;
  secret: string;
  url: string;
}

/** A partner owning a fresh creator, with a webhooks.manage key and one endpoint on its own host. */
async function setup(name: string, eventTypes: string[] = ["tip.created"]): Promise<Setup> {
  const admin = await token(`wh-admin-${run}`, "admin");
  const creatorId = `wh-${name}-${run}`;
  const partner = await call("POST", "/v1/admin/partners", {
    token: admin,
    body: { name, contactEmail: "dev@partner.example", creatorIds: [creatorId] },
  });
  const key = await call("POST", `/v1/admin/partners/${partner.body.id}/keys`, {
    token: admin,
    body: { name: "hooks", mode: "test", scopes: ["webhooks.manage"] },
  });
  const host = `${name}-${run}.partner.example`;
  network.dns.set(host, ["93.184.215.14", "2606:4700:4700::1111"]);
  const url = `https://${host}/giftwire`;
  const endpoint = await call("POST", "/v1/partner/webhooks/endpoints", {
    headers: { "x-api-key": key.body.key },
    body: { url, eventTypes },
  });
  expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(201);
  return {
    partnerId: partner.body.id,
    key: key.body.key,
    creatorId,
    endpointId: endpoint.body.id,
    secret: endpoint.body.secret,
    url,
  };
}

/** A queue the test drives: what the consumer would send, each with the delay it asked for. */
class DrivenQueue {
  readonly due: { message: WebhookAttemptMessage; delayS: number }[] = [];
  readonly asQueue = {
    send: async (body: WebhookAttemptMessage, options?: { delaySeconds?: number }) => {
      this.due.push({ message: body, delayS: options?.delaySeconds ?? 0 });
    },
    sendBatch: async (batch: Iterable<{ body: WebhookAttemptMessage; delaySeconds?: number }>) => {
      for (const m of batch) this.due.push({ message: m.body, delayS: m.delaySeconds ?? 0 });
    },
  } as unknown as Queue;

  /** Delivers everything due (all of it: the test does not wait), following each attempt's successor. */
  async drain(deps: AttemptDeps, concurrency = 50): Promise<{ delaysByAttempt: Map<number, Set<number>> }> {
    const delaysByAttempt = new Map<number, Set<number>>();
    while (this.due.length > 0) {
      const wave = this.due.splice(0, concurrency);
      await Promise.all(
        wave.map(async ({ message, delayS }) => {
          delaysByAttempt.set(message.attemptNo, (delaysByAttempt.get(message.attemptNo) ?? new Set()).add(delayS));
          const result = await attemptDelivery(env, message, deps, log);
          if (result.kind === "next") this.due.push({ message: result.message, delayS: result.delayS });
        }),
      );
    }
    return { delaysByAttempt };
  }
}

function fnv(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  return h;
}

const deps = (timeoutMs = 100): AttemptDeps => ({ ...network, nowMs: Date.now, timeoutMs });

describe("1,000 events to an endpoint that fails half its requests", () => {
  it("delivers every message, each webhook-id accepted once and verified by standardwebhooks; the log is complete", async () => {
    const s = await setup("storm");
    const verifier = new Webhook(s.secret);
    const accepted = new Map<string, number>();
    const seen = new Map<string, number>();
    const badSignatures: string[] = [];
    let requests = 0;
    let failures = 0;
    network.receivers.set(s.url, async (request) => {
      requests += 1;
      const body = await request.text();
      const headers = Object.fromEntries(request.headers);
      const id = headers["webhook-id"] ?? "";
      if (request.redirect !== "manual") throw new Error("a webhook must not follow redirects");
      const n = (seen.get(id) ?? 0) + 1;
      seen.set(id, n);
      // This message fails its first 0, 1 or 2 requests: about half of all requests fail.
      const failFirst = fnv(id) % 3;
      if (n <= failFirst) {
        failures += 1;
        const how = fnv(`${id}:${n}`) % 4;
        if (how === 0) return new Promise<Response>(() => {}); // hangs: the sender's deadline ends it
        if (how === 1) return new Response(null, { status: 302, headers: { location: "https://169.254.169.254/" } });
        return new Response("busy", { status: how === 2 ? 500 : 503 });
      }
      try {
        verifier.verify(body, headers);
      } catch (error) {
        badSignatures.push(`${id}: ${String(error)}`);
        return new Response("bad signature", { status: 400 });
      }
      accepted.set(id, (accepted.get(id) ?? 0) + 1);
      return new Response(null, { status: 204 });
    });

    const queue = new DrivenQueue();
    const nowMs = Date.now();
    const events = Array.from({ length: 1000 }, (_, i) => ({
      type: "tip.created" as const,
      creatorId: s.creatorId,
      eventKey: `tip_storm_${run}_${i}`,
      data: { i },
      createdAtMs: nowMs,
    }));
    for (let i = 0; i < events.length; i += 100) {
      await emitWebhookEvents(env.CONTROL, queue.asQueue, events.slice(i, i + 100), nowMs);
    }
    expect(queue.due).toHaveLength(1000);
    // Emitting the same events again makes no second message and queues nothing.
    const again = new DrivenQueue();
    expect(await emitWebhookEvents(env.CONTROL, again.asQueue, events.slice(0, 100), nowMs)).toEqual([]);

    // Hung requests end at a short deadline here (15 s in production).
    const { delaysByAttempt } = await queue.drain(deps(100));

    const { results: messages } = await env.CONTROL.prepare(
      "SELECT id FROM webhook_messages WHERE partner_id = ? ORDER BY id",
    )
      .bind(s.partnerId)
      .all<{ id: string }>();
    expect(messages).toHaveLength(1000);
    expect(badSignatures).toEqual([]);
    expect(accepted.size).toBe(1000);
    expect([...accepted.values()].every((n) => n === 1)).toBe(true);
    expect(new Set(messages.map((m) => m.id))).toEqual(new Set(accepted.keys()));
    console.log(`storm: ${requests} requests, ${failures} failed (${Math.round((100 * failures) / requests)} %)`);
    expect(failures / requests).toBeGreaterThan(0.4);
    expect(failures / requests).toBeLessThan(0.6);

    // Each attempt after the first waited exactly the schedule's delay.
    for (const [attemptNo, delays] of delaysByAttempt) {
      expect([...delays], `attempt ${attemptNo}`).toEqual([WEBHOOK_RETRY_SCHEDULE_S[attemptNo - 1]]);
    }

    const deliveries = await env.CONTROL.prepare(
      "SELECT state, COUNT(*) AS n, SUM(attempts) AS attempts FROM webhook_deliveries WHERE endpoint_id = ? GROUP BY state",
    )
      .bind(s.endpointId)
      .all<{ state: string; n: number; attempts: number }>();
    expect(deliveries.results).toEqual([{ state: "succeeded", n: 1000, attempts: requests }]);
    const attempts = await env.CONTROL.prepare(
      `SELECT outcome, COUNT(*) AS n, SUM(error = 'timeout') AS timeouts, SUM(status BETWEEN 300 AND 399) AS redirects
       FROM webhook_attempts WHERE endpoint_id = ? GROUP BY outcome ORDER BY outcome`,
    )
      .bind(s.endpointId)
      .all<{ outcome: string; n: number; timeouts: number; redirects: number }>();
    const byOutcome = Object.fromEntries(attempts.results.map((r) => [r.outcome, r]));
    expect(byOutcome.succeeded?.n).toBe(1000);
    expect(byOutcome.failed?.n).toBe(failures);
    expect(byOutcome.failed?.timeouts).toBeGreaterThan(0);
    expect(byOutcome.failed?.redirects).toBeGreaterThan(0);
    // Every attempt of every message is in the log, numbered 1..n without a gap.
    const gaps = await env.CONTROL.prepare(
      `SELECT d.message_id FROM webhook_deliveries d WHERE d.endpoint_id = ?
       AND (SELECT COUNT(DISTINCT attempt_no) FROM webhook_attempts a WHERE a.message_id = d.message_id AND a.endpoint_id = d.endpoint_id) != d.attempts`,
    )
      .bind(s.endpointId)
      .all();
    expect(gaps.results).toEqual([]);
    const endpoint = await env.CONTROL.prepare("SELECT status, failing_since_ms FROM webhook_endpoints WHERE id = ?")
      .bind(s.endpointId)
      .first();
    expect(endpoint?.status).toBe("active");
  }, 300_000);
});

describe("an attempt", () => {
  it("is refused at delivery when the name now resolves to a private address, and retried on schedule", async () => {
    const s = await setup("rebind");
    let received = 0;
    network.receivers.set(s.url, () => {
      received += 1;
      return new Response(null, { status: 200 });
    });
    const host = new URL(s.url).hostname;
    const queue = new DrivenQueue();
    await emitWebhookEvents(
      env.CONTROL,
      queue.asQueue,
      [
        {
          type: "tip.created",
          creatorId: s.creatorId,
          eventKey: `tip_rebind_${run}`,
          data: {},
          createdAtMs: Date.now(),
        },
      ],
      Date.now(),
    );
    const first = queue.due.splice(0)[0];
    if (!first) throw new Error("nothing queued");
    for (const addresses of [["10.0.0.1"], ["127.0.0.1"], ["169.254.169.254"], ["::1"], ["93.184.215.14", "fe80::1"]]) {
      network.dns.set(host, addresses);
      const result = await attemptDelivery(env, { ...first.message, attemptNo: first.message.attemptNo }, deps(), log);
      expect(result.kind, addresses.join(",")).toBe("next");
      if (result.kind === "next") first.message = result.message;
    }
    expect(received).toBe(0);
    const refused = await env.CONTROL.prepare(
      "SELECT outcome, error FROM webhook_attempts WHERE endpoint_id = ? ORDER BY attempt_no",
    )
      .bind(s.endpointId)
      .all();
    expect(refused.results).toEqual(
      Array.from({ length: 5 }, () => ({ outcome: "refused", error: "refused: url_private_address" })),
    );
    network.dns.set(host, ["93.184.215.14"]);
    expect((await attemptDelivery(env, first.message, deps(), log)).kind).toBe("settled");
    expect(received).toBe(1);
  });

  it("treats a redirect as a failure and never follows it", async () => {
    const s = await setup("redirect");
    const requested: string[] = [];
    network.receivers.set(s.url, (request) => {
      requested.push(`${request.url} ${request.redirect}`);
      return new Response(null, { status: 307, headers: { location: "https://169.254.169.254/latest/meta-data" } });
    });
    network.receivers.set("https://169.254.169.254", () => {
      throw new Error("the redirect was followed");
    });
    const queue = new DrivenQueue();
    await emitWebhookEvents(
      env.CONTROL,
      queue.asQueue,
      [
        {
          type: "tip.created",
          creatorId: s.creatorId,
          eventKey: `tip_redirect_${run}`,
          data: {},
          createdAtMs: Date.now(),
        },
      ],
      Date.now(),
    );
    const first = queue.due[0];
    if (!first) throw new Error("nothing queued");
    const result = await attemptDelivery(env, first.message, deps(), log);
    expect(result.kind).toBe("next");
    expect(requested).toEqual([`${s.url} manual`]);
    const attempt = await env.CONTROL.prepare(
      "SELECT status, outcome, error FROM webhook_attempts WHERE endpoint_id = ?",
    )
      .bind(s.endpointId)
      .first();
    expect(attempt).toEqual({ status: 307, outcome: "failed", error: "redirect not followed" });
  });

  it("disables the endpoint on 410 Gone and tells the partner; nothing more is queued for it", async () => {
    const s = await setup("gone");
    network.receivers.set(s.url, () => new Response("gone", { status: 410 }));
    const queue = new DrivenQueue();
    const event = { type: "tip.created" as const, creatorId: s.creatorId, data: {}, createdAtMs: Date.now() };
    await emitWebhookEvents(env.CONTROL, queue.asQueue, [{ ...event, eventKey: `tip_gone_${run}` }], Date.now());
    await queue.drain(deps());
    const endpoint = await call("GET", "/v1/partner/webhooks/endpoints", { headers: { "x-api-key": s.key } });
    expect(endpoint.body.items[0]).toMatchObject({
      status: "disabled",
      disabledReason: "gone: the endpoint answered 410",
    });
    const notices = await call("GET", "/v1/partner/notices", { headers: { "x-api-key": s.key } });
    expect(notices.body.items.map((n: { kind: string }) => n.kind)).toEqual(["webhook_endpoint_disabled"]);
    expect(
      await emitWebhookEvents(env.CONTROL, queue.asQueue, [{ ...event, eventKey: `tip_gone2_${run}` }], Date.now()),
    ).toEqual([]);
  });

  it("disables an endpoint failing for 5 days and tells the partner", async () => {
    const s = await setup("fivedays");
    network.receivers.set(s.url, () => new Response("down", { status: 503 }));
    await env.CONTROL.prepare("UPDATE webhook_endpoints SET failing_since_ms = ? WHERE id = ?")
      .bind(Date.now() - WEBHOOK_DISABLE_AFTER_MS - 1, s.endpointId)
      .run();
    const queue = new DrivenQueue();
    await emitWebhookEvents(
      env.CONTROL,
      queue.asQueue,
      [{ type: "tip.created", creatorId: s.creatorId, eventKey: `tip_5d_${run}`, data: {}, createdAtMs: Date.now() }],
      Date.now(),
    );
    await queue.drain(deps());
    const row = await env.CONTROL.prepare("SELECT status, disabled_reason FROM webhook_endpoints WHERE id = ?")
      .bind(s.endpointId)
      .first();
    expect(row).toEqual({ status: "disabled", disabled_reason: "failing for 5 days" });
    const notices = await call("GET", "/v1/partner/notices", { headers: { "x-api-key": s.key } });
    expect(notices.body.items[0]).toMatchObject({ kind: "webhook_endpoint_disabled" });
  });

  it("gives up after the last of the 8 attempts and records the delivery failed", async () => {
    const s = await setup("exhaust");
    network.receivers.set(s.url, () => new Response("no", { status: 500 }));
    const queue = new DrivenQueue();
    await emitWebhookEvents(
      env.CONTROL,
      queue.asQueue,
      [{ type: "tip.created", creatorId: s.creatorId, eventKey: `tip_ex_${run}`, data: {}, createdAtMs: Date.now() }],
      Date.now(),
    );
    await queue.drain(deps());
    const delivery = await env.CONTROL.prepare("SELECT state, attempts FROM webhook_deliveries WHERE endpoint_id = ?")
      .bind(s.endpointId)
      .first();
    expect(delivery).toEqual({ state: "failed", attempts: 8 });
  });
});

describe("replay and live events", () => {
  it("replays one message through the API; the WEBHOOKS consumer delivers it with the same webhook-id", async () => {
    const s = await setup("replay");
    const ids: string[] = [];
    network.receivers.set(s.url, (request) => {
      const headers = Object.fromEntries(request.headers);
      ids.push(headers["webhook-id"] ?? "");
      return new Response(null, { status: 200 });
    });
    const queue = new DrivenQueue();
    await emitWebhookEvents(
      env.CONTROL,
      queue.asQueue,
      [
        {
          type: "tip.created",
          creatorId: s.creatorId,
          eventKey: `tip_replay_${run}`,
          data: {},
          createdAtMs: Date.now(),
        },
      ],
      Date.now(),
    );
    await queue.drain(deps());
    expect(ids).toHaveLength(1);
    const messageId = ids[0];
    const replay = await call("POST", `/v1/partner/webhooks/endpoints/${s.endpointId}/replay`, {
      headers: { "x-api-key": s.key },
      body: { messageId },
    });
    expect(replay.status).toBe(202);
    expect(replay.body).toEqual({ queued: 1 });
    await until(
      async () => ids.length,
      (n) => n === 2,
    );
    expect(ids).toEqual([messageId, messageId]);
    const attempts = await call("GET", `/v1/partner/webhooks/messages/${messageId}/attempts`, {
      headers: { "x-api-key": s.key },
    });
    expect(attempts.body.attempts.map((a: { status: number }) => a.status)).toEqual([200, 200]);
    // A time range replays every message in it.
    const range = await call("POST", `/v1/partner/webhooks/endpoints/${s.endpointId}/replay`, {
      headers: { "x-api-key": s.key },
      body: { sinceMs: 0, untilMs: Date.now() + 1000 },
    });
    expect(range.body).toEqual({ queued: 1 });
    await until(
      async () => ids.length,
      (n) => n === 3,
    );
  });

  it("tells a partner subscribed to room.live when its creator's room goes live", async () => {
    const s = await setup("live", ["room.live", "room.ended"]);
    const received: { type: string; data: { roomId: string } }[] = [];
    const verifier = new Webhook(s.secret);
    network.receivers.set(s.url, async (request) => {
      const body = await request.text();
      received.push(verifier.verify(body, Object.fromEntries(request.headers)) as (typeof received)[number]);
      return new Response(null, { status: 204 });
    });
    const roomId = await openRoom(s.creatorId);
    await until(
      async () => received.length,
      (n) => n >= 1,
    );
    const creator = await token(s.creatorId, "creator", "viewer");
    const ended = await call("POST", `/v1/rooms/${roomId}/end`, { token: creator });
    expect(ended.status, JSON.stringify(ended.body)).toBe(200);
    await until(
      async () => received.length,
      (n) => n >= 2,
    );
    expect(received[0]).toMatchObject({ type: "room.live", data: { roomId } });
    expect(received[1]).toMatchObject({ type: "room.ended", data: { roomId } });
  });
});
