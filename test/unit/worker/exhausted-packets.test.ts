import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildWinnerFilter } from "../../../src/domain/winner-filter";
import type { ClaimAnswer, ExhaustedPacket } from "../../../src/durable-objects/live-room.claims";
import type { RoomClaim } from "../../../src/durable-objects/live-room.packets";
import { EdgeClaims } from "../../../src/worker/rooms/exhausted-packets";

const packet = (packetId: string, winners: string[]): ExhaustedPacket => ({
  packetId,
  shares: winners.length,
  totalMinor: winners.length * 100,
  luckiest: null,
  winners: buildWinnerFilter(winners),
});
const claimOf = (packetId: string, userId: string, index: number): RoomClaim => ({
  id: `claim_${packetId}_${index}`,
  packetId,
  userId,
  index,
  amountMinor: 100,
  claimedAtMs: 1_000 + index,
});
const exhausted = (edge: ExhaustedPacket): ClaimAnswer => ({ kind: "rejected", code: "packet_exhausted", edge });

describe("the Worker's edge answers for exhausted packets", () => {
  it("knows nothing until the room says exhausted; then rules out losers and sends winners on", () => {
    const edge = new EdgeClaims(4, 10);
    expect(edge.answer("room_a", "pkt_1", "loser")).toBe(null);
    edge.learn("room_a", "pkt_1", "w0", {
      kind: "claimed",
      claim: claimOf("pkt_1", "w0", 0),
      fresh: true,
      exhausted: false,
    });
    expect(edge.size()).toBe(0); // not exhausted: nothing learned
    edge.learn("room_a", "pkt_1", "late", exhausted(packet("pkt_1", ["w0", "w1"])));
    expect(edge.answer("room_a", "pkt_1", "w0")).toBe(null);
    expect(edge.answer("room_a", "pkt_1", "w1")).toBe(null);
    expect(edge.answer("room_a", "pkt_1", "late")).toEqual({ kind: "rejected", code: "packet_exhausted" });
    // Another room's packet of the same id is not this one.
    expect(edge.answer("room_b", "pkt_1", "late")).toBe(null);
  });

  it("answers a winner's repeat only with the claim the room gave that very user", () => {
    const edge = new EdgeClaims(4, 10);
    const known = packet("pkt_1", ["w0", "w1"]);
    const w1 = claimOf("pkt_1", "w1", 1);
    edge.learn("room_a", "pkt_1", "w1", { kind: "claimed", claim: w1, fresh: true, exhausted: true, edge: known });
    expect(edge.answer("room_a", "pkt_1", "w1")).toEqual({ kind: "claimed", claim: w1, fresh: false, exhausted: true });
    // A claim answered to someone else is never remembered for the asker.
    edge.learn("room_a", "pkt_1", "w0", { kind: "claimed", claim: w1, fresh: false, exhausted: true, edge: known });
    expect(edge.answer("room_a", "pkt_1", "w0")).toBe(null);
  });

  it("never tells a winner 'exhausted' and never gives anyone another's claim, whatever the order", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^[a-z0-9-]{1,12}$/), { minLength: 2, maxLength: 60 }),
        fc.array(fc.nat(), { maxLength: 200 }),
        (users, asks) => {
          const winners = users.slice(0, Math.ceil(users.length / 2));
          const claims = new Map(winners.map((u, i) => [u, claimOf("pkt_p", u, i)]));
          const edge = new EdgeClaims(2, 5);
          const known = packet("pkt_p", winners);
          for (const pick of asks) {
            const user = users[pick % users.length] as string;
            const here = edge.answer("room", "pkt_p", user);
            const mine = claims.get(user);
            if (here !== null) {
              if (mine) expect(here).toEqual({ kind: "claimed", claim: mine, fresh: false, exhausted: true });
              else expect(here).toEqual({ kind: "rejected", code: "packet_exhausted" });
              continue;
            }
            // What the room answers after the last share went.
            const fromRoom: ClaimAnswer = mine
              ? { kind: "claimed", claim: mine, fresh: false, exhausted: true, edge: known }
              : exhausted(known);
            edge.learn("room", "pkt_p", user, fromRoom);
          }
        },
      ),
    );
  });

  it("keeps at most its bound of packets, least recently used out first", () => {
    const edge = new EdgeClaims(2, 10);
    edge.learn("room", "pkt_1", "x", exhausted(packet("pkt_1", ["w"])));
    edge.learn("room", "pkt_2", "x", exhausted(packet("pkt_2", ["w"])));
    expect(edge.answer("room", "pkt_1", "x")).not.toBe(null); // pkt_1 now most recent
    edge.learn("room", "pkt_3", "x", exhausted(packet("pkt_3", ["w"])));
    expect(edge.size()).toBe(2);
    expect(edge.answer("room", "pkt_2", "x")).toBe(null);
    expect(edge.answer("room", "pkt_1", "x")).not.toBe(null);
    expect(edge.answer("room", "pkt_3", "x")).not.toBe(null);
  });
});
