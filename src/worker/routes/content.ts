/**
 * Content items and paid unlocks (issue 19, 付费阅读).
 *
 * - The registry: an operator (`content.manage`, audited) or a partner key (`content.write`,
 *   only for the creators linked to it) registers, reads, reprices and archives items.
 * - Unlocks: a user pays a priced item from the wallet (operations/unlock.ts) under an
 *   Idempotency-Key; the entitlement is granted in the same batch, once per user and item.
 * - Entitlement checks: a host (partner key, `entitlements.read`) or the user asks whether the
 *   user may open the item; answered from the isolate's 5-second copy when it has one, with a
 *   grant token a host verifies offline against /v1/content/grants/jwks.json
 *   (worker/content-grants.ts).
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { batchWithAuditEntry } from "../../db/audit";
import { emitOperationEvents } from "../../db/business-events";
import {
  type ContentItemRow,
  composeUnlock,
  prepareUnlock,
  type RatedUnlock,
  rateUnlock,
  unlockReceipt,
} from "../../db/operations/unlock";
import { currentRiskSet } from "../../db/risk";
import { accountAddress } from "../../domain/accounts";
import { CONTENT_KINDS, CONTENT_LIMITS, CONTENT_STATUSES, parseUnlockPrice } from "../../domain/content";
import { ok } from "../../domain/errors";
import { newId } from "../../domain/ids";
import { LIMITS } from "../../domain/limits";
import { DEFAULT_CURRENCY, formatMinor } from "../../domain/money";
import { localDayStartMs } from "../../domain/room/periods";
import { operatorAction } from "../audit";
import { entitlementOf, forgetEntitlement, grantJwks, grantToken } from "../content-grants";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { balancePatch, idempotencyOf, runIdempotent } from "../idempotency";
import { screenedName } from "../moderation";
import { requirePin } from "../pin";
import { assessRisk } from "../risk";
import { tipRulesWithRooms } from "../rooms/tip-rates";
import {
  AmountMinor,
  Currency,
  DecimalAmount,
  errorResponses,
  IdempotencyKeyHeader,
  jsonBody,
  jsonResponse,
  Pin,
  PrefixedId,
  UserId,
} from "../schemas";
import { defineRoute } from "./define";

export const content = new OpenAPIHono<AppEnv>();

export const ContentId = PrefixedId("cnt");
const contentParams = z.object({ contentId: ContentId.openapi({ param: { name: "contentId", in: "path" } }) });

export const ContentItemSchema = z
  .object({
    id: ContentId,
    creatorId: UserId,
    kind: z.enum(CONTENT_KINDS),
    title: z.string(),
    priceMinor: AmountMinor.nullable().openapi({ description: "The unlock price; null: a free item." }),
    price: z.string().nullable(),
    currency: Currency,
    status: z.enum(CONTENT_STATUSES),
    partnerId: z.string().nullable().openapi({ description: "The partner that registered it; null: an operator." }),
    externalRef: z.string().nullable(),
    createdAtMs: z.number().int(),
    updatedAtMs: z.number().int(),
  })
  .openapi("ContentItem");

const Price = DecimalAmount.nullable().openapi({
  description: 'The unlock price as a decimal string ("6.00"), within the amount limits; null: free.',
});

const NewContentSchema = z
  .strictObject({
    creatorId: UserId,
    kind: z.enum(CONTENT_KINDS),
    title: z.string().trim().min(1).max(LIMITS.titleMaxLength),
    price: Price.default(null),
    externalRef: z.string().min(1).max(CONTENT_LIMITS.externalRefMaxLength).optional(),
  })
  .openapi("NewContentItem");

const ContentChangeSchema = z
  .strictObject({
    title: z.string().trim().min(1).max(LIMITS.titleMaxLength).optional(),
    price: Price.optional(),
    status: z.enum(CONTENT_STATUSES).optional(),
  })
  .openapi("ContentItemChange");

const ListQuery = z.object({ creatorId: UserId.optional() });
const ListSchema = z.object({ items: z.array(ContentItemSchema) });

function itemView(row: ContentItemRow) {
  return {
    id: row.id,
    creatorId: row.creator_id,
    kind: row.kind,
    title: row.title,
    priceMinor: row.price_minor,
    price: row.price_minor === null ? null : formatMinor(row.price_minor),
    currency: DEFAULT_CURRENCY,
    status: row.status,
    partnerId: row.partner_id,
    externalRef: row.external_ref,
    createdAtMs: row.created_at_ms,
    updatedAtMs: row.updated_at_ms,
  };
}

function priceOf(price: string | null): number | null {
  const parsed = parseUnlockPrice(price);
  if (!parsed.ok) throw ApiError.from(parsed);
  return parsed.value;
}

export async function findItem(db: D1Database, contentId: string): Promise<ContentItemRow | null> {
  return db.prepare("SELECT * FROM content_items WHERE id = ?").bind(contentId).first<ContentItemRow>();
}

async function linkedToPartner(db: D1Database, partnerId: string, creatorId: string): Promise<boolean> {
  const row = await db
    .prepare("SELECT 1 AS linked FROM partner_creators WHERE partner_id = ? AND creator_id = ?")
    .bind(partnerId, creatorId)
    .first();
  return row !== null;
}

/** A partner sees only the items of its creators; any other is 404, as if it did not exist. */
export async function partnerItem(c: Context<AppEnv>, contentId: string): Promise<ContentItemRow> {
  const db = c.var.ledger.control;
  const item = await findItem(db, contentId);
  if (!item || !(await linkedToPartner(db, c.var.partner.partnerId, item.creator_id))) {
    throw new ApiError("content_not_found");
  }
  return item;
}

type NewContent = z.infer<typeof NewContentSchema>;
type ContentChange = z.infer<typeof ContentChangeSchema>;

/** The insert of a new item (the title screened, the price parsed: bad input changes nothing). */
async function insertItem(c: Context<AppEnv>, body: NewContent, partnerId: string | null, createdBy: string) {
  const title = await screenedName(c, body.title);
  const priceMinor = priceOf(body.price);
  const nowMs = Date.now();
  const id = newId("cnt", nowMs);
  const statement = c.var.ledger.control
    .prepare(
      `INSERT INTO content_items (id, creator_id, kind, title, price_minor, currency, status, partner_id, external_ref,
         created_by, created_at_ms, updated_at_ms)
       VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?)
       ON CONFLICT DO NOTHING RETURNING *`,
    )
    .bind(
      id,
      body.creatorId,
      body.kind,
      title,
      priceMinor,
      DEFAULT_CURRENCY,
      partnerId,
      body.externalRef ?? null,
      createdBy,
      nowMs,
      nowMs,
    );
  return { id, title, priceMinor, statement };
}

function changeStatement(c: Context<AppEnv>, item: ContentItemRow, title: string | null, change: ContentChange) {
  const priceMinor = change.price === undefined ? item.price_minor : priceOf(change.price);
  return {
    priceMinor,
    statement: c.var.ledger.control
      .prepare(
        `UPDATE content_items SET title = COALESCE(?, title), price_minor = ?, status = ?, updated_at_ms = ?
         WHERE id = ? RETURNING *`,
      )
      .bind(title, priceMinor, change.status ?? item.status, Date.now(), item.id),
  };
}

function created(row: ContentItemRow | undefined): ContentItemRow {
  // Only the (partner, external reference) pair can collide: the id is new.
  if (row === undefined) throw new ApiError("conflict", "This external reference is already registered.");
  return row;
}

// ---- The operator registry ----

content.openapi(
  defineRoute({
    method: "post",
    path: "/admin/content",
    auth: { permission: "content.manage" },
    tags: ["content"],
    summary: "Register a content item for a creator (audited: content.create)",
    description:
      "The title goes through the sensitive-word filter like a room title (masked, or 422 text_refused); " +
      'the price is a decimal string ("6.00") within the amount limits, or null for a free item.',
    request: { body: jsonBody(NewContentSchema) },
    responses: {
      201: jsonResponse(ContentItemSchema, "Registered"),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const db = c.var.ledger.control;
    const creator = await db.prepare("SELECT 1 AS known FROM creators WHERE user_id = ?").bind(body.creatorId).first();
    if (creator === null) throw new ApiError("not_found", "There is no such creator.");
    const { id, priceMinor, statement } = await insertItem(c, body, null, c.var.principal.userId);
    const [result] = await batchWithAuditEntry(
      db,
      operatorAction(c, {
        action: "content.create",
        target: id,
        before: null,
        after: { creatorId: body.creatorId, kind: body.kind, priceMinor },
      }),
      [statement],
    );
    return c.json(itemView(created(result?.results[0] as ContentItemRow | undefined)), 201);
  },
);

content.openapi(
  defineRoute({
    method: "get",
    path: "/admin/content",
    auth: { permission: "content.manage" },
    tags: ["content"],
    summary: "List content items, newest first (at most 100; optionally one creator's)",
    request: { query: ListQuery },
    responses: { 200: jsonResponse(ListSchema, "The items"), ...errorResponses(400, 401, 403) },
  }),
  async (c) => {
    const { creatorId } = c.req.valid("query");
    const { results } = await c.var.ledger.control
      .prepare(`SELECT * FROM content_items WHERE (?1 IS NULL OR creator_id = ?1) ORDER BY id DESC LIMIT ?2`)
      .bind(creatorId ?? null, CONTENT_LIMITS.pageMax)
      .all<ContentItemRow>();
    return c.json({ items: results.map(itemView) }, 200);
  },
);

content.openapi(
  defineRoute({
    method: "patch",
    path: "/admin/content/{contentId}",
    auth: { permission: "content.manage" },
    tags: ["content"],
    summary: "Change a content item's title or price, or archive it (audited: content.update)",
    description:
      "A new price applies to later unlocks; an archived item can no longer be unlocked (existing " +
      "entitlements stay).",
    request: { params: contentParams, body: jsonBody(ContentChangeSchema) },
    responses: { 200: jsonResponse(ContentItemSchema, "Saved"), ...errorResponses(400, 401, 403, 404, 422) },
  }),
  async (c) => {
    const { contentId } = c.req.valid("param");
    const change = c.req.valid("json");
    const db = c.var.ledger.control;
    const item = await findItem(db, contentId);
    if (!item) throw new ApiError("content_not_found");
    const title = change.title === undefined ? null : await screenedName(c, change.title);
    const { priceMinor, statement } = changeStatement(c, item, title, change);
    const [result] = await batchWithAuditEntry(
      db,
      operatorAction(c, {
        action: "content.update",
        target: contentId,
        before: { priceMinor: item.price_minor, status: item.status },
        after: { priceMinor, status: change.status ?? item.status, titleChanged: title !== null },
      }),
      [statement],
    );
    const row = result?.results[0] as ContentItemRow | undefined;
    if (!row) throw new ApiError("content_not_found");
    return c.json(itemView(row), 200);
  },
);

// ---- The partner registry ----

content.openapi(
  defineRoute({
    method: "post",
    path: "/partner/content",
    auth: { partnerScope: "content.write" },
    tags: ["partner"],
    summary: "Register a content item for one of the partner's creators",
    description:
      "Only for a creator linked to the partner (403 creator_not_linked otherwise). The title is screened " +
      "like a room title; `externalRef` is unique per partner (409 conflict).",
    request: { body: jsonBody(NewContentSchema) },
    responses: {
      201: jsonResponse(ContentItemSchema, "Registered"),
      ...errorResponses(400, 401, 403, 409, 422),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const { partnerId, keyId } = c.var.partner;
    if (!(await linkedToPartner(c.var.ledger.control, partnerId, body.creatorId))) {
      throw new ApiError("creator_not_linked");
    }
    const { statement } = await insertItem(c, body, partnerId, `partner:${partnerId}:${keyId}`);
    const row = await statement.first<ContentItemRow>();
    return c.json(itemView(created(row ?? undefined)), 201);
  },
);

content.openapi(
  defineRoute({
    method: "get",
    path: "/partner/content",
    auth: { partnerScope: "content.write" },
    tags: ["partner"],
    summary: "The content items of the partner's creators, newest first (at most 100)",
    request: { query: ListQuery },
    responses: { 200: jsonResponse(ListSchema, "The items"), ...errorResponses(400, 401, 403) },
  }),
  async (c) => {
    const { creatorId } = c.req.valid("query");
    const { results } = await c.var.ledger.control
      .prepare(
        `SELECT * FROM content_items
         WHERE creator_id IN (SELECT creator_id FROM partner_creators WHERE partner_id = ?1)
           AND (?2 IS NULL OR creator_id = ?2)
         ORDER BY id DESC LIMIT ?3`,
      )
      .bind(c.var.partner.partnerId, creatorId ?? null, CONTENT_LIMITS.pageMax)
      .all<ContentItemRow>();
    return c.json({ items: results.map(itemView) }, 200);
  },
);

content.openapi(
  defineRoute({
    method: "get",
    path: "/partner/content/{contentId}",
    auth: { partnerScope: "content.write" },
    tags: ["partner"],
    summary: "One content item of the partner's creators",
    request: { params: contentParams },
    responses: { 200: jsonResponse(ContentItemSchema, "The item"), ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => c.json(itemView(await partnerItem(c, c.req.valid("param").contentId)), 200),
);

content.openapi(
  defineRoute({
    method: "patch",
    path: "/partner/content/{contentId}",
    auth: { partnerScope: "content.write" },
    tags: ["partner"],
    summary: "Change a content item's title or price, or archive it",
    request: { params: contentParams, body: jsonBody(ContentChangeSchema) },
    responses: { 200: jsonResponse(ContentItemSchema, "Saved"), ...errorResponses(400, 401, 403, 404, 422) },
  }),
  async (c) => {
    const change = c.req.valid("json");
    const item = await partnerItem(c, c.req.valid("param").contentId);
    const title = change.title === undefined ? null : await screenedName(c, change.title);
    const row = await changeStatement(c, item, title, change).statement.first<ContentItemRow>();
    if (!row) throw new ApiError("content_not_found");
    return c.json(itemView(row), 200);
  },
);

// ---- Entitlement checks and grants ----

const EntitlementSchema = z
  .object({
    contentId: ContentId,
    userId: UserId,
    entitled: z.boolean(),
    unlockId: z.string().nullable(),
    grantedAtMs: z.number().int().nullable(),
    grant: z
      .string()
      .nullable()
      .openapi({
        description:
          "When entitled: an ES256 JWT (`sub` the user, `content`, `unlock`, `aud` giftwire-content-grant, " +
          "5 minutes) to verify offline against /v1/content/grants/jwks.json; null otherwise (or when grants " +
          "are not configured).",
      }),
  })
  .openapi("Entitlement");

async function entitlementResponse(c: Context<AppEnv>, userId: string, contentId: string) {
  const nowMs = Date.now();
  const { answer, cached } = await entitlementOf(c.var.ledger, userId, contentId, nowMs);
  const grant =
    answer.entitled && answer.unlockId !== null
      ? await grantToken(c.var.config, userId, contentId, answer.unlockId, nowMs)
      : null;
  c.header("Cache-Control", `private, max-age=${CONTENT_LIMITS.entitlementCacheTtlMs / 1000}`);
  c.header("X-Giftwire-Cache", cached ? "hit" : "miss");
  return c.json({ contentId, userId, ...answer, grant }, 200);
}

content.openapi(
  defineRoute({
    method: "get",
    path: "/partner/content/{contentId}/entitlements/{userId}",
    auth: { partnerScope: "entitlements.read" },
    tags: ["partner"],
    summary: "Whether a user may open a content item of the partner's creators, with a grant token",
    description:
      "Answered from the isolate's copy when it is under 5 s old (`X-Giftwire-Cache: hit`), and cacheable " +
      "by the host for as long (`Cache-Control: private, max-age=5`): a refund is honoured within 5 s here " +
      "and within the grant's 5 minutes by a host verifying grants offline.",
    request: {
      params: contentParams.extend({ userId: UserId.openapi({ param: { name: "userId", in: "path" } }) }),
    },
    responses: { 200: jsonResponse(EntitlementSchema, "The answer"), ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { contentId, userId } = c.req.valid("param");
    await partnerItem(c, contentId);
    return entitlementResponse(c, userId, contentId);
  },
);

content.openapi(
  defineRoute({
    method: "get",
    path: "/content/grants/jwks.json",
    auth: "public",
    tags: ["content"],
    summary: "The public keys grant tokens are signed with (JWKS)",
    responses: {
      200: jsonResponse(z.object({ keys: z.array(z.record(z.string(), z.unknown())) }), "The key set"),
    },
  }),
  async (c) => {
    c.header("Cache-Control", "public, max-age=300");
    return c.json(await grantJwks(c.var.config), 200);
  },
);

content.openapi(
  defineRoute({
    method: "get",
    path: "/content/{contentId}",
    auth: "signed-in",
    tags: ["content"],
    summary: "A content item (its price and status)",
    request: { params: contentParams },
    responses: { 200: jsonResponse(ContentItemSchema, "The item"), ...errorResponses(400, 401, 404) },
  }),
  async (c) => {
    const item = await findItem(c.var.ledger.control, c.req.valid("param").contentId);
    if (!item) throw new ApiError("content_not_found");
    return c.json(itemView(item), 200);
  },
);

content.openapi(
  defineRoute({
    method: "get",
    path: "/content/{contentId}/entitlement",
    auth: "signed-in",
    tags: ["content"],
    summary: "Whether you may open a content item, with a grant token to hand to its host",
    request: { params: contentParams },
    responses: { 200: jsonResponse(EntitlementSchema, "The answer"), ...errorResponses(400, 401, 404) },
  }),
  async (c) => {
    const { contentId } = c.req.valid("param");
    return entitlementResponse(c, c.var.principal.userId, contentId);
  },
);

// ---- Unlocks ----

export const UnlockSchema = z
  .object({
    unlock: z.object({
      id: PrefixedId("unl"),
      contentId: ContentId,
      userId: UserId,
      creatorId: UserId,
      amountMinor: AmountMinor,
      amount: z.string(),
      platformMinor: AmountMinor,
      creatorMinor: AmountMinor,
      platformShareBps: z.number().int(),
      currency: Currency,
      createdAtMs: z.number().int(),
    }),
    walletBalanceMinor: AmountMinor,
  })
  .openapi("Unlock");

const UnlockBody = z
  .strictObject({
    pin: Pin.optional().openapi({
      description:
        "Your payment PIN: needed above your password-free (小额免密) limits, which tips and unlocks share " +
        "(428 `pin_required` without it).",
    }),
  })
  .openapi("UnlockRequest");

content.openapi(
  defineRoute({
    method: "post",
    path: "/content/{contentId}/unlock",
    auth: ["viewer", "creator"],
    rateLimit: { user: "tips", ip: "moneyIp" },
    tags: ["content"],
    summary: "Unlock a priced content item from your wallet (付费阅读)",
    description:
      "Debits the wallet and credits the creator's pending earnings and the platform's revenue, split like a " +
      "tip, and grants the entitlement in the same transaction. A user holds at most one entitlement per item: " +
      "a second unlock (another key, or concurrent) answers 409 `already_unlocked` and moves nothing; a replay " +
      "of the same key answers the stored 201. Risk is assessed as action `unlock`. The split's rate is the " +
      "creator's, as for tips (tiered by the month's gross when schedules are in force; the unlock counts in it). " +
      "A runtime switch pausing unlocks (platform, this item, this creator) answers 503 `switch_unlocks_paused`.",
    request: { params: contentParams, headers: IdempotencyKeyHeader, body: jsonBody(UnlockBody) },
    responses: {
      201: jsonResponse(UnlockSchema, "Unlocked"),
      ...errorResponses(400, 401, 403, 404, 409, 422, 423, 428, 429, 503),
    },
  }),
  async (c) => {
    const { contentId } = c.req.valid("param");
    const { pin } = c.req.valid("json");
    const userId = c.var.principal.userId;
    // The PIN is never part of the fingerprint (see the tip route): the same key is reused after `pin_required`.
    const request = { contentId };
    const idempotency = await idempotencyOf(c, request);
    const { ledger } = c.var;
    const shard = ledger.forOwner(userId);
    const confirmed = pin !== undefined;
    if (confirmed) await requirePin(shard, userId, pin, Date.now());
    const item = await findItem(ledger.control, contentId);
    const set = await currentRiskSet(ledger.control, c.var.config.switchCacheTtlMs);
    await assessRisk(
      c,
      {
        action: "unlock",
        amountMinor: item?.price_minor ?? null,
        recipientId: item?.creator_id ?? null,
        pinVerified: confirmed,
      },
      set,
    );
    let rated: RatedUnlock | null = null;
    let posted = false;
    const response = await runIdempotent(
      c,
      { shard, bucket: ledger.bucketOf(userId) },
      "unl",
      request,
      async (id, nowMs) => {
        const rules = tipRulesWithRooms(c.env, c.var.config);
        const prepared = await prepareUnlock(ledger.control, rules, { id, contentId, userId }, nowMs);
        if (!prepared.ok) return prepared;
        // The creator's room's tier desk rates it, in one order with the creator's tips.
        const mine = await rateUnlock(rules, prepared.value);
        rated = mine;
        const unlock = mine.unlock;
        const autopay = confirmed
          ? undefined
          : {
              limits: c.var.config.autopayDefaults,
              dayStartMs: localDayStartMs(unlock.nowMs, c.var.config.businessTimeZone),
            };
        return ok({
          compose: (attach) => composeUnlock(shard, unlock, { attach, ...(autopay ? { autopay } : {}) }),
          status: 201,
          onPosted: () => {
            posted = true;
            forgetEntitlement(userId, contentId);
            // unlock.created, keyed by the unlock; a lost send is the business-event sweeper's.
            c.executionCtx.waitUntil(emitOperationEvents(c.env, shard, [{ id, kind: "unlock" }], c.var.log));
          },
          body: unlockReceipt(unlock),
          patches: [balancePatch("$.walletBalanceMinor", accountAddress.userWallet(userId))],
        });
      },
      idempotency,
    );
    // The desk counts the unlock in the creator's month from now on, or forgets it.
    const answered = rated as RatedUnlock | null;
    if (answered !== null) c.executionCtx.waitUntil(answered.settle(posted ? "posted" : "failed"));
    return response;
  },
);
