import { OpenAPIHono, z } from "@hono/zod-openapi";
import { type RecordDetail, recordDetail } from "../../db/reads/record-detail";
import {
  FILTERS,
  type FilterName,
  reversedTips,
  type SearchFilters,
  type SearchRow,
  searchLedger,
  statesOf,
  userOfWallet,
} from "../../db/reads/search";
import { CONTENT_KINDS } from "../../domain/content";
import { LIMITS } from "../../domain/limits";
import type { Permission } from "../../domain/permissions";
import {
  decodeSearchCursor,
  encodeSearchCursor,
  SEARCH_CURSOR_MAX_CHARS,
  SEARCH_KINDS,
  type SearchKind,
} from "../../domain/search";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { errorResponses, jsonResponse, PrefixedId, UserId } from "../schemas";
import { defineRoute } from "./define";

/**
 * Operator search and detail over the whole sharded ledger (issue 17; docs/API.md "Operator
 * search"): `GET /v1/admin/search/{kind}` lists a kind's records newest first across every
 * shard with an opaque cursor, `GET /v1/admin/search/{kind}/{id}` shows one with its
 * transitions and the ledger operations behind it. Each kind is read under the permission that
 * already reads its records.
 */
export const SEARCH_PERMISSIONS: Record<SearchKind, Permission> = {
  users: "wallet.read",
  creators: "wallet.read",
  tips: "wallet.read",
  packets: "wallet.read",
  orders: "payment.read",
  refunds: "payment.read",
  withdrawals: "withdrawal.read",
  unlocks: "wallet.read",
  content: "wallet.read",
};

/** A user id or a prefixed record id (letters, digits, `_` and `-`). */
const AnyId = z.string().regex(/^[A-Za-z0-9_-]{1,160}$/);

const SearchQuery = z
  .object({
    id: AnyId.optional().openapi({ description: "The record's id (a user's or creator's: their user id)." }),
    userId: UserId.optional().openapi({ description: "The viewer, payer or sender." }),
    creatorId: UserId.optional(),
    roomId: PrefixedId("room").optional(),
    orderId: PrefixedId("order").optional().openapi({ description: "Refunds: the order refunded." }),
    contentId: PrefixedId("cnt").optional().openapi({ description: "Unlocks and tips: the content item." }),
    contentKind: z.enum(CONTENT_KINDS).optional().openapi({ description: "Content items: their kind." }),
    state: z.string().min(1).max(32).optional(),
    fromMs: z.coerce.number().int().min(0).optional().openapi({ description: "Created at or after (ms)." }),
    toMs: z.coerce.number().int().min(0).optional().openapi({ description: "Created before (ms)." }),
    cursor: z
      .string()
      .max(SEARCH_CURSOR_MAX_CHARS)
      .optional()
      .openapi({ description: "The `nextCursor` of the previous page (opaque)." }),
    limit: z.coerce.number().int().min(1).max(LIMITS.pageSizeMax).default(LIMITS.pageSizeDefault),
  })
  .refine((q) => q.fromMs === undefined || q.toMs === undefined || q.fromMs < q.toMs, {
    message: "fromMs must be before toMs",
    path: ["toMs"],
  });

const SearchItemSchema = z
  .object({
    kind: z.enum(SEARCH_KINDS),
    id: z.string(),
    atMs: z.number().int().openapi({ description: "When it was created." }),
    shard: z.number().int().nullable().openapi({ description: "The ledger shard holding it (null: control)." }),
    state: z.string().nullable(),
    userId: z.string().nullable(),
    creatorId: z.string().nullable(),
    roomId: z.string().nullable(),
    orderId: z.string().nullable(),
    contentId: z.string().nullable().openapi({ description: "Unlocks, content items, tips on content: the item." }),
    amountMinor: z.number().int().nullable(),
    currency: z.string().nullable(),
    summary: z.string(),
  })
  .openapi("SearchItem");

const SearchPageSchema = z
  .object({
    kind: z.enum(SEARCH_KINDS),
    items: z.array(SearchItemSchema),
    nextCursor: z.string().nullable(),
    read: z.object({
      statements: z.number().int().openapi({ description: "One per shard (one for creators)." }),
      rowsMax: z.number().int().openapi({ description: "At most this many rows answered: statements × (limit + 1)." }),
      rowsRead: z.number().int().openapi({ description: "Rows the databases reported reading (D1 `rows_read`)." }),
    }),
  })
  .openapi("SearchPage");

const PostingSchema = z.object({
  id: z.number().int(),
  from: z.string(),
  to: z.string(),
  amountMinor: z.number().int(),
  currency: z.string(),
  createdAtMs: z.number().int(),
});

const DetailSchema = z
  .object({
    kind: z.enum(SEARCH_KINDS),
    id: z.string(),
    shard: z.number().int().nullable(),
    record: z.record(z.string(), z.unknown()).openapi({ description: "The row as its shard holds it." }),
    transitions: z.array(
      z.object({
        seq: z.number().int().nullable(),
        from: z.string().nullable(),
        to: z.string(),
        cause: z.string(),
        ref: z.string().nullable(),
        actorId: z.string().nullable(),
        atMs: z.number().int(),
        recorded: z.boolean().openapi({
          description:
            "A row of the kind's transition table (orders, withdrawals); false: read off the record's times.",
        }),
      }),
    ),
    operations: z.array(
      z.object({
        id: z.string(),
        kind: z.string(),
        shard: z.number().int(),
        amountMinor: z.number().int(),
        currency: z.string(),
        state: z.string(),
        actorId: z.string(),
        reason: z.string().nullable(),
        createdAtMs: z.number().int(),
        transfers: z.array(PostingSchema),
      }),
    ),
    related: z.record(z.string(), z.unknown()),
  })
  .openapi("RecordDetail");

const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const num = (v: unknown): number | null => (typeof v === "number" ? v : null);

/** A row of any kind as the one shape the console's results table shows. */
function itemOf(kind: SearchKind, r: SearchRow, reversed: ReadonlySet<string>): z.infer<typeof SearchItemSchema> {
  const base = {
    kind,
    shard: r.shard,
    atMs: Number(r.created_at_ms),
    state: str(r.state),
    userId: null,
    creatorId: null,
    roomId: null,
    orderId: null,
    contentId: null,
    amountMinor: null,
    currency: str(r.currency),
  };
  switch (kind) {
    case "users": {
      const userId = userOfWallet(String(r.address));
      return { ...base, id: userId, userId, amountMinor: num(r.balance_minor), summary: "wallet balance" };
    }
    case "creators":
      return {
        ...base,
        id: String(r.user_id),
        state: r.risk_hold ? "held" : "active",
        creatorId: String(r.user_id),
        roomId: str(r.room_id),
        summary: `${String(r.display_name)}${r.room_status ? ` · room ${String(r.room_status)}` : ""}`,
      };
    case "tips":
      return {
        ...base,
        id: String(r.id),
        state: reversed.has(String(r.id)) ? "reversed" : "sent",
        userId: str(r.viewer_id),
        creatorId: str(r.creator_id),
        roomId: str(r.room_id),
        contentId: str(r.content_id),
        amountMinor: num(r.amount_minor),
        summary: `${r.gift_id ? `${String(r.gift_id)} × ${String(r.quantity)}` : "custom tip"}${r.content_id ? " · on content" : ""}`,
      };
    case "orders":
      return {
        ...base,
        id: String(r.id),
        userId: str(r.user_id),
        orderId: String(r.id),
        amountMinor: num(r.amount_minor),
        summary: `${String(r.kind)} via ${String(r.channel)}${Number(r.refunded_minor) > 0 ? ` · refunded ${String(r.refunded_minor)}` : ""}`,
      };
    case "refunds":
      return {
        ...base,
        id: String(r.id),
        userId: str(r.user_id),
        orderId: str(r.order_id),
        amountMinor: num(r.amount_minor),
        summary: String(r.reason),
      };
    case "packets":
      return {
        ...base,
        id: String(r.id),
        state: str(r.status),
        userId: str(r.sender_id),
        roomId: str(r.room_id),
        amountMinor: num(r.total_minor),
        summary: `${String(r.shares)} ${r.split === "equal" ? "equal" : "lucky"} shares · ${String(r.credited_count)} claimed`,
      };
    case "withdrawals":
      return {
        ...base,
        id: String(r.id),
        creatorId: str(r.creator_id),
        amountMinor: num(r.amount_minor),
        summary: `${String(r.channel)} → ${String(r.destination_masked)} (${String(r.review)} review)`,
      };
    case "unlocks":
      return {
        ...base,
        id: String(r.id),
        userId: str(r.user_id),
        creatorId: str(r.creator_id),
        contentId: str(r.content_id),
        amountMinor: num(r.amount_minor),
        summary: `unlock of ${String(r.content_id)}${r.moved_from_shard !== null ? " · moved" : ""}`,
      };
    case "content":
      return {
        ...base,
        id: String(r.id),
        state: str(r.status),
        creatorId: str(r.creator_id),
        contentId: String(r.id),
        amountMinor: num(r.price_minor),
        summary: `${String(r.kind)} · ${String(r.title)}${r.price_minor === null ? " · free" : ""}`,
      };
  }
}

/** An id of each kind, for the OpenAPI document. */
const DETAIL_EXAMPLES: Record<SearchKind, string> = {
  users: "viewer-bo",
  creators: "creator-lin",
  tips: `tip_01JDEM${"0".repeat(20)}`,
  packets: `packet_01JDEM${"0".repeat(20)}`,
  orders: `order_01JDEM${"0".repeat(20)}`,
  refunds: `orf_01JDEM${"0".repeat(20)}`,
  withdrawals: `wd_01JDEM${"0".repeat(20)}`,
  unlocks: `unl_01JDEM${"0".repeat(20)}`,
  content: `cnt_01JDEM${"0".repeat(20)}`,
};

export const adminSearch = new OpenAPIHono<AppEnv>();

const FILTER_NAMES: readonly FilterName[] = [
  "id",
  "userId",
  "creatorId",
  "roomId",
  "orderId",
  "contentId",
  "contentKind",
  "state",
];

for (const kind of SEARCH_KINDS) {
  const permission = SEARCH_PERMISSIONS[kind];
  const states = statesOf(kind);
  adminSearch.openapi(
    defineRoute({
      method: "get",
      path: `/admin/search/${kind}`,
      auth: { permission },
      tags: ["operators"],
      summary: `Search ${kind} over every ledger shard, newest first`,
      description:
        `Filters: ${FILTERS[kind].join(", ")}, fromMs, toMs${states.length > 0 ? `; states: ${states.join(", ")}` : ""}. ` +
        "Any other filter: 400 `search_filter_unsupported`. Every shard answers at most `limit + 1` rows after the " +
        "cursor; the page is their merge by (time desc, id desc), so following `nextCursor` lists every record once.",
      request: { query: SearchQuery },
      responses: { 200: jsonResponse(SearchPageSchema, "One page"), ...errorResponses(400, 401, 403) },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const refused = FILTER_NAMES.filter((n) => query[n] !== undefined && !FILTERS[kind].includes(n));
      if (refused.length > 0) {
        throw new ApiError("search_filter_unsupported", undefined, { kind, filters: refused, accepted: FILTERS[kind] });
      }
      if (query.state !== undefined && !states.includes(query.state)) {
        throw new ApiError("search_filter_unsupported", undefined, { kind, state: query.state, states });
      }
      const cursor = query.cursor === undefined ? null : decodeSearchCursor(kind, query.cursor);
      if (query.cursor !== undefined && cursor === null) {
        throw new ApiError("malformed_request", `This is not a cursor of a ${kind} search.`);
      }
      const filters: SearchFilters = Object.fromEntries(
        Object.entries({
          id: query.id,
          userId: query.userId,
          creatorId: query.creatorId,
          roomId: query.roomId,
          orderId: query.orderId,
          contentId: query.contentId,
          contentKind: query.contentKind,
          state: query.state,
          fromMs: query.fromMs,
          toMs: query.toMs,
        }).filter(([, v]) => v !== undefined),
      );
      const page = await searchLedger(c.var.ledger, kind, filters, cursor, query.limit);
      const reversed =
        kind === "tips"
          ? await reversedTips(
              c.var.ledger,
              page.rows.map((r) => ({ id: String(r.id), creatorId: String(r.creator_id) })),
            )
          : new Map();
      const reversedIds = new Set(reversed.keys());
      return c.json(
        {
          kind,
          items: page.rows.map((r) => itemOf(kind, r, reversedIds)),
          nextCursor: page.next === null ? null : encodeSearchCursor(kind, page.next),
          read: { statements: page.statements, rowsMax: page.rowsMax, rowsRead: page.rowsRead },
        },
        200,
      );
    },
  );

  adminSearch.openapi(
    defineRoute({
      method: "get",
      path: `/admin/search/${kind}/{id}`,
      auth: { permission },
      tags: ["operators"],
      summary: `One of the ${kind}: the record, its transitions and the ledger operations behind it`,
      description:
        "Operations are found by reference in every shard: the record's own operation, those derived from it " +
        "(a refund's reversal, a withdrawal's payout or release, a tip's reversal, a packet's claims and refund) and " +
        "their cross-shard deliveries, each with its transfers. 404 `record_not_found` when no shard holds it.",
      request: {
        params: z.object({
          id: AnyId.openapi({ param: { name: "id", in: "path" }, example: DETAIL_EXAMPLES[kind] }),
        }),
      },
      responses: { 200: jsonResponse(DetailSchema, "The record"), ...errorResponses(400, 401, 403, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const detail: RecordDetail | null = await recordDetail(c.var.ledger, kind, id);
      if (detail === null) throw new ApiError("record_not_found");
      return c.json(detail, 200);
    },
  );
}
