/**
 * Scheduled checks' runs and alerting's state in the control database: check_runs,
 * alert_rules, alert_targets, alert_incidents, alert_deliveries (schema/control.ts). The
 * decisions are domain/alerts.ts'; this file stores them so that each one is applied once:
 * at most one open incident per key (a partial unique index), at most one message per
 * incident, event and target (a unique index), each written before it is queued.
 */

import {
  type AlertDecision,
  type AlertRule,
  type CheckFinding,
  type CheckResult,
  type OpenIncident,
  SEVERITIES,
  type Severity,
  TARGET_KINDS,
  type TargetKind,
} from "../domain/alerts";
import { newId } from "../domain/ids";
import { LIMITS } from "../domain/limits";

export interface CheckRunRow {
  id: string;
  check_name: string;
  started_at_ms: number;
  finished_at_ms: number;
  status: "ok" | "findings" | "failed";
  finding_count: number;
  findings: string;
  figures: string | null;
  error: string | null;
}

export async function recordCheckRun(
  db: D1Database,
  run: {
    check: string;
    startedAtMs: number;
    finishedAtMs: number;
    findings: readonly CheckFinding[] | null;
    figures: unknown;
    error: string | null;
  },
): Promise<string> {
  const id = newId("chk", run.startedAtMs);
  const status = run.findings === null ? "failed" : run.findings.length === 0 ? "ok" : "findings";
  await db.batch([
    db
      .prepare(
        `INSERT INTO check_runs (id, check_name, started_at_ms, finished_at_ms, status, finding_count, findings, figures, error)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .bind(
        id,
        run.check,
        run.startedAtMs,
        run.finishedAtMs,
        status,
        run.findings?.length ?? 0,
        JSON.stringify((run.findings ?? []).slice(0, LIMITS.checkFindingsStoredMax)),
        run.figures === undefined ? null : JSON.stringify(run.figures),
        run.error?.slice(0, 1_000) ?? null,
      ),
    db
      .prepare("DELETE FROM check_runs WHERE check_name = ? AND started_at_ms < ?")
      .bind(run.check, run.startedAtMs - LIMITS.checkRunRetentionMs),
  ]);
  return id;
}

/** The latest run of each named check (those never run are absent). */
export async function latestCheckRuns(db: D1Database, checks: readonly string[]): Promise<CheckRunRow[]> {
  if (checks.length === 0) return [];
  const rows = await db.batch<CheckRunRow>(
    checks.map((c) =>
      db.prepare("SELECT * FROM check_runs WHERE check_name = ? ORDER BY started_at_ms DESC, id DESC LIMIT 1").bind(c),
    ),
  );
  return rows.flatMap((r) => r.results ?? []);
}

export function checkResultOf(row: CheckRunRow): CheckResult {
  return {
    check: row.check_name,
    ok: row.status !== "failed",
    findings: row.status === "failed" ? null : (JSON.parse(row.findings) as CheckFinding[]),
  };
}

export interface RuleRow {
  id: string;
  name: string;
  check_name: string;
  kind: string | null;
  threshold: number;
  severity: Severity;
  target_ids: string | null;
  enabled: number;
  updated_by: string;
  updated_at_ms: number;
}

export interface TargetRow {
  id: string;
  name: string;
  kind: TargetKind;
  sealed: string;
  key_id: string;
  url_hint: string;
  has_secret: number;
  rate_per_hour: number;
  enabled: number;
  created_by: string;
  created_at_ms: number;
  updated_at_ms: number;
}

export const ruleOf = (r: RuleRow): AlertRule => ({
  id: r.id,
  check: r.check_name,
  kind: r.kind,
  threshold: r.threshold,
  severity: SEVERITIES.includes(r.severity) ? r.severity : "critical",
});

export async function listRules(db: D1Database): Promise<RuleRow[]> {
  return (await db.prepare("SELECT * FROM alert_rules ORDER BY id").all<RuleRow>()).results;
}

export async function listTargets(db: D1Database): Promise<TargetRow[]> {
  const rows = (await db.prepare("SELECT * FROM alert_targets ORDER BY id").all<TargetRow>()).results;
  return rows.filter((t) => TARGET_KINDS.includes(t.kind));
}

export async function openIncidents(db: D1Database): Promise<(OpenIncident & { openedAtMs: number })[]> {
  const { results } = await db
    .prepare(
      "SELECT id, rule_id, subject, opened_at_ms FROM alert_incidents WHERE state = 'open' ORDER BY opened_at_ms",
    )
    .all<{ id: string; rule_id: string; subject: string; opened_at_ms: number }>();
  return results.map((r) => ({ id: r.id, ruleId: r.rule_id, subject: r.subject, openedAtMs: r.opened_at_ms }));
}

const deliveryId = (incidentId: string, event: "open" | "resolve", targetId: string) =>
  `${incidentId}:${event}:${targetId}`;

/**
 * Applies a decision: each incident to open is inserted with a message per target of its rule
 * (none if another run opened that key first), each to resolve is closed with a resolve
 * message to every target its opening message was not rate-limited at. One batch per
 * incident, so an incident never exists without its messages. Returns the counts changed.
 */
export async function applyDecision(
  db: D1Database,
  decision: AlertDecision,
  targetsOf: (ruleId: string) => readonly string[],
  nowMs: number,
): Promise<{ opened: number; resolved: number }> {
  let opened = 0;
  let resolved = 0;
  for (const o of decision.open) {
    const id = newId("inc", nowMs);
    const [insert] = await db.batch([
      db
        .prepare(
          `INSERT OR IGNORE INTO alert_incidents (id, incident_key, rule_id, subject, severity, state, summary, value, opened_at_ms)
           VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?)`,
        )
        .bind(id, o.key, o.ruleId, o.subject, o.severity, o.summary.slice(0, 1_000), Math.round(o.value), nowMs),
      ...targetsOf(o.ruleId).map((t) =>
        db
          .prepare(
            `INSERT OR IGNORE INTO alert_deliveries (id, incident_id, event, target_id, state, created_at_ms)
             SELECT ?, ?, 'open', ?, 'queued', ? WHERE EXISTS (SELECT 1 FROM alert_incidents WHERE id = ?)`,
          )
          .bind(deliveryId(id, "open", t), id, t, nowMs, id),
      ),
    ]);
    opened += insert?.meta.changes ?? 0;
  }
  for (const id of decision.resolve) {
    const [update] = await db.batch([
      db
        .prepare("UPDATE alert_incidents SET state = 'resolved', resolved_at_ms = ? WHERE id = ? AND state = 'open'")
        .bind(nowMs, id),
      db
        .prepare(
          `INSERT OR IGNORE INTO alert_deliveries (id, incident_id, event, target_id, state, created_at_ms)
           SELECT incident_id || ':resolve:' || target_id, incident_id, 'resolve', target_id, 'queued', ?
           FROM alert_deliveries WHERE incident_id = ? AND event = 'open' AND state <> 'rate_limited'`,
        )
        .bind(nowMs, id),
    ]);
    resolved += update?.meta.changes ?? 0;
  }
  return { opened, resolved };
}

/** Deliveries to put on the queue: never queued, or queued long enough ago that the send was lost. */
export async function deliveriesToQueue(db: D1Database, nowMs: number, limit: number): Promise<string[]> {
  const { results } = await db
    .prepare(
      `SELECT id FROM alert_deliveries WHERE state = 'queued' AND (queued_at_ms IS NULL OR queued_at_ms <= ?)
       ORDER BY created_at_ms LIMIT ?`,
    )
    .bind(nowMs - LIMITS.alertDeliveryRequeueAfterMs, limit)
    .all<{ id: string }>();
  return results.map((r) => r.id);
}

export async function markQueued(db: D1Database, ids: readonly string[], nowMs: number): Promise<void> {
  if (ids.length === 0) return;
  await db
    .prepare("UPDATE alert_deliveries SET queued_at_ms = ? WHERE id IN (SELECT value FROM json_each(?))")
    .bind(nowMs, JSON.stringify(ids))
    .run();
}

export interface DeliveryRow {
  id: string;
  incident_id: string;
  event: "open" | "resolve";
  target_id: string;
  state: "queued" | "sent" | "rate_limited" | "failed";
  attempts: number;
  rule_name: string | null;
  subject: string;
  severity: Severity;
  summary: string;
  opened_at_ms: number;
  resolved_at_ms: number | null;
}

export async function findDelivery(db: D1Database, id: string): Promise<DeliveryRow | null> {
  return db
    .prepare(
      `SELECT d.id, d.incident_id, d.event, d.target_id, d.state, d.attempts,
         r.name AS rule_name, i.subject, i.severity, i.summary, i.opened_at_ms, i.resolved_at_ms
       FROM alert_deliveries d JOIN alert_incidents i ON i.id = d.incident_id
       LEFT JOIN alert_rules r ON r.id = i.rule_id WHERE d.id = ?`,
    )
    .bind(id)
    .first<DeliveryRow>();
}

export async function findTarget(db: D1Database, id: string): Promise<TargetRow | null> {
  return db.prepare("SELECT * FROM alert_targets WHERE id = ?").bind(id).first<TargetRow>();
}

/** When the target was last sent open messages (what its rate limit counts), within the last hour. */
export async function sentWithinHour(db: D1Database, targetId: string, nowMs: number): Promise<number[]> {
  const { results } = await db
    .prepare(
      "SELECT sent_at_ms FROM alert_deliveries WHERE target_id = ? AND event = 'open' AND state = 'sent' AND sent_at_ms > ?",
    )
    .bind(targetId, nowMs - 3_600_000)
    .all<{ sent_at_ms: number }>();
  return results.map((r) => r.sent_at_ms);
}

/** Moves a queued delivery to its outcome; false if it was no longer queued (a redelivery). */
export async function settleDelivery(
  db: D1Database,
  id: string,
  outcome: { state: "sent" | "rate_limited" | "failed" | "queued"; error: string | null; nowMs: number },
): Promise<boolean> {
  const res = await db
    .prepare(
      `UPDATE alert_deliveries SET state = ?, attempts = attempts + ?, last_error = ?,
         sent_at_ms = CASE WHEN ? = 'sent' THEN ? ELSE sent_at_ms END
       WHERE id = ? AND state = 'queued'`,
    )
    .bind(
      outcome.state,
      outcome.state === "rate_limited" ? 0 : 1,
      outcome.error?.slice(0, 300) ?? null,
      outcome.state,
      outcome.nowMs,
      id,
    )
    .run();
  return res.meta.changes > 0;
}

export interface IncidentView {
  id: string;
  rule_id: string;
  rule_name: string | null;
  subject: string;
  severity: Severity;
  state: "open" | "resolved";
  summary: string;
  value: number;
  opened_at_ms: number;
  resolved_at_ms: number | null;
}

export async function listIncidents(
  db: D1Database,
  state: "open" | "resolved",
  limit: number,
): Promise<IncidentView[]> {
  const { results } = await db
    .prepare(
      `SELECT i.*, r.name AS rule_name FROM alert_incidents i LEFT JOIN alert_rules r ON r.id = i.rule_id
       WHERE i.state = ? ORDER BY i.opened_at_ms DESC LIMIT ?`,
    )
    .bind(state, limit)
    .all<IncidentView>();
  return results;
}

/** Deliveries by state, for the health summary (a growing `queued` or `failed` count is itself a problem). */
export async function deliveryCounts(db: D1Database): Promise<Record<string, number>> {
  const { results } = await db
    .prepare("SELECT state, COUNT(*) AS n FROM alert_deliveries WHERE state IN ('queued', 'failed') GROUP BY state")
    .all<{ state: string; n: number }>();
  return Object.fromEntries(results.map((r) => [r.state, r.n]));
}
