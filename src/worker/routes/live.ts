import { OpenAPIHono, z } from "@hono/zod-openapi";
import { findRoom } from "../../db/reads/rooms";
import { LIMITS } from "../../domain/limits";
import { PERIODS, periodKeys } from "../../domain/room/periods";
import { Leaderboard } from "../../durable-objects/live-room.protocol";
import { RISK_SIGNALS_HEADER } from "../../durable-objects/live-room.risk";
import { FAN_OUT_HEADER, ROOM_HEADER, shardName } from "../../durable-objects/room-fan-out.protocol";
import { type Principal, verifyToken } from "../auth/jwt";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { authenticate } from "../middleware/auth";
import { clientSignalsOf, DEVICE_HEADER } from "../risk";
import { knownRooms } from "../rooms/known-rooms";
import { errorResponses, jsonResponse, UserId } from "../schemas";
import { defineRoute } from "./define";
import { assertRoomOwner, roomParams } from "./rooms";

/**
 * The realtime side of a room as the Worker exposes it: the WebSocket endpoint (auth and
 * Origin checked here, then handed to the room's Durable Object), leaderboards, and the
 * creator's overlay key.
 */
export const live = new OpenAPIHono<AppEnv>();

const OVERLAY_KEY = /^ovk_[A-Za-z0-9_-]{43}$/;

async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function timingSafeEqualHex(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

const LiveQuery = z.object({
  role: z.enum(["viewer", "broadcaster", "overlay"]).default("viewer"),
  access_token: z.string().max(4096).optional(),
  key: z.string().max(64).optional(),
  lastSeq: z
    .string()
    .regex(/^[0-9]{1,15}$/)
    .optional(),
  /** The client's device id (a browser cannot set `X-Giftwire-Device` on a socket); the header wins. */
  device: z.string().max(128).optional(),
});

/**
 * `GET /v1/rooms/{roomId}/live` — the room's WebSocket. Browsers cannot set headers on a
 * WebSocket, so the token may come as `?access_token=`; an OBS overlay uses `?key=`.
 * Registered as a plain route: nothing here may touch the 101 response's headers.
 */
live.get("/rooms/:roomId/live", authenticate("socket"), async (c) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new ApiError("malformed_request", "This endpoint speaks WebSocket; send an Upgrade: websocket request.");
  }
  const params = roomParams.safeParse({ roomId: c.req.param("roomId") });
  const query = LiveQuery.safeParse(c.req.query());
  if (!params.success || !query.success) throw new ApiError("malformed_request", "Bad room id or query.");
  const { roomId } = params.data;
  const { role, access_token, key, lastSeq, device } = query.data;

  const origin = c.req.header("origin");
  if (origin !== undefined) {
    const allowed = new Set([new URL(c.req.url).origin, ...c.var.config.wsOrigins]);
    if (!allowed.has(origin)) throw new ApiError("forbidden", "This Origin may not open room sockets.");
  }

  const room = await findRoom(c.var.ledger.control, roomId);
  if (!room) throw new ApiError("room_not_found");

  let userId: string | null = null;
  let follows: string | null = null;
  let adult = false;
  if (role === "overlay") {
    if (!key || !OVERLAY_KEY.test(key) || room.overlay_key_hash === null)
      throw new ApiError("unauthenticated", "A valid overlay key is required.");
    if (!timingSafeEqualHex(await sha256Hex(key), room.overlay_key_hash)) {
      throw new ApiError("unauthenticated", "A valid overlay key is required.");
    }
  } else {
    const header = c.req.header("authorization");
    const token = header?.startsWith("Bearer ") ? header.slice(7) : access_token;
    const principal: Principal | null = token ? await verifyToken(token, c.var.config, Date.now()) : null;
    if (!principal) throw new ApiError("unauthenticated");
    if (role === "broadcaster" && room.creator_id !== principal.userId) {
      throw new ApiError("forbidden", "Only the room's creator can do this.");
    }
    userId = principal.userId;
    adult = principal.adult;
    // Claims over the socket check follower-only packets in the room: it needs only this.
    if (principal.follows?.has(room.creator_id)) follows = room.creator_id;
  }

  // Risk on the socket's claims reads what the edge sees now (the room has no request to read).
  const signals = userId === null ? null : clientSignalsOf(c, adult, c.req.header(DEVICE_HEADER) ?? device);
  const headers = new Headers(c.req.raw.headers);
  for (const name of [...headers.keys()]) if (name.startsWith("x-giftwire-")) headers.delete(name);
  if (signals !== null) headers.set(RISK_SIGNALS_HEADER, JSON.stringify(signals));
  headers.set("x-giftwire-role", role);
  if (userId !== null) headers.set("x-giftwire-user", userId);
  if (follows !== null) headers.set("x-giftwire-follows", follows);
  if (lastSeq !== undefined) headers.set("x-giftwire-resume-after", lastSeq);
  headers.set(ROOM_HEADER, roomId);
  const answer = await c.env.LIVE_ROOM.getByName(roomId).fetch(new Request(c.req.raw.url, { method: "GET", headers }));
  // A hot room places a new viewer on one of its fan-out shards, which accepts the socket.
  const shard = answer.headers.get(FAN_OUT_HEADER);
  if (shard === null) return answer;
  const shardStub = c.env.ROOM_FAN_OUT.getByName(shardName(roomId, Number(shard)));
  return shardStub.fetch(new Request(c.req.raw.url, { method: "GET", headers }));
});

const LeaderboardQuery = z.object({
  period: z.enum(PERIODS).default("live"),
  limit: z.coerce.number().int().min(1).max(LIMITS.leaderboardTopMax).default(LIMITS.leaderboardTopDefault),
});

live.openapi(
  defineRoute({
    method: "get",
    path: "/rooms/{roomId}/leaderboard",
    auth: "signed-in",
    tags: ["rooms"],
    summary: "A room's leaderboard: this stream (live), today, this week or this month, with your own rank",
    description: "Day, week (ISO) and month boundaries fall at midnight in BUSINESS_TIME_ZONE (default Asia/Shanghai).",
    request: { params: roomParams, query: LeaderboardQuery },
    responses: {
      200: jsonResponse(Leaderboard, "The leaderboard"),
      ...errorResponses(400, 401, 404),
    },
  }),
  async (c) => {
    const { roomId } = c.req.valid("param");
    const { period, limit } = c.req.valid("query");
    await knownRooms.require(c.var.ledger.control, roomId);
    const board = await c.env.LIVE_ROOM.getByName(roomId).leaderboard(period, c.var.principal.userId, limit);
    return c.json(board, 200);
  },
);

const CreatorRanking = z
  .object({
    period: z.enum(["day", "week", "month"]),
    periodKey: z.string(),
    top: z.array(
      z.object({ rank: z.number().int(), creatorId: UserId, totalMinor: z.number().int(), tipCount: z.number().int() }),
    ),
    me: z
      .object({ rank: z.number().int(), creatorId: UserId, totalMinor: z.number().int(), tipCount: z.number().int() })
      .nullable(),
  })
  .openapi("CreatorRanking");

live.openapi(
  defineRoute({
    method: "get",
    path: "/leaderboards/creators",
    auth: "signed-in",
    tags: ["rooms"],
    summary: "The global creator ranking by tips received today, this week or this month",
    description: "Built from what rooms write to D1 at least every 10 s, so it trails the rooms by up to that.",
    request: {
      query: z.object({
        period: z.enum(["day", "week", "month"]).default("day"),
        limit: z.coerce.number().int().min(1).max(LIMITS.leaderboardTopMax).default(LIMITS.leaderboardTopDefault),
      }),
    },
    responses: { 200: jsonResponse(CreatorRanking, "The ranking"), ...errorResponses(400, 401) },
  }),
  async (c) => {
    const { period, limit } = c.req.valid("query");
    const periodKey = periodKeys(Date.now(), c.var.config.businessTimeZone)[period];
    const totals = `SELECT creator_id, SUM(total_minor) AS total, SUM(tip_count) AS tips FROM leaderboard_entries
                    WHERE period = ?1 AND period_key = ?2 GROUP BY creator_id`;
    const [top, mine] = await c.var.ledger.control.batch<{
      creator_id: string;
      total: number;
      tips: number;
      ahead?: number;
    }>([
      c.var.ledger.control.prepare(`${totals} ORDER BY total DESC, creator_id LIMIT ?3`).bind(period, periodKey, limit),
      c.var.ledger.control
        .prepare(
          `WITH t AS (${totals}) SELECT me.creator_id, me.total, me.tips,
           (SELECT COUNT(*) FROM t WHERE t.total > me.total OR (t.total = me.total AND t.creator_id < me.creator_id)) AS ahead
         FROM t AS me WHERE me.creator_id = ?3`,
        )
        .bind(period, periodKey, c.var.principal.userId),
    ]);
    const row = mine?.results[0];
    return c.json(
      {
        period,
        periodKey,
        top: (top?.results ?? []).map((r, i) => ({
          rank: i + 1,
          creatorId: r.creator_id,
          totalMinor: r.total,
          tipCount: r.tips,
        })),
        me: row
          ? { rank: (row.ahead ?? 0) + 1, creatorId: row.creator_id, totalMinor: row.total, tipCount: row.tips }
          : null,
      },
      200,
    );
  },
);

live.openapi(
  defineRoute({
    method: "post",
    path: "/rooms/{roomId}/overlay-key",
    auth: "signed-in",
    tags: ["rooms"],
    summary:
      "Create or rotate the room's OBS overlay key (the room's creator); overlays using the old key are disconnected",
    request: { params: roomParams },
    responses: {
      201: jsonResponse(
        z.object({ overlayKey: z.string(), overlayUrl: z.string() }).openapi("OverlayKey"),
        "The new key, shown once; only its hash is stored",
      ),
      ...errorResponses(401, 403, 404),
    },
  }),
  async (c) => {
    const { roomId } = c.req.valid("param");
    const room = await findRoom(c.var.ledger.control, roomId);
    if (!room) throw new ApiError("room_not_found");
    await assertRoomOwner(c, room, false);
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    const overlayKey = `ovk_${btoa(String.fromCharCode(...bytes))
      .replace(/\+/g, "-")
      .replace(/\//g, "_")
      .replace(/=+$/, "")}`;
    await c.var.ledger.control
      .prepare("UPDATE rooms SET overlay_key_hash = ?, updated_at_ms = ? WHERE id = ?")
      .bind(await sha256Hex(overlayKey), Date.now(), roomId)
      .run();
    const revoked = await c.env.LIVE_ROOM.getByName(roomId).revokeOverlays();
    c.var.log.info("overlay_key_rotated", { roomId, revokedSockets: revoked });
    const origin = new URL(c.req.url).origin;
    return c.json({ overlayKey, overlayUrl: `${origin}/overlay.html?room=${roomId}&key=${overlayKey}` }, 201);
  },
);
