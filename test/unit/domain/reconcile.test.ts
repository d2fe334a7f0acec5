import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../../src/domain/limits";
import type { OrderState } from "../../../src/domain/order";
import {
  type Finding,
  type OurOrder,
  type OurRecord,
  type OurRefund,
  type PaymentLine,
  type RefundLine,
  reconcile,
  type StatementLine,
  statementOrderIds,
} from "../../../src/domain/reconcile";

const AT_MS = Date.UTC(2026, 10, 21, 4, 0, 0);

function order(orderId: string, o: Partial<OurOrder> = {}): OurOrder {
  return {
    kind: "order",
    orderId,
    state: "succeeded",
    amountMinor: 1880,
    currency: "CNY",
    providerTxnId: `txn_${orderId}`,
    refundedMinor: 0,
    inPeriod: true,
    ...o,
  };
}

function refund(refundNo: string, orderId: string, o: Partial<OurRefund> = {}): OurRefund {
  return {
    kind: "refund",
    refundNo,
    providerRefundId: `wxr_${refundNo}`,
    orderId,
    amountMinor: 500,
    state: "succeeded",
    inPeriod: true,
    ...o,
  };
}

function paid(orderId: string, line: number, o: Partial<PaymentLine> = {}): PaymentLine {
  return {
    kind: "payment",
    status: "succeeded",
    merchantOrderNo: orderId,
    providerTxnId: `txn_${orderId}`,
    providerRefundId: null,
    merchantRefundNo: null,
    amountMinor: 1880,
    currency: "CNY",
    occurredAtMs: AT_MS,
    line,
    ...o,
  };
}

function refunded(orderId: string, refundNo: string | null, line: number, o: Partial<RefundLine> = {}): RefundLine {
  return {
    kind: "refund",
    status: "refunded",
    merchantOrderNo: orderId,
    providerTxnId: `txn_${orderId}`,
    providerRefundId: refundNo === null ? null : `wxr_${refundNo}`,
    merchantRefundNo: refundNo,
    amountMinor: 500,
    currency: "CNY",
    occurredAtMs: AT_MS,
    line,
    ...o,
  };
}

const kinds = (findings: readonly Finding[]) => findings.map((f) => [f.kind, f.repair, f.orderId]);

/* ------------------------------------------------------------------------------------------ */
/* A world where both sides agree: generated from our records, as a well-behaved channel would. */

interface World {
  readonly ours: OurRecord[];
  readonly lines: StatementLine[];
  readonly openOrders: OurOrder[];
}

const paidOrderArb = fc.record({
  amountMinor: fc.integer({ min: 1, max: LIMITS.orderAmountMaxMinor }),
  refundParts: fc.array(fc.integer({ min: 1, max: LIMITS.orderAmountMaxMinor }), { maxLength: 3 }),
  // How each refund is identified: Stripe-like (provider id only), WeChat before our record
  // stored the provider id (matched by our refund number), or both.
  refundIds: fc.array(fc.constantFrom("provider", "merchant", "both"), { minLength: 3, maxLength: 3 }),
});
const openOrderArb = fc.record({
  amountMinor: fc.integer({ min: 1, max: LIMITS.orderAmountMaxMinor }),
  state: fc.constantFrom<OrderState>("created", "pending", "failed", "closed"),
});

type PaidSpec = typeof paidOrderArb extends fc.Arbitrary<infer T> ? T : never;
type OpenSpec = typeof openOrderArb extends fc.Arbitrary<infer T> ? T : never;

function build(paidOrders: readonly PaidSpec[], open: readonly OpenSpec[]) {
  const ours: OurRecord[] = [];
  const lines: Omit<StatementLine, "line">[] = [];
  paidOrders.forEach((p, i) => {
    const orderId = `order_${i}`;
    let refundedMinor = 0;
    const parts = p.refundParts.filter((part) => {
      if (refundedMinor + part > p.amountMinor) return false;
      refundedMinor += part;
      return true;
    });
    ours.push(
      order(orderId, {
        amountMinor: p.amountMinor,
        state: parts.length > 0 ? "refunded" : "succeeded",
        refundedMinor,
      }),
    );
    lines.push({ ...paid(orderId, 0), amountMinor: p.amountMinor });
    parts.forEach((amountMinor, j) => {
      const refundNo = `refund_${i}_${j}`;
      const ids = p.refundIds[j] ?? "both";
      ours.push(
        refund(refundNo, orderId, { amountMinor, providerRefundId: ids === "merchant" ? null : `wxr_${refundNo}` }),
      );
      lines.push({
        ...refunded(orderId, refundNo, 0, { amountMinor }),
        merchantRefundNo: ids === "provider" ? null : refundNo,
      });
    });
  });
  const openOrders = open.map((o, k) =>
    order(`open_${k}`, { amountMinor: o.amountMinor, state: o.state, providerTxnId: null }),
  );
  return { ours: [...ours, ...openOrders], lines, openOrders };
}

/** Agreeing worlds, with the statement's lines in a random file order. */
const worldArb: fc.Arbitrary<World> = fc
  .tuple(fc.array(paidOrderArb, { maxLength: 8 }), fc.array(openOrderArb, { maxLength: 4 }))
  .map(([p, o]) => build(p, o))
  .chain(({ ours, lines, openOrders }) =>
    fc.shuffledSubarray(lines, { minLength: lines.length, maxLength: lines.length }).map((shuffled) => ({
      ours,
      openOrders,
      lines: shuffled.map((l, k) => ({ ...l, line: k + 2 }) as StatementLine),
    })),
  );

describe("reconcile: properties", () => {
  it("a statement generated from our records reconciles with no findings", () => {
    fc.assert(
      fc.property(worldArb, ({ ours, lines }) => {
        const r = reconcile(lines, ours);
        expect(r.findings).toEqual([]);
        expect(r.counts.matchedPayments).toBe(r.counts.paymentLines);
        expect(r.counts.matchedRefunds).toBe(r.counts.refundLines);
      }),
    );
  });

  it("removing one line yields exactly one missing_theirs, for that line's order", () => {
    fc.assert(
      fc.property(worldArb, fc.nat(), ({ ours, lines }, pick) => {
        fc.pre(lines.length > 0);
        const removed = lines[pick % lines.length] as StatementLine;
        const r = reconcile(
          lines.filter((l) => l !== removed),
          ours,
        );
        expect(kinds(r.findings)).toEqual([["missing_theirs", "operator", removed.merchantOrderNo]]);
        expect(r.findings[0]?.subject).toBe(removed.kind);
        const refundNo =
          removed.kind === "refund" ? (removed.merchantRefundNo ?? removed.providerRefundId?.slice(4)) : null;
        expect(r.findings[0]?.refundNo).toBe(refundNo);
      }),
    );
  });

  it("adding one line the channel has and we do not yields exactly one missing_ours", () => {
    const extra = fc.oneof(
      fc.record({
        kind: fc.constant("stranger_payment" as const),
        amountMinor: fc.integer({ min: 1, max: 9_999_999 }),
      }),
      fc.record({ kind: fc.constant("stranger_refund" as const), amountMinor: fc.integer({ min: 1, max: 9_999_999 }) }),
      fc.record({ kind: fc.constant("open_order_paid" as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(worldArb, extra, ({ ours, lines, openOrders }, e) => {
        const line = lines.length + 2;
        let added: StatementLine;
        let expected: [string, string, string | null];
        if (e.kind === "open_order_paid") {
          fc.pre(openOrders.length > 0);
          const o = openOrders[e.pick % openOrders.length] as OurOrder;
          // The payment callback never arrived: the order waits (or was closed) while the channel was paid.
          added = paid(o.orderId, line, { amountMinor: o.amountMinor, providerTxnId: `txn_late_${o.orderId}` });
          expected = ["missing_ours", "query_channel", o.orderId];
        } else if (e.kind === "stranger_payment") {
          added = paid("not_ours", line, { amountMinor: e.amountMinor });
          expected = ["missing_ours", "operator", null];
        } else {
          added = refunded("not_ours", "refund_not_ours", line, { amountMinor: e.amountMinor });
          expected = ["missing_ours", "operator", null];
        }
        expect(kinds(reconcile([...lines, added], ours).findings)).toEqual([expected]);
      }),
    );
  });

  it("changing one amount yields exactly one amount_mismatch", () => {
    fc.assert(
      fc.property(
        worldArb,
        fc.nat(),
        fc.integer({ min: -1_000_000, max: 1_000_000 }),
        ({ ours, lines }, pick, delta) => {
          fc.pre(lines.length > 0 && delta !== 0);
          const target = lines[pick % lines.length] as StatementLine;
          fc.pre(target.amountMinor + delta > 0);
          const changed = lines.map((l) => (l === target ? { ...l, amountMinor: l.amountMinor + delta } : l));
          const r = reconcile(changed, ours);
          expect(kinds(r.findings)).toEqual([["amount_mismatch", "operator", target.merchantOrderNo]]);
          expect(r.findings[0]?.theirs?.amountMinor).toBe(target.amountMinor + delta);
          expect(r.findings[0]?.ours?.amountMinor).toBe(target.amountMinor);
        },
      ),
    );
  });

  it("a line listed twice is one duplicate_line and is not counted again", () => {
    fc.assert(
      fc.property(worldArb, fc.nat(), ({ ours, lines }, pick) => {
        fc.pre(lines.length > 0);
        const again = { ...(lines[pick % lines.length] as StatementLine), line: lines.length + 2 };
        const r = reconcile([...lines, again], ours);
        expect(kinds(r.findings)).toEqual([["duplicate_line", "operator", null]]);
        expect(r.findings[0]?.theirs?.line).toBe(again.line);
        expect(r.counts.paymentLines + r.counts.refundLines).toBe(lines.length);
      }),
    );
  });

  it("is deterministic: the order the lines and records arrive in does not change the findings", () => {
    fc.assert(
      fc.property(worldArb, fc.nat(), fc.nat(), ({ ours, lines }, drop, change) => {
        // Disagree somewhere, so there are findings to order.
        const mutated = lines
          .filter((_, k) => lines.length < 2 || k !== drop % lines.length)
          .map((l, k) => (k === change % Math.max(1, lines.length) ? { ...l, amountMinor: l.amountMinor + 1 } : l));
        const extra = [paid("not_ours", 9_000, { amountMinor: 1 }), refunded("not_ours_either", null, 9_001)];
        const statement = [...mutated, ...extra];
        const forward = reconcile(statement, ours);
        const backward = reconcile([...statement].reverse(), [...ours].reverse());
        expect(backward).toEqual(forward);
        expect(reconcile(statement, ours)).toEqual(forward);
      }),
    );
  });

  it("partial refunds sum: without refund records, refund lines adding up to the order's refunded total agree", () => {
    const arb = fc.array(
      fc.record({
        amountMinor: fc.integer({ min: 2, max: LIMITS.orderAmountMaxMinor }),
        parts: fc.integer({ min: 1, max: 4 }),
      }),
      { minLength: 1, maxLength: 6 },
    );
    fc.assert(
      fc.property(arb, fc.nat(), (specs, pick) => {
        const ours: OurRecord[] = [];
        const lines: StatementLine[] = [];
        for (const [i, s] of specs.entries()) {
          const orderId = `order_${i}`;
          // Split the whole amount into `parts` partial refunds (each at least 1 fen).
          const n = Math.min(s.parts, s.amountMinor);
          const each = Math.floor(s.amountMinor / n);
          const partsMinor = Array.from({ length: n }, (_, k) => (k === n - 1 ? s.amountMinor - each * (n - 1) : each));
          ours.push(order(orderId, { amountMinor: s.amountMinor, state: "refunded", refundedMinor: s.amountMinor }));
          lines.push(paid(orderId, lines.length + 2, { amountMinor: s.amountMinor }));
          for (const [k, amountMinor] of partsMinor.entries()) {
            lines.push(refunded(orderId, null, lines.length + 2, { amountMinor, providerRefundId: `wxr_${i}_${k}` }));
          }
        }
        expect(reconcile(lines, ours).findings).toEqual([]);
        // One more refund the channel made and we never did: money out that we cannot explain.
        const target = `order_${pick % specs.length}`;
        const extra = refunded(target, null, lines.length + 2, { amountMinor: 1, providerRefundId: "wxr_console" });
        expect(kinds(reconcile([...lines, extra], ours).findings)).toEqual([["status_mismatch", "operator", target]]);
      }),
    );
  });
});

/* ------------------------------------------------------------------------------------------ */

describe("reconcile: named scenarios", () => {
  it("finds a missing callback and a provider-side refund in one run", () => {
    const ours = [
      order("order_ok"),
      // The payment callback never arrived: we still wait.
      order("order_open", { state: "pending", providerTxnId: null }),
      // Someone refunded this in the merchant console: we credited it and never refunded.
      order("order_console", { amountMinor: 5000 }),
    ];
    const statement = [
      paid("order_ok", 2),
      paid("order_open", 3, { providerTxnId: "txn_open_late" }),
      paid("order_console", 4, { amountMinor: 5000 }),
      refunded("order_console", null, 5, {
        amountMinor: 5000,
        providerRefundId: "wxr_console",
        merchantRefundNo: null,
      }),
    ];
    const r = reconcile(statement, ours);
    expect(r.findings).toEqual([
      {
        kind: "status_mismatch",
        repair: "operator",
        subject: "refund",
        orderId: "order_console",
        merchantOrderNo: "order_console",
        providerTxnId: "txn_order_console",
        providerRefundId: "wxr_console",
        refundNo: null,
        theirs: { line: 5, amountMinor: 5000, currency: "CNY", status: "refunded" },
        ours: { amountMinor: 5000, currency: "CNY", state: "succeeded", refundedMinor: 0 },
        detail: "the channel refunded 5000 in 1 line(s); we refunded 0",
      },
      {
        kind: "missing_ours",
        repair: "query_channel",
        subject: "payment",
        orderId: "order_open",
        merchantOrderNo: "order_open",
        providerTxnId: "txn_open_late",
        providerRefundId: null,
        refundNo: null,
        theirs: { line: 3, amountMinor: 1880, currency: "CNY", status: "succeeded" },
        ours: { amountMinor: 1880, currency: "CNY", state: "pending", refundedMinor: null },
        detail: "the channel says paid; the order is pending",
      },
    ]);
    expect(r.counts).toEqual({
      paymentLines: 3,
      refundLines: 1,
      ourOrders: 3,
      ourRefunds: 0,
      matchedPayments: 3,
      matchedRefunds: 0,
      findings: { missing_ours: 1, missing_theirs: 0, amount_mismatch: 0, status_mismatch: 1, duplicate_line: 0 },
    });
  });

  it("asks the channel about closed and failed orders too (money that arrives late is still money)", () => {
    const ours = [order("a", { state: "closed" }), order("b", { state: "failed" }), order("c", { state: "created" })];
    const r = reconcile([paid("a", 2), paid("b", 3), paid("c", 4)], ours);
    expect(kinds(r.findings)).toEqual([
      ["missing_ours", "query_channel", "a"],
      ["missing_ours", "query_channel", "b"],
      ["missing_ours", "query_channel", "c"],
    ]);
  });

  it("leaves amount mismatches to an operator even when the order is open", () => {
    const r = reconcile([paid("a", 2, { amountMinor: 1881 })], [order("a", { state: "pending" })]);
    expect(kinds(r.findings)).toEqual([["amount_mismatch", "operator", "a"]]);
    expect(kinds(reconcile([paid("a", 2, { currency: "USD" })], [order("a")]).findings)).toEqual([
      ["amount_mismatch", "operator", "a"],
    ]);
  });

  it("reports a second payment on an order as money to return, and judges a reversed payment", () => {
    const second = reconcile([paid("a", 2), paid("a", 3, { providerTxnId: "txn_again" })], [order("a")]);
    expect(kinds(second.findings)).toEqual([["missing_ours", "operator", "a"]]);
    expect(second.findings[0]?.providerTxnId).toBe("txn_again");

    const reversed = reconcile([paid("a", 2), paid("a", 3, { status: "reversed" })], [order("a")]);
    expect(kinds(reversed.findings)).toEqual([["status_mismatch", "operator", "a"]]);
    expect(reconcile([paid("a", 2, { status: "reversed" })], [order("a", { state: "closed" })]).findings).toEqual([]);
  });

  it("does not expect orders loaded only because the statement names them", () => {
    expect(reconcile([], [order("a", { inPeriod: false }), order("b", { state: "pending" })]).findings).toEqual([]);
    expect(kinds(reconcile([], [order("a")]).findings)).toEqual([["missing_theirs", "operator", "a"]]);
  });

  it("pairs refunds without ids by order and amount, each partial refund with one line", () => {
    const ours = [
      order("a", { amountMinor: 1500, state: "refunded", refundedMinor: 1000 }),
      refund("r1", "a", { providerRefundId: null }),
      refund("r2", "a", { providerRefundId: null }),
    ];
    const statement = [paid("a", 2, { amountMinor: 1500 }), refunded("a", null, 3), refunded("a", null, 4)];
    expect(reconcile(statement, ours).findings).toEqual([]);
    // A third equal partial refund with no record: one line too many.
    const more = reconcile([...statement, refunded("a", null, 5)], ours);
    expect(kinds(more.findings)).toEqual([["status_mismatch", "operator", "a"]]);
    expect(more.findings[0]?.theirs?.line).toBe(5);
  });

  it("does not pair refunds whose ids disagree", () => {
    const ours = [order("a", { state: "refunded", refundedMinor: 500 }), refund("r1", "a")];
    const r = reconcile([paid("a", 2), refunded("a", null, 3, { providerRefundId: "wxr_other" })], ours);
    // Findings about the same order sort by statement line; ours-only findings come last.
    expect(kinds(r.findings)).toEqual([
      ["status_mismatch", "operator", "a"],
      ["missing_theirs", "operator", "a"],
    ]);
  });

  it("reads a refund line as a snapshot: accepted is consistent with either outcome", () => {
    const check = (line: RefundLine["status"], ours: OurRefund["state"]) =>
      kinds(
        reconcile(
          [paid("a", 2), refunded("a", "r1", 3, { status: line })],
          [order("a", { state: "refunded", refundedMinor: 500 }), refund("r1", "a", { state: ours })],
        ).findings,
      );
    expect(check("pending", "succeeded")).toEqual([]);
    expect(check("pending", "failed")).toEqual([]);
    expect(check("refunded", "pending")).toEqual([["status_mismatch", "query_channel", "a"]]);
    expect(check("refunded", "requested")).toEqual([["status_mismatch", "query_channel", "a"]]);
    expect(check("refunded", "failed")).toEqual([["status_mismatch", "operator", "a"]]);
    expect(check("failed", "succeeded")).toEqual([["status_mismatch", "operator", "a"]]);
  });

  it("lists the orders a statement names, once each, in a stable order", () => {
    expect(statementOrderIds([paid("b", 2), refunded("a", null, 3), paid("b", 4, { providerTxnId: "x" })])).toEqual([
      "a",
      "b",
    ]);
  });

  it("treats inconsistent input as a bug", () => {
    expect(() => reconcile([paid("a", 2), paid("b", 2)], [])).toThrow("statement line numbers are unique");
    expect(() => reconcile([], [order("a"), order("a")])).toThrow("each order is given once");
    expect(() => reconcile([paid("a", 2, { amountMinor: 0 })], [])).toThrow("statement amounts are positive integers");
  });
});
