import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { TypedResponse } from "hono";
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
import { LIMITS } from "../../domain/limits";
import { operatorAction } from "../audit";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { runIdempotent } from "../idempotency";
import { money } from "../money-view";
import { fourEyes } from "../proposals";
import {
  AmountMinor,
  errorResponses,
  IdempotencyKeyHeader,
  jsonBody,
  jsonResponse,
  PrefixedId,
  UserId,
} from "../schemas";
import { defineRoute } from "./define";

const ReversalSchema = z
  .object({
    id: PrefixedId("rev"),
    tipId: PrefixedId("tip"),
    creatorId: UserId,
    viewerId: UserId,
    tipDay: z.string().openapi({ description: "The tip's business day (YYYY-MM-DD)." }),
    amountMinor: AmountMinor,
    platformMinor: AmountMinor,
    creatorMinor: AmountMinor,
    source: z.enum(["pending", "receivable"]).openapi({
      description:
        "`pending`: the tip's day was not settled, its creator part left pending. `receivable`: it was settled; " +
        "the creator owes it and later settlements offset it.",
    }),
    platformLegDone: z.boolean().openapi({ description: "The platform's share is back in the viewer's wallet." }),
    reason: z.string(),
    actorId: z.string(),
    currency: z.string(),
    createdAtMs: z.number().int(),
  })
  .openapi("TipReversal");

const ReversalReply = z.object({ reversal: ReversalSchema, alreadyReversed: z.boolean() });

const ReverseRequest = z
  .strictObject({ reason: z.string().trim().min(1).max(LIMITS.reasonMaxLength) })
  .openapi("TipReversalRequest", { example: { reason: "chargeback: stolen card" } });

/** A stored or error answer, passed through as is (its bytes are what the key promised). */
const typed = (response: Response) => response as unknown as TypedResponse<z.infer<typeof ReversalReply>, 201, "json">;

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

    const answerExisting = async (existing: ReversalRow) => {
      const completed = await finish(existing);
      return c.json({ reversal: reversalView(completed), alreadyReversed: true }, 200);
    };
    // The platform's leg, at once; a failure here is completed by the reversal sweeper.
    const finish = async (reversal: ReversalRow): Promise<ReversalRow> => {
      if (reversal.platform_leg_at_ms !== null) return reversal;
      try {
        const verdict = await completePlatformLeg(ledger, reversal, Date.now());
        if (verdict.kind === "rejected") {
          c.var.log.error("alert_reversal_platform_leg_refused", { reversalId: reversal.id, code: verdict.code });
        }
      } catch (error) {
        c.var.log.warn("reversal_platform_leg_deferred", { reversalId: reversal.id, error: String(error) });
      }
      return (await reversalOfTip(creatorShard, tip.id)) ?? reversal;
    };

    // A settlement of the tip's day may commit between the plan and the batch: the reversal's
    // route guard refuses it then, the key is released in that batch, and the plan is re-read.
    for (let attempt = 1; ; attempt++) {
      const response = (await runIdempotent(c, target, "rev", { tipId, reason }, async (id, nowMs) => {
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
      })) as unknown as Response;
      // The stored answer (and its replays) says what the creator's leg committed; the
      // platform's leg follows here, on replays too, where it finds itself done.
      if (response.status === 201) {
        const stored = await reversalOfTip(creatorShard, tip.id);
        if (stored !== null) await finish(stored);
        return typed(response);
      }
      if (response.status !== 409) return typed(response);
      const code = ((await response.clone().json()) as { error: { code: string } }).error.code;
      if (code === "tip_already_reversed") {
        const existing = await reversalOfTip(creatorShard, tip.id);
        if (existing !== null) return answerExisting(existing);
      }
      if (code !== "conflict" || attempt >= 3) return typed(response);
    }
  },
);
