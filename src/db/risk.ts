/**
 * Risk data (issue 16): the rules and lists in the control database (`risk_rules`,
 * `risk_list_entries`), this isolate's cached copy of them, and the decision records in the
 * actors' ledger shards (`risk_decisions`).
 *
 * The copy is read again at most once per TTL (the switches' `SWITCH_CACHE_TTL_MS`, ≤ 5 s), so
 * a rule change is honoured everywhere within `LIMITS.switchPropagationMaxMs`. It also keeps
 * the gift prices (a gift tip's amount is known at the edge without a read per tip).
 */

import { LIMITS } from "../domain/limits";
import { compileLists, type FiredRule, type RiskLists } from "../domain/risk/evaluate";
import {
  type ListKind,
  RISK_LIMITS,
  type RiskAction,
  type RiskDecisionOutcome,
  type RiskRule,
  RiskRuleSchema,
} from "../domain/risk/rules";
import type { Ledger } from "./shards";

export interface RiskSet {
  readonly rules: readonly RiskRule[];
  readonly lists: RiskLists;
  readonly giftPricesMinor: ReadonlyMap<string, number>;
  readonly loadedAtMs: number;
}

const GIFTS_READ_MAX = 1_000;

export async function readRiskSet(control: D1Database, nowMs: number): Promise<RiskSet> {
  const [rules, entries, gifts] = await control.batch([
    control.prepare("SELECT rule FROM risk_rules ORDER BY id LIMIT ?").bind(RISK_LIMITS.rulesMax),
    control.prepare("SELECT kind, value FROM risk_list_entries LIMIT ?").bind(RISK_LIMITS.listEntriesMax),
    control.prepare("SELECT id, price_minor FROM gifts LIMIT ?").bind(GIFTS_READ_MAX),
  ]);
  return {
    rules: ((rules?.results ?? []) as { rule: string }[]).map((r) => RiskRuleSchema.parse(JSON.parse(r.rule))),
    lists: compileLists((entries?.results ?? []) as { kind: ListKind; value: string }[]),
    giftPricesMinor: new Map(
      ((gifts?.results ?? []) as { id: string; price_minor: number }[]).map((g) => [g.id, g.price_minor]),
    ),
    loadedAtMs: nowMs,
  };
}

/** This isolate's copy (module state), and the read under way, so a burst of requests reads once. */
let cached: RiskSet | null = null;
let loading: Promise<RiskSet> | null = null;
/** Tests only: rules and lists this isolate decides with, whatever the store says. */
let pinned: Pick<RiskSet, "rules" | "lists"> | null = null;

export async function currentRiskSet(control: D1Database, ttlMs: number, nowMs: number = Date.now()): Promise<RiskSet> {
  const set = cached !== null && nowMs - cached.loadedAtMs < ttlMs ? cached : await reload(control, nowMs);
  return pinned === null ? set : { ...set, ...pinned };
}

function reload(control: D1Database, nowMs: number): Promise<RiskSet> {
  loading ??= readRiskSet(control, nowMs)
    .then((set) => {
      cached = set;
      return set;
    })
    .finally(() => {
      loading = null;
    });
  return loading;
}

export const riskCache = {
  /**
   * Tests only: this isolate decides with `rules` and `entries` until `forget()`, without
   * writing the store. Integration tests share one control database across files, so a rule
   * for every tip written there would refuse other files' tips; pinned in the test's own
   * isolate, it decides only the requests that isolate serves (as `switchCache.pinForTests`).
   */
  pinForTests(rules: readonly RiskRule[], entries: readonly { kind: ListKind; value: string }[] = []): void {
    pinned = { rules, lists: compileLists(entries) };
  },
  /** Drops the copy (and any pin): the next decision reads the store. */
  forget(): void {
    pinned = null;
    cached = null;
  },
};

/** When a change made now is honoured by every isolate. */
export function riskEffectiveByMs(nowMs: number): number {
  return nowMs + LIMITS.switchPropagationMaxMs;
}

export interface RiskRuleRow {
  readonly rule: RiskRule;
  readonly updatedBy: string;
  readonly updatedAtMs: number;
}

export async function readRule(control: D1Database, id: string): Promise<RiskRuleRow | null> {
  const row = await control
    .prepare("SELECT rule, updated_by, updated_at_ms FROM risk_rules WHERE id = ?")
    .bind(id)
    .first<{ rule: string; updated_by: string; updated_at_ms: number }>();
  return row === null
    ? null
    : { rule: RiskRuleSchema.parse(JSON.parse(row.rule)), updatedBy: row.updated_by, updatedAtMs: row.updated_at_ms };
}

export async function listRules(control: D1Database): Promise<RiskRuleRow[]> {
  const { results } = await control
    .prepare("SELECT rule, updated_by, updated_at_ms FROM risk_rules ORDER BY id LIMIT ?")
    .bind(RISK_LIMITS.rulesMax)
    .all<{ rule: string; updated_by: string; updated_at_ms: number }>();
  return results.map((row) => ({
    rule: RiskRuleSchema.parse(JSON.parse(row.rule)),
    updatedBy: row.updated_by,
    updatedAtMs: row.updated_at_ms,
  }));
}

/** Writes a rule (new or replacing one of the same id); refused past `rulesMax` rules. */
export function putRuleStatement(control: D1Database, rule: RiskRule, actorId: string, nowMs: number) {
  return control
    .prepare(
      `INSERT INTO risk_rules (id, kind, outcome, enabled, rule, updated_by, updated_at_ms)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
       WHERE (SELECT COUNT(*) FROM risk_rules) < ?8 OR EXISTS (SELECT 1 FROM risk_rules WHERE id = ?1)
       ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, outcome = excluded.outcome, enabled = excluded.enabled,
         rule = excluded.rule, updated_by = excluded.updated_by, updated_at_ms = excluded.updated_at_ms`,
    )
    .bind(
      rule.id,
      rule.kind,
      rule.outcome,
      rule.enabled ? 1 : 0,
      JSON.stringify(rule),
      actorId,
      nowMs,
      RISK_LIMITS.rulesMax,
    );
}

export interface RiskListEntryRow {
  readonly kind: ListKind;
  readonly value: string;
  readonly reason: string;
  readonly addedBy: string;
  readonly addedAtMs: number;
}

export async function listEntries(
  control: D1Database,
  kind: ListKind | null,
  limit: number,
): Promise<RiskListEntryRow[]> {
  const { results } = await control
    .prepare(
      `SELECT kind, value, reason, added_by, added_at_ms FROM risk_list_entries
       WHERE ?1 IS NULL OR kind = ?1 ORDER BY added_at_ms DESC, kind, value LIMIT ?2`,
    )
    .bind(kind, limit)
    .all<{ kind: ListKind; value: string; reason: string; added_by: string; added_at_ms: number }>();
  return results.map((r) => ({
    kind: r.kind,
    value: r.value,
    reason: r.reason,
    addedBy: r.added_by,
    addedAtMs: r.added_at_ms,
  }));
}

export interface RiskDecisionRecord {
  readonly id: string;
  readonly userId: string;
  readonly action: RiskAction;
  readonly outcome: Exclude<RiskDecisionOutcome, "allow">;
  readonly fired: readonly FiredRule[];
  readonly amountMinor: number | null;
  readonly signalsDigest: string;
  readonly deviceId: string | null;
  readonly ip: string | null;
  readonly atMs: number;
}

export async function recordDecision(ledger: Ledger, record: RiskDecisionRecord): Promise<void> {
  await ledger
    .forOwner(record.userId)
    .db.prepare(
      `INSERT INTO risk_decisions (id, user_id, action, outcome, rule_ids, fired, amount_minor, signals_digest, device_id, ip, at_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    )
    .bind(
      record.id,
      record.userId,
      record.action,
      record.outcome,
      JSON.stringify(record.fired.map((f) => f.ruleId)),
      JSON.stringify(record.fired),
      record.amountMinor,
      record.signalsDigest,
      record.deviceId,
      record.ip,
      record.atMs,
    )
    .run();
}

interface DecisionRow {
  id: string;
  user_id: string;
  action: RiskAction;
  outcome: Exclude<RiskDecisionOutcome, "allow">;
  fired: string;
  amount_minor: number | null;
  signals_digest: string;
  device_id: string | null;
  ip: string | null;
  at_ms: number;
}

/**
 * The newest decisions (of one user, or everyone's), newest first, before `beforeMs`: every
 * shard is read (a user's older decisions stay in the shard they were made in if their bucket
 * moved) and the pages merged.
 */
export async function listDecisions(
  ledger: Ledger,
  filter: { userId: string | null; beforeMs: number; limit: number },
): Promise<RiskDecisionRecord[]> {
  const pages = await Promise.all(
    ledger.shards.map(async (shard) => {
      const { results } = await shard.db
        .prepare(
          `SELECT * FROM risk_decisions WHERE (?1 IS NULL OR user_id = ?1) AND at_ms < ?2
           ORDER BY at_ms DESC, id DESC LIMIT ?3`,
        )
        .bind(filter.userId, filter.beforeMs, filter.limit)
        .all<DecisionRow>();
      return results;
    }),
  );
  return pages
    .flat()
    .sort((a, b) => b.at_ms - a.at_ms || (a.id < b.id ? 1 : -1))
    .slice(0, filter.limit)
    .map((r) => ({
      id: r.id,
      userId: r.user_id,
      action: r.action,
      outcome: r.outcome,
      fired: JSON.parse(r.fired) as FiredRule[],
      amountMinor: r.amount_minor,
      signalsDigest: r.signals_digest,
      deviceId: r.device_id,
      ip: r.ip,
      atMs: r.at_ms,
    }));
}
