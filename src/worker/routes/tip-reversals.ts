import { OpenAPIHono, z } from "@hono/zod-openapi";
import { emitOperationEvents } from "../../db/business-events";
import { composeTipReversal } from "../../db/operations/tip-reversal";
import {
  completePlatformLeg,
  findTip,
  planReversal,
  type ReversalRow,
  reversalOfTip,
  reversalView,
} from "../../db/tip-reversals";
import { fail, ok } from "../../domain/errors";
import { parseIdempotencyKey } from "../../domain/idempotency";
import { operatorAction } from "../audit";
import type { AppEnv } from "../context";
import { earningReturnFields, earningReturnRequest, finishSecondLeg, runEarningReturn } from "../earning-return";
import { ApiError } from "../errors";
import { money } from "../money-view";
import { fourEyes } from "../proposals";
import { errorResponses, IdempotencyKeyHeader, jsonBody, jsonResponse, PrefixedId, UserId } from "../schemas";
import { defineRoute } from "./define";

const ReversalSchema = z
  .object({
    id: PrefixedId("rev"),
    tipId: PrefixedId("tip"),
    contentId: z.string().nullable().openapi({ description: "The content item tipped; null for a tip in a room." }),
    creatorId: UserId,
    viewerId: UserId,
    tipDay: z.string().openapi({ description: "The tip's business day (YYYY-MM-DD)." }),
    ...earningReturnFields("tip", "platformLegDone", "The platform's share is back in the viewer's wallet."),
  })
  .openapi("TipReversal");

const ReversalReply = z.object({ reversal: ReversalSchema, alreadyReversed: z.boolean() });

const ReverseRequest = earningReturnRequest("TipReversalRequest", "chargeback: stolen card");

export const tipReversals = new OpenAPIHono<AppEnv>();

tipReversals.openapi(
  defineRoute({
    method: "post",
    path: "/admin/tips/{tipId}/reversal",
    auth: { permission: "tip.reverse" },
    fourEyes: { when: "always" },
    tags: ["operators"],
    summary: "Reverse a tip: refund the viewer, take back the creator's part",
    description:
      "The viewer gets the whole tip back. The creator's part comes out of pending if the tip's business day is not " +
      "settled yet, otherwise it becomes a receivable that the creator's next settlements offset (available never " +
      "goes negative). The platform's share is refunded from its revenue. One reversal per tip: reversing it again " +
      "(any Idempotency-Key) answers 200 with the same reversal and `alreadyReversed: true`. 409 " +
      "`reversal_in_flight` while the tip's earnings are still crossing to the creator's ledger shard.",
    request: {
      params: z.object({ tipId: PrefixedId("tip").openapi({ param: { name: "tipId", in: "path" } }) }),
      headers: IdempotencyKeyHeader,
      body: jsonBody(ReverseRequest),
    },
    responses: {
      201: jsonResponse(ReversalReply, "Reversed"),
      200: jsonResponse(ReversalReply, "Already reversed"),
      ...errorResponses(400, 401, 403, 404, 409, 422, 503),
    },
  }),
  async (c) => {
    const { tipId } = c.req.valid("param");
    const { reason } = c.req.valid("json");
    const { ledger, config } = c.var;
    const actorId = c.var.principal.userId;
    // A request without a usable key is refused before anything is looked up.
    const idempotencyKey = parseIdempotencyKey(c.req.header("idempotency-key"));
    if (!idempotencyKey.ok) throw ApiError.from(idempotencyKey);
    const found = await findTip(ledger, tipId);
    if (found === null) throw new ApiError("tip_not_found");
    const proposed = await fourEyes(c, {
      required: true,
      summary: `Reverse tip ${tipId} (${money(found.tip.amount_minor).amount} from ${found.tip.viewer_id} to ${found.tip.creator_id}): ${reason}`,
      body: { reason },
    });
    if (proposed) return proposed;
    const { tip, shard: tipShard } = found;
    const creatorShard = ledger.forOwner(tip.creator_id);
    const target = { shard: creatorShard, bucket: ledger.bucketOf(tip.creator_id) };

    // The platform's leg, at once; a failure here is completed by the reversal sweeper.
    const finish = (reversal: ReversalRow) =>
      finishSecondLeg(c, reversal, {
        done: (r) => r.platform_leg_at_ms !== null,
        complete: (r) => completePlatformLeg(ledger, r, Date.now()),
        reread: () => reversalOfTip(creatorShard, tip.id),
        logs: {
          refused: "alert_reversal_platform_leg_refused",
          deferred: "reversal_platform_leg_deferred",
          idField: "reversalId",
        },
      });

    return runEarningReturn(c, {
      target,
      prefix: "rev",
      request: { tipId, reason },
      build: async (id, nowMs) => {
        // Reversed already (under another key): the key is released and the reversal answered below.
        if ((await reversalOfTip(creatorShard, tip.id)) !== null) return fail("tip_already_reversed");
        const plan = await planReversal(creatorShard, tipShard, tip, {
          id,
          reason,
          actorId,
          withholdingBpsNow: config.settlement.withholdingBps,
          timeZone: config.businessTimeZone,
          nowMs,
        });
        if (!plan.ok) return plan;
        const row: ReversalRow = {
          id,
          tip_id: tip.id,
          content_id: tip.content_id,
          creator_id: tip.creator_id,
          viewer_id: tip.viewer_id,
          tip_day: plan.value.tipDay,
          tip_created_at_ms: tip.created_at_ms,
          amount_minor: tip.amount_minor,
          platform_minor: tip.platform_minor,
          creator_minor: tip.creator_minor,
          source: plan.value.route.from,
          platform_leg_at_ms: tip.platform_minor === 0 ? nowMs : null,
          reason,
          actor_id: actorId,
          currency: tip.currency,
          created_at_ms: nowMs,
        };
        return ok({
          compose: (attach) => composeTipReversal(creatorShard, plan.value, attach),
          status: 201 as const,
          body: { reversal: reversalView(row), alreadyReversed: false },
          patches: [],
          audit: operatorAction(c, {
            action: "tip.reverse",
            target: tip.id,
            before: null,
            after: {
              reversalId: id,
              creatorId: tip.creator_id,
              amountMinor: tip.amount_minor,
              creatorMinor: tip.creator_minor,
              platformMinor: tip.platform_minor,
              from: plan.value.route.from,
              reason,
            },
          }),
        });
      },
      alreadyCode: "tip_already_reversed",
      stored: () => reversalOfTip(creatorShard, tip.id),
      afterMade: async (stored) => {
        await finish(stored);
        // `tip.reversed` at once (the business-event sweeper is the backstop; a replay's copy has the same id).
        await emitOperationEvents(c.env, creatorShard, [{ id: stored.id, kind: "tip_reversal" }], c.var.log);
      },
      answerExisting: async (existing) =>
        c.json({ reversal: reversalView(await finish(existing)), alreadyReversed: true }, 200),
    });
  },
);
