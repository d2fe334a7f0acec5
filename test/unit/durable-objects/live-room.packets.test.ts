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
});
