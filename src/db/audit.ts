/**
 * The audit log in D1: one hash chain per database (the control database's, and each ledger
 * shard's), so that an action's entry commits in the same batch as the action, in the
 * database the action writes (docs/adr/0012-audit-chain-per-database.md).
 *
 * Appending: read the chain's head, compute the next entry in the Worker (SQLite has no
 * SHA-256), and insert it with `seq = head + 1` among the action's own statements. A
 * concurrent appender that committed first makes this insert fail (the primary key, and the
 * `audit_log_links` trigger that wants the entry to follow and link to the head): the whole
 * batch, action included, aborts, and `withAuditEntry` runs it again on the fresh head, a
 * bounded number of times. The entry is conditional on the action's own condition (an
 * operation's "posting"), so an action refused by its guards leaves no entry either.
 */
import {
  type AuditAction,
  type AuditEntry,
  type ChainBreak,
  type ChainHead,
  ChainWalker,
  EMPTY_CHAIN_HEAD,
  nextEntry,
} from "../domain/audit-chain";
import { assert, LIMITS } from "../domain/limits";
import type { SqlCondition } from "./ledger";
import type { Ledger } from "./shards";

/** A chain's name: `control`, or `ledger-<n>` for ledger shard n. */
export type AuditChainName = "control" | `ledger-${number}`;

export interface AuditChain {
  readonly name: AuditChainName;
  readonly db: D1Database;
}

export const ledgerChainName = (shardIndex: number): AuditChainName => `ledger-${shardIndex}`;

/** Every chain of a deployment: the control database's, then each shard's in order. */
export function auditChains(ledger: Ledger): AuditChain[] {
  return [
    { name: "control", db: ledger.control },
    ...ledger.shards.map((s) => ({ name: ledgerChainName(s.index), db: s.db })),
  ];
}

/** Thrown when every attempt lost the race for the next sequence: the action did not happen. */
export class AuditChainBusyError extends Error {
  override name = "AuditChainBusyError";
}

export async function readAuditHead(db: D1Database): Promise<ChainHead> {
  const row = await db
    .prepare("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
    .first<{ seq: number; hash: string }>();
  return row === null ? EMPTY_CHAIN_HEAD : { seq: row.seq, hash: row.hash };
}

const ALWAYS: SqlCondition = { sql: "1", params: [] };

const INSERT_COLUMNS = "seq, at_ms, actor, action, target, request_id, detail, digest, prev_hash, hash";

/** The statement that appends `entry`, only when `when` holds (inside the same batch). */
export function auditInsert(db: D1Database, entry: AuditEntry, when: SqlCondition = ALWAYS): D1PreparedStatement {
  return db
    .prepare(`INSERT INTO audit_log (${INSERT_COLUMNS}) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE ${when.sql}`)
    .bind(
      entry.seq,
      entry.atMs,
      entry.actor,
      entry.action,
      entry.target,
      entry.requestId,
      entry.detail,
      entry.digest,
      entry.prevHash,
      entry.hash,
      ...when.params,
    );
}

/** What the action's batch is given: the entry it appends, and the statement that appends it. */
export interface AuditDraft {
  readonly entry: AuditEntry;
  /** The insert, conditional on `when` (default: always); exactly one per batch. */
  readonly statement: (when?: SqlCondition) => D1PreparedStatement;
}

/** The next entry of `db`'s chain for this action, from a head read now. */
export async function draftAuditEntry(db: D1Database, action: AuditAction, nowMs: number): Promise<AuditDraft> {
  const head = await readAuditHead(db);
  const entry = nextEntry(head, action, nowMs);
  return { entry, statement: (when) => auditInsert(db, entry, when) };
}

/**
 * Runs an action's batch with its audit entry: `run` builds and runs the batch with
 * `draft.statement(...)` among its statements. When the batch fails and another entry now
 * holds the drafted sequence (another appender committed first), nothing of this batch
 * committed: it is drafted again on the new head and run again, up to
 * `LIMITS.auditAppendAttemptsMax` attempts, then `AuditChainBusyError`. Any other failure —
 * including one after this batch committed, its own entry in place — is rethrown as it is.
 */
export async function withAuditEntry<T>(
  db: D1Database,
  action: AuditAction,
  run: (draft: AuditDraft) => Promise<T>,
  nowMs: () => number = Date.now,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const draft = await draftAuditEntry(db, action, nowMs());
    try {
      return await run(draft);
    } catch (error) {
      // Lost the race only if another entry holds the drafted sequence. Nothing there: the
      // batch failed for its own reason. Our own entry there: the batch committed and the
      // failure came after it (a lost reply) — running it again would act twice.
      const holder = await db
        .prepare("SELECT hash FROM audit_log WHERE seq = ?")
        .bind(draft.entry.seq)
        .first<string>("hash");
      if (holder === null || holder === draft.entry.hash) throw error;
      if (attempt >= LIMITS.auditAppendAttemptsMax) {
        throw new AuditChainBusyError(
          `the audit chain kept moving: ${attempt} attempts at appending ${action.action} lost the race`,
        );
      }
      // Appenders that lost together would otherwise draft and collide together again.
      await new Promise((resolve) =>
        setTimeout(resolve, Math.random() * LIMITS.auditAppendJitterMs * Math.min(attempt, 8)),
      );
    }
  }
}

interface AuditRow {
  seq: number;
  at_ms: number;
  actor: string;
  action: string;
  target: string;
  request_id: string;
  detail: string;
  digest: string;
  prev_hash: string;
  hash: string;
}

function entryOf(row: AuditRow): AuditEntry {
  return {
    seq: row.seq,
    atMs: row.at_ms,
    actor: row.actor,
    action: row.action,
    target: row.target,
    requestId: row.request_id,
    detail: row.detail,
    digest: row.digest,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/** A chain's verdict as the script and the endpoint report it. */
export interface ChainReport {
  readonly chain: string;
  /** Entries stored. */
  readonly length: number;
  /** The last stored entry's sequence and hash (as stored, even when the chain is broken). */
  readonly headSeq: number;
  readonly headHash: string;
  /** Anchors (daily exports) the walk compared against. */
  readonly anchorsChecked: number;
  readonly ok: boolean;
  /** The first entry that does not fit, or null. */
  readonly broken: ChainBreak | null;
}

const TABLE_NAME = /^audit_log(?:_[a-z0-9_]+)?$/;

/**
 * Walks a database's chain in sequence order, a page at a time, and reports the first entry
 * that breaks it, compared with `anchors` too. `table` is for tests that tamper with a copy
 * of the log (the real one refuses every change).
 */
export async function verifyStoredChain(
  chain: AuditChain,
  anchors: readonly ChainHead[] = [],
  table = "audit_log",
): Promise<ChainReport> {
  assert(TABLE_NAME.test(table), "an audit table name");
  const walker = new ChainWalker(anchors);
  // Keyset on (seq, rowid): a tampered copy may hold two rows with one sequence.
  let after: { seq: number; rowid: number } = { seq: Number.MIN_SAFE_INTEGER, rowid: Number.MIN_SAFE_INTEGER };
  walk: for (;;) {
    const { results } = await chain.db
      .prepare(
        `SELECT rowid AS row_id, ${INSERT_COLUMNS} FROM ${table}
         WHERE (seq, rowid) > (?, ?) ORDER BY seq, rowid LIMIT ?`,
      )
      .bind(after.seq, after.rowid, LIMITS.auditWalkPageRows)
      .all<AuditRow & { row_id: number }>();
    for (const row of results) {
      if (walker.feed(entryOf(row)) !== null) break walk;
    }
    const last = results.at(-1);
    if (last === undefined || results.length < LIMITS.auditWalkPageRows) break;
    after = { seq: last.seq, rowid: last.row_id };
  }
  const verdict = walker.finish();
  const stored = await chain.db
    .prepare(
      `SELECT COUNT(*) AS length, (SELECT seq FROM ${table} ORDER BY seq DESC, rowid DESC LIMIT 1) AS head_seq,
       (SELECT hash FROM ${table} ORDER BY seq DESC, rowid DESC LIMIT 1) AS head_hash FROM ${table}`,
    )
    .first<{ length: number; head_seq: number | null; head_hash: string | null }>();
  return {
    chain: chain.name,
    length: stored?.length ?? 0,
    headSeq: stored?.head_seq ?? EMPTY_CHAIN_HEAD.seq,
    headHash: stored?.head_hash ?? EMPTY_CHAIN_HEAD.hash,
    anchorsChecked: anchors.length,
    ok: verdict.ok,
    broken: verdict.ok ? null : verdict.broken,
  };
}

export interface AuditFilter {
  readonly actor?: string;
  readonly action?: string;
  readonly target?: string;
  readonly fromMs?: number;
  /** Exclusive. */
  readonly toMs?: number;
}

/** One page of a chain's entries, newest first, before sequence `beforeSeq` (exclusive). */
export async function listAuditEntries(
  db: D1Database,
  filter: AuditFilter,
  beforeSeq: number,
  limit: number,
): Promise<AuditEntry[]> {
  assert(limit >= 1 && limit <= LIMITS.auditListPageMax + 1, "an audit page size within its limit");
  const conditions: [string, unknown][] = [
    ["seq < ?", beforeSeq],
    ["actor = ?", filter.actor],
    ["action = ?", filter.action],
    ["target = ?", filter.target],
    ["at_ms >= ?", filter.fromMs],
    ["at_ms < ?", filter.toMs],
  ];
  const used = conditions.filter(([, value]) => value !== undefined);
  const where = used.map(([sql]) => sql);
  const params = used.map(([, value]) => value);
  const { results } = await db
    .prepare(`SELECT ${INSERT_COLUMNS} FROM audit_log WHERE ${where.join(" AND ")} ORDER BY seq DESC LIMIT ?`)
    .bind(...params, limit)
    .all<AuditRow>();
  return results.map(entryOf);
}

/**
 * The entry's condition for a write that may touch no row (an UPDATE of an unknown id): the
 * statement just before the entry changed at least one row. `changes()` is the row count of
 * the connection's last INSERT, UPDATE or DELETE, and a batch's statements run in order on one
 * connection.
 */
export const WHEN_PREVIOUS_CHANGED: SqlCondition = { sql: "changes() > 0", params: [] };

/**
 * Runs `statements` and the action's entry in one batch (with `withAuditEntry`'s retry); the
 * entry is appended only when `when` holds — by default when the last statement changed a row.
 * Returns the statements' own results.
 */
export async function batchWithAuditEntry(
  db: D1Database,
  action: AuditAction,
  statements: readonly D1PreparedStatement[],
  when: SqlCondition = WHEN_PREVIOUS_CHANGED,
): Promise<D1Result[]> {
  assert(statements.length >= 1, "an audited batch has the action's statements");
  const results = await withAuditEntry(db, action, (draft) => db.batch([...statements, draft.statement(when)]));
  return results.slice(0, statements.length);
}
