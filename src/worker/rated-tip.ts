/**
 * A viewer's tip posted under an Idempotency-Key, priced by the creator's tier desk: what a room
 * tip (routes/tips.ts) and a content tip (routes/content-tips.ts) share once they are past their
 * own checks. 小额免密: within the payer's limits no confirmation is needed; only the limits are
 * read here (beside the tip's own reads), the day's total is summed by the guard in the batch,
 * after the balance, since concurrent tips read the same day total. The desk's quote is settled
 * once the batch answered (had it thrown, the desk reads the tip after the quote's time).
 */

import type { Context, TypedResponse } from "hono";
import { type AnyPreparedTip, composeTip, type RatedTip, type RateFacts, rateTip } from "../db/operations/tip";
import { autopayCheckFor } from "../db/reads/autopay";
import type { LedgerShard } from "../db/shards";
import { accountAddress } from "../domain/accounts";
import { type ErrorCode, ok, type Result } from "../domain/errors";
import type { AppEnv } from "./context";
import { balancePatch, type ParsedIdempotency, runIdempotent } from "./idempotency";
import { tipRulesWithRooms } from "./rooms/tip-rates";

export interface RatedTipPost<T extends AnyPreparedTip, B extends Record<string, unknown>> {
  readonly shard: LedgerShard;
  readonly viewerId: string;
  readonly request: unknown;
  readonly idempotency: ParsedIdempotency;
  /** The payer confirmed (PIN): no autopay check. */
  readonly confirmed: boolean;
  readonly prepare: (id: string, nowMs: number) => Promise<Result<T & { readonly rates: RateFacts }, ErrorCode>>;
  /** After the batch posted. */
  readonly onPosted: (id: string) => void;
  readonly receipt: (tip: T) => B;
}

export async function postRatedTip<T extends AnyPreparedTip, B extends Record<string, unknown>>(
  c: Context<AppEnv>,
  post: RatedTipPost<T, B>,
): Promise<TypedResponse<B, 201, "json">> {
  const { shard, viewerId } = post;
  let rated: RatedTip<T> | null = null;
  let posted = false;
  const response = await runIdempotent(
    c,
    { shard, bucket: c.var.ledger.bucketOf(viewerId) },
    "tip",
    post.request,
    async (id, nowMs) => {
      const [tip, autopay] = await Promise.all([
        post.prepare(id, nowMs),
        post.confirmed ? null : autopayCheckFor(shard.db, c.var.config, viewerId, nowMs),
      ]);
      if (!tip.ok) return tip;
      // The creator's room's tier desk prices it, with the room's own tips (ADR 0011).
      const mine = await rateTip(tipRulesWithRooms(c.env, c.var.config), tip.value);
      rated = mine;
      return ok({
        compose: (attach) => composeTip(shard, mine.tip, { attach, ...(autopay === null ? {} : { autopay }) }),
        status: 201,
        onPosted: () => {
          posted = true;
          post.onPosted(id);
        },
        body: post.receipt(mine.tip),
        patches: [balancePatch("$.walletBalanceMinor", accountAddress.userWallet(viewerId))],
      });
    },
    post.idempotency,
  );
  const answered = rated as RatedTip<T> | null;
  if (answered !== null) c.executionCtx.waitUntil(answered.settle(posted ? "posted" : "failed"));
  return response;
}
