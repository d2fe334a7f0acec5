import { OpenAPIHono, z } from "@hono/zod-openapi";
import { asc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { batchWithAuditEntry } from "../../db/audit";
import { gifts as giftsTable, tipPresets } from "../../db/schema/control";
import { LIMITS } from "../../domain/limits";
import { DEFAULT_CURRENCY, parseAmountMinor } from "../../domain/money";
import { GIFT_TIERS } from "../../domain/tip";
import { operatorAction } from "../audit";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { money } from "../money-view";
import { AmountMinor, Currency, DecimalAmount, errorResponses, GiftId, jsonBody, jsonResponse } from "../schemas";
import { defineRoute } from "./define";

export const GiftSchema = z
  .object({
    id: GiftId,
    name: z.string(),
    priceMinor: AmountMinor,
    price: z.string(),
    currency: Currency,
    tier: z.enum(GIFT_TIERS),
    animationKey: z.string(),
    enabled: z.boolean(),
    sortOrder: z.number().int(),
  })
  .openapi("Gift");

const CatalogSchema = z
  .object({
    gifts: z.array(GiftSchema),
    tipPresets: z.array(z.object({ amountMinor: AmountMinor, amount: z.string() })),
    customTip: z.object({ minMinor: AmountMinor, maxMinor: AmountMinor, currency: Currency }),
  })
  .openapi("GiftCatalog");

const GiftFields = {
  name: z.string().trim().min(1).max(LIMITS.nameMaxLength),
  price: DecimalAmount,
  tier: z.enum(GIFT_TIERS),
  animationKey: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]*$/)
    .max(LIMITS.animationKeyMaxLength),
  enabled: z.boolean(),
  sortOrder: z.number().int().min(0).max(1_000_000),
};

const CreateGift = z.strictObject({ id: GiftId, ...GiftFields }).openapi("CreateGift");
const UpdateGift = z
  .strictObject(GiftFields)
  .partial()
  .refine((v) => Object.keys(v).length > 0, "change at least one field")
  .openapi("UpdateGift");

type GiftRow = typeof giftsTable.$inferSelect;

/** What a gift's audit entry records of it (its timestamps are the entry's own). */
function auditedGift(row: GiftRow) {
  const { createdAtMs: _created, updatedAtMs: _updated, ...rest } = row;
  return rest;
}

/** A drizzle query as a D1 statement, to run in a batch with the action's audit entry. */
function statementOf(db: D1Database, query: { toSQL(): { sql: string; params: unknown[] } }): D1PreparedStatement {
  const { sql, params } = query.toSQL();
  return db.prepare(sql).bind(...params);
}

function view(row: GiftRow) {
  return {
    id: row.id,
    name: row.name,
    priceMinor: row.priceMinor,
    price: money(row.priceMinor).amount,
    currency: DEFAULT_CURRENCY,
    tier: row.tier,
    animationKey: row.animationKey,
    enabled: row.enabled,
    sortOrder: row.sortOrder,
  };
}

function priceOf(decimal: string): number {
  const parsed = parseAmountMinor(decimal);
  if (!parsed.ok) throw ApiError.from(parsed);
  return parsed.value;
}

const giftParams = z.object({ giftId: GiftId.openapi({ param: { name: "giftId", in: "path" } }) });

export const gifts = new OpenAPIHono<AppEnv>();

gifts.openapi(
  defineRoute({
    method: "get",
    path: "/gifts",
    auth: "public",
    tags: ["gifts"],
    summary: "The gift catalog, tip presets and custom tip bounds (public)",
    request: { query: z.object({ includeDisabled: z.enum(["true", "false"]).default("false") }) },
    responses: { 200: jsonResponse(CatalogSchema, "The catalog") },
  }),
  async (c) => {
    const db = drizzle(c.var.ledger.control);
    const includeDisabled = c.req.valid("query").includeDisabled === "true";
    const [rows, presets] = await Promise.all([
      db.select().from(giftsTable).orderBy(asc(giftsTable.sortOrder), asc(giftsTable.id)).limit(LIMITS.giftsMax),
      db.select().from(tipPresets).orderBy(asc(tipPresets.sortOrder)),
    ]);
    const { minMinor, maxMinor } = c.var.config.customTip;
    return c.json(
      {
        gifts: rows.filter((g) => includeDisabled || g.enabled).map(view),
        tipPresets: presets.map((p) => money(p.amountMinor)),
        customTip: { minMinor, maxMinor, currency: DEFAULT_CURRENCY },
      },
      200,
    );
  },
);

gifts.openapi(
  defineRoute({
    method: "post",
    path: "/admin/gifts",
    auth: { permission: "gift.edit" },
    tags: ["gifts", "operators"],
    summary: "Add a gift to the catalog",
    request: { body: jsonBody(CreateGift) },
    responses: { 201: jsonResponse(GiftSchema, "Created"), ...errorResponses(400, 401, 403, 409, 422) },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const nowMs = Date.now();
    const row: GiftRow = {
      id: body.id,
      name: body.name,
      priceMinor: priceOf(body.price),
      currency: DEFAULT_CURRENCY,
      tier: body.tier,
      animationKey: body.animationKey,
      enabled: body.enabled,
      sortOrder: body.sortOrder,
      createdAtMs: nowMs,
      updatedAtMs: nowMs,
    };
    const { control } = c.var.ledger;
    const insert = drizzle(control).insert(giftsTable).values(row).onConflictDoNothing().returning();
    const [inserted] = await batchWithAuditEntry(
      control,
      operatorAction(c, { action: "gift.create", target: body.id, before: null, after: auditedGift(row) }),
      [statementOf(control, insert)],
    );
    if (inserted?.results.length !== 1) throw new ApiError("conflict", `A gift with id "${body.id}" already exists.`);
    c.var.log.info("gift_created", { giftId: body.id, actorId: c.var.principal.userId });
    return c.json(view(row), 201);
  },
);

gifts.openapi(
  defineRoute({
    method: "patch",
    path: "/admin/gifts/{giftId}",
    auth: { permission: "gift.edit" },
    tags: ["gifts", "operators"],
    summary: "Change a gift: price, tier, animation, enabled",
    request: { params: giftParams, body: jsonBody(UpdateGift) },
    responses: { 200: jsonResponse(GiftSchema, "Updated"), ...errorResponses(400, 401, 403, 404, 422) },
  }),
  async (c) => {
    const { giftId } = c.req.valid("param");
    const { price, ...rest } = c.req.valid("json");
    const changes: Partial<GiftRow> = { ...rest, updatedAtMs: Date.now() };
    if (price !== undefined) changes.priceMinor = priceOf(price);
    const { control } = c.var.ledger;
    const db = drizzle(control);
    const [before] = await db.select().from(giftsTable).where(eq(giftsTable.id, giftId));
    if (!before) throw new ApiError("gift_not_found");
    const update = db.update(giftsTable).set(changes).where(eq(giftsTable.id, giftId));
    await batchWithAuditEntry(
      control,
      operatorAction(c, {
        action: "gift.update",
        target: giftId,
        before: auditedGift(before),
        after: auditedGift({ ...before, ...changes }),
      }),
      [statementOf(control, update)],
    );
    const [row] = await db.select().from(giftsTable).where(eq(giftsTable.id, giftId));
    if (!row) throw new ApiError("gift_not_found");
    c.var.log.info("gift_updated", { giftId, actorId: c.var.principal.userId, fields: Object.keys(changes) });
    return c.json(view(row), 200);
  },
);

gifts.openapi(
  defineRoute({
    method: "delete",
    path: "/admin/gifts/{giftId}",
    auth: { permission: "gift.edit" },
    tags: ["gifts", "operators"],
    summary: "Remove a gift that was never sent; a gift with tips can only be disabled",
    request: { params: giftParams },
    responses: { 204: { description: "Deleted" }, ...errorResponses(401, 403, 404, 409) },
  }),
  async (c) => {
    const { giftId } = c.req.valid("param");
    const { ledger } = c.var;
    const exists = await ledger.control.prepare("SELECT 1 FROM gifts WHERE id = ?").bind(giftId).first();
    if (!exists) throw new ApiError("gift_not_found");
    // Tips are in the ledger shards, which a control statement cannot see: every shard is
    // asked first. A tip priced in the moment between the check and the delete keeps its
    // gift id and amount (the ledger's facts); only the catalogue entry is gone.
    const sent = await Promise.all(
      ledger.shards.map((s) => s.db.prepare("SELECT 1 FROM tips WHERE gift_id = ? LIMIT 1").bind(giftId).first()),
    );
    if (sent.some((row) => row !== null)) {
      throw new ApiError("conflict", "This gift has been sent; disable it instead of deleting it.");
    }
    const [before] = await drizzle(ledger.control).select().from(giftsTable).where(eq(giftsTable.id, giftId));
    if (!before) throw new ApiError("gift_not_found");
    const [deleted] = await batchWithAuditEntry(
      ledger.control,
      operatorAction(c, { action: "gift.delete", target: giftId, before: auditedGift(before), after: null }),
      [ledger.control.prepare("DELETE FROM gifts WHERE id = ? RETURNING id").bind(giftId)],
    );
    if (deleted?.results.length !== 1) throw new ApiError("gift_not_found");
    c.var.log.info("gift_deleted", { giftId, actorId: c.var.principal.userId });
    return c.body(null, 204);
  },
);

const TipPresetsRequest = z
  .strictObject({
    amounts: z.array(DecimalAmount).min(1).max(LIMITS.tipPresetsMax),
  })
  .openapi("TipPresetsRequest", { example: { amounts: ["1.00", "6.66", "8.88", "52.00"] } });

gifts.openapi(
  defineRoute({
    method: "put",
    path: "/admin/tip-presets",
    auth: { permission: "gift.edit" },
    tags: ["gifts", "operators"],
    summary: "Replace the tip presets (the viewer page's quick amounts), in the order given; audited",
    description:
      `1 to ${LIMITS.tipPresetsMax} amounts, each once (else \`malformed_request\`) and within the custom tip bounds (\`amount_out_of_range\`, ` +
      "422, and nothing changes). The catalog (`GET /v1/gifts`) answers the new presets at once.",
    request: { body: jsonBody(TipPresetsRequest) },
    responses: {
      200: jsonResponse(z.object({ tipPresets: CatalogSchema.shape.tipPresets }), "The presets now"),
      ...errorResponses(400, 401, 403, 422),
    },
  }),
  async (c) => {
    const amounts = c.req.valid("json").amounts.map(priceOf);
    if (new Set(amounts).size !== amounts.length) throw new ApiError("malformed_request", "Each preset once.");
    const { minMinor, maxMinor } = c.var.config.customTip;
    if (amounts.some((a) => a < minMinor || a > maxMinor)) {
      throw new ApiError(
        "amount_out_of_range",
        `Each preset is between ${money(minMinor).amount} and ${money(maxMinor).amount}.`,
      );
    }
    const { control } = c.var.ledger;
    const db = drizzle(control);
    const before = await db.select().from(tipPresets).orderBy(asc(tipPresets.sortOrder));
    await batchWithAuditEntry(
      control,
      operatorAction(c, {
        action: "tip_presets.set",
        target: "tip_presets",
        before: { amountsMinor: before.map((p) => p.amountMinor) },
        after: { amountsMinor: amounts },
      }),
      [
        control.prepare("DELETE FROM tip_presets"),
        ...amounts.map((amountMinor, sortOrder) =>
          statementOf(control, db.insert(tipPresets).values({ amountMinor, currency: DEFAULT_CURRENCY, sortOrder })),
        ),
      ],
    );
    c.var.log.info("tip_presets_set", { actorId: c.var.principal.userId, count: amounts.length });
    return c.json({ tipPresets: amounts.map(money) }, 200);
  },
);
