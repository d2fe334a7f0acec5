// A room socket that reconnects with backoff and, for overlays, resumes after the last
// sequence number it handled (kept in localStorage, so a reloaded OBS source resumes too).

export function formatMinor(minor) {
  const sign = minor < 0 ? "-" : "";
  const abs = Math.abs(minor);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
}

export class LiveClient {
  /**
   * @param {{ roomId: string, role: "viewer"|"broadcaster"|"overlay", token?: string, overlayKey?: string,
   *           onFrame: (frame: any) => void, onStatus?: (status: string) => void }} options
   */
  constructor(options) {
    this.options = options;
    this.storageKey = `giftwire:lastSeq:${options.roomId}:${options.role}`;
    this.attempt = 0;
    this.stopped = false;
    this.lastSeq = options.role === "overlay" ? Number(localStorage.getItem(this.storageKey) ?? "NaN") : Number.NaN;
    /** Requests sent on the socket and waiting for their answer frame: requestId → resolve. */
    this.pending = new Map();
    this.requestSeq = 0;
    this.connect();
  }

  url() {
    const u = new URL(`/v1/rooms/${this.options.roomId}/live`, location.href);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    u.searchParams.set("role", this.options.role);
    if (this.options.token) u.searchParams.set("access_token", this.options.token);
    if (this.options.overlayKey) u.searchParams.set("key", this.options.overlayKey);
    if (Number.isFinite(this.lastSeq)) u.searchParams.set("lastSeq", String(this.lastSeq));
    return u.toString();
  }

  connect() {
    this.options.onStatus?.("connecting");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.attempt = 0;
      this.options.onStatus?.("live");
      this.heartbeat = setInterval(() => ws.readyState === 1 && ws.send('{"type":"ping"}'), 25_000);
    });
    ws.addEventListener("message", (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type === "pong") return;
      if (frame.type === "packet.claim.result") {
        this.pending.get(frame.requestId)?.(frame);
        this.pending.delete(frame.requestId);
        return;
      }
      // Frames at or below what we already handled are never handled twice.
      if (
        frame.type !== "snapshot" &&
        typeof frame.seq === "number" &&
        Number.isFinite(this.lastSeq) &&
        frame.seq <= this.lastSeq
      )
        return;
      this.options.onFrame(frame);
    });
    ws.addEventListener("close", (event) => {
      clearInterval(this.heartbeat);
      // Requests without an answer are given up (null): the caller asks again over HTTP,
      // where a claim the room did make is answered again as the same claim.
      for (const resolve of this.pending.values()) resolve(null);
      this.pending.clear();
      if (this.stopped) return;
      this.options.onStatus?.(event.code === 4003 ? "revoked" : "reconnecting");
      if (event.code === 4003) return;
      const delay = Math.min(30_000, 500 * 2 ** this.attempt++) * (0.5 + Math.random() / 2);
      setTimeout(() => this.connect(), delay);
    });
  }

  /** Marks a sequence number handled: it will not be replayed after a reconnect. */
  handled(seq) {
    if (Number.isFinite(this.lastSeq) && seq <= this.lastSeq) return;
    this.lastSeq = seq;
    if (this.options.role === "overlay") {
      localStorage.setItem(this.storageKey, String(seq));
      if (this.ws?.readyState === 1) this.ws.send(JSON.stringify({ type: "ack", seq }));
    }
  }

  /**
   * Grabs a share of a red packet over the socket: resolves with the `packet.claim.result`
   * frame (the HTTP answer's fields, with `ok` and `status`), or null when the socket is not
   * open or closed before answering, or no answer came within `timeoutMs`.
   */
  claim(packetId, timeoutMs = 10_000) {
    if (this.ws?.readyState !== 1) return Promise.resolve(null);
    const requestId = `c${Date.now().toString(36)}-${++this.requestSeq}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        resolve(null);
      }, timeoutMs);
      this.pending.set(requestId, (frame) => {
        clearTimeout(timer);
        resolve(frame);
      });
      this.ws.send(JSON.stringify({ type: "packet.claim", packetId, requestId }));
    });
  }

  send(frame) {
    if (this.ws?.readyState === 1) this.ws.send(JSON.stringify(frame));
  }

  stop() {
    this.stopped = true;
    this.ws?.close(1000, "bye");
  }
}
