/**
 * Scheduled checks and alerts end to end: checks run and record their runs, rules open one
 * incident per rule and subject, the ALERTS queue delivers each message once to a local
 * receiver (test/support/hook-receiver.ts) however often the checks run, and a resolve
 * message follows when the check clears.
 *
 * Check runs here happen at a moment far ahead of the wall clock (NOW), so that the channel
 * calls and the stuck withdrawal seen are this file's only; the rules are this file's own
 * (fresh ids, hence fresh incident keys) and send only to this file's targets.
 */

import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, describe, expect, it, vi } from "vitest";
import { recordCheckRun } from "../../src/db/alerts";
import { applyPayoutOutcome } from "../../src/db/payout-answers";
import { payoutAccountContext } from "../../src/db/reads/payout-accounts";
import { openLedger } from "../../src/db/shards";
import { moveWithdrawal, setColumns } from "../../src/db/withdrawals";
import { accountAddress } from "../../src/domain/accounts";
import { LIMITS } from "../../src/domain/limits";
import { createLogger } from "../../src/platform/logger";
import { seal } from "../../src/platform/sealing";
import { evaluateAlerts } from "../../src/worker/checks/alerts";
import { CHECKS, type Check, runCheck } from "../../src/worker/checks/registry";
import { STATEMENT_LOOKBACK_DAYS } from "../../src/worker/checks/statements";
import { CRON_JOBS, runCronJobs } from "../../src/worker/cron/jobs";
import worker from "../../src/worker/index";
import { operationRows } from "../support/ledger-rows";
import { DOUBLES_ORIGIN } from "../support/provider-network";
import { call, invariantReport, key, operatorToken, settleTransit, shardDbOf, token, until, withPin } from "./helpers";

const log = createLogger({ test: "alerts" });
const RUN = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
/** Far ahead of the wall clock: past every other file's channel calls and paying withdrawals' limits. */
const NOW = Date.now() + 400 * 24 * 3_600_000 + Math.floor(Math.random() * 1_000_000);

const checkNamed = (name: string) => CHECKS.find((c) => c.name === name) as Check;

interface Received {
  url: string;
  headers: Record<string, string>;
  body: string;
}

async function received(match: string): Promise<Received[]> {
  const res = await fetch(`${DOUBLES_ORIGIN}/hooks/received?match=${encodeURIComponent(match)}`);
  return (await res.json()) as Received[];
}

async function addTarget(kind: string, secret?: string) {
  const path = `/${kind}/${RUN}-${Math.random().toString(36).slice(2, 8)}`;
  const res = await call("POST", "/v1/admin/alert-targets", {
    token: await operatorToken(),
    body: {
      name: `test ${kind}`,
      kind,
      url: `https://hooks.test${path}`,
      ratePerHour: 1_000,
      ...(secret ? { secret } : {}),
    },
  });
  expect(res.status).toBe(201);
  return { id: res.body.id as string, path, body: res.body };
}

async function addRule(check: string, kind: string, targetIds: string[], threshold = 1) {
  const name = `test ${kind} ${RUN}-${Math.random().toString(36).slice(2, 8)}`;
  const res = await call("POST", "/v1/admin/alert-rules", {
    token: await operatorToken(),
    body: { name, check, kind, threshold, severity: "critical", targetIds },
  });
  expect(res.status).toBe(201);
  return { id: res.body.id as string, name };
}

/**
 * What the target at `path` received from `rule` for `subject`, parsed (generic JSON targets).
 * The default rules send to every target, this file's too: only the rule's own messages count.
 */
async function eventsAt(path: string, rule: string, subject: string) {
  return (await received(path))
    .map((r) => ({ ...r, json: JSON.parse(r.body) as Record<string, unknown> }))
    .filter((r) => r.json.rule === rule && r.json.subject === subject);
}

/** Every alert message queued so far has left the queue (sent, limited or failed). */
async function queueDrained(incidentIds: () => Promise<string[]>) {
  return until(
    async () => {
      const ids = await incidentIds();
      const row = await env.CONTROL.prepare(
        "SELECT COUNT(*) AS n FROM alert_deliveries WHERE state = 'queued' AND incident_id IN (SELECT value FROM json_each(?))",
      )
        .bind(JSON.stringify(ids))
        .first<{ n: number }>();
      return row?.n ?? 0;
    },
    (n) => n === 0,
    20_000,
  );
}

async function incidentsOf(ruleId: string) {
  const { results } = await env.CONTROL.prepare(
    "SELECT id, subject, state FROM alert_incidents WHERE rule_id = ? ORDER BY opened_at_ms",
  )
    .bind(ruleId)
    .all<{ id: string; subject: string; state: string }>();
  return results;
}

async function hmacHex(secret: string, message: string): Promise<string> {
  const k = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", k, new TextEncoder().encode(message)));
  return [...sig].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function hmacBase64(keyText: string, message: string): Promise<string> {
  const k = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(keyText),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", k, new TextEncoder().encode(message)));
  return btoa(String.fromCharCode(...sig));
}

const insertedCalls: number[] = [];
async function channelCall(channel: string, ok: boolean, atMs: number) {
  insertedCalls.push(atMs);
  await env.CONTROL.prepare("INSERT INTO channel_calls (channel, op, ok, detail, at_ms) VALUES (?, 'create', ?, ?, ?)")
    .bind(channel, ok ? 1 : 0, `alerts test ${RUN}`, atMs)
    .run();
}

afterAll(async () => {
  // The future calls would otherwise crowd other files' health reads (newest first, 50 kept).
  await env.CONTROL.prepare("DELETE FROM channel_calls WHERE detail = ?").bind(`alerts test ${RUN}`).run();
});

/** One cron tick's worth at `atMs`: the check, then the alerts job. */
async function tick(check: string, atMs: number) {
  await runCheck(checkNamed(check), env, atMs, log, true);
  return evaluateAlerts(env, atMs, log);
}

describe("a failing channel", () => {
  it("raises exactly one alert, delivered once across repeated runs, and one resolve message when it clears", async () => {
    const secret = `generic-secret-${RUN}`;
    const target = await addTarget("generic", secret);
    const feishuSecret = `feishu-secret-${RUN}`;
    const feishu = await addTarget("feishu", feishuSecret);
    const rule = await addRule("channels", "channel_unhealthy", [target.id, feishu.id]);
    expect(target.body).not.toHaveProperty("url");
    expect(JSON.stringify(target.body)).not.toContain(secret);
    expect(target.body.urlHint).toBe("https://hooks.test");

    // Three failed calls within ten seconds trip WeChat Pay.
    for (const ms of [3_000, 2_000, 1_000]) await channelCall("wechatpay", false, NOW - ms);
    const first = await tick("channels", NOW);
    expect(first.opened).toBeGreaterThanOrEqual(1);
    // Still failing (tripped, probing) on the next runs: nothing new opens, nothing is sent again.
    await channelCall("wechatpay", false, NOW + 30_000);
    await tick("channels", NOW + 31_000);
    await tick("channels", NOW + 60_000);
    await tick("channels", NOW + 90_000);
    const ids = async () => (await incidentsOf(rule.id)).map((i) => i.id);
    await queueDrained(ids);
    const opened = await until(
      () => eventsAt(target.path, rule.name, "wechatpay"),
      (e) => e.length >= 1,
    );
    expect(opened.map((e) => e.json.event)).toEqual(["open"]);
    expect(await incidentsOf(rule.id)).toEqual([{ id: expect.any(String), subject: "wechatpay", state: "open" }]);

    // The generic signature, computed independently: HMAC-SHA256(secret, "{t}.{body}"), hex.
    const message = opened[0] as Received & { json: Record<string, unknown> };
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(message.headers["x-giftwire-signature"] ?? "") ?? [];
    expect(v1).toBe(await hmacHex(secret, `${t}.${message.body}`));
    expect(message.json).toMatchObject({ event: "open", rule: rule.name, severity: "critical" });

    // Feishu: one signed text message, sign = base64 HMAC-SHA256 keyed by "{timestamp}\n{secret}" over nothing.
    const feishuGot = (await received(feishu.path)).map((r) => JSON.parse(r.body));
    const feishuOpen = feishuGot.filter((b) => String(b.content?.text).includes(`${rule.name}: wechatpay`));
    expect(feishuOpen).toHaveLength(1);
    expect(feishuOpen[0].sign).toBe(await hmacBase64(`${feishuOpen[0].timestamp}\n${feishuSecret}`, ""));

    // Health shows the open incident and the check's last run.
    const health = await call("GET", "/v1/admin/health", { token: await token("oncall", "support") });
    expect(health.status).toBe(200);
    expect(health.body.openIncidents.map((i: { ruleId: string }) => i.ruleId)).toContain(rule.id);
    const channels = health.body.checks.find((c: { name: string }) => c.name === "channels");
    expect(channels.lastRun.status).toBe("findings");

    // The channel answers again: one resolve message, and no more on later runs.
    await channelCall("wechatpay", true, NOW + 100_000);
    const cleared = await tick("channels", NOW + 101_000);
    expect(cleared.resolved).toBeGreaterThanOrEqual(1);
    await tick("channels", NOW + 160_000);
    await tick("channels", NOW + 220_000);
    await queueDrained(ids);
    const all = await until(
      () => eventsAt(target.path, rule.name, "wechatpay"),
      (e) => e.length >= 2,
    );
    expect(all.map((e) => e.json.event)).toEqual(["open", "resolve"]);
    expect(await incidentsOf(rule.id)).toEqual([{ id: expect.any(String), subject: "wechatpay", state: "resolved" }]);
  });
});

/** A creator with money settled and a payout account, whose withdrawal waits in review. */
async function creatorWithPayingWithdrawal(atMs: number) {
  const id = `alc-${RUN}`;
  const nowMs = Date.now();
  const accountId = `pa_${id}`;
  const sealedAccount = await seal(
    env.PII_KEYS,
    payoutAccountContext(accountId),
    JSON.stringify({ channel: "sandbox", id: "payee-ok" }),
  );
  const sealedIdentity = await seal(env.PII_KEYS, `verification:${id}`, JSON.stringify({ realName: "张三" }));
  await env.CONTROL.batch([
    env.CONTROL.prepare(
      "INSERT INTO creators (user_id, display_name, risk_hold, created_at_ms, updated_at_ms) VALUES (?, ?, 1, ?, ?)",
    ).bind(id, id, nowMs, nowMs),
    env.CONTROL.prepare(
      `INSERT INTO creator_verifications (creator_id, state, sealed, key_id, real_name_masked, id_number_masked,
         submitted_at_ms, updated_at_ms) VALUES (?, 'verified', ?, ?, '张*', '1101**********1234', ?, ?)`,
    ).bind(id, sealedIdentity.sealed, sealedIdentity.keyId, nowMs, nowMs),
    env.CONTROL.prepare(
      `INSERT INTO payout_accounts (id, creator_id, channel, sealed, key_id, masked, is_default, cooling_until_ms,
         created_at_ms, updated_at_ms) VALUES (?, ?, 'sandbox', ?, ?, 'sandbox ****ok', 1, ?, ?, ?)`,
    ).bind(accountId, id, sealedAccount.sealed, sealedAccount.keyId, nowMs - 1, nowMs, nowMs),
  ]);
  const db = await shardDbOf(id);
  await db.batch(
    operationRows(db, {
      id: `test-settle:${id}`,
      kind: "adjustment",
      postings: [
        { from: accountAddress.worldAdjustments(), to: accountAddress.creatorAvailable(id), amountMinor: 5_000 },
      ],
      atMs: nowMs,
    }),
  );
  const requested = await call("POST", "/v1/creators/me/withdrawals", {
    token: await token(id, "creator"),
    body: await withPin(id, { amount: "30.00" }),
    idempotencyKey: key(),
  });
  expect(requested.status).toBe(201);
  const withdrawalId = requested.body.withdrawal.id as string;
  const ledger = await openLedger(env);
  // Approved and marked paying here (no send: the sweeper never reaches it before `atMs`), as
  // if the channel took it and then fell silent.
  for (const step of ["approve", "pay"] as const) {
    const moved = await moveWithdrawal(ledger, withdrawalId, step, {
      cause: step,
      ref: null,
      actorId: step === "approve" ? "ops-test" : null,
      nowMs,
      set: setColumns(
        step === "pay" ? { paying_since_ms: atMs, next_query_at_ms: NOW + 10 * 3_600_000 } : { next_query_at_ms: NOW },
      ),
    });
    expect(moved.kind).toBe("changed");
  }
  return { creatorId: id, withdrawalId };
}

describe("a stuck payout", () => {
  it("raises exactly one alert across repeated runs and resolves once when it is paid", async () => {
    const target = await addTarget("generic", `s-${RUN}`);
    const rule = await addRule("stuck", "payout_stuck", [target.id]);
    const stuckAt = NOW - LIMITS.withdrawalPayingStuckMs - 60_000;
    const { withdrawalId } = await creatorWithPayingWithdrawal(stuckAt);

    for (let i = 0; i < 4; i++) await tick("stuck", NOW + i * 300_000);
    const ids = async () => (await incidentsOf(rule.id)).map((i) => i.id);
    await queueDrained(ids);
    const opened = await until(
      () => eventsAt(target.path, rule.name, withdrawalId),
      (e) => e.length >= 1,
    );
    expect(opened.map((e) => e.json.event)).toEqual(["open"]);
    const mine = (await incidentsOf(rule.id)).filter((i) => i.subject === withdrawalId);
    expect(mine.map((i) => i.state)).toEqual(["open"]);

    // The channel reports it paid: the next run clears it, one resolve message.
    const ledger = await openLedger(env);
    const applied = await applyPayoutOutcome(
      ledger,
      withdrawalId,
      { state: "paid", providerRef: `sbx-${RUN}` },
      { cause: "query", ref: null, nowMs: Date.now(), random: 0.5 },
    );
    expect(applied.kind).not.toBe("unknown_withdrawal");
    await tick("stuck", NOW + 1_500_000);
    await tick("stuck", NOW + 1_800_000);
    await queueDrained(ids);
    const all = await until(
      () => eventsAt(target.path, rule.name, withdrawalId),
      (e) => e.length >= 2,
    );
    expect(all.map((e) => e.json.event)).toEqual(["open", "resolve"]);
    expect((await incidentsOf(rule.id)).filter((i) => i.subject === withdrawalId).map((i) => i.state)).toEqual([
      "resolved",
    ]);
    await settleTransit();
    expect((await invariantReport()).ok).toBe(true);
  });
});

describe("checks in isolation", () => {
  it("a check that throws is recorded failed, the other checks still run and record, and check_failed fires", async () => {
    const broken: Check = {
      name: "channels",
      schedule: { everyMs: 60_000 },
      run: async () => {
        throw new Error(`statement server on fire ${RUN}`);
      },
    };
    const at = NOW + 5 * 3_600_000;
    const jobs = [
      { name: "check:channels", run: () => runCheck(broken, env, at, log, true) },
      { name: "check:red-packets", run: () => runCheck(checkNamed("red-packets"), env, at, log, true) },
      { name: "check:stuck", run: () => runCheck(checkNamed("stuck"), env, at, log, true) },
    ];
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const infos = vi.spyOn(console, "log").mockImplementation(() => undefined);
    const warns = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const report = await runCronJobs(jobs, env, at, log);
    errors.mockRestore();
    infos.mockRestore();
    warns.mockRestore();
    expect(report.failed).toEqual(["check:channels"]);
    expect(Object.keys(report.done)).toEqual(["check:red-packets", "check:stuck"]);
    const runs = await env.CONTROL.prepare(
      "SELECT check_name, status, error FROM check_runs WHERE started_at_ms = ? ORDER BY check_name",
    )
      .bind(at)
      .all<{ check_name: string; status: string; error: string | null }>();
    expect(runs.results.map((r) => r.check_name)).toEqual(["channels", "red-packets", "stuck"]);
    expect(runs.results[0]).toMatchObject({ status: "failed", error: expect.stringContaining("on fire") });
    expect(runs.results.slice(1).map((r) => r.status)).not.toContain("failed");

    // The alerts job turns the failure into a check_failed incident (subject: the check).
    const target = await addTarget("generic");
    const rule = await addRule("checks", "check_failed", [target.id]);
    await evaluateAlerts(env, at, log);
    expect((await incidentsOf(rule.id)).map((i) => [i.subject, i.state])).toEqual([["channels", "open"]]);
    // A good run of the check resolves it (and the channel incidents it leaves alone meanwhile).
    await tick("channels", at + 60_000);
    expect((await incidentsOf(rule.id)).map((i) => [i.subject, i.state])).toEqual([["channels", "resolved"]]);
  });

  it("each check is its own cron job, the alerts job after them", () => {
    const names = CRON_JOBS.map((j) => j.name);
    const checks = CHECKS.map((c) => `check:${c.name}`);
    expect(names.slice(-checks.length - 1)).toEqual([...checks, "alerts"]);
  });

  it("the scheduled handler runs the due checks through the cron trigger", async () => {
    const at = NOW + 7 * 3_600_000;
    const infos = vi.spyOn(console, "log").mockImplementation(() => undefined);
    const warns = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    await worker.scheduled(createScheduledController({ scheduledTime: at, cron: "* * * * *" }), env);
    infos.mockRestore();
    warns.mockRestore();
    const { results } = await env.CONTROL.prepare("SELECT check_name FROM check_runs WHERE started_at_ms = ?")
      .bind(at)
      .all<{ check_name: string }>();
    // The minutely and five-minute checks are due in any new slot; the hourly ones in a new hour.
    expect(results.map((r) => r.check_name).sort()).toEqual(expect.arrayContaining(["channels", "stuck"]));
  });
});

describe("the statements check", () => {
  it("downloads and reconciles each enabled channel's statement for yesterday and the look-back days, and says which are not ready", async () => {
    const at = NOW + 9 * 24 * 3_600_000;
    const result = await runCheck(checkNamed("statements"), env, at, log, true);
    expect(result.ran).toBe(true);
    const figures = (
      result as {
        figures: { date: string; days: string[]; runs: Record<string, Record<string, Record<string, unknown>>> };
      }
    ).figures;
    expect(figures.days).toHaveLength(1 + STATEMENT_LOOKBACK_DAYS);
    expect(figures.days[0]).toBe(figures.date);
    // WeChat Pay: its trade bill applied for and downloaded from the double (a day without
    // trades there is an empty bill), reconciled into a stored run.
    const wechat = figures.runs.wechatpay?.[figures.date];
    expect(wechat).toMatchObject({ runId: expect.stringMatching(/^recon_/), unrepaired: 0 });
    const run = await env.CONTROL.prepare(
      "SELECT channel, statement_date, actor_id FROM reconciliation_runs WHERE id = ?",
    )
      .bind(wechat?.runId)
      .first();
    expect(run).toEqual({ channel: "wechatpay", statement_date: figures.date, actor_id: "system:checks" });
    // Alipay and Stripe have nothing this far ahead of their clocks: not ready, an info finding
    // per day, and on the look-back's last day a warning the default rules alert on
    // (test/integration/statement-downloads.test.ts covers the downloads themselves).
    const [latest] = await env.CONTROL.prepare(
      "SELECT findings FROM check_runs WHERE check_name = 'statements' AND started_at_ms = ?",
    )
      .bind(at)
      .all<{ findings: string }>()
      .then((r) => r.results);
    const findings = JSON.parse(latest?.findings ?? "[]") as { kind: string; subject: string; severity: string }[];
    for (const channel of ["alipay", "stripe"]) {
      expect(
        findings
          .filter((f) => f.kind.startsWith("statement_") && f.subject === channel)
          .map((f) => `${f.kind}/${f.severity}`),
      ).toEqual([
        "statement_overdue/warning",
        "statement_not_ready/info",
        "statement_not_ready/info",
        "statement_not_ready/info",
      ]);
    }
    // Reconciled days are not downloaded again: a second run the same day skips WeChat's.
    const again = await runCheck(checkNamed("statements"), env, at + 60_000, log, true);
    const againRuns = (again as { figures: { runs: Record<string, Record<string, unknown>> } }).figures.runs;
    expect(againRuns.wechatpay?.[figures.date]).toEqual({ skipped: "reconciled" });
  });
});

describe("alert targets and rules", () => {
  it("never show a target's URL or secret, and refuse unknown targets in rules", async () => {
    const t = await addTarget("wecom");
    const list = await call("GET", "/v1/admin/alert-targets", { token: await operatorToken() });
    expect(list.status).toBe(200);
    expect(JSON.stringify(list.body)).not.toContain(t.path);
    const bad = await call("POST", "/v1/admin/alert-rules", {
      token: await operatorToken(),
      body: {
        name: "x",
        check: "stuck",
        kind: "payout_stuck",
        severity: "warning",
        targetIds: ["atg_01JDEM00000000000000000000"],
      },
    });
    expect(bad.status).toBe(404);
    expect(bad.body.error.code).toBe("alert_target_not_found");
    const support = await call("GET", "/v1/admin/alert-targets", { token: await token("s", "support") });
    expect(support.status).toBe(403);
    const rules = await call("GET", "/v1/admin/alert-rules", { token: await operatorToken() });
    expect(rules.body.items.length).toBeGreaterThanOrEqual(13);
  });
});

describe("delivery", () => {
  /**
   * A failed run of `check` at `atMs`, and the alerts job after it. `atMs` is later than every
   * earlier test's runs, so that this run is the check's latest.
   */
  async function failedRun(check: string, atMs: number) {
    await recordCheckRun(env.CONTROL, {
      check,
      startedAtMs: atMs,
      finishedAtMs: atMs,
      findings: null,
      figures: undefined,
      error: `broken ${RUN}`,
    });
    return evaluateAlerts(env, atMs, log);
  }

  /** The messages to `targetId`, of `ruleId`'s incidents only when it is given (default rules send to every target). */
  async function deliveriesTo(targetId: string, ruleId?: string) {
    const { results } = await env.CONTROL.prepare(
      `SELECT d.event, d.state, d.attempts FROM alert_deliveries d JOIN alert_incidents i ON i.id = d.incident_id
       WHERE d.target_id = ? AND (? IS NULL OR i.rule_id = ?) ORDER BY d.created_at_ms, d.id`,
    )
      .bind(targetId, ruleId ?? null, ruleId ?? null)
      .all<{ event: string; state: string; attempts: number }>();
    return results;
  }

  it("retries a target that fails and delivers the message once when it answers", async () => {
    const target = await addTarget("generic", `r-${RUN}`);
    const rule = await addRule("checks", "check_failed", [target.id]);
    // The rule's own message (its name is in the body) fails twice in front of the receiver.
    await fetch(`${DOUBLES_ORIGIN}/hooks/fail`, {
      method: "POST",
      body: JSON.stringify({ count: 2, match: rule.name }),
    });
    await failedRun("statements", NOW + 20 * 24 * 3_600_000);
    const sent = await until(
      () => deliveriesTo(target.id, rule.id),
      (rows) => rows.some((r) => r.state === "sent"),
      40_000,
    );
    expect(sent).toEqual([{ event: "open", state: "sent", attempts: 3 }]);
    // Two 503s, then the one delivery; nothing after it.
    const got = (await received(target.path)).filter((r) => JSON.parse(r.body).rule === rule.name);
    expect(got).toHaveLength(3);
    expect(new Set(got.map((r) => JSON.parse(r.body).incidentId)).size).toBe(1);
  }, 60_000);

  it("rate-limits a target: opens beyond its hourly budget are recorded, not sent, and get no resolve", async () => {
    const res = await call("POST", "/v1/admin/alert-targets", {
      token: await operatorToken(),
      body: { name: "tight", kind: "slack", url: `https://hooks.test/slack/${RUN}-tight`, ratePerHour: 1 },
    });
    expect(res.status).toBe(201);
    const targetId = res.body.id as string;
    const first = await addRule("checks", "check_failed", [targetId]);
    const second = await addRule("checks", "check_failed", [targetId]);
    const at = NOW + 30 * 24 * 3_600_000;
    await failedRun("red-packets", at);
    // Every open to the target (this file's two rules', and the default check_failed rule's):
    // exactly one sent, the others recorded rate-limited.
    const opens = async () => (await deliveriesTo(targetId)).filter((r) => r.event === "open");
    const settled = await until(opens, (rows) => rows.length >= 2 && rows.every((r) => r.state !== "queued"), 30_000);
    expect(settled.filter((r) => r.state === "sent")).toHaveLength(1);
    expect(settled.filter((r) => r.state !== "sent").map((r) => r.state)).toEqual(
      Array(settled.length - 1).fill("rate_limited"),
    );
    expect(await received(`${RUN}-tight`)).toHaveLength(1);
    // The check runs clean: one resolve, for the incident whose open was sent, although the budget is spent.
    await recordCheckRun(env.CONTROL, {
      check: "red-packets",
      startedAtMs: at + 60_000,
      finishedAtMs: at + 60_000,
      findings: [],
      figures: undefined,
      error: null,
    });
    await evaluateAlerts(env, at + 60_000, log);
    const resolves = async () => (await deliveriesTo(targetId)).filter((r) => r.event === "resolve");
    const after = await until(resolves, (rows) => rows.length >= 1 && rows.every((r) => r.state !== "queued"), 30_000);
    expect(after.map((r) => r.state)).toEqual(["sent"]);
    const texts = (await received(`${RUN}-tight`)).map((r) => JSON.parse(r.body).text as string);
    expect(texts).toHaveLength(2);
    expect(texts[1]).toContain("[RESOLVED]");
    // (The earlier test left the statements check's latest run failed: that subject stays open.)
    for (const rule of [first, second]) {
      const mine = (await incidentsOf(rule.id)).filter((i) => i.subject === "red-packets");
      expect(mine.map((i) => i.state)).toEqual(["resolved"]);
    }
  }, 60_000);
});
