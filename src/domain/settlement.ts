import { addDays, dayStartMs, isDayKey } from "./business-day";
import { fail, ok, type Result } from "./errors";
import { assert, LIMITS } from "./limits";
import { withholdingMinor } from "./withholding";

/**
 * Settlement, T+N: the earnings of one creator's business day D leave `creator:{id}:pending`
 * for `creator:{id}:available` at the start of business day D+N (N ≥ 1, so day D has ended).
 *
 *   creator part   = gross − platform share                     (each tip split at its own rate)
 *   settleable     = creator part − reversals before settlement (already taken out of pending)
 *   withholding    = withholding(settleable), rounded down to the fen
 *   offset         = min(receivable, settleable − withholding)  (reversals after an earlier settlement)
 *   net            = settleable − withholding − offset  ≥ 0     (what moves to available)
 *
 * Available never goes negative: what the receivable cannot take today carries to the next
 * settlement (`receivableAfterMinor`). The record is a pure function of its inputs, so a re-run
 * for the same creator and day gives the same record, and its idempotency key makes the
 * ledger move it once.
 */
export interface DayPostings {
  readonly creatorId: string;
  readonly day: string; // business day, YYYY-MM-DD
  readonly grossMinor: number;
  readonly platformMinor: number;
  /** Creator part of this day's tips reversed before the day settled (already out of pending). */
  readonly reversedMinor: number;
  readonly withholdingBps: number;
  /** Outstanding receivable from reversals of already-settled tips, before this settlement. */
  readonly receivableMinor: number;
}

export interface SettlementRecord {
  readonly key: string;
  readonly creatorId: string;
  readonly day: string;
  readonly dueAtMs: number;
  readonly grossMinor: number;
  readonly platformMinor: number;
  readonly creatorPartMinor: number;
  readonly reversedMinor: number;
  readonly withholdingMinor: number;
  readonly receivableOffsetMinor: number;
  readonly netMinor: number;
  readonly receivableAfterMinor: number;
}

/** One settlement per creator per business day. */
export function settlementKey(creatorId: string, day: string): string {
  assert(creatorId.length > 0 && creatorId.length <= LIMITS.userIdMaxLength, "a creator id");
  assert(isDayKey(day), "a day key");
  return `settlement:${creatorId}:${day}`;
}

/** Checks an operator's or deployer's settlement settings (N days, withholding rate) as values. */
export function checkSettlementConfig(
  settleAfterDays: number,
  withholdingBps: number,
): Result<{ settleAfterDays: number; withholdingBps: number }> {
  if (
    !Number.isInteger(settleAfterDays) ||
    settleAfterDays < LIMITS.settlementDaysMin ||
    settleAfterDays > LIMITS.settlementDaysMax
  ) {
    return fail(
      "malformed_request",
      `N is a whole number of days in ${LIMITS.settlementDaysMin}..${LIMITS.settlementDaysMax}.`,
    );
  }
  if (!Number.isInteger(withholdingBps) || withholdingBps < 0 || withholdingBps > LIMITS.bpsMax) {
    return fail("malformed_request", `The withholding rate is 0..${LIMITS.bpsMax} bps.`);
  }
  return ok({ settleAfterDays, withholdingBps });
}

/** When day D's earnings become available: the start of business day D+N. */
export function settlementDueAtMs(day: string, settleAfterDays: number, timeZone: string): number {
  assert(
    Number.isInteger(settleAfterDays) &&
      settleAfterDays >= LIMITS.settlementDaysMin &&
      settleAfterDays <= LIMITS.settlementDaysMax,
    "N is within the settlement bounds",
  );
  return dayStartMs(addDays(day, settleAfterDays), timeZone);
}

/** The business day that settles on `today` for T+N: today − N. */
export function dayToSettle(today: string, settleAfterDays: number): string {
  return addDays(today, -settleAfterDays);
}

const nonNegative = (n: number) => Number.isSafeInteger(n) && n >= 0 && n <= LIMITS.balanceAbsMaxMinor;

/**
 * A creator under risk hold is not settled: the day stays in pending, the run records it as
 * held (flagged for an operator) and settles it on a later run once the hold is lifted, with
 * the same key and the then-current receivable.
 */
export type SettlementOutcome =
  | { readonly kind: "settled"; readonly record: SettlementRecord }
  | { readonly kind: "held"; readonly key: string; readonly creatorId: string; readonly day: string };

export function settleOrHold(
  p: DayPostings,
  riskHold: boolean,
  settleAfterDays: number,
  timeZone: string,
): SettlementOutcome {
  if (riskHold) return { kind: "held", key: settlementKey(p.creatorId, p.day), creatorId: p.creatorId, day: p.day };
  return { kind: "settled", record: settleDay(p, settleAfterDays, timeZone) };
}

export function settleDay(p: DayPostings, settleAfterDays: number, timeZone: string): SettlementRecord {
  assert(
    [p.grossMinor, p.platformMinor, p.reversedMinor, p.receivableMinor].every(nonNegative),
    "amounts are non-negative integers",
  );
  assert(p.platformMinor <= p.grossMinor, "the platform share is part of the gross");
  const creatorPartMinor = p.grossMinor - p.platformMinor;
  assert(p.reversedMinor <= creatorPartMinor, "reversals before settlement are of this day's creator part");
  const settleableMinor = creatorPartMinor - p.reversedMinor;
  const withheld = withholdingMinor(settleableMinor, p.withholdingBps);
  const receivableOffsetMinor = Math.min(p.receivableMinor, settleableMinor - withheld);
  const netMinor = settleableMinor - withheld - receivableOffsetMinor;
  assert(netMinor >= 0, "available never goes negative");
  return {
    key: settlementKey(p.creatorId, p.day),
    creatorId: p.creatorId,
    day: p.day,
    dueAtMs: settlementDueAtMs(p.day, settleAfterDays, timeZone),
    grossMinor: p.grossMinor,
    platformMinor: p.platformMinor,
    creatorPartMinor,
    reversedMinor: p.reversedMinor,
    withholdingMinor: withheld,
    receivableOffsetMinor,
    netMinor,
    receivableAfterMinor: p.receivableMinor - receivableOffsetMinor,
  };
}
