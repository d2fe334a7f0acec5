/**
 * The alerts job, after the checks in every cron tick: the latest run of each check and the
 * enabled rules decide which incidents open and which resolve (domain/alerts.ts); each change
 * is stored with its messages (db/alerts.ts), and messages not yet on the ALERTS queue are
 * put there (queues/alerts.ts sends them). A check whose latest run threw fires `check_failed`
 * (pseudo-check `checks`, subject = the check's name) and leaves its own incidents as they are.
 * An incident whose rule was disabled or deleted resolves.
 */

import {
  applyDecision,
  checkResultOf,
  deliveriesToQueue,
  latestCheckRuns,
  listRules,
  listTargets,
  markQueued,
  openIncidents,
  ruleOf,
} from "../../db/alerts";
import { type CheckResult, decideAlerts } from "../../domain/alerts";
import type { Logger } from "../../platform/logger";
import type { AlertMessage } from "../queues/alerts";
import { CHECKS } from "./registry";

/** The pseudo-check whose findings are the other checks' failures. */
export const CHECKS_META = "checks";

/** Messages put on the queue per run (sendBatch's limit); the rest go next minute. */
const QUEUE_PER_RUN = 100;

export async function evaluateAlerts(
  env: Env,
  nowMs: number,
  log: Logger,
  checkNames: readonly string[] = CHECKS.map((c) => c.name),
): Promise<{ opened: number; resolved: number; queued: number }> {
  const db = env.CONTROL;
  const runs = await latestCheckRuns(db, checkNames);
  const results: CheckResult[] = runs.map(checkResultOf);
  results.push({
    check: CHECKS_META,
    ok: true,
    findings: runs
      .filter((r) => r.status === "failed")
      .map((r) => ({
        kind: "check_failed",
        severity: "critical" as const,
        subject: r.check_name,
        value: 1,
        detail: (r.error ?? "threw").slice(0, 300),
      })),
  });
  const [ruleRows, targets, open] = await Promise.all([listRules(db), listTargets(db), openIncidents(db)]);
  const rules = ruleRows.filter((r) => r.enabled === 1);
  const enabledTargets = targets.filter((t) => t.enabled === 1).map((t) => t.id);
  const targetsByRule = new Map(
    rules.map((r) => {
      const named = r.target_ids === null ? null : (JSON.parse(r.target_ids) as string[]);
      return [r.id, named === null ? enabledTargets : enabledTargets.filter((t) => named.includes(t))];
    }),
  );
  const decision = decideAlerts(rules.map(ruleOf), results, open);
  const live = new Set(rules.map((r) => r.id));
  const orphaned = open.filter((i) => !live.has(i.ruleId)).map((i) => i.id);
  const { opened, resolved } = await applyDecision(
    db,
    { open: decision.open, resolve: [...decision.resolve, ...orphaned] },
    (ruleId) => targetsByRule.get(ruleId) ?? [],
    nowMs,
  );
  if (opened + resolved > 0) log.warn("alert_incidents_changed", { opened, resolved });

  const due = await deliveriesToQueue(db, nowMs, QUEUE_PER_RUN);
  if (due.length > 0) {
    await env.ALERTS.sendBatch(due.map((deliveryId) => ({ body: { deliveryId } satisfies AlertMessage })));
    await markQueued(db, due, nowMs);
  }
  return { opened, resolved, queued: due.length };
}
