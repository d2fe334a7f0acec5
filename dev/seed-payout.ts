import { bindPayoutAccount } from "../src/db/payout-accounts";
import { findPayoutAccount } from "../src/db/reads/payout-accounts";
import { reviewVerification, submitVerification } from "../src/db/verifications";
import { assert } from "../src/domain/limits";
import { validateSubmission } from "../src/domain/verification";

/** The demo creator's sandbox payout account (fixed, so the seed binds it once). */
export const DEMO_PAYOUT_ACCOUNT_ID = "pa_01DEMD00000000000000000000";

/**
 * Makes the demo creator ready to be paid, as a creator who signed up weeks ago would be:
 * verified (the GB 11643 sample ID number), with a sandbox payout account as the default whose
 * cooling period is over — so a demo withdrawal can go from request to paid at once.
 * Idempotent: a verified creator and a bound account are left as they are.
 */
export async function seedDemoPayoutReadiness(
  control: D1Database,
  piiKeys: string | undefined,
  creatorId: string,
  nowMs: number,
): Promise<void> {
  const identity = validateSubmission({ realName: "林", idType: "resident_id", idNumber: "11010519491231002X" });
  assert(identity.ok, "the demo identity is valid");
  const submitted = await submitVerification(control, piiKeys, creatorId, identity.value, nowMs);
  // A fresh submission, or one still pending from a run that stopped half-way, is approved;
  // an approved one is left alone.
  if (!("ok" in submitted && submitted.code === "already_verified")) {
    const reviewed = await reviewVerification(control, creatorId, "approve", {
      reviewerId: "system:demo-seed",
      reason: null,
      nowMs,
    });
    assert(!("ok" in reviewed), "the demo verification is approved");
  }

  if (!(await findPayoutAccount(control, DEMO_PAYOUT_ACCOUNT_ID))) {
    const bound = await bindPayoutAccount(control, piiKeys, {
      id: DEMO_PAYOUT_ACCOUNT_ID,
      creatorId,
      account: { channel: "sandbox", id: creatorId },
      makeDefault: true,
      nowMs,
    });
    assert(!("ok" in bound), "the demo payout account is bound");
    // Bound "long ago": its cooling is over.
    await control
      .prepare("UPDATE payout_accounts SET cooling_until_ms = ? WHERE id = ?")
      .bind(nowMs, DEMO_PAYOUT_ACCOUNT_ID)
      .run();
  }
}
