/**
 * tip_reversal_platform: the platform's leg of a tip reversal (tip-reversal.ts is the
 * creator's), platform:revenue → the viewer's wallet, for the tip's platform share. It commits
 * in the TIP's shard, where that revenue was credited, so the shard's revenue covers it.
 *
 * Its id is the reversal's id with `:platform`, so it posts once however often it runs: the
 * reversal route runs it right after the creator's leg, and the reversal sweeper
 * (worker/cron/reversal-sweep.ts) runs it for a reversal whose row still has no
 * `platform_leg_at_ms` (a crash between the two legs). That column, in the creator's shard, is
 * a cache marked after this posts (`markPlatformLeg`); the authority is this operation's id
 * in the tip's shard, so a mark that is lost only makes the sweeper find "exists" and mark it.
 */

import { accountAddress } from "../../domain/accounts";
import type { Currency } from "../../domain/money";
import { type ComposedOperation, composeOperation } from "../ledger";
import type { LedgerShard } from "../shards";

export function platformLegId(reversalId: string): string {
  return `${reversalId}:platform`;
}

export interface PlatformLegInput {
  readonly reversalId: string;
  readonly tipId: string;
  readonly viewerId: string;
  readonly platformMinor: number;
  readonly currency: Currency;
  readonly actorId: string;
  readonly nowMs: number;
}

export function composeTipReversalPlatform(shard: LedgerShard, input: PlatformLegInput): ComposedOperation {
  return composeOperation(shard, {
    id: platformLegId(input.reversalId),
    kind: "tip_reversal_platform",
    currency: input.currency,
    postings: [
      {
        from: accountAddress.platformRevenue(),
        to: accountAddress.userWallet(input.viewerId),
        amountMinor: input.platformMinor,
      },
    ],
    actorId: input.actorId,
    reason: null,
    metadata: { reversalId: input.reversalId, tipId: input.tipId },
    nowMs: input.nowMs,
    guards: [],
    extra: () => [],
  });
}

/** In the creator's shard, after the platform leg posted (or existed): the reversal is whole. */
export function markPlatformLeg(db: D1Database, reversalId: string, nowMs: number): D1PreparedStatement {
  return db
    .prepare("UPDATE tip_reversals SET platform_leg_at_ms = ? WHERE id = ? AND platform_leg_at_ms IS NULL")
    .bind(nowMs, reversalId);
}
