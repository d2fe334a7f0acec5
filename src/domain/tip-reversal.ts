import { assert } from "./limits";
import { withholdingMinor } from "./withholding";

/**
 * Where a reversed tip's creator part comes back from (the viewer is refunded the gross; the
 * platform returns its share from `platform:revenue`):
 *
 * - the tip's business day not yet settled: the creator part leaves `creator:{id}:pending`
 *   now, and that day's settlement shows it under reversals;
 * - already settled: nothing is taken from available (it may have been withdrawn); the creator
 *   owes a receivable that the next settlements offset before anything reaches available.
 *   The receivable is what the creator actually received for the tip: the creator part less
 *   the withholding on it at the settlement's rate (rounded down, as withheld). Reclaiming the
 *   tax already remitted is finance's business, not the creator's debt.
 */
export type ReversalRoute =
  | { readonly from: "pending"; readonly pendingMinor: number; readonly receivableMinor: 0 }
  | { readonly from: "receivable"; readonly pendingMinor: 0; readonly receivableMinor: number };

export function reversalRoute(creatorPartMinor: number, daySettled: boolean, withholdingBps: number): ReversalRoute {
  assert(Number.isSafeInteger(creatorPartMinor) && creatorPartMinor >= 0, "a creator part");
  if (!daySettled) return { from: "pending", pendingMinor: creatorPartMinor, receivableMinor: 0 };
  return {
    from: "receivable",
    pendingMinor: 0,
    receivableMinor: creatorPartMinor - withholdingMinor(creatorPartMinor, withholdingBps),
  };
}
