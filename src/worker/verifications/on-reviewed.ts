import type { Logger } from "../../platform/logger";
import { noticeVerificationResult } from "../notifications/notice";

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
 * stored. It writes the audit line and sends the creator's inbox notice through the inbox's
 * queue (notifications/notice.ts), which never throws: the review never waits on or fails with
 * the inbox.
 */
export async function onVerificationReviewed(env: Env, log: Logger, event: VerificationReviewed): Promise<void> {
  log.info("verification_reviewed", { ...event });
  await noticeVerificationResult(
    env,
    event.creatorId,
    { result: event.outcome, reason: event.reason },
    event.reviewedAtMs,
    log,
  );
}
