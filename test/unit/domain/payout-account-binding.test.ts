import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../../src/domain/limits";
import { coolingUntilMs, isCooling, maskedText, payoutChannelOf } from "../../../src/domain/payout-account-binding";

describe("binding a payout account", () => {
  it("names channels as the payment channels do", () => {
    expect(payoutChannelOf({ channel: "wechat", openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" })).toBe("wechatpay");
    expect(payoutChannelOf({ channel: "alipay", identity: "user_id", id: "2088102146225135", name: null })).toBe(
      "alipay",
    );
    expect(payoutChannelOf({ channel: "stripe", accountId: "acct_1Nv0FGQ9RKHgCVdK" })).toBe("stripe");
    expect(payoutChannelOf({ channel: "sandbox", id: "creator-1" })).toBe("sandbox");
  });

  it("stores masked text with the payee name's mask when there is one", () => {
    expect(maskedText({ channel: "alipay", identity: "logon_id", id: "13812345678", name: "张三" })).toBe(
      "138****5678 · *三",
    );
    expect(maskedText({ channel: "wechat", openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" })).toBe("oUpF****eS6o");
    expect(maskedText({ channel: "stripe", accountId: "acct_1Nv0FGQ9RKHgCVdK" })).toBe("acct_1Nv0****CVdK");
  });

  it("cools an account for the named period from now, never shortening a longer one", () => {
    fc.assert(
      fc.property(fc.nat(2 ** 45), fc.nat(2 ** 46), (nowMs, previous) => {
        const until = coolingUntilMs(nowMs, previous);
        expect(until).toBe(Math.max(previous, nowMs + LIMITS.payoutAccountCoolingMs));
        expect(isCooling(until, nowMs)).toBe(true);
        expect(isCooling(until, until)).toBe(false);
      }),
    );
    expect(LIMITS.payoutAccountCoolingMs).toBe(72 * 3_600_000);
  });
});
