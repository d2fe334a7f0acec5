import { accountAddress } from "../../domain/accounts";
import { DEFAULT_CURRENCY } from "../../domain/money";
import { type Attach, type ComposedOperation, composeOperation, runOperation, type Verdict } from "../ledger";
import type { LedgerShard } from "../shards";

/**
 * adjustment: an operator's credit or debit of a user's wallet against `world:adjustments`
 * (the world outside the ledger), with a reason. A debit cannot take a wallet below zero.
 */
export interface Adjustment {
  readonly id: string;
  readonly userId: string;
  readonly direction: "credit" | "debit";
  readonly amountMinor: number;
  readonly reason: string;
  readonly actorId: string;
}

export function composeAdjustment(
  shard: LedgerShard,
  adjustment: Adjustment,
  nowMs: number,
  attach?: Attach,
): ComposedOperation {
  const wallet = accountAddress.userWallet(adjustment.userId);
  const world = accountAddress.worldAdjustments();
  const credit = adjustment.direction === "credit";
  return composeOperation(shard, {
    id: adjustment.id,
    kind: "adjustment",
    currency: DEFAULT_CURRENCY,
    postings: [{ from: credit ? world : wallet, to: credit ? wallet : world, amountMinor: adjustment.amountMinor }],
    actorId: adjustment.actorId,
    reason: adjustment.reason,
    metadata: { userId: adjustment.userId, direction: adjustment.direction },
    nowMs,
    guards: [],
    extra: () => [],
    attach,
  });
}

/** One adjustment in its own batch (the demo seed's funding; operators go through the idempotent route). */
export async function postAdjustment(shard: LedgerShard, adjustment: Adjustment, nowMs: number): Promise<Verdict> {
  const { verdict } = await runOperation(shard, composeAdjustment(shard, adjustment, nowMs));
  return verdict;
}
