import { describe, expect, it } from "vitest";
import { InFlightClaims } from "../../../src/durable-objects/live-room.packets";

describe("the room's in-flight claim admission", () => {
  it("admits ⌈1.5 × shares left⌉ unanswered claims per packet, each packet on its own", () => {
    const inFlight = new InFlightClaims();
    expect(Array.from({ length: 4 }, () => inFlight.admit("pkt_a", 2))).toEqual([true, true, true, false]);
    expect(Array.from({ length: 3 }, () => inFlight.admit("pkt_b", 1))).toEqual([true, true, false]);
  });

  it("frees one place per answered claim, and forgets a packet with none in flight", () => {
    const inFlight = new InFlightClaims();
    for (let i = 0; i < 3; i++) expect(inFlight.admit("pkt_a", 2)).toBe(true);
    inFlight.release("pkt_a");
    expect(inFlight.admit("pkt_a", 2)).toBe(true);
    expect(inFlight.admit("pkt_a", 2)).toBe(false);
    for (let i = 0; i < 3; i++) inFlight.release("pkt_a");
    // The bound never falls below one claim (inFlightClaimsMax in domain/red-packet).
    expect(inFlight.admit("pkt_a", 0)).toBe(true);
    expect(inFlight.admit("pkt_a", 0)).toBe(false);
  });

  it("a claims_tightened switch lowers admission to its value, never above the usual rule", () => {
    const inFlight = new InFlightClaims();
    // 20 shares left admit 30 at once; tightened to 2, the third is busy.
    expect(Array.from({ length: 3 }, () => inFlight.admit("pkt_t", 20, 2))).toEqual([true, true, false]);
    // A looser cap than the rule changes nothing: 1 share left admits 2.
    expect(Array.from({ length: 3 }, () => inFlight.admit("pkt_u", 1, 50))).toEqual([true, true, false]);
  });
});
