/**
 * 小额免密 (password-free small payments): a tip from the wallet goes through without the
 * payer confirming it when it is at most `perTipMaxMinor` and the day's password-free tips,
 * this one included, stay within `perDayMaxMinor`. Above either, the client must confirm.
 * A limit of 0 means every tip is confirmed. Days are local days (the leaderboard's zone).
 */
import { fail, ok, type Result } from "./errors";
import { LIMITS } from "./limits";

export interface AutopayLimits {
  readonly perTipMaxMinor: number;
  readonly perDayMaxMinor: number;
}

export function validateAutopayLimits(limits: AutopayLimits): Result<AutopayLimits> {
  const { perTipMaxMinor, perDayMaxMinor } = limits;
  if (!Number.isSafeInteger(perTipMaxMinor) || perTipMaxMinor < 0 || perTipMaxMinor > LIMITS.autopayPerTipMaxMinor) {
    return fail("amount_out_of_range", `The per-tip limit is between 0 and ${LIMITS.autopayPerTipMaxMinor} fen.`);
  }
  if (!Number.isSafeInteger(perDayMaxMinor) || perDayMaxMinor < 0 || perDayMaxMinor > LIMITS.autopayPerDayMaxMinor) {
    return fail("amount_out_of_range", `The daily limit is between 0 and ${LIMITS.autopayPerDayMaxMinor} fen.`);
  }
  if (perTipMaxMinor > perDayMaxMinor)
    return fail("amount_out_of_range", "The per-tip limit cannot exceed the daily one.");
  return ok(limits);
}
