/**
 * Platform-funded (B2C) red packets. An operator creates a campaign with a budget
 * (platform:subsidy → campaign:{id}:budget); subsidies are issued from it to users by the
 * issuing system's external id (campaign budget → subsidy:{id}:grant); a user spends a
 * subsidy whole on one red packet, and what the packet does not give out returns to the
 * campaign. The budget account can never go below zero, so a campaign never spends more
 * than its budget, however many issuers race.
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import { composeCampaignFund } from "../../db/operations/campaign-fund";
import { composeSubsidyIssue } from "../../db/operations/subsidy-issue";
import { accountAddress } from "../../domain/accounts";
import { fail, ok } from "../../domain/errors";
import { LIMITS } from "../../domain/limits";
import { DEFAULT_CURRENCY, parseAmountMinor } from "../../domain/money";
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

const CampaignSchema = z
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
    auth: ["admin", "finance"],
    tags: ["subsidies"],
    summary: "Create a subsidy campaign with a budget (admin, finance)",
    request: { headers: IdempotencyKeyHeader, body: jsonBody(CreateCampaignRequest) },
    responses: {
      201: jsonResponse(z.object({ campaign: CampaignSchema }), "The campaign"),
      ...errorResponses(400, 401, 403, 422),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const actorId = c.var.principal.userId;
    const db = c.env.DB;
    return runIdempotent(c, "campaign", body, async (id, nowMs) => {
      const budget = parseAmountMinor(body.budget, LIMITS.campaignBudgetMaxMinor);
      if (!budget.ok) return budget;
      const campaign = { id, name: body.name, budgetMinor: budget.value, actorId };
      return ok({
        compose: (attach) => composeCampaignFund(db, campaign, nowMs, attach),
        status: 201,
        body: {
          campaign: {
            id,
            name: body.name,
            currency: DEFAULT_CURRENCY,
            budgetMinor: budget.value,
            remainingMinor: 0,
            issuedCount: 0,
            issuedMinor: 0,
            usedCount: 0,
            createdBy: actorId,
            createdAtMs: nowMs,
          },
        },
        patches: [balancePatch("$.campaign.remainingMinor", accountAddress.campaignBudget(id))],
      });
    });
  },
);

campaigns.openapi(
  defineRoute({
    method: "get",
    path: "/admin/campaigns/{campaignId}",
    auth: ["admin", "finance", "ops"],
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
    const row = await c.env.DB.prepare(
      `SELECT c.*, COALESCE(a.balance_minor, 0) AS remaining,
         (SELECT COUNT(*) FROM subsidies s WHERE s.campaign_id = c.id) AS issued_count,
         (SELECT COALESCE(SUM(amount_minor), 0) FROM subsidies s WHERE s.campaign_id = c.id) AS issued_minor,
         (SELECT COUNT(*) FROM subsidies s WHERE s.campaign_id = c.id AND s.status = 'used') AS used_count
       FROM subsidy_campaigns c LEFT JOIN accounts a ON a.address = 'campaign:' || c.id || ':budget'
       WHERE c.id = ?`,
    )
      .bind(campaignId)
      .first<{
        id: string;
        name: string;
        currency: string;
        budget_minor: number;
        created_by: string;
        created_at_ms: number;
        remaining: number;
        issued_count: number;
        issued_minor: number;
        used_count: number;
      }>();
    if (!row) throw new ApiError("campaign_not_found");
    return c.json(
      {
        campaign: {
          id: row.id,
          name: row.name,
          currency: row.currency,
          budgetMinor: row.budget_minor,
          remainingMinor: row.remaining,
          issuedCount: row.issued_count,
          issuedMinor: row.issued_minor,
          usedCount: row.used_count,
          createdBy: row.created_by,
          createdAtMs: row.created_at_ms,
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
    auth: ["admin", "finance", "ops"],
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
    const db = c.env.DB;
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
    return runIdempotent(c, "subsidy", { campaignId, ...body }, async (id, nowMs) => {
      const campaign = await db
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
        compose: (attach) => composeSubsidyIssue(db, grant, nowMs, attach),
        status: 201,
        body: { subsidy: subsidyBody(row), alreadyIssued: false },
        patches: [],
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
    const { results } = await c.env.DB.prepare(
      `SELECT s.*, c.name AS campaign_name FROM subsidies s JOIN subsidy_campaigns c ON c.id = s.campaign_id
       WHERE s.user_id = ? ORDER BY s.issued_at_ms DESC, s.id DESC LIMIT ?`,
    )
      .bind(c.var.principal.userId, limit)
      .all<SubsidyRow>();
    return c.json({ subsidies: results.map(subsidyBody) }, 200);
  },
);
