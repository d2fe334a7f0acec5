import { exports } from "cloudflare:workers";
import { BASE } from "./helpers";

/** A WebSocket client for tests: collects frames and waits for the ones it expects. */
export class SocketProbe {
  readonly frames: any[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: (() => void)[] = [];
  private readonly taken = new Set<number>();

  private constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (event) => {
      this.frames.push(JSON.parse(String(event.data)));
      this.wake();
    });
    ws.addEventListener("close", (event) => {
      this.closed = { code: event.code, reason: event.reason };
      this.wake();
    });
  }

  static async open(path: string, headers: Record<string, string> = {}): Promise<SocketProbe> {
    const res = await exports.default.fetch(`${BASE}${path}`, { headers: { upgrade: "websocket", ...headers } });
    if (res.status !== 101 || !res.webSocket) {
      throw new Error(`expected 101, got ${res.status}: ${await res.text()}`);
    }
    res.webSocket.accept();
    return new SocketProbe(res.webSocket);
  }

  /** The HTTP answer to a handshake that should be refused. */
  static async refuse(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
    const res = await exports.default.fetch(`${BASE}${path}`, { headers: { upgrade: "websocket", ...headers } });
    if (res.status === 101) throw new Error("the handshake was accepted");
    return { status: res.status, body: await res.json() };
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Waits until `predicate` holds for the frames so far (or the socket closes). */
  async until(predicate: (frames: any[]) => boolean, timeoutMs = 5_000, what = "frames"): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.frames)) {
      if (this.closed)
        throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.frames.map((f) => f.type))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The first frame of this type not yet returned by `next`, waiting for it if need be. */
  async next(type: string, timeoutMs = 5_000): Promise<any> {
    const find = () => this.frames.findIndex((x, i) => x.type === type && !this.taken.has(i));
    await this.until(() => find() !== -1, timeoutMs, type);
    const index = find();
    this.taken.add(index);
    return this.frames[index];
  }

  ofType(type: string): any[] {
    return this.frames.filter((f) => f.type === type);
  }

  async waitClosed(timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
    await this.until(() => this.closed !== null, timeoutMs, "close").catch((e) => {
      if (!this.closed) throw e;
    });
    return this.closed as { code: number; reason: string };
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  close(): void {
    try {
      this.ws.close(1000, "bye");
    } catch {
      // already closed
    }
  }
}
