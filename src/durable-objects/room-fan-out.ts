/**
 * A fan-out shard of a hot room: one RoomFanOut per `{roomId}:{k}`, holding a share of the
 * room's viewer sockets (Hibernation API, the room's own limits and heartbeat). The room
 * pushes it every sequenced frame once (`deliver`, many frames per call); the shard sends
 * each of its sockets every frame exactly once, in order.
 *
 * Exactness does not rest on the shard's memory. Each socket's attachment carries the last
 * seq that socket was sent, updated with the send, so a shard that restarts mid-broadcast
 * knows which sockets had a frame and which did not: the room's retry (or the next push)
 * sends each socket only what it lacks. Frames the shard no longer holds (its memory was
 * reset, or it was behind) come from the room's event log (`framesAfter`); a socket further
 * behind than the log keeps is closed with "try again later" and reconnects to a snapshot.
 *
 * A new socket gets the room's snapshot for its viewer (and, when the viewer resumes after a
 * seq, what it missed), then every frame after the snapshot's seq. Client frames the shard
 * does not answer itself go to the room (`clientFrame`), and the room's answer comes back on
 * the socket.
 */

import { DurableObject } from "cloudflare:workers";
import { LIMITS } from "../domain/limits";
import { createLogger } from "../platform/logger";
import { claimAllowanceRefusal } from "./live-room.claims";
import { CLOSE, type ServerFrame } from "./live-room.protocol";
import {
  type Attachment,
  acceptSocket,
  closeHandshake,
  HEARTBEAT,
  readHandshake,
  receive,
  send,
} from "./live-room.sockets";
import { DeliverArgs, type FrameText, ROOM_HEADER } from "./room-fan-out.protocol";

/** A shard socket's attachment: the room's, plus the last seq this socket was sent. */
export interface ShardAttachment extends Attachment {
  seq: number;
}

/**
 * Test hook: a crash mid-broadcast. After sending to this many sockets the shard throws and
 * refuses every push until it restarts (its memory, this included, is reset by eviction).
 */
export interface FanOutFaults {
  crashAfterSockets: number | null;
  down: boolean;
}

export class RoomFanOut extends DurableObject<Env> {
  /** Recent frames (seq → JSON text), the last `fanOutRingMax`; lost on restart, refilled from the room. */
  private readonly ring = new Map<number, string>();
  /**
   * The highest seq this shard has from the room. Not stored: a storage write per push would
   * hold every send behind its flush (the output gate). After a restart it is the furthest
   * any socket got (each socket's attachment says), and fan() fetches what the others lack.
   */
  private lastSeq = 0;
  /**
   * Each socket's attachment as last written, so the send loop does not deserialize it per
   * frame. Whoever changes an attachment writes it and puts it here (fan, fetch, messages).
   */
  private readonly attachments = new WeakMap<WebSocket, ShardAttachment>();
  /** Sockets between asking the room for their snapshot and being accepted. */
  private joining = 0;
  /** Pushes and catch-ups run one at a time, in arrival order. */
  private chain: Promise<unknown> = Promise.resolve();
  readonly faults: FanOutFaults = { crashAfterSockets: null, down: false };
  private readonly log = createLogger({ component: "RoomFanOut" });

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    for (const ws of ctx.getWebSockets()) {
      const a = ws.deserializeAttachment() as ShardAttachment | null;
      if (a && a.seq > this.lastSeq) this.lastSeq = a.seq;
    }
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(HEARTBEAT.request, HEARTBEAT.response));
  }

  /** The room this shard serves (its name is `{roomId}:{k}`; the first socket or push says which). */
  private room() {
    const roomId = this.ctx.storage.kv.get<string>("roomId");
    if (roomId === undefined) throw new Error("a fan-out shard is reached first through its room");
    return this.env.LIVE_ROOM.getByName(roomId);
  }

  private rememberRoom(roomId: string): void {
    if (this.ctx.storage.kv.get<string>("roomId") !== roomId) this.ctx.storage.kv.put("roomId", roomId);
  }

  private serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.chain.then(task, task);
    this.chain = run.catch(() => undefined);
    return run;
  }

  // ── RPC: from the room ──────────────────────────────────────────────────────────────

  /**
   * The room's next frames (consecutive, in order; none for a probe). Sends every socket what
   * it lacks and answers the highest seq this shard now has, which the room pushes after; or
   * null when it holds no socket (and none is joining): it needs nothing sent before now.
   */
  async deliver(...args: DeliverArgs): Promise<number | null> {
    const [roomId, , frames] = DeliverArgs.parse(args);
    if (this.faults.down) throw new Error("injected fault: the shard is down until it restarts");
    this.rememberRoom(roomId);
    return this.serially(async () => {
      this.remember(frames);
      await this.fan();
      return this.ctx.getWebSockets().length === 0 && this.joining === 0 ? null : this.lastSeq;
    });
  }

  /** Frames into the ring; a gap before them is fetched by fan() for the sockets that need it. */
  private remember(frames: readonly FrameText[]): void {
    for (const frame of frames) {
      this.ring.set(frame.seq, frame.text);
      if (frame.seq > this.lastSeq) this.lastSeq = frame.seq;
    }
    if (this.ring.size > LIMITS.fanOutRingMax) {
      for (const seq of [...this.ring.keys()]) if (seq <= this.lastSeq - LIMITS.fanOutRingMax) this.ring.delete(seq);
    }
  }

  /**
   * Brings every socket up to `lastSeq`: fetches from the room what the ring lacks between
   * the furthest-behind socket and now, then sends each socket its missing frames in order,
   * recording its new seq in its attachment with the send.
   */
  private async fan(): Promise<void> {
    const sockets = this.ctx.getWebSockets();
    let low = this.lastSeq;
    for (const ws of sockets) {
      const a = this.attachmentOf(ws);
      if (a && a.seq < low) low = a.seq;
    }
    if (low < this.lastSeq && !this.holds(low + 1, this.lastSeq)) await this.fetchFromRoom(low);
    let sent = 0;
    for (const ws of this.ctx.getWebSockets()) {
      const a = this.attachmentOf(ws);
      if (!a || a.seq >= this.lastSeq) continue;
      if (!this.ring.has(a.seq + 1)) {
        ws.close(CLOSE.tryAgainLater, "fell behind the room; reconnect");
        continue;
      }
      let seq = a.seq;
      try {
        while (seq < this.lastSeq) {
          const text = this.ring.get(seq + 1);
          if (text === undefined) break;
          ws.send(text);
          seq += 1;
        }
      } catch {
        // The socket is closing; its close handler cleans up.
      }
      a.seq = seq;
      ws.serializeAttachment(a);
      sent += 1;
      if (this.faults.crashAfterSockets !== null && sent >= this.faults.crashAfterSockets) {
        this.faults.down = true;
        throw new Error("injected fault: the shard crashed mid-broadcast");
      }
    }
  }

  private attachmentOf(ws: WebSocket): ShardAttachment | null {
    const cached = this.attachments.get(ws);
    if (cached) return cached;
    const a = ws.deserializeAttachment() as ShardAttachment | null;
    if (a) this.attachments.set(ws, a);
    return a;
  }

  private holds(from: number, to: number): boolean {
    for (let seq = from; seq <= to; seq++) if (!this.ring.has(seq)) return false;
    return true;
  }

  /** The room's log after `seq` into the ring (in pages); what the log no longer keeps stays missing. */
  private async fetchFromRoom(seq: number): Promise<void> {
    let after = seq;
    while (after < this.lastSeq) {
      const page = await this.room().framesAfter(after, Math.min(LIMITS.replayLogMax, this.lastSeq - after));
      if (page.length === 0) return;
      for (const frame of page) if (frame.seq <= this.lastSeq) this.ring.set(frame.seq, frame.text);
      after = (page[page.length - 1] as FrameText).seq;
    }
  }

  // ── sockets ─────────────────────────────────────────────────────────────────────────

  /**
   * A viewer socket the room placed here (the Worker authenticated it and set the headers).
   * The snapshot comes from the room first; the socket is accepted only after, so nothing
   * reaches it before its snapshot, and from then on its attachment's seq says what it has.
   */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket")
      return new Response("expected a WebSocket", { status: 426 });
    const handshake = readHandshake(request);
    const roomId = request.headers.get(ROOM_HEADER);
    if (roomId === null || handshake.role !== "viewer") return new Response("not a fan-out socket", { status: 400 });
    this.rememberRoom(roomId);
    this.joining += 1;
    let answer: Awaited<ReturnType<ReturnType<Env["LIVE_ROOM"]["getByName"]>["viewerSnapshot"]>>;
    try {
      answer = await this.env.LIVE_ROOM.getByName(roomId).viewerSnapshot(handshake.userId, handshake.resumeAfter);
    } finally {
      this.joining -= 1;
    }
    const { snapshot, replay } = answer;
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    if (!acceptSocket(this.ctx, server, handshake, Date.now()))
      return new Response(null, { status: 101, webSocket: client });
    send(server, snapshot as ServerFrame);
    for (const frame of replay) server.send(frame.text);
    const attachment = server.deserializeAttachment() as ShardAttachment;
    attachment.seq = snapshot.seq;
    server.serializeAttachment(attachment);
    this.attachments.set(server, attachment);
    // Alone here, it needs nothing before its snapshot: the shard starts from there.
    if (this.ctx.getWebSockets().length === 1) this.lastSeq = Math.max(this.lastSeq, snapshot.seq);
    // The room may be ahead of this shard (the socket then waits for the push) or behind it.
    if (snapshot.seq < this.lastSeq) void this.serially(() => this.fan()).catch((error) => this.fanFailed(error));
    return new Response(null, { status: 101, webSocket: client });
  }

  private fanFailed(error: unknown): void {
    this.log.warn("fan_out_catch_up_failed", { error: String(error) });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const received = receive(ws, message, Date.now());
    if (received === null) return;
    const { attachment, frame } = received;
    // receive() wrote the rate counters to a fresh copy: that copy is now the socket's.
    this.attachments.set(ws, attachment as ShardAttachment);
    if (frame.type === "ping") {
      // Only a ping spelled other than the client's heartbeat gets here (see HEARTBEAT).
      send(ws, { type: "pong" });
      return;
    }
    const refusal = claimAllowanceRefusal(ws, attachment, frame, Date.now());
    if (refusal !== null) return send(ws, refusal);
    const { seq: _seq, ...principal } = attachment as ShardAttachment;
    let replies: ServerFrame[];
    try {
      replies = (await this.room().clientFrame(principal, frame)) as ServerFrame[];
    } catch (error) {
      // The room is restarting or unreachable: the client may send the frame again.
      this.log.warn("fan_out_client_frame_failed", { type: frame.type, error: String(error) });
      replies = [{ type: "error", code: "room_unavailable", message: "The room did not answer; try again." }];
    }
    for (const reply of replies) send(ws, reply);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    closeHandshake(ws, code, reason);
  }

  /** Sockets here now (for the room's state and the benchmark). */
  sockets(): number {
    return this.ctx.getWebSockets().length;
  }
}
