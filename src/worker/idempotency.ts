import type { Context, TypedResponse } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { type AuditDraft, withAuditEntry } from "../db/audit";
import { type Attach, type ComposedOperation, dispatchPosted, KNOWN_ID_SQL, type SqlCondition } from "../db/ledger";
import type { LedgerShard } from "../db/shards";
import type { AuditAction } from "../domain/audit-chain";
import type { ErrorCode, Result } from "../domain/errors";
import { errorForGuard } from "../domain/guards";
import {
  decideOnExisting,
  parseIdempotencyKey,
  requestFingerprint,
  type StoredIdempotencyRecord,
} from "../domain/idempotency";
import { type IdPrefix, newOwnedId } from "../domain/ids";
import { assert, LIMITS } from "../domain/limits";
import type { AppEnv } from "./context";
import { ApiError, errorResponse } from "./errors";

/**
 * Runs one money-moving request under its Idempotency-Key.
 *
 * 1. Claim the key: an `in_flight` record fixes the operation id this key will ever use.
 * 2. Run the operation's batch with the record's completion in it, guarded like the rest
 *    of the operation: the stored response commits atomically with the money, or not at all.
 * 3. A rejected operation (insufficient funds, room not live…) releases the key in the same
 *    batch, so the client may retry with the same key once the cause is fixed. Nothing of a
 *    rejected request is kept.
 *
 * Replays return the stored status and body byte for byte, with `Idempotent-Replayed: true`.
 *
 * The key is kept in the ledger shard the operation commits in (`target.shard`: the payer's),
 * so its completion can be one of the operation's statements; the operation's id carries
 * `target.bucket`, the bucket of the owner its id routes to (the payer; a subsidy's user).
 */
export interface IdempotentOperation<TBody extends Record<string, unknown> = Record<string, unknown>> {
  /**
   * The operation (from src/db/operations/) with the caller's statements attached; the
   * idempotency record's completion is attached here, so it commits with the money or not at all.
   */
  readonly compose: (attach: Attach) => ComposedOperation;
  /** 201 (made), or 202 (accepted, not made yet: a tip held for review). */
  readonly status: 201 | 202;
  /** The response body; `patches` fill in values only known inside the batch. */
  readonly body: TBody;
  readonly patches: readonly { readonly path: string; readonly sql: string; readonly params: readonly unknown[] }[];
  /** Runs once, after this request's batch posted the operation (not on replays). */
  readonly onPosted?: () => void;
  /**
   * The audit entry of an operator's action (src/db/audit.ts): appended to the chain of the
   * shard the operation commits in, in its batch, only if the operation posts.
   */
  readonly audit?: AuditAction;
}

interface Ticket {
  readonly principalId: string;
  readonly key: string;
  readonly operationId: string;
}

type Begin =
  | { readonly kind: "execute"; readonly ticket: Ticket }
  | { readonly kind: "respond"; readonly response: Response };

export interface IdempotencyTarget {
  readonly shard: LedgerShard;
  readonly bucket: number;
}

/** The request's Idempotency-Key and fingerprint, when the route parsed them already (`idempotencyOf`). */
export interface ParsedIdempotency {
  readonly key: string;
  readonly requestHash: string;
}

export async function runIdempotent<TBody extends Record<string, unknown>>(
  c: Context<AppEnv>,
  target: IdempotencyTarget,
  prefix: IdPrefix,
  requestBody: unknown,
  build: Build<TBody>,
  parsed?: ParsedIdempotency,
): Promise<TypedResponse<TBody, 201, "json">> {
  // Replays and errors are plain Responses with the stored bytes; the typed view is for
  // the OpenAPI route's success shape, which the stored body has by construction.
  return (await execute(c, target, prefix, requestBody, build, parsed)) as unknown as TypedResponse<TBody, 201, "json">;
}

async function execute<TBody extends Record<string, unknown>>(
  c: Context<AppEnv>,
  target: IdempotencyTarget,
  prefix: IdPrefix,
  requestBody: unknown,
  build: Build<TBody>,
  parsed: ParsedIdempotency | undefined,
): Promise<Response> {
  const begun = await begin(c, target, prefix, parsed ?? (await idempotencyOf(c, requestBody)));
  if (begun.kind === "respond") return begun.response;
  const { ticket } = begun;
  const { db } = target.shard;
  const nowMs = Date.now();
  const release = () =>
    db.prepare(releaseSql).bind(ticket.principalId, ticket.key, ticket.operationId, ticket.operationId).run();
  let built: Result<IdempotentOperation<TBody>>;
  try {
    built = await build(ticket.operationId, nowMs);
  } catch (error) {
    await release();
    throw error;
  }
  if (!built.ok) {
    // Refused before any money moved (no such room, amount out of range…): free the key for a corrected retry.
    await release();
    return errorResponse(c, built.code, built.message);
  }
  const op = built.value;
  const run = async (audit: AuditDraft | null) => {
    // The completion must be one of the operation's own statements: it is guarded by the
    // operation being in state 'posting', which only holds before the operation's finalize.
    // So is the audit entry: a refused operation leaves none.
    const composed = op.compose((posting) => [
      ...(audit === null ? [] : [audit.statement(posting)]),
      completeStatement(db, ticket, op, nowMs, posting),
    ]);
    assert(composed.id === ticket.operationId, "the operation carries the key's id");
    const results = await db.batch([
      ...composed.statements,
      db.prepare(releaseSql).bind(ticket.principalId, ticket.key, ticket.operationId, ticket.operationId),
    ]);
    return { composed, results };
  };
  // With an audit entry, a batch that lost the race for the chain's next entry committed
  // nothing and runs again on the new head (src/db/audit.ts).
  const { composed, results } = op.audit === undefined ? await run(null) : await withAuditEntry(db, op.audit, run);
  const completeIndex = composed.statements.length - 2; // the last attached statement, just before finalize
  const verdict = composed.verdictFrom(results.slice(0, composed.statements.length));
  await dispatchPosted(target.shard, [composed], [verdict]);
  switch (verdict.kind) {
    case "posted": {
      const stored = results[completeIndex]?.results[0] as { response_body: string } | undefined;
      assert(stored, "a posted operation completes its idempotency record");
      op.onPosted?.();
      return replay(stored.response_body, op.status, false);
    }
    case "rejected":
      return errorResponse(c, errorForGuard(verdict.code));
    case "exists": {
      // Another worker took over this key after our lock lapsed and finished first.
      const record = await readRecord(db, ticket);
      if (record?.state === "completed" && record.responseBody !== null && record.responseStatus !== null) {
        return replay(record.responseBody, record.responseStatus, true);
      }
      return errorResponse(c, "idempotency_key_in_flight");
    }
  }
}

type Build<TBody extends Record<string, unknown>> = (
  operationId: string,
  nowMs: number,
) => Promise<Result<IdempotentOperation<TBody>>>;
/** What `runIdempotent` runs once the key is taken: the operation to commit with it, or a refusal. */
export type IdempotentBuild<TBody extends Record<string, unknown>> = Build<TBody>;

// A key is released only while its operation is unknown to the shard: neither posted nor
// archived (KNOWN_ID_SQL counts pruned ids too, so releasing never re-opens an archived one).
const releaseSql = `DELETE FROM idempotency_keys WHERE principal_id = ? AND key = ? AND state = 'in_flight'
  AND NOT ${KNOWN_ID_SQL}`;

function completeStatement(
  db: D1Database,
  ticket: Ticket,
  op: IdempotentOperation<Record<string, unknown>>,
  nowMs: number,
  posting: SqlCondition,
): D1PreparedStatement {
  let bodySql = "?";
  const bodyParams: unknown[] = [JSON.stringify(op.body)];
  for (const patch of op.patches) {
    assert(/^\$(\.[A-Za-z]+)+$/.test(patch.path), "patch paths are simple JSON paths");
    bodySql = `json_set(${bodySql}, '${patch.path}', (${patch.sql}))`;
    bodyParams.push(...patch.params);
  }
  return db
    .prepare(
      `UPDATE idempotency_keys SET state = 'completed', response_status = ?, response_body = ${bodySql},
         expires_at_ms = ?
       WHERE principal_id = ? AND key = ? AND ${posting.sql}
       RETURNING response_body`,
    )
    .bind(
      op.status,
      ...bodyParams,
      nowMs + LIMITS.idempotencyRetentionMs,
      ticket.principalId,
      ticket.key,
      ...posting.params,
    );
}

/** The request's Idempotency-Key (a 400 if missing or malformed) and its request fingerprint. */
export async function idempotencyOf(
  c: Context<AppEnv>,
  requestBody: unknown,
): Promise<{ readonly key: string; readonly requestHash: string }> {
  const key = parseIdempotencyKey(c.req.header("idempotency-key"));
  if (!key.ok) throw ApiError.from(key);
  const requestHash = await requestFingerprint(c.req.method, c.req.path, canonicalJson(requestBody));
  return { key: key.value, requestHash };
}

/**
 * Whose keys these are: the signed-in user, or on a partner route (which has no user) the
 * partner — all of its API keys share one key space, as one integrator's retries may come
 * through a rotated key.
 */
function idempotencyPrincipal(c: Context<AppEnv>): string {
  const partner = c.var.partner as AppEnv["Variables"]["partner"] | undefined;
  return partner === undefined ? c.var.principal.userId : `partner:${partner.partnerId}`;
}

async function begin(
  c: Context<AppEnv>,
  target: IdempotencyTarget,
  prefix: IdPrefix,
  parsed: ParsedIdempotency,
): Promise<Begin> {
  const { key: keyValue, requestHash: hash } = parsed;
  const key = { value: keyValue };
  const principalId = idempotencyPrincipal(c);
  const nowMs = Date.now();
  const operationId = newOwnedId(prefix, target.bucket, nowMs);
  const { db } = target.shard;
  const [, inserted, existing] = await db.batch([
    db
      .prepare("DELETE FROM idempotency_keys WHERE principal_id = ? AND key = ? AND expires_at_ms <= ?")
      .bind(principalId, key.value, nowMs),
    db
      .prepare(
        `INSERT INTO idempotency_keys (principal_id, key, request_hash, state, operation_id, locked_until_ms, created_at_ms, expires_at_ms)
         VALUES (?, ?, ?, 'in_flight', ?, ?, ?, ?) ON CONFLICT (principal_id, key) DO NOTHING`,
      )
      .bind(
        principalId,
        key.value,
        hash,
        operationId,
        nowMs + LIMITS.idempotencyLockMs,
        nowMs,
        nowMs + LIMITS.idempotencyRetentionMs,
      ),
    db.prepare(`${selectRecordSql}`).bind(principalId, key.value),
  ]);
  if (inserted?.meta.changes === 1) return { kind: "execute", ticket: { principalId, key: key.value, operationId } };
  const row = existing?.results[0] as RecordRow | undefined;
  assert(row, "a conflicting idempotency record exists");
  const record = toRecord(row);
  const decision = decideOnExisting(record, hash, nowMs);
  switch (decision.kind) {
    case "replay":
      return { kind: "respond", response: replay(decision.body, decision.status, true) };
    case "reject":
      return { kind: "respond", response: errorResponse(c, decision.code satisfies ErrorCode) };
    case "execute": {
      // Take over a lapsed lock; only one contender can win this conditional update.
      const took = await db
        .prepare(
          `UPDATE idempotency_keys SET locked_until_ms = ? WHERE principal_id = ? AND key = ?
           AND state = 'in_flight' AND locked_until_ms <= ? AND request_hash = ?`,
        )
        .bind(nowMs + LIMITS.idempotencyLockMs, principalId, key.value, nowMs, hash)
        .run();
      if (took.meta.changes !== 1) return { kind: "respond", response: errorResponse(c, "idempotency_key_in_flight") };
      return { kind: "execute", ticket: { principalId, key: key.value, operationId: row.operation_id } };
    }
  }
}

const selectRecordSql = `SELECT request_hash, state, operation_id, locked_until_ms, response_status, response_body
  FROM idempotency_keys WHERE principal_id = ? AND key = ?`;

interface RecordRow {
  request_hash: string;
  state: "in_flight" | "completed";
  operation_id: string;
  locked_until_ms: number;
  response_status: number | null;
  response_body: string | null;
}

function toRecord(row: RecordRow): StoredIdempotencyRecord {
  return {
    requestHash: row.request_hash,
    state: row.state,
    lockedUntilMs: row.locked_until_ms,
    responseStatus: row.response_status,
    responseBody: row.response_body,
  };
}

async function readRecord(db: D1Database, ticket: Ticket): Promise<StoredIdempotencyRecord | null> {
  const row = await db.prepare(selectRecordSql).bind(ticket.principalId, ticket.key).first<RecordRow>();
  return row ? toRecord(row) : null;
}

/** A stored response, as first sent or replayed (`Idempotent-Replayed: true`). */
export function replay(body: string, status: number, replayed: boolean): Response {
  return new Response(body, {
    status: status as ContentfulStatusCode,
    headers: { "Content-Type": "application/json", ...(replayed ? { "Idempotent-Replayed": "true" } : {}) },
  });
}

/** JSON with sorted keys, so the same request in another key order is the same request. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** A response field filled in, inside the batch, with an account's balance after the operation. */
export function balancePatch(path: string, address: string): IdempotentOperation["patches"][number] {
  return { path, sql: "SELECT balance_minor FROM accounts WHERE address = ?", params: [address] };
}
