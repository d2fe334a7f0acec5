import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  maskId,
  maskName,
  maskPayoutAccount,
  type PayoutAccount,
  validatePayoutAccount,
} from "../../../src/domain/payout-account";

const problemOf = (a: PayoutAccount) => {
  const r = validatePayoutAccount(a);
  return r.ok ? "ok" : [r.code, r.problem];
};

describe("payout accounts", () => {
  it("validates each channel's identifier", () => {
    expect(problemOf({ channel: "wechat", openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" })).toBe("ok");
    expect(problemOf({ channel: "wechat", openid: "short" })).toEqual(["malformed_request", "openid_invalid"]);
    expect(problemOf({ channel: "alipay", identity: "user_id", id: "2088102146225135", name: null })).toBe("ok");
    expect(problemOf({ channel: "alipay", identity: "user_id", id: "2088123", name: null })).toEqual([
      "malformed_request",
      "alipay_user_id_invalid",
    ]);
    expect(problemOf({ channel: "alipay", identity: "logon_id", id: "13812345678", name: null })).toEqual([
      "malformed_request",
      "payee_name_required",
    ]);
    expect(problemOf({ channel: "alipay", identity: "logon_id", id: "13812345678", name: "张三" })).toBe("ok");
    expect(problemOf({ channel: "alipay", identity: "logon_id", id: "not an id", name: "张三" })).toEqual([
      "malformed_request",
      "alipay_logon_id_invalid",
    ]);
    expect(problemOf({ channel: "alipay", identity: "logon_id", id: "a@b.cn", name: "  " })).toEqual([
      "malformed_request",
      "payee_name_invalid",
    ]);
    expect(problemOf({ channel: "stripe", accountId: "acct_1Nv0FGQ9RKHgCVdK" })).toBe("ok");
    expect(problemOf({ channel: "stripe", accountId: "cus_1Nv0FGQ9RKHgCVdK" })).toEqual([
      "malformed_request",
      "stripe_account_invalid",
    ]);
    expect(problemOf({ channel: "sandbox", id: "demo-creator" })).toBe("ok");
    expect(problemOf({ channel: "sandbox", id: "" })).toEqual(["malformed_request", "sandbox_id_invalid"]);
  });

  it.each([
    [{ channel: "wechat", openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" }, "oUpF****eS6o", null],
    [{ channel: "alipay", identity: "user_id", id: "2088102146225135", name: null }, "2088****5135", null],
    [{ channel: "alipay", identity: "logon_id", id: "13812345678", name: "张三丰" }, "138****5678", "**丰"],
    [{ channel: "alipay", identity: "logon_id", id: "alice@example.com", name: "王" }, "a***@example.com", "*"],
    [{ channel: "stripe", accountId: "acct_1Nv0FGQ9RKHgCVdK" }, "acct_1Nv0****CVdK", null],
    [{ channel: "sandbox", id: "demo" }, "****", null],
  ] as const)("masks %j", (account, display, name) => {
    expect(maskPayoutAccount(account as PayoutAccount)).toEqual({ channel: account.channel, display, name });
  });

  it("an opaque id never shows more than half of itself, and always hides something", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 128, unit: fc.constantFrom(..."abcXYZ0189_-") }), (id) => {
        const masked = maskId(id);
        const shown = masked.replaceAll("*", "").length;
        expect(shown * 2).toBeLessThanOrEqual(id.length);
        expect(masked).toContain("****");
        expect(masked).not.toBe(id);
        expect(maskId(id)).toBe(masked);
      }),
    );
  });

  it("a name shows at most its last character", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 50 }), (name) => {
        const masked = maskName(name);
        expect(masked.replaceAll("*", "").length).toBeLessThanOrEqual(2); // one code point (maybe a surrogate pair)
        expect(masked.startsWith("*")).toBe(true);
      }),
    );
  });
});
