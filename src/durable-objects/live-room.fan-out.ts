/**
 * A hot room's fan-out, the room's side. Up to a configured number of viewer sockets the room
 * holds every socket itself; beyond it, each new viewer socket is placed on one of its fan-out
 * shards (RoomFanOut objects `{roomId}:{k}`, round robin), and every sequenced frame goes to
 * each shard once, many frames per call, for the shard to send to its own sockets.
 *
 * The event log is the source of every push: a shard's pump sends what the log holds after the
 * seq the shard last confirmed, so a frame committed and not yet pushed (the room restarted,
 * a call failed) goes out on the next pump. A push that fails is retried with backoff; after
 * the room wakes, each shard is first asked where it stands (an empty push). Overlays and the
 * broadcaster stay on the room: they are few, and their frames (acks, alert controls) are the
 * room's own state.
 */

import { LIMITS } from "../domain/limits";
import type { Logger } from "../platform/logger";
import type { EventLog } from "./live-room.event-log";
import type { SocketRole } from "./live-room.protocol";
import type { RoomSettings } from "./live-room.settings";
import type { RoomFanOut } from "./room-fan-out";
import { shardName } from "./room-fan-out.protocol";

/** Where a new socket goes: the room itself, or the fan-out shard with this index. */
export type Placement = { kind: "room" } | { kind: "shard"; index: number };

export interface FanOutConfig {
  threshold: number;
  shards: number;
}

/** The shard a viewer socket goes to, given how many viewer sockets the room holds itself. */
export function placeSocket(role: SocketRole, viewersHere: number, config: FanOutConfig, turn: number): Placement {
  if (role !== "viewer" || viewersHere < config.threshold) return { kind: "room" };
  return { kind: "shard", index: turn % config.shards };
}

type ShardStub = DurableObjectStub<RoomFanOut>;

/** One shard's pump: at most one push in flight; what arrives meanwhile goes in the next. */
class ShardPump {
  /** The last seq the shard confirmed; null until it has said (after the room wakes or a failure). */
  private acked: number | null = null;
  private running = false;
  private again = false;
  private failures = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly stub: () => ShardStub,
    private readonly roomId: string,
    private readonly index: number,
    private readonly events: EventLog,
    private readonly log: Logger,
  ) {}

  kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    this.running = true;
    void this.run();
  }

  private async run(): Promise<void> {
    try {
      for (;;) {
        this.again = false;
        if (this.acked === null) {
          // A shard holding no socket (null) needs nothing before the probe: a socket joining
          // after it was answered takes a snapshot at least that recent.
          const seqAtProbe = this.events.seq();
          this.acked = (await this.stub().deliver(this.roomId, this.index, [])) ?? seqAtProbe;
        }
        const batch =
          this.acked < this.events.seq() ? this.events.textsAfter(this.acked, LIMITS.fanOutFramesPerPushMax) : [];
        const last = batch[batch.length - 1];
        if (last !== undefined) {
          this.acked = (await this.stub().deliver(this.roomId, this.index, batch)) ?? last.seq;
          this.failures = 0;
          continue;
        }
        this.failures = 0;
        if (!this.again) return;
      }
    } catch (error) {
      // The shard restarted or is unreachable: ask it where it stands before the next push.
      this.acked = null;
      this.failures += 1;
      const fields = { roomId: this.roomId, shard: this.index, attempts: this.failures, error: String(error) };
      if (this.failures >= LIMITS.alertAfterAttempts) this.log.error("alert_fan_out_push_failing", fields);
      else this.log.warn("fan_out_push_failed", fields);
      const delayMs = Math.min(LIMITS.fanOutRetryMaxMs, 25 * 2 ** this.failures);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.kick();
      }, delayMs);
    } finally {
      this.running = false;
    }
  }
}

/** The room's fan-out: placement, the shards in use (kept in the room's KV), one pump per shard. */
export class FanOut {
  private readonly pumps = new Map<number, ShardPump>();
  private turn = Math.floor(Math.random() * LIMITS.fanOutShardsMax);

  constructor(
    private readonly namespace: Env["ROOM_FAN_OUT"],
    private readonly settings: RoomSettings,
    private readonly events: EventLog,
    private readonly log: Logger,
  ) {}

  /** Where a new socket goes; a shard placement is remembered, so the room pushes to it from now on. */
  place(role: SocketRole, viewersHere: number, config: FanOutConfig, roomId: string | null): Placement {
    if (roomId === null) return { kind: "room" };
    const placement = placeSocket(role, viewersHere, config, this.turn);
    if (placement.kind === "room") return placement;
    this.turn += 1;
    const used = this.settings.get("fanOut");
    if (used === null || used.roomId !== roomId || used.shards <= placement.index) {
      this.settings.put("fanOut", { roomId, shards: Math.max(used?.shards ?? 0, placement.index + 1) });
    }
    return placement;
  }

  /** Shards the room has placed sockets on (they are pushed every frame). */
  shardCount(): number {
    return this.settings.get("fanOut")?.shards ?? 0;
  }

  /** New frames are in the log: every shard in use gets them (asynchronously, in order). */
  kick(): void {
    const used = this.settings.get("fanOut");
    if (used === null) return;
    for (let index = 0; index < used.shards; index++) {
      let pump = this.pumps.get(index);
      if (!pump) {
        const name = shardName(used.roomId, index);
        pump = new ShardPump(() => this.namespace.getByName(name), used.roomId, index, this.events, this.log);
        this.pumps.set(index, pump);
      }
      pump.kick();
    }
  }
}
