/**
 * A partner's red-packet campaigns (scope `campaigns.write`): a subsidy campaign for one of the
 * partner's rooms, created by the same code as an operator's (routes/campaigns.ts), so its
 * budget moves only through campaign_fund (platform:subsidy → the campaign's budget), under the
 * request's Idempotency-Key (a partner's keys share one key space), audited in the batch that
 * funds it. A room of a creator the partner does not own is 404, as on every partner route.
 * The per-key rate limit is the partner gate's (middleware/partner-auth.ts).
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import { partnerRoom } from "../../db/partners";
import { LIMITS } from "../../domain/limits";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { DecimalAmount, errorResponses, IdempotencyKeyHeader, jsonBody, jsonResponse, PrefixedId } from "../schemas";
import { CampaignSchema, createCampaign } from "./campaigns";
import { defineRoute } from "./define";

export const partnerCampaigns = new OpenAPIHono<AppEnv>();

const CreatePartnerCampaignRequest = z
  .strictObject({
    roomId: PrefixedId("room"),
    name: z.string().trim().min(1).max(LIMITS.nameMaxLength),
    budget: DecimalAmount.openapi({ description: "At most 10,000.00 (`partnerCampaignBudgetMaxMinor`)." }),
  })
  .openapi("CreatePartnerCampaignRequest", {
    example: { roomId: "room_01JDEMO", name: "Anniversary red packets", budget: "888.00" },
  });

partnerCampaigns.openapi(
  defineRoute({
    method: "post",
    path: "/partner/campaigns",
    auth: { partnerScope: "campaigns.write" },
    tags: ["partner"],
    summary: "Create a red-packet campaign (a subsidy budget) for one of the partner's rooms",
    request: { headers: IdempotencyKeyHeader, body: jsonBody(CreatePartnerCampaignRequest) },
    responses: {
      201: jsonResponse(z.object({ campaign: CampaignSchema }), "The campaign"),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const { partnerId } = c.var.partner;
    const room = await partnerRoom(c.var.ledger.control, partnerId, body.roomId);
    if (!room) throw new ApiError("room_not_found");
    return createCampaign(c, {
      name: body.name,
      budget: body.budget,
      budgetMaxMinor: LIMITS.partnerCampaignBudgetMaxMinor,
      actorId: `partner:${partnerId}`,
      owner: { partnerId, creatorId: room.creator_id, roomId: room.id },
    });
  },
);
