/**
 * Platform-funded (B2C) red packets. An operator creates a campaign with a budget
 * (platform:subsidy → campaign:{id}:budget); subsidies are issued from it to users by the
 * issuing system's external id (campaign budget → subsidy:{id}:grant); a user spends a
 * subsidy whole on one red packet, and what the packet does not give out returns to the
 * campaign. The budget account can never go below zero, so a campaign never spends more
 * than its budget, however many issuers race.
 *
 * Where things live (sharded ledger): the campaign's definition row in the control database;
 * its budget account, and the rows of the subsidies it issues, in the ledger shard of the
 * bucket its id names (chosen when it is created); each subsidy's grant account in its
 * user's shard (the subsidy's id carries the user's bucket), credited through transit.
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context, TypedResponse } from "hono";
import { composeCampaignFund } from "../../db/operations/campaign-fund";
import { composeSubsidyIssue } from "../../db/operations/subsidy-issue";
import { subsidiesOfUser } from "../../db/reads/subsidies";
import { accountAddress } from "../../domain/accounts";
import { fail, ok } from "../../domain/errors";
import { assert, LIMITS } from "../../domain/limits";
import { DEFAULT_CURRENCY, parseAmountMinor } from "../../domain/money";
import { operatorAction } from "../audit";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { balancePatch, runIdempotent } from "../idempotency";
import { money } from "../money-view";
import {
  AmountMinor,
  DecimalAmount,
  errorResponses,
  IdempotencyKeyHeader,
  jsonBody,
  jsonResponse,
  PrefixedId,
  UserId,
} from "../schemas";
import { defineRoute } from "./define";

const CampaignId = PrefixedId("campaign");
const ExternalId = z
  .string()
  .min(1)
  .max(LIMITS.externalIdMaxLength)
  .regex(/^[\x21-\x7e]+$/, "printable ASCII");

const CreateCampaignRequest = z
  .strictObject({ name: z.string().trim().min(1).max(LIMITS.nameMaxLength), budget: DecimalAmount })
  .openapi("CreateCampaignRequest", { example: { name: "Spring Festival 2027", budget: "100000.00" } });

export const CampaignSchema = z
  .object({
    id: CampaignId,
    name: z.string(),
    currency: z.string(),
    budgetMinor: AmountMinor,
    remainingMinor: AmountMinor.openapi({ description: "Budget not yet issued (refunds flow back here)." }),
    issuedCount: z.number().int(),
    issuedMinor: AmountMinor,
    usedCount: z.number().int(),
    createdBy: z.string(),
    createdAtMs: z.number().int(),
    partnerId: z.string().optional().openapi({ description: "A partner's campaign: the partner." }),
    creatorId: z.string().optional().openapi({ description: "A partner's campaign: the creator it is for." }),
    roomId: z.string().optional().openapi({ description: "A partner's campaign: the room it is for." }),
  })
  .openapi("Campaign");

const IssueSubsidyRequest = z
  .strictObject({ externalId: ExternalId, userId: UserId, amount: DecimalAmount })
  .openapi("IssueSubsidyRequest", {
    example: { externalId: "spring-2027/u/8812", userId: "viewer-ana", amount: "8.88" },
  });

const SubsidySchema = z
  .object({
    id: z.string(),
    campaignId: CampaignId,
    campaignName: z.string().optional(),
    externalId: z.string(),
    userId: UserId,
    amountMinor: AmountMinor,
    amount: z.string(),
    status: z.enum(["issued", "used"]),
    packetId: z.string().nullable(),
    issuedAtMs: z.number().int(),
    usedAtMs: z.number().int().nullable(),
  })
  .openapi("Subsidy");

interface SubsidyRow {
  id: string;
  campaign_id: string;
  external_id: string;
  user_id: string;
  amount_minor: number;
  status: "issued" | "used";
  packet_id: string | null;
  issued_at_ms: number;
  used_at_ms: number | null;
  campaign_name?: string;
}

function subsidyBody(r: SubsidyRow) {
  return {
    id: r.id,
    campaignId: r.campaign_id,
    ...(r.campaign_name === undefined ? {} : { campaignName: r.campaign_name }),
    externalId: r.external_id,
    userId: r.user_id,
    ...money(r.amount_minor),
    status: r.status,
    packetId: r.packet_id,
    issuedAtMs: r.issued_at_ms,
    usedAtMs: r.used_at_ms,
  };
}

const campaignParams = z.object({
  campaignId: CampaignId.openapi({ param: { name: "campaignId", in: "path" } }),
});

export const campaigns = new OpenAPIHono<AppEnv>();

campaigns.openapi(
  defineRoute({
    method: "post",
    path: "/admin/campaigns",
    auth: { permission: "campaign.manage" },
    tags: ["subsidies"],
    summary: "Create a subsidy campaign with a budget",
    request: { headers: IdempotencyKeyHeader, body: jsonBody(CreateCampaignRequest) },
    responses: {
      201: jsonResponse(z.object({ campaign: CampaignSchema }), "The campaign"),
      ...errorResponses(400, 401, 403, 422),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    return createCampaign(c, {
      name: body.name,
      budget: body.budget,
      budgetMaxMinor: LIMITS.campaignBudgetMaxMinor,
      actorId: c.var.principal.userId,
      owner: null,
    });
  },
);

/** The partner, creator and room a partner's campaign is for (null: an operator's campaign). */
export interface CampaignOwner {
  readonly partnerId: string;
  readonly creatorId: string;
  readonly roomId: string;
}

/**
 * Creates a campaign under the request's Idempotency-Key: its budget posts through
 * campaign_fund (platform:subsidy → campaign budget), then its definition row is written. The
 * operators' route and the partners' (routes/partner-campaigns.ts) share it; a partner's
 * campaign is audited in the batch that funds it.
 */
export async function createCampaign(
  c: Context<AppEnv>,
  input: {
    readonly name: string;
    readonly budget: string;
    readonly budgetMaxMinor: number;
    readonly actorId: string;
    readonly owner: CampaignOwner | null;
  },
): Promise<TypedResponse<{ campaign: z.infer<typeof CampaignSchema> }, 201, "json">> {
  const { name, actorId, owner } = input;
  const body = { name, budget: input.budget, ...(owner === null ? {} : { roomId: owner.roomId }) };
  const ledger = c.var.ledger;
  // A campaign has no owner in the ledger, so its bucket comes from the request: the caller and
  // the Idempotency-Key. Campaigns spread over the shards, and a retry of the same request
  // reaches the same shard, where its key is kept.
  const bucket = ledger.bucketOf(`${actorId}/${c.req.header("idempotency-key") ?? ""}`);
  const shardIndex = ledger.map[bucket];
  assert(shardIndex !== undefined, "the map covers every bucket");
  const shard = ledger.shard(shardIndex);
  const response = (await runIdempotent(c, { shard, bucket }, "campaign", body, async (id, nowMs) => {
    const budget = parseAmountMinor(input.budget, input.budgetMaxMinor);
    if (!budget.ok) return budget;
    const campaign = { id, name, budgetMinor: budget.value, actorId };
    return ok({
      compose: (attach) => composeCampaignFund(shard, campaign, nowMs, attach),
      status: 201,
      body: {
        campaign: {
          id,
          name,
          currency: DEFAULT_CURRENCY,
          budgetMinor: budget.value,
          remainingMinor: 0,
          issuedCount: 0,
          issuedMinor: 0,
          usedCount: 0,
          createdBy: actorId,
          createdAtMs: nowMs,
          ...(owner === null ? {} : { partnerId: owner.partnerId, creatorId: owner.creatorId, roomId: owner.roomId }),
        },
      },
      patches: [balancePatch("$.campaign.remainingMinor", accountAddress.campaignBudget(id))],
      // Audited in the batch that funds it: an operator's as the operator, a partner's as the partner.
      audit:
        owner === null
          ? operatorAction(c, {
              action: "campaign.create",
              target: id,
              before: null,
              after: { name, budgetMinor: budget.value },
            })
          : {
              actor: actorId,
              action: "campaign.create",
              target: id,
              requestId: c.var.requestId,
              before: null,
              after: { name, budgetMinor: budget.value, creatorId: owner.creatorId, roomId: owner.roomId },
            },
    });
  })) as unknown as Response;
  if (response.status === 201) {
    // The definition row goes to the control database once the budget has posted (a batch
    // in the shard cannot write it). Written on every 201, replays included: if this write
    // fails the client sees a 500, retries with its key, gets the stored 201, and the row is
    // written then. Until then the budget is in the ledger, not lost (invariants hold), and
    // its fund operation's metadata names the campaign.
    const { campaign } = (await response.clone().json()) as { campaign: z.infer<typeof CampaignSchema> };
    await ledger.control
      .prepare(
        `INSERT INTO subsidy_campaigns (id, name, currency, budget_minor, created_by, created_at_ms, partner_id, creator_id, room_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      )
      .bind(
        campaign.id,
        campaign.name,
        campaign.currency,
        campaign.budgetMinor,
        campaign.createdBy,
        campaign.createdAtMs,
        owner?.partnerId ?? null,
        owner?.creatorId ?? null,
        owner?.roomId ?? null,
      )
      .run();
  }
  return response as unknown as TypedResponse<{ campaign: z.infer<typeof CampaignSchema> }, 201, "json">;
}

/** A campaign's definition row (control database); its figures are in its ledger shard. */
interface CampaignRow {
  id: string;
  name: string;
  currency: string;
  budget_minor: number;
  created_by: string;
  created_at_ms: number;
}

const CampaignListItem = CampaignSchema.pick({
  id: true,
  name: true,
  currency: true,
  budgetMinor: true,
  createdBy: true,
  createdAtMs: true,
}).openapi("CampaignListItem");

campaigns.openapi(
  defineRoute({
    method: "get",
    path: "/admin/campaigns",
    auth: { permission: "campaign.read" },
    tags: ["subsidies"],
    summary: "Campaigns, newest first: their definitions (`GET /v1/admin/campaigns/{id}` has the figures)",
    request: {
      query: z.object({
        cursor: CampaignId.optional().openapi({ description: "The `nextCursor` of the previous page." }),
        limit: z.coerce.number().int().min(1).max(LIMITS.pageSizeMax).default(LIMITS.pageSizeDefault),
      }),
    },
    responses: {
      200: jsonResponse(
        z.object({ campaigns: z.array(CampaignListItem), nextCursor: CampaignId.nullable() }),
        "A page of campaigns",
      ),
      ...errorResponses(400, 401, 403),
    },
  }),
  async (c) => {
    const { cursor, limit } = c.req.valid("query");
    // Ids sort by time, so the id is the cursor (newest first).
    const { results } = await c.var.ledger.control
      .prepare(
        `SELECT id, name, currency, budget_minor, created_by, created_at_ms FROM subsidy_campaigns
         WHERE ?1 IS NULL OR id < ?1 ORDER BY id DESC LIMIT ?2`,
      )
      .bind(cursor ?? null, limit + 1)
      .all<CampaignRow>();
    const shown = results.slice(0, limit);
    return c.json(
      {
        campaigns: shown.map((r) => ({
          id: r.id,
          name: r.name,
          currency: r.currency,
          budgetMinor: r.budget_minor,
          createdBy: r.created_by,
          createdAtMs: r.created_at_ms,
        })),
        nextCursor: results.length > limit ? (shown.at(-1)?.id ?? null) : null,
      },
      200,
    );
  },
);

campaigns.openapi(
  defineRoute({
    method: "get",
    path: "/admin/campaigns/{campaignId}",
    auth: { permission: "campaign.read" },
    tags: ["subsidies"],
    summary: "A campaign: budget, what is left, what was issued and used",
    request: { params: campaignParams },
    responses: {
      200: jsonResponse(z.object({ campaign: CampaignSchema }), "The campaign"),
      ...errorResponses(401, 403, 404),
    },
  }),
  async (c) => {
    const { campaignId } = c.req.valid("param");
    const ledger = c.var.ledger;
    const [row, figures] = await Promise.all([
      ledger.control.prepare("SELECT * FROM subsidy_campaigns WHERE id = ?").bind(campaignId).first<{
        id: string;
        name: string;
        currency: string;
        budget_minor: number;
        created_by: string;
        created_at_ms: number;
        partner_id: string | null;
        creator_id: string | null;
        room_id: string | null;
      }>(),
      // The budget and the subsidies it issued are in the campaign's shard.
      ledger
        .forId(campaignId)
        .db.prepare(
          `SELECT COALESCE((SELECT balance_minor FROM accounts WHERE address = ?), 0) AS remaining,
             COUNT(*) AS issued_count, COALESCE(SUM(amount_minor), 0) AS issued_minor,
             COALESCE(SUM(status = 'used'), 0) AS used_count
           FROM subsidies WHERE campaign_id = ?`,
        )
        .bind(accountAddress.campaignBudget(campaignId), campaignId)
        .first<{ remaining: number; issued_count: number; issued_minor: number; used_count: number }>(),
    ]);
    if (!row || !figures) throw new ApiError("campaign_not_found");
    return c.json(
      {
        campaign: {
          id: row.id,
          name: row.name,
          currency: row.currency,
          budgetMinor: row.budget_minor,
          remainingMinor: figures.remaining,
          issuedCount: figures.issued_count,
          issuedMinor: figures.issued_minor,
          usedCount: figures.used_count,
          createdBy: row.created_by,
          createdAtMs: row.created_at_ms,
          ...(row.partner_id === null
            ? {}
            : { partnerId: row.partner_id, creatorId: row.creator_id ?? undefined, roomId: row.room_id ?? undefined }),
        },
      },
      200,
    );
  },
);

campaigns.openapi(
  defineRoute({
    method: "post",
    path: "/admin/campaigns/{campaignId}/subsidies",
    auth: { permission: "campaign.manage" },
    tags: ["subsidies"],
    summary: "Issue a subsidy to a user, once per external id",
    description:
      "The external id is the issuing system's id for this grant. The same external id never issues twice: " +
      "re-sent with the same user and amount it answers the original subsidy (200); with anything else, " +
      "`external_id_conflict` (409) and nothing is issued. The campaign's remaining budget must cover it.",
    request: { params: campaignParams, headers: IdempotencyKeyHeader, body: jsonBody(IssueSubsidyRequest) },
    responses: {
      200: jsonResponse(z.object({ subsidy: SubsidySchema, alreadyIssued: z.boolean() }), "Issued earlier"),
      201: jsonResponse(z.object({ subsidy: SubsidySchema, alreadyIssued: z.boolean() }), "Issued"),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
  }),
  async (c) => {
    const { campaignId } = c.req.valid("param");
    const body = c.req.valid("json");
    const ledger = c.var.ledger;
    // The subsidy commits in its campaign's shard (the budget's, and its row's); its id
    // carries its user's bucket, where its grant account is.
    const shard = ledger.forId(campaignId);
    const { db } = shard;
    const amount = parseAmountMinor(body.amount);
    if (!amount.ok) throw ApiError.from(amount);
    const existing = await db
      .prepare("SELECT * FROM subsidies WHERE campaign_id = ? AND external_id = ?")
      .bind(campaignId, body.externalId)
      .first<SubsidyRow>();
    if (existing) {
      if (existing.user_id !== body.userId || existing.amount_minor !== amount.value)
        throw new ApiError("external_id_conflict", undefined, { subsidyId: existing.id });
      return c.json({ subsidy: subsidyBody(existing), alreadyIssued: true }, 200);
    }
    const target = { shard, bucket: ledger.bucketOf(body.userId) };
    return runIdempotent(c, target, "subsidy", { campaignId, ...body }, async (id, nowMs) => {
      const campaign = await ledger.control
        .prepare("SELECT id FROM subsidy_campaigns WHERE id = ?")
        .bind(campaignId)
        .first<{ id: string }>();
      if (!campaign) return fail("campaign_not_found");
      const row: SubsidyRow = {
        id,
        campaign_id: campaignId,
        external_id: body.externalId,
        user_id: body.userId,
        amount_minor: amount.value,
        status: "issued",
        packet_id: null,
        issued_at_ms: nowMs,
        used_at_ms: null,
      };
      const grant = {
        id,
        campaignId,
        externalId: body.externalId,
        userId: body.userId,
        amountMinor: amount.value,
        actorId: c.var.principal.userId,
      };
      return ok({
        compose: (attach) => composeSubsidyIssue(shard, grant, nowMs, attach),
        status: 201,
        body: { subsidy: subsidyBody(row), alreadyIssued: false },
        patches: [],
        audit: operatorAction(c, {
          action: "subsidy.issue",
          target: campaignId,
          before: null,
          after: { subsidyId: id, externalId: body.externalId, userId: body.userId, amountMinor: amount.value },
        }),
      });
    });
  },
);

campaigns.openapi(
  defineRoute({
    method: "get",
    path: "/me/subsidies",
    auth: "signed-in",
    tags: ["subsidies"],
    summary: "Your subsidies, issued and used, newest first",
    request: {
      query: z.object({
        limit: z.coerce.number().int().min(1).max(LIMITS.pageSizeMax).default(LIMITS.pageSizeDefault),
      }),
    },
    responses: {
      200: jsonResponse(z.object({ subsidies: z.array(SubsidySchema) }), "Your subsidies"),
      ...errorResponses(401),
    },
  }),
  async (c) => {
    const { limit } = c.req.valid("query");
    const ledger = c.var.ledger;
    const rows = await subsidiesOfUser(ledger, c.var.principal.userId, limit);
    const names = new Map<string, string>();
    if (rows.length > 0) {
      const { results } = await ledger.control
        .prepare("SELECT id, name FROM subsidy_campaigns WHERE id IN (SELECT value FROM json_each(?))")
        .bind(JSON.stringify([...new Set(rows.map((r) => r.campaign_id))]))
        .all<{ id: string; name: string }>();
      for (const r of results) names.set(r.id, r.name);
    }
    return c.json(
      {
        subsidies: rows.map((r) => {
          const name = names.get(r.campaign_id);
          return subsidyBody(name === undefined ? r : { ...r, campaign_name: name });
        }),
      },
      200,
    );
  },
);
