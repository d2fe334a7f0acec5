import { describe, expect, it } from "vitest";
import { metricsFor, metricsOf } from "../../../src/platform/metrics";

describe("metrics", () => {
  it("write one Analytics Engine point per count: the event as index and first blob, a count and a measure", () => {
    const points: unknown[] = [];
    const metrics = metricsFor({ AE_EVENTS: { writeDataPoint: (p) => points.push(p) } });
    metrics.count("payment_callback", "wechatpay", "credited");
    metrics.count("check_run", "ledger", "findings", 3);
    expect(points).toEqual([
      { indexes: ["payment_callback"], blobs: ["payment_callback", "wechatpay", "credited"], doubles: [1, 0] },
      { indexes: ["check_run"], blobs: ["check_run", "ledger", "findings"], doubles: [1, 3] },
    ]);
  });

  it("are a no-op without a binding, and never throw into the path that counts", () => {
    expect(() => metricsFor({}).count("payout_result", "alipay", "paid")).not.toThrow();
    const failing = metricsOf({
      writeDataPoint: () => {
        throw new Error("too many points");
      },
    });
    expect(() => failing.count("payout_result", "alipay", "paid")).not.toThrow();
  });
});
