import { type ErrorCode, type Failure, fail, ok, type Result } from "./errors";
import { checkIdNumber, type IdNumberProblem, type IdType, maskIdNumber } from "./id-number";
import { LIMITS } from "./limits";
import { maskName } from "./payout-account";

/**
 * A creator's identity verification (实名认证):
 *
 *   unverified ──submit──▶ pending_review ──approve──▶ verified
 *        ▲                     │
 *        └── (rejected) ◀──reject(reason)
 *
 * `unverified` is the absence of a row. A rejected creator may submit again (back to
 * pending_review); a pending or verified one may not. An operator's approve or reject applies
 * only to a pending submission; repeating the same decision is a no-op (a double click, a retry),
 * the opposite decision after one was made is refused. The SQL that applies a transition is
 * guarded with `fromStates`, so two operators racing cannot both win.
 */
export const VERIFICATION_STATES = ["unverified", "pending_review", "verified", "rejected"] as const;
export type VerificationState = (typeof VERIFICATION_STATES)[number];
/** The states a stored row can be in (control `creator_verifications.state`). */
export type StoredVerificationState = Exclude<VerificationState, "unverified">;

export type ReviewAction = "approve" | "reject";

/** The states a creator may submit from. */
export const SUBMITTABLE_FROM: readonly VerificationState[] = ["unverified", "rejected"];

/** The state each review action requires, and where it leads. */
export const REVIEW_TRANSITIONS = {
  approve: { from: "pending_review", to: "verified" },
  reject: { from: "pending_review", to: "rejected" },
} as const satisfies Record<ReviewAction, { from: StoredVerificationState; to: StoredVerificationState }>;

/** Whether a creator in `state` may submit (again), and if not, the code that says why. */
export function checkSubmission(
  state: VerificationState,
): Result<"pending_review", "verification_pending" | "already_verified"> {
  if (state === "pending_review") return fail("verification_pending");
  if (state === "verified") return fail("already_verified");
  return ok("pending_review");
}

export type ReviewOutcome =
  | { readonly kind: "transition"; readonly to: StoredVerificationState }
  | { readonly kind: "no_op"; readonly state: StoredVerificationState };

/** What `action` does to a verification in `state`. */
export function reviewOutcome(
  state: VerificationState,
  action: ReviewAction,
): Result<ReviewOutcome, "verification_not_found" | "verification_not_pending"> {
  if (state === "unverified") return fail("verification_not_found");
  const t = REVIEW_TRANSITIONS[action];
  if (state === t.from) return ok({ kind: "transition", to: t.to });
  if (state === t.to) return ok({ kind: "no_op", state });
  return fail("verification_not_pending");
}

/** A submission as the creator typed it. */
export interface VerificationInput {
  readonly realName: string;
  readonly idType: IdType;
  readonly idNumber: string;
}

/** A submission checked and normalised: what gets sealed, and what shows. */
export interface VerificationSubmission {
  readonly identity: { readonly realName: string; readonly idType: IdType; readonly idNumber: string };
  readonly realNameMasked: string;
  readonly idNumberMasked: string;
}

export type VerificationProblem = "real_name_invalid" | IdNumberProblem;

export type SubmissionCheck =
  | { readonly ok: true; readonly value: VerificationSubmission }
  | (Failure<ErrorCode> & { readonly problem: VerificationProblem });

/** A real name: 1..payeeNameMaxLength characters (code points) after trimming, no control characters. */
export function checkRealName(name: string): string | null {
  const trimmed = name.trim().normalize("NFC");
  const chars = [...trimmed];
  if (chars.length === 0 || chars.length > LIMITS.payeeNameMaxLength || /\p{Cc}/u.test(trimmed)) return null;
  return trimmed;
}

export function validateSubmission(input: VerificationInput): SubmissionCheck {
  const realName = checkRealName(input.realName);
  if (realName === null) return { ...fail("real_name_invalid"), problem: "real_name_invalid" };
  const id = checkIdNumber(input.idType, input.idNumber);
  if (!id.ok) return { ...fail("id_number_invalid"), problem: id.problem };
  return {
    ok: true,
    value: {
      identity: { realName, idType: input.idType, idNumber: id.value },
      realNameMasked: maskName(realName),
      idNumberMasked: maskIdNumber(id.value),
    },
  };
}

/** Reject reasons operators give: shown to the creator, so bounded. */
export const REJECT_REASON_MAX_LENGTH = 200;
