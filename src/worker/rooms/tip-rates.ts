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
  type DeskAsk,
  type DeskRate,
  isContentTip,
  type RatedTip,
  type RateFacts,
  type TipRater,
} from "../../db/operations/tip";
import { LIMITS } from "../../domain/limits";
import type { RateRequest } from "../../durable-objects/live-room.tiers";

export function roomTipRater(env: Env, defaultBps: number): TipRater {
  const quote = async (ask: DeskAsk, facts: RateFacts): Promise<DeskRate> => {
    if (facts.schedules.length === 0 || ask.deskRoomId === null) {
      // No desk for a creator without a room: the fixed default or the override (documented).
      return { share: null, atMs: null, commitByMs: Date.now() + LIMITS.tipRateTtlMs, settle: async () => {} };
    }
    const room = env.LIVE_ROOM.getByName(ask.deskRoomId);
    const answer = await room.quoteTipRate({
      tipId: ask.id,
      creatorId: ask.creatorId,
      grossMinor: ask.grossMinor,
      schedules: facts.schedules.map((s) => ({ ...s, tiers: [...s.tiers] })),
      defaultBps,
      creatorOverrideBps: facts.creatorOverrideBps,
    } satisfies RateRequest);
    return {
      share: answer.share,
      atMs: answer.atMs,
      commitByMs: answer.commitByMs,
      settle: async (fate) => {
        await room.settleTipRate(ask.id, fate);
      },
    };
  };
  return {
    quote,
    async rate<T extends AnyPreparedTip>(tip: T, facts: RateFacts): Promise<RatedTip<T>> {
      // A content tip is priced by its creator's room (one room per creator): the desk's book
      // of the month counts every tip (and paid unlock) of the creator's, wherever it was sent.
      const deskRoomId = isContentTip(tip) ? tip.deskRoomId : tip.roomId;
      const rate = await quote(
        { id: tip.id, creatorId: tip.creatorId, deskRoomId, grossMinor: tip.priced.amountMinor },
        facts,
      );
      if (rate.share === null || rate.atMs === null) {
        return { tip: { ...tip, commitByMs: rate.commitByMs }, settle: rate.settle };
      }
      return { tip: atQuotedRate(tip, rate.share, rate.atMs, rate.commitByMs), settle: rate.settle };
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
