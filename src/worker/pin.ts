import { checkPin } from "../db/payment-pins";
import type { LedgerShard } from "../db/shards";
import { ApiError } from "./errors";

/**
 * The payer's PIN must be right before the money moves (a tip above the password-free limits,
 * a withdrawal). A refusal throws: `pin_incorrect` with the tries left, `pin_locked` with
 * Retry-After, `pin_not_set`. Returns the hash it was checked against.
 */
export async function requirePin(shard: LedgerShard, userId: string, pin: string, nowMs: number): Promise<string> {
  const check = await checkPin(shard.db, userId, pin, nowMs);
  if (check.ok) return check.hashHex;
  const details = {
    ...(check.triesLeft === undefined ? {} : { triesLeft: check.triesLeft }),
    ...(check.lockedUntilMs === undefined ? {} : { lockedUntilMs: check.lockedUntilMs }),
  };
  throw new ApiError(check.code, check.message, details);
}
