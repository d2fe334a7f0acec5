/**
 * Payout lines through the whole reconciliation run: a Stripe balance report with Connect
 * transfers, posted to /v1/admin/reconciliations, matched against withdrawals in the creators'
 * ledger shards. The withdrawals are written as rows (the state the withdrawal operations
 * leave them in), so this tests the matching and the reads, not how withdrawals get paid.
 */
import { describe, expect, it } from "vitest";
import { call, ledger, operatorToken } from "./helpers";

const HEADER =
  "balance_transaction_id,created_utc,created,available_on_utc,currency,gross,fee,net,reporting_category,source_id,description,customer_facing_amount,customer_facing_currency,charge_id,payment_intent_id,payment_metadata[order_no]";
/** 2026-11-21 in Asia/Shanghai begins at 2026-11-20 16:00 UTC. */
const DATE = "2026-11-21";
const PAID_AT = Date.UTC(2026, 10, 21, 2, 0, 0);

interface Withdrawal {
  id: string;
  creatorId: string;
  amountMinor: number;
  feeMinor: number;
  state: "paying" | "paid" | "failed";
  providerRef: string;
  paidAtMs?: number;
}

async function insert(w: Withdrawal): Promise<void> {
  const db = (await ledger()).forOwner(w.creatorId).db;
  const createdMs = PAID_AT - 3_600_000;
  const transitions: [string | null, string, number][] = [
    [null, "requested", createdMs],
    ["requested", "approved", createdMs + 1],
    ["approved", "paying", createdMs + 2],
  ];
  if (w.state !== "paying") transitions.push(["paying", w.state, w.paidAtMs ?? PAID_AT]);
  await db.batch([
    db
      .prepare(
        `INSERT INTO withdrawals (id, creator_id, amount_minor, fee_minor, currency, channel, payout_account_id,
           destination_masked, state, review, provider_ref, idempotency_key, transition_count, created_at_ms, updated_at_ms)
         VALUES (?, ?, ?, ?, 'USD', 'stripe', 'pa_test', 'acct_…Test', ?, 'auto', ?, ?, ?, ?, ?)`,
      )
      .bind(
        w.id,
        w.creatorId,
        w.amountMinor,
        w.feeMinor,
        w.state,
        w.providerRef,
        `key-${w.id}`,
        transitions.length,
        createdMs,
        PAID_AT,
      ),
    ...transitions.map(([from, to, atMs], seq) =>
      db
        .prepare(
          "INSERT INTO withdrawal_transitions (withdrawal_id, seq, from_state, to_state, cause, at_ms) VALUES (?, ?, ?, ?, 'test', ?)",
        )
        .bind(w.id, seq + 1, from, to, atMs),
    ),
  ]);
}

const transferRow = (ref: string, amount: string, time = "2026-11-21 02:00:00") =>
  `txn_${ref},${time},${time},${time},usd,-${amount},0.00,-${amount},transfer,${ref},giftwire withdrawal,,,,,`;

describe("payout reconciliation", () => {
  it("matches a Stripe report's transfers to paid withdrawals (amount less fee) and reports every disagreement", async () => {
    const tag = crypto.randomUUID().replaceAll("-", "").slice(0, 10);
    const ref = (n: string) => `tr_${tag}${n}`;
    const w = (n: string, o: Partial<Withdrawal>): Withdrawal => ({
      id: `wd${tag}${n}`,
      creatorId: `creator-${tag}-${n}`,
      amountMinor: 10_000,
      feeMinor: 200,
      state: "paid",
      providerRef: ref(n),
      ...o,
    });
    const clean = w("a", {});
    const short = w("b", { feeMinor: 0 });
    const unlisted = w("c", {});
    const paying = w("d", { state: "paying" });
    const failed = w("e", { state: "failed" });
    const otherDay = w("f", { paidAtMs: PAID_AT - 2 * 86_400_000 });
    for (const row of [clean, short, unlisted, paying, failed, otherDay]) await insert(row);

    const statement = [
      HEADER,
      transferRow(ref("a"), "98.00"),
      transferRow(ref("b"), "99.00"), // the withdrawal pays 100.00 (no fee)
      transferRow(ref("d"), "98.00"),
      transferRow(ref("e"), "98.00"),
      transferRow(ref("x"), "12.00"), // a transfer none of our withdrawals made
      transferRow(ref("a"), "98.00"), // listed twice
    ].join("\n");
    const res = await call("POST", "/v1/admin/reconciliations", {
      token: await operatorToken(),
      body: { channel: "stripe", date: DATE, statement },
    });
    expect(res.status).toBe(201);
    const mine = (
      res.body.findings as {
        subject: string;
        kind: string;
        orderId: string | null;
        providerTxnId: string;
        line: number | null;
        ours: { amountMinor: number; state: string } | null;
        theirs: { amountMinor: number } | null;
      }[]
    ).filter((f) => f.providerTxnId?.includes(tag));
    expect(mine.map((f) => [f.kind, f.orderId, f.providerTxnId, f.line])).toEqual([
      ["missing_ours", null, ref("x"), 6],
      ["duplicate_line", null, ref("a"), 7],
      ["amount_mismatch", short.id, ref("b"), 3],
      ["missing_theirs", unlisted.id, ref("c"), null],
      ["status_mismatch", paying.id, ref("d"), 4],
      ["status_mismatch", failed.id, ref("e"), 5],
    ]);
    expect(mine.every((f) => f.subject === "payout")).toBe(true);
    expect(mine[2]).toMatchObject({ ours: { amountMinor: 10_000, state: "paid" }, theirs: { amountMinor: 9_900 } });
    expect(res.body.run).toMatchObject({ lines: 6, matched: 4 });
  });
});
