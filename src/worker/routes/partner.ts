/**
 * The partner API (issue 18), under /v1/partner: called with a partner API key, each route
 * declaring the scope it needs (middleware/partner-auth.ts). A partner sees only the rooms of
 * the creators it owns (assigned by operators); any other room is 404, as if it did not exist.
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import { partnerCreatorIds, partnerRoom } from "../../db/partners";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { errorResponses, jsonResponse, PrefixedId } from "../schemas";
import { defineRoute } from "./define";

export const partnerApi = new OpenAPIHono<AppEnv>();

const ROOM_PAGE_MAX = 200;
const TIPS_PAGE_MAX = 100;
const LEADERBOARD_MAX = 100;

const RoomParams = z.object({ roomId: PrefixedId("room") });

const PartnerRoomSchema = z
  .object({
    id: z.string(),
    creatorId: z.string(),
    title: z.string(),
    status: z.enum(["live", "offline"]),
    currentStreamId: z.string().nullable(),
  })
  .openapi("PartnerRoom");

async function mustOwnRoom(c: { var: AppEnv["Variables"] }, roomId: string) {
  const room = await partnerRoom(c.var.ledger.control, c.var.partner.partnerId, roomId);
  if (!room) throw new ApiError("room_not_found");
  return room;
}

partnerApi.openapi(
  defineRoute({
    method: "get",
    path: "/partner/rooms",
    auth: { partnerScope: "rooms.read" },
    tags: ["partner"],
    summary: "The partner's rooms (of the creators it owns)",
    responses: {
      200: jsonResponse(z.object({ items: z.array(PartnerRoomSchema) }), "The rooms"),
      ...errorResponses(401, 403),
    },
  }),
  async (c) => {
    const db = c.var.ledger.control;
    const creators = await partnerCreatorIds(db, c.var.partner.partnerId);
    const { results } = await db
      .prepare(
        `SELECT id, creator_id, title, status, current_stream_id FROM rooms
         WHERE creator_id IN (SELECT value FROM json_each(?)) ORDER BY id LIMIT ?`,
      )
      .bind(JSON.stringify(creators), ROOM_PAGE_MAX)
      .all<{
        id: string;
        creator_id: string;
        title: string;
        status: "live" | "offline";
        current_stream_id: string | null;
      }>();
    return c.json(
      {
        items: results.map((r) => ({
          id: r.id,
          creatorId: r.creator_id,
          title: r.title,
          status: r.status,
          currentStreamId: r.current_stream_id,
        })),
      },
      200,
    );
  },
);

partnerApi.openapi(
  defineRoute({
    method: "get",
    path: "/partner/rooms/{roomId}/leaderboard",
    auth: { partnerScope: "rooms.read" },
    tags: ["partner"],
    summary: "A room's leaderboard for a period (the live stream, a business day, ISO week or month)",
    request: {
      params: RoomParams,
      query: z.object({
        period: z.enum(["live", "day", "week", "month"]).openapi({ example: "day" }),
        periodKey: z
          .string()
          .min(1)
          .max(64)
          .openapi({ description: "The stream id, `2026-12-02`, `2026-W49` or `2026-12`.", example: "2026-12-02" }),
      }),
    },
    responses: {
      200: jsonResponse(
        z.object({
          items: z.array(z.object({ viewerId: z.string(), totalMinor: z.number().int(), tipCount: z.number().int() })),
        }),
        "The leaderboard, largest first",
      ),
      ...errorResponses(400, 401, 403, 404),
    },
  }),
  async (c) => {
    const { roomId } = c.req.valid("param");
    const { period, periodKey } = c.req.valid("query");
    await mustOwnRoom(c, roomId);
    const { results } = await c.var.ledger.control
      .prepare(
        `SELECT viewer_id, total_minor, tip_count FROM leaderboard_entries
         WHERE room_id = ? AND period = ? AND period_key = ? ORDER BY total_minor DESC, viewer_id LIMIT ?`,
      )
      .bind(roomId, period, periodKey, LEADERBOARD_MAX)
      .all<{ viewer_id: string; total_minor: number; tip_count: number }>();
    return c.json(
      {
        items: results.map((r) => ({ viewerId: r.viewer_id, totalMinor: r.total_minor, tipCount: r.tip_count })),
      },
      200,
    );
  },
);

const TipSchema = z
  .object({
    id: z.string(),
    roomId: z.string(),
    streamId: z.string(),
    viewerId: z.string(),
    giftId: z.string().nullable(),
    quantity: z.number().int(),
    amountMinor: z.number().int(),
    currency: z.string(),
    big: z.boolean(),
    createdAtMs: z.number().int(),
  })
  .openapi("PartnerTip");

partnerApi.openapi(
  defineRoute({
    method: "get",
    path: "/partner/rooms/{roomId}/tips",
    auth: { partnerScope: "tips.read" },
    tags: ["partner"],
    summary: "A room's tips, newest first (at most 100; `beforeMs` pages back)",
    request: {
      params: RoomParams,
      query: z.object({
        beforeMs: z.coerce.number().int().positive().optional(),
        limit: z.coerce.number().int().min(1).max(TIPS_PAGE_MAX).default(50),
      }),
    },
    responses: {
      200: jsonResponse(z.object({ items: z.array(TipSchema) }), "The tips"),
      ...errorResponses(400, 401, 403, 404),
    },
  }),
  async (c) => {
    const { roomId } = c.req.valid("param");
    const { beforeMs, limit } = c.req.valid("query");
    await mustOwnRoom(c, roomId);
    // A room's tips live in their viewers' shards: the newest `limit` of each, merged.
    const perShard = await Promise.all(
      c.var.ledger.shards.map(async (shard) => {
        const { results } = await shard.db
          .prepare(
            `SELECT id, room_id, stream_id, viewer_id, gift_id, quantity, amount_minor, currency, big, created_at_ms
             FROM tips WHERE room_id = ? AND created_at_ms < ? ORDER BY created_at_ms DESC, id DESC LIMIT ?`,
          )
          .bind(roomId, beforeMs ?? Number.MAX_SAFE_INTEGER, limit)
          .all<{
            id: string;
            room_id: string;
            stream_id: string;
            viewer_id: string;
            gift_id: string | null;
            quantity: number;
            amount_minor: number;
            currency: string;
            big: number;
            created_at_ms: number;
          }>();
        return results;
      }),
    );
    const items = perShard
      .flat()
      .sort((a, b) => b.created_at_ms - a.created_at_ms || (a.id < b.id ? 1 : -1))
      .slice(0, limit)
      .map((t) => ({
        id: t.id,
        roomId: t.room_id,
        streamId: t.stream_id,
        viewerId: t.viewer_id,
        giftId: t.gift_id,
        quantity: t.quantity,
        amountMinor: t.amount_minor,
        currency: t.currency,
        big: t.big === 1,
        createdAtMs: t.created_at_ms,
      }));
    return c.json({ items }, 200);
  },
);
