/**
 * Moderation (issue 16): the sensitive-word list (read with `moderation.read`, changed with
 * `moderation.manage`, every change audited in the control chain) and the review queue of held
 * tip messages and red-packet greetings (approve: the room shows it; reject: it stays hidden;
 * audited in the tip's or the packet's shard).
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import { batchWithAuditEntry } from "../../db/audit";
import {
  bumpListVersion,
  readWordList,
  type StoredWord,
  storedWord,
  type WordRow,
  wordListCache,
} from "../../db/moderation-words";
import { type PacketGreetingRow, reviewPacketGreeting } from "../../db/packet-greetings";
import { type HeldMessageRow, listHeldMessages, reviewTipMessage, type TipMessageRow } from "../../db/tip-messages";
import { idPattern } from "../../domain/ids";
import { LIMITS } from "../../domain/limits";
import { codePointLength, MODERATION_LEVELS, normalizeText } from "../../domain/moderation";
import { operatorAction } from "../audit";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { deliverAfterCommit } from "../rooms/outbox";
import { errorResponses, jsonBody, jsonResponse, UserId } from "../schemas";
import { forgetRecentTips } from "./content-tips";
import { defineRoute } from "./define";

const WordText = z
  .string()
  .trim()
  .min(1)
  .max(LIMITS.moderationWordMaxLength * 2)
  .refine((w) => codePointLength(w) <= LIMITS.moderationWordMaxLength, "at most 32 code points")
  .refine((w) => normalizeText(w).symbols.length > 0, "has at least one letter or digit");

const WordSchema = z
  .object({
    word: z.string(),
    level: z.enum(MODERATION_LEVELS),
    variants: z.array(z.string()),
    createdBy: z.string(),
    createdAtMs: z.number().int(),
  })
  .openapi("ModerationWord");

const AddWord = z
  .strictObject({
    word: WordText,
    level: z.enum(MODERATION_LEVELS).openapi({
      description:
        "`mask`: shown with the word masked (titles and names too); `hold`: a message waits for review, a title or a name is refused.",
    }),
    variants: z
      .array(WordText)
      .max(LIMITS.moderationVariantsMax)
      .default([])
      .openapi({ description: "Other spellings: traditional forms beyond the built-in table, inflections." }),
  })
  .openapi("ModerationWordRequest", { example: { word: "加微信", level: "hold", variants: ["加vx"] } });

const HeldMessageSchema = z
  .object({
    kind: z.enum(["tip", "packet"]).openapi({ description: "A tip's message, or a red packet's greeting." }),
    id: z.string().openapi({ description: "The tip's or the packet's id (what approve and reject take)." }),
    tipId: z.string().nullable().openapi({ description: "The tip's id; null for a packet's greeting." }),
    roomId: z.string().nullable().openapi({ description: "Null for a message on a content item's tip." }),
    contentId: z
      .string()
      .nullable()
      .openapi({ description: "The content item tipped (issue 19); null for a message in a room." }),
    viewerId: UserId.openapi({ description: "Who wrote it: the tip's viewer, or the packet's sender." }),
    creatorId: UserId,
    text: z.string().openapi({ description: "What the viewer (or sender) wrote." }),
    shown: z.string().openapi({ description: "What the room will show if approved (mask-level words masked)." }),
    status: z.enum(["shown", "masked", "held", "approved", "rejected"]),
    createdAtMs: z.number().int(),
    reviewedBy: z.string().nullable(),
    reviewedAtMs: z.number().int().nullable(),
  })
  .openapi("HeldMessage");

function tipMessageRow(r: TipMessageRow): HeldMessageRow {
  return { kind: "tip", id: r.tip_id, author_id: r.viewer_id, ...r };
}

function greetingRow(r: PacketGreetingRow): HeldMessageRow {
  return { kind: "packet", id: r.packet_id, author_id: r.sender_id, content_id: null, ...r };
}

function messageView(r: HeldMessageRow): z.infer<typeof HeldMessageSchema> {
  return {
    kind: r.kind,
    id: r.id,
    tipId: r.kind === "tip" ? r.id : null,
    roomId: r.room_id,
    contentId: r.content_id,
    viewerId: r.author_id,
    creatorId: r.creator_id,
    text: r.text,
    shown: r.shown,
    status: r.status,
    createdAtMs: r.created_at_ms,
    reviewedBy: r.reviewed_by,
    reviewedAtMs: r.reviewed_at_ms,
  };
}

const wordView = (w: StoredWord): z.infer<typeof WordSchema> => ({ ...w, variants: [...w.variants] });

/** `<createdAtMs>.<id>` (a tip's or a packet's): where the next page of the queue starts. */
const HeldCursor = z
  .string()
  .regex(/^\d{1,16}\.(tip|packet)_[0-9A-Za-z_]{1,60}$/)
  .optional()
  .openapi({ description: "The `nextCursor` of the previous page." });

export const moderation = new OpenAPIHono<AppEnv>();

moderation.openapi(
  defineRoute({
    method: "get",
    path: "/admin/moderation/words",
    auth: { permission: "moderation.read" },
    tags: ["operators"],
    summary: "The sensitive-word list",
    responses: {
      200: jsonResponse(z.object({ words: z.array(WordSchema), version: z.number().int() }), "The list"),
      ...errorResponses(401, 403),
    },
  }),
  async (c) => {
    const { words, version } = await readWordList(c.var.ledger.control);
    return c.json({ words: words.map(wordView), version }, 200);
  },
);

moderation.openapi(
  defineRoute({
    method: "post",
    path: "/admin/moderation/words",
    auth: { permission: "moderation.manage" },
    tags: ["operators"],
    summary: "Add a word to the list (every isolate uses it within the cache TTL)",
    request: { body: jsonBody(AddWord) },
    responses: {
      201: jsonResponse(z.object({ word: WordSchema }), "Added"),
      ...errorResponses(400, 401, 403, 409, 422),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const { control } = c.var.ledger;
    const nowMs = Date.now();
    const row: WordRow = {
      word: body.word,
      level: body.level,
      variants: JSON.stringify(body.variants),
      created_by: c.var.principal.userId,
      created_at_ms: nowMs,
    };
    const count = await control.prepare("SELECT COUNT(*) AS n FROM moderation_words").first<number>("n");
    if ((count ?? 0) >= LIMITS.moderationWordsMax) throw new ApiError("conflict", "The word list is full.");
    const word = storedWord(row);
    const [inserted] = await batchWithAuditEntry(
      control,
      operatorAction(c, { action: "moderation.word.add", target: body.word, before: null, after: wordView(word) }),
      [
        control
          .prepare(
            `INSERT INTO moderation_words (word, level, variants, created_by, created_at_ms) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (word) DO NOTHING`,
          )
          .bind(row.word, row.level, row.variants, row.created_by, row.created_at_ms),
        bumpListVersion(control, nowMs),
      ],
    );
    if ((inserted?.meta.changes ?? 0) !== 1) throw new ApiError("moderation_word_exists");
    wordListCache.forget();
    c.var.log.info("moderation_word_added", {
      word: body.word,
      wordLevel: body.level,
      actorId: c.var.principal.userId,
    });
    return c.json({ word: wordView(word) }, 201);
  },
);

moderation.openapi(
  defineRoute({
    method: "delete",
    path: "/admin/moderation/words/{word}",
    auth: { permission: "moderation.manage" },
    tags: ["operators"],
    summary: "Remove a word from the list",
    request: {
      params: z.object({
        word: z
          .string()
          .min(1)
          .max(128)
          // As stored: trimmed (a word is added trimmed).
          .regex(/^\S(.*\S)?$/u, "a word as listed, without surrounding spaces")
          .openapi({ example: "casino" })
          .openapi({ param: { name: "word", in: "path" } }),
      }),
    },
    responses: { 204: { description: "Removed" }, ...errorResponses(401, 403, 404) },
  }),
  async (c) => {
    const { word } = c.req.valid("param");
    const { control } = c.var.ledger;
    const before = await control.prepare("SELECT * FROM moderation_words WHERE word = ?").bind(word).first<WordRow>();
    if (before === null) throw new ApiError("moderation_word_not_found");
    const [deleted] = await batchWithAuditEntry(
      control,
      operatorAction(c, {
        action: "moderation.word.remove",
        target: word,
        before: wordView(storedWord(before)),
        after: null,
      }),
      [control.prepare("DELETE FROM moderation_words WHERE word = ?").bind(word), bumpListVersion(control, Date.now())],
    );
    if ((deleted?.meta.changes ?? 0) !== 1) throw new ApiError("moderation_word_not_found");
    wordListCache.forget();
    c.var.log.info("moderation_word_removed", { word, actorId: c.var.principal.userId });
    return c.body(null, 204);
  },
);

moderation.openapi(
  defineRoute({
    method: "get",
    path: "/admin/messages/held",
    auth: { permission: "moderation.read" },
    tags: ["operators"],
    summary:
      "The review queue: tip messages and red-packet greetings held by the word list, oldest first, cursor-paginated",
    request: {
      query: z.object({
        cursor: HeldCursor,
        limit: z.coerce.number().int().min(1).max(LIMITS.heldMessagesPageMax).default(LIMITS.heldMessagesPageDefault),
      }),
    },
    responses: {
      200: jsonResponse(
        z.object({ messages: z.array(HeldMessageSchema), nextCursor: z.string().nullable() }),
        "A page of held messages",
      ),
      ...errorResponses(400, 401, 403),
    },
  }),
  async (c) => {
    const { cursor, limit } = c.req.valid("query");
    const dot = cursor?.indexOf(".") ?? -1;
    const after =
      cursor === undefined ? null : { createdAtMs: Number(cursor.slice(0, dot)), id: cursor.slice(dot + 1) };
    const page = await listHeldMessages(c.var.ledger, after, limit);
    return c.json(
      {
        messages: page.messages.map(messageView),
        nextCursor: page.next === null ? null : `${page.next.createdAtMs}.${page.next.id}`,
      },
      200,
    );
  },
);

/** A tip's id (its message) or a packet's id (its greeting). */
const MessageId = z
  .string()
  .refine((id) => idPattern("tip").test(id) || idPattern("packet").test(id), "a tip_… or packet_… id")
  .openapi({ example: `tip_01JDEM${"0".repeat(20)}`, param: { name: "messageId", in: "path" } });

for (const decision of ["approve", "reject"] as const) {
  moderation.openapi(
    defineRoute({
      method: "post",
      path: `/admin/messages/{messageId}/${decision}`,
      auth: { permission: "moderation.manage" },
      tags: ["operators"],
      summary:
        decision === "approve"
          ? "Approve a held tip message or packet greeting: the room shows it at once (`tip.message` / `packet.greeting`)"
          : "Reject a held tip message or packet greeting: it is never shown (the tip or packet itself stands)",
      description:
        "`messageId` is the tip's id, or the packet's for its greeting. Only a held message can be decided; " +
        "deciding it again is 409 `message_not_held`.",
      request: { params: z.object({ messageId: MessageId }) },
      responses: {
        200: jsonResponse(z.object({ message: HeldMessageSchema }), decision === "approve" ? "Approved" : "Rejected"),
        ...errorResponses(400, 401, 403, 404, 409),
      },
    }),
    async (c) => {
      const { messageId } = c.req.valid("param");
      const { ledger } = c.var;
      const actorId = c.var.principal.userId;
      const audit = operatorAction(c, {
        action: `moderation.message.${decision}`,
        target: messageId,
        before: { status: "held" },
        after: { status: decision === "approve" ? "approved" : "rejected" },
      });
      const outcome = idPattern("packet").test(messageId)
        ? await reviewPacketGreeting(ledger, messageId, decision, actorId, audit, Date.now()).then((o) =>
            o.kind === "not_found" ? o : { ...o, row: greetingRow(o.row) },
          )
        : await reviewTipMessage(ledger, messageId, decision, actorId, audit, Date.now()).then((o) =>
            o.kind === "not_found" ? o : { ...o, row: tipMessageRow(o.row) },
          );
      if (outcome.kind === "not_found") throw new ApiError("message_not_found");
      if (outcome.kind === "not_held") throw new ApiError("message_not_held");
      // A content item's recent tips show an approved message: this isolate's copy goes at once.
      if (outcome.row.content_id !== null) forgetRecentTips(outcome.row.content_id);
      if (outcome.outboxId !== null) {
        c.executionCtx.waitUntil(deliverAfterCommit(c.env, ledger, outcome.shardIndex, [outcome.outboxId], c.var.log));
      }
      c.var.log.info("held_message_reviewed", { messageId, kind: outcome.row.kind, decision, actorId });
      return c.json({ message: messageView(outcome.row) }, 200);
    },
  );
}
