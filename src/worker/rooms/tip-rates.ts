/**
 * Tier rates for tips that commit outside their room's group commit: the direct wallet path
 * (TIP_COMMIT=direct) and pay-to-tip inside a payment's credit batch. Their rate must be exact
 * like the room's own tips (ADR 0011), so the room's tier desk prices them too
 * (durable-objects/live-room.tiers.ts): it quotes the rate at its instant and in its order,
 * counts the tip as uncommitted until told whether it posted, and reads it after the quote's
 * time if never told.
 *
 * With no schedule in force or due within `revenueScheduleLeadMs`, no room is asked: the rate is
 * the fixed default or the override, and the tip must commit within `tipRateTtlMs` (so it cannot
 * commit unseen after a schedule takes effect and the room reads the month's gross).
 */

import {
  type AnyPreparedTip,
  atQuotedRate,
  isContentTip,
  type RatedTip,
  type RateFacts,
  type TipRater,
} from "../../db/operations/tip";
import { LIMITS } from "../../domain/limits";
import type { RateRequest } from "../../durable-objects/live-room.tiers";

export function roomTipRater(env: Env, defaultBps: number): TipRater {
  return {
    async rate<T extends AnyPreparedTip>(tip: T, facts: RateFacts): Promise<RatedTip<T>> {
      // A content tip is priced by its creator's room (one room per creator): the desk's book
      // of the month counts every tip of the creator's, wherever it was sent.
      const deskRoomId = isContentTip(tip) ? tip.deskRoomId : tip.roomId;
      if (facts.schedules.length === 0 || deskRoomId === null) {
        // No desk for a creator without a room: the fixed default or the override (documented).
        return { tip: { ...tip, commitByMs: Date.now() + LIMITS.tipRateTtlMs }, settle: async () => {} };
      }
      const room = env.LIVE_ROOM.getByName(deskRoomId);
      const answer = await room.quoteTipRate({
        tipId: tip.id,
        creatorId: tip.creatorId,
        grossMinor: tip.priced.amountMinor,
        schedules: facts.schedules.map((s) => ({ ...s, tiers: [...s.tiers] })),
        defaultBps,
        creatorOverrideBps: facts.creatorOverrideBps,
      } satisfies RateRequest);
      return {
        tip: atQuotedRate(tip, answer.share, answer.atMs, answer.commitByMs),
        settle: async (fate) => {
          await room.settleTipRate(tip.id, fate);
        },
      };
    },
  };
}

/** The platform's tip rules with the room as the rater (configuration plus the rooms). */
export function tipRulesWithRooms<T extends { readonly platformShareBps: number }>(
  env: Env,
  config: T,
): T & { readonly rater: TipRater } {
  return { ...config, rater: roomTipRater(env, config.platformShareBps) };
}
