import type { Logger } from "../../platform/logger";

/** An operator's decision that changed a creator's verification (never a repeated no-op). */
export interface VerificationReviewed {
  readonly creatorId: string;
  readonly outcome: "verified" | "rejected";
  readonly reason: string | null;
  readonly reviewerId: string;
  readonly reviewedAtMs: number;
}

/**
 * THE hook point for "your verification was approved / rejected": called exactly once per
 * decision, from the review route (routes/verification-review.ts), after the decision is
 * stored. It writes the audit line; the creator's inbox notification (issue 14, part 8) is to
 * be sent from here, through the inbox's queue, so that the review itself never waits on or
 * fails with the inbox.
 */
export async function onVerificationReviewed(_env: Env, log: Logger, event: VerificationReviewed): Promise<void> {
  log.info("verification_reviewed", { ...event });
}
