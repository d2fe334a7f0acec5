import type { Context } from "hono";
import { currentRiskSet, type RiskSet, recordDecision } from "../db/risk";
import type { ErrorCode } from "../domain/errors";
import { newId } from "../domain/ids";
import { formatIp, parseIp } from "../domain/risk/cidr";
import type { FiredRule, RiskSignals } from "../domain/risk/evaluate";
import { DEVICE_ID_PATTERN, type RiskAction, type RiskOutcome, ruleApplies } from "../domain/risk/rules";
import type { SocketSignals } from "../durable-objects/live-room.risk";
import { decideRisk, decisionRecord } from "../durable-objects/risk-decision";
import type { AppEnv } from "./context";
import { ApiError } from "./errors";

/** The header a client names its device with (docs/API.md): 1–128 of `A-Z a-z 0-9 . _ : -`. */
export const DEVICE_HEADER = "x-giftwire-device";

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

/**
 * What the edge knows of the client beyond its token: the device it names (the header, or for a
 * socket, which a browser cannot give headers, `?device=`), its address, country and ASN from
 * `request.cf`, and the token's adult flag. A room socket keeps these from its upgrade.
 */
export function clientSignalsOf(
  c: Context<AppEnv>,
  adult: boolean,
  device: string | undefined = c.req.header(DEVICE_HEADER),
) {
  const ip = parseIp(c.req.header("cf-connecting-ip") ?? "");
  const cf = (c.req.raw as { cf?: { country?: unknown; asn?: unknown } }).cf;
  const country = typeof cf?.country === "string" ? cf.country.toUpperCase() : null;
  return {
    deviceId: device !== undefined && DEVICE_ID_PATTERN.test(device) ? device : null,
    ip: ip === null ? null : formatIp(ip),
    country: country !== null && /^[A-Z0-9]{2}$/.test(country) ? country : null,
    asn: typeof cf?.asn === "number" && Number.isSafeInteger(cf.asn) && cf.asn >= 0 ? cf.asn : null,
    adult,
  } satisfies SocketSignals;
}

/** The edge's signals for this request (docs/ARCHITECTURE.md, Risk). */
export function signalsOf(c: Context<AppEnv>, ask: RiskAsk): RiskSignals {
  return {
    action: ask.action,
    userId: c.var.principal.userId,
    ...clientSignalsOf(c, c.var.principal.adult),
    amountMinor: ask.amountMinor,
    card: ask.card ?? null,
    payoutAccount: ask.payoutAccount ?? null,
    recipientId: ask.recipientId ?? null,
  };
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
  const decision = await decideRisk(c.env.RISK_DESK, signals, rules, risk.lists, nowMs);
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
  c.var.log.info("risk_decision", {
    id,
    userId: signals.userId,
    action: signals.action,
    outcome,
    rules: fired.map((f) => f.ruleId),
  });
  c.executionCtx.waitUntil(
    recordDecision(c.var.ledger, decisionRecord(id, signals, fired, outcome, nowMs)).catch((error: unknown) =>
      c.var.log.error("risk_decision_record_failed", { id, error: String(error) }),
    ),
  );
  return id;
}
