import { env, exports } from "cloudflare:workers";
import { configFrom } from "../../src/platform/config";
import { mintToken, type Role } from "../../src/worker/auth/jwt";

export const BASE = "https://giftwire.test";
export const config = configFrom(env);

let keyCounter = 0;
/** A fresh Idempotency-Key. */
export function key(): string {
  keyCounter += 1;
  return `test-${Date.now()}-${keyCounter}-${Math.random().toString(36).slice(2)}`;
}

export function token(userId: string, ...roles: Role[]): Promise<string> {
  return mintToken(config, { userId, roles: roles.length > 0 ? roles : ["viewer"] }, Date.now());
}

export interface CallOptions {
  token?: string;
  body?: unknown;
  rawBody?: string;
  idempotencyKey?: string;
  headers?: Record<string, string>;
}

export interface Reply<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export async function call<T = any>(method: string, path: string, options: CallOptions = {}): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.idempotencyKey) headers["idempotency-key"] = options.idempotencyKey;
  let body: string | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  const res = await exports.default.fetch(`${BASE}${path}`, { method, headers, body });
  const text = await res.text();
  return { status: res.status, body: text === "" ? null : JSON.parse(text), headers: res.headers };
}

export async function operatorToken(): Promise<string> {
  return token("ops-test", "admin", "finance", "ops", "support");
}

/** Credits a wallet through the operator adjustment API. */
export async function fund(userId: string, amount: string): Promise<void> {
  const res = await call("POST", `/v1/users/${userId}/wallet/adjustments`, {
    token: await operatorToken(),
    idempotencyKey: key(),
    body: { direction: "credit", amount, reason: "test funding" },
  });
  if (res.status !== 201) throw new Error(`funding failed: ${res.status} ${JSON.stringify(res.body)}`);
}

export async function openRoom(creatorId: string, title = "Test stream"): Promise<string> {
  const res = await call("POST", "/v1/rooms", { token: await token(creatorId, "creator", "viewer"), body: { title } });
  if (res.status !== 201) throw new Error(`open room failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}

export async function balanceOf(address: string): Promise<number> {
  const row = await env.DB.prepare("SELECT balance_minor FROM accounts WHERE address = ?")
    .bind(address)
    .first<{ balance_minor: number }>();
  return row?.balance_minor ?? 0;
}

/** Every row of every money table, for "a rejected request changes nothing" assertions. */
export async function ledgerSnapshot(): Promise<string> {
  const tables = ["accounts", "operations", "transfers", "tips", "idempotency_keys"];
  const parts = await env.DB.batch(tables.map((t) => env.DB.prepare(`SELECT * FROM ${t} ORDER BY rowid`)));
  return JSON.stringify(parts.map((p) => p.results));
}

export async function invariantReport() {
  const res = await call("GET", "/v1/admin/ledger/invariants", { token: await operatorToken() });
  return res.body as { ok: boolean; violationCount: number; violations: Record<string, unknown>[] };
}

/** Polls `probe` until `done` holds or `timeoutMs` passes, and returns the last value (assert on it). */
export async function until<T>(probe: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await probe();
    if (done(v) || Date.now() - start > timeoutMs) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}
