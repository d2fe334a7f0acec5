/**
 * The risk review queue (issue 16): tips a risk rule held with the payer's money
 * (docs/ARCHITECTURE.md, "Held tips"). Operators with `risk.read` list and read them (with the
 * rules that fired); with `risk.manage` they approve one (the held money becomes the tip) or
 * decline it (the money returns to the payer). Each decision is audited in its batch.
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import { findHeldTip, type HeldTip, heldTipsPage, heldTipsWaiting } from "../../db/held-tips";
import { HELD_TIP_STATES } from "../../domain/held-tip";
import { LIMITS } from "../../domain/limits";
import { formatMinor } from "../../domain/money";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { approveHeldTip, declineHeldTip } from "../held-tips";
import {
  AmountMinor,
  Currency,
  errorResponses,
  GiftId,
  jsonBody,
  jsonResponse,
  PageQuery,
  PrefixedId,
  UserId,
} from "../schemas";
import { ContentId } from "./content";
import { defineRoute } from "./define";
import { RoomId } from "./rooms";

const params = z.object({
  heldTipId: PrefixedId("held").openapi({ param: { name: "heldTipId", in: "path" } }),
});

export const HeldTipSchema = z
  .object({
    id: PrefixedId("held"),
    state: z.enum(HELD_TIP_STATES),
    viewerId: UserId,
    roomId: RoomId.nullable().openapi({ description: "A room's held tip: its room (else null)." }),
    contentId: ContentId.nullable().openapi({
      description: "A content item's held tip (issue 19): the item (else null). Exactly one of the two is set.",
    }),
    creatorId: UserId,
    ask: z.record(z.string(), z.unknown()).openapi({
      description: "What the payer asked for: `{kind: gift, giftId, quantity}` or `{kind: custom, amount}`.",
    }),
    giftId: GiftId.nullable(),
    quantity: z.number().int(),
    amountMinor: AmountMinor,
    amount: z.string(),
    currency: Currency,
    message: z
      .object({ text: z.string(), shown: z.string(), status: z.enum(["shown", "masked", "held"]) })
      .nullable()
      .openapi({
        description: "The tip's message as moderated when held (a held message still needs its own review).",
      }),
    decisionId: z.string().openapi({ description: "The risk decision (`GET /v1/admin/risk/decisions`)." }),
    fired: z
      .array(z.object({ ruleId: z.string(), outcome: z.string(), reason: z.string(), detail: z.string() }))
      .openapi({ description: "The rules that fired, with why in a sentence." }),
    tipId: z
      .string()
      .openapi({ description: "The tip an approval makes (its id is fixed when held); a tip only once `approved`." }),
    createdAtMs: z.number().int(),
    expiresAtMs: z.number().int().openapi({ description: "Not decided by then, the sweeper declines it (`expired`)." }),
    decidedBy: z.string().nullable(),
    decidedAtMs: z.number().int().nullable(),
    decisionReason: z.string().nullable(),
  })
  .openapi("HeldTip");

function view(h: HeldTip): z.infer<typeof HeldTipSchema> {
  return { ...h, ask: { ...h.ask }, fired: [...h.fired], amount: formatMinor(h.amountMinor) };
}

const Reply = z.object({ heldTip: HeldTipSchema });
const DeclineRequest = z
  .strictObject({ reason: z.string().trim().min(1).max(LIMITS.reasonMaxLength) })
  .openapi("HeldTipDecline", { example: { reason: "card reported stolen" } });

export const adminRiskReviews = new OpenAPIHono<AppEnv>();

adminRiskReviews.openapi(
  defineRoute({
    method: "get",
    path: "/admin/risk/reviews",
    auth: { permission: "risk.read" },
    tags: ["operators"],
    summary: "Tips held for review, oldest first, with how many wait for a decision",
    description:
      "`state` filters (default `held`: the queue; `all` for every state). `waiting` counts every tip still " +
      "`held`, over every shard (the console's badge).",
    request: {
      query: PageQuery.extend({ state: z.enum([...HELD_TIP_STATES, "all"]).default("held") }),
    },
    responses: {
      200: jsonResponse(
        z.object({
          heldTips: z.array(HeldTipSchema),
          nextCursor: z.string().nullable(),
          waiting: z.number().int(),
        }),
        "A page of held tips",
      ),
      ...errorResponses(400, 401, 403),
    },
  }),
  async (c) => {
    const { state, cursor, limit } = c.req.valid("query");
    const [page, waiting] = await Promise.all([
      heldTipsPage(c.var.ledger, state === "all" ? null : state, cursor ?? null, limit + 1),
      heldTipsWaiting(c.var.ledger),
    ]);
    const shown = page.slice(0, limit);
    return c.json(
      {
        heldTips: shown.map(view),
        nextCursor: page.length > limit ? (shown.at(-1)?.id ?? null) : null,
        waiting,
      },
      200,
    );
  },
);

adminRiskReviews.openapi(
  defineRoute({
    method: "get",
    path: "/admin/risk/reviews/{heldTipId}",
    auth: { permission: "risk.read" },
    tags: ["operators"],
    summary: "One held tip, with the rules that held it and its decision",
    request: { params },
    responses: { 200: jsonResponse(Reply, "The held tip"), ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { heldTipId } = c.req.valid("param");
    const held = await findHeldTip(c.var.ledger, heldTipId);
    if (held === null) throw new ApiError("held_tip_not_found");
    return c.json({ heldTip: view(held) }, 200);
  },
);

adminRiskReviews.openapi(
  defineRoute({
    method: "post",
    path: "/admin/risk/reviews/{heldTipId}/approve",
    auth: { permission: "risk.manage" },
    tags: ["operators"],
    summary: "Approve a held tip: the held money becomes the tip",
    description:
      "The tip is priced and rated now, as the wallet tip would have been (the room must be live: else " +
      "`room_not_live`, and it stays held), paid from the held amount, and the room announces it. Approving an " +
      "approved tip again changes nothing; a declined or expired one is `held_tip_decided`; one whose price or " +
      "creator changed since it was held is `held_tip_changed` (decline it). Audited.",
    request: { params },
    responses: { 200: jsonResponse(Reply, "Approved"), ...errorResponses(400, 401, 403, 404, 409, 422, 503) },
  }),
  async (c) => {
    const { heldTipId } = c.req.valid("param");
    return c.json({ heldTip: view(await approveHeldTip(c, heldTipId)) }, 200);
  },
);

adminRiskReviews.openapi(
  defineRoute({
    method: "post",
    path: "/admin/risk/reviews/{heldTipId}/decline",
    auth: { permission: "risk.manage" },
    tags: ["operators"],
    summary: "Decline a held tip with a reason: the money returns to the payer's wallet",
    description:
      "Declining a declined tip again changes nothing (the money returned once); an approved or expired one is " +
      "`held_tip_decided`. Audited.",
    request: { params, body: jsonBody(DeclineRequest) },
    responses: { 200: jsonResponse(Reply, "Declined"), ...errorResponses(400, 401, 403, 404, 409) },
  }),
  async (c) => {
    const { heldTipId } = c.req.valid("param");
    const { reason } = c.req.valid("json");
    return c.json({ heldTip: view(await declineHeldTip(c, heldTipId, reason)) }, 200);
  },
);
