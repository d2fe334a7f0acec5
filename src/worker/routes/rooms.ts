import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { newId } from "../../domain/ids";
import { LIMITS } from "../../domain/limits";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { hasAnyRole, requireAuth } from "../middleware/auth";
import { bearerSecurity, errorResponses, jsonBody, jsonResponse, UserId } from "../schemas";

export const RoomId = z
  .string()
  .regex(/^room_[0-9A-HJKMNP-TV-Z]{26}$/)
  .openapi({ example: "room_01JDEMO0000000000000000000" });

export const RoomSchema = z
  .object({
    id: RoomId,
    creatorId: UserId,
    title: z.string(),
    status: z.enum(["live", "ended"]),
    openedAtMs: z.number().int(),
    endedAtMs: z.number().int().nullable(),
  })
  .openapi("Room");

const OpenRoom = z
  .strictObject({
    title: z.string().trim().min(1).max(LIMITS.titleLengthMax),
    displayName: z.string().trim().min(1).max(LIMITS.nameLengthMax).optional(),
  })
  .openapi("OpenRoom");

interface RoomRow {
  id: string;
  creator_id: string;
  title: string;
  status: "live" | "ended";
  opened_at_ms: number;
  ended_at_ms: number | null;
}

export function roomView(r: RoomRow) {
  return {
    id: r.id,
    creatorId: r.creator_id,
    title: r.title,
    status: r.status,
    openedAtMs: r.opened_at_ms,
    endedAtMs: r.ended_at_ms,
  };
}

export async function findRoom(db: D1Database, roomId: string): Promise<RoomRow | null> {
  return db.prepare("SELECT * FROM rooms WHERE id = ?").bind(roomId).first<RoomRow>();
}

const roomParams = z.object({ roomId: RoomId.openapi({ param: { name: "roomId", in: "path" } }) });

export const rooms = new OpenAPIHono<AppEnv>();

rooms.use("/rooms", requireAuth());
rooms.use("/rooms/*", requireAuth());

rooms.openapi(
  createRoute({
    method: "post",
    path: "/rooms",
    tags: ["rooms"],
    summary: "Go live: open a room (creators; one live room per creator)",
    security: bearerSecurity,
    request: { body: jsonBody(OpenRoom) },
    responses: { 201: jsonResponse(RoomSchema, "The room is live"), ...errorResponses(400, 401, 403, 409) },
  }),
  async (c) => {
    const principal = c.var.principal;
    if (!principal.roles.has("creator")) throw new ApiError("forbidden", "Only creators can open a room.");
    const body = c.req.valid("json");
    const nowMs = Date.now();
    const id = newId("room", nowMs);
    const db = c.env.DB;
    // The partial unique index on (creator_id) WHERE status = 'live' is the guard; the
    // INSERT … WHERE NOT EXISTS avoids turning the common case into a constraint error.
    const [, inserted] = await db.batch([
      db
        .prepare(
          `INSERT INTO creators (user_id, display_name, platform_share_bps, created_at_ms, updated_at_ms)
           VALUES (?, ?, NULL, ?, ?)
           ON CONFLICT (user_id) DO UPDATE SET display_name = COALESCE(?, display_name), updated_at_ms = excluded.updated_at_ms`,
        )
        .bind(principal.userId, body.displayName ?? principal.userId, nowMs, nowMs, body.displayName ?? null),
      db
        .prepare(
          `INSERT INTO rooms (id, creator_id, title, status, opened_at_ms, ended_at_ms)
           SELECT ?, ?, ?, 'live', ?, NULL
           WHERE NOT EXISTS (SELECT 1 FROM rooms WHERE creator_id = ? AND status = 'live')
           RETURNING *`,
        )
        .bind(id, principal.userId, body.title, nowMs, principal.userId),
    ]);
    const row = inserted?.results[0] as RoomRow | undefined;
    if (!row) throw new ApiError("room_already_live");
    c.var.log.info("room_opened", { roomId: id, creatorId: principal.userId });
    return c.json(roomView(row), 201);
  },
);

rooms.openapi(
  createRoute({
    method: "get",
    path: "/rooms/{roomId}",
    tags: ["rooms"],
    summary: "A room",
    security: bearerSecurity,
    request: { params: roomParams },
    responses: { 200: jsonResponse(RoomSchema, "The room"), ...errorResponses(401, 404) },
  }),
  async (c) => {
    const row = await findRoom(c.env.DB, c.req.valid("param").roomId);
    if (!row) throw new ApiError("room_not_found");
    return c.json(roomView(row), 200);
  },
);

rooms.openapi(
  createRoute({
    method: "post",
    path: "/rooms/{roomId}/end",
    tags: ["rooms"],
    summary: "End the stream (the room's creator, or admin/ops). Ending an ended room is a no-op.",
    security: bearerSecurity,
    request: { params: roomParams },
    responses: { 200: jsonResponse(RoomSchema, "The room has ended"), ...errorResponses(401, 403, 404) },
  }),
  async (c) => {
    const { roomId } = c.req.valid("param");
    const principal = c.var.principal;
    const room = await findRoom(c.env.DB, roomId);
    if (!room) throw new ApiError("room_not_found");
    if (room.creator_id !== principal.userId && !hasAnyRole(principal, ["admin", "ops"])) {
      throw new ApiError("forbidden", "Only the room's creator can end it.");
    }
    const ended = await c.env.DB.prepare(
      "UPDATE rooms SET status = 'ended', ended_at_ms = ? WHERE id = ? AND status = 'live' RETURNING *",
    )
      .bind(Date.now(), roomId)
      .first<RoomRow>();
    if (ended) c.var.log.info("room_ended", { roomId, actorId: principal.userId });
    // Already ended (possibly by a concurrent request): answer with the stored end.
    const current = ended ?? (await findRoom(c.env.DB, roomId)) ?? room;
    return c.json(roomView(current), 200);
  },
);
