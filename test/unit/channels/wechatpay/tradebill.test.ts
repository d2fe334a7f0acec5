import { describe, expect, it } from "vitest";
import { parseStatement } from "../../../../src/channels/statement";
import { EMPTY_TRADE_BILL } from "../../../../src/channels/wechatpay/api";

describe("WeChat Pay's empty trade bill", () => {
  it("parses as a statement with no lines", () => {
    const parsed = parseStatement("wechatpay", EMPTY_TRADE_BILL);
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(parsed.lines).toEqual([]);
  });
});
