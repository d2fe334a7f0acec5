import { fail, ok, type Result } from "./errors";
import { assert, LIMITS } from "./limits";

/**
 * Amounts are integer minor units (fen) with a currency; never floats. Decimal strings
 * from clients are parsed exactly, character by character, and anything that is not a
 * plain non-negative decimal with at most two fraction digits is rejected.
 */
export const CURRENCIES = ["CNY"] as const;
export type Currency = (typeof CURRENCIES)[number];
export const DEFAULT_CURRENCY: Currency = "CNY";

/** Minor units per major unit is 10^2 for every supported currency. */
const FRACTION_DIGITS = 2;

const DECIMAL = /^(0|[1-9][0-9]{0,11})(?:\.([0-9]{1,2}))?$/;

/**
 * "18.80" → 1880, "6.6" → 660, "52" → 5200. Rejects "1e3", "-1", "01", ".5", "1.",
 * "1.234", whitespace, and anything above `maxMinor`. Zero is rejected: no money path
 * moves nothing.
 */
export function parseAmountMinor(input: string, maxMinor: number = LIMITS.amountMaxMinor): Result<number> {
  const match = DECIMAL.exec(input);
  if (!match) {
    return fail("malformed_request", `"${input.slice(0, 32)}" is not a decimal amount like "18.80".`);
  }
  const whole = match[1] ?? "0";
  const fraction = (match[2] ?? "").padEnd(FRACTION_DIGITS, "0");
  // Built from digits, so the result is exact; the regex bounds it below 2^53.
  const amountMinor = Number(whole) * 10 ** FRACTION_DIGITS + Number(fraction);
  assert(Number.isSafeInteger(amountMinor), "parsed amount is a safe integer");
  if (amountMinor <= 0 || amountMinor > maxMinor) {
    return fail("amount_out_of_range", `The amount must be between 0.01 and ${formatMinor(maxMinor)}.`);
  }
  return ok(amountMinor);
}

/** 1880 → "18.80"; -5 → "-0.05". */
export function formatMinor(amountMinor: number): string {
  assert(Number.isSafeInteger(amountMinor), "amount is a safe integer");
  const sign = amountMinor < 0 ? "-" : "";
  const abs = Math.abs(amountMinor);
  const whole = Math.floor(abs / 100);
  const fraction = String(abs % 100).padStart(FRACTION_DIGITS, "0");
  return `${sign}${whole}.${fraction}`;
}
