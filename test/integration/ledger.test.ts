import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { checkLedgerInvariants } from "../../src/db/invariants";
import { composeOperation, type OperationSpec, runOperation } from "../../src/db/ledger";
import { Ledger } from "../../src/db/shards";
import { evenBucketMap } from "../../src/domain/shards";
import { call, invariantReport, token } from "./helpers";

// The ledger core on its own: one shard (LEDGER_0) seen as a whole ledger, so every account
// is local and nothing crosses (transit has its own tests in sharding.test.ts).
const shard = new Ledger(env.CONTROL, [env.LEDGER_0], evenBucketMap(1)).shard(0);
const db = shard.db;

function adjustment(
  id: string,
  from: string,
  to: string,
  amountMinor: number,
  guards: OperationSpec["guards"] = [],
): OperationSpec {
  return {
    id,
    kind: "adjustment",
    currency: "CNY",
    postings: [{ from, to, amountMinor }],
    actorId: "test",
    reason: "ledger test",
    metadata: null,
    nowMs: Date.now(),
    guards,
    extra: () => [],
  };
}

describe("ledger operations", () => {
  it("posts once: the same operation id applied again is reported as existing and moves nothing", async () => {
    const spec = adjustment("adj_ledger_once", "world:adjustments", "user:ledger-a:wallet", 500);
    const first = await runOperation(shard, composeOperation(shard, spec));
    const second = await runOperation(shard, composeOperation(shard, spec));
    expect(first.verdict).toEqual({ kind: "posted" });
    expect(second.verdict).toEqual({ kind: "exists" });
    const row = await db.prepare("SELECT balance_minor FROM accounts WHERE address = 'user:ledger-a:wallet'").first();
    expect(row).toEqual({ balance_minor: 500 });
  });

  it("group-commits: a failed guard in one operation leaves its neighbours in the same batch posted", async () => {
    const ok1 = composeOperation(shard, adjustment("adj_group_1", "world:adjustments", "user:ledger-g:wallet", 300));
    const overdraw = composeOperation(
      shard,
      adjustment("adj_group_2", "user:ledger-g:wallet", "world:adjustments", 10_000),
    );
    const ok2 = composeOperation(shard, adjustment("adj_group_3", "user:ledger-g:wallet", "world:adjustments", 100));
    const results = await db.batch([...ok1.statements, ...overdraw.statements, ...ok2.statements]);
    let offset = 0;
    const verdicts = [ok1, overdraw, ok2].map((op) => {
      const own = results.slice(offset, offset + op.statements.length);
      offset += op.statements.length;
      return op.verdictFrom(own);
    });
    expect(verdicts).toEqual([
      { kind: "posted" },
      { kind: "rejected", code: "insufficient_funds" },
      { kind: "posted" },
    ]);
    const row = await db.prepare("SELECT balance_minor FROM accounts WHERE address = 'user:ledger-g:wallet'").first();
    expect(row).toEqual({ balance_minor: 200 });
    const rejected = await db.prepare("SELECT COUNT(*) AS n FROM operations WHERE id = 'adj_group_2'").first();
    expect(rejected).toEqual({ n: 0 });
  });

  it("reports the first failing business guard by its code", async () => {
    const spec = adjustment("adj_guarded", "world:adjustments", "user:ledger-b:wallet", 100, [
      { code: "packet_not_found", sql: "EXISTS (SELECT 1 FROM red_packets WHERE id = ?)", params: ["packet_nope"] },
    ]);
    const { verdict } = await runOperation(shard, composeOperation(shard, spec));
    expect(verdict).toEqual({ kind: "rejected", code: "packet_not_found" });
    expect(await db.prepare("SELECT * FROM accounts WHERE address = 'user:ledger-b:wallet'").first()).toBeNull();
  });

  it("refuses to update or delete a transfer or a posted operation", async () => {
    await runOperation(
      shard,
      composeOperation(shard, adjustment("adj_immutable", "world:adjustments", "user:ledger-c:wallet", 100)),
    );
    await expect(
      db.prepare("UPDATE transfers SET amount_minor = 1 WHERE operation_id = 'adj_immutable'").run(),
    ).rejects.toThrow(/ledger_append_only/);
    await expect(db.prepare("DELETE FROM transfers WHERE operation_id = 'adj_immutable'").run()).rejects.toThrow(
      /ledger_append_only/,
    );
    await expect(db.prepare("UPDATE operations SET amount_minor = 1 WHERE id = 'adj_immutable'").run()).rejects.toThrow(
      /ledger_append_only/,
    );
    await expect(db.prepare("DELETE FROM operations WHERE id = 'adj_immutable'").run()).rejects.toThrow(
      /ledger_append_only/,
    );
  });

  it("refuses, by CHECK constraint, a protected balance below zero even if a guard were missing", async () => {
    await expect(
      db.prepare("UPDATE accounts SET balance_minor = -1 WHERE address = 'user:ledger-c:wallet'").run(),
    ).rejects.toThrow(/CHECK constraint failed/);
  });
});

describe("the invariant checker", () => {
  it("passes on a consistent ledger and reports each violation precisely when the data is tampered with", async () => {
    expect((await checkLedgerInvariants(db, Date.now())).violations).toEqual([]);

    // Tamper: a balance that no transfer explains, which also breaks conservation.
    await db
      .prepare("UPDATE accounts SET balance_minor = balance_minor + 7 WHERE address = 'user:ledger-a:wallet'")
      .run();
    // Tamper: an operation whose declared amount is not what its transfers move.
    await db
      .prepare(
        `INSERT INTO operations (id, kind, currency, amount_minor, transfer_count, state, actor_id, created_at_ms)
         VALUES ('adj_liar', 'adjustment', 'CNY', 999, 1, 'posted', 'test', 0)`,
      )
      .run();
    // Tamper: a protected account below zero. The CHECK constraint forbids this, so the
    // test switches constraint checking off the way a bad import or manual repair might.
    await db.batch([
      db.prepare("PRAGMA ignore_check_constraints = ON"),
      db.prepare(
        "INSERT INTO accounts (address, currency, balance_minor, may_go_negative, created_at_ms) VALUES ('user:ledger-neg:wallet', 'CNY', -5, 0, 0)",
      ),
      db.prepare("PRAGMA ignore_check_constraints = OFF"),
    ]);

    const report = await checkLedgerInvariants(db, Date.now());
    expect(report.ok).toBe(false);
    expect(report.violations).toContainEqual({
      kind: "balance_mismatch",
      account: "user:ledger-a:wallet",
      balanceMinor: 507,
      transfersSumMinor: 500,
    });
    expect(report.violations).toContainEqual({ kind: "currency_not_conserved", currency: "CNY", sumMinor: 7 - 5 });
    expect(report.violations).toContainEqual({
      kind: "operation_unbalanced",
      operationId: "adj_liar",
      declaredMinor: 999,
      transfersSumMinor: 0,
      declaredCount: 1,
      transferCount: 0,
    });
    expect(report.violations).toContainEqual({
      kind: "negative_balance",
      account: "user:ledger-neg:wallet",
      balanceMinor: -5,
    });
    expect(report.violations).toContainEqual({
      kind: "balance_mismatch",
      account: "user:ledger-neg:wallet",
      balanceMinor: -5,
      transfersSumMinor: 0,
    });
    expect(report.violationCount).toBe(report.violations.length);

    // The operator endpoint reports the same.
    const viaApi = await invariantReport();
    expect(viaApi.ok).toBe(false);
    expect(viaApi.violationCount).toBe(report.violationCount);
  });

  it("names a payment order whose credit, refunds, tip or packet the ledger does not bear out", async () => {
    const order = (id: string, state: string, extra = "NULL, NULL, 0") =>
      db
        .prepare(
          `INSERT INTO payment_orders (id, kind, user_id, channel, currency, amount_minor, state, idempotency_key,
             created_at_ms, expires_at_ms, updated_at_ms, tip_id, tip_outcome, refunded_minor)
           VALUES (?, 'topup', 'ledger-payer', 'sandbox', 'CNY', 1000, ?, ?, 0, 0, 0, ${extra})`,
        )
        .bind(id, state, `k-${id}`);
    await db.batch([
      // Paid, but never credited.
      order("order_00000000000000000000000001", "succeeded"),
      // Says it refunded 3.00 with no refund behind it.
      order("order_00000000000000000000000002", "failed", "NULL, NULL, 300"),
      // Says its tip was sent; there is no such tip.
      order("order_00000000000000000000000003", "failed", "'tip_00000000000000000000000003', 'sent', 0"),
      // A packet order that says its packet was sent; there is no such packet.
      db
        .prepare(
          `INSERT INTO payment_orders (id, kind, user_id, channel, currency, amount_minor, state, idempotency_key,
             created_at_ms, expires_at_ms, updated_at_ms, packet_id, packet_outcome)
           VALUES (?, 'packet', 'ledger-payer', 'sandbox', 'CNY', 1000, 'failed', ?, 0, 0, 0, ?, 'sent')`,
        )
        .bind("order_00000000000000000000000004", "k-order-4", "packet_00000000000000000000000004"),
      // A pay-to-unlock order that says it unlocked; there is no such unlock nor entitlement.
      db
        .prepare(
          `INSERT INTO payment_orders (id, kind, user_id, channel, currency, amount_minor, state, idempotency_key,
             created_at_ms, expires_at_ms, updated_at_ms, unlock_content_id, unlock_id, unlock_outcome)
           VALUES (?, 'unlock', 'ledger-payer', 'sandbox', 'CNY', 1000, 'succeeded', ?, 0, 0, 0, 'cnt_x', ?, 'unlocked')`,
        )
        .bind("order_00000000000000000000000005", "k-order-5", "unl_00000000000000000000000005"),
    ]);
    const report = await checkLedgerInvariants(db, Date.now());
    expect(report.violations).toContainEqual({
      kind: "order_credit_mismatch",
      orderId: "order_00000000000000000000000001",
      state: "succeeded",
      amountMinor: 1000,
      creditedMinor: 0,
    });
    expect(report.violations).toContainEqual({
      kind: "order_refunds_mismatch",
      orderId: "order_00000000000000000000000002",
      refundedMinor: 300,
      refundsSumMinor: 0,
      ledgerRefundedMinor: 0,
    });
    expect(report.violations).toContainEqual({
      kind: "order_tip_missing",
      orderId: "order_00000000000000000000000003",
      tipId: "tip_00000000000000000000000003",
    });
    expect(report.violations).toContainEqual({
      kind: "order_packet_mismatch",
      orderId: "order_00000000000000000000000004",
      state: "failed",
      packetOutcome: "sent",
    });
    expect(report.violations).toContainEqual({
      kind: "order_unlock_mismatch",
      orderId: "order_00000000000000000000000005",
      state: "succeeded",
      unlockOutcome: "unlocked",
    });
  });

  it("is only for admin and finance", async () => {
    const viewer = await call("GET", "/v1/admin/ledger/invariants", { token: await token("nosy") });
    expect(viewer.status).toBe(403);
    const anonymous = await call("GET", "/v1/admin/ledger/invariants");
    expect(anonymous.status).toBe(401);
    const finance = await call("GET", "/v1/admin/ledger/invariants", { token: await token("fin", "finance") });
    expect(finance.status).toBe(200);
    // The tests above left the ledger tampered with: the report says so, and counts what it lists.
    expect(finance.body.ok).toBe(false);
    expect(finance.body.violationCount).toBe(finance.body.violations.length);
    const admin = await call("GET", "/v1/admin/ledger/invariants", { token: await token("adm", "admin") });
    expect(admin.status).toBe(200);
    // Operations and support staff run the platform but do not audit its money.
    const staff = await call("GET", "/v1/admin/ledger/invariants", { token: await token("staff", "ops", "support") });
    expect(staff.status).toBe(403);
    expect(staff.body.error.code).toBe("forbidden");
  });
});
