/**
 * Moderation (issue 16): the sensitive-word list (read with `moderation.read`, changed with
 * `moderation.manage`, every change audited in the control chain) and the review queue of held
 * tip messages (approve: the room shows it; reject: it stays hidden; audited in the tip's shard).
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
import { listHeldMessages, reviewTipMessage, type TipMessageRow } from "../../db/tip-messages";
import { LIMITS } from "../../domain/limits";
import { codePointLength, MODERATION_LEVELS, normalizeText } from "../../domain/moderation";
import { operatorAction } from "../audit";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { deliverAfterCommit } from "../rooms/outbox";
import { errorResponses, jsonBody, jsonResponse, PrefixedId, UserId } from "../schemas";
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
    tipId: z.string(),
    roomId: z.string(),
    viewerId: UserId,
    creatorId: UserId,
    text: z.string().openapi({ description: "What the viewer wrote." }),
    shown: z.string().openapi({ description: "What the room will show if approved (mask-level words masked)." }),
    status: z.enum(["shown", "masked", "held", "approved", "rejected"]),
    createdAtMs: z.number().int(),
    reviewedBy: z.string().nullable(),
    reviewedAtMs: z.number().int().nullable(),
  })
  .openapi("TipMessage");

function messageView(r: TipMessageRow): z.infer<typeof HeldMessageSchema> {
  return {
    tipId: r.tip_id,
    roomId: r.room_id,
    viewerId: r.viewer_id,
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

/** `<createdAtMs>.<tipId>`: where the next page of the queue starts. */
const HeldCursor = z
  .string()
  .regex(/^\d{1,16}\.tip_[0-9A-Za-z_]{1,60}$/)
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
    summary: "The review queue: tip messages held by the word list, oldest first, cursor-paginated",
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
      cursor === undefined ? null : { createdAtMs: Number(cursor.slice(0, dot)), tipId: cursor.slice(dot + 1) };
    const page = await listHeldMessages(c.var.ledger, after, limit);
    return c.json(
      {
        messages: page.messages.map(messageView),
        nextCursor: page.next === null ? null : `${page.next.createdAtMs}.${page.next.tipId}`,
      },
      200,
    );
  },
);

for (const decision of ["approve", "reject"] as const) {
  moderation.openapi(
    defineRoute({
      method: "post",
      path: `/admin/messages/{tipId}/${decision}`,
      auth: { permission: "moderation.manage" },
      tags: ["operators"],
      summary:
        decision === "approve"
          ? "Approve a held tip message: the room shows it at once (a `tip.message` frame)"
          : "Reject a held tip message: it is never shown (the tip itself stays posted)",
      description: "Only a held message can be decided; deciding it again is 409 `message_not_held`.",
      request: { params: z.object({ tipId: PrefixedId("tip").openapi({ param: { name: "tipId", in: "path" } }) }) },
      responses: {
        200: jsonResponse(z.object({ message: HeldMessageSchema }), decision === "approve" ? "Approved" : "Rejected"),
        ...errorResponses(400, 401, 403, 404, 409),
      },
    }),
    async (c) => {
      const { tipId } = c.req.valid("param");
      const { ledger } = c.var;
      const actorId = c.var.principal.userId;
      const outcome = await reviewTipMessage(
        ledger,
        tipId,
        decision,
        actorId,
        operatorAction(c, {
          action: `moderation.message.${decision}`,
          target: tipId,
          before: { status: "held" },
          after: { status: decision === "approve" ? "approved" : "rejected" },
        }),
        Date.now(),
      );
      if (outcome.kind === "not_found") throw new ApiError("message_not_found");
      if (outcome.kind === "not_held") throw new ApiError("message_not_held");
      if (outcome.outboxId !== null) {
        c.executionCtx.waitUntil(deliverAfterCommit(c.env, ledger, outcome.shardIndex, [outcome.outboxId], c.var.log));
      }
      c.var.log.info("tip_message_reviewed", { tipId, decision, actorId });
      return c.json({ message: messageView(outcome.row) }, 200);
    },
  );
}
