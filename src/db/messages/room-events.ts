/**
 * The room outbox's payload, defined once: the events a live room hears of (a tip, a stream
 * starting or ending, a red packet sent). The ledger's operations write them to `room_outbox`
 * in the same batch as the fact they announce (src/db/room-outbox.ts); the Worker delivers
 * them; the LiveRoom object parses them at its RPC boundary (live-room.protocol.ts) and
 * applies each id at most once.
 *
 * Why here: the operations that write them live in src/db, the room that reads them above it,
 * and dependencies point down (Worker → objects → db → domain), like the ledger-postings
 * message beside this file.
 */

import { z } from "zod";
import { USER_ID_PATTERN } from "../../domain/accounts";
import { HEX_32_PATTERN } from "../../domain/fair-packet";
import { LIMITS } from "../../domain/limits";
import { CURRENCIES } from "../../domain/money";
import { AUDIENCES, SPLIT_MODES } from "../../domain/red-packet";
import { GIFT_TIERS } from "../../domain/tip";

const UserId = z.string().regex(USER_ID_PATTERN);
const Minor = z.number().int().nonnegative().max(LIMITS.amountMaxMinor);
/** A message as shown: at most the limit's code points (each at most two UTF-16 units). */
const MessageText = z
  .string()
  .min(1)
  .max(LIMITS.tipMessageMaxCodePoints * 2);

export const TipEvent = z.object({
  type: z.literal("tip"),
  id: z.string().min(1).max(64), // the tip id; the room applies it at most once
  roomId: z.string(),
  streamId: z.string(),
  creatorId: UserId,
  viewerId: UserId,
  giftId: z.string().nullable(),
  giftName: z.string().nullable(),
  tier: z.enum(GIFT_TIERS).nullable(),
  animationKey: z.string().nullable(),
  quantity: z.number().int().min(1).max(LIMITS.giftQuantityMax),
  amountMinor: Minor.min(1),
  big: z.boolean(),
  createdAtMs: z.number().int().nonnegative(),
  /**
   * The viewer's message as the room shows it (mask-level words masked); null when there is
   * none or it is held for review (then a `tip.message` event brings it once approved).
   * Defaulted for outbox rows written before messages.
   */
  message: MessageText.nullable().default(null),
});
export type TipEvent = z.infer<typeof TipEvent>;

/** A held tip message an operator approved: the room shows it at once (src/db/tip-messages.ts). */
export const TipMessageEvent = z.object({
  type: z.literal("tip.message"),
  id: z.string().min(1).max(64), // `msg_` + the tip id; applied at most once
  roomId: z.string(),
  tipId: z.string().min(1).max(64),
  viewerId: UserId,
  text: MessageText,
  atMs: z.number().int().nonnegative(),
});
export type TipMessageEvent = z.infer<typeof TipMessageEvent>;

/** A held red-packet greeting an operator approved: the room shows it on the packet (src/db/packet-greetings.ts). */
export const PacketGreetingEvent = z.object({
  type: z.literal("packet.greeting"),
  id: z.string().min(1).max(80), // `greeting_` + the packet id; applied at most once
  roomId: z.string(),
  packetId: z.string().min(1).max(64),
  greeting: z.string().max(LIMITS.packetGreetingMaxLength),
  atMs: z.number().int().nonnegative(),
});
export type PacketGreetingEvent = z.infer<typeof PacketGreetingEvent>;

/**
 * A stream went live. It carries no big-gift threshold: the room never judges bigness (each tip
 * event says whether it is big, judged where it is priced against the effective threshold), and
 * pages read `effectiveBigGiftThresholdMinor` from GET /v1/rooms/{id}. Rows written before this
 * carried the room's raw `bigGiftThresholdMinor`; the schema strips it (z.object drops unknown keys).
 */
const StreamStartedEvent = z.object({
  type: z.literal("stream.started"),
  id: z.string().min(1).max(64),
  roomId: z.string(),
  streamId: z.string(),
  creatorId: UserId,
  title: z.string(),
  atMs: z.number().int().nonnegative(),
});

const StreamEndedEvent = z.object({
  type: z.literal("stream.ended"),
  id: z.string().min(1).max(64),
  roomId: z.string(),
  streamId: z.string(),
  atMs: z.number().int().nonnegative(),
});

/**
 * A red packet as the room knows it: what it needs to serialize claims and announce it.
 * `seed` is the packet's secret (docs/adr/0008): the room draws every share from it and
 * reveals it only once the packet is finished, so a PacketInfo is never shown to anyone; the
 * room shows a PacketView. Null for packets sent before the scheme (and their outbox rows).
 */
export const PacketInfo = z.object({
  id: z.string().min(1).max(64),
  senderId: UserId,
  creatorId: UserId,
  currency: z.enum(CURRENCIES),
  totalMinor: Minor.min(1),
  shares: z.number().int().min(1).max(LIMITS.packetSharesMax),
  split: z.enum(SPLIT_MODES),
  greeting: z.string().max(LIMITS.packetGreetingMaxLength),
  audience: z.enum(AUDIENCES),
  createdAtMs: z.number().int().nonnegative(),
  expiresAtMs: z.number().int().nonnegative(),
  seed: z.string().regex(HEX_32_PATTERN).nullable().default(null),
});
export type PacketInfo = z.infer<typeof PacketInfo>;

export const PacketSentEvent = z.object({
  type: z.literal("packet.sent"),
  id: z.string().min(1).max(64), // the packet id
  roomId: z.string(),
  packet: PacketInfo,
});
export type PacketSentEvent = z.infer<typeof PacketSentEvent>;

export const RoomEvent = z.discriminatedUnion("type", [
  TipEvent,
  TipMessageEvent,
  StreamStartedEvent,
  StreamEndedEvent,
  PacketSentEvent,
  PacketGreetingEvent,
]);
export type RoomEvent = z.infer<typeof RoomEvent>;
export const RoomEvents = z.array(RoomEvent).min(1).max(LIMITS.roomEventsPerDeliveryMax);
