/** Rooms as the ledger's operations and the routes read them. */

export interface RoomRow {
  id: string;
  creator_id: string;
  title: string;
  status: "live" | "offline";
  current_stream_id: string | null;
  big_gift_threshold_minor: number | null;
  overlay_key_hash: string | null;
  created_at_ms: number;
  updated_at_ms: number;
}

export function findRoom(db: D1Database, roomId: string): Promise<RoomRow | null> {
  return db.prepare("SELECT * FROM rooms WHERE id = ?").bind(roomId).first<RoomRow>();
}
