/**
 * One risk decision, wherever it is asked: the Worker for HTTP money actions (src/worker/risk.ts)
 * and the room for claims that arrive on its sockets (live-room.risk.ts). Rules that need no
 * desk (blacklists, geo blocks, plain amount caps) are decided in memory first, and a block there
 * asks no desk; otherwise the desks the attempt needs are asked in parallel, once, and the whole
 * rule set is evaluated on what they hold (docs/adr/0014-risk-desks-per-subject.md).
 */

import type { RiskDecisionRecord } from "../db/risk";
import { canonicalJson } from "../domain/audit-chain";
import { neighbourhoodOf, parseIp } from "../domain/risk/cidr";
import {
  evaluate,
  type FiredRule,
  type RiskDecision,
  type RiskLists,
  type RiskSignals,
  type RiskState,
} from "../domain/risk/evaluate";
import type { RiskOutcome, RiskRule, VelocityScope } from "../domain/risk/rules";
import { sha256, toHex } from "../domain/sha256";
import type { DeskAnswer } from "./risk-desk";

/** Rules whose answer depends on what a desk holds (counts, first-seen time, history). */
export function needsDesk(rule: RiskRule): boolean {
  return (
    rule.kind === "velocity" ||
    rule.kind === "device_accounts" ||
    rule.kind === "circular_tipping" ||
    rule.kind === "amount_vs_history" ||
    (rule.kind === "amount_cap" && rule.newUserDays !== undefined)
  );
}

function subjectOf(scope: VelocityScope, s: RiskSignals): string | null {
  switch (scope) {
    case "user":
      return s.userId;
    case "device":
      return s.deviceId;
    case "ip":
      return s.ip;
    case "ip24": {
      const ip = s.ip === null ? null : parseIp(s.ip);
      return ip === null ? null : neighbourhoodOf(ip);
    }
  }
}

/** Asks the desks this attempt needs, in parallel, and merges what they hold. */
async function deskState(
  desks: Env["RISK_DESK"],
  signals: RiskSignals,
  rules: readonly RiskRule[],
): Promise<RiskState> {
  const byDesk = new Map<string, { user: boolean; rules: RiskRule[] }>();
  const userDesk = `user:${signals.userId}`;
  for (const rule of rules) {
    let name = userDesk;
    if (rule.kind === "velocity") {
      const subject = subjectOf(rule.scope, signals);
      if (subject === null) continue;
      name = `${rule.scope}:${subject}`;
    } else if (rule.kind === "device_accounts") {
      // No device header: no device to have seen accounts, the rule stays quiet.
      if (signals.deviceId === null) continue;
      name = `device:${signals.deviceId}`;
    }
    const desk = byDesk.get(name) ?? { user: name === userDesk, rules: [] };
    desk.rules.push(rule);
    byDesk.set(name, desk);
  }
  // Circular tipping: the recipient's desk remembers whom it tipped.
  const recipient = signals.recipientId ?? null;
  // Asked first (one more round, only with such a rule): the payer's desk then decides the rule
  // and remembers the recipient only for a tip it admits (a refused tip back is no tip).
  const recipientTippedPayerAtMs =
    recipient !== null && recipient !== signals.userId && rules.some((r) => r.kind === "circular_tipping")
      ? await desks.getByName(`user:${recipient}`).lastTipped(signals.userId)
      : null;
  // The device's rules ride on the user's desk, which decides them when it holds the device's
  // lease (nearly always: one round trip); otherwise the device's desk is asked after it, and may
  // lend the user's desk its counters for the next attempts (risk-desk.ts, ADR 0018).
  const deviceName = signals.deviceId === null ? null : `device:${signals.deviceId}`;
  const device = deviceName === null ? undefined : byDesk.get(deviceName);
  if (deviceName !== null && device !== undefined) {
    byDesk.delete(deviceName);
    if (!byDesk.has(userDesk)) byDesk.set(userDesk, { user: true, rules: [] });
  }
  const ask = (name: string, desk: { user: boolean; rules: RiskRule[] }): Promise<DeskAnswer> =>
    desks.getByName(name).assess({
      signals,
      rules: desk.rules,
      user: desk.user,
      recipientTippedPayerAtMs,
      ...(name === userDesk && device !== undefined ? { deviceRules: device.rules } : {}),
    });
  const answers = await Promise.all([...byDesk].map(([name, desk]) => ask(name, desk)));
  const userAnswer = answers.find((a) => a.deviceDecided !== undefined);
  if (deviceName !== null && device !== undefined && userAnswer?.deviceDecided !== true) {
    const answer = await desks.getByName(deviceName).assess({
      signals,
      rules: device.rules,
      user: false,
      recipientTippedPayerAtMs,
      lessee: signals.userId,
    });
    answers.push(answer);
    // Declined or lost, the device's desk takes it back at the next attempt there: safe either way.
    if (answer.lease !== undefined)
      await desks
        .getByName(userDesk)
        .acceptLease(answer.lease)
        .catch(() => false);
  }
  const velocityCounts = new Map<string, number>();
  const deviceAccounts = new Map<string, number>();
  let firstSeenAtMs: number | null = null;
  let history: readonly number[] = [];
  for (const answer of answers) {
    for (const [ruleId, n] of Object.entries(answer.counts)) velocityCounts.set(ruleId, n);
    for (const [ruleId, n] of Object.entries(answer.accounts)) deviceAccounts.set(ruleId, n);
    if (answer.firstSeenAtMs !== null) {
      firstSeenAtMs = answer.firstSeenAtMs;
      history = answer.history;
    }
  }
  return { velocityCounts, firstSeenAtMs, history, deviceAccounts, recipientTippedPayerAtMs };
}

/**
 * The decision on one attempt under `rules` (already filtered to the enabled ones that apply to
 * its action). Costs no round trip when no rule needs a desk, or when an in-memory rule blocks.
 */
export async function decideRisk(
  desks: Env["RISK_DESK"],
  signals: RiskSignals,
  rules: readonly RiskRule[],
  lists: RiskLists,
  nowMs: number,
): Promise<RiskDecision> {
  const inMemory = rules.filter((r) => !needsDesk(r));
  const decision = evaluate(
    signals,
    { velocityCounts: new Map(), firstSeenAtMs: null, history: [] },
    inMemory,
    lists,
    nowMs,
  );
  if (decision.outcome === "block" || inMemory.length === rules.length) return decision;
  const state = await deskState(desks, signals, rules.filter(needsDesk));
  return evaluate(signals, state, rules, lists, nowMs);
}

/** The record of a decision other than allow, as `recordDecision` writes it in the actor's shard. */
export function decisionRecord(
  id: string,
  signals: RiskSignals,
  fired: readonly FiredRule[],
  outcome: RiskOutcome,
  nowMs: number,
): RiskDecisionRecord {
  const digest = toHex(
    sha256(
      new TextEncoder().encode(
        canonicalJson({
          deviceId: signals.deviceId,
          ip: signals.ip,
          country: signals.country,
          asn: signals.asn,
          adult: signals.adult,
        }),
      ),
    ),
  );
  return {
    id,
    userId: signals.userId,
    action: signals.action,
    outcome,
    fired,
    amountMinor: signals.amountMinor,
    signalsDigest: digest,
    deviceId: signals.deviceId,
    ip: signals.ip,
    atMs: nowMs,
  };
}
