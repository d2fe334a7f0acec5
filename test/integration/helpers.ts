import { env, exports } from "cloudflare:workers";
import { putOperator } from "../../dev/operators";
import { mintToken } from "../../dev/tokens";
import { type Ledger, openLedger } from "../../src/db/shards";
import { deliverTransit, pendingTransit } from "../../src/db/transit";
import { isOperatorRole, type OperatorRole } from "../../src/domain/permissions";
import { homeOfAccount } from "../../src/domain/shards";
import { configFrom } from "../../src/platform/config";
import type { Role } from "../../src/worker/auth/jwt";

export const BASE = "https://giftwire.test";
export const config = configFrom(env);

let keyCounter = 0;
/** A fresh Idempotency-Key. */
export function key(): string {
  keyCounter += 1;
  return `test-${Date.now()}-${keyCounter}-${Math.random().toString(36).slice(2)}`;
}

/**
 * A bearer token for `userId`. With operator roles, the user is also put in the operator
 * directory with exactly those roles (the control database decides what an operator may do;
 * the test stands in for an admin's grants).
 */
export async function token(userId: string, ...roles: Role[]): Promise<string> {
  const operatorRoles = roles.filter(isOperatorRole);
  if (operatorRoles.length > 0) await registerOperator(userId, operatorRoles);
  return mintToken(config, { userId, roles: roles.length > 0 ? roles : ["viewer"] }, Date.now());
}

/** Puts `userId` in the operator directory, active, with exactly `roles`. */
export async function registerOperator(userId: string, roles: readonly OperatorRole[]): Promise<void> {
  await putOperator(env.CONTROL, { id: userId, displayName: userId, roles }, "test", Date.now());
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

/** The second operator who approves four-eyes proposals in tests (an admin: every permission). */
export const CHECKER_ID = "ops-checker";

/**
 * Calls an operator route as `call` does; when the route keeps the request as a four-eyes
 * proposal (202), a second operator approves it and the answer of the executed request is
 * returned as if the call had run directly. A proposal already decided (the same
 * Idempotency-Key again) answers its recorded result.
 */
export async function callApproved<T = any>(
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<Reply<T>> {
  const first = await call(method, path, options);
  if (first.status !== 202 || !first.body?.proposal) return first as Reply<T>;
  const proposal = first.body.proposal as { id: string; state: string; result: { status: number; body: T } | null };
  if (proposal.state === "pending") {
    const approved = await call("POST", `/v1/admin/proposals/${proposal.id}/approve`, {
      token: await token(CHECKER_ID, "admin"),
      body: {},
    });
    if (approved.status !== 200) return approved as Reply<T>;
    const result = approved.body.result as { status: number; body: T };
    return { status: result.status, body: result.body, headers: approved.headers };
  }
  if (proposal.result) return { status: proposal.result.status, body: proposal.result.body, headers: first.headers };
  return first as Reply<T>;
}

export async function operatorToken(): Promise<string> {
  return token("ops-test", "admin", "finance", "ops", "support");
}

/** Credits a wallet through the operator adjustment API. */
/** The payment PIN tests give their payers (a tip above the password-free limits, a withdrawal). */
export const TEST_PIN = "246810";

/** Gives `userId` a payment PIN through the route (first time only). */
export async function setPin(userId: string, pin: string = TEST_PIN): Promise<void> {
  const res = await call("PUT", "/v1/me/pin", { token: await token(userId), body: { pin } });
  if (res.status !== 200) throw new Error(`setting ${userId}'s PIN answered ${res.status} ${JSON.stringify(res.body)}`);
}

const pinned = new Map<string, Promise<void>>();
/**
 * `body` with the test PIN, which `userId` is given once (a user another file gave it already
 * answers 428 to a second first-set, which is fine): for tips above the password-free limits.
 */
export async function withPin<T extends object>(userId: string, body: T): Promise<T & { pin: string }> {
  let done = pinned.get(userId);
  if (done === undefined) {
    done = token(userId).then(async (t) => {
      const res = await call("PUT", "/v1/me/pin", { token: t, body: { pin: TEST_PIN } });
      if (res.status !== 200 && res.body?.error?.code !== "pin_required") {
        throw new Error(`setting ${userId}'s PIN answered ${res.status} ${JSON.stringify(res.body)}`);
      }
    });
    pinned.set(userId, done);
  }
  await done;
  return { ...body, pin: TEST_PIN };
}

export async function fund(userId: string, amount: string): Promise<void> {
  const res = await callApproved("POST", `/v1/users/${userId}/wallet/adjustments`, {
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

/** The ledger as the Worker sees it: control database, shards, bucket map. */
export function ledger(): Promise<Ledger> {
  return openLedger(env);
}

/**
 * `n` owner ids named `${prefix}-${i}`, spread round-robin over the shards (in the one-shard
 * project, all in the one), so a test that needs payers in every shard never depends on where a
 * random run suffix happens to hash.
 */
export async function ownersAcrossShards(prefix: string, n: number): Promise<string[]> {
  const l = await ledger();
  const owners: string[] = [];
  for (let i = 0; owners.length < n && i < 10_000; i++) {
    const id = `${prefix}-${i}`;
    if (l.forOwner(id).index === owners.length % l.shards.length) owners.push(id);
  }
  if (owners.length < n) throw new Error(`only ${owners.length} of ${n} owners found over the shards`);
  return owners;
}

/** The shard database of a user's or creator's rows. */
export async function shardDbOf(ownerId: string): Promise<D1Database> {
  return (await ledger()).forOwner(ownerId).db;
}

/** The shard database of an object whose id carries its owner's bucket (order, packet, subsidy). */
export async function shardDbOfId(id: string): Promise<D1Database> {
  return (await ledger()).forId(id).db;
}

/**
 * An account's balance, read in the shard it lives in; for the accounts every shard has its
 * own share of (platform revenue, channel clearing…), the sum over all shards. Cross-shard
 * credits still in transit are not in it: call `settleTransit()` first where they matter.
 */
export async function balanceOf(address: string): Promise<number> {
  const l = await ledger();
  const home = homeOfAccount(address, l.map);
  const shards = home === "origin" ? l.shards : [l.shard(home)];
  let total = 0;
  for (const shard of shards) {
    const row = await shard.db
      .prepare("SELECT balance_minor FROM accounts WHERE address = ?")
      .bind(address)
      .first<{ balance_minor: number }>();
    total += row?.balance_minor ?? 0;
  }
  return total;
}

/**
 * Delivers every cross-shard credit still in the transit outboxes (what the ledger-postings
 * consumer and the sweeper do in the background), until none is left. Returns how many.
 */
export async function settleTransit(): Promise<number> {
  const l = await ledger();
  let delivered = 0;
  for (let round = 0; round < 20; round++) {
    const pending = await pendingTransit(l, Date.now(), 0);
    if (pending.length === 0) return delivered;
    await deliverTransit(l, pending, Date.now());
    delivered += pending.length;
  }
  throw new Error("transit did not settle in 20 rounds");
}

/** Room events not yet delivered to their rooms, over every outbox (control and shards). */
export async function undeliveredRoomEvents(): Promise<number> {
  let n = 0;
  for (const { db } of await allDatabases()) {
    n +=
      (await db.prepare("SELECT COUNT(*) AS n FROM room_outbox WHERE delivered_at_ms IS NULL").first<number>("n")) ?? 0;
  }
  return n;
}

/** Every database: the control database, then each ledger shard. */
export async function allDatabases(): Promise<{ name: string; db: D1Database }[]> {
  const l = await ledger();
  return [{ name: "control", db: l.control }, ...l.shards.map((s) => ({ name: `ledger_${s.index}`, db: s.db }))];
}

/** The ledger proper: balances, operations and their transfers, and tips. */
export const MONEY_TABLES = ["accounts", "operations", "transfers", "tips"] as const;

/**
 * Every row of every table of the D1 database, for "a rejected request changes nothing"
 * assertions. The tables are listed from sqlite_master, so a table added by a migration is
 * covered without editing this, and so are SQLite's AUTOINCREMENT counters (`sqlite_sequence`).
 * Left out, because they are not the application's data: the planner's statistics
 * (`sqlite_stat%`, which SQLite may refresh at any time), D1's internal tables (`_cf_%`,
 * which D1 refuses to read) and the migrations record (`d1_migrations`).
 * Rows are read in rowid order with the rowid itself, so a row deleted and inserted again
 * also shows. `except` leaves out tables a refusal writes by design; the caller says why.
 * `only` narrows it to some tables, e.g. MONEY_TABLES for "this moved no money" where the
 * step does write (a refund confirmed, a query recorded).
 */
const ROOM_DERIVED_TABLES = ["leaderboard_entries"];
/**
 * The business-events consumer's record of the events it took and the sweeper's place
 * (src/db/business-events.ts): written by the queue consumer and the cron after the facts they
 * announce — an earlier step's event may land between a snapshot pair. Not money; compared only
 * when asked for by `only`.
 */
const EVENT_BOOKKEEPING_TABLES = ["business_events", "business_event_cursors"];

export async function ledgerSnapshot(
  options: { except?: readonly string[]; only?: readonly string[] } = {},
): Promise<string> {
  // Tips tell their room after the response (waitUntil) and mark the outbox row delivered,
  // and cross-shard credits are delivered by the queue: a snapshot taken while either is
  // under way would see it land.
  await settleTransit();
  const databases = await allDatabases();
  await until(undeliveredRoomEvents, (n) => n === 0);
  const parts: string[] = [];
  for (const { name, db } of databases) {
    const { results: all } = await db
      .prepare(
        `SELECT name FROM sqlite_master WHERE type = 'table'
           AND name NOT LIKE 'sqlite\\_stat%' ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name <> 'd1_migrations'
         ORDER BY name`,
      )
      .all<{ name: string }>();
    // The rooms' leaderboard rows are written by each room's alarm a merge window after its
    // tips (not money, and derived from the tips table, which is compared): a snapshot pair
    // that straddles that write would see it land. Compared only when asked for by `only`.
    const skipped =
      options.only === undefined
        ? [...(options.except ?? []), ...ROOM_DERIVED_TABLES, ...EVENT_BOOKKEEPING_TABLES]
        : options.except;
    const tables = all.filter(
      (t) => !skipped?.includes(t.name) && (options.only === undefined || options.only.includes(t.name)),
    );
    if (tables.length === 0) continue;
    // An AUTOINCREMENT counter at 0 is the same as none (the next id is 1 either way): SQLite
    // writes one when an INSERT … SELECT that inserts nothing (a refused operation's transfers)
    // first touches a table in a shard that never had a row.
    const rowsOf = (table: string) =>
      table === "sqlite_sequence"
        ? `SELECT rowid AS _rowid, * FROM "${table}" WHERE seq <> 0 ORDER BY rowid`
        : `SELECT rowid AS _rowid, * FROM "${table}" ORDER BY rowid`;
    const dumps = await db.batch(tables.map((t) => db.prepare(rowsOf(t.name))));
    // One line per row, so a failing comparison's diff shows just the rows that changed.
    parts.push(
      ...tables.flatMap((t, i) => [
        `## ${name}.${t.name}`,
        ...(dumps[i]?.results ?? []).map((row) => JSON.stringify(row)),
      ]),
    );
  }
  return parts.join("\n");
}

/** The tables whose rows differ between two snapshots (for a readable failure message). */
export function changedTables(before: string, after: string): string[] {
  const byTable = (snapshot: string) => {
    const tables = new Map<string, string>();
    let current = "";
    for (const line of snapshot.split("\n")) {
      if (line.startsWith("## ")) current = line.slice(3);
      tables.set(current, `${tables.get(current) ?? ""}${line}\n`);
    }
    return tables;
  };
  const a = byTable(before);
  const b = byTable(after);
  return [...new Set([...a.keys(), ...b.keys()])].filter((t) => a.get(t) !== b.get(t));
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
