import { createMiddleware } from "hono/factory";
import { openLedger } from "../../db/shards";
import { newId } from "../../domain/ids";
import { configFrom } from "../../platform/config";
import { createLogger } from "../../platform/logger";
import type { AppEnv } from "../context";

const CLIENT_REQUEST_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * Gives every request an id (the caller's X-Request-Id when it is well formed), a parsed
 * config, the ledger (control database, shards, bucket map) and a logger, and writes one structured access-log line when it finishes.
 */
export const requestContext = createMiddleware<AppEnv>(async (c, next) => {
  const startedMs = Date.now();
  const incoming = c.req.header("x-request-id");
  const requestId = incoming && CLIENT_REQUEST_ID.test(incoming) ? incoming : newId("req", startedMs);
  const log = createLogger({ requestId });
  c.set("requestId", requestId);
  c.set("log", log);
  c.set("config", configFrom(c.env));
  c.set("ledger", await openLedger(c.env));
  await next();
  // WebSocket upgrades (101) carry immutable headers; never touch them.
  if (c.res.status !== 101) c.res.headers.set("X-Request-Id", requestId);
  log.info("request", {
    method: c.req.method,
    path: c.req.path,
    status: c.res.status,
    durationMs: Date.now() - startedMs,
    userId: c.var.principal?.userId,
  });
});
