import { openLedger } from "../../db/shards";
import { sweepPlatformLegs } from "../../db/tip-reversals";
import { sweepPayerLegs } from "../../db/unlock-refunds";
import { LIMITS } from "../../domain/limits";
import type { Logger } from "../../platform/logger";

/**
 * The backstop for tip reversals: a reversal whose platform leg (platform:revenue → the
 * viewer, in the tip's shard) is still missing a minute after its creator leg committed (the
 * route died between the two) gets it now. A leg the tip's shard refuses is a bug (its revenue
 * was credited there by the tip) and is alerted on every sweep until an operator looks.
 * Unlock refunds the same way: a refund whose payer leg (the platform's part back and the
 * entitlement revoked, in the payer's shard) is still missing gets it now.
 */
export async function sweepTipReversals(
  env: Env,
  nowMs: number,
  log: Logger,
): Promise<{ completed: number; refused: number }> {
  const ledger = await openLedger(env, nowMs);
  const { completed, refused } = await sweepPlatformLegs(ledger, nowMs, LIMITS.reversalPlatformLegGraceMs);
  for (const r of refused) log.error("alert_reversal_platform_leg_refused", r);
  const unlocks = await sweepPayerLegs(ledger, nowMs, LIMITS.reversalPlatformLegGraceMs);
  for (const r of unlocks.refused) log.error("alert_unlock_refund_payer_leg_refused", r);
  return { completed: completed + unlocks.completed, refused: refused.length + unlocks.refused.length };
}
