import { describe, expect, it } from "vitest";
import { type OurWithdrawal, type PayoutLine, reconcilePayouts } from "../../../src/domain/reconcile-payouts";

const at = Date.UTC(2026, 10, 21, 2, 0, 0);
const line = (n: number, o: Partial<PayoutLine>): PayoutLine => ({
  kind: "payout",
  withdrawalId: null,
  providerRef: null,
  amountMinor: 9_800,
  currency: "USD",
  status: "paid",
  occurredAtMs: at,
  line: n,
  ...o,
});
const ours = (id: string, o: Partial<OurWithdrawal> = {}): OurWithdrawal => ({
  withdrawalId: id,
  state: "paid",
  payoutMinor: 9_800,
  currency: "USD",
  providerRef: `tr_${id}`,
  inPeriod: true,
  ...o,
});
const kinds = (r: ReturnType<typeof reconcilePayouts>) =>
  r.findings.map((f) => [f.kind, f.orderId ?? f.providerTxnId, f.theirs?.line ?? null]);

describe("payout reconciliation", () => {
  it("a paid withdrawal matched by its number or its transfer id, for amount less fee, is clean", () => {
    const r = reconcilePayouts(
      [line(2, { providerRef: "tr_w1" }), line(3, { withdrawalId: "w2", providerRef: "1330001" })],
      [ours("w1"), ours("w2", { providerRef: "1330001" })],
    );
    expect(r.findings).toEqual([]);
    expect(r.counts).toEqual({ payoutLines: 2, ourWithdrawals: 2, matchedPayouts: 2 });
  });

  it("reports each side's missing payouts, amount mismatches and disagreeing states, each for an operator", () => {
    const r = reconcilePayouts(
      [
        line(2, { providerRef: "tr_w1", amountMinor: 9_900 }), // amount mismatch
        line(3, { providerRef: "tr_unknown" }), // no withdrawal of ours
        line(4, { providerRef: "tr_w4" }), // still paying here
        line(5, { providerRef: "tr_w5" }), // failed here: the money went back to the creator
        line(6, { providerRef: "tr_w6", currency: "EUR" }), // currency mismatch
      ],
      [
        ours("w1"),
        ours("w3"), // paid here, not on the statement
        ours("w4", { state: "paying" }),
        ours("w5", { state: "failed" }),
        ours("w6"),
        ours("w7", { inPeriod: false }), // paid another day: not expected on this statement
        ours("w8", { state: "paying", inPeriod: false }),
      ],
    );
    expect(kinds(r)).toEqual([
      ["missing_ours", "tr_unknown", 3],
      ["amount_mismatch", "w1", 2],
      ["missing_theirs", "w3", null],
      ["status_mismatch", "w4", 4],
      ["status_mismatch", "w5", 5],
      ["amount_mismatch", "w6", 6],
    ]);
    expect(r.findings.every((f) => f.repair === "operator" && f.subject === "payout")).toBe(true);
    expect(r.findings[1]).toMatchObject({
      theirs: { amountMinor: 9_900, currency: "USD", status: "paid", line: 2 },
      ours: { amountMinor: 9_800, currency: "USD", state: "paid" },
    });
    expect(r.counts.matchedPayouts).toBe(4);
  });

  it("a repeated line is a duplicate counted once; a transfer listed paid then reversed is judged reversed", () => {
    const r = reconcilePayouts(
      [
        line(2, { providerRef: "tr_w1" }),
        line(3, { providerRef: "tr_w1" }),
        line(4, { providerRef: "tr_w2" }),
        line(5, { providerRef: "tr_w2", status: "reversed" }),
        line(6, { providerRef: "tr_w3", status: "reversed" }),
      ],
      [ours("w1"), ours("w2"), ours("w3", { state: "failed" })],
    );
    expect(kinds(r)).toEqual([
      ["duplicate_line", "tr_w1", 3],
      // Reversed at the channel, paid here: an operator decides (the creator has the money or not).
      ["status_mismatch", "w2", 5],
      // And being reversed, it is no paid line for w2: the statement shows no payout for it.
      ["missing_theirs", "w2", null],
    ]);
    expect(r.counts).toEqual({ payoutLines: 3, ourWithdrawals: 3, matchedPayouts: 3 });
  });

  it("gives the same findings whatever order the lines and withdrawals come in", () => {
    const statement = [line(4, { providerRef: "tr_w1", amountMinor: 1 }), line(2, { providerRef: "tr_x" })];
    const records = [ours("w2"), ours("w1")];
    expect(reconcilePayouts(statement, records)).toEqual(
      reconcilePayouts([...statement].reverse(), [...records].reverse()),
    );
  });
});
