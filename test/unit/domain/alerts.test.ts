import { createHmac } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type AlertEvent,
  type AlertRule,
  alertRequest,
  type CheckFinding,
  type CheckResult,
  decideAlerts,
  deliveredBy,
  feishuSign,
  GENERIC_SIGNATURE_HEADER,
  genericSign,
  incidentKey,
  isDue,
  type OpenIncident,
  withinRate,
} from "../../../src/domain/alerts";

const finding = (kind: string, subject: string, value = 1): CheckFinding => ({
  kind,
  subject,
  value,
  severity: "warning",
  detail: `${kind} on ${subject}`,
});

const rule = (id: string, check: string, kind: string | null, threshold = 1): AlertRule => ({
  id,
  check,
  kind,
  threshold,
  severity: "critical",
});

/**
 * Runs the incident state machine the way the alerts job does: each run's decision applied to
 * the open set; returns every message that would be sent (open and resolve), in order.
 */
function simulate(rules: AlertRule[], runs: CheckResult[][]) {
  let open: OpenIncident[] = [];
  let n = 0;
  const messages: { event: "open" | "resolve"; key: string }[] = [];
  for (const results of runs) {
    const d = decideAlerts(rules, results, open);
    for (const id of d.resolve) {
      const inc = open.find((i) => i.id === id) as OpenIncident;
      messages.push({ event: "resolve", key: incidentKey(inc.ruleId, inc.subject) });
    }
    open = open.filter((i) => !d.resolve.includes(i.id));
    for (const o of d.open) {
      n += 1;
      open.push({ id: `inc${n}`, ruleId: o.ruleId, subject: o.subject });
      messages.push({ event: "open", key: o.key });
    }
  }
  return { messages, open };
}

const subjects = fc.constantFrom("wechatpay", "alipay", "wd_1", "wd_2");
const kinds = fc.constantFrom("channel_unhealthy", "payout_stuck");
const runArb = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.record({ kind: kinds, subject: subjects }), { maxLength: 6 }) },
  { weight: 1, arbitrary: fc.constant(null) },
);

describe("incident state", () => {
  const rules = [rule("r1", "stuck", "payout_stuck"), rule("r2", "channels", null)];
  const toResults = (run: { kind: string; subject: string }[] | null): CheckResult[] =>
    ["stuck", "channels"].map((check) => ({
      check,
      ok: run !== null,
      findings: run === null ? null : run.map((f) => finding(f.kind, f.subject)),
    }));

  it("per incident key, messages alternate open, resolve, open …, starting with open: a firing alert is sent once while open", () => {
    fc.assert(
      fc.property(fc.array(runArb, { maxLength: 25 }), (runs) => {
        const { messages } = simulate(rules, runs.map(toResults));
        const byKey = new Map<string, string[]>();
        for (const m of messages) byKey.set(m.key, [...(byKey.get(m.key) ?? []), m.event]);
        for (const events of byKey.values()) {
          events.forEach((e, i) => {
            expect(e).toBe(i % 2 === 0 ? "open" : "resolve");
          });
        }
      }),
    );
  });

  it("after any history, the open incidents are exactly what the last successful run fires", () => {
    fc.assert(
      fc.property(fc.array(runArb, { maxLength: 25 }), (runs) => {
        const { open } = simulate(rules, runs.map(toResults));
        const last = [...runs].reverse().find((r) => r !== null);
        const expected = new Set<string>();
        for (const f of last ?? []) {
          if (f.kind === "payout_stuck") expected.add(incidentKey("r1", f.subject));
          expected.add(incidentKey("r2", f.subject));
        }
        expect(new Set(open.map((i) => incidentKey(i.ruleId, i.subject)))).toEqual(expected);
      }),
    );
  });

  it("a check that threw neither opens nor resolves its incidents", () => {
    const open: OpenIncident[] = [{ id: "i1", ruleId: "r1", subject: "wd_1" }];
    const d = decideAlerts(rules, [{ check: "stuck", ok: false, findings: null }], open);
    expect(d).toEqual({ open: [], resolve: [] });
    // The same with the check absent (it has not run yet).
    expect(decideAlerts(rules, [], open)).toEqual({ open: [], resolve: [] });
    // Once it runs clean, the incident resolves.
    expect(decideAlerts(rules, [{ check: "stuck", ok: true, findings: [] }], open).resolve).toEqual(["i1"]);
  });

  it("fires a subject only when the sum of its matching values reaches the threshold", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ subject: subjects, value: fc.integer({ min: 0, max: 50 }) }), { maxLength: 10 }),
        fc.integer({ min: 1, max: 100 }),
        (fs, threshold) => {
          const r = rule("rate", "channels", "channel_error_rate", threshold);
          const findings = fs.map((f) => finding("channel_error_rate", f.subject, f.value));
          const d = decideAlerts([r], [{ check: "channels", ok: true, findings }], []);
          const sums = new Map<string, number>();
          for (const f of fs) sums.set(f.subject, (sums.get(f.subject) ?? 0) + f.value);
          const expected = [...sums].filter(([, v]) => v >= threshold).map(([s]) => s);
          expect(d.open.map((o) => o.subject).sort()).toEqual(expected.sort());
        },
      ),
    );
  });

  it("ignores findings of another kind or another check", () => {
    const d = decideAlerts(
      [rule("r1", "stuck", "payout_stuck")],
      [
        { check: "stuck", ok: true, findings: [finding("order_pending_stuck", "ord_1")] },
        { check: "channels", ok: true, findings: [finding("payout_stuck", "wd_9")] },
      ],
      [],
    );
    expect(d.open).toEqual([]);
  });
});

describe("rate limit", () => {
  it("sends at most perHour messages in any hour-long window", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 4 * 3_600_000 }), { maxLength: 80 }),
        fc.integer({ min: 1, max: 10 }),
        (attempts, perHour) => {
          const sent: number[] = [];
          for (const t of [...attempts].sort((a, b) => a - b)) if (withinRate(sent, t, perHour)) sent.push(t);
          for (const t of sent) {
            expect(sent.filter((s) => s > t - 3_600_000 && s <= t).length).toBeLessThanOrEqual(perHour);
          }
          // Nothing was refused that fit: each refused attempt had perHour sends in its last hour.
          for (const t of attempts) {
            if (!sent.includes(t)) {
              expect(sent.filter((s) => s > t - 3_600_000 && s <= t).length).toBeGreaterThanOrEqual(perHour);
            }
          }
        },
      ),
    );
  });
});

describe("target requests and signatures", () => {
  const event: AlertEvent = {
    event: "open",
    incidentId: "inc_1",
    rule: "payout stuck",
    subject: "wd_123",
    severity: "critical",
    summary: "payout_stuck: paying for 3 h",
    openedAtMs: 1_800_000_000_000,
    resolvedAtMs: null,
  };
  const NOW = 1_800_000_123_456;

  it("signs Feishu messages as Feishu documents: HMAC-SHA256 keyed by timestamp\\nsecret over nothing, base64", async () => {
    const secret = "feishu-secret-xyz";
    const req = await alertRequest("feishu", event, secret, NOW);
    const body = JSON.parse(req.body);
    const ts = Math.floor(NOW / 1000);
    expect(body.timestamp).toBe(String(ts));
    const independent = createHmac("sha256", `${ts}\n${secret}`).update("").digest("base64");
    expect(body.sign).toBe(independent);
    expect(await feishuSign(ts, secret)).toBe(independent);
    expect(body.msg_type).toBe("text");
    expect(body.content.text).toContain("wd_123");
    // Unsigned when the bot has no secret.
    expect(JSON.parse((await alertRequest("feishu", event, null, NOW)).body).sign).toBeUndefined();
  });

  it("signs generic JSON with HMAC-SHA256 over t.body in a header, and a changed body no longer matches", async () => {
    const secret = "generic-secret";
    const req = await alertRequest("generic", event, secret, NOW);
    const header = req.headers[GENERIC_SIGNATURE_HEADER] as string;
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header) ?? [];
    expect(Number(t)).toBe(Math.floor(NOW / 1000));
    expect(v1).toBe(createHmac("sha256", secret).update(`${t}.${req.body}`).digest("hex"));
    expect(await genericSign(Number(t), secret, `${req.body} `)).not.toBe(header);
    expect(JSON.parse(req.body)).toMatchObject({ event: "open", incidentId: "inc_1", subject: "wd_123" });
  });

  it("formats Slack text and WeCom markdown, resolve messages saying so", async () => {
    const slack = JSON.parse((await alertRequest("slack", event, null, NOW)).body);
    expect(slack.text).toContain("[CRITICAL] payout stuck: wd_123");
    const resolved = { ...event, event: "resolve" as const, resolvedAtMs: NOW };
    const wecom = JSON.parse((await alertRequest("wecom", resolved, null, NOW)).body);
    expect(wecom.msgtype).toBe("markdown");
    expect(wecom.markdown.content).toContain("[RESOLVED] payout stuck: wd_123");
  });

  it("counts Feishu's and WeCom's 200-with-error-code answers as failures", () => {
    expect(deliveredBy("feishu", 200, '{"code":0,"msg":"success"}')).toBe(true);
    expect(deliveredBy("feishu", 200, '{"code":19021,"msg":"sign match fail"}')).toBe(false);
    expect(deliveredBy("wecom", 200, '{"errcode":45009,"errmsg":"api freq out of limit"}')).toBe(false);
    expect(deliveredBy("wecom", 200, '{"errcode":0,"errmsg":"ok"}')).toBe(true);
    expect(deliveredBy("slack", 200, "ok")).toBe(true);
    expect(deliveredBy("generic", 500, "")).toBe(false);
  });
});

describe("check schedules", () => {
  const HOUR = 3_600_000;
  // A UTC+8 business day, as localDayStartMs gives it for Asia/Shanghai.
  const dayStart = (at: number) => Math.floor((at + 8 * HOUR) / (24 * HOUR)) * 24 * HOUR - 8 * HOUR;

  it("runs an interval check once per aligned slot, whatever the ticks", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 10 * HOUR }), { minLength: 1, maxLength: 60 }),
        fc.constantFrom(60_000, 5 * 60_000, HOUR),
        (ticks, everyMs) => {
          let last: number | null = null;
          const ran: number[] = [];
          for (const t of [...ticks].sort((a, b) => a - b)) {
            if (isDue({ everyMs }, last, t, dayStart)) {
              ran.push(t);
              last = t;
            }
          }
          const slots = ran.map((t) => Math.floor(t / everyMs));
          expect(new Set(slots).size).toBe(slots.length);
          // Every slot that had a tick ran.
          expect(new Set(slots)).toEqual(new Set(ticks.map((t) => Math.floor(t / everyMs))));
        },
      ),
    );
  });

  it("runs a daily check once per business day, from its hour", () => {
    const day = Date.UTC(2026, 11, 1) - 8 * HOUR; // 2026-12-01 00:00 in Shanghai
    const schedule = { dailyFromHour: 10 };
    expect(isDue(schedule, null, day + 9 * HOUR, dayStart)).toBe(false);
    expect(isDue(schedule, null, day + 10 * HOUR, dayStart)).toBe(true);
    expect(isDue(schedule, day + 10 * HOUR, day + 23 * HOUR, dayStart)).toBe(false);
    // Ran yesterday after ten: due again today from ten, not before.
    expect(isDue(schedule, day + 10 * HOUR, day + 33 * HOUR, dayStart)).toBe(false);
    expect(isDue(schedule, day + 10 * HOUR, day + 34 * HOUR, dayStart)).toBe(true);
  });
});
