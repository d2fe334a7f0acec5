/**
 * The bench-only Worker behind `npm run bench:tips` (bench/tips.ts bundles it with esbuild into
 * bench/.build-tips/ and runs it in workerd through Miniflare). It is the product Worker —
 * the same Hono app, the same LiveRoom — with three additions that never ship:
 *
 *   POST /v1/bench/noop/rooms/{roomId}/tips  the tip route's own work (auth, zod, the
 *        Idempotency-Key and request fingerprint, the RPC to the room's object with the same
 *        argument) answered by the room at once: the Worker→Durable Object request rate the
 *        group commit is compared with;
 *   GET  /bench/d1  D1 round trips and statements made so far, by the Worker (requests and
 *        queue consumers: a tip's cross-shard credit included) and by the room objects (every
 *        D1 binding is counted: `batch` is one round trip of n statements; `first`/`run`/
 *        `all`/`raw` one of one);
 *   LiveRoom.benchNoop  the room's side of the no-op.
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import { type TipBatchStats, TipSubmission } from "../src/durable-objects/live-room.tips";
import { createApp } from "../src/worker/app";
import type { AppEnv } from "../src/worker/context";
import { idempotencyOf } from "../src/worker/idempotency";
import product, { LiveRoom as ProductRoom } from "../src/worker/index";
import { defineRoute } from "../src/worker/routes/define";
import { RoomId } from "../src/worker/routes/rooms";
import { IdempotencyKeyHeader, jsonBody, TipRequestSchema } from "../src/worker/schemas";

interface Counter {
  roundTrips: number;
  statements: number;
}
const counted: Counter = { roundTrips: 0, statements: 0 };
/** Which isolate counted (the Worker's and the room's may be one: then one counter serves both). */
let isolateIdMemo: string | null = null;
const isolateId = () => {
  isolateIdMemo ??= crypto.randomUUID(); // not at global scope: workerd refuses randomness there
  return isolateIdMemo;
};

/** Counts every D1 call made through `db`: patched in place, so the objects stay D1's own. */
function countingD1(db: D1Database): D1Database {
  const patchStatement = (statement: D1PreparedStatement): D1PreparedStatement => {
    const s = statement as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const method of ["first", "run", "all", "raw"]) {
      const original = s[method]?.bind(statement);
      if (!original) continue;
      s[method] = (...args: unknown[]) => {
        counted.roundTrips += 1;
        counted.statements += 1;
        return original(...args);
      };
    }
    const bind = s.bind?.bind(statement);
    if (bind) s.bind = (...args: unknown[]) => patchStatement(bind(...args) as D1PreparedStatement);
    return statement;
  };
  return new Proxy(db, {
    get(target, property) {
      if (property === "prepare") return (sql: string) => patchStatement(target.prepare(sql));
      if (property === "batch") {
        return (statements: D1PreparedStatement[]) => {
          counted.roundTrips += 1;
          counted.statements += statements.length;
          return target.batch(statements);
        };
      }
      const value = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

const envs = new WeakMap<object, Env>();
function countingEnv(env: Env): Env {
  const known = envs.get(env);
  if (known) return known;
  const wrapped: Record<string, unknown> = { ...env };
  for (const [name, value] of Object.entries(env)) {
    if (name === "CONTROL" || /^LEDGER_\d+$/.test(name)) wrapped[name] = countingD1(value as D1Database);
  }
  envs.set(env, wrapped as unknown as Env);
  return wrapped as unknown as Env;
}

/** The product's fan-out shards and risk desks, bound as in the product (bench/lib.ts binds them). */
export { RiskDesk, RoomFanOut } from "../src/worker/index";

export class LiveRoom extends ProductRoom {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, countingEnv(env));
  }

  /** The room's side of the no-op: the same argument parsed, answered at once. */
  benchNoop(input: unknown) {
    TipSubmission.parse(input);
    return { kind: "response" as const, status: 201, body: "{}", replayed: false };
  }

  benchCounters(): Counter & { isolateId: string; tips: TipBatchStats } {
    return { ...counted, isolateId: isolateId(), tips: { ...this.tips.stats } };
  }
}

const noop = new OpenAPIHono<AppEnv>();
noop.openapi(
  defineRoute({
    method: "post",
    path: "/bench/noop/rooms/{roomId}/tips",
    auth: ["viewer", "creator"],
    request: {
      params: z.object({ roomId: RoomId }),
      headers: IdempotencyKeyHeader,
      body: jsonBody(TipRequestSchema),
    },
    responses: { 201: { description: "nothing done" } },
  }),
  async (c) => {
    const { roomId } = c.req.valid("param");
    const { pin, ...ask } = c.req.valid("json");
    const { key, requestHash } = await idempotencyOf(c, { roomId, ...ask });
    const stub = c.env.LIVE_ROOM.getByName(roomId) as unknown as DurableObjectStub<LiveRoom>;
    const answer = await stub.benchNoop({
      roomId,
      viewerId: c.var.principal.userId,
      ask,
      confirmed: pin !== undefined,
      key,
      requestHash,
    });
    return c.body(answer.body, 201, { "content-type": "application/json" });
  },
);

const app = createApp();
app.route("/v1", noop);

export default {
  ...product,
  // The queue consumers' D1 work counts too: a tip's cross-shard credit is posted by the
  // ledger-postings consumer in the creator's shard.
  async queue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
    await product.queue(batch as never, countingEnv(env));
  },
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/bench/d1") {
      const roomId = url.searchParams.get("room") ?? "";
      const stub = env.LIVE_ROOM.getByName(roomId) as unknown as DurableObjectStub<LiveRoom>;
      const room = await stub.benchCounters();
      const same = room.isolateId === isolateId();
      return Response.json({
        roundTrips: counted.roundTrips + (same ? 0 : room.roundTrips),
        statements: counted.statements + (same ? 0 : room.statements),
        sameIsolate: same,
        tips: room.tips,
      });
    }
    return app.fetch(request, countingEnv(env), ctx);
  },
};
