/**
 * A risk desk: one Durable Object per subject a velocity rule counts — `user:{id}`,
 * `device:{id}`, `ip:{addr}`, `ip24:{block}` — holding that subject's sliding windows in
 * memory (docs/adr/0014-risk-desks-per-subject.md). The Worker asks the desks an attempt needs,
 * in parallel, once per attempt; a desk answers its counts and records the attempt in the same
 * turn (test-and-record: one object is single-threaded, so concurrent attempts of one subject
 * are admitted exactly up to each rule's count). A user's desk also keeps when it first saw the
 * user and the user's recent amounts per action (for `amount_cap.newUserDays` and
 * `amount_vs_history`), and a device's desk the accounts it saw and when (`device_accounts`, at
 * most `RISK_LIMITS.deviceAccountsRemembered` of them); and a user's desk whom the user tipped
 * and when (`circular_tipping`, at most `RISK_LIMITS.recipientsRemembered`).
 *
 * State is memory: the windows (bounded: `SlidingWindows`' capacity per action) and the amounts
 * (`RISK_LIMITS.historyLength` per action) are never written; only the first-seen time is, once
 * per subject. One `kv` read when the object wakes. A desk is evicted only after it has been idle,
 * so a window shorter than that idle time loses nothing; a longer one starts again after an
 * eviction (docs/adr/0013). Writing the windows per attempt cost 80% of the tip rate in
 * bench/tips.ts.
 */

import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { evaluate, NO_LISTS, type RiskState } from "../domain/risk/evaluate";
import { RISK_ACTIONS, RISK_LIMITS, type RiskAction, RiskRuleSchema } from "../domain/risk/rules";
import { SlidingWindows } from "../domain/risk/window";

const DeskSignals = z.strictObject({
  action: z.enum(RISK_ACTIONS),
  userId: z.string().min(1).max(64),
  deviceId: z.string().max(128).nullable(),
  ip: z.string().max(64).nullable(),
  country: z.string().max(8).nullable(),
  asn: z.number().int().nullable(),
  adult: z.boolean(),
  amountMinor: z.number().int().min(0).nullable(),
  card: z.string().max(RISK_LIMITS.listValueMaxLength).nullable(),
  payoutAccount: z.string().max(RISK_LIMITS.listValueMaxLength).nullable(),
  recipientId: z.string().min(1).max(64).nullable().optional(),
});

export const DeskAsk = z.strictObject({
  signals: DeskSignals,
  /**
   * The rules this desk decides: the velocity rules of its scope for the action, and on a
   * user's desk also the rules that read the user's first-seen time or history. The attempt is
   * recorded only when none of them fires.
   */
  rules: z.array(RiskRuleSchema).max(RISK_LIMITS.rulesMax),
  /** True on a user's desk: answer first-seen and history, and keep them. */
  user: z.boolean(),
  /** When the tip's recipient last tipped this payer (its own desk answered), for `circular_tipping`. */
  recipientTippedPayerAtMs: z.number().int().nullable().optional(),
});
export type DeskAsk = z.input<typeof DeskAsk>;

export interface DeskAnswer {
  readonly admitted: boolean;
  /** Attempts in each rule's window before this one, by rule id. */
  readonly counts: Readonly<Record<string, number>>;
  /** On a device's desk, per `device_accounts` rule: distinct accounts in its window, this one included. */
  readonly accounts: Readonly<Record<string, number>>;
  readonly firstSeenAtMs: number | null;
  /** The user's remembered amounts of this action, oldest first (before this one). */
  readonly history: readonly number[];
}

const FIRST_SEEN_KEY = "firstSeenAtMs";

/** Notes `key` as seen at `atMs`, keeping at most `max` keys (insertion order is recency). */
function remember(seen: Map<string, number>, key: string, atMs: number, max: number): void {
  seen.delete(key);
  seen.set(key, atMs);
  for (const stalest of seen.keys()) {
    if (seen.size <= max) break;
    seen.delete(stalest);
  }
}

export class RiskDesk extends DurableObject<Env> {
  /** One key per action; each ring holds at most the largest count asked about (≤ velocityCountMax). */
  private readonly windows = new SlidingWindows(1, 1, RISK_ACTIONS.length);
  private firstSeenAtMs: number | null = null;
  private readonly history = new Map<RiskAction, number[]>();
  /**
   * On a device's desk: when it last admitted an attempt of each account, at most
   * `RISK_LIMITS.deviceAccountsRemembered` (insertion order is recency: the stalest goes first).
   */
  private readonly accountsSeen = new Map<string, number>();
  /** On a user's desk: whom the user last tipped and when (`circular_tipping`), bounded like accountsSeen. */
  private readonly recipients = new Map<string, number>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // The one storage read on wake.
    this.firstSeenAtMs = ctx.storage.kv.get<number>(FIRST_SEEN_KEY) ?? null;
  }

  /** When this desk's user last tipped `userId` (`circular_tipping`, asked of the recipient's desk); null: not remembered. */
  lastTipped(userId: string): number | null {
    return this.recipients.get(userId) ?? null;
  }

  assess(raw: DeskAsk): DeskAnswer {
    const ask = DeskAsk.parse(raw);
    const { action, amountMinor } = ask.signals;
    const nowMs = Date.now();
    const history = this.history.get(action) ?? [];
    let firstSeenChanged = false;
    if (ask.user && this.firstSeenAtMs === null) {
      this.firstSeenAtMs = nowMs;
      firstSeenChanged = true;
    }
    const limits = ask.rules.flatMap((r) =>
      r.kind === "velocity" ? [{ ruleId: r.id, count: r.count, windowMs: r.windowSec * 1000 }] : [],
    );
    const counts: Record<string, number> = {};
    if (limits.length > 0) {
      this.windows.resize(Math.max(...limits.map((l) => l.count)), Math.max(...limits.map((l) => l.windowMs)));
      for (const l of limits) counts[l.ruleId] = this.windows.count(action, l.windowMs, nowMs);
    }
    const accounts: Record<string, number> = {};
    const userId = ask.signals.userId;
    for (const r of ask.rules) {
      if (r.kind !== "device_accounts") continue;
      const sinceMs = nowMs - r.windowSec * 1000;
      let n = this.accountsSeen.has(userId) && (this.accountsSeen.get(userId) ?? 0) >= sinceMs ? 0 : 1;
      for (const at of this.accountsSeen.values()) if (at >= sinceMs) n += 1;
      accounts[r.id] = n;
    }
    const state: RiskState = {
      deviceAccounts: new Map(Object.entries(accounts)),
      recipientTippedPayerAtMs: ask.recipientTippedPayerAtMs ?? null,
      velocityCounts: new Map(Object.entries(counts)),
      firstSeenAtMs: ask.user ? this.firstSeenAtMs : null,
      history: ask.user ? [...history] : [],
    };
    // Decided and recorded in one turn: concurrent attempts of this subject see each other.
    const admitted = evaluate(ask.signals, state, ask.rules, NO_LISTS, nowMs).outcome === "allow";
    if (admitted && limits.length > 0) this.windows.record(action, nowMs);
    if (admitted && Object.keys(accounts).length > 0) {
      remember(this.accountsSeen, userId, nowMs, RISK_LIMITS.deviceAccountsRemembered);
    }
    if (admitted && ask.user && amountMinor !== null) {
      history.push(amountMinor);
      if (history.length > RISK_LIMITS.historyLength) history.splice(0, history.length - RISK_LIMITS.historyLength);
      this.history.set(action, history);
    }
    const recipientId = ask.signals.recipientId ?? null;
    if (admitted && recipientId !== null && ask.rules.some((r) => r.kind === "circular_tipping")) {
      remember(this.recipients, recipientId, nowMs, RISK_LIMITS.recipientsRemembered);
    }
    if (firstSeenChanged) this.ctx.storage.kv.put(FIRST_SEEN_KEY, this.firstSeenAtMs);
    return { admitted, counts, accounts, firstSeenAtMs: state.firstSeenAtMs, history: state.history };
  }
}
