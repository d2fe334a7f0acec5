/**
 * Risk on claims that arrive on the room's sockets (issue 16). A socket carries the signals the
 * Worker saw when it opened (user, device, IP, country, ASN, adult: `SocketSignals`, in the
 * attachment), so a `packet.claim` frame is decided like an HTTP claim without a request to read
 * them from. The decision is the Worker's (`decideRisk`): the rules and lists from the isolate's
 * copy (no read when it is fresh), desks only when a rule needs one. The room asks only for a
 * claim it would admit — a repeat, an exhausted or expired packet is answered without risk, so a
 * storm's losers cost nothing here — and the claim is written only after (its checks run again
 * in the claim's own transaction).
 */

import { z } from "zod";
import { currentRiskSet, recordDecision } from "../db/risk";
import { openLedger } from "../db/shards";
import { newId } from "../domain/ids";
import type { RiskSignals } from "../domain/risk/evaluate";
import { DEVICE_ID_PATTERN, type RiskOutcome, ruleApplies } from "../domain/risk/rules";
import { configFrom } from "../platform/config";
import type { Logger } from "../platform/logger";
import { decideRisk, decisionRecord } from "./risk-decision";

/** The header the Worker sets on a socket's upgrade (it strips any `x-giftwire-*` the client sent). */
export const RISK_SIGNALS_HEADER = "x-giftwire-risk";

/** What the edge knew of the socket's client when it opened, as risk reads it. */
export const SocketSignals = z.strictObject({
  deviceId: z.string().regex(DEVICE_ID_PATTERN).nullable(),
  ip: z.string().max(64).nullable(),
  country: z
    .string()
    .regex(/^[A-Z0-9]{2}$/)
    .nullable(),
  asn: z.number().int().min(0).nullable(),
  adult: z.boolean(),
});
export type SocketSignals = z.infer<typeof SocketSignals>;

/** A socket without signals (opened before they were captured): only the user is known. */
const UNKNOWN: SocketSignals = { deviceId: null, ip: null, country: null, asn: null, adult: false };

/** Reads the header the Worker set; absent or malformed: nothing known beyond the user. */
export function readSocketSignals(header: string | null): SocketSignals | null {
  if (header === null) return null;
  try {
    const parsed = SocketSignals.safeParse(JSON.parse(header));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

const CODES = { block: "risk_blocked", review: "risk_review", challenge: "risk_challenge" } as const;
export type RiskRefusalCode = (typeof CODES)[RiskOutcome];

export interface RiskRefusal {
  readonly code: RiskRefusalCode;
  readonly decisionId: string;
}

/**
 * Decides a socket claim (`packet_claim`): null when it may go on, else the refusal, recorded in
 * the claimer's ledger shard after the answer. A challenge refuses too: a claim carries no PIN.
 */
export async function socketClaimRisk(
  env: Env,
  log: Logger,
  waitUntil: (p: Promise<unknown>) => void,
  userId: string,
  socket: SocketSignals | null,
): Promise<RiskRefusal | null> {
  const nowMs = Date.now();
  const set = await currentRiskSet(env.CONTROL, configFrom(env).switchCacheTtlMs, nowMs);
  const rules = set.rules.filter((r) => r.enabled && r.kind !== "cash_out_chain" && ruleApplies(r, "packet_claim"));
  if (rules.length === 0) return null;
  const signals: RiskSignals = {
    action: "packet_claim",
    userId,
    ...(socket ?? UNKNOWN),
    amountMinor: null,
    card: null,
    payoutAccount: null,
    recipientId: null,
  };
  const decision = await decideRisk(env.RISK_DESK, signals, rules, set.lists, nowMs);
  if (decision.outcome === "allow") return null;
  const id = newId("rsk", nowMs);
  log.info("risk_decision", {
    id,
    userId,
    action: "packet_claim",
    outcome: decision.outcome,
    rules: decision.fired.map((f) => f.ruleId),
    via: "socket",
  });
  waitUntil(
    openLedger(env)
      .then((ledger) =>
        recordDecision(ledger, decisionRecord(id, signals, decision.fired, decision.outcome as RiskOutcome, nowMs)),
      )
      .catch((error: unknown) => log.error("risk_decision_record_failed", { id, error: String(error) })),
  );
  return { code: CODES[decision.outcome], decisionId: id };
}
