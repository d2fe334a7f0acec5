/**
 * The risk decision: signals of one attempt (who, from where, how much), the state the desks
 * hold for it (velocity counts, first-seen time, amount history), the rules and the lists →
 * `allow`, or the strongest outcome among the rules that fired (block > review > challenge),
 * with every fired rule and why. Each rule fires or not on its own, independently of the
 * others, so adding a rule can only strengthen a decision (a property test holds this).
 * Pure: the clock is passed in.
 */

import { type Cidr, cidrContains, parseCidr, parseIp } from "./cidr";
import {
  type BLACKLIST_KINDS,
  type ListKind,
  type RiskAction,
  type RiskDecisionOutcome,
  type RiskRule,
  ruleApplies,
  stronger,
} from "./rules";

export interface RiskSignals {
  readonly action: RiskAction;
  readonly userId: string;
  /** The client's `x-giftwire-device` header, when it sent one. */
  readonly deviceId: string | null;
  /** CF-Connecting-IP, as the edge saw it. */
  readonly ip: string | null;
  /** `request.cf.country` / `request.cf.asn` (absent locally). */
  readonly country: string | null;
  readonly asn: number | null;
  /** The token's `adult: true` claim: the host verified the user is an adult. */
  readonly adult: boolean;
  /** What the attempt moves, in minor units, when known before it runs. */
  readonly amountMinor: number | null;
  /** A card fingerprint or payout account id, on the paths that have one. */
  readonly card: string | null;
  readonly payoutAccount: string | null;
  /** Whom the attempt pays (a tip: the room's creator), when known; null otherwise. */
  readonly recipientId?: string | null;
}

/** What the desks know for this attempt (docs/ARCHITECTURE.md, Risk). */
export interface RiskState {
  /** Attempts counted in each velocity rule's window before this one, by rule id. */
  readonly velocityCounts: ReadonlyMap<string, number>;
  /** When the user's desk first saw the user (null: not asked). */
  readonly firstSeenAtMs: number | null;
  /** The user's remembered amounts for this action, oldest first. */
  readonly history: readonly number[];
  /**
   * For each `device_accounts` rule, by id: the distinct accounts the device's desk saw in the
   * rule's window, this attempt's user included. Absent: not asked (the rule stays quiet).
   */
  readonly deviceAccounts?: ReadonlyMap<string, number>;
  /** When the recipient last tipped this payer, as the recipient's desk remembers (null: never, or not asked). */
  readonly recipientTippedPayerAtMs?: number | null;
}

export const NO_STATE: RiskState = { velocityCounts: new Map(), firstSeenAtMs: null, history: [] };

export interface RiskListEntry {
  readonly kind: ListKind;
  readonly value: string;
}

/** The lists in the shape the evaluation reads: sets, and the parsed CIDR blocks. */
export interface RiskLists {
  readonly sets: ReadonlyMap<ListKind, ReadonlySet<string>>;
  readonly cidrs: readonly Cidr[];
}

export function compileLists(entries: readonly RiskListEntry[]): RiskLists {
  const sets = new Map<ListKind, Set<string>>();
  const cidrs: Cidr[] = [];
  for (const e of entries) {
    if (e.kind === "cidr") {
      const c = parseCidr(e.value);
      if (c !== null) cidrs.push(c);
      continue;
    }
    const set = sets.get(e.kind) ?? new Set<string>();
    set.add(e.value);
    sets.set(e.kind, set);
  }
  return { sets, cidrs };
}

export const NO_LISTS: RiskLists = compileLists([]);

export interface FiredRule {
  readonly ruleId: string;
  readonly outcome: RiskDecisionOutcome;
  /** A stable word for what fired (`velocity`, `blacklist:device`…). */
  readonly reason: string;
  /** In a sentence, with the numbers. */
  readonly detail: string;
}

export interface RiskDecision {
  readonly outcome: RiskDecisionOutcome;
  readonly fired: readonly FiredRule[];
}

const DAY_MS = 86_400_000;

/** The median as [numerator, denominator]: the middle value, or the sum of the two middle ones over 2. */
function median(values: readonly number[]): [number, number] {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? [sorted[mid] ?? 0, 1] : [(sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0), 2];
}

/** The value the signals carry for a blacklist kind (null: the attempt has none). */
function blacklistValue(kind: (typeof BLACKLIST_KINDS)[number], s: RiskSignals): string | null {
  switch (kind) {
    case "user":
      return s.userId;
    case "device":
      return s.deviceId;
    case "ip":
    case "cidr":
      return s.ip;
    case "card":
      return s.card;
    case "payout_account":
      return s.payoutAccount;
  }
}

/** Why `rule` fires for this attempt, or null when it does not. */
export function firing(
  rule: RiskRule,
  signals: RiskSignals,
  state: RiskState,
  lists: RiskLists,
  nowMs: number,
): { reason: string; detail: string } | null {
  if (!rule.enabled || !ruleApplies(rule, signals.action)) return null;
  const amount = signals.amountMinor;
  switch (rule.kind) {
    case "velocity": {
      const counted = state.velocityCounts.get(rule.id) ?? 0;
      if (counted < rule.count) return null;
      return {
        reason: `velocity:${rule.scope}`,
        detail: `${rule.count} ${rule.action} attempts per ${rule.windowSec} s per ${rule.scope} already reached`,
      };
    }
    case "amount_cap": {
      if (amount === null || amount <= rule.maxMinor) return null;
      if (rule.newUserDays !== undefined) {
        // A user no desk has seen yet is new (first seen now).
        const firstSeen = state.firstSeenAtMs ?? nowMs;
        if (nowMs - firstSeen >= rule.newUserDays * DAY_MS) return null;
      }
      return {
        reason: rule.newUserDays === undefined ? "amount_cap" : "amount_cap:new_user",
        detail: `${amount} above the cap of ${rule.maxMinor}${rule.newUserDays === undefined ? "" : ` for users newer than ${rule.newUserDays} days`}`,
      };
    }
    case "unverified_adult_cap":
      if (signals.adult || amount === null || amount <= rule.maxMinor) return null;
      return { reason: "unverified_adult_cap", detail: `${amount} above ${rule.maxMinor} without a verified adult` };
    case "blacklist": {
      const value = blacklistValue(rule.list, signals);
      if (value === null) return null;
      if (rule.list === "cidr") {
        const ip = parseIp(value);
        if (ip === null) return null;
        const block = lists.cidrs.find((c) => cidrContains(c, ip));
        return block === undefined ? null : { reason: "blacklist:cidr", detail: `IP ${value} in a blocked range` };
      }
      if (!(lists.sets.get(rule.list)?.has(value) ?? false)) return null;
      return { reason: `blacklist:${rule.list}`, detail: `${rule.list} ${value} is on the blacklist` };
    }
    case "geo_block": {
      const value = rule.list === "country" ? signals.country : signals.asn === null ? null : String(signals.asn);
      if (value === null || !(lists.sets.get(rule.list)?.has(value) ?? false)) return null;
      return { reason: `geo_block:${rule.list}`, detail: `${rule.list} ${value} is blocked` };
    }
    case "amount_vs_history": {
      if (amount === null || state.history.length < rule.minHistory) return null;
      // The typical amount as a fraction, compared in integers: no float decides about money.
      const [num, den] =
        rule.stat === "median"
          ? median(state.history)
          : [state.history.reduce((a, b) => a + b, 0), state.history.length];
      if (amount * den <= rule.factor * num) return null;
      return {
        reason: "amount_vs_history",
        detail: `${amount} above ${rule.factor} × the user's ${rule.stat} of ${Math.floor(num / den)}`,
      };
    }
    case "device_accounts": {
      const seen = state.deviceAccounts?.get(rule.id) ?? 0;
      if (seen <= rule.maxAccounts) return null;
      return {
        reason: "device_accounts",
        detail: `device ${signals.deviceId} used by ${seen} accounts in ${rule.windowSec} s (at most ${rule.maxAccounts})`,
      };
    }
    case "circular_tipping": {
      const at = state.recipientTippedPayerAtMs ?? null;
      if (at === null || nowMs - at > rule.windowSec * 1000) return null;
      return {
        reason: "circular_tipping",
        detail: `${signals.recipientId} tipped ${signals.userId} ${Math.max(0, Math.round((nowMs - at) / 1000))} s ago (window ${rule.windowSec} s)`,
      };
    }
    case "cash_out_chain":
      // Decided from the ledger by the withdrawal request (src/worker/risk-cash-out.ts).
      return null;
  }
}

export function evaluate(
  signals: RiskSignals,
  state: RiskState,
  rules: readonly RiskRule[],
  lists: RiskLists,
  nowMs: number,
): RiskDecision {
  let outcome: RiskDecisionOutcome = "allow";
  const fired: FiredRule[] = [];
  for (const rule of rules) {
    const why = firing(rule, signals, state, lists, nowMs);
    if (why === null) continue;
    outcome = stronger(outcome, rule.outcome);
    fired.push({ ruleId: rule.id, outcome: rule.outcome, ...why });
  }
  return { outcome, fired };
}
