import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkRealName,
  checkSubmission,
  type ReviewAction,
  reviewOutcome,
  VERIFICATION_STATES,
  type VerificationState,
  validateSubmission,
} from "../../../src/domain/verification";

const code = (r: { ok: boolean; code?: string; value?: unknown }) => (r.ok ? r.value : r.code);

describe("the verification state machine", () => {
  it("lets a creator submit when unverified or rejected, and says why not otherwise", () => {
    expect(VERIFICATION_STATES.map((s) => [s, code(checkSubmission(s))])).toEqual([
      ["unverified", "pending_review"],
      ["pending_review", "verification_pending"],
      ["verified", "already_verified"],
      ["rejected", "pending_review"],
    ]);
  });

  it("applies a review only to a pending verification; the same decision again is a no-op", () => {
    const table = VERIFICATION_STATES.flatMap((s) =>
      (["approve", "reject"] as const).map((a) => [s, a, code(reviewOutcome(s, a))]),
    );
    expect(table).toEqual([
      ["unverified", "approve", "verification_not_found"],
      ["unverified", "reject", "verification_not_found"],
      ["pending_review", "approve", { kind: "transition", to: "verified" }],
      ["pending_review", "reject", { kind: "transition", to: "rejected" }],
      ["verified", "approve", { kind: "no_op", state: "verified" }],
      ["verified", "reject", "verification_not_pending"],
      ["rejected", "approve", "verification_not_pending"],
      ["rejected", "reject", { kind: "no_op", state: "rejected" }],
    ]);
  });

  it("over any sequence of submissions and reviews, reaches verified only by approving a pending one, and never leaves it", () => {
    const command = fc.constantFrom<"submit" | ReviewAction>("submit", "approve", "reject");
    fc.assert(
      fc.property(fc.array(command, { maxLength: 40 }), (commands) => {
        let state: VerificationState = "unverified";
        for (const cmd of commands) {
          const before: VerificationState = state;
          if (cmd === "submit") {
            const r = checkSubmission(state);
            if (r.ok) state = r.value;
          } else {
            const r = reviewOutcome(state, cmd);
            if (r.ok && r.value.kind === "transition") state = r.value.to;
            if (r.ok && r.value.kind === "no_op") expect(r.value.state).toBe(before);
          }
          if (state === "verified")
            expect(before === "verified" || (before === "pending_review" && cmd === "approve")).toBe(true);
          if (before === "verified") expect(state).toBe("verified");
          if (before === "pending_review" && cmd === "submit") expect(state).toBe("pending_review");
        }
      }),
    );
  });
});

describe("a submission", () => {
  it("is normalised and masked", () => {
    expect(validateSubmission({ realName: " 张三丰 ", idType: "resident_id", idNumber: "11010519491231002x" })).toEqual(
      {
        ok: true,
        value: {
          identity: { realName: "张三丰", idType: "resident_id", idNumber: "11010519491231002X" },
          realNameMasked: "**丰",
          idNumberMasked: "**************002X",
        },
      },
    );
  });

  it("refuses a bad name or number with its own code and the rule it broke", () => {
    const bad = (realName: string, idNumber: string) => {
      const r = validateSubmission({ realName, idType: "resident_id", idNumber });
      return r.ok ? "ok" : [r.code, r.problem];
    };
    expect(bad("   ", "11010519491231002X")).toEqual(["real_name_invalid", "real_name_invalid"]);
    expect(bad("张\u0000三", "11010519491231002X")).toEqual(["real_name_invalid", "real_name_invalid"]);
    expect(bad("张三", "110105194912310021")).toEqual(["id_number_invalid", "resident_id_check_digit"]);
  });

  it("takes names of 1 to 50 characters, counted in code points", () => {
    expect(checkRealName("王")).toBe("王");
    expect(checkRealName("𠀀".repeat(50))).toBe("𠀀".repeat(50));
    expect(checkRealName("𠀀".repeat(51))).toBeNull();
    fc.assert(
      fc.property(fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 80 }), (name) => {
        const checked = checkRealName(name);
        const length = [...name.trim()].length;
        expect(checked !== null).toBe(length >= 1 && length <= 50 && !/\p{Cc}/u.test(name.trim()));
      }),
    );
  });
});
