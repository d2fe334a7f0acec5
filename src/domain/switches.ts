/**
 * Runtime switches (降级 and kill switches): operator-set facts that pause or degrade a part of
 * the platform without a redeploy. A switch is identified by its kind and scope (one row per
 * pair); it carries a value (only `claims_tightened` has one), a reason, who set it, when, and
 * an optional expiry after which it no longer applies.
 *
 * `refusalFor` answers "is this action on this target allowed now": null, or the refusing
 * switch with its stable error code. The room asks `effectsDegraded` and `claimInFlightCap`.
 * `SwitchCache` keeps an isolate's copy of the set, read again at most once per TTL, which is
 * what bounds propagation (`LIMITS.switchPropagationMaxMs`). Pure: clock and loader passed in.
 */

import type { ErrorCode } from "./errors";
import { assert, LIMITS } from "./limits";

export const SWITCH_KINDS = [
  "packets_paused",
  "tips_paused",
  "read_only",
  "payment_channel_out",
  "payout_channel_out",
  "effects_degraded",
  "claims_tightened",
  "unlocks_paused",
] as const;
export type SwitchKind = (typeof SWITCH_KINDS)[number];

/** `platform`, or one room, gift, channel, content item or creator. */
export type SwitchScope =
  | { readonly type: "platform" }
  | { readonly type: "room"; readonly id: string }
  | { readonly type: "gift"; readonly id: string }
  | { readonly type: "channel"; readonly id: string }
  | { readonly type: "content"; readonly id: string }
  | { readonly type: "creator"; readonly id: string };
export type ScopeType = SwitchScope["type"];

/** Which scopes each kind accepts, and whether it takes a value. */
export const SWITCH_RULES: Record<SwitchKind, { readonly scopes: readonly ScopeType[]; readonly value: boolean }> = {
  packets_paused: { scopes: ["platform", "room"], value: false },
  tips_paused: { scopes: ["platform", "room", "gift"], value: false },
  read_only: { scopes: ["platform"], value: false },
  payment_channel_out: { scopes: ["channel"], value: false },
  payout_channel_out: { scopes: ["channel"], value: false },
  effects_degraded: { scopes: ["platform", "room"], value: false },
  // The value: claims admitted per packet at once (below the usual ⌈1.5 × shares left⌉).
  claims_tightened: { scopes: ["platform", "room"], value: true },
  // Paid unlocks (付费阅读): everywhere, one content item, or every item of one creator.
  unlocks_paused: { scopes: ["platform", "content", "creator"], value: false },
};

export interface Switch {
  readonly kind: SwitchKind;
  readonly scope: SwitchScope;
  readonly value: number | null;
  readonly reason: string;
  readonly setBy: string;
  readonly setAtMs: number;
  readonly expiresAtMs: number | null;
}

/** What a request or a job is about to do, and to what. */
export type SwitchAction =
  /** A tip in a room, or on a content item (`roomId` null: only platform and gift switches apply). */
  | { readonly kind: "tip"; readonly roomId: string | null; readonly giftId: string | null }
  /** A paid unlock of a content item (from the wallet, a pay-to-unlock order made or paid). */
  | { readonly kind: "unlock"; readonly contentId: string; readonly creatorId: string }
  | { readonly kind: "packet_send"; readonly roomId: string }
  | { readonly kind: "packet_claim"; readonly roomId: string | null }
  /** A top-up or pay-to-tip order on a payment channel. */
  | { readonly kind: "payment_order"; readonly channel: string }
  | { readonly kind: "withdrawal_request" }
  | { readonly kind: "adjustment" }
  /** Sending an approved withdrawal to its payout channel (a job, not a request). */
  | { readonly kind: "payout_send"; readonly channel: string };

/** The codes switches refuse with; each is in domain/errors.ts. */
export type SwitchCode = Extract<
  ErrorCode,
  "switch_read_only" | "switch_tips_paused" | "switch_packets_paused" | "switch_channel_out" | "switch_unlocks_paused"
>;

export interface SwitchRefusal {
  readonly code: SwitchCode;
  readonly switch: Switch;
}

export function scopeKey(scope: SwitchScope): string {
  return scope.type === "platform" ? "platform" : `${scope.type}:${scope.id}`;
}

export function parseScopeKey(key: string): SwitchScope | null {
  if (key === "platform") return { type: "platform" };
  const match = /^(room|gift|channel|content|creator):(.{1,64})$/s.exec(key);
  if (!match) return null;
  return { type: match[1] as "room" | "gift" | "channel" | "content" | "creator", id: match[2] as string };
}

export function isActive(s: Switch, nowMs: number): boolean {
  return s.expiresAtMs === null || nowMs < s.expiresAtMs;
}

/** Whether this kind/scope/value combination may be set. */
export function switchShapeError(kind: SwitchKind, scope: SwitchScope, value: number | null): string | null {
  const rule = SWITCH_RULES[kind];
  if (!rule.scopes.includes(scope.type)) return `${kind} takes a scope of ${rule.scopes.join(" or ")}.`;
  if (rule.value && value === null) return `${kind} needs a value.`;
  if (!rule.value && value !== null) return `${kind} takes no value.`;
  if (kind === "claims_tightened" && value !== null && !(value >= 1 && value <= LIMITS.claimsTightenedMax)) {
    return `claims_tightened's value is 1..${LIMITS.claimsTightenedMax} claims in flight per packet.`;
  }
  return null;
}

/** Money-moving actions that read-only mode refuses (every action there is, today). */
const MONEY_ACTIONS: ReadonlySet<SwitchAction["kind"]> = new Set([
  "tip",
  "unlock",
  "packet_send",
  "packet_claim",
  "payment_order",
  "withdrawal_request",
  "adjustment",
  "payout_send",
]);

/**
 * The switch that refuses `action` now, or null. Read-only mode comes first (it covers every
 * money action), then the action's own kind from the widest scope to the narrowest.
 */
export function refusalFor(switches: readonly Switch[], action: SwitchAction, nowMs: number): SwitchRefusal | null {
  const active = switches.filter((s) => isActive(s, nowMs));
  const find = (kind: SwitchKind, matches: (scope: SwitchScope) => boolean) =>
    active.find((s) => s.kind === kind && matches(s.scope)) ?? null;
  if (MONEY_ACTIONS.has(action.kind)) {
    const readOnly = find("read_only", () => true);
    if (readOnly) return { code: "switch_read_only", switch: readOnly };
  }
  const refuse = (code: SwitchCode, s: Switch | null): SwitchRefusal | null => (s ? { code, switch: s } : null);
  switch (action.kind) {
    case "tip":
      return refuse(
        "switch_tips_paused",
        find(
          "tips_paused",
          (sc) =>
            sc.type === "platform" ||
            (sc.type === "room" && sc.id === action.roomId) ||
            (sc.type === "gift" && sc.id === action.giftId),
        ),
      );
    case "unlock":
      return refuse(
        "switch_unlocks_paused",
        find(
          "unlocks_paused",
          (sc) =>
            sc.type === "platform" ||
            (sc.type === "content" && sc.id === action.contentId) ||
            (sc.type === "creator" && sc.id === action.creatorId),
        ),
      );
    case "packet_send":
    case "packet_claim":
      return refuse(
        "switch_packets_paused",
        find("packets_paused", (sc) => sc.type === "platform" || (sc.type === "room" && sc.id === action.roomId)),
      );
    case "payment_order":
      return refuse(
        "switch_channel_out",
        find("payment_channel_out", (sc) => sc.type === "channel" && sc.id === action.channel),
      );
    case "payout_send":
      return refuse(
        "switch_channel_out",
        find("payout_channel_out", (sc) => sc.type === "channel" && sc.id === action.channel),
      );
    case "withdrawal_request":
    case "adjustment":
      return null;
  }
}

function inRoom(scope: SwitchScope, roomId: string | null): boolean {
  return scope.type === "platform" || (scope.type === "room" && scope.id === roomId);
}

/** Whether the room sends only its big-gift lane (no merged-tip frames). */
export function effectsDegraded(switches: readonly Switch[], roomId: string | null, nowMs: number): boolean {
  return switches.some((s) => s.kind === "effects_degraded" && isActive(s, nowMs) && inRoom(s.scope, roomId));
}

/** The tightest claims-in-flight cap per packet a switch sets for this room, or null (the usual rule). */
export function claimInFlightCap(switches: readonly Switch[], roomId: string | null, nowMs: number): number | null {
  let cap: number | null = null;
  for (const s of switches) {
    if (s.kind !== "claims_tightened" || !isActive(s, nowMs) || !inRoom(s.scope, roomId) || s.value === null) continue;
    cap = cap === null ? s.value : Math.min(cap, s.value);
  }
  return cap;
}

// ── the isolate's cache ────────────────────────────────────────────────────────────────

/** The switch set as read from the store, with the version row's value it was read at. */
export interface SwitchSnapshot {
  readonly version: number;
  readonly switches: readonly Switch[];
}

/**
 * Reads the store: the whole set, or "unchanged" when its version is still `knownVersion`
 * (one cheap query of the version row).
 */
export type SwitchLoader = (knownVersion: number | null) => Promise<SwitchSnapshot | "unchanged">;

/**
 * An isolate's copy of the switch set. A read older than `ttlMs` is refreshed through the
 * loader before it answers (callers at that moment share the one refresh); so every answer
 * comes from a read *started* at most `ttlMs` before it, and a change committed before that
 * read is in it. That is the propagation bound: at most `ttlMs` after a change commits, every
 * isolate's decisions include it (LIMITS.switchPropagationMaxMs ≥ the largest TTL allowed).
 * A failed refresh throws to its callers and the next call tries again: a set older than the
 * TTL is never used.
 */
export class SwitchCache {
  private snapshot: SwitchSnapshot | null = null;
  /** When the read that produced `snapshot` (or confirmed it unchanged) started. */
  private readAtMs = Number.NEGATIVE_INFINITY;
  private refreshing: Promise<SwitchSnapshot> | null = null;
  /** Tests only: a set this isolate answers with, whatever the store says (see `pinForTests`). */
  private pinned: SwitchSnapshot | null = null;
  /** Reads made (tests and benches count them). */
  loads = 0;

  constructor(private readonly clock: () => number) {}

  async current(load: SwitchLoader, ttlMs: number): Promise<SwitchSnapshot> {
    assert(ttlMs >= 0 && ttlMs <= LIMITS.switchCacheTtlMaxMs, "the switch TTL is within its bound");
    if (this.pinned !== null) return this.pinned;
    if (this.snapshot !== null && this.clock() - this.readAtMs < ttlMs) return this.snapshot;
    this.refreshing ??= this.refresh(load).finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  /**
   * Tests only: this isolate answers with `switches` until `forget()`, without writing the
   * store. Integration tests share one control database across files, so a platform-wide
   * switch (read-only, a channel out) written there would stop other files' requests; pinned
   * in the test's own isolate, it stops only the requests that isolate serves.
   */
  pinForTests(switches: readonly Switch[]): void {
    this.pinned = { version: -1, switches };
  }

  /** Drops the copy (and any pin): the next read loads the whole set. */
  forget(): void {
    this.pinned = null;
    this.snapshot = null;
    this.readAtMs = Number.NEGATIVE_INFINITY;
  }

  private async refresh(load: SwitchLoader): Promise<SwitchSnapshot> {
    const startedAtMs = this.clock();
    this.loads += 1;
    const read = await load(this.snapshot?.version ?? null);
    if (read === "unchanged") {
      assert(this.snapshot !== null, "only a known version can be unchanged");
    } else {
      this.snapshot = read;
    }
    this.readAtMs = startedAtMs;
    return this.snapshot as SwitchSnapshot;
  }
}
