import { Hono } from "hono";
import { z } from "zod";
import { USER_ID_PATTERN } from "../../domain/accounts";
import { mintToken, ROLES } from "../auth/jwt";
import type { AppEnv } from "../context";
import { seedDemo } from "../dev/seed";
import { ApiError } from "../errors";
import { deliverAfterCommit } from "../rooms/outbox";

/**
 * Development only: mint tokens for demo users and seed the demo. In any other
 * environment these routes do not exist (404), and they are not in the OpenAPI document.
 */
export const dev = new Hono<AppEnv>();

dev.use("/dev/*", async (c, next) => {
  if (!c.var.config.devToolsEnabled) throw new ApiError("not_found");
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

dev.post("/dev/tokens", async (c) => {
  const parsed = TokenRequest.safeParse(await c.req.json().catch(() => undefined));
  if (!parsed.success) throw new ApiError("malformed_request", "Send {userId, roles[]}.", parsed.error.issues);
  const token = await mintToken(c.var.config, parsed.data, Date.now(), parsed.data.ttlSeconds);
  return c.json({ token }, 201);
});

dev.post("/dev/seed", async (c) => {
  const { outboxIds, ...seed } = await seedDemo(c.env.DB, c.var.config, Date.now());
  c.executionCtx.waitUntil(deliverAfterCommit(c.env, outboxIds, c.var.log));
  return c.json(seed, 200);
});
