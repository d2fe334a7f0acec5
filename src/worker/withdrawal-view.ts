import { z } from "@hono/zod-openapi";
import type { WithdrawalWithSteps } from "../db/reads/withdrawals";
import { withdrawalNumber } from "../domain/withdrawal-number";
import { decodeReviewReasons } from "../domain/withdrawal-request";
import { WITHDRAWAL_STATES } from "../domain/withdrawal-states";
import { AmountMinor } from "./schemas";

/** A withdrawal as the API shows it, to its creator and to operators. */
export const WithdrawalSchema = z
  .object({
    id: z.string(),
    channelNumber: z.string().openapi({ description: "The channel's idempotency number: the id without `_`." }),
    creatorId: z.string().openapi({ description: "The owner's id (a creator's, or a user's for winnings)." }),
    ownerKind: z
      .enum(["creator", "user"])
      .openapi({ description: "`creator` (earnings) or `user` (red-packet winnings: docs/adr/0017)." }),
    amountMinor: AmountMinor,
    feeMinor: AmountMinor,
    payoutMinor: AmountMinor.openapi({ description: "What the payee receives: amount − fee." }),
    currency: z.string(),
    channel: z.string(),
    destination: z.string().openapi({ description: "The payout account, masked, as bound at the request." }),
    state: z.enum(WITHDRAWAL_STATES),
    review: z.enum(["auto", "manual"]),
    reviewReasons: z.array(z.string()),
    reviewDetails: z
      .record(z.string(), z.string())
      .openapi({ description: "A readable sentence per review reason that has one (`risk_cash_out_chain`)." }),
    reviewerId: z.string().nullable(),
    rejectReason: z.string().nullable(),
    failureReason: z.string().nullable(),
    providerRef: z.string().nullable(),
    channelState: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]))
      .nullable()
      .openapi({ description: "The channel's last non-final answer (e.g. a confirm package)." }),
    payingSinceMs: z.number().int().nullable(),
    stuckFlaggedAtMs: z.number().int().nullable(),
    createdAtMs: z.number().int(),
    updatedAtMs: z.number().int(),
    transitions: z.array(
      z.object({
        seq: z.number().int(),
        from: z.enum(WITHDRAWAL_STATES).nullable(),
        to: z.enum(WITHDRAWAL_STATES),
        cause: z.string(),
        ref: z.string().nullable(),
        actorId: z.string().nullable(),
        atMs: z.number().int(),
      }),
    ),
  })
  .openapi("Withdrawal");
export type WithdrawalView = z.infer<typeof WithdrawalSchema>;

function parsed(json: string | null): unknown {
  if (json === null) return null;
  try {
    return JSON.parse(json);
  } catch {
    return null;
  }
}

export function withdrawalView({ row, transitions }: WithdrawalWithSteps): WithdrawalView {
  const review = decodeReviewReasons(row.review_reasons);
  return {
    id: row.id,
    channelNumber: withdrawalNumber(row.id),
    creatorId: row.creator_id,
    ownerKind: row.owner_kind,
    amountMinor: row.amount_minor,
    feeMinor: row.fee_minor,
    payoutMinor: row.amount_minor - row.fee_minor,
    currency: row.currency,
    channel: row.channel,
    destination: row.destination_masked,
    state: row.state,
    review: row.review,
    reviewReasons: review.reasons,
    reviewDetails: review.details,
    reviewerId: row.reviewer_id,
    rejectReason: row.reject_reason,
    failureReason: row.failure_reason,
    providerRef: row.provider_ref,
    channelState: parsed(row.channel_state) as Record<string, string | number | boolean | null> | null,
    payingSinceMs: row.paying_since_ms,
    stuckFlaggedAtMs: row.stuck_flagged_at_ms,
    createdAtMs: row.created_at_ms,
    updatedAtMs: row.updated_at_ms,
    transitions: transitions.map((t) => ({
      seq: t.seq,
      from: t.from_state,
      to: t.to_state,
      cause: t.cause,
      ref: t.ref,
      actorId: t.actor_id,
      atMs: t.at_ms,
    })),
  };
}
