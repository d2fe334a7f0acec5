import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LIMITS } from "../../../src/domain/limits";
import { answerClaimFrame, CreditPacer, spendClaimAllowance } from "../../../src/durable-objects/live-room.claims";

describe("when claim credits leave for the ledger queue", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("once claims pause, at the latest the bound after the first, and at once when a packet runs out", () => {
    let flushes = 0;
    const pacer = new CreditPacer(() => flushes++);
    pacer.committed(0, false);
    vi.advanceTimersByTime(LIMITS.packetCreditQuietMs - 1);
    expect(flushes).toBe(0);
    vi.advanceTimersByTime(1);
    expect(flushes).toBe(1);
    // A storm that never pauses: one flush at the bound.
    for (let t = 0; t < LIMITS.packetCreditDelayMaxMs; t += 10) {
      pacer.committed(Date.now(), false);
      vi.advanceTimersByTime(10);
    }
    expect(flushes).toBe(2);
    pacer.committed(Date.now(), true);
    expect(flushes).toBe(3);
    vi.advanceTimersByTime(LIMITS.packetCreditDelayMaxMs);
    expect(flushes).toBe(3);
  });
});

describe("claim frames", () => {
  it("a socket's claim allowance: 30 a minute, then the wait until the minute ends", () => {
    const allowance = {};
    for (let i = 0; i < LIMITS.wsClaimsPerMinuteMax; i++) expect(spendClaimAllowance(allowance, 1_000 + i)).toBe(null);
    expect(spendClaimAllowance(allowance, 31_000)).toBe(30_000);
    expect(spendClaimAllowance(allowance, 61_000)).toBe(null);
  });

  it("overlays and sockets without a user may not claim; the room is not asked", async () => {
    let asked = 0;
    const claim = async () => {
      asked++;
      return { kind: "unknown" } as const;
    };
    const frame = { type: "packet.claim" as const, packetId: "packet_x", requestId: "r1" };
    expect(await answerClaimFrame({ role: "overlay", userId: null, follows: [] }, frame, claim)).toMatchObject({
      ok: false,
      status: 403,
      error: { code: "forbidden" },
    });
    expect(asked).toBe(0);
    expect(await answerClaimFrame({ role: "viewer", userId: "ana", follows: [] }, frame, claim)).toMatchObject({
      ok: false,
      status: 404,
      error: { code: "packet_not_found" },
    });
  });
});
