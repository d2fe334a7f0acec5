import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatSandboxStatement } from "../../../../src/channels/sandbox/statement";
import { parseStatement } from "../../../../src/channels/statement";
import { LIMITS } from "../../../../src/domain/limits";
import { lines, refusal } from "../../../support/statements";

describe("sandbox statement", () => {
  const id = fc
    .string({ minLength: 1, maxLength: 24, unit: "grapheme" })
    .filter((s) => s.length <= LIMITS.statementIdMaxLength);
  const base = {
    merchantOrderNo: fc.option(id, { nil: null }),
    providerTxnId: fc.option(id, { nil: null }),
    amountMinor: fc.integer({ min: 1, max: LIMITS.amountMaxMinor }),
    currency: fc.constant("CNY"),
    occurredAtMs: fc.integer({ min: 0, max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }),
  };
  const line = fc.oneof(
    fc.record({
      ...base,
      kind: fc.constant("payment" as const),
      status: fc.constantFrom("succeeded" as const, "reversed" as const),
      providerRefundId: fc.constant(null),
      merchantRefundNo: fc.constant(null),
    }),
    fc.record({
      ...base,
      kind: fc.constant("refund" as const),
      status: fc.constantFrom("refunded" as const, "pending" as const, "failed" as const),
      providerRefundId: fc.option(id, { nil: null }),
      merchantRefundNo: fc.constant(null),
    }),
  );

  it("round-trips: parsing what the sandbox formats gives back the same lines", () => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 30 }), (generated) => {
        // Ids may hold commas, quotes and line breaks; line numbers follow the physical lines.
        const text = formatSandboxStatement(generated.map((l) => ({ ...l, line: 0 })));
        const parsed = lines(parseStatement("sandbox", text));
        let at = 2;
        const expected = generated.map((l) => {
          const numbered = { ...l, line: at };
          at +=
            1 +
            [l.merchantOrderNo, l.providerTxnId, l.providerRefundId].reduce(
              (n, v) => n + (v?.split(/\r\n|\r|\n/).length ?? 1) - 1,
              0,
            );
          return numbered;
        });
        expect(parsed).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it("writes the documented layout", () => {
    const text = formatSandboxStatement([
      {
        kind: "payment",
        status: "succeeded",
        merchantOrderNo: "order_41",
        providerTxnId: "sbx_txn_1",
        providerRefundId: null,
        merchantRefundNo: null,
        amountMinor: 1880,
        currency: "CNY",
        occurredAtMs: Date.UTC(2026, 10, 21, 2, 0, 0),
        line: 0,
      },
      {
        kind: "refund",
        status: "refunded",
        merchantOrderNo: "order_41",
        providerTxnId: "sbx_txn_1",
        providerRefundId: "sbx_rfd_1",
        merchantRefundNo: null,
        amountMinor: 1,
        currency: "CNY",
        occurredAtMs: Date.UTC(2026, 10, 21, 3, 0, 0),
        line: 0,
      },
    ]);
    expect(text).toBe(
      [
        "occurred_at,type,order_no,txn_id,refund_id,amount,currency,status",
        "2026-11-21T02:00:00.000Z,payment,order_41,sbx_txn_1,,18.80,CNY,succeeded",
        "2026-11-21T03:00:00.000Z,refund,order_41,sbx_txn_1,sbx_rfd_1,0.01,CNY,refunded",
        "# total_count=2,total_amount=18.81",
        "",
      ].join("\n"),
    );
  });

  const sample = [
    "occurred_at,type,order_no,txn_id,refund_id,amount,currency,status",
    "2026-11-21T02:00:00.000Z,payment,order_41,sbx_txn_1,,18.80,CNY,succeeded",
    "2026-11-21T03:00:00.000Z,payment,order_42,sbx_txn_2,,50000.00,CNY,succeeded",
  ];

  it("refuses a file without its trailer or with a wrong one", () => {
    expect(refusal(parseStatement("sandbox", sample.join("\n")))).toEqual({
      line: 4,
      detail: "no trailer # total_count=…: the file is truncated",
    });
    const wrong = [...sample, "# total_count=2,total_amount=50018.81"].join("\n");
    expect(refusal(parseStatement("sandbox", wrong))).toEqual({
      line: 4,
      detail: "total_amount says 5001881, the lines add up to 5001880: the file is truncated or altered",
    });
    expect(
      lines(parseStatement("sandbox", [...sample, "# total_count=2,total_amount=50018.80"].join("\r\n"))),
    ).toHaveLength(2);
  });

  it("refuses an impossible date instead of rolling it over", () => {
    const bad = [
      sample[0],
      "2026-02-30T02:00:00.000Z,payment,order_41,sbx_txn_1,,18.80,CNY,succeeded",
      "# total_count=1,total_amount=18.80",
    ];
    expect(refusal(parseStatement("sandbox", bad.join("\n"))).line).toBe(2);
  });
});
