import type { Context } from "hono";
import { currentRiskSet, type RiskSet, recordDecision } from "../db/risk";
import { canonicalJson } from "../domain/audit-chain";
import type { ErrorCode } from "../domain/errors";
import { newId } from "../domain/ids";
import { formatIp, neighbourhoodOf, parseIp } from "../domain/risk/cidr";
import { evaluate, type FiredRule, type RiskDecision, type RiskSignals, type RiskState } from "../domain/risk/evaluate";
import {
  type RiskAction,
  type RiskOutcome,
  type RiskRule,
  ruleApplies,
  type VelocityScope,
} from "../domain/risk/rules";
import { sha256, toHex } from "../domain/sha256";
import type { DeskAnswer } from "../durable-objects/risk-desk";
import type { AppEnv } from "./context";
import { ApiError } from "./errors";

/** The header a client names its device with (docs/API.md): 1–128 of `A-Z a-z 0-9 . _ : -`. */
export const DEVICE_HEADER = "x-giftwire-device";
const DEVICE_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** What the route knows of the attempt before it runs. */
export interface RiskAsk {
  readonly action: RiskAction;
  readonly amountMinor: number | null;
  readonly card?: string | null;
  readonly payoutAccount?: string | null;
  /** The payer's payment PIN was verified for this attempt: a challenge is answered. */
  readonly pinVerified?: boolean;
  /** Whom the attempt pays (a tip: the room's creator), for `circular_tipping`. */
  readonly recipientId?: string | null;
  /**
   * The caller can hold the attempt with its money until an operator decides (a wallet tip:
   * operations/tip-hold.ts): a `review` is returned to it rather than refused.
   */
  readonly holdable?: boolean;
}

/** A `review` the caller holds: the recorded decision's id and the rules that fired. */
export interface RiskReview {
  readonly decisionId: string;
  readonly fired: readonly FiredRule[];
}

const CODES: Record<RiskOutcome, ErrorCode> = {
  block: "risk_blocked",
  review: "risk_review",
  challenge: "risk_challenge",
};

/** The edge's signals for this request (docs/ARCHITECTURE.md, Risk). */
export function signalsOf(c: Context<AppEnv>, ask: RiskAsk): RiskSignals {
  const device = c.req.header(DEVICE_HEADER);
  const ip = parseIp(c.req.header("cf-connecting-ip") ?? "");
  const cf = (c.req.raw as { cf?: { country?: unknown; asn?: unknown } }).cf;
  return {
    action: ask.action,
    userId: c.var.principal.userId,
    deviceId: device !== undefined && DEVICE_PATTERN.test(device) ? device : null,
    ip: ip === null ? null : formatIp(ip),
    country: typeof cf?.country === "string" ? cf.country.toUpperCase() : null,
    asn: typeof cf?.asn === "number" ? cf.asn : null,
    adult: c.var.principal.adult,
    amountMinor: ask.amountMinor,
    card: ask.card ?? null,
    payoutAccount: ask.payoutAccount ?? null,
    recipientId: ask.recipientId ?? null,
  };
}

/** Rules whose answer depends on what a desk holds (counts, first-seen time, history). */
function needsDesk(rule: RiskRule): boolean {
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
async function deskState(env: Env, signals: RiskSignals, rules: readonly RiskRule[]): Promise<RiskState> {
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
      ? await env.RISK_DESK.getByName(`user:${recipient}`).lastTipped(signals.userId)
      : null;
  const answers = await Promise.all(
    [...byDesk].map(
      ([name, desk]): Promise<DeskAnswer> =>
        env.RISK_DESK.getByName(name).assess({
          signals,
          rules: desk.rules,
          user: desk.user,
          recipientTippedPayerAtMs,
        }),
    ),
  );
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
 * Decides this attempt, and refuses it unless the decision is allow: `risk_blocked`,
 * `risk_review` (held for review) or `risk_challenge` (retry with the payment PIN), each
 * recorded in the actor's shard after the answer. Nothing has moved when it throws. A
 * `review` of a holdable attempt (`ask.holdable`: a wallet tip) is returned instead, for the
 * caller to hold with its money; null is allow. With no enabled rule for the action it costs
 * one cached lookup (none when the caller passes the set it read); rules that need no desk are
 * decided in memory first, and a block there asks no desk (a blacklisted device never counts
 * against anyone's window).
 */
export async function assessRisk(c: Context<AppEnv>, ask: RiskAsk, set?: RiskSet): Promise<RiskReview | null> {
  const nowMs = Date.now();
  const risk = set ?? (await currentRiskSet(c.var.ledger.control, c.var.config.switchCacheTtlMs, nowMs));
  // The cash-out chain is read from the ledger by the withdrawal request itself (risk-cash-out.ts).
  const rules = risk.rules.filter((r) => r.enabled && r.kind !== "cash_out_chain" && ruleApplies(r, ask.action));
  if (rules.length === 0) return null;
  const signals = signalsOf(c, ask);
  const inMemory = rules.filter((r) => !needsDesk(r));
  let decision: RiskDecision = evaluate(
    signals,
    { velocityCounts: new Map(), firstSeenAtMs: null, history: [] },
    inMemory,
    risk.lists,
    nowMs,
  );
  const desks = rules.filter(needsDesk);
  if (decision.outcome !== "block" && desks.length > 0) {
    const state = await deskState(c.env, signals, desks);
    decision = evaluate(signals, state, rules, risk.lists, nowMs);
  }
  if (decision.outcome === "allow") return null;
  if (decision.outcome === "challenge" && ask.pinVerified === true) {
    c.var.log.info("risk_challenge_answered", { userId: signals.userId, action: ask.action });
    return null;
  }
  const outcome = decision.outcome;
  const id = recordRiskDecision(c, signals, decision.fired, outcome, nowMs);
  if (outcome === "review" && ask.holdable === true) return { decisionId: id, fired: decision.fired };
  throw new ApiError(CODES[outcome], undefined, { decisionId: id });
}

/** Logs the decision and records it in the actor's shard after the answer; its id. */
export function recordRiskDecision(
  c: Context<AppEnv>,
  signals: RiskSignals,
  fired: readonly FiredRule[],
  outcome: RiskOutcome,
  nowMs: number,
): string {
  const id = newId("rsk", nowMs);
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
  c.var.log.info("risk_decision", {
    id,
    userId: signals.userId,
    action: signals.action,
    outcome,
    rules: fired.map((f) => f.ruleId),
  });
  c.executionCtx.waitUntil(
    recordDecision(c.var.ledger, {
      id,
      userId: signals.userId,
      action: signals.action,
      outcome,
      fired: fired,
      amountMinor: signals.amountMinor,
      signalsDigest: digest,
      deviceId: signals.deviceId,
      ip: signals.ip,
      atMs: nowMs,
    }).catch((error: unknown) => c.var.log.error("risk_decision_record_failed", { id, error: String(error) })),
  );
  return id;
}
