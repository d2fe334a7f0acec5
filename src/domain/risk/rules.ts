/**
 * Risk rules as data (issue 16): what operators write through /v1/admin/risk/rules, kept in the
 * control database, parsed with these schemas wherever they cross a boundary. Each rule has an
 * id, an outcome it imposes when it fires (allowing is what happens when nothing fires), and an
 * enabled flag. Lists (blacklists, country and ASN block lists) are separate data: a rule of
 * kind `blacklist` or `geo_block` names which list it reads.
 */

import { z } from "zod";
import { formatCidr, formatIp, parseCidr, parseIp } from "./cidr";

/** The money paths risk is asked about. */
export const RISK_ACTIONS = ["tip", "topup", "packet_send", "packet_claim", "withdrawal", "unlock"] as const;
export type RiskAction = (typeof RISK_ACTIONS)[number];

/** What a fired rule imposes, weakest first; `allow` is the decision when none fires. */
export const RISK_OUTCOMES = ["challenge", "review", "block"] as const;
export type RiskOutcome = (typeof RISK_OUTCOMES)[number];
export type RiskDecisionOutcome = "allow" | RiskOutcome;

const STRENGTH: Record<RiskDecisionOutcome, number> = { allow: 0, challenge: 1, review: 2, block: 3 };

export function strength(outcome: RiskDecisionOutcome): number {
  return STRENGTH[outcome];
}

export function stronger(a: RiskDecisionOutcome, b: RiskDecisionOutcome): RiskDecisionOutcome {
  return STRENGTH[a] >= STRENGTH[b] ? a : b;
}

/** A client's device id (the `X-Giftwire-Device` header, docs/API.md): 1–128 of `A-Z a-z 0-9 . _ : -`. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** Whose attempts a velocity rule counts: the user, the device, the IP address, or its /24 (v6: /64). */
export const VELOCITY_SCOPES = ["user", "device", "ip", "ip24"] as const;
export type VelocityScope = (typeof VELOCITY_SCOPES)[number];

export const BLACKLIST_KINDS = ["user", "device", "ip", "cidr", "card", "payout_account"] as const;
export type BlacklistKind = (typeof BLACKLIST_KINDS)[number];
export const GEO_KINDS = ["country", "asn"] as const;
export type GeoKind = (typeof GEO_KINDS)[number];
export const LIST_KINDS = [...BLACKLIST_KINDS, ...GEO_KINDS] as const;
export type ListKind = (typeof LIST_KINDS)[number];

/** Bounds on rules: a velocity window of at most a day, counting at most 1000 attempts. */
export const RISK_LIMITS = {
  rulesMax: 200,
  listEntriesMax: 10_000,
  velocityCountMax: 1_000,
  velocityWindowMaxSec: 86_400,
  /** `cash_out_chain`: the creator's income window, at most a week. */
  cashOutWindowMaxSec: 604_800,
  /** `device_accounts`: at most this many accounts allowed on one device, remembered per desk. */
  deviceAccountsMax: 100,
  /** Distinct accounts a device's desk remembers (the stalest is forgotten first). */
  deviceAccountsRemembered: 200,
  /** Recipients a user's desk remembers for `circular_tipping` (the stalest is forgotten first). */
  recipientsRemembered: 200,
  newUserDaysMax: 365,
  historyFactorMax: 1_000,
  /** Amounts per action a user's desk remembers for `amount_vs_history` (the newest ones). */
  historyLength: 50,
  historyMinDefault: 5,
  ruleIdMaxLength: 64,
  reasonMaxLength: 500,
  listValueMaxLength: 128,
} as const;

const RuleId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]*$/, "lower-case letters, digits, _ . -")
  .max(RISK_LIMITS.ruleIdMaxLength);
const Action = z.enum(RISK_ACTIONS);
const MaxMinor = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

const common = {
  id: RuleId,
  outcome: z.enum(RISK_OUTCOMES),
  enabled: z.boolean(),
  description: z.string().max(RISK_LIMITS.reasonMaxLength).default(""),
};

export const RiskRuleSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    ...common,
    kind: z.literal("velocity"),
    action: Action,
    scope: z.enum(VELOCITY_SCOPES),
    count: z.number().int().min(1).max(RISK_LIMITS.velocityCountMax),
    windowSec: z.number().int().min(1).max(RISK_LIMITS.velocityWindowMaxSec),
  }),
  z.strictObject({
    ...common,
    kind: z.literal("amount_cap"),
    action: Action,
    maxMinor: MaxMinor,
    /** Only users first seen fewer than this many days ago; absent: everyone. */
    newUserDays: z.number().int().min(1).max(RISK_LIMITS.newUserDaysMax).optional(),
  }),
  z.strictObject({ ...common, kind: z.literal("unverified_adult_cap"), maxMinor: MaxMinor }),
  z.strictObject({ ...common, kind: z.literal("blacklist"), list: z.enum(BLACKLIST_KINDS) }),
  z.strictObject({ ...common, kind: z.literal("geo_block"), list: z.enum(GEO_KINDS) }),
  z.strictObject({
    ...common,
    kind: z.literal("amount_vs_history"),
    action: Action,
    /** Fires when the amount exceeds `factor` × the user's own median (or average) of this action. */
    factor: z.number().int().min(1).max(RISK_LIMITS.historyFactorMax),
    stat: z.enum(["median", "average"]),
    /** Fewer remembered amounts than this: no history yet, the rule stays quiet. */
    minHistory: z.number().int().min(1).max(RISK_LIMITS.historyLength).default(RISK_LIMITS.historyMinDefault),
  }),
  z.strictObject({
    ...common,
    /** Holds the withdrawal for review (`risk_cash_out_chain`), or refuses it (`risk_blocked`). */
    outcome: z.enum(["review", "block"]),
    kind: z.literal("cash_out_chain"),
    /** The creator's income looked at: tips received in the last `windowSec`. */
    windowSec: z.number().int().min(60).max(RISK_LIMITS.cashOutWindowMaxSec),
    /** A tip is fresh money when its payer had a payment credited at most this long before it. */
    freshSec: z.number().int().min(1).max(RISK_LIMITS.velocityWindowMaxSec),
    /** Fires when fresh money is at least this share of the income (basis points)… */
    minShareBps: z.number().int().min(1).max(10_000),
    /** …of an income of at least this much (small incomes never fire). */
    minMinor: MaxMinor,
  }),
  z.strictObject({
    ...common,
    kind: z.literal("device_accounts"),
    action: Action,
    /** Fires when the device has been used by more than this many distinct accounts… */
    maxAccounts: z.number().int().min(1).max(RISK_LIMITS.deviceAccountsMax),
    /** …within this window (the device's desk remembers when it last saw each account). */
    windowSec: z.number().int().min(1).max(RISK_LIMITS.cashOutWindowMaxSec),
  }),
  z.strictObject({
    ...common,
    kind: z.literal("circular_tipping"),
    /** Fires on a tip to someone who tipped the payer within the last `windowSec`. */
    windowSec: z.number().int().min(1).max(RISK_LIMITS.cashOutWindowMaxSec),
  }),
]);
export type RiskRule = z.infer<typeof RiskRuleSchema>;
export type RiskRuleKind = RiskRule["kind"];
export type VelocityRule = Extract<RiskRule, { kind: "velocity" }>;

/** Which actions a rule applies to (blacklists and geo blocks: every action; the adult cap: tips). */
export function ruleApplies(rule: RiskRule, action: RiskAction): boolean {
  switch (rule.kind) {
    case "velocity":
    case "amount_cap":
    case "amount_vs_history":
    case "device_accounts":
      return rule.action === action;
    case "cash_out_chain":
      return action === "withdrawal";
    case "unverified_adult_cap":
    case "circular_tipping":
      return action === "tip";
    case "blacklist":
    case "geo_block":
      return true;
  }
}

/** A list entry's value, normalized, or why it is not one (the admin route refuses it). */
export function normalizeListValue(
  kind: ListKind,
  value: string,
): { ok: true; value: string } | { ok: false; why: string } {
  const v = value.trim();
  if (v.length === 0 || v.length > RISK_LIMITS.listValueMaxLength) return { ok: false, why: "empty or too long" };
  switch (kind) {
    case "ip": {
      const ip = parseIp(v);
      return ip === null ? { ok: false, why: "not an IP address" } : { ok: true, value: formatIp(ip) };
    }
    case "cidr": {
      const c = parseCidr(v);
      return c === null
        ? { ok: false, why: "not a CIDR block with zero host bits" }
        : { ok: true, value: formatCidr(c) };
    }
    case "country":
      return /^[A-Za-z]{2}$/.test(v)
        ? { ok: true, value: v.toUpperCase() }
        : { ok: false, why: "not a two-letter country code" };
    case "asn":
      return /^[1-9][0-9]{0,9}$/.test(v) ? { ok: true, value: v } : { ok: false, why: "not an AS number" };
    default:
      return { ok: true, value: v };
  }
}
