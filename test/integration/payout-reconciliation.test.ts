/**
 * Payout lines through the whole reconciliation run: a Stripe balance report with Connect
 * transfers, and WeChat's 资金账单 and Alipay's 账务明细 (`bill: "fund_flow"`) rendered by the
 * providers' doubles from the transfers our payout clients made there, posted to
 * /v1/admin/reconciliations, matched against withdrawals in the creators' ledger shards. The
 * withdrawals are written as rows (the state the withdrawal operations leave them in), so this
 * tests the matching and the reads, not how withdrawals get paid.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { newOwnedId } from "../../src/domain/ids";
import { withdrawalNumber } from "../../src/domain/withdrawal-number";
import { payoutClientFor } from "../../src/worker/payouts/clients";
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
  channel?: "stripe" | "wechatpay" | "alipay";
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
         VALUES (?, ?, ?, ?, ?, ?, 'pa_test', 'acct_…Test', ?, 'auto', ?, ?, ?, ?, ?)`,
      )
      .bind(
        w.id,
        w.creatorId,
        w.amountMinor,
        w.feeMinor,
        (w.channel ?? "stripe") === "stripe" ? "USD" : "CNY",
        w.channel ?? "stripe",
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
    expect(res.body.run).toMatchObject({ bill: "trade", lines: 6, matched: 4 });
  });
});

interface Finding {
  subject: string;
  kind: string;
  orderId: string | null;
  merchantOrderNo: string | null;
  line: number | null;
  ours: { amountMinor: number; state: string } | null;
  theirs: { amountMinor: number; status: string } | null;
  detail: string;
}

async function double(provider: string, action: string, args: Record<string, unknown>): Promise<Response> {
  const res = await fetch(`https://doubles.test/${provider}/${action}`, { method: "POST", body: JSON.stringify(args) });
  expect(res.status).toBe(200);
  return res;
}

/** A withdrawal id in its creator's bucket, paid out (or not) through the channel's double. */
async function fundFlowCase(channel: "wechatpay" | "alipay", tag: string) {
  const l = await ledger();
  const client = payoutClientFor(env, channel);
  if (!client) throw new Error(`${channel} pays out in the test configuration`);
  const ids: Record<string, string> = {};
  const idOf = (n: string) => {
    if (!ids[n]) {
      const creatorId = `creator-${tag}-${n}`;
      ids[n] = newOwnedId("wd", l.bucketOf(creatorId), PAID_AT - 3_600_000);
    }
    return ids[n] as string;
  };
  /** Pays `amountMinor` under the withdrawal's number at the double, which ends it in `state`. */
  const pay = async (n: string, amountMinor: number, state: string | null) => {
    const number = withdrawalNumber(idOf(n));
    const payee = channel === "wechatpay" ? "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" : "2088101117955611";
    const outcome = await client.pay({
      withdrawalId: number,
      amountMinor,
      currency: "CNY",
      payee,
      payeeName: null,
      remark: "giftwire 主播收益提现",
    });
    expect(["needs_user_confirm", "paid", "accepted"]).toContain(outcome.state);
    if (state) await double(channel, "transfer-finish", { withdrawalId: number, state });
    return number;
  };
  const ours = async (n: string, o: Partial<Withdrawal>) => {
    const w: Withdrawal = {
      id: idOf(n),
      creatorId: `creator-${tag}-${n}`,
      amountMinor: 10_000,
      feeMinor: 200,
      state: "paid",
      providerRef: `ref-${tag}-${n}`,
      channel,
      ...o,
    };
    await insert(w);
    return w;
  };
  const bill = async (numbers: string[]) =>
    (await double(channel, "fund-flow-bill", { numbers, atMs: PAID_AT + 60_000 })).text();
  const reconcileBill = (statement: string) =>
    operatorToken().then((token) =>
      call("POST", "/v1/admin/reconciliations", { token, body: { channel, date: DATE, bill: "fund_flow", statement } }),
    );
  return { idOf, pay, ours, bill, reconcileBill };
}

function mine(findings: Finding[], ids: readonly string[]) {
  return findings
    .filter((f) => ids.some((id) => f.orderId === id || f.merchantOrderNo === id))
    .map((f) => [f.kind, f.orderId ?? f.merchantOrderNo, f.ours?.state ?? null, f.theirs?.status ?? null]);
}

describe("payout reconciliation from the fund-flow bills", () => {
  it("WeChat 资金账单: every withdrawal of the day against the 商家转账 rows — one finding per disagreement", async () => {
    const tag = crypto.randomUUID().slice(0, 8);
    const c = await fundFlowCase("wechatpay", tag);
    const numbers = [
      await c.pay("clean", 9_800, "SUCCESS"),
      await c.pay("short", 9_900, "SUCCESS"), // we pay 100.00 (no fee); WeChat moved 99.00
      await c.pay("unconfirmed", 9_800, null), // still waiting for the creator: not in the bill
      await c.pay("failedours", 9_800, "SUCCESS"), // we hold it failed (money back to the creator)
      await c.pay("paying", 9_800, "SUCCESS"), // we still wait for an answer
      await c.pay("stranger", 5_000, "SUCCESS"), // under our numbering, but no withdrawal of ours
    ];
    await c.ours("clean", {});
    await c.ours("short", { feeMinor: 0 });
    await c.ours("unconfirmed", {});
    await c.ours("failedours", { state: "failed" });
    await c.ours("paying", { state: "paying" });
    const statement = await c.bill(numbers);
    const res = await c.reconcileBill(statement);
    expect(res.status).toBe(201);
    const ids = ["clean", "short", "unconfirmed", "failedours", "paying", "stranger"].map(c.idOf);
    expect(mine(res.body.findings, ids)).toEqual(
      expect.arrayContaining([
        ["missing_ours", c.idOf("stranger"), null, "paid"],
        ["amount_mismatch", c.idOf("short"), "paid", "paid"],
        ["missing_theirs", c.idOf("unconfirmed"), "paid", null],
        ["status_mismatch", c.idOf("failedours"), "failed", "paid"],
        ["status_mismatch", c.idOf("paying"), "paying", "paid"],
      ]),
    );
    expect(mine(res.body.findings, ids)).toHaveLength(5);
    const short = (res.body.findings as Finding[]).find((f) => f.orderId === c.idOf("short"));
    expect(short).toMatchObject({ subject: "payout", ours: { amountMinor: 10_000 }, theirs: { amountMinor: 9_900 } });
    expect(res.body.run).toMatchObject({ channel: "wechatpay", bill: "fund_flow", lines: 5, matched: 4 });

    // The same file again is the same run; a trade-bill parse of it is refused, not misread.
    const again = await c.reconcileBill(statement);
    expect([again.status, again.body.run.id]).toEqual([200, res.body.run.id]);
    const asTrade = await call("POST", "/v1/admin/reconciliations", {
      token: await operatorToken(),
      body: { channel: "wechatpay", date: DATE, statement },
    });
    expect([asTrade.status, asTrade.body.error.code]).toEqual([422, "statement_malformed"]);
  });

  it("Alipay 账务明细: transfers by out_biz_no; a returned transfer we hold paid, a duplicated row, a failed one", async () => {
    const tag = crypto.randomUUID().slice(0, 8);
    const c = await fundFlowCase("alipay", tag);
    const numbers = [
      await c.pay("clean", 9_800, null), // uni.transfer answers SUCCESS at once
      await c.pay("over", 9_900, null), // we pay 98.00; Alipay moved 99.00
      await c.pay("failed", 9_800, "FAIL"), // the channel failed it; we hold it paid
      await c.pay("returned", 9_800, "REFUND"), // paid out, then back (退票); we hold it paid
      await c.pay("failedours", 9_800, null), // paid out; we hold it failed
      await c.pay("stranger", 1_234, null),
    ];
    await c.ours("clean", {});
    await c.ours("over", {});
    await c.ours("failed", {});
    await c.ours("returned", {});
    await c.ours("failedours", { state: "failed" });
    const bill = (await c.bill(numbers)).split("\r\n");
    const cleanRow = bill.findIndex((r) => r.includes(numbers[0] as string));
    const statement = [...bill.slice(0, cleanRow + 1), bill[cleanRow], ...bill.slice(cleanRow + 1)].join("\r\n");
    const res = await c.reconcileBill(statement);
    expect(res.status).toBe(201);
    const ids = ["clean", "over", "failed", "returned", "failedours", "stranger"].map(c.idOf);
    const found = mine(res.body.findings, ids);
    expect(found).toEqual(
      expect.arrayContaining([
        ["missing_ours", c.idOf("stranger"), null, "paid"],
        ["duplicate_line", c.idOf("clean"), null, "paid"],
        ["amount_mismatch", c.idOf("over"), "paid", "paid"],
        ["missing_theirs", c.idOf("failed"), "paid", null],
        ["status_mismatch", c.idOf("returned"), "paid", "reversed"],
        // And being reversed, it is no paid line: the bill shows no payout for it (as for Stripe).
        ["missing_theirs", c.idOf("returned"), "paid", null],
        ["status_mismatch", c.idOf("failedours"), "failed", "paid"],
      ]),
    );
    expect(found, JSON.stringify(found)).toHaveLength(7);
    const over = (res.body.findings as Finding[]).find((f) => f.orderId === c.idOf("over"));
    expect(over).toMatchObject({ ours: { amountMinor: 9_800 }, theirs: { amountMinor: 9_900 } });
  });

  it("a fund-flow bill is refused for a channel without one, required as a file, and refused whole when malformed", async () => {
    const token = await operatorToken();
    const stripe = await call("POST", "/v1/admin/reconciliations", {
      token,
      body: { channel: "stripe", date: DATE, bill: "fund_flow", statement: HEADER },
    });
    expect([stripe.status, stripe.body.error.code]).toEqual([400, "malformed_request"]);
    const none = await call("POST", "/v1/admin/reconciliations", {
      token,
      body: { channel: "alipay", date: DATE, bill: "fund_flow" },
    });
    expect([none.status, none.body.error.code]).toEqual([422, "statement_required"]);
    const cut = await call("POST", "/v1/admin/reconciliations", {
      token,
      body: {
        channel: "wechatpay",
        date: DATE,
        bill: "fund_flow",
        statement:
          "记账时间,微信支付业务单号,业务名称,收支类型,收支金额(元),业务凭证号\n`2026-11-21 10:00:00,`1,`x,`支出,`1.00,`y",
      },
    });
    expect([cut.status, cut.body.error.code, cut.body.error.details]).toEqual([
      422,
      "statement_malformed",
      { line: 3, detail: "no summary (资金流水总笔数,…): the file is truncated" },
    ]);
  });
});
