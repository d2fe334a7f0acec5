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
 * per subject, and a device's lease record when it changes. Two small `kv` reads when the object
 * wakes. A desk is evicted only after it has been idle, so a window shorter than that idle time
 * loses nothing; a longer one starts again after an eviction (docs/adr/0014). Writing the windows
 * per attempt cost 80% of the tip rate in bench/tips.ts.
 *
 * Device leases (docs/adr/0018-device-leases.md): a device is nearly always one person's, so a
 * device's desk lends its windows and accounts to the desk of the user it last admitted, and that
 * user's attempts on the device are then decided on the user's desk alone — one round trip per
 * attempt instead of two. Any attempt that reaches the device's desk while the lease is out
 * (another account, or the holder having lost it) first takes the lease back, with everything the
 * holder counted, so at every moment exactly one desk counts the device: the counts stay exact.
 */

import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { evaluate, NO_LISTS, type RiskState } from "../domain/risk/evaluate";
import { RISK_ACTIONS, RISK_LIMITS, type RiskAction, type RiskRule, RiskRuleSchema } from "../domain/risk/rules";
import { SlidingWindows, type WindowLimit } from "../domain/risk/window";

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

const Rules = z.array(RiskRuleSchema).max(RISK_LIMITS.rulesMax);

export const DeskAsk = z.strictObject({
  signals: DeskSignals,
  /**
   * The rules this desk decides: the velocity rules of its scope for the action, and on a
   * user's desk also the rules that read the user's first-seen time or history. The attempt is
   * recorded only when none of them fires.
   */
  rules: Rules,
  /** True on a user's desk: answer first-seen and history, and keep them. */
  user: z.boolean(),
  /** When the tip's recipient last tipped this payer (its own desk answered), for `circular_tipping`. */
  recipientTippedPayerAtMs: z.number().int().nullable().optional(),
  /**
   * On a user's desk: the attempt's device rules (velocity per device, `device_accounts`),
   * decided here when this desk holds the device's lease (`deviceDecided` in the answer).
   */
  deviceRules: Rules.optional(),
  /** On a device's desk: the attempt's user may take the device's lease if it is admitted. */
  lessee: z.string().min(1).max(64).optional(),
});
export type DeskAsk = z.input<typeof DeskAsk>;

/** What a device's desk lends a user's desk: its windows and the accounts it saw, as of the grant. */
const DeviceLease = z.strictObject({
  deviceId: z.string().min(1).max(128),
  /** Increases with every grant of the device (kept across evictions): a late grant never revives. */
  gen: z.number().int().min(1),
  windows: z
    .array(
      z.strictObject({ action: z.string().max(32), atMs: z.array(z.number().int()).max(RISK_LIMITS.velocityCountMax) }),
    )
    .max(RISK_ACTIONS.length),
  accounts: z
    .array(z.strictObject({ userId: z.string().min(1).max(64), atMs: z.number().int() }))
    .max(RISK_LIMITS.deviceAccountsRemembered),
});
export type DeviceLease = z.infer<typeof DeviceLease>;

/** What a user's desk gives back when the device takes its lease back. */
export type LeaseReturn = Pick<DeviceLease, "windows" | "accounts">;

export interface DeskAnswer {
  readonly admitted: boolean;
  /** Attempts in each rule's window before this one, by rule id. */
  readonly counts: Readonly<Record<string, number>>;
  /** Per `device_accounts` rule: distinct accounts on the device in its window, this one included. */
  readonly accounts: Readonly<Record<string, number>>;
  readonly firstSeenAtMs: number | null;
  /** The user's remembered amounts of this action, oldest first (before this one). */
  readonly history: readonly number[];
  /** On a user's desk asked with device rules: true when it held the lease and decided them. */
  readonly deviceDecided?: boolean;
  /** On a device's desk: the lease granted to the asking user, for the Worker to hand over. */
  readonly lease?: DeviceLease;
}

const FIRST_SEEN_KEY = "firstSeenAtMs";
const LEASE_KEY = "deviceLease";
/**
 * How long at most a desk keeps itself in memory after an attempt it counted: an idle object that
 * could hibernate is evicted after about 10 s, which would forget a window's attempts; a pending
 * timer keeps it (the runtime still evicts an object idle for 70–140 s, so longer windows start
 * again after such a pause — docs/adr/0014).
 */
const KEEP_WARM_MAX_MS = 5 * 60_000;
/** A device used by another account within this long is not lent (it would pass back and forth). */
export const LEASE_QUIET_MS = 10 * 60_000;
/** Leases one user's desk holds at once (devices of one person); more are declined, which is safe. */
const LEASES_HELD_MAX = 16;
/** Revoked generations a user's desk remembers, so that a grant arriving after its revocation is ignored. */
const REVOKED_REMEMBERED = 64;

/** Notes `key` as seen at `atMs`, keeping at most `max` keys (insertion order is recency). */
function remember(seen: Map<string, number>, key: string, atMs: number, max: number): void {
  seen.delete(key);
  seen.set(key, atMs);
  for (const stalest of seen.keys()) {
    if (seen.size <= max) break;
    seen.delete(stalest);
  }
}

/** One subject's counters: its windows per action and, for a device, the accounts it saw. */
interface Counters {
  readonly windows: SlidingWindows;
  readonly accountsSeen: Map<string, number>;
}

/** What `rules` ask of `counters` for this attempt: the velocity limits, counts and account counts. */
function countersState(
  rules: readonly RiskRule[],
  counters: Counters,
  action: RiskAction,
  userId: string,
  nowMs: number,
) {
  const limits: (WindowLimit & { ruleId: string })[] = [];
  for (const r of rules)
    if (r.kind === "velocity") limits.push({ ruleId: r.id, count: r.count, windowMs: r.windowSec * 1000 });
  const counts: Record<string, number> = {};
  if (limits.length > 0) {
    counters.windows.resize(Math.max(...limits.map((l) => l.count)), Math.max(...limits.map((l) => l.windowMs)));
    for (const l of limits) counts[l.ruleId] = counters.windows.count(action, l.windowMs, nowMs);
  }
  const accounts: Record<string, number> = {};
  for (const r of rules) {
    if (r.kind !== "device_accounts") continue;
    const sinceMs = nowMs - r.windowSec * 1000;
    const seen = counters.accountsSeen;
    let n = seen.has(userId) && (seen.get(userId) ?? 0) >= sinceMs ? 0 : 1;
    for (const at of seen.values()) if (at >= sinceMs) n += 1;
    accounts[r.id] = n;
  }
  return { limits, counts, accounts };
}

/** Records an admitted attempt in `counters` (only what its rules count). */
function recordCounters(
  counters: Counters,
  state: ReturnType<typeof countersState>,
  action: RiskAction,
  userId: string,
  nowMs: number,
  device: boolean,
): void {
  if (state.limits.length > 0) counters.windows.record(action, nowMs);
  // A device's counters remember its accounts even without a `device_accounts` rule: the lease needs them.
  if (device || Object.keys(state.accounts).length > 0)
    remember(counters.accountsSeen, userId, nowMs, RISK_LIMITS.deviceAccountsRemembered);
}

/** Counters as a lease carries them (plain objects: RPC-typed). */
function lent(counters: Counters): LeaseReturn {
  return {
    windows: counters.windows.snapshot().keys.map(([action, atMs]) => ({ action, atMs: [...atMs] })),
    accounts: [...counters.accountsSeen].map(([userId, atMs]) => ({ userId, atMs })),
  };
}

/** Replaces `counters` with what a lease carried. */
function taken(lease: LeaseReturn, counters: Counters): void {
  counters.windows.restore({ keys: lease.windows.map((w) => [w.action, w.atMs] as const) });
  counters.accountsSeen.clear();
  for (const a of lease.accounts) counters.accountsSeen.set(a.userId, a.atMs);
}

function freshWindows(): SlidingWindows {
  return new SlidingWindows(RISK_LIMITS.velocityCountMax, RISK_LIMITS.velocityWindowMaxSec * 1000, RISK_ACTIONS.length);
}

export class RiskDesk extends DurableObject<Env> {
  /** One key per action; each ring holds at most the largest count asked about (≤ velocityCountMax). */
  private readonly counters: Counters = {
    windows: new SlidingWindows(1, 1, RISK_ACTIONS.length),
    accountsSeen: new Map<string, number>(),
  };
  private firstSeenAtMs: number | null = null;
  private readonly history = new Map<RiskAction, number[]>();
  /** On a user's desk: whom the user last tipped and when (`circular_tipping`), bounded like accountsSeen. */
  private readonly recipients = new Map<string, number>();
  /** On a device's desk: the lease out (its holder), and the last generation granted. */
  private lease: { userId: string; deviceId: string; gen: number } | null = null;
  private leaseGen = 0;
  private revoking: Promise<void> | null = null;
  /** On a user's desk: the device leases it holds, by device id, and the generations revoked. */
  private readonly leases = new Map<string, Counters & { gen: number }>();
  private readonly revokedGen = new Map<string, number>();

  /** Until when the desk's counters hold attempts worth keeping, and the timer that keeps it in memory. */
  private keepUntilMs = 0;
  private keeper: ReturnType<typeof setTimeout> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // The storage reads on wake.
    this.firstSeenAtMs = ctx.storage.kv.get<number>(FIRST_SEEN_KEY) ?? null;
    const lease = ctx.storage.kv.get<{ userId: string | null; deviceId: string; gen: number }>(LEASE_KEY);
    if (lease !== undefined) {
      this.leaseGen = lease.gen;
      this.lease = lease.userId === null ? null : { userId: lease.userId, deviceId: lease.deviceId, gen: lease.gen };
    }
  }

  /** When this desk's user last tipped `userId` (`circular_tipping`, asked of the recipient's desk); null: not remembered. */
  lastTipped(userId: string): number | null {
    return this.recipients.get(userId) ?? null;
  }

  async assess(raw: DeskAsk): Promise<DeskAnswer> {
    const ask = DeskAsk.parse(raw);
    // A device's desk counts only while its lease is in: take it back first (one at a time).
    while (this.lease !== null || this.revoking !== null) await this.takeLeaseBack();
    return this.decide(ask);
  }

  /** Decides and records in one synchronous turn: concurrent attempts of this subject see each other. */
  private decide(ask: z.output<typeof DeskAsk>): DeskAnswer {
    const { action, amountMinor, userId, deviceId } = ask.signals;
    const nowMs = Date.now();
    const history = this.history.get(action) ?? [];
    let firstSeenChanged = false;
    if (ask.user && this.firstSeenAtMs === null) {
      this.firstSeenAtMs = nowMs;
      firstSeenChanged = true;
    }
    const own = countersState(ask.rules, this.counters, action, userId, nowMs);
    const state: RiskState = {
      deviceAccounts: new Map(Object.entries(own.accounts)),
      recipientTippedPayerAtMs: ask.recipientTippedPayerAtMs ?? null,
      velocityCounts: new Map(Object.entries(own.counts)),
      firstSeenAtMs: ask.user ? this.firstSeenAtMs : null,
      history: ask.user ? [...history] : [],
    };
    const admitted = evaluate(ask.signals, state, ask.rules, NO_LISTS, nowMs).outcome === "allow";
    if (admitted) recordCounters(this.counters, own, action, userId, nowMs, ask.lessee !== undefined);
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
    if (admitted) this.keepWarm(ask.rules, nowMs);
    const answer = {
      admitted,
      counts: own.counts,
      accounts: own.accounts,
      firstSeenAtMs: state.firstSeenAtMs,
      history: state.history,
    };

    // A user's desk holding the device's lease decides the device's rules too, on the lent counters.
    const deviceRules = ask.deviceRules ?? [];
    if (deviceRules.length > 0 && deviceId !== null) {
      const held = this.leases.get(deviceId);
      if (held === undefined) return { ...answer, deviceDecided: false };
      const device = countersState(deviceRules, held, action, userId, nowMs);
      const deviceState: RiskState = {
        velocityCounts: new Map(Object.entries(device.counts)),
        deviceAccounts: new Map(Object.entries(device.accounts)),
        firstSeenAtMs: null,
        history: [],
      };
      const deviceAdmitted = evaluate(ask.signals, deviceState, deviceRules, NO_LISTS, nowMs).outcome === "allow";
      if (deviceAdmitted) {
        recordCounters(held, device, action, userId, nowMs, true);
        this.keepWarm(deviceRules, nowMs);
      }
      return {
        ...answer,
        admitted: admitted && deviceAdmitted,
        counts: { ...own.counts, ...device.counts },
        accounts: { ...own.accounts, ...device.accounts },
        deviceDecided: true,
      };
    }

    // A device's desk lends its counters to the user it just admitted, when asked to.
    // Not while another account uses the device: a shared device is counted here, not passed around.
    const sharedSinceMs = nowMs - LEASE_QUIET_MS;
    const alone = [...this.counters.accountsSeen].every(([account, at]) => account === userId || at < sharedSinceMs);
    if (admitted && alone && ask.lessee !== undefined && ask.lessee === userId && deviceId !== null) {
      this.leaseGen += 1;
      this.lease = { userId, deviceId, gen: this.leaseGen };
      this.ctx.storage.kv.put(LEASE_KEY, this.lease);
      const lease: DeviceLease = {
        deviceId,
        gen: this.leaseGen,
        ...lent(this.counters),
      };
      return { ...answer, lease };
    }
    return answer;
  }

  /**
   * Keeps the desk in memory while its counters hold attempts inside the longest window of
   * `rules` (the amount history: the longest we keep), by keeping a timer pending.
   */
  private keepWarm(rules: readonly RiskRule[], nowMs: number): void {
    let windowMs = 0;
    for (const r of rules) {
      if (r.kind === "velocity" || r.kind === "device_accounts" || r.kind === "circular_tipping")
        windowMs = Math.max(windowMs, r.windowSec * 1000);
      else if (r.kind === "amount_vs_history") windowMs = KEEP_WARM_MAX_MS;
    }
    if (windowMs === 0) return;
    this.keepUntilMs = Math.max(this.keepUntilMs, nowMs + Math.min(windowMs, KEEP_WARM_MAX_MS));
    if (this.keeper !== null) return;
    const tick = () => {
      const leftMs = this.keepUntilMs - Date.now();
      this.keeper = leftMs > 0 ? setTimeout(tick, Math.min(leftMs, 30_000)) : null;
    };
    tick();
  }

  /** Takes the device's lease back from its holder, with what it counted meanwhile. */
  private takeLeaseBack(): Promise<void> {
    if (this.revoking !== null) return this.revoking;
    const lease = this.lease;
    if (lease === null) return Promise.resolve();
    this.revoking = (async () => {
      try {
        const back = await this.env.RISK_DESK.getByName(`user:${lease.userId}`).revokeLease(lease.deviceId, lease.gen);
        // Nothing back: the holder never took it or lost it when evicted; these counters are the best known.
        if (back !== null) {
          // Room for everything the holder kept; the next decision trims to its rules.
          this.counters.windows.resize(RISK_LIMITS.velocityCountMax, RISK_LIMITS.velocityWindowMaxSec * 1000);
          const parsed = DeviceLease.pick({ windows: true, accounts: true }).parse(back);
          taken(parsed, this.counters);
        }
        this.lease = null;
        this.ctx.storage.kv.put(LEASE_KEY, { userId: null, deviceId: lease.deviceId, gen: lease.gen });
      } finally {
        this.revoking = null;
      }
    })();
    return this.revoking;
  }

  /** On a user's desk: takes a device's lease (false: declined or already revoked — safe either way). */
  acceptLease(raw: DeviceLease): boolean {
    const lease = DeviceLease.parse(raw);
    if ((this.revokedGen.get(lease.deviceId) ?? 0) >= lease.gen) return false;
    const held = this.leases.get(lease.deviceId);
    if (held !== undefined && held.gen >= lease.gen) return false;
    if (held === undefined && this.leases.size >= LEASES_HELD_MAX) return false;
    const counters = { windows: freshWindows(), accountsSeen: new Map<string, number>() };
    taken(lease, counters);
    this.leases.set(lease.deviceId, { gen: lease.gen, ...counters });
    return true;
  }

  /** On a user's desk: gives a device's lease back (null: not held here), never to be revived by a late grant. */
  revokeLease(deviceId: string, gen: number): LeaseReturn | null {
    remember(this.revokedGen, deviceId, Math.max(gen, this.revokedGen.get(deviceId) ?? 0), REVOKED_REMEMBERED);
    const held = this.leases.get(deviceId);
    if (held === undefined || held.gen > gen) return null;
    this.leases.delete(deviceId);
    return lent(held);
  }
}
