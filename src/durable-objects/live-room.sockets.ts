/**
 * The room's sockets (Hibernation API): what a socket carries across hibernation (its
 * attachment), the handshake the Worker prepared, the room's limits on sockets and on what
 * clients send, and sending. Authentication and the Origin check happen in the Worker
 * (routes/live.ts) before the request reaches the room: the room trusts only the
 * `x-giftwire-*` headers, which the Worker strips from the client's request and sets itself.
 * Synchronous; nothing here touches storage.
 */

import { assert, LIMITS } from "../domain/limits";
import type { ClaimAllowance } from "./live-room.claims";
import { CLOSE, ClientFrame, type ServerFrame, SOCKET_ROLES, type SocketRole } from "./live-room.protocol";
import { RISK_SIGNALS_HEADER, readSocketSignals, type SocketSignals } from "./live-room.risk";

/** What a socket carries across hibernation (serialized with it, at most 2 KiB). */
export interface Attachment extends ClaimAllowance {
  role: SocketRole;
  userId: string | null;
  /** This room's creator if the user follows them (the Worker's word), for follower-only packets. */
  follows?: string[];
  /** What the Worker saw of the client at the upgrade (device, IP, country, ASN, adult), for risk on claims. */
  risk?: SocketSignals;
  connectedAtMs: number;
  rateWindowStartMs: number;
  rateCount: number;
}

/**
 * The client's exact heartbeat (public/js/live-client.js), answered by the runtime itself
 * (`setWebSocketAutoResponse`): it neither wakes a hibernating room nor counts against the
 * message limit. Any other spelling of a ping reaches `webSocketMessage` and is answered there.
 */
export const HEARTBEAT = { request: '{"type":"ping"}', response: '{"type":"pong"}' } as const;

/** The tag of a socket accepted only to be closed with "room is full". */
const REFUSED_TAG = "rejected";

export interface Handshake {
  role: SocketRole;
  userId: string | null;
  /** The overlay's `lastSeq`: replay starts after it. */
  resumeAfter: number | null;
  /** This room's creator, if the user follows them. */
  follows: string[];
  /** The client's risk signals, as the Worker saw them (null: an overlay, or not given). */
  risk: SocketSignals | null;
}

/** Reads the headers the Worker set; a missing or unknown role is a bug in the Worker. */
export function readHandshake(request: Request): Handshake {
  const role = request.headers.get("x-giftwire-role") as SocketRole | null;
  assert(role !== null && SOCKET_ROLES.includes(role), "the Worker names a socket role");
  const resume = request.headers.get("x-giftwire-resume-after");
  return {
    role,
    userId: request.headers.get("x-giftwire-user"),
    resumeAfter: resume !== null && /^[0-9]{1,15}$/.test(resume) ? Number(resume) : null,
    follows:
      request.headers
        .get("x-giftwire-follows")
        ?.split(",")
        .filter((id) => id !== "") ?? [],
    risk: readSocketSignals(request.headers.get(RISK_SIGNALS_HEADER)),
  };
}

/**
 * Accepts the server end of a new socket, tagged with its role (overlays are closed by tag
 * when their key rotates) and its user. A full room still completes the handshake, so the
 * client hears why in a close frame, then closes at once: returns false.
 */
export function acceptSocket(ctx: DurableObjectState, server: WebSocket, handshake: Handshake, nowMs: number): boolean {
  if (ctx.getWebSockets().length >= LIMITS.roomSocketsMax) {
    ctx.acceptWebSocket(server, [REFUSED_TAG]);
    server.close(CLOSE.tryAgainLater, "room is full");
    return false;
  }
  const { role, userId, follows, risk } = handshake;
  ctx.acceptWebSocket(server, [role, ...(userId ? [`user:${userId}`] : [])]);
  const attachment: Attachment = {
    role,
    userId,
    connectedAtMs: nowMs,
    rateWindowStartMs: nowMs,
    rateCount: 0,
    ...(follows.length > 0 ? { follows } : {}),
    ...(risk === null ? {} : { risk }),
  };
  server.serializeAttachment(attachment);
  return true;
}

/**
 * A client's message, through the room's limits: too large closes the socket (1009), more
 * than the per-minute allowance closes it (1008), anything but a known JSON frame is answered
 * with `malformed_frame`. Returns the frame to act on, or null when there is nothing to do.
 */
export function receive(
  ws: WebSocket,
  message: string | ArrayBuffer,
  nowMs: number,
): { attachment: Attachment; frame: ClientFrame } | null {
  const attachment = ws.deserializeAttachment() as Attachment | null;
  if (!attachment) return null;
  const bytes = typeof message === "string" ? new TextEncoder().encode(message).byteLength : message.byteLength;
  if (bytes > LIMITS.wsClientFrameMaxBytes) {
    ws.close(CLOSE.tooBig, "frame too large");
    return null;
  }
  if (nowMs - attachment.rateWindowStartMs >= 60_000) {
    attachment.rateWindowStartMs = nowMs;
    attachment.rateCount = 0;
  }
  attachment.rateCount += 1;
  ws.serializeAttachment(attachment);
  if (attachment.rateCount > LIMITS.wsClientMessagesPerMinuteMax) {
    ws.close(CLOSE.policyViolation, "too many messages");
    return null;
  }
  try {
    const result = ClientFrame.safeParse(
      JSON.parse(typeof message === "string" ? message : new TextDecoder().decode(message)),
    );
    if (result.success) return { attachment, frame: result.data };
  } catch {
    // not JSON: answered below like any other unknown frame
  }
  send(ws, { type: "error", code: "malformed_frame", message: "Frames are JSON objects with a known type." });
  return null;
}

export function forbidden(ws: WebSocket): void {
  send(ws, { type: "error", code: "forbidden", message: "Your role may not send this frame." });
}

/** Completes the closing handshake; 1005/1006 are reserved and may not be sent. */
export function closeHandshake(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code === 1005 || code === 1006 ? CLOSE.normal : code, reason);
  } catch {
    // already closed
  }
}

export function send(ws: WebSocket, frame: ServerFrame): void {
  try {
    ws.send(JSON.stringify(frame));
  } catch {
    // The socket is closing; its close handler cleans up.
  }
}

/** One frame to every socket of the room. */
export function broadcast(sockets: readonly WebSocket[], frame: ServerFrame): void {
  const text = JSON.stringify(frame);
  // Hot loop: one serialization, no per-socket lookups. A socket refused as "room full"
  // is already closing; sending to it is a no-op or throws, and is caught.
  for (const ws of sockets) {
    try {
      ws.send(text);
    } catch {
      // closing
    }
  }
}
