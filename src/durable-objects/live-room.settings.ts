/**
 * The room's small settings: its identity and stream status, the last sequence number and
 * the overlay's acknowledged seq. They live in the storage KV API (`ctx.storage.kv`), which a
 * SQLite-backed object keeps in the same database as its tables: reads and writes are
 * synchronous and join the surrounding `transactionSync`, so a seq handed out and the event
 * stored under it commit or roll back together. Values keep their types (structured clone),
 * so nothing here parses strings back into numbers.
 */

import { assert } from "../domain/limits";

export interface RoomIdentity {
  roomId: string | null;
  creatorId: string | null;
  title: string | null;
  status: "live" | "offline";
  streamId: string | null;
}

/** Every key the room keeps, with its type; a key not listed here cannot be read or written. */
interface Keys {
  roomId: string;
  creatorId: string;
  title: string;
  status: "live" | "offline";
  streamId: string;
  /** The last seq handed out (0 before the first frame). */
  seq: number;
  /** The highest seq an overlay said it has shown; where an overlay without `lastSeq` resumes. */
  overlayAckSeq: number;
  /** The fan-out shards viewers were placed on, `{roomId}:0` … `{roomId}:{shards − 1}` (live-room.fan-out.ts). */
  fanOut: { roomId: string; shards: number };
  /** The latest `commitByMs` the tier desk quoted while schedules exist (live-room.tiers.ts). */
  tierCommitByMs: number;
}

export class RoomSettings {
  constructor(private readonly kv: SyncKvStorage) {}

  get<K extends keyof Keys>(key: K): Keys[K] | null {
    return this.kv.get<Keys[K]>(key) ?? null;
  }

  put<K extends keyof Keys>(key: K, value: Keys[K]): void {
    this.kv.put(key, value);
  }

  identity(): RoomIdentity {
    return {
      roomId: this.get("roomId"),
      creatorId: this.get("creatorId"),
      title: this.get("title"),
      status: this.get("status") ?? "offline",
      streamId: this.get("streamId"),
    };
  }
}

/**
 * Before the KV API, these settings sat as text in a hand-made `meta` table. Nothing is
 * deployed yet (pre-launch), so only local `wrangler dev` state can hold one; it is read once
 * here, typed, moved into KV and dropped, so an old local room keeps its seq (its replay log
 * would otherwise collide with seq 1 again). Call inside `transactionSync`. Once no developer
 * state predates the KV switch, this function and its call can go.
 */
export function importLegacyMeta(sql: SqlStorage, settings: RoomSettings): void {
  const exists = sql
    .exec<{ n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'meta'")
    .one().n;
  if (exists === 0) return;
  for (const { key, value } of sql.exec<{ key: string; value: string }>("SELECT key, value FROM meta")) {
    switch (key) {
      case "seq":
      case "overlayAckSeq": {
        const n = Number(value);
        assert(Number.isSafeInteger(n) && n >= 0, "a legacy seq is a non-negative integer");
        settings.put(key, n);
        break;
      }
      case "status":
        settings.put("status", value === "live" ? "live" : "offline");
        break;
      case "roomId":
      case "creatorId":
      case "title":
      case "streamId":
        settings.put(key, value);
        break;
      // `leaderboardPersistedAtMs` was written and never read: it is not carried over.
    }
  }
  sql.exec("DROP TABLE meta");
}
