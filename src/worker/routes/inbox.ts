/**
 * The creator's inbox (站内信): their own messages, newest first, rendered at read time in
 * their locale (creators.locale, or `?locale=`) from the operators' templates or the built-in
 * defaults; the unread count; marking read; which kinds they muted. Messages live in the
 * creator's ledger shard (src/db/inbox.ts); they arrive through the CREATOR_NOTICES queue.
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import {
  creatorLocale,
  decodeInboxCursor,
  encodeInboxCursor,
  inboxPage,
  markRead,
  mutedKinds,
  setMutedKinds,
  templatesFor,
  unreadCount,
} from "../../db/inbox";
import { LIMITS } from "../../domain/limits";
import { isNoticeKind, NOTICE_KINDS, NOTICE_LOCALES, noticeLocaleOf, renderNotice } from "../../domain/notices";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { errorResponses, jsonBody, jsonResponse } from "../schemas";
import { defineRoute } from "./define";

const Locale = z.enum(NOTICE_LOCALES).openapi({ example: "zh-CN" });

const InboxMessageSchema = z
  .object({
    id: z.string(),
    kind: z.string().openapi({ description: `One of ${NOTICE_KINDS.join(", ")}.` }),
    title: z.string(),
    body: z.string(),
    vars: z.unknown().openapi({ description: "The notice's stored variables (amounts in fen)." }),
    createdAtMs: z.number().int(),
    readAtMs: z.number().int().nullable(),
    unread: z.boolean(),
  })
  .openapi("InboxMessage");

const InboxPageSchema = z
  .object({ locale: Locale, items: z.array(InboxMessageSchema), nextCursor: z.string().nullable() })
  .openapi("InboxPage");

const InboxQuery = z.object({
  cursor: z.string().max(240).optional().openapi({ description: "The `nextCursor` of the previous page." }),
  limit: z.coerce.number().int().min(1).max(LIMITS.pageSizeMax).default(LIMITS.pageSizeDefault),
  locale: Locale.optional().openapi({ description: "Render in this locale instead of the creator's own." }),
});

const MarkRead = z
  .union([
    z.strictObject({
      ids: z.array(z.string().min(1).max(LIMITS.noticeIdMaxLength)).min(1).max(LIMITS.inboxMarkReadIdsMax),
    }),
    z.strictObject({ all: z.literal(true) }),
  ])
  .openapi("InboxMarkRead", { example: { all: true } });

const Mutes = z
  .strictObject({ kinds: z.array(z.enum(NOTICE_KINDS)).max(NOTICE_KINDS.length) })
  .openapi("NotificationMutes", { example: { kinds: ["tips_merged"] } });

export const inbox = new OpenAPIHono<AppEnv>();

inbox.openapi(
  defineRoute({
    method: "get",
    path: "/creators/me/inbox",
    auth: ["creator"],
    tags: ["creators"],
    summary: "Your inbox, newest first, rendered in your locale (creator)",
    request: { query: InboxQuery },
    responses: { 200: jsonResponse(InboxPageSchema, "A page of messages"), ...errorResponses(400, 401, 403) },
  }),
  async (c) => {
    const { cursor, limit, locale: asked } = c.req.valid("query");
    const creatorId = c.var.principal.userId;
    const after = cursor === undefined ? null : decodeInboxCursor(cursor);
    if (cursor !== undefined && after === null)
      throw new ApiError("malformed_request", "The cursor is not one we gave.");
    const locale = asked ?? noticeLocaleOf(await creatorLocale(c.var.ledger.control, creatorId));
    const [page, templates] = await Promise.all([
      inboxPage(c.var.ledger.forOwner(creatorId).db, creatorId, after, limit),
      templatesFor(c.var.ledger.control, locale),
    ]);
    const ctx = { locale, timeZone: c.var.config.businessTimeZone };
    const items = page.rows.map((row) => {
      const template = isNoticeKind(row.kind) ? templates.get(row.kind) : undefined;
      const rendered = template && isNoticeKind(row.kind) ? renderNotice(row.kind, row.vars, template, ctx) : null;
      return {
        id: row.id,
        kind: row.kind,
        title: rendered?.title ?? row.kind,
        body: rendered?.body ?? "",
        vars: row.vars,
        createdAtMs: row.createdAtMs,
        readAtMs: row.readAtMs,
        unread: row.readAtMs === null,
      };
    });
    return c.json({ locale, items, nextCursor: page.next ? encodeInboxCursor(page.next) : null }, 200);
  },
);

inbox.openapi(
  defineRoute({
    method: "get",
    path: "/creators/me/inbox/unread-count",
    auth: ["creator"],
    tags: ["creators"],
    summary: "How many of your inbox messages are unread (creator)",
    responses: {
      200: jsonResponse(z.object({ unread: z.number().int() }).openapi("InboxUnread"), "The count"),
      ...errorResponses(401, 403),
    },
  }),
  async (c) => {
    const creatorId = c.var.principal.userId;
    return c.json({ unread: await unreadCount(c.var.ledger.forOwner(creatorId).db, creatorId) }, 200);
  },
);

inbox.openapi(
  defineRoute({
    method: "post",
    path: "/creators/me/inbox/read",
    auth: ["creator"],
    tags: ["creators"],
    summary: "Mark some (ids) or all of your inbox messages read (creator)",
    description: "Ids that are not yours or already read are ignored; `marked` says how many changed.",
    request: { body: jsonBody(MarkRead) },
    responses: {
      200: jsonResponse(
        z.object({ marked: z.number().int(), unread: z.number().int() }).openapi("InboxMarked"),
        "Marked",
      ),
      ...errorResponses(400, 401, 403),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const creatorId = c.var.principal.userId;
    const { db } = c.var.ledger.forOwner(creatorId);
    const marked = await markRead(db, creatorId, "all" in body ? "all" : body.ids, Date.now());
    return c.json({ marked, unread: await unreadCount(db, creatorId) }, 200);
  },
);

inbox.openapi(
  defineRoute({
    method: "get",
    path: "/creators/me/notification-mutes",
    auth: ["creator"],
    tags: ["creators"],
    summary: "The kinds of notice you muted (creator)",
    responses: { 200: jsonResponse(Mutes, "Your mutes"), ...errorResponses(401, 403) },
  }),
  async (c) => c.json({ kinds: await mutedKinds(c.var.ledger.control, c.var.principal.userId) }, 200),
);

inbox.openapi(
  defineRoute({
    method: "put",
    path: "/creators/me/notification-mutes",
    auth: ["creator"],
    tags: ["creators"],
    summary: "Set exactly which kinds of notice you mute (creator)",
    description: "Muted kinds are not delivered from now on; messages already in the inbox stay.",
    request: { body: jsonBody(Mutes) },
    responses: { 200: jsonResponse(Mutes, "Saved"), ...errorResponses(400, 401, 403) },
  }),
  async (c) => {
    const { kinds } = c.req.valid("json");
    const creatorId = c.var.principal.userId;
    await setMutedKinds(c.var.ledger.control, creatorId, kinds, Date.now());
    c.var.log.info("notification_mutes_set", { creatorId, kinds });
    return c.json({ kinds: await mutedKinds(c.var.ledger.control, creatorId) }, 200);
  },
);
