/**
 * What crosses between a LiveRoom and its fan-out shards (RoomFanOut), as zod schemas: the
 * frames the room pushes (already serialized, with their seq), the RPC argument lists both
 * ways, and the headers of a viewer socket the room places on a shard.
 */

import { z } from "zod";
import { USER_ID_PATTERN } from "../domain/accounts";
import { LIMITS } from "../domain/limits";
import { ClientFrame, SOCKET_ROLES } from "./live-room.protocol";
import { SocketSignals } from "./live-room.risk";

/**
 * The room's answer to a viewer socket it will not hold itself: the index of the shard that
 * takes it (the Worker then opens the socket on `{roomId}:{index}`).
 */
export const FAN_OUT_HEADER = "x-giftwire-fan-out";
/** The room id, set by the Worker on every socket handshake it forwards (shards are named by it). */
export const ROOM_HEADER = "x-giftwire-room";

export function shardName(roomId: string, index: number): string {
  return `${roomId}:${index}`;
}

/** A sequenced frame as the room's event log stores it: its seq and its JSON text, sent as is. */
export const FrameText = z.object({ seq: z.number().int().positive(), text: z.string().min(1) });
export type FrameText = z.infer<typeof FrameText>;

const Seq = z.number().int().nonnegative();
const RoomId = z.string().min(1).max(64);

/** RoomFanOut.deliver: the room's frames for this shard, consecutive and in order (may be empty: a probe). */
export const DeliverArgs = z.tuple([
  RoomId,
  z
    .number()
    .int()
    .min(0)
    .max(LIMITS.fanOutShardsMax - 1),
  z.array(FrameText).max(LIMITS.fanOutFramesPerPushMax),
]);
export type DeliverArgs = z.input<typeof DeliverArgs>;

/** LiveRoom.framesAfter: a shard's gap, from the room's event log (after `seq`, at most `limit`). */
export const FramesAfterArgs = z.tuple([Seq, z.number().int().min(1).max(LIMITS.replayLogMax)]);
export type FramesAfterArgs = z.input<typeof FramesAfterArgs>;

/** LiveRoom.viewerSnapshot: the viewer the snapshot is for (their rank) and the seq they resume after. */
export const ViewerSnapshotArgs = z.tuple([z.string().regex(USER_ID_PATTERN).nullable(), Seq.nullable()]);
export type ViewerSnapshotArgs = z.input<typeof ViewerSnapshotArgs>;

/** What a socket carries across hibernation (live-room.sockets.ts `Attachment`), as it crosses an RPC. */
export const SocketAttachment = z.object({
  role: z.enum(SOCKET_ROLES),
  userId: z.string().regex(USER_ID_PATTERN).nullable(),
  connectedAtMs: z.number().int(),
  rateWindowStartMs: z.number().int(),
  rateCount: z.number().int(),
  /** This room's creator if the user follows them (follower-only packets). */
  follows: z.array(z.string().regex(USER_ID_PATTERN)).max(1).optional(),
  /** The client's risk signals from the upgrade (risk on claims). */
  risk: SocketSignals.optional(),
});

/** LiveRoom.clientFrame: a frame a client sent on a shard's socket, with who sent it. */
export const ClientFrameArgs = z.tuple([SocketAttachment, ClientFrame]);
export type ClientFrameArgs = z.input<typeof ClientFrameArgs>;
