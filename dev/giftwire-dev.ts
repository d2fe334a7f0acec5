/**
 * giftwire for development and tests: the production Worker (src/worker/index.ts) with the
 * tools nobody may have where money is real — minting tokens for demo users and seeding the
 * demo. `npm start` runs this entry with wrangler.toml's bindings plus the sandbox provider's
 * service binding (scripts/dev-workers.ts writes that configuration), and the workers test
 * project runs it the same way (vitest.config.ts). The production wrangler.toml names
 * src/worker/index.ts, so none of this is in what `wrangler deploy` ships
 * (test/unit/production-bundle.test.ts checks the built bundle).
 */
import { Hono } from "hono";
import { z } from "zod";
import { findEndpoint } from "../src/db/webhooks";
import { USER_ID_PATTERN } from "../src/domain/accounts";
import { signWebhook } from "../src/domain/webhooks";
import { createApp } from "../src/worker/app";
import { ROLES } from "../src/worker/auth/jwt";
import type { AppEnv } from "../src/worker/context";
import { ApiError } from "../src/worker/errors";
import worker from "../src/worker/index";
import { deliverAfterCommit } from "../src/worker/rooms/outbox";
import { endpointSecrets } from "../src/worker/webhooks/secrets";
import { DEMO_USERS, seedDemo } from "./seed";
import { seedDemoUnlocks } from "./seed-content";
import { seedDemoDashboard } from "./seed-dashboard";
import { seedDemoEarnings } from "./seed-earnings";
import { DEMO_ENDPOINT_ID, seedDemoPartner } from "./seed-partner";
import { seedDemoPayoutReadiness } from "./seed-payout";
import { seedDemoQueues } from "./seed-queues";
import { mintToken } from "./tokens";

export { LiveRoom, RiskDesk, RoomFanOut } from "../src/worker/index";

const dev = new Hono<AppEnv>();

// A second lock: were this entry ever deployed, a production or staging config still gets no tools.
dev.use("*", async (c, next) => {
  if (c.var.config.environment !== "development" && c.var.config.environment !== "test") {
    throw new ApiError("not_found");
  }
  await next();
});

const TokenRequest = z.object({
  userId: z.string().regex(USER_ID_PATTERN),
  roles: z.array(z.enum(ROLES)).min(1).max(ROLES.length),
  ttlSeconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3600)
    .default(12 * 3600),
});

dev.post("/tokens", async (c) => {
  const parsed = TokenRequest.safeParse(await c.req.json().catch(() => undefined));
  if (!parsed.success) throw new ApiError("malformed_request", "Send {userId, roles[]}.", parsed.error.issues);
  const token = await mintToken(c.var.config, parsed.data, Date.now(), parsed.data.ttlSeconds);
  return c.json({ token }, 201);
});

dev.post("/seed", async (c) => {
  const creator = DEMO_USERS.find((u) => u.roles.includes("creator"));
  // The demo partner's webhooks go to the receiver page below (loopback: `npm start` only).
  if (creator && c.var.config.webhooks.allowLoopback) {
    await seedDemoPartner(c.env, creator.userId, new URL("/v1/dev/webhook-receiver", c.req.url).toString(), Date.now());
  }
  const { outboxIds, ...seed } = await seedDemo(c.var.ledger, c.var.config, Date.now());
  if (creator) {
    await seedDemoPayoutReadiness(c.var.ledger.control, c.env.PII_KEYS, creator.userId, Date.now());
    await seedDemoEarnings(c.var.ledger, c.var.config, seed.roomId, Date.now());
  }
  const tokenOf = (userId: string) => seed.users.find((u) => u.userId === userId)?.token ?? "";
  if (creator) {
    await seedDemoQueues(
      app,
      c.var.ledger,
      creator.userId,
      c.env,
      c.executionCtx,
      {
        operator: tokenOf("ops-mei"),
        risk: tokenOf("ops-kai"),
        creator: tokenOf(creator.userId),
        // A creator who signed up today: her verification waits for review.
        newCreator: await mintToken(c.var.config, { userId: "creator-yu", roles: ["creator"] }, Date.now()),
        // One of the creator's past fans (dev/seed-earnings.ts): the demo viewers' wallets stay as seeded.
        viewer: await mintToken(c.var.config, { userId: "fan-xiao", roles: ["viewer"] }, Date.now()),
      },
      seed.roomId,
      c.var.config.environment === "development" ? { riskCacheTtlMs: c.var.config.switchCacheTtlMs } : null,
    );
    // A paid unlock and a tip on the guitar notes, for the console's unlocks and content tabs.
    await seedDemoUnlocks(
      app,
      c.env,
      c.executionCtx,
      await mintToken(c.var.config, { userId: "fan-xiao", roles: ["viewer"] }, Date.now()),
    );
  }
  // Last, so today's rollup holds everything seeded above (the unlock and the content tip too).
  await seedDemoDashboard(c.var.ledger, c.var.config, Date.now());
  c.executionCtx.waitUntil(deliverAfterCommit(c.env, c.var.ledger, "control", outboxIds, c.var.log));
  return c.json(seed, 200);
});

/**
 * The demo partner's webhook receiver: what a partner's server would do — check the Standard
 * Webhooks signature over the raw body, deduplicate on `webhook-id`, answer 2xx — and a page
 * listing the last deliveries. Kept in this isolate's memory: a demo, not a store.
 */
interface Received {
  id: string;
  timestamp: string;
  type: string;
  verified: boolean;
  duplicate: boolean;
  atMs: number;
  body: string;
}
const received: Received[] = [];

dev.post("/webhook-receiver", async (c) => {
  const body = await c.req.text();
  const id = c.req.header("webhook-id") ?? "";
  const timestamp = c.req.header("webhook-timestamp") ?? "";
  const signatures = (c.req.header("webhook-signature") ?? "").split(" ");
  const endpoint = await findEndpoint(c.env.CONTROL, DEMO_ENDPOINT_ID);
  const secrets = endpoint ? await endpointSecrets(c.env, endpoint, Date.now()) : [];
  const verified =
    /^\d+$/.test(timestamp) &&
    !id.includes(".") &&
    secrets.some((s) => signatures.includes(signWebhook(s, id, Number(timestamp), body)));
  const duplicate = received.some((r) => r.id === id && r.verified);
  const type = (() => {
    try {
      return String((JSON.parse(body) as { type?: unknown }).type ?? "?");
    } catch {
      return "?";
    }
  })();
  received.unshift({ id, timestamp, type, verified, duplicate, atMs: Date.now(), body });
  received.splice(100);
  return verified ? c.body(null, 204) : c.text("bad signature", 400);
});

dev.get("/webhook-receiver", (c) => {
  const html = (t: string) => t.replace(/[&<>"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
  const rows = received
    .map(
      (r) =>
        `<tr><td>${new Date(r.atMs).toISOString()}</td><td>${html(r.type)}</td><td><code>${html(r.id)}</code></td>` +
        `<td>${r.verified ? "✓ verified" : "✗ refused"}${r.duplicate ? " (duplicate id)" : ""}</td>` +
        `<td><code>${html(r.body.slice(0, 300))}</code></td></tr>`,
    )
    .join("");
  return c.html(
    `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="3"><title>Demo partner: webhooks</title>` +
      `<style>body{font:14px system-ui;margin:2rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}code{font-size:12px;word-break:break-all}td:last-child{max-width:40rem}</style>` +
      `<h1>Demo Partner App — webhook deliveries</h1><p>Standard Webhooks messages giftwire sent to this receiver ` +
      `(newest first; signatures checked against the endpoint's secret). Tip in the demo room to see one.</p>` +
      `<table><tr><th>received</th><th>type</th><th>webhook-id</th><th>signature</th><th>body</th></tr>${rows || '<tr><td colspan="5">nothing yet</td></tr>'}</table>`,
  );
});

// The production app, unchanged, with the tools beside it: its request context, error
// envelope and 404 apply to them too. They are not in the OpenAPI document.
const app = createApp();
app.route("/v1/dev", dev);

export default { ...worker, fetch: app.fetch } satisfies typeof worker;
