import { fail, ok, type Result } from "../errors";

/** What deciding "is the room live" needs of a room row. */
export interface RoomLiveness {
  readonly status: "live" | "offline";
  readonly current_stream_id: string | null;
  readonly creator_id: string;
}

/**
 * The room's current stream, if the room exists and is live. Tips and red packets go only
 * into a live room; the same rule is re-checked as a guard inside their batches, since the
 * room may end after this read.
 */
export function liveStreamOf(
  room: RoomLiveness | null,
): Result<{ readonly creatorId: string; readonly streamId: string }, "room_not_found" | "room_not_live"> {
  if (room === null) return fail("room_not_found");
  if (room.status !== "live" || room.current_stream_id === null) return fail("room_not_live");
  return ok({ creatorId: room.creator_id, streamId: room.current_stream_id });
}
