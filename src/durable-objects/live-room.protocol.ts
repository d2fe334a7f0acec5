/**
 * Everything that crosses the LiveRoom's boundary, as zod schemas: the argument lists of its
 * RPC methods, frames from clients, frames to clients. Types are inferred. The events the
 * Worker delivers (tips, streams, packets) are the room outbox's payload, defined once in
 * src/db/messages/room-events.ts, where the operations that write them can reach them.
 */
import { z } from "zod";
import { PacketInfo } from "../db/messages/room-events";
import { USER_ID_PATTERN } from "../domain/accounts";
import { idPattern } from "../domain/ids";
import { LIMITS } from "../domain/limits";
import { AUDIENCES, SPLIT_MODES } from "../domain/red-packet";
import { PERIODS } from "../domain/room/periods";
import { GIFT_TIERS } from "../domain/tip";
import { SocketSignals } from "./live-room.risk";

const UserId = z.string().regex(USER_ID_PATTERN);
const Minor = z.number().int().nonnegative().max(LIMITS.amountMaxMinor);

// ── RPC arguments ──────────────────────────────────────────────────────────────────────
// Each RPC method with arguments parses them here first, as a tuple, like every other input
// that crosses a boundary: the Worker's types do not travel with the call, and a stub is
// reachable by any code holding the binding. `deliver` and `ensurePacket` take RoomEvents and
// PacketInfo (src/db/messages/room-events.ts). Parsing a claim's arguments costs about what the RPC already pays to
// serialize them: under 1 µs with no follows, a few µs for 20 (bench/claim-args.ts).

const ObjectId = z.string().min(1).max(64);

export const ClaimPacketArgs = z.tuple([
  ObjectId, // packet id
  UserId, // claimer
  z.array(UserId).max(LIMITS.followsPerTokenMax), // creators the claimer follows (follower-only packets)
]);
export type ClaimPacketArgs = z.input<typeof ClaimPacketArgs>;

export const PacketArgs = z.tuple([ObjectId, UserId.nullable()]);
export type PacketArgs = z.input<typeof PacketArgs>;

export const PacketClaimsArgs = z.tuple([
  ObjectId,
  z.number().int().min(-1).max(LIMITS.packetSharesMax), // the claim index the page starts after
  z.number().int().min(1).max(LIMITS.packetClaimsPageMax),
]);
export type PacketClaimsArgs = z.input<typeof PacketClaimsArgs>;

export const CloseExpiredPacketArgs = z.tuple([PacketInfo, z.boolean()]);
export type CloseExpiredPacketArgs = z.input<typeof CloseExpiredPacketArgs>;

export const LeaderboardArgs = z.tuple([
  z.enum(PERIODS),
  UserId.nullable(),
  z.number().int().min(1).max(LIMITS.leaderboardTopMax),
]);
export type LeaderboardArgs = z.input<typeof LeaderboardArgs>;

// ── Frames from clients ────────────────────────────────────────────────────────────────

export const PacketClaimFrame = z.object({
  type: z.literal("packet.claim"),
  packetId: z.string().regex(idPattern("packet")),
  /** The client's own id for this claim, echoed in the answer (any 1–64 printable characters). */
  requestId: z.string().regex(/^[\x21-\x7e]{1,64}$/),
});
export type PacketClaimFrame = z.infer<typeof PacketClaimFrame>;

export const ClientFrame = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ping") }),
  /** Overlay: "I have shown everything up to seq"; the room remembers it across reconnects. */
  z.object({ type: z.literal("ack"), seq: z.number().int().nonnegative() }),
  /** Broadcaster console: skip an alert on the overlay, or show it again. */
  z.object({ type: z.literal("alert.skip"), seq: z.number().int().positive() }),
  z.object({ type: z.literal("alert.replay"), seq: z.number().int().positive() }),
  /** Viewer: grab a share of a red packet; answered with `packet.claim.result` carrying the same requestId. */
  PacketClaimFrame,
]);
export type ClientFrame = z.infer<typeof ClientFrame>;

// ── Frames to clients ──────────────────────────────────────────────────────────────────

export const SOCKET_ROLES = ["viewer", "broadcaster", "overlay"] as const;
export type SocketRole = (typeof SOCKET_ROLES)[number];

const LeaderboardEntry = z.object({
  rank: z.number().int().positive(),
  viewerId: UserId,
  totalMinor: Minor,
  tipCount: z.number().int().nonnegative(),
});
export const Leaderboard = z.object({
  period: z.enum(PERIODS),
  periodKey: z.string(),
  top: z.array(LeaderboardEntry),
  me: LeaderboardEntry.nullable(),
});
export type Leaderboard = z.infer<typeof Leaderboard>;

const RoomState = z.object({
  roomId: z.string().nullable(),
  creatorId: z.string().nullable(),
  title: z.string().nullable(),
  status: z.enum(["live", "offline"]),
  streamId: z.string().nullable(),
});

const ShownMessage = z.object({ tipId: z.string(), viewerId: UserId, text: z.string(), atMs: z.number().int() });

export const BigGift = z.object({
  tipId: z.string(),
  viewerId: UserId,
  giftId: z.string().nullable(),
  giftName: z.string().nullable(),
  tier: z.enum(GIFT_TIERS).nullable(),
  animationKey: z.string().nullable(),
  quantity: z.number().int(),
  amountMinor: Minor,
  createdAtMs: z.number().int(),
  /** Same gift from the same viewer in quick succession: one combo, its running count. */
  combo: z.object({ id: z.string(), count: z.number().int().positive() }),
  /** The viewer's message (mask-level words masked); null when none, or held for review. */
  message: z.string().nullable().optional(),
});

export type BigGift = z.infer<typeof BigGift>;

const Merged = z.object({
  tipCount: z.number().int().positive(),
  totalMinor: Minor,
  byGift: z.array(z.object({ giftId: z.string().nullable(), quantity: z.number().int(), amountMinor: Minor })),
  combos: z.array(
    z.object({
      viewerId: UserId,
      giftId: z.string(),
      quantity: z.number().int(),
      tips: z.number().int(),
      firstAtMs: z.number().int(),
      lastAtMs: z.number().int(),
    }),
  ),
  topTippers: z.array(z.object({ viewerId: UserId, amountMinor: Minor })),
  /** The window's last few tip messages (at most LIMITS.mergedMessagesMax), oldest first; held ones are absent. */
  messages: z.array(ShownMessage).max(LIMITS.mergedMessagesMax).optional(),
  fromMs: z.number().int(),
  toMs: z.number().int(),
});

/** A red packet as viewers see it: no amounts of other people's claims until they are made. */
export const PacketView = z.object({
  id: z.string(),
  senderId: UserId,
  totalMinor: Minor,
  shares: z.number().int(),
  remainingShares: z.number().int().nonnegative(),
  split: z.enum(SPLIT_MODES),
  greeting: z.string(),
  audience: z.enum(AUDIENCES),
  status: z.enum(["open", "exhausted", "expired"]),
  createdAtMs: z.number().int(),
  expiresAtMs: z.number().int(),
  /** SHA-256 of the packet's secret seed, published at send (docs/adr/0008); null before the scheme. */
  commitment: z.string().nullable(),
  /** The seed itself, once the packet is exhausted or expired; null while it is open. */
  seed: z.string().nullable(),
});
export type PacketView = z.infer<typeof PacketView>;

/** Events that carry a sequence number and live in the replay log. */
export const SequencedFrame = z.discriminatedUnion("type", [
  /** One frame per window: the window's tips, merged, and the live board after them. */
  z.object({ type: z.literal("tips.merged"), seq: z.number().int(), merged: Merged, leaderboard: Leaderboard }),
  z.object({ type: z.literal("gift.big"), seq: z.number().int(), gift: BigGift }),
  /** A held tip message an operator approved: shown at once, on its own. */
  z.object({ type: z.literal("tip.message"), seq: z.number().int(), message: ShownMessage }),
  z.object({ type: z.literal("leaderboard"), seq: z.number().int(), leaderboard: Leaderboard }),
  z.object({ type: z.literal("room.live"), seq: z.number().int(), room: RoomState }),
  z.object({ type: z.literal("room.ended"), seq: z.number().int(), room: RoomState }),
  z.object({ type: z.literal("alert.skip"), seq: z.number().int(), alertSeq: z.number().int() }),
  z.object({ type: z.literal("alert.replay"), seq: z.number().int(), alertSeq: z.number().int(), gift: BigGift }),
  /** A red packet was sent: at once, to everyone. */
  z.object({ type: z.literal("packet.sent"), seq: z.number().int(), packet: PacketView }),
  /** A packet's held greeting was approved: it replaces the default one. */
  z.object({ type: z.literal("packet.greeting"), seq: z.number().int(), packetId: z.string(), greeting: z.string() }),
  /** Claim progress, merged: at most one per window, for the packets claimed from since the last. */
  z.object({
    type: z.literal("packet.progress"),
    seq: z.number().int(),
    packets: z.array(z.object({ id: z.string(), remainingShares: z.number().int(), claimed: z.number().int() })),
  }),
  /** The last share was taken: at once, with the luckiest claim (手气最佳). */
  z.object({
    type: z.literal("packet.exhausted"),
    seq: z.number().int(),
    packetId: z.string(),
    luckiest: z.object({ userId: UserId, amountMinor: Minor, index: z.number().int() }).nullable(),
    /** The revealed seed: every share can now be recomputed (docs/adr/0008). */
    seed: z.string().nullable(),
  }),
  /** Expired with shares left: the remainder goes back to the sender. */
  z.object({
    type: z.literal("packet.expired"),
    seq: z.number().int(),
    packetId: z.string(),
    claimed: z.number().int(),
    remainingMinor: Minor,
    /** The revealed seed, as in packet.exhausted. */
    seed: z.string().nullable(),
  }),
]);
export type SequencedFrame = z.infer<typeof SequencedFrame>;
/** A sequenced frame before the room numbers it. */
export type UnsequencedFrame = SequencedFrame extends infer F
  ? F extends { seq: number }
    ? Omit<F, "seq">
    : never
  : never;

/** A claim as its claimer hears it: the HTTP answer's `claim` (amounts exact and for display). */
const ClaimView = z.object({
  id: z.string(),
  packetId: z.string(),
  userId: UserId,
  index: z.number().int().nonnegative(),
  amountMinor: Minor,
  amount: z.string(),
  claimedAtMs: z.number().int(),
});

/**
 * The answer to a `packet.claim` frame: the HTTP route's body with its status, so a client
 * handles both the same way — 201/200 `{ claim, alreadyClaimed, creditedWithinSeconds }`, or
 * an error status with `{ error: { code, message, details? } }` and the same codes.
 */
export const PacketClaimResultFrame = z.discriminatedUnion("ok", [
  z.object({
    type: z.literal("packet.claim.result"),
    requestId: z.string(),
    ok: z.literal(true),
    status: z.union([z.literal(200), z.literal(201)]),
    claim: ClaimView,
    alreadyClaimed: z.boolean(),
    creditedWithinSeconds: z.literal(true),
  }),
  z.object({
    type: z.literal("packet.claim.result"),
    requestId: z.string(),
    ok: z.literal(false),
    status: z.number().int(),
    error: z.object({
      code: z.string(),
      message: z.string(),
      details: z
        .union([
          z.object({ retryAfterMs: z.number().int().positive() }),
          // A risk refusal names its decision record.
          z.object({ decisionId: z.string() }),
        ])
        .optional(),
    }),
  }),
]);
export type PacketClaimResultFrame = z.infer<typeof PacketClaimResultFrame>;

/** Who sent a client frame: what the room's socket attachment (or a fan-out shard) knows of them. */
export const FrameSender = z.object({
  role: z.enum(SOCKET_ROLES),
  userId: UserId.nullable(),
  /** Of the creators the sender follows, this room's creator if among them (follower-only packets). */
  follows: z.array(UserId).max(1),
  /** The client's risk signals from the socket's upgrade (absent: only the user is known). */
  risk: SocketSignals.optional(),
});
export type FrameSender = z.infer<typeof FrameSender>;

export const ClaimFrameArgs = z.tuple([FrameSender, PacketClaimFrame]);
export type ClaimFrameArgs = z.input<typeof ClaimFrameArgs>;

export const ServerFrame = z.union([
  SequencedFrame,
  z.object({
    type: z.literal("snapshot"),
    seq: z.number().int(),
    role: z.enum(SOCKET_ROLES),
    room: RoomState,
    leaderboard: Leaderboard,
    /** Open red packets, newest first. */
    redPackets: z.array(PacketView),
    windowMs: z.number().int(),
    /** For overlays: the seq replay starts after; frames with seq > this follow. */
    resumeFromSeq: z.number().int().nullable(),
  }),
  z.object({ type: z.literal("pong") }),
  z.object({ type: z.literal("error"), code: z.string(), message: z.string() }),
  PacketClaimResultFrame,
]);
export type ServerFrame = z.infer<typeof ServerFrame>;

/** Close codes the room uses (RFC 6455 and the 4000–4999 private range). */
export const CLOSE = {
  normal: 1000,
  policyViolation: 1008, // rate limit, malformed frames
  tooBig: 1009,
  tryAgainLater: 1013, // room full
  overlayRevoked: 4003,
} as const;
