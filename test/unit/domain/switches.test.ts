import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../../src/domain/limits";
import {
  claimInFlightCap,
  effectsDegraded,
  parseScopeKey,
  refusalFor,
  type Switch,
  type SwitchAction,
  SwitchCache,
  type SwitchKind,
  type SwitchScope,
  type SwitchSnapshot,
  scopeKey,
  switchShapeError,
} from "../../../src/domain/switches";

const ROOMS = ["room-a", "room-b"];
const GIFTS = ["rose", "rocket"];
const CHANNELS = ["wechatpay", "alipay"];
const ITEMS = ["cnt_a", "cnt_b"];
const CREATORS = ["creator-a", "creator-b"];

const scopeArb: fc.Arbitrary<SwitchScope> = fc.oneof(
  fc.constant({ type: "platform" as const }),
  fc.constantFrom(...ROOMS).map((id) => ({ type: "room" as const, id })),
  fc.constantFrom(...GIFTS).map((id) => ({ type: "gift" as const, id })),
  fc.constantFrom(...CHANNELS).map((id) => ({ type: "channel" as const, id })),
  fc.constantFrom(...ITEMS).map((id) => ({ type: "content" as const, id })),
  fc.constantFrom(...CREATORS).map((id) => ({ type: "creator" as const, id })),
);

const switchArb: fc.Arbitrary<Switch> = fc
  .record({
    kind: fc.constantFrom<SwitchKind>(
      "packets_paused",
      "tips_paused",
      "read_only",
      "payment_channel_out",
      "payout_channel_out",
      "effects_degraded",
      "claims_tightened",
      "unlocks_paused",
    ),
    scope: scopeArb,
    value: fc.integer({ min: 1, max: 20 }),
    expiresAtMs: fc.option(fc.integer({ min: 0, max: 2_000 }), { nil: null }),
  })
  .filter((s) => switchShapeError(s.kind, s.scope, s.kind === "claims_tightened" ? s.value : null) === null)
  .map((s) => ({
    kind: s.kind,
    scope: s.scope,
    value: s.kind === "claims_tightened" ? s.value : null,
    reason: "test",
    setBy: "ops-1",
    setAtMs: 0,
    expiresAtMs: s.expiresAtMs,
  }));

const actionArb: fc.Arbitrary<SwitchAction> = fc.oneof(
  fc.record({
    kind: fc.constant("tip" as const),
    roomId: fc.constantFrom(...ROOMS),
    giftId: fc.option(fc.constantFrom(...GIFTS), { nil: null }),
  }),
  fc.record({
    kind: fc.constant("unlock" as const),
    contentId: fc.constantFrom(...ITEMS),
    creatorId: fc.constantFrom(...CREATORS),
  }),
  fc.record({ kind: fc.constant("packet_send" as const), roomId: fc.constantFrom(...ROOMS) }),
  fc.record({ kind: fc.constant("packet_claim" as const), roomId: fc.constantFrom(...ROOMS) }),
  fc.record({ kind: fc.constant("payment_order" as const), channel: fc.constantFrom(...CHANNELS) }),
  fc.record({ kind: fc.constant("payout_send" as const), channel: fc.constantFrom(...CHANNELS) }),
  fc.constant({ kind: "withdrawal_request" as const }),
  fc.constant({ kind: "adjustment" as const }),
);

/** The reference: which (kind, scope) pairs stop an action, written out case by case. */
function stoppers(action: SwitchAction): { kind: SwitchKind; scope: string; code: string }[] {
  const readOnly = [{ kind: "read_only" as const, scope: "platform", code: "switch_read_only" }];
  switch (action.kind) {
    case "tip":
      return [
        ...readOnly,
        ...["platform", `room:${action.roomId}`, ...(action.giftId ? [`gift:${action.giftId}`] : [])].map((scope) => ({
          kind: "tips_paused" as const,
          scope,
          code: "switch_tips_paused",
        })),
      ];
    case "unlock":
      return [
        ...readOnly,
        ...["platform", `content:${action.contentId}`, `creator:${action.creatorId}`].map((scope) => ({
          kind: "unlocks_paused" as const,
          scope,
          code: "switch_unlocks_paused",
        })),
      ];
    case "packet_send":
    case "packet_claim":
      return [
        ...readOnly,
        ...["platform", `room:${action.roomId}`].map((scope) => ({
          kind: "packets_paused" as const,
          scope,
          code: "switch_packets_paused",
        })),
      ];
    case "payment_order":
      return [
        ...readOnly,
        { kind: "payment_channel_out", scope: `channel:${action.channel}`, code: "switch_channel_out" },
      ];
    case "payout_send":
      return [
        ...readOnly,
        { kind: "payout_channel_out", scope: `channel:${action.channel}`, code: "switch_channel_out" },
      ];
    case "withdrawal_request":
    case "adjustment":
      return readOnly;
  }
}

describe("refusalFor", () => {
  it("refuses exactly when an active switch covers the action, with that switch's code (read-only first)", () => {
    fc.assert(
      fc.property(
        fc.array(switchArb, { maxLength: 8 }),
        actionArb,
        fc.integer({ min: 0, max: 2_500 }),
        (set, action, nowMs) => {
          const active = set.filter((s) => s.expiresAtMs === null || nowMs < s.expiresAtMs);
          const covering = stoppers(action).filter((st) =>
            active.some((s) => s.kind === st.kind && scopeKey(s.scope) === st.scope),
          );
          const refusal = refusalFor(set, action, nowMs);
          if (covering.length === 0) {
            expect(refusal).toBeNull();
            return;
          }
          const expectedCode = covering.some((c) => c.kind === "read_only") ? "switch_read_only" : covering[0]?.code;
          expect(refusal?.code).toBe(expectedCode);
          // The switch it names is one that covers the action.
          expect(
            covering.some((c) => c.kind === refusal?.switch.kind && c.scope === scopeKey(refusal.switch.scope)),
          ).toBe(true);
        },
      ),
    );
  });

  it("an empty set, or one whose switches all expired, refuses nothing", () => {
    fc.assert(
      fc.property(fc.array(switchArb, { maxLength: 8 }), actionArb, (set, action) => {
        expect(refusalFor([], action, 0)).toBeNull();
        const expired = set.map((s) => ({ ...s, expiresAtMs: 10 }));
        expect(refusalFor(expired, action, 10)).toBeNull();
      }),
    );
  });

  it("read-only refuses every money action; a room's pause leaves other rooms alone", () => {
    const readOnly: Switch = {
      kind: "read_only",
      scope: { type: "platform" },
      value: null,
      reason: "incident",
      setBy: "ops-1",
      setAtMs: 0,
      expiresAtMs: null,
    };
    fc.assert(
      fc.property(actionArb, (action) => {
        expect(refusalFor([readOnly], action, 1)?.code).toBe("switch_read_only");
      }),
    );
    const roomA: Switch = { ...readOnly, kind: "packets_paused", scope: { type: "room", id: "room-a" } };
    expect(refusalFor([roomA], { kind: "packet_send", roomId: "room-a" }, 1)?.code).toBe("switch_packets_paused");
    expect(refusalFor([roomA], { kind: "packet_send", roomId: "room-b" }, 1)).toBeNull();
    expect(refusalFor([roomA], { kind: "tip", roomId: "room-a", giftId: null }, 1)).toBeNull();
  });
});

describe("room effects and claim admission", () => {
  it("degradation and the tightest claims cap apply to their room or platform-wide only, while active", () => {
    fc.assert(
      fc.property(
        fc.array(switchArb, { maxLength: 8 }),
        fc.constantFrom(...ROOMS),
        fc.integer({ min: 0, max: 2_500 }),
        (set, roomId, nowMs) => {
          const here = set.filter(
            (s) =>
              (s.expiresAtMs === null || nowMs < s.expiresAtMs) &&
              (s.scope.type === "platform" || (s.scope.type === "room" && s.scope.id === roomId)),
          );
          expect(effectsDegraded(set, roomId, nowMs)).toBe(here.some((s) => s.kind === "effects_degraded"));
          const caps = here.filter((s) => s.kind === "claims_tightened").map((s) => s.value as number);
          expect(claimInFlightCap(set, roomId, nowMs)).toBe(caps.length === 0 ? null : Math.min(...caps));
        },
      ),
    );
  });
});

describe("switch shapes and scope keys", () => {
  it("scope keys round-trip", () => {
    fc.assert(
      fc.property(scopeArb, (scope) => {
        expect(parseScopeKey(scopeKey(scope))).toEqual(scope);
      }),
    );
    expect(parseScopeKey("room:")).toBeNull();
    expect(parseScopeKey("planet:x")).toBeNull();
  });

  it("each kind takes only its scopes and its value", () => {
    expect(switchShapeError("read_only", { type: "room", id: "r" }, null)).not.toBeNull();
    expect(switchShapeError("tips_paused", { type: "gift", id: "rose" }, null)).toBeNull();
    expect(switchShapeError("payment_channel_out", { type: "platform" }, null)).not.toBeNull();
    expect(switchShapeError("claims_tightened", { type: "room", id: "r" }, null)).not.toBeNull();
    expect(switchShapeError("claims_tightened", { type: "room", id: "r" }, 0)).not.toBeNull();
    expect(
      switchShapeError("claims_tightened", { type: "room", id: "r" }, LIMITS.claimsTightenedMax + 1),
    ).not.toBeNull();
    expect(switchShapeError("claims_tightened", { type: "platform" }, 3)).toBeNull();
    expect(switchShapeError("effects_degraded", { type: "platform" }, 3)).not.toBeNull();
  });
});

describe("SwitchCache", () => {
  it("every answer includes each change committed a TTL plus one read's time before it, with at most one read per TTL", async () => {
    await fc.assert(
      fc.asyncProperty(
        // Events: a change to the store, or a read by the isolate, each after a pause (ms).
        fc.array(fc.record({ change: fc.boolean(), pauseMs: fc.integer({ min: 0, max: 3_000 }) }), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.integer({ min: 0, max: LIMITS.switchCacheTtlMaxMs }),
        fc.integer({ min: 0, max: 200 }),
        async (events, ttlMs, readMs) => {
          let nowMs = 0;
          let version = 0;
          const changedAtMs: number[] = [];
          const cache = new SwitchCache(() => nowMs);
          const loadTimes: number[] = [];
          const load = async (known: number | null): Promise<SwitchSnapshot | "unchanged"> => {
            loadTimes.push(nowMs);
            // The read sees the store as it was when it started, then takes readMs.
            const seen = version;
            nowMs += readMs;
            return known === seen ? "unchanged" : { version: seen, switches: [] };
          };
          for (const event of events) {
            nowMs += event.pauseMs;
            if (event.change) {
              version += 1;
              changedAtMs.push(nowMs);
              continue;
            }
            const snapshot = await cache.current(load, ttlMs);
            // Every change committed before (now − ttl − readMs) is in the answer.
            const due = changedAtMs.filter((at) => at < nowMs - ttlMs - readMs).length;
            expect(snapshot.version).toBeGreaterThanOrEqual(due);
          }
          // Loads never come closer together than the TTL (plus the read that ran meanwhile).
          for (let i = 1; i < loadTimes.length; i++) {
            expect((loadTimes[i] as number) - (loadTimes[i - 1] as number)).toBeGreaterThanOrEqual(ttlMs);
          }
        },
      ),
    );
  });

  it("callers arriving during a refresh share one read; a failed read throws and the next call reads again", async () => {
    let nowMs = 0;
    const cache = new SwitchCache(() => nowMs);
    let release: (v: SwitchSnapshot) => void = () => {};
    let reads = 0;
    const pending = async () => {
      reads += 1;
      return new Promise<SwitchSnapshot>((resolve) => {
        release = resolve;
      });
    };
    const a = cache.current(pending, 1_000);
    const b = cache.current(pending, 1_000);
    release({ version: 1, switches: [] });
    expect((await a).version).toBe(1);
    expect((await b).version).toBe(1);
    expect(reads).toBe(1);
    nowMs = 1_000;
    await expect(cache.current(async () => Promise.reject(new Error("d1 down")), 1_000)).rejects.toThrow("d1 down");
    const again = await cache.current(async () => "unchanged", 1_000);
    expect(again.version).toBe(1);
  });

  it("the largest TTL leaves half the propagation bound for the read", () => {
    expect(LIMITS.switchCacheTtlMaxMs * 2).toBeLessThanOrEqual(LIMITS.switchPropagationMaxMs);
    expect(LIMITS.switchCacheTtlDefaultMs).toBeLessThanOrEqual(LIMITS.switchCacheTtlMaxMs);
  });
});
