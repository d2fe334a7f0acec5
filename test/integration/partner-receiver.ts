/**
 * The business-event tests' partner: a real partner with a key and an endpoint on the fake
 * network, whose receiver verifies each delivery as a partner's server would.
 */
import { Webhook } from "standardwebhooks";
import { expect } from "vitest";
import { WEBHOOK_EVENT_TYPES } from "../../src/domain/webhooks";
import type { FakeWebhookNetwork } from "../support/webhook-network";
import { call, token, until } from "./helpers";

/** Long enough for a duplicate that would arrive to arrive (the queues here take ~1 s a hop). */
export const SETTLE_MS = 2_500;

export interface Delivery {
  readonly webhookId: string;
  readonly type: string;
  readonly data: Record<string, unknown>;
}

/**
 * A partner owning `creatorId`, subscribed to every webhook type, whose receiver on `network`
 * verifies every request with the independent `standardwebhooks` package.
 */
export async function partnerReceiver(network: FakeWebhookNetwork, run: string, name: string, creatorId: string) {
  const admin = await token(`be-admin-${run}`, "admin");
  const partner = await call("POST", "/v1/admin/partners", {
    token: admin,
    body: { name, contactEmail: "dev@partner.example", creatorIds: [creatorId] },
  });
  expect(partner.status, JSON.stringify(partner.body)).toBe(201);
  const apiKey = await call("POST", `/v1/admin/partners/${partner.body.id}/keys`, {
    token: admin,
    body: { name: "hooks", mode: "test", scopes: ["webhooks.manage"] },
  });
  const host = `${name}-${run}.partner.example`;
  network.dns.set(host, ["93.184.215.14"]);
  const url = `https://${host}/hooks`;
  const endpoint = await call("POST", "/v1/partner/webhooks/endpoints", {
    headers: { "x-api-key": apiKey.body.key },
    body: { url, eventTypes: [...WEBHOOK_EVENT_TYPES] },
  });
  expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(201);
  const verifier = new Webhook(endpoint.body.secret);
  const accepted: Delivery[] = [];
  const refused: string[] = [];
  network.receivers.set(url, async (request) => {
    const body = await request.text();
    const headers = Object.fromEntries(request.headers);
    try {
      const payload = verifier.verify(body, headers) as { type: string; data: Record<string, unknown> };
      accepted.push({ webhookId: headers["webhook-id"] ?? "", type: payload.type, data: payload.data });
      return new Response(null, { status: 204 });
    } catch (error) {
      refused.push(String(error));
      return new Response("bad signature", { status: 400 });
    }
  });
  /** The deliveries of one type, after waiting for `count` of them and then for any duplicate. */
  const settled = async (type: string, count = 1) => {
    await until(
      async () => accepted.filter((d) => d.type === type).length,
      (n) => n >= count,
      30_000,
    );
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    expect(refused).toEqual([]);
    return accepted.filter((d) => d.type === type);
  };
  return { accepted, settled };
}

/** Every webhook-id was accepted exactly once. */
export function eachIdOnce(deliveries: readonly Delivery[]): void {
  const ids = deliveries.map((d) => d.webhookId);
  expect(new Set(ids).size).toBe(ids.length);
}
