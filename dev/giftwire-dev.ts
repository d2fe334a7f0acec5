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
import { USER_ID_PATTERN } from "../src/domain/accounts";
import { createApp } from "../src/worker/app";
import { ROLES } from "../src/worker/auth/jwt";
import type { AppEnv } from "../src/worker/context";
import { ApiError } from "../src/worker/errors";
import worker from "../src/worker/index";
import { deliverAfterCommit } from "../src/worker/rooms/outbox";
import { DEMO_USERS, seedDemo } from "./seed";
import { seedDemoDashboard } from "./seed-dashboard";
import { seedDemoEarnings } from "./seed-earnings";
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
  const { outboxIds, ...seed } = await seedDemo(c.var.ledger, c.var.config, Date.now());
  const creator = DEMO_USERS.find((u) => u.roles.includes("creator"));
  if (creator) {
    await seedDemoPayoutReadiness(c.var.ledger.control, c.env.PII_KEYS, creator.userId, Date.now());
    await seedDemoEarnings(c.var.ledger, c.var.config, seed.roomId, Date.now());
  }
  await seedDemoDashboard(c.var.ledger, c.var.config, Date.now());
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
        creator: tokenOf(creator.userId),
        // One of the creator's past fans (dev/seed-earnings.ts): the demo viewers' wallets stay as seeded.
        viewer: await mintToken(c.var.config, { userId: "fan-xiao", roles: ["viewer"] }, Date.now()),
      },
      seed.roomId,
    );
  }
  c.executionCtx.waitUntil(deliverAfterCommit(c.env, c.var.ledger, "control", outboxIds, c.var.log));
  return c.json(seed, 200);
});

// The production app, unchanged, with the tools beside it: its request context, error
// envelope and 404 apply to them too. They are not in the OpenAPI document.
const app = createApp();
app.route("/v1/dev", dev);

export default { ...worker, fetch: app.fetch } satisfies typeof worker;
