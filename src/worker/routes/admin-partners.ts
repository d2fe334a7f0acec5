/**
 * Partners, for operators (issue 18): create a partner, assign the creators it owns (their rooms
 * are its rooms), issue API keys (the key shown once, only its SHA-256 kept) and revoke them.
 * Reads need `partner.read`, changes `partner.manage`; every change is audited in its own batch.
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import { batchWithAuditEntry } from "../../db/audit";
import { findKey, findPartner, listKeys, listPartners, partnerCreatorIds, scopesOf } from "../../db/partners";
import { listEndpoints } from "../../db/webhooks";
import { USER_ID_PATTERN } from "../../domain/accounts";
import { newId } from "../../domain/ids";
import {
  newPartnerKey,
  PARTNER_KEY_MAX_LIFETIME_MS,
  PARTNER_KEY_MODES,
  PARTNER_KEYS_MAX,
  PARTNER_SCOPE_NAMES,
} from "../../domain/partner-keys";
import { operatorAction } from "../audit";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { forgetPartnerKey } from "../middleware/partner-auth";
import { errorResponses, jsonBody, jsonResponse, PrefixedId } from "../schemas";
import { defineRoute } from "./define";

export const adminPartners = new OpenAPIHono<AppEnv>();

const PARTNERS_LIST_MAX = 500;
const CREATORS_PER_PARTNER_MAX = 1_000;

const PartnerParams = z.object({ partnerId: PrefixedId("ptn") });
const KeyParams = z.object({ partnerId: PrefixedId("ptn"), keyId: PrefixedId("pk") });
const Scope = z.enum(PARTNER_SCOPE_NAMES);

const PartnerSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    contactEmail: z.string(),
    status: z.enum(["active", "disabled"]),
    createdBy: z.string(),
    createdAtMs: z.number().int(),
  })
  .openapi("Partner");

const KeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    mode: z.enum(PARTNER_KEY_MODES),
    prefix: z.string().openapi({ description: "`gw_live_` and the key's first 8 characters." }),
    scopes: z.array(Scope),
    createdBy: z.string(),
    createdAtMs: z.number().int(),
    expiresAtMs: z.number().int().nullable(),
    revokedAtMs: z.number().int().nullable(),
    lastUsedAtMs: z.number().int().nullable().openapi({ description: "Written at most once a minute." }),
  })
  .openapi("PartnerApiKey");

const PartnerCreate = z
  .strictObject({
    name: z.string().trim().min(1).max(100),
    contactEmail: z.email().max(200),
    creatorIds: z.array(z.string().regex(USER_ID_PATTERN)).max(CREATORS_PER_PARTNER_MAX).optional(),
  })
  .openapi("PartnerCreate", { example: { name: "Acme Live", contactEmail: "dev@acme.example" } });

const KeyCreate = z
  .strictObject({
    name: z.string().trim().min(1).max(100),
    mode: z.enum(PARTNER_KEY_MODES),
    scopes: z.array(Scope).min(1).max(PARTNER_SCOPE_NAMES.length),
    expiresAtMs: z.number().int().positive().optional(),
  })
  .openapi("PartnerApiKeyCreate", { example: { name: "server", mode: "live", scopes: ["rooms.read"] } });

type PartnerRowLike = Awaited<ReturnType<typeof findPartner>>;
type KeyRowLike = Awaited<ReturnType<typeof listKeys>>[number];

function partnerView(row: NonNullable<PartnerRowLike>): z.infer<typeof PartnerSchema> {
  return {
    id: row.id,
    name: row.name,
    contactEmail: row.contact_email,
    status: row.status,
    createdBy: row.created_by,
    createdAtMs: row.created_at_ms,
  };
}

function keyView(row: KeyRowLike): z.infer<typeof KeySchema> {
  return {
    id: row.id,
    name: row.name,
    mode: row.mode,
    prefix: row.display_prefix,
    scopes: scopesOf(row),
    createdBy: row.created_by,
    createdAtMs: row.created_at_ms,
    expiresAtMs: row.expires_at_ms,
    revokedAtMs: row.revoked_at_ms,
    lastUsedAtMs: row.last_used_at_ms,
  };
}

async function mustFindPartner(db: D1Database, partnerId: string) {
  const row = await findPartner(db, partnerId);
  if (!row) throw new ApiError("partner_not_found");
  return row;
}

adminPartners.openapi(
  defineRoute({
    method: "post",
    path: "/admin/partners",
    auth: { permission: "partner.manage" },
    tags: ["partners"],
    summary: "Create a partner (an app offering tipping through giftwire), with the creators it owns",
    request: { body: jsonBody(PartnerCreate) },
    responses: { 201: jsonResponse(PartnerSchema, "Created"), ...errorResponses(400, 401, 403) },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const db = c.var.ledger.control;
    const nowMs = Date.now();
    const id = newId("ptn", nowMs);
    const creatorIds = [...new Set(body.creatorIds ?? [])];
    await batchWithAuditEntry(
      db,
      operatorAction(c, {
        action: "partner.create",
        target: id,
        before: null,
        after: { name: body.name, contactEmail: body.contactEmail, creators: creatorIds.join(",") },
      }),
      [
        ...creatorIds.map((creatorId) =>
          db
            .prepare("INSERT INTO partner_creators (partner_id, creator_id, added_at_ms) VALUES (?, ?, ?)")
            .bind(id, creatorId, nowMs),
        ),
        db
          .prepare(
            `INSERT INTO partners (id, name, contact_email, status, created_by, created_at_ms)
             VALUES (?, ?, ?, 'active', ?, ?)`,
          )
          .bind(id, body.name, body.contactEmail, c.var.principal.userId, nowMs),
      ],
    );
    return c.json(partnerView(await mustFindPartner(db, id)), 201);
  },
);

adminPartners.openapi(
  defineRoute({
    method: "get",
    path: "/admin/partners",
    auth: { permission: "partner.read" },
    tags: ["partners"],
    summary: "List partners",
    responses: {
      200: jsonResponse(z.object({ items: z.array(PartnerSchema) }), "The partners"),
      ...errorResponses(401, 403),
    },
  }),
  async (c) => c.json({ items: (await listPartners(c.var.ledger.control, PARTNERS_LIST_MAX)).map(partnerView) }, 200),
);

adminPartners.openapi(
  defineRoute({
    method: "get",
    path: "/admin/partners/{partnerId}",
    auth: { permission: "partner.read" },
    tags: ["partners"],
    summary: "A partner: its creators, API keys (never the keys themselves) and webhook endpoints",
    request: { params: PartnerParams },
    responses: {
      200: jsonResponse(
        PartnerSchema.extend({
          creatorIds: z.array(z.string()),
          keys: z.array(KeySchema),
          endpoints: z.array(
            z.object({ id: z.string(), url: z.string(), status: z.string(), disabledReason: z.string().nullable() }),
          ),
        }),
        "The partner",
      ),
      ...errorResponses(400, 401, 403, 404),
    },
  }),
  async (c) => {
    const { partnerId } = c.req.valid("param");
    const db = c.var.ledger.control;
    const partner = await mustFindPartner(db, partnerId);
    const [creatorIds, keys, endpoints] = await Promise.all([
      partnerCreatorIds(db, partnerId),
      listKeys(db, partnerId),
      listEndpoints(db, partnerId),
    ]);
    return c.json(
      {
        ...partnerView(partner),
        creatorIds,
        keys: keys.map(keyView),
        endpoints: endpoints.map((e) => ({
          id: e.id,
          url: e.url,
          status: e.status,
          disabledReason: e.disabled_reason,
        })),
      },
      200,
    );
  },
);

adminPartners.openapi(
  defineRoute({
    method: "put",
    path: "/admin/partners/{partnerId}/creators",
    auth: { permission: "partner.manage" },
    tags: ["partners"],
    summary: "Set the creators a partner owns (replacing the set): their rooms are the partner's",
    request: {
      params: PartnerParams,
      body: jsonBody(
        z
          .strictObject({ creatorIds: z.array(z.string().regex(USER_ID_PATTERN)).max(CREATORS_PER_PARTNER_MAX) })
          .openapi("PartnerCreators", { example: { creatorIds: ["creator-1"] } }),
      ),
    },
    responses: {
      200: jsonResponse(z.object({ creatorIds: z.array(z.string()) }), "Set"),
      ...errorResponses(400, 401, 403, 404),
    },
  }),
  async (c) => {
    const { partnerId } = c.req.valid("param");
    const creatorIds = [...new Set(c.req.valid("json").creatorIds)].sort();
    const db = c.var.ledger.control;
    await mustFindPartner(db, partnerId);
    const before = await partnerCreatorIds(db, partnerId);
    const nowMs = Date.now();
    await batchWithAuditEntry(
      db,
      operatorAction(c, {
        action: "partner.creators.set",
        target: partnerId,
        before: before.join(","),
        after: creatorIds.join(","),
      }),
      [
        db.prepare("DELETE FROM partner_creators WHERE partner_id = ?").bind(partnerId),
        ...creatorIds.map((creatorId) =>
          db
            .prepare("INSERT INTO partner_creators (partner_id, creator_id, added_at_ms) VALUES (?, ?, ?)")
            .bind(partnerId, creatorId, nowMs),
        ),
      ],
      { sql: "1", params: [] },
    );
    return c.json({ creatorIds }, 200);
  },
);

adminPartners.openapi(
  defineRoute({
    method: "put",
    path: "/admin/partners/{partnerId}/status",
    auth: { permission: "partner.manage" },
    tags: ["partners"],
    summary: "Disable a partner (every key refused with 403 within 10 s, no webhooks) or enable it again",
    request: {
      params: PartnerParams,
      body: jsonBody(
        z
          .strictObject({ status: z.enum(["active", "disabled"]) })
          .openapi("PartnerStatus", { example: { status: "disabled" } }),
      ),
    },
    responses: { 200: jsonResponse(PartnerSchema, "Set"), ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { partnerId } = c.req.valid("param");
    const { status } = c.req.valid("json");
    const db = c.var.ledger.control;
    const before = await mustFindPartner(db, partnerId);
    if (before.status !== status) {
      await batchWithAuditEntry(
        db,
        operatorAction(c, { action: "partner.status.set", target: partnerId, before: before.status, after: status }),
        [db.prepare("UPDATE partners SET status = ? WHERE id = ?").bind(status, partnerId)],
      );
    }
    return c.json(partnerView(await mustFindPartner(db, partnerId)), 200);
  },
);

adminPartners.openapi(
  defineRoute({
    method: "post",
    path: "/admin/partners/{partnerId}/keys",
    auth: { permission: "partner.manage" },
    tags: ["partners"],
    summary: "Issue an API key: the key is in this answer only (giftwire keeps its SHA-256)",
    request: { params: PartnerParams, body: jsonBody(KeyCreate) },
    responses: {
      201: jsonResponse(
        KeySchema.extend({
          key: z.string().openapi({ description: "`gw_live_…` / `gw_test_…`: shown once, store it now." }),
        }),
        "Issued",
      ),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
  }),
  async (c) => {
    const { partnerId } = c.req.valid("param");
    const body = c.req.valid("json");
    const db = c.var.ledger.control;
    await mustFindPartner(db, partnerId);
    const nowMs = Date.now();
    if (
      body.expiresAtMs !== undefined &&
      (body.expiresAtMs <= nowMs || body.expiresAtMs > nowMs + PARTNER_KEY_MAX_LIFETIME_MS)
    ) {
      throw new ApiError("malformed_request", "expiresAtMs must be in the future and at most two years away.");
    }
    const count = await db
      .prepare("SELECT COUNT(*) AS n FROM partner_api_keys WHERE partner_id = ?")
      .bind(partnerId)
      .first<number>("n");
    if ((count ?? 0) >= PARTNER_KEYS_MAX) throw new ApiError("partner_limit_reached");
    const id = newId("pk", nowMs);
    const minted = newPartnerKey(body.mode, (n) => crypto.getRandomValues(new Uint8Array(n)));
    const scopes = [...new Set(body.scopes)];
    await batchWithAuditEntry(
      db,
      operatorAction(c, {
        action: "partner.key.issue",
        target: id,
        before: null,
        after: {
          partnerId,
          prefix: minted.displayPrefix,
          scopes: scopes.join(","),
          expiresAtMs: body.expiresAtMs ?? null,
        },
      }),
      [
        db
          .prepare(
            `INSERT INTO partner_api_keys (id, partner_id, mode, display_prefix, key_hash, scopes, name, created_by, created_at_ms, expires_at_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .bind(
            id,
            partnerId,
            body.mode,
            minted.displayPrefix,
            minted.hash,
            JSON.stringify(scopes),
            body.name,
            c.var.principal.userId,
            nowMs,
            body.expiresAtMs ?? null,
          ),
      ],
    );
    const row = await findKey(db, partnerId, id);
    if (!row) throw new ApiError("internal_error");
    return c.json({ ...keyView(row), key: minted.key }, 201);
  },
);

adminPartners.openapi(
  defineRoute({
    method: "post",
    path: "/admin/partners/{partnerId}/keys/{keyId}/revoke",
    auth: { permission: "partner.manage" },
    tags: ["partners"],
    summary: "Revoke an API key: refused everywhere within 10 s (each isolate's cache), here at once",
    request: { params: KeyParams },
    responses: { 200: jsonResponse(KeySchema, "Revoked"), ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { partnerId, keyId } = c.req.valid("param");
    const db = c.var.ledger.control;
    const before = await findKey(db, partnerId, keyId);
    if (!before) throw new ApiError("partner_key_not_found");
    if (before.revoked_at_ms === null) {
      const nowMs = Date.now();
      await batchWithAuditEntry(
        db,
        operatorAction(c, { action: "partner.key.revoke", target: keyId, before: null, after: { revokedAtMs: nowMs } }),
        [
          db
            .prepare("UPDATE partner_api_keys SET revoked_at_ms = ? WHERE id = ? AND revoked_at_ms IS NULL")
            .bind(nowMs, keyId),
        ],
      );
    }
    forgetPartnerKey(keyId);
    const row = await findKey(db, partnerId, keyId);
    if (!row) throw new ApiError("partner_key_not_found");
    return c.json(keyView(row), 200);
  },
);
