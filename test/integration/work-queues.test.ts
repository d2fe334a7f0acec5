import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { newId } from "../../src/domain/ids";
import { LIMITS } from "../../src/domain/limits";
import worker from "../../src/worker/index";
import { call, token } from "./helpers";

/**
 * The console's work queues: the dead-letter queues' consumer keeps every dead message in D1,
 * operators list, replay (once) and discard them; payment flags and reconciliation findings are
 * listed and resolved with an audited note; the counts answer only the queues a role may read.
 */

afterEach(() => {
  vi.restoreAllMocks();
});

const uid = () => crypto.randomUUID().slice(0, 8);

function deadBatch(queue: string, messages: { id: string; body: unknown; attempts?: number }[]) {
  const acked: string[] = [];
  const retried: string[] = [];
  const batch = {
    queue,
    messages: messages.map((m) => ({
      id: m.id,
      timestamp: new Date(),
      attempts: m.attempts ?? 1,
      body: m.body,
      ack: () => acked.push(m.id),
      retry: () => retried.push(m.id),
    })),
    ackAll: () => undefined,
    retryAll: () => undefined,
  } as unknown as Parameters<typeof worker.queue>[0];
  return { batch, acked, retried };
}

async function deadLetterOf(queue: string, messageId: string) {
  return env.CONTROL.prepare("SELECT * FROM dead_letters WHERE queue = ? AND message_id = ?")
    .bind(queue, messageId)
    .first<{ id: string; attempts: number; body: string | null; body_truncated: number; state: string }>();
}

async function auditOf(target: string) {
  const { results } = await env.CONTROL.prepare("SELECT actor, action FROM audit_log WHERE target = ? ORDER BY seq")
    .bind(target)
    .all<{ actor: string; action: string }>();
  return results;
}

describe("dead letters", () => {
  it("are stored once per message by the DLQ consumer, with body and attempts; a redelivery adds an attempt", async () => {
    const id = `m-${uid()}`;
    const body = { outboxIds: ["obx_1"], note: "ünïcode" };
    const first = deadBatch("giftwire-room-events-dlq", [{ id, body }]);
    await worker.queue(first.batch, env);
    expect(first.acked).toEqual([id]);
    const again = deadBatch("giftwire-room-events-dlq", [{ id, body, attempts: 2 }]);
    await worker.queue(again.batch, env);
    const row = await deadLetterOf("giftwire-room-events-dlq", id);
    expect(row).toMatchObject({ attempts: 2, state: "open", body_truncated: 0 });
    expect(JSON.parse(row?.body ?? "null")).toEqual(body);
    const { results } = await env.CONTROL.prepare("SELECT id FROM dead_letters WHERE message_id = ?").bind(id).all();
    expect(results).toHaveLength(1);
  });

  it("keeps a body it cannot serialise as null and an oversized one truncated; neither can be replayed", async () => {
    const bigId = `big-${uid()}`;
    const oddId = `odd-${uid()}`;
    const b = deadBatch("giftwire-alerts-dlq", [
      { id: bigId, body: { padding: "x".repeat(LIMITS.deadLetterBodyMaxBytes + 10) } },
      { id: oddId, body: { n: 10n } },
    ]);
    await worker.queue(b.batch, env);
    expect(b.acked).toEqual([bigId, oddId]);
    const big = await deadLetterOf("giftwire-alerts-dlq", bigId);
    const odd = await deadLetterOf("giftwire-alerts-dlq", oddId);
    expect(big?.body_truncated).toBe(1);
    expect(new TextEncoder().encode(big?.body ?? "").length).toBe(LIMITS.deadLetterBodyMaxBytes);
    expect(odd?.body).toBeNull();
    const ops = await token("ops-dl", "ops");
    for (const row of [big, odd]) {
      const res = await call("POST", `/v1/admin/dead-letters/${row?.id}/replay`, { token: ops, body: {} });
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe("dead_letter_not_replayable");
      expect((await deadLetterOf("giftwire-alerts-dlq", row === big ? bigId : oddId))?.state).toBe("open");
    }
  });

  it("a failed store retries the messages (nothing acknowledged)", async () => {
    const id = `fail-${uid()}`;
    vi.spyOn(env.CONTROL, "batch").mockRejectedValueOnce(new Error("D1 down (test)"));
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const b = deadBatch("giftwire-payouts-dlq", [{ id, body: { kind: "send" } }]);
    await worker.queue(b.batch, env);
    expect(b.acked).toEqual([]);
    expect(b.retried).toEqual([id]);
  });

  it("are listed and inspected; replayed to the original queue exactly once, even by two operators at once", async () => {
    const id = `replay-${uid()}`;
    const body = { id: "ntf_x", creatorId: `creator-${uid()}`, kind: "test" };
    await worker.queue(deadBatch("giftwire-creator-notices-dlq", [{ id, body }]).batch, env);
    const row = await deadLetterOf("giftwire-creator-notices-dlq", id);
    const ops = await token("ops-dl", "ops");

    const list = await call("GET", "/v1/admin/dead-letters?limit=100", { token: ops });
    expect(list.status).toBe(200);
    const listed = list.body.deadLetters.find((d: { id: string }) => d.id === row?.id);
    expect(listed).toMatchObject({
      queue: "giftwire-creator-notices-dlq",
      originalQueue: "giftwire-creator-notices",
      messageId: id,
      body,
      attempts: 1,
      state: "open",
    });
    const one = await call("GET", `/v1/admin/dead-letters/${row?.id}`, { token: ops });
    expect(one.body.deadLetter.body).toEqual(body);

    const sent: unknown[] = [];
    vi.spyOn(env.CREATOR_NOTICES, "send").mockImplementation(async (message) => {
      sent.push(message);
      return {} as Awaited<ReturnType<typeof env.CREATOR_NOTICES.send>>;
    });
    const ops2 = await token("ops-dl2", "ops");
    const [a, b] = await Promise.all([
      call("POST", `/v1/admin/dead-letters/${row?.id}/replay`, { token: ops, body: { note: "consumer fixed" } }),
      call("POST", `/v1/admin/dead-letters/${row?.id}/replay`, { token: ops2, body: {} }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    expect(sent).toEqual([body]);
    const winner = a.status === 200 ? a : b;
    expect(winner.body.deadLetter).toMatchObject({ state: "replayed" });
    expect((await call("POST", `/v1/admin/dead-letters/${row?.id}/discard`, { token: ops, body: {} })).status).toBe(
      409,
    );
    expect((await auditOf(row?.id ?? "")).map((e) => e.action)).toEqual(["dead_letter.replay"]);
    const open = await call("GET", "/v1/admin/dead-letters?limit=100", { token: ops });
    expect(open.body.deadLetters.some((d: { id: string }) => d.id === row?.id)).toBe(false);
    const replayed = await call("GET", "/v1/admin/dead-letters?state=replayed&limit=100", { token: ops });
    expect(replayed.body.deadLetters.some((d: { id: string }) => d.id === row?.id)).toBe(true);
  });

  it("a replay whose send fails leaves the letter open for another try", async () => {
    const id = `sendfail-${uid()}`;
    await worker.queue(deadBatch("giftwire-room-events-dlq", [{ id, body: { outboxIds: ["x"] } }]).batch, env);
    const row = await deadLetterOf("giftwire-room-events-dlq", id);
    vi.spyOn(env.ROOM_EVENTS, "send").mockRejectedValueOnce(new Error("queue down (test)"));
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const ops = await token("ops-dl", "ops");
    const res = await call("POST", `/v1/admin/dead-letters/${row?.id}/replay`, { token: ops, body: {} });
    expect(res.status).toBe(500);
    expect((await deadLetterOf("giftwire-room-events-dlq", id))?.state).toBe("open");
  });

  it("are discarded once, audited; support may not, the auditor may read but not decide", async () => {
    const id = `discard-${uid()}`;
    await worker.queue(deadBatch("giftwire-ledger-postings-dlq", [{ id, body: { claims: [] } }]).batch, env);
    const row = await deadLetterOf("giftwire-ledger-postings-dlq", id);
    const support = await token("support-dl", "support");
    const auditor = await token("auditor-dl", "auditor");
    expect((await call("GET", "/v1/admin/dead-letters", { token: support })).status).toBe(403);
    expect((await call("GET", `/v1/admin/dead-letters/${row?.id}`, { token: auditor })).status).toBe(200);
    expect((await call("POST", `/v1/admin/dead-letters/${row?.id}/discard`, { token: auditor, body: {} })).status).toBe(
      403,
    );
    const ops = await token("ops-dl", "ops");
    const done = await call("POST", `/v1/admin/dead-letters/${row?.id}/discard`, {
      token: ops,
      body: { note: "obsolete" },
    });
    expect(done.status).toBe(200);
    expect(done.body.deadLetter).toMatchObject({ state: "discarded", decidedBy: "ops-dl", note: "obsolete" });
    const twice = await call("POST", `/v1/admin/dead-letters/${row?.id}/discard`, { token: ops, body: {} });
    expect(twice.body.error.code).toBe("dead_letter_not_open");
    expect(await auditOf(row?.id ?? "")).toEqual([{ actor: "ops-dl", action: "dead_letter.discard" }]);
    expect((await call("GET", `/v1/admin/dead-letters/${newId("dlq", Date.now())}`, { token: ops })).status).toBe(404);
  });
});

async function insertFinding(): Promise<string> {
  const runId = newId("recon", Date.now());
  const findingId = newId("finding", Date.now());
  await env.CONTROL.batch([
    env.CONTROL.prepare(
      `INSERT INTO reconciliation_runs (id, channel, statement_date, source_sha256, lines, matched, findings, repaired, actor_id, started_at_ms)
       VALUES (?, 'sandbox', '2026-03-04', 'x', 1, 0, 1, 0, 'ops-test', ?)`,
    ).bind(runId, Date.now()),
    env.CONTROL.prepare(
      `INSERT INTO reconciliation_findings (id, run_id, kind, order_id, ours_amount_minor, theirs_amount_minor, repair, detail)
       VALUES (?, ?, 'amount_mismatch', 'order_x', 1000, 900, 'manual', 'ours 10.00, theirs 9.00')`,
    ).bind(findingId, runId),
  ]);
  return findingId;
}

describe("reconciliation findings and payment flags", () => {
  it("an open finding is listed, resolved with a note once (audited), then listed as resolved", async () => {
    const findingId = await insertFinding();
    const finance = await token("finance-q", "finance");
    const open = await call("GET", "/v1/admin/reconciliation-findings?limit=100", { token: finance });
    expect(open.status).toBe(200);
    expect(open.body.findings.find((f: { id: string }) => f.id === findingId)).toMatchObject({
      channel: "sandbox",
      statementDate: "2026-03-04",
      kind: "amount_mismatch",
      oursAmountMinor: 1000,
      theirsAmountMinor: 900,
      resolvedAtMs: null,
    });
    const bad = await call("POST", `/v1/admin/reconciliation-findings/${findingId}/resolve`, {
      token: finance,
      body: { note: "" },
    });
    expect(bad.status).toBe(400);
    const support = await token("support-q", "support");
    expect(
      (
        await call("POST", `/v1/admin/reconciliation-findings/${findingId}/resolve`, {
          token: support,
          body: { note: "x" },
        })
      ).status,
    ).toBe(403);
    expect(await auditOf(findingId)).toEqual([]);

    const res = await call("POST", `/v1/admin/reconciliation-findings/${findingId}/resolve`, {
      token: finance,
      body: { note: "Provider refunded 1.00 by hand" },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      changed: true,
      finding: { resolvedBy: "finance-q", resolution: "Provider refunded 1.00 by hand" },
    });
    const again = await call("POST", `/v1/admin/reconciliation-findings/${findingId}/resolve`, {
      token: finance,
      body: { note: "again" },
    });
    expect(again.body).toMatchObject({ changed: false, finding: { resolution: "Provider refunded 1.00 by hand" } });
    expect(await auditOf(findingId)).toEqual([{ actor: "finance-q", action: "reconciliation.finding.resolve" }]);
    const after = await call("GET", "/v1/admin/reconciliation-findings?limit=100", { token: finance });
    expect(after.body.findings.some((f: { id: string }) => f.id === findingId)).toBe(false);
    const resolved = await call("GET", "/v1/admin/reconciliation-findings?state=resolved&limit=100", {
      token: finance,
    });
    expect(resolved.body.findings.some((f: { id: string }) => f.id === findingId)).toBe(true);
    const unknown = newId("finding", Date.now());
    expect(
      (
        await call("POST", `/v1/admin/reconciliation-findings/${unknown}/resolve`, {
          token: finance,
          body: { note: "x" },
        })
      ).status,
    ).toBe(404);
  });

  it("payment flags split into payments and stuck payouts; a resolved flag leaves its queue", async () => {
    const wd = `wd_${uid()}`;
    const mismatch = `flag_${uid()}`;
    const stuck = `payout_stuck:${wd}`;
    const at = Date.now();
    await env.CONTROL.batch([
      env.CONTROL.prepare(
        `INSERT INTO payment_flags (id, kind, channel, order_id, notification_id, detail, created_at_ms)
         VALUES (?, 'amount_mismatch', 'sandbox', 'order_y', ?, '{"expected":100,"got":90}', ?)`,
      ).bind(mismatch, `ntf_${uid()}`, at),
      env.CONTROL.prepare(
        `INSERT INTO payment_flags (id, kind, channel, order_id, notification_id, detail, created_at_ms)
         VALUES (?, 'payout_stuck', 'sandbox', NULL, NULL, ?, ?)`,
      ).bind(stuck, JSON.stringify({ withdrawalId: wd, payingSinceMs: at - 86_400_000 }), at),
    ]);
    const finance = await token("finance-q", "finance");
    const payments = await call("GET", "/v1/admin/payment-flags?limit=100", { token: finance });
    const stuckList = await call("GET", "/v1/admin/payment-flags?group=payouts_stuck&limit=100", { token: finance });
    expect(payments.body.flags.map((f: { id: string }) => f.id)).toContain(mismatch);
    expect(payments.body.flags.map((f: { id: string }) => f.id)).not.toContain(stuck);
    expect(stuckList.body.flags.find((f: { id: string }) => f.id === stuck)).toMatchObject({
      kind: "payout_stuck",
      withdrawalId: wd,
      detail: { withdrawalId: wd },
    });

    const before = await call("GET", "/v1/admin/queues", { token: finance });
    const res = await call("POST", `/v1/admin/payment-flags/${encodeURIComponent(stuck)}/resolve`, {
      token: finance,
      body: { note: "Channel confirmed paid; waiting for its callback" },
    });
    expect(res.status).toBe(200);
    expect(res.body.flag).toMatchObject({ id: stuck, resolvedBy: "finance-q" });
    expect(await auditOf(stuck)).toEqual([{ actor: "finance-q", action: "payment_flag.resolve" }]);
    const after = await call("GET", "/v1/admin/queues", { token: finance });
    expect(after.body.counts.payoutsStuck).toBe(before.body.counts.payoutsStuck - 1);
  });

  it("the counts answer only the queues the caller may read", async () => {
    const support = await token("support-q", "support");
    const res = await call("GET", "/v1/admin/queues", { token: support });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body.counts).sort()).toEqual([
      "heldMessages",
      "paymentFlags",
      "payoutsStuck",
      "proposals",
      "riskReviews",
      "verifications",
    ]);
    expect(res.body.countMax).toBe(LIMITS.workQueueCountMax);
    const admin = await token("admin-q", "admin");
    const all = await call("GET", "/v1/admin/queues", { token: admin });
    expect(Object.keys(all.body.counts)).toHaveLength(9);
    for (const n of Object.values(all.body.counts)) expect(Number.isInteger(n)).toBe(true);
    expect((await call("GET", "/v1/admin/queues", { token: await token("viewer-q") })).status).toBe(403);
  });
});
