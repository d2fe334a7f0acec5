import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { batchWithAuditEntry } from "../../db/audit";
import { findRoom, type RoomRow } from "../../db/reads/rooms";
import { LIMITS } from "../../domain/limits";
import { formatMinor } from "../../domain/money";
import { effectiveBigThresholdMinor, roomThresholdRefusal } from "../../domain/room/lanes";
import { operatorAction } from "../audit";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { operatorMay } from "../middleware/auth";
import { screenedName } from "../moderation";
import { endStream, goLive } from "../rooms/lifecycle";
import { deliverAfterCommit } from "../rooms/outbox";
import { errorResponses, jsonBody, jsonResponse, PrefixedId, UserId } from "../schemas";
import { defineRoute } from "./define";

export const RoomId = PrefixedId("room");

export const RoomSchema = z
  .object({
    id: RoomId,
    creatorId: UserId,
    title: z.string(),
    status: z.enum(["live", "offline"]),
    stream: z
      .object({ id: z.string(), startedAtMs: z.number().int(), endedAtMs: z.number().int().nullable() })
      .nullable()
      .openapi({ description: "The current stream while live; the last one while offline." }),
    bigGiftThresholdMinor: z.number().int().nullable().openapi({
      description: "The room's own big-gift threshold (at most the platform's), or null: the platform's.",
    }),
    effectiveBigGiftThresholdMinor: z
      .number()
      .int()
      .openapi({
        description:
          "Tips at least this gross (any gift, any quantity, or custom) go out at once; the rest merge. " +
          "The room's threshold if lower than the platform's, else the platform's (BIG_GIFT_THRESHOLD_MINOR).",
      }),
    createdAtMs: z.number().int(),
  })
  .openapi("Room");

const GoLive = z
  .strictObject({
    title: z.string().trim().min(1).max(LIMITS.titleMaxLength),
    displayName: z.string().trim().min(1).max(LIMITS.nameMaxLength).optional(),
  })
  .openapi("GoLive");

const RoomSettings = z
  .strictObject({
    title: z.string().trim().min(1).max(LIMITS.titleMaxLength).optional(),
    bigGiftThresholdMinor: z.number().int().min(1).max(LIMITS.amountMaxMinor).nullable().optional(),
  })
  .refine((v) => Object.keys(v).length > 0, "change at least one field")
  .openapi("RoomSettings");

interface StreamRow {
  id: string;
  started_at_ms: number;
  ended_at_ms: number | null;
}

async function roomView(db: D1Database, r: RoomRow, platformBigMinor: number) {
  const stream = r.current_stream_id
    ? await db
        .prepare("SELECT id, started_at_ms, ended_at_ms FROM streams WHERE id = ?")
        .bind(r.current_stream_id)
        .first<StreamRow>()
    : null;
  return {
    id: r.id,
    creatorId: r.creator_id,
    title: r.title,
    status: r.status,
    stream: stream ? { id: stream.id, startedAtMs: stream.started_at_ms, endedAtMs: stream.ended_at_ms } : null,
    bigGiftThresholdMinor: r.big_gift_threshold_minor,
    effectiveBigGiftThresholdMinor: effectiveBigThresholdMinor(platformBigMinor, r.big_gift_threshold_minor),
    createdAtMs: r.created_at_ms,
  };
}

export const roomParams = z.object({ roomId: RoomId.openapi({ param: { name: "roomId", in: "path" } }) });

/**
 * Only the room's creator — or, where `operators` is set, an operator holding `room.moderate`
 * (read from the operator directory, never from the token) — may act on the room.
 */
export async function assertRoomOwner(c: Context<AppEnv>, room: RoomRow, operators: boolean): Promise<void> {
  if (room.creator_id === c.var.principal.userId) return;
  if (operators && (await operatorMay(c, "room.moderate"))) return;
  throw new ApiError("forbidden", "Only the room's creator can do this.");
}

export const rooms = new OpenAPIHono<AppEnv>();

rooms.openapi(
  defineRoute({
    method: "post",
    path: "/rooms",
    auth: "signed-in",
    tags: ["rooms"],
    summary: "Go live: start a stream in your room (created on first use; creators only)",
    description:
      "A creator has one room; it persists across streams (its day/week/month leaderboards span them). " +
      "Going live while already live is 409 room_already_live.",
    request: { body: jsonBody(GoLive) },
    responses: { 201: jsonResponse(RoomSchema, "The room is live"), ...errorResponses(400, 401, 403, 409, 422) },
  }),
  async (c) => {
    const principal = c.var.principal;
    if (!principal.roles.has("creator")) throw new ApiError("forbidden", "Only creators can go live.");
    const body = c.req.valid("json");
    // Titles and names are shown to everyone: masked, or refused (422 text_refused) for a hold-level word.
    const title = await screenedName(c, body.title);
    const displayName = body.displayName === undefined ? null : await screenedName(c, body.displayName);
    const result = await goLive(c.var.ledger.control, { userId: principal.userId, displayName }, title, Date.now());
    if (result.kind === "already_live") throw new ApiError("room_already_live");
    const room = result.room;
    const db = c.var.ledger.control;
    c.executionCtx.waitUntil(deliverAfterCommit(c.env, c.var.ledger, "control", [result.outboxId], c.var.log));
    c.var.log.info("stream_started", {
      roomId: room.id,
      streamId: room.current_stream_id,
      creatorId: principal.userId,
    });
    return c.json(await roomView(db, room, c.var.config.bigGiftThresholdMinor), 201);
  },
);

rooms.openapi(
  defineRoute({
    method: "get",
    path: "/rooms/{roomId}",
    auth: "signed-in",
    tags: ["rooms"],
    summary: "A room",
    request: { params: roomParams },
    responses: { 200: jsonResponse(RoomSchema, "The room"), ...errorResponses(401, 404) },
  }),
  async (c) => {
    const row = await findRoom(c.var.ledger.control, c.req.valid("param").roomId);
    if (!row) throw new ApiError("room_not_found");
    return c.json(await roomView(c.var.ledger.control, row, c.var.config.bigGiftThresholdMinor), 200);
  },
);

rooms.openapi(
  defineRoute({
    method: "patch",
    path: "/rooms/{roomId}",
    auth: "signed-in",
    tags: ["rooms"],
    summary: "Change a room's title or big-gift threshold (its creator, or an operator with room.moderate)",
    description:
      "A room may lower the platform's big-gift threshold for itself, never raise it: a value above it is " +
      "422 threshold_above_platform (nothing changed); null goes back to the platform's. " +
      "An operator's change is audited (room_settings.set).",
    request: { params: roomParams, body: jsonBody(RoomSettings) },
    responses: { 200: jsonResponse(RoomSchema, "Saved"), ...errorResponses(400, 401, 403, 404, 422) },
  }),
  async (c) => {
    const { roomId } = c.req.valid("param");
    const body = c.req.valid("json");
    const room = await findRoom(c.var.ledger.control, roomId);
    if (!room) throw new ApiError("room_not_found");
    await assertRoomOwner(c, room, true);
    const platformBigMinor = c.var.config.bigGiftThresholdMinor;
    const refused = roomThresholdRefusal(platformBigMinor, body.bigGiftThresholdMinor ?? null);
    if (refused !== null) {
      throw new ApiError(
        refused,
        `The platform's big-gift threshold is ${formatMinor(platformBigMinor)}; a room may only lower it.`,
        {
          platformThresholdMinor: platformBigMinor,
        },
      );
    }
    const title = body.title === undefined ? null : await screenedName(c, body.title);
    const db = c.var.ledger.control;
    const update = db
      .prepare(
        `UPDATE rooms SET title = COALESCE(?, title),
         big_gift_threshold_minor = CASE WHEN ? THEN ? ELSE big_gift_threshold_minor END, updated_at_ms = ?
       WHERE id = ? RETURNING *`,
      )
      .bind(
        title,
        body.bigGiftThresholdMinor !== undefined ? 1 : 0,
        body.bigGiftThresholdMinor ?? null,
        Date.now(),
        roomId,
      );
    let updated: RoomRow | null;
    if (room.creator_id === c.var.principal.userId) {
      updated = await update.first<RoomRow>();
    } else {
      // An operator (room.moderate) changing someone's room: audited in the update's own batch.
      // The title is the creator's text: the entry says only whether it changed.
      const [result] = await batchWithAuditEntry(
        db,
        operatorAction(c, {
          action: "room_settings.set",
          target: roomId,
          before: { bigGiftThresholdMinor: room.big_gift_threshold_minor },
          after: {
            bigGiftThresholdMinor:
              body.bigGiftThresholdMinor === undefined ? room.big_gift_threshold_minor : body.bigGiftThresholdMinor,
            titleChanged: title !== null,
          },
        }),
        [update],
      );
      updated = (result?.results[0] as RoomRow | undefined) ?? null;
    }
    if (!updated) throw new ApiError("room_not_found");
    return c.json(await roomView(db, updated, platformBigMinor), 200);
  },
);

rooms.openapi(
  defineRoute({
    method: "post",
    path: "/rooms/{roomId}/end",
    auth: "signed-in",
    tags: ["rooms"],
    summary:
      "End the stream (the room's creator, or an operator with room.moderate). Ending an offline room is a no-op.",
    request: { params: roomParams },
    responses: { 200: jsonResponse(RoomSchema, "The room is offline"), ...errorResponses(401, 403, 404) },
  }),
  async (c) => {
    const { roomId } = c.req.valid("param");
    const principal = c.var.principal;
    const db = c.var.ledger.control;
    const room = await findRoom(db, roomId);
    if (!room) throw new ApiError("room_not_found");
    await assertRoomOwner(c, room, true);
    const outboxId = await endStream(db, room, Date.now());
    if (outboxId !== null) {
      c.executionCtx.waitUntil(deliverAfterCommit(c.env, c.var.ledger, "control", [outboxId], c.var.log));
      c.var.log.info("stream_ended", { roomId, streamId: room.current_stream_id, actorId: principal.userId });
    }
    const current = (await findRoom(db, roomId)) ?? room;
    return c.json(await roomView(db, current, c.var.config.bigGiftThresholdMinor), 200);
  },
);
