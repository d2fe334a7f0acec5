/**
 * Which room ids exist, as this Worker isolate has seen them in the control database.
 *
 * A Durable Object comes into being the moment it is addressed: asking `LIVE_ROOM` about a
 * valid-looking but unknown room id would create an object (and its schema) just to answer
 * 404. Routes that go straight to the room ask here first. Rooms are never deleted, so a room
 * once found stays known (least recently used first out, `LIMITS.knownRoomsMax`); an unknown
 * id is never remembered, so a room created a moment ago in another isolate is found on its
 * first request here (one control read).
 */
import { LIMITS } from "../../domain/limits";
import { ApiError } from "../errors";

export class KnownRooms {
  /** Room id → its creator (a room's creator never changes). */
  private readonly known = new Map<string, string>();
  /** Control reads this isolate made (for tests). */
  reads = 0;

  constructor(private readonly max: number = LIMITS.knownRoomsMax) {}

  /** True if the room exists; reads the control database unless this isolate knows it already. */
  async exists(control: D1Database, roomId: string): Promise<boolean> {
    return (await this.creatorOf(control, roomId)) !== null;
  }

  /** The room's creator, or null when there is no such room (read as `exists`). */
  async creatorOf(control: D1Database, roomId: string): Promise<string | null> {
    const creatorId = this.known.get(roomId);
    if (creatorId !== undefined) {
      this.known.delete(roomId); // most recently used last
      this.known.set(roomId, creatorId);
      return creatorId;
    }
    this.reads++;
    const row = await control
      .prepare("SELECT creator_id FROM rooms WHERE id = ?")
      .bind(roomId)
      .first<{ creator_id: string }>();
    if (row === null) return null;
    this.known.set(roomId, row.creator_id);
    if (this.known.size > this.max) {
      const oldest = this.known.keys().next().value;
      if (oldest !== undefined) this.known.delete(oldest);
    }
    return row.creator_id;
  }

  /** Throws `room_not_found` unless the room exists. */
  async require(control: D1Database, roomId: string): Promise<void> {
    if (!(await this.exists(control, roomId))) throw new ApiError("room_not_found");
  }
}

/** This isolate's knowledge. */
export const knownRooms = new KnownRooms();
