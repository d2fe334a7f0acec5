/**
 * Claims answered at the edge: what this Worker isolate knows of exhausted red packets.
 *
 * When a room's claim answer says a packet is exhausted, it carries the packet's edge
 * knowledge (live-room.claims: the final count and a Bloom filter of the winners). From then
 * on this isolate answers a claimer the filter rules out with `packet_exhausted` — exactly
 * the room's answer, since an exhausted packet never changes and the room checks "exhausted"
 * before expiry or audience — without calling the room. Everyone else goes to the room:
 * winners (the filter has no false negatives, so a winner is never told "exhausted") and the
 * filter's few false positives. A winner's repeat is answered here only from a claim this
 * isolate heard from the room for that very user, so no one is given another's claim.
 *
 * Memory is bounded: `edgeExhaustedPacketsMax` packets, least recently used first out, each
 * a filter of at most 15,000 bytes and `edgeClaimsPerPacketMax` remembered claims. Other
 * isolates learn the same on their own first exhausted answer (one room call each).
 */
import { LIMITS } from "../../domain/limits";
import { mayHaveWon } from "../../domain/winner-filter";
import type { ClaimAnswer, ExhaustedPacket } from "../../durable-objects/live-room.claims";
import type { RoomClaim } from "../../durable-objects/live-room.packets";

interface Known {
  readonly packet: ExhaustedPacket;
  readonly claims: Map<string, RoomClaim>;
}

export class EdgeClaims {
  private readonly known = new Map<string, Known>();
  /** Claims this isolate answered without the room (for tests and logs). */
  answeredHere = 0;

  constructor(
    private readonly packetsMax: number = LIMITS.edgeExhaustedPacketsMax,
    private readonly claimsPerPacketMax: number = LIMITS.edgeClaimsPerPacketMax,
  ) {}

  private static key(roomId: string, packetId: string): string {
    return `${roomId}\u0000${packetId}`;
  }

  /** The answer for this claimer without the room, or null: ask the room. */
  answer(roomId: string, packetId: string, userId: string): ClaimAnswer | null {
    const key = EdgeClaims.key(roomId, packetId);
    const known = this.known.get(key);
    if (known === undefined) return null;
    this.known.delete(key); // most recently used last
    this.known.set(key, known);
    const mine = known.claims.get(userId);
    if (mine !== undefined) {
      this.answeredHere++;
      return { kind: "claimed", claim: mine, fresh: false, exhausted: true };
    }
    if (mayHaveWon(known.packet.winners, userId)) return null;
    this.answeredHere++;
    return { kind: "rejected", code: "packet_exhausted" };
  }

  /** Learns from the room's answer to `userId`'s claim: the packet's edge knowledge, and their claim. */
  learn(roomId: string, packetId: string, userId: string, answer: ClaimAnswer): void {
    const key = EdgeClaims.key(roomId, packetId);
    let known = this.known.get(key);
    if (known === undefined && answer.edge !== undefined && answer.edge.packetId === packetId) {
      known = { packet: answer.edge, claims: new Map() };
      while (this.known.size >= this.packetsMax) {
        const oldest = this.known.keys().next().value;
        if (oldest === undefined) break;
        this.known.delete(oldest);
      }
      this.known.set(key, known);
    }
    if (
      known !== undefined &&
      answer.kind === "claimed" &&
      answer.claim.userId === userId &&
      answer.claim.packetId === packetId &&
      known.claims.size < this.claimsPerPacketMax
    ) {
      known.claims.set(userId, answer.claim);
    }
  }

  /** Exhausted packets known here (tests). */
  size(): number {
    return this.known.size;
  }
}

/** The isolate's edge knowledge: module state lives as long as the isolate. */
export const edgeClaims = new EdgeClaims();
