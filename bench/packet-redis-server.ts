/**
 * The comparison design for `npm run bench:packet`: what engineers usually build for red
 * packets. A Node HTTP server in front of Redis; the packet is pre-split into a Redis list
 * when sent, and each claim runs one Lua script (already claimed? → LPOP a share → record it).
 * With `--durable`, each fresh claim is also committed to SQLite with synchronous=FULL, one
 * transaction per claim — the "insert the claim into MySQL" step of that design.
 *
 * Usage (spawned by bench/packet.ts): node bench/packet-redis-server.ts <httpPort> <redisPort> [--durable <dbFile>]
 * Prints "ready" when listening. POST /packet {id, shares:[…]} pre-splits; POST /claim?packet=…&user=… claims;
 * GET /stats answers {commits}.
 */
import { createServer } from "node:http";
import { connect, type Socket } from "node:net";
import { DatabaseSync } from "node:sqlite";

const [httpPort, redisPort] = [Number(process.argv[2]), Number(process.argv[3])];
const durableFile = process.argv[4] === "--durable" ? process.argv[5] : undefined;

// ── a minimal pipelined RESP client (integers, bulk strings, arrays, errors) ────────────

type Reply = string | number | null | Reply[] | Error;

class Redis {
  private readonly socket: Socket;
  private buffer = Buffer.alloc(0);
  private readonly pending: ((reply: Reply) => void)[] = [];

  constructor(port: number) {
    this.socket = connect(port, "127.0.0.1");
    this.socket.setNoDelay(true);
    this.socket.on("data", (chunk) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      for (;;) {
        const parsed = parse(this.buffer, 0);
        if (parsed === null) break;
        this.buffer = this.buffer.subarray(parsed.end);
        this.pending.shift()?.(parsed.value);
      }
    });
  }

  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.once("connect", () => resolve());
      this.socket.once("error", reject);
    });
  }

  call(...args: (string | number)[]): Promise<Reply> {
    let out = `*${args.length}\r\n`;
    for (const a of args) {
      const s = String(a);
      out += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
    }
    return new Promise((resolve) => {
      this.pending.push(resolve);
      this.socket.write(out);
    });
  }
}

function parse(buf: Buffer, start: number): { value: Reply; end: number } | null {
  const lineEnd = buf.indexOf("\r\n", start);
  if (lineEnd < 0) return null;
  const type = String.fromCharCode(buf[start] as number);
  const line = buf.toString("utf8", start + 1, lineEnd);
  const next = lineEnd + 2;
  switch (type) {
    case "+":
      return { value: line, end: next };
    case "-":
      return { value: new Error(line), end: next };
    case ":":
      return { value: Number(line), end: next };
    case "$": {
      const len = Number(line);
      if (len < 0) return { value: null, end: next };
      if (buf.length < next + len + 2) return null;
      return { value: buf.toString("utf8", next, next + len), end: next + len + 2 };
    }
    case "*": {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      const items: Reply[] = [];
      let at = next;
      for (let i = 0; i < n; i++) {
        const item = parse(buf, at);
        if (item === null) return null;
        items.push(item.value);
        at = item.end;
      }
      return { value: items, end: at };
    }
    default:
      throw new Error(`unexpected RESP type ${type}`);
  }
}

// ── the claim script ─────────────────────────────────────────────────────────────────

// KEYS: shares list, claimed hash (user → "index:amount"). ARGV: user.
// Returns {1, "index:amount"} for a repeat, {2, "index:amount"} for a fresh claim, {0} when empty.
const CLAIM = `
local prev = redis.call('HGET', KEYS[2], ARGV[1])
if prev then return {1, prev} end
local left = redis.call('LLEN', KEYS[1])
local amount = redis.call('LPOP', KEYS[1])
if not amount then return {0} end
local claim = tostring(left - 1) .. ':' .. amount
redis.call('HSET', KEYS[2], ARGV[1], claim)
return {2, claim}`;

const redis = new Redis(redisPort);
await redis.ready();
const sha = (await redis.call("SCRIPT", "LOAD", CLAIM)) as string;

let commits = 0;
const db = durableFile === undefined ? null : new DatabaseSync(durableFile);
db?.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;");
db?.exec(
  "CREATE TABLE IF NOT EXISTS claims (packet TEXT NOT NULL, user TEXT NOT NULL, amount INTEGER NOT NULL, PRIMARY KEY (packet, user))",
);
const insert = db?.prepare("INSERT INTO claims (packet, user, amount) VALUES (?, ?, ?)");

function readBody(req: import("node:http").IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => resolve(body));
  });
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? "/", "http://x");
  if (req.method === "POST" && url.pathname === "/packet") {
    const { id, shares } = JSON.parse(await readBody(req)) as { id: string; shares: number[] };
    for (let i = 0; i < shares.length; i += 1000)
      await redis.call("RPUSH", `p:${id}:shares`, ...shares.slice(i, i + 1000));
    res.end("{}");
    return;
  }
  if (req.method === "GET" && url.pathname === "/stats") {
    res.end(JSON.stringify({ commits }));
    return;
  }
  if (req.method === "POST" && url.pathname === "/claim") {
    const packet = url.searchParams.get("packet") ?? "";
    const user = url.searchParams.get("user") ?? "";
    const reply = (await redis.call("EVALSHA", sha, 2, `p:${packet}:shares`, `p:${packet}:claimed`, user)) as Reply[];
    const kind = reply[0] as number;
    if (kind === 0) {
      res.statusCode = 409;
      res.end('{"error":{"code":"packet_exhausted"}}');
      return;
    }
    const [index, amount] = String(reply[1]).split(":").map(Number) as [number, number];
    if (kind === 2 && insert) {
      insert.run(packet, user, amount); // autocommit: one durable commit (WAL fsync) per claim
      commits += 1;
    }
    res.statusCode = kind === 2 ? 201 : 200;
    res.end(JSON.stringify({ claim: { index, amountMinor: amount }, alreadyClaimed: kind === 1 }));
    return;
  }
  res.statusCode = 404;
  res.end();
});
server.keepAliveTimeout = 60_000;
server.listen(httpPort, "127.0.0.1", () => process.stdout.write("ready\n"));
