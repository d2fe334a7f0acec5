/**
 * Claims beyond the room's desk: what the room tells the Worker when a packet is exhausted
 * (so the Worker answers later claimers itself), and claims that arrive as socket frames.
 *
 * Edge knowledge: once a packet's last share is taken, nothing about it changes again, so
 * the room builds one `ExhaustedPacket` — the final count and a Bloom filter of the winners
 * (src/domain/winner-filter.ts) — and attaches it to every claim answer that says the packet
 * is exhausted. The Worker keeps it (src/worker/rooms/exhausted-packets.ts) and answers a
 * claimer the filter rules out with the very `packet_exhausted` the room would have given.
 *
 * Socket claims: `answerClaimFrame` turns a `packet.claim` frame from a known sender into its
 * `packet.claim.result` frame, through the same claim path as the HTTP route. It takes the
 * sender (role, user, follows) and the frame, not the socket, so a frame a fan-out shard
 * forwards by RPC is answered by the same function.
 */

import { ERROR_CODES } from "../domain/errors";
import { LIMITS } from "../domain/limits";
import { formatMinor } from "../domain/money";
import { buildWinnerFilter } from "../domain/winner-filter";
import type { ClaimOutcome, RedPacketDesk, RoomClaim } from "./live-room.packets";
import type { FrameSender, PacketClaimFrame, PacketClaimResultFrame } from "./live-room.protocol";
import type { RiskRefusalCode } from "./live-room.risk";

/** An exhausted packet as the Worker needs it to answer claimers without the room. */
export interface ExhaustedPacket {
  readonly packetId: string;
  readonly shares: number;
  readonly totalMinor: number;
  readonly luckiest: { userId: string; amountMinor: number; index: number } | null;
  /** Bloom filter of the winners' user ids: no false negatives. */
  readonly winners: Uint8Array;
}

/** What a claimer hears back; `packet_busy` carries a retry hint; `edge` once the packet is exhausted. */
export type ClaimAnswer = (
  | Exclude<ClaimOutcome, { kind: "rejected" }>
  | {
      readonly kind: "rejected";
      readonly code:
        | Extract<ClaimOutcome, { kind: "rejected" }>["code"]
        | "packet_busy"
        | "switch_packets_paused"
        | "switch_read_only"
        | RiskRefusalCode;
      readonly retryAfterMs?: number;
      /** A risk refusal's decision record (socket claims: the room decides their risk). */
      readonly decisionId?: string;
    }
) & { readonly edge?: ExhaustedPacket };

/** Does this answer say the packet has no share left? */
export function saysExhausted(answer: ClaimAnswer): boolean {
  return (
    (answer.kind === "rejected" && answer.code === "packet_exhausted") ||
    (answer.kind === "claimed" && answer.exhausted)
  );
}

/**
 * The exhausted packets this room has described, built once each from its SQLite and kept
 * in memory (a few, most recent first out): an exhausted packet never changes again.
 */
export class ExhaustedPackets {
  private readonly built = new Map<string, ExhaustedPacket>();

  constructor(
    private readonly sql: SqlStorage,
    private readonly desk: RedPacketDesk,
    private readonly keptMax = 8,
  ) {}

  /** The packet's edge knowledge; null if it is not exhausted. */
  of(packetId: string): ExhaustedPacket | null {
    const known = this.built.get(packetId);
    if (known) return known;
    const packet = this.sql
      .exec<{ shares: number; total_minor: number; remaining_shares: number }>(
        "SELECT shares, total_minor, remaining_shares FROM packets WHERE id = ?",
        packetId,
      )
      .toArray()[0];
    if (packet?.remaining_shares !== 0) return null;
    const winnerIds = this.sql
      .exec<{ user_id: string }>("SELECT user_id FROM packet_claims WHERE packet_id = ?", packetId)
      .toArray()
      .map((r) => r.user_id);
    const built: ExhaustedPacket = {
      packetId,
      shares: packet.shares,
      totalMinor: packet.total_minor,
      luckiest: this.desk.luckiestClaim(packetId),
      winners: buildWinnerFilter(winnerIds),
    };
    if (this.built.size >= this.keptMax) {
      const oldest = this.built.keys().next().value;
      if (oldest !== undefined) this.built.delete(oldest);
    }
    this.built.set(packetId, built);
    return built;
  }

  /** The answer, with the packet's edge knowledge when it says the packet is exhausted. */
  attach(packetId: string, answer: ClaimAnswer): ClaimAnswer {
    if (!saysExhausted(answer)) return answer;
    const edge = this.of(packetId);
    return edge ? { ...answer, edge } : answer;
  }
}

/** A claim as the HTTP route and the socket both show it. */
export function claimView(claim: RoomClaim) {
  return { ...claim, amount: formatMinor(claim.amountMinor) };
}

function failure(
  requestId: string,
  code: keyof typeof ERROR_CODES,
  details?: { retryAfterMs: number } | { decisionId: string },
): Extract<PacketClaimResultFrame, { ok: false }> {
  return {
    type: "packet.claim.result",
    requestId,
    ok: false,
    status: ERROR_CODES[code].status,
    error: {
      code,
      message: ERROR_CODES[code].message,
      ...(details === undefined ? {} : { details }),
    },
  };
}

/** Per-socket claim allowance: a window start and a count, kept in the socket's attachment. */
export interface ClaimAllowance {
  claimWindowStartMs?: number;
  claimCount?: number;
}

/**
 * Counts one claim frame against the socket's allowance (`wsClaimsPerMinuteMax`); returns
 * null when it may go on, or how long until it may claim again.
 */
export function spendClaimAllowance(allowance: ClaimAllowance, nowMs: number): number | null {
  if (allowance.claimWindowStartMs === undefined || nowMs - allowance.claimWindowStartMs >= 60_000) {
    allowance.claimWindowStartMs = nowMs;
    allowance.claimCount = 0;
  }
  allowance.claimCount = (allowance.claimCount ?? 0) + 1;
  if (allowance.claimCount <= LIMITS.wsClaimsPerMinuteMax) return null;
  return Math.max(1, allowance.claimWindowStartMs + 60_000 - nowMs);
}

/**
 * A claim frame counts against its socket's claim allowance (in the socket's attachment),
 * spent where the socket lives (the room, or the fan-out shard that holds it) before the
 * frame is answered. Returns the refusal to send, or null when the claim may go on. Any
 * other frame passes.
 */
export function claimAllowanceRefusal(
  ws: WebSocket,
  attachment: ClaimAllowance,
  frame: { readonly type: string; readonly requestId?: string },
  nowMs: number,
): PacketClaimResultFrame | null {
  if (frame.type !== "packet.claim" || frame.requestId === undefined) return null;
  const waitMs = spendClaimAllowance(attachment, nowMs);
  ws.serializeAttachment(attachment);
  if (waitMs === null) return null;
  return {
    type: "packet.claim.result",
    requestId: frame.requestId,
    ok: false,
    status: 429,
    error: {
      code: "packet_busy",
      message: "Too many claims from this socket; retry later.",
      details: { retryAfterMs: waitMs },
    },
  };
}

/**
 * The answer to a claim frame. `claim` is the room's claim path (the one the HTTP route
 * reaches, including learning a packet the room has not heard of); overlays have no user
 * and may not claim.
 */
export async function answerClaimFrame(
  sender: FrameSender,
  frame: PacketClaimFrame,
  claim: (packetId: string, userId: string, follows: readonly string[]) => Promise<ClaimAnswer>,
): Promise<PacketClaimResultFrame> {
  if (sender.role === "overlay" || sender.userId === null) return failure(frame.requestId, "forbidden");
  const answer = await claim(frame.packetId, sender.userId, sender.follows);
  switch (answer.kind) {
    case "unknown":
      return failure(frame.requestId, "packet_not_found");
    case "rejected":
      if (answer.code === "packet_busy")
        return failure(frame.requestId, "packet_busy", { retryAfterMs: answer.retryAfterMs ?? 1_000 });
      return answer.decisionId === undefined
        ? failure(frame.requestId, answer.code)
        : failure(frame.requestId, answer.code, { decisionId: answer.decisionId });
    case "claimed":
      return {
        type: "packet.claim.result",
        requestId: frame.requestId,
        ok: true,
        status: answer.fresh ? 201 : 200,
        claim: claimView(answer.claim),
        alreadyClaimed: !answer.fresh,
        creditedWithinSeconds: true,
      };
  }
}

/**
 * When a claim batch's credits leave for the ledger queue. A flush per batch made the room
 * spend a third of a storm on the queue (and, on one machine, its consumer's D1 writes):
 * bench/packet.ts measured 345 socket claims/s with it and 1,234 without. So credits leave
 * once claims go quiet for `packetCreditQuietMs`, at the latest `packetCreditDelayMaxMs`
 * after the first unsent one, and at once when a packet runs out. The alarm still flushes
 * whatever a lost timer (an evicted object) left behind.
 */
export class CreditPacer {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private waitingSinceMs: number | null = null;

  constructor(private readonly flush: () => void) {}

  /** Fresh claims committed; `exhausted` when one of them took a packet's last share. */
  committed(nowMs: number, exhausted: boolean): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (exhausted) {
      this.waitingSinceMs = null;
      this.flush();
      return;
    }
    this.waitingSinceMs ??= nowMs;
    const dueMs = Math.min(nowMs + LIMITS.packetCreditQuietMs, this.waitingSinceMs + LIMITS.packetCreditDelayMaxMs);
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.waitingSinceMs = null;
        this.flush();
      },
      Math.max(0, dueMs - nowMs),
    );
  }
}
