import { OpenAPIHono, z } from "@hono/zod-openapi";
import { emitOperationEvents } from "../../db/business-events";
import { composeUnlockRefund } from "../../db/operations/unlock-refund";
import {
  completePayerLeg,
  findUnlock,
  planUnlockRefund,
  refundOfUnlock,
  type UnlockRefundRow,
  unlockRefundView,
} from "../../db/unlock-refunds";
import { fail, ok } from "../../domain/errors";
import { parseIdempotencyKey } from "../../domain/idempotency";
import { operatorAction } from "../audit";
import { forgetEntitlement } from "../content-grants";
import type { AppEnv } from "../context";
import { earningReturnFields, earningReturnRequest, finishSecondLeg, runEarningReturn } from "../earning-return";
import { ApiError } from "../errors";
import { money } from "../money-view";
import { fourEyes } from "../proposals";
import { errorResponses, IdempotencyKeyHeader, jsonBody, jsonResponse, PrefixedId, UserId } from "../schemas";
import { defineRoute } from "./define";

/**
 * An operator refunds a paid unlock (issue 19: "refunds revoke the entitlement"), in two legs
 * like a tip reversal (db/unlock-refunds.ts): the creator's part back first, in the creator's
 * shard, then the platform's part back and the entitlement revoked in one batch in the
 * payer's shard; this isolate's cached entitlement answer is dropped once that leg posted.
 */

const RefundSchema = z
  .object({
    id: PrefixedId("urf"),
    unlockId: PrefixedId("unl"),
    contentId: PrefixedId("cnt"),
    creatorId: UserId,
    userId: UserId,
    unlockDay: z.string().openapi({ description: "The unlock's business day (YYYY-MM-DD)." }),
    ...earningReturnFields(
      "unlock",
      "payerLegDone",
      "The platform's part is back in the payer's wallet and the entitlement is revoked.",
    ),
  })
  .openapi("UnlockRefund");

const RefundReply = z.object({ refund: RefundSchema, alreadyRefunded: z.boolean() });

const RefundRequest = earningReturnRequest("UnlockRefundRequest", "the article was withdrawn");

export const unlockRefunds = new OpenAPIHono<AppEnv>();

unlockRefunds.openapi(
  defineRoute({
    method: "post",
    path: "/admin/unlocks/{unlockId}/refund",
    auth: { permission: "tip.reverse" },
    fourEyes: { when: "always" },
    tags: ["operators"],
    summary: "Refund a paid unlock and revoke its entitlement",
    description:
      "The payer gets the whole price back and loses access: the entitlement is revoked in the batch that returns " +
      "the platform's part, and the payer may unlock the item again later (a new charge). The creator's part comes " +
      "out of pending if the unlock's business day is not settled yet, otherwise it becomes a receivable that the " +
      "creator's next settlements offset. One refund per unlock: refunding it again (any Idempotency-Key) answers " +
      "200 with the same refund and `alreadyRefunded: true`. 409 `unlock_refund_in_flight` while the unlock's " +
      "earnings are still crossing to the creator's ledger shard; 422 `unlock_not_refundable` for an unlock whose " +
      "creator or platform part is zero.",
    request: {
      params: z.object({ unlockId: PrefixedId("unl").openapi({ param: { name: "unlockId", in: "path" } }) }),
      headers: IdempotencyKeyHeader,
      body: jsonBody(RefundRequest),
    },
    responses: {
      201: jsonResponse(RefundReply, "Refunded"),
      200: jsonResponse(RefundReply, "Already refunded"),
      ...errorResponses(400, 401, 403, 404, 409, 422, 503),
    },
  }),
  async (c) => {
    const { unlockId } = c.req.valid("param");
    const { reason } = c.req.valid("json");
    const { ledger, config } = c.var;
    const actorId = c.var.principal.userId;
    const idempotencyKey = parseIdempotencyKey(c.req.header("idempotency-key"));
    if (!idempotencyKey.ok) throw ApiError.from(idempotencyKey);
    const unlock = await findUnlock(ledger, unlockId);
    if (unlock === null) throw new ApiError("unlock_not_found");
    const proposed = await fourEyes(c, {
      required: true,
      summary: `Refund unlock ${unlockId} (${money(unlock.amount_minor).amount} from ${unlock.user_id} to ${unlock.creator_id} for ${unlock.content_id}): ${reason}`,
      body: { reason },
    });
    if (proposed) return proposed;
    const creatorShard = ledger.forOwner(unlock.creator_id);
    const target = { shard: creatorShard, bucket: ledger.bucketOf(unlock.creator_id) };

    // The payer's leg, at once; a failure here is completed by the reversal sweeper.
    const finish = (refund: UnlockRefundRow) =>
      finishSecondLeg(c, refund, {
        done: (r) => r.payer_leg_at_ms !== null,
        complete: (r) => completePayerLeg(ledger, r, Date.now()),
        afterPosted: (r) => forgetEntitlement(r.user_id, r.content_id),
        reread: () => refundOfUnlock(creatorShard, unlock.id),
        logs: {
          refused: "alert_unlock_refund_payer_leg_refused",
          deferred: "unlock_refund_payer_leg_deferred",
          idField: "refundId",
        },
      });

    // The creator's leg, re-planned if a settlement of the unlock's day commits meanwhile (worker/earning-return.ts).
    return runEarningReturn(c, {
      target,
      prefix: "urf",
      request: { unlockId, reason },
      build: async (id, nowMs) => {
        // Refunded already (under another key): the key is released and the refund answered below.
        // A revoked entitlement is only ever a refunded one (only the payer's leg revokes).
        if (unlock.state !== "active" || (await refundOfUnlock(creatorShard, unlock.id)) !== null) {
          return fail("unlock_already_refunded");
        }
        const plan = await planUnlockRefund(creatorShard, unlock, {
          id,
          reason,
          actorId,
          withholdingBpsNow: config.settlement.withholdingBps,
          timeZone: config.businessTimeZone,
          nowMs,
        });
        if (!plan.ok) return plan;
        const row: UnlockRefundRow = {
          id,
          unlock_id: unlock.id,
          content_id: unlock.content_id,
          creator_id: unlock.creator_id,
          user_id: unlock.user_id,
          unlock_day: plan.value.unlockDay,
          unlock_created_at_ms: unlock.created_at_ms,
          amount_minor: unlock.amount_minor,
          platform_minor: unlock.platform_minor,
          creator_minor: unlock.creator_minor,
          source: plan.value.route.from,
          payer_leg_at_ms: null,
          reason,
          actor_id: actorId,
          currency: unlock.currency,
          created_at_ms: nowMs,
        };
        return ok({
          compose: (attach) => composeUnlockRefund(creatorShard, plan.value, attach),
          status: 201 as const,
          body: { refund: unlockRefundView(row), alreadyRefunded: false },
          patches: [],
          audit: operatorAction(c, {
            action: "unlock.refund",
            target: unlock.id,
            before: { entitlement: "active" },
            after: {
              refundId: id,
              userId: unlock.user_id,
              creatorId: unlock.creator_id,
              contentId: unlock.content_id,
              amountMinor: unlock.amount_minor,
              creatorMinor: unlock.creator_minor,
              platformMinor: unlock.platform_minor,
              from: plan.value.route.from,
              reason,
            },
          }),
        });
      },
      alreadyCode: "unlock_already_refunded",
      stored: () => refundOfUnlock(creatorShard, unlock.id),
      afterMade: async (stored) => {
        await finish(stored);
        // `unlock.refunded` at once (the business-event sweeper is the backstop; a replay's copy has the same id).
        await emitOperationEvents(c.env, creatorShard, [{ id: stored.id, kind: "unlock_refund" }], c.var.log);
      },
      answerExisting: async (existing) =>
        c.json({ refund: unlockRefundView(await finish(existing)), alreadyRefunded: true }, 200),
    });
  },
);
