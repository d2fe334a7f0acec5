/**
 * Moving one bucket of owners from one ledger shard to another, the procedure an operator
 * runs (`npm run ledger:move-bucket`; docs/SCALING.md, "Moving a bucket"). The phases are
 * those of domain/bucket-move.ts, recorded in the control database's `ledger_buckets` row;
 * `stepBucketMove` advances one phase per call and may be called again after a crash at any
 * point: every write it makes is idempotent, and each phase's record is written last.
 *
 *   (none) ─start─▶ copying ─▶ frozen ─▶ switched ─▶ verified ─▶ done (move columns cleared)
 *
 * Exactness comes from the shards, not from cache timing: each shard's `bucket_fences` lists
 * the buckets it must not write, and every operation checks it inside its batch
 * (db/ledger.ts). The new shard is fenced (`incoming`) from the start until the map points at
 * it; the old shard is fenced (`frozen`) from the freeze on, for good. A writer with a stale
 * map is refused (`bucket_fenced`, HTTP 503 `shard_moving`) and retries with a fresh map.
 *
 * Money moves as money (operations/bucket-move.ts): each account of the bucket pays its
 * balance to `transit:{new}` in the old shard, delivered by the normal transit path. Rows
 * that are not money and that the new shard needs to serve the bucket's owners are copied by
 * primary key during the freeze: 小额免密 settings, payment orders still open (created or
 * pending) with their transitions, and completed idempotency records still within their
 * retention (a replay after the move must not run twice). History stays in the old shard:
 * operations, transfers, tips, finished packets and claims, used subsidies, finished orders.
 * A creator's money out moves with them (copyMoneyOut, moveShares, retireMoneyOut): their
 * settlements, reversals, withdrawals and inbox (and a user's winnings, `user_winnings`) are copied, the operation ids those rows name
 * are tombstoned in the new shard (a settlement re-run is "exists"), their shares of
 * `platform:receivables` and `channel:{ch}:payouts` move as money through transit, and their
 * rows leave the old shard's books. A bucket whose red packets or subsidies still hold money,
 * whose refunds are unfinished, whose withdrawals are open or whose tips are held for review is not moved (those rows are
 * bound to operations in the old shard): `startBucketMove` refuses with the blocker's code,
 * the move waits in `copying`, or is called off if one appears before the freeze lands.
 */

import { accountAddress } from "../domain/accounts";
import type { AuditAction } from "../domain/audit-chain";
import type { MovePhase } from "../domain/bucket-move";
import { bucketCodeOfIds } from "../domain/ids";
import { assert, LIMITS } from "../domain/limits";
import { CURRENCIES, type Currency, DEFAULT_CURRENCY } from "../domain/money";
import { type BucketMap, bucketOfAccount, bucketOf as bucketOfOwner } from "../domain/shards";
import { TERMINAL_WITHDRAWAL_STATES, WITHDRAWAL_STATES } from "../domain/withdrawal-states";
import { batchWithAuditEntry } from "./audit";
import { type ComposedOperation, runOperations } from "./ledger";
import type { TransitRef } from "./messages/ledger-postings";
import { composeBucketMove, composeShareMove } from "./operations/bucket-move";
import { deliveryId } from "./operations/transit-delivery";
import { RECEIVABLE_SQL } from "./reads/settlement-inputs";
import { Ledger, loadBucketMap, type TransitSender } from "./shards";
import { type DeliveryOutcome, deliverTransit } from "./transit";

/** What a move works on: the control database and every shard database, in index order. */
export interface MoveDatabases {
  readonly control: D1Database;
  readonly shards: readonly D1Database[];
  /** Announces the move's transit refs (the ledger-postings queue); the step delivers them itself too. */
  readonly send?: TransitSender;
}

export interface MoveState {
  readonly bucket: number;
  readonly shard: number;
  readonly phase: Exclude<MovePhase, "done"> | null;
  readonly toShard: number | null;
  readonly updatedAtMs: number;
}

/**
 * What stops a bucket from moving now, as a stable code the operator's script reports: rows
 * bound to operations of the old shard that are still under way. Each clears on its own
 * (packets finish or expire within 24 h, subsidies are spent or expire, refunds and
 * withdrawals reach a terminal state): retry later.
 */
export const MOVE_BLOCKERS = [
  "bucket_has_live_packets",
  "bucket_has_unspent_subsidies",
  "bucket_has_open_refunds",
  "bucket_has_open_withdrawals",
  /** Tips held for review (`user:{id}:held`): their decision acts on the row and the money where they are. */
  "bucket_has_held_tips",
] as const;
export type MoveBlockerCode = (typeof MOVE_BLOCKERS)[number];

export interface MoveBlocker {
  readonly code: MoveBlockerCode;
  readonly detail: string;
}

/** One call's outcome: what it did, in words an operator reads, and the phase it left. */
export type MoveStep =
  | { readonly kind: "advanced"; readonly phase: MovePhase; readonly did: readonly string[] }
  | {
      readonly kind: "waiting";
      readonly phase: MovePhase;
      readonly reason: string;
      /** Why, when the bucket holds something that cannot move yet (empty when only time is awaited). */
      readonly blockers?: readonly MoveBlockerCode[];
    }
  | { readonly kind: "called_off"; readonly reason: string; readonly blockers?: readonly MoveBlockerCode[] }
  /** `startBucketMove` only: the bucket cannot move now; nothing was written. */
  | { readonly kind: "refused"; readonly reason: string; readonly blockers: readonly MoveBlockerCode[] }
  | { readonly kind: "idle"; readonly reason: string };

const PAGE = 500;
const OPERATIONS_PER_BATCH = 50;
const STATEMENTS_PER_BATCH = 100;
/** Creator ids bound in one IN list: D1 binds at most 100 parameters per statement. */
const CREATORS_PER_STATEMENT = 90;
/** Operation ids passed as one JSON parameter (json_each), well within a statement's size. */
const IDS_PER_STATEMENT = 500;

export async function readMoveState(control: D1Database, bucket: number): Promise<MoveState | null> {
  const row = await control
    .prepare("SELECT bucket, shard, move_phase, move_to_shard, updated_at_ms FROM ledger_buckets WHERE bucket = ?")
    .bind(bucket)
    .first<{
      bucket: number;
      shard: number;
      move_phase: MoveState["phase"];
      move_to_shard: number | null;
      updated_at_ms: number;
    }>();
  if (row === null) return null;
  return {
    bucket: row.bucket,
    shard: row.shard,
    phase: row.move_phase,
    toShard: row.move_to_shard,
    updatedAtMs: row.updated_at_ms,
  };
}

/** The control chain's entry of a bucket move's start and of its switch (`npm run ledger:move-bucket`). */
function moveAudit(action: string, bucket: number, toShard: number, nowMs: number): AuditAction {
  return {
    actor: "system:ledger-move-bucket",
    action,
    target: `bucket:${bucket}`,
    requestId: `bucket-move:${nowMs}`,
    before: null,
    after: { shard: toShard },
  };
}

/** Starts moving `bucket` to `toShard` (nothing if a move of it is under way or it is there). */
export async function startBucketMove(
  dbs: MoveDatabases,
  bucket: number,
  toShard: number,
  nowMs: number,
): Promise<MoveStep> {
  assert(Number.isInteger(toShard) && toShard >= 0 && toShard < dbs.shards.length, "the target shard is bound");
  const ledger = await ledgerOf(dbs, nowMs); // writes the first map if there is none yet
  const here = ledger.map[bucket];
  const under = await readMoveState(dbs.control, bucket);
  if (here !== undefined && here !== toShard && (under?.phase ?? null) === null) {
    const blockers = await blockersOf(ledger.shard(here).db, bucket);
    if (blockers.length > 0) return refusal(blockers);
  }
  const [started] = await batchWithAuditEntry(dbs.control, moveAudit("bucket_move.start", bucket, toShard, nowMs), [
    dbs.control
      .prepare(
        `UPDATE ledger_buckets SET move_phase = 'copying', move_to_shard = ?, updated_at_ms = ?
       WHERE bucket = ? AND move_phase IS NULL AND shard <> ?`,
      )
      .bind(toShard, nowMs, bucket, toShard),
  ]);
  if (started?.meta.changes === 1)
    return { kind: "advanced", phase: "copying", did: [`bucket ${bucket} → shard ${toShard}`] };
  const state = await readMoveState(dbs.control, bucket);
  if (state?.phase === null && state.shard === toShard) return { kind: "idle", reason: `already in shard ${toShard}` };
  return { kind: "idle", reason: `a move is under way: ${state?.phase} to shard ${state?.toShard}` };
}

/** Advances the move of `bucket` by one phase (see the module comment). */
export async function stepBucketMove(dbs: MoveDatabases, bucket: number, nowMs: number): Promise<MoveStep> {
  const state = await readMoveState(dbs.control, bucket);
  if (state === null || state.phase === null || state.toShard === null) return { kind: "idle", reason: "no move" };
  const to = state.toShard;
  // Before the switch the map still names the old shard; from the switch on, the new one.
  const from = state.phase === "copying" || state.phase === "frozen" ? state.shard : await fromShardOf(dbs, state);
  const old = dbs.shards[from];
  const target = dbs.shards[to];
  assert(old !== undefined && target !== undefined, "both shards of the move are bound");
  switch (state.phase) {
    case "copying": {
      await fence(target, bucket, "incoming", from, nowMs);
      const blockers = await blockersOf(old, bucket);
      if (blockers.length > 0) {
        return { kind: "waiting", phase: "copying", reason: describe(blockers), blockers: codesOf(blockers) };
      }
      await fence(old, bucket, "frozen", to, nowMs);
      await setPhase(dbs.control, bucket, "copying", "frozen", null, nowMs);
      return {
        kind: "advanced",
        phase: "frozen",
        did: [`fenced bucket ${bucket} in shard ${to} (incoming)`, `froze bucket ${bucket} in shard ${from}`],
      };
    }
    case "frozen": {
      // The freeze again (a re-run after a crash finds it there): nothing below may race a writer.
      await fence(old, bucket, "frozen", to, nowMs);
      const blockers = await blockersOf(old, bucket);
      if (blockers.length > 0) {
        await unfence(old, bucket, "frozen");
        await unfence(target, bucket, "incoming");
        await dbs.control
          .prepare(
            "UPDATE ledger_buckets SET move_phase = NULL, move_to_shard = NULL, updated_at_ms = ? WHERE bucket = ? AND move_phase = 'frozen'",
          )
          .bind(nowMs, bucket)
          .run();
        return {
          kind: "called_off",
          reason: `${describe(blockers)} (appeared before the freeze)`,
          blockers: codesOf(blockers),
        };
      }
      const copied = await copyRows(old, target, from, bucket, "upsert", nowMs);
      const moveId = await moveIdOf(old, bucket, to);
      const creators = await moneyOutCreatorsOf(old, bucket);
      const copiedOut = await copyMoneyOut(old, target, to, creators, "upsert", moveId, nowMs);
      const ledger = await ledgerOf(dbs, nowMs);
      assert(ledger.map[bucket] === from, "the map names the old shard until the switch");
      const moved = await moveBalances(ledger, from, to, bucket, nowMs);
      const shares = await moveShares(ledger, from, to, bucket, creators, moveId, nowMs);
      const retired = await retireMoneyOut(old, creators);
      await batchWithAuditEntry(
        dbs.control,
        { ...moveAudit("bucket_move.switch", bucket, to, nowMs), before: { shard: from } },
        [
          dbs.control
            .prepare(
              `UPDATE ledger_buckets SET shard = ?, move_phase = 'switched', updated_at_ms = ?
           WHERE bucket = ? AND move_phase = 'frozen'`,
            )
            .bind(to, nowMs, bucket),
        ],
      );
      await unfence(target, bucket, "incoming");
      return {
        kind: "advanced",
        phase: "switched",
        did: [
          `copied ${copied}`,
          `copied ${copiedOut}`,
          `moved ${moved.accounts} balances (${moved.totalMinor} minor units) to transit:${to}`,
          `moved ${shares}`,
          `retired in shard ${from}: ${retired}`,
          `map: bucket ${bucket} → shard ${to}`,
          `unfenced bucket ${bucket} in shard ${to}`,
        ],
      };
    }
    case "switched": {
      await unfence(target, bucket, "incoming");
      const ledger = await ledgerOf(dbs, nowMs);
      const delivered = await deliverMove(ledger, from, to, bucket, nowMs);
      // Until every isolate's cached map has expired, a stale writer may still add a row that
      // is not money (an order) in the old shard: the sweep below runs after that window.
      const readyAtMs = state.updatedAtMs + LIMITS.bucketMapCacheMs;
      if (nowMs < readyAtMs) {
        return {
          kind: "waiting",
          phase: "switched",
          reason: `delivered ${delivered}; maps may be stale until ${new Date(readyAtMs).toISOString()}`,
        };
      }
      const problems = await verify(ledger, from, to, bucket);
      if (problems.length > 0) return { kind: "waiting", phase: "switched", reason: problems.join("; ") };
      const swept = await copyRows(old, target, from, bucket, "missing", nowMs);
      const sweptOut = await copyMoneyOut(
        old,
        target,
        to,
        await moneyOutCreatorsOf(old, bucket),
        "missing",
        await moveIdOf(old, bucket, to),
        nowMs,
      );
      await setPhase(dbs.control, bucket, "switched", "verified", to, nowMs);
      return {
        kind: "advanced",
        phase: "verified",
        did: [
          `delivered ${delivered}`,
          "old shard holds no money of the bucket; every move delivered",
          `late rows copied: ${swept}; ${sweptOut}`,
        ],
      };
    }
    case "verified": {
      await dbs.control
        .prepare(
          "UPDATE ledger_buckets SET move_phase = NULL, move_to_shard = NULL, updated_at_ms = ? WHERE bucket = ? AND move_phase = 'verified'",
        )
        .bind(nowMs, bucket)
        .run();
      return {
        kind: "advanced",
        phase: "done",
        did: [`bucket ${bucket} lives in shard ${to}; history stays in shard ${from}`],
      };
    }
  }
}

/** The move's id: the bucket, both shards and when the old shard froze it (unique per move). */
async function moveIdOf(old: D1Database, bucket: number, to: number): Promise<string> {
  const fenceRow = await old
    .prepare("SELECT since_ms FROM bucket_fences WHERE bucket = ? AND reason = 'frozen' AND peer_shard = ?")
    .bind(bucket, to)
    .first<{ since_ms: number }>();
  assert(fenceRow !== null, "a moving bucket is frozen in its old shard");
  return `move-${bucket}-${to}-${fenceRow.since_ms}`;
}

/** After the switch the control row names the new shard; the old one is where the freeze is. */
async function fromShardOf(dbs: MoveDatabases, state: MoveState): Promise<number> {
  for (let i = 0; i < dbs.shards.length; i++) {
    const db = dbs.shards[i];
    if (i === state.toShard || db === undefined) continue;
    const row = await db
      .prepare("SELECT 1 AS x FROM bucket_fences WHERE bucket = ? AND reason = 'frozen' AND peer_shard = ?")
      .bind(state.bucket, state.toShard)
      .first();
    if (row !== null) return i;
  }
  throw new Error(`bucket ${state.bucket} is switched but no shard holds its freeze`);
}

async function ledgerOf(dbs: MoveDatabases, nowMs: number): Promise<Ledger> {
  const map = await loadBucketMap(dbs.control, dbs.shards.length, nowMs);
  if (!map.ok) throw new Error(map.message);
  return new Ledger(dbs.control, dbs.shards, map.value as BucketMap, dbs.send);
}

async function fence(
  db: D1Database,
  bucket: number,
  reason: "incoming" | "frozen",
  peer: number,
  nowMs: number,
): Promise<void> {
  // A fence of the other kind is an earlier move's (the bucket left here and now comes back).
  await db
    .prepare(
      `INSERT INTO bucket_fences (bucket, reason, peer_shard, since_ms) VALUES (?, ?, ?, ?)
       ON CONFLICT (bucket) DO UPDATE SET reason = excluded.reason, peer_shard = excluded.peer_shard,
         since_ms = excluded.since_ms
       WHERE bucket_fences.reason <> excluded.reason OR bucket_fences.peer_shard <> excluded.peer_shard`,
    )
    .bind(bucket, reason, peer, nowMs)
    .run();
}

async function unfence(db: D1Database, bucket: number, reason: "incoming" | "frozen"): Promise<void> {
  await db.prepare("DELETE FROM bucket_fences WHERE bucket = ? AND reason = ?").bind(bucket, reason).run();
}

async function setPhase(
  control: D1Database,
  bucket: number,
  from: MovePhase,
  to: MovePhase,
  shard: number | null,
  nowMs: number,
): Promise<void> {
  await control
    .prepare(
      `UPDATE ledger_buckets SET move_phase = ?, shard = COALESCE(?, shard), updated_at_ms = ?
       WHERE bucket = ? AND move_phase = ?`,
    )
    .bind(to, shard, nowMs, bucket, from)
    .run();
}

interface AccountRow {
  address: string;
  currency: string;
  balance_minor: number;
}

/** The bucket's owner and object accounts in a shard (a scan of its accounts, page by page). */
async function accountsOf(db: D1Database, bucket: number): Promise<AccountRow[]> {
  const found: AccountRow[] = [];
  let after = "";
  for (;;) {
    const { results } = await db
      .prepare(
        `SELECT address, currency, balance_minor FROM accounts
         WHERE address > ? AND (address LIKE 'user:%' OR address LIKE 'creator:%' OR address LIKE 'packet:%'
           OR address LIKE 'campaign:%' OR address LIKE 'subsidy:%')
         ORDER BY address LIMIT ?`,
      )
      .bind(after, PAGE)
      .all<AccountRow>();
    for (const row of results) if (bucketOfAccount(row.address) === bucket) found.push(row);
    const last = results.at(-1);
    if (last === undefined || results.length < PAGE) return found;
    after = last.address;
  }
}

function refusal(blockers: readonly MoveBlocker[]): MoveStep {
  return { kind: "refused", reason: `${describe(blockers)}; retry later`, blockers: codesOf(blockers) };
}

function describe(blockers: readonly MoveBlocker[]): string {
  return blockers.map((b) => `${b.code}: ${b.detail}`).join("; ");
}

function codesOf(blockers: readonly MoveBlocker[]): MoveBlockerCode[] {
  return blockers.map((b) => b.code);
}

const OPEN_WITHDRAWAL_STATES = WITHDRAWAL_STATES.filter((s) => !TERMINAL_WITHDRAWAL_STATES.includes(s));

/**
 * Why the bucket cannot move now: objects bound to operations of the old shard that still
 * hold money, and withdrawals still on their way out (their hold, payout or release, and the
 * channel's callbacks and queries, act on the row and the money where they are).
 */
async function blockersOf(db: D1Database, bucket: number): Promise<MoveBlocker[]> {
  const accounts = await accountsOf(db, bucket);
  const live = accounts.filter(
    (a) => a.balance_minor !== 0 && (a.address.startsWith("packet:") || a.address.startsWith("subsidy:")),
  );
  const held = accounts.filter((a) => a.balance_minor !== 0 && a.address.endsWith(":held")).length;
  const refunds = await db
    .prepare(
      `SELECT COUNT(*) AS n FROM payment_refunds
       WHERE state IN ('requested', 'pending') AND substr(order_id, instr(order_id, '_') + 11, 2) = ?`,
    )
    .bind(bucketCodeOfIds(bucket))
    .first<{ n: number }>();
  // Open withdrawals are few at any time (each is minutes to days from terminal): read them all.
  const { results: open } = await db
    .prepare(
      `SELECT creator_id, COUNT(*) AS n FROM withdrawals WHERE state IN (${OPEN_WITHDRAWAL_STATES.map(() => "?").join(", ")})
       GROUP BY creator_id`,
    )
    .bind(...OPEN_WITHDRAWAL_STATES)
    .all<{ creator_id: string; n: number }>();
  const withdrawals = open.filter((r) => bucketOfOwner(r.creator_id) === bucket).reduce((sum, r) => sum + r.n, 0);
  const reasons: MoveBlocker[] = [];
  const packets = live.filter((a) => a.address.startsWith("packet:")).length;
  const subsidies = live.length - packets;
  if (packets > 0)
    reasons.push({ code: "bucket_has_live_packets", detail: `${packets} red packet(s) still hold money` });
  if (subsidies > 0)
    reasons.push({ code: "bucket_has_unspent_subsidies", detail: `${subsidies} subsidy grant(s) not spent yet` });
  if ((refunds?.n ?? 0) > 0)
    reasons.push({ code: "bucket_has_open_refunds", detail: `${refunds?.n} refund(s) not finished` });
  if (withdrawals > 0) {
    reasons.push({
      code: "bucket_has_open_withdrawals",
      detail: `${withdrawals} withdrawal(s) requested, approved or paying`,
    });
  }
  if (held > 0) {
    reasons.push({ code: "bucket_has_held_tips", detail: `${held} payer(s) with tips held for review` });
  }
  return reasons;
}

/** Posts every balance of the bucket out of the old shard, in group-committed batches. */
async function moveBalances(
  ledger: Ledger,
  from: number,
  to: number,
  bucket: number,
  nowMs: number,
): Promise<{ accounts: number; totalMinor: number }> {
  const shard = ledger.shard(from);
  const moveId = await moveIdOf(shard.db, bucket, to);
  const accounts = (await accountsOf(shard.db, bucket)).filter((a) => a.balance_minor !== 0);
  let totalMinor = 0;
  for (let at = 0; at < accounts.length; at += OPERATIONS_PER_BATCH) {
    const chunk = accounts.slice(at, at + OPERATIONS_PER_BATCH);
    const composed = chunk.map((a) => {
      assert(a.balance_minor > 0, "an owner's account is never below zero");
      return composeBucketMove(
        shard,
        {
          moveId,
          bucket,
          toShard: to,
          address: a.address,
          currency: currencyOf(a.currency),
          balanceMinor: a.balance_minor,
        },
        nowMs,
      );
    });
    const verdicts = await runOperations(shard, composed);
    verdicts.forEach((v, i) => {
      if (v.kind === "rejected") throw new Error(`moving ${chunk[i]?.address} was refused: ${v.code}`);
    });
    totalMinor += chunk.reduce((sum, a) => sum + a.balance_minor, 0);
  }
  return { accounts: accounts.length, totalMinor };
}

function currencyOf(code: string): Currency {
  const currency = CURRENCIES.find((c) => c === code);
  assert(currency !== undefined, `a known currency: ${code}`);
  return currency;
}

/**
 * The move's outbox rows, as refs: in the old shard, the balances and payouts shares bound for
 * the new one; in the new shard, the receivables bound for the old one.
 */
async function moveRefs(ledger: Ledger, from: number, to: number, bucket: number): Promise<TransitRef[]> {
  const moveId = await moveIdOf(ledger.shard(from).db, bucket, to);
  const refsOf = async (origin: number, destination: number): Promise<TransitRef[]> => {
    const { results } = await ledger
      .shard(origin)
      .db.prepare(
        "SELECT operation_id FROM transit_outbox WHERE destination_shard = ? AND operation_kind = 'bucket_move' AND operation_id LIKE ?",
      )
      .bind(destination, `${moveId}:%`)
      .all<{ operation_id: string }>();
    return results.map((r) => ({ kind: "transit", origin, destination, operationId: r.operation_id }));
  };
  return [...(await refsOf(from, to)), ...(await refsOf(to, from))];
}

async function deliverMove(ledger: Ledger, from: number, to: number, bucket: number, nowMs: number): Promise<string> {
  const refs = await moveRefs(ledger, from, to, bucket);
  const outcomes: DeliveryOutcome[] = [];
  for (let at = 0; at < refs.length; at += LIMITS.transitDeliveriesPerBatchMax) {
    outcomes.push(...(await deliverTransit(ledger, refs.slice(at, at + LIMITS.transitDeliveriesPerBatchMax), nowMs)));
  }
  const count = (kind: string) => outcomes.filter((o) => o.kind === kind).length;
  const rejected = outcomes.filter((o) => o.kind === "rejected");
  if (rejected.length > 0) throw new Error(`a move's delivery was refused: ${JSON.stringify(rejected[0])}`);
  return `${count("delivered")} balances and shares (${count("already_delivered")} already)`;
}

/** What still stands between the switch and "verified". */
async function verify(ledger: Ledger, from: number, to: number, bucket: number): Promise<string[]> {
  const problems: string[] = [];
  const left = (await accountsOf(ledger.shard(from).db, bucket)).filter((a) => a.balance_minor !== 0);
  if (left.length > 0) problems.push(`${left.length} account(s) of the bucket still hold money in shard ${from}`);
  const refs = await moveRefs(ledger, from, to, bucket);
  let delivered = 0;
  for (const destination of [to, from]) {
    const { results } = await ledger
      .shard(destination)
      .db.prepare(
        `SELECT COUNT(*) AS n FROM operations WHERE kind = 'transit_delivery'
         AND json_extract(metadata, '$.operationId') IN (SELECT value FROM json_each(?))`,
      )
      .bind(JSON.stringify(refs.filter((r) => r.destination === destination).map((r) => r.operationId)))
      .all<{ n: number }>();
    delivered += results[0]?.n ?? 0;
  }
  if (delivered !== refs.length)
    problems.push(`${refs.length - delivered} of ${refs.length} balances and shares not delivered yet`);
  return problems;
}

/**
 * Owners of the bucket with money-out rows in `db` (settlements, tip reversals and unlock refunds, withdrawals, inbox,
 * and users' winnings: docs/adr/0017).
 */
async function moneyOutCreatorsOf(db: D1Database, bucket: number): Promise<string[]> {
  // Two statements: D1 allows at most five terms in one compound SELECT.
  const [money, more] = await db.batch<{ creator_id: string }>([
    db.prepare(
      `SELECT creator_id FROM creator_settlements UNION SELECT creator_id FROM tip_reversals
       UNION SELECT creator_id FROM unlock_refunds UNION SELECT creator_id FROM withdrawals`,
    ),
    db.prepare("SELECT creator_id FROM inbox_messages UNION SELECT user_id FROM user_winnings"),
  ]);
  const ids = new Set([...(money?.results ?? []), ...(more?.results ?? [])].map((r) => r.creator_id));
  return [...ids].filter((id) => bucketOfOwner(id) === bucket);
}

/** `ids` as `?, ?, …` for an IN list (callers keep it within CREATORS_PER_STATEMENT). */
function inList(ids: readonly string[]): string {
  return ids.map(() => "?").join(", ");
}

/**
 * Copies the money-out rows of the bucket's creators to the new shard: settlements, tip
 * reversals and unlock refunds (with the receivable their operation's metadata holds, `moved_receivable_minor`),
 * withdrawals with their transitions (all terminal: open ones block the move), and inbox
 * messages; then writes, as tombstones of this move (kept for good), the ids of every
 * operation those rows name that the old shard holds: each settlement, reversal, and
 * withdrawal hold, payout and release, and each tip's and unlock's arrival (below). A settlement re-run of a day settled in the old shard
 * then finds the row settled and its id "exists"; the checkers hold the copied rows to their
 * tombstones as to archived operations. "missing" copies only rows the new shard lacks.
 */
async function copyMoneyOut(
  old: D1Database,
  target: D1Database,
  targetIndex: number,
  creators: readonly string[],
  mode: "upsert" | "missing",
  moveId: string,
  nowMs: number,
): Promise<string> {
  const counts = { settlements: 0, reversals: 0, withdrawals: 0, transitions: 0, inbox: 0, tombstones: 0 };
  for (let at = 0; at < creators.length; at += CREATORS_PER_STATEMENT) {
    const ids = creators.slice(at, at + CREATORS_PER_STATEMENT);
    const rowsOf = async (sql: string) =>
      (
        await old
          .prepare(sql)
          .bind(...ids)
          .all<Record<string, unknown>>()
      ).results;
    const settlements = await rowsOf(`SELECT * FROM creator_settlements WHERE creator_id IN (${inList(ids)})`);
    const reversals = (
      await rowsOf(
        `SELECT r.*, json_extract(o.metadata, '$.receivableMinor') AS receivable_of_operation
         FROM tip_reversals r LEFT JOIN operations o ON o.id = r.id WHERE r.creator_id IN (${inList(ids)})`,
      )
    ).map(
      ({ receivable_of_operation, ...row }): Record<string, unknown> => ({
        ...row,
        moved_receivable_minor:
          row.source === "receivable" ? (row.moved_receivable_minor ?? receivable_of_operation ?? null) : null,
      }),
    );
    // Unlock refunds as tip reversals (operations/unlock-refund.ts): the same receivable rule.
    const refunds = (
      await rowsOf(
        `SELECT r.*, json_extract(o.metadata, '$.receivableMinor') AS receivable_of_operation
         FROM unlock_refunds r LEFT JOIN operations o ON o.id = r.id WHERE r.creator_id IN (${inList(ids)})`,
      )
    ).map(
      ({ receivable_of_operation, ...row }): Record<string, unknown> => ({
        ...row,
        moved_receivable_minor:
          row.source === "receivable" ? (row.moved_receivable_minor ?? receivable_of_operation ?? null) : null,
      }),
    );
    const withdrawals = await rowsOf(`SELECT * FROM withdrawals WHERE creator_id IN (${inList(ids)})`);
    const transitions = await rowsOf(
      `SELECT t.* FROM withdrawal_transitions t JOIN withdrawals w ON w.id = t.withdrawal_id
       WHERE w.creator_id IN (${inList(ids)})`,
    );
    const inbox = await rowsOf(`SELECT * FROM inbox_messages WHERE creator_id IN (${inList(ids)})`);
    // Copied before the balances move (the wallet's debit would lower the part to 0 here); in the
    // new shard it is within the wallet again once the wallet's transit is delivered.
    const winnings = await rowsOf(`SELECT * FROM user_winnings WHERE user_id IN (${inList(ids)})`);
    for (const r of [...reversals, ...refunds]) {
      assert(
        r.source !== "receivable" || typeof r.moved_receivable_minor === "number",
        "a receivable reversal's receivable is known",
      );
    }

    // Late rows (the "missing" sweep after the switch) move no money: nothing to tombstone.
    const named = [
      ...settlements.map((r) => String(r.id)),
      ...reversals.map((r) => String(r.id)),
      ...refunds.map((r) => String(r.id)),
      ...withdrawals.flatMap((r) => [String(r.id), `${r.id}:payout`, `${r.id}:release`]),
    ];
    const known = mode === "upsert" ? await operationsToTombstone(old, ids, named, targetIndex) : [];
    const tombstones: D1PreparedStatement[] = [];
    for (let k = 0; k < known.length; k += IDS_PER_STATEMENT) {
      tombstones.push(
        target
          .prepare(
            `INSERT INTO operation_tombstones (id, archive_id, archived_at_ms)
             SELECT value, ?, ? FROM json_each(?) WHERE true ON CONFLICT (id) DO NOTHING`,
          )
          .bind(moveId, nowMs, JSON.stringify(known.slice(k, k + IDS_PER_STATEMENT))),
      );
    }
    const statements = [
      ...settlements.map((r) => upsert(target, "creator_settlements", ["id"], r, mode)),
      ...reversals.map((r) => upsert(target, "tip_reversals", ["id"], r, mode)),
      ...refunds.map((r) => upsert(target, "unlock_refunds", ["id"], r, mode)),
      ...withdrawals.map((r) => upsert(target, "withdrawals", ["id"], r, mode)),
      ...transitions.map((r) => upsert(target, "withdrawal_transitions", ["withdrawal_id", "seq"], r, mode)),
      ...inbox.map((r) => upsert(target, "inbox_messages", ["id"], r, mode)),
      ...winnings.map((r) => upsert(target, "user_winnings", ["user_id"], r, mode)),
      ...tombstones,
    ];
    for (let k = 0; k < statements.length; k += STATEMENTS_PER_BATCH) {
      await target.batch(statements.slice(k, k + STATEMENTS_PER_BATCH));
    }
    counts.settlements += settlements.length;
    counts.reversals += reversals.length + refunds.length;
    counts.withdrawals += withdrawals.length;
    counts.transitions += transitions.length;
    counts.inbox += inbox.length;
    counts.tombstones += known.length;
  }
  return `${creators.length} creators' money-out rows: ${counts.settlements} settlements, ${counts.reversals} reversals, ${counts.withdrawals} withdrawals (${counts.transitions} transitions), ${counts.inbox} inbox messages; ${counts.tombstones} operation ids tombstoned`;
}

/**
 * The ids to tombstone in the new shard for these creators: the operations their rows name
 * (`named`) that the old shard holds, live or archived, and each of their tips' arrival.
 */
async function operationsToTombstone(
  old: D1Database,
  ids: readonly string[],
  named: readonly string[],
  targetIndex: number,
): Promise<string[]> {
  const known: string[] = [];
  for (let k = 0; k < named.length; k += IDS_PER_STATEMENT) {
    const chunk = JSON.stringify(named.slice(k, k + IDS_PER_STATEMENT));
    const { results } = await old
      .prepare(
        `SELECT id FROM operations WHERE id IN (SELECT value FROM json_each(?))
         UNION SELECT id FROM operation_tombstones WHERE id IN (SELECT value FROM json_each(?))`,
      )
      .bind(chunk, chunk)
      .all<{ id: string }>();
    known.push(...results.map((r) => r.id));
  }
  // Where each of their tips' creator part arrived in the old shard (the tip itself, or its
  // delivery there), written as that tip's arrival here (`{tip}>{new}`): a reversal of an
  // earlier tip in the new shard must not wait for a delivery that was posted in the old one
  // (`reversal_in_flight`). A credit still in flight at the move is not among them: the old
  // shard forwards it, and its delivery here is the real one.
  const pending = ids.map((id) => accountAddress.creatorPending(id));
  const { results: arrived } = await old
    .prepare(
      `SELECT id FROM tips WHERE creator_id IN (SELECT value FROM json_each(?))
       UNION SELECT id FROM entitlements WHERE creator_id IN (SELECT value FROM json_each(?)) AND moved_from_shard IS NULL
       UNION SELECT json_extract(o.metadata, '$.operationId') FROM transfers t JOIN operations o ON o.id = t.operation_id
         WHERE t.to_account IN (SELECT value FROM json_each(?)) AND o.kind = 'transit_delivery'`,
    )
    .bind(JSON.stringify(ids), JSON.stringify(ids), JSON.stringify(pending))
    .all<{ id: string }>();
  known.push(...arrived.map((r) => deliveryId(r.id, targetIndex)));
  return known;
}

/**
 * Moves the bucket's creators' shares of the accounts every shard has, as money through
 * transit (operations/bucket-move.ts, composeShareMove): each outstanding receivable from the
 * new shard's `platform:receivables` to the old one's, and each creator's Σ paid withdrawals
 * per channel from the old shard's `channel:{ch}:payouts` to the new one's. Then delivers
 * them at once (accounts every shard has are never fenced), so each shard's receivables and
 * payouts match the rows it holds again as soon as the rows are retired.
 */
async function moveShares(
  ledger: Ledger,
  from: number,
  to: number,
  bucket: number,
  creators: readonly string[],
  moveId: string,
  nowMs: number,
): Promise<string> {
  const oldShard = ledger.shard(from);
  const newShard = ledger.shard(to);
  const receivables: ComposedOperation[] = [];
  const payouts: ComposedOperation[] = [];
  let receivableMinor = 0;
  let payoutsMinor = 0;
  for (let at = 0; at < creators.length; at += CREATORS_PER_STATEMENT) {
    const ids = creators.slice(at, at + CREATORS_PER_STATEMENT);
    const owed = await oldShard.db.batch(
      ids.map((id) => oldShard.db.prepare(`SELECT ${RECEIVABLE_SQL} AS owed`).bind(id, id)),
    );
    ids.forEach((creatorId, i) => {
      const owedMinor = (owed[i]?.results[0] as { owed: number } | undefined)?.owed ?? 0;
      assert(owedMinor >= 0, "a creator never owes less than nothing");
      if (owedMinor === 0) return;
      receivableMinor += owedMinor;
      receivables.push(
        composeShareMove(
          newShard,
          {
            moveId,
            bucket,
            creatorId,
            peerShard: from,
            address: accountAddress.platformReceivables(),
            currency: DEFAULT_CURRENCY,
            amountMinor: owedMinor,
            fence: "incoming",
          },
          nowMs,
        ),
      );
    });
    const { results: paid } = await oldShard.db
      .prepare(
        `SELECT creator_id, channel, currency, SUM(amount_minor - fee_minor) AS paid FROM withdrawals
         WHERE state = 'paid' AND creator_id IN (${inList(ids)}) GROUP BY creator_id, channel, currency`,
      )
      .bind(...ids)
      .all<{ creator_id: string; channel: string; currency: string; paid: number }>();
    for (const p of paid) {
      if (p.paid === 0) continue;
      payoutsMinor += p.paid;
      payouts.push(
        composeShareMove(
          oldShard,
          {
            moveId,
            bucket,
            creatorId: p.creator_id,
            peerShard: to,
            address: accountAddress.channelPayouts(p.channel),
            currency: currencyOf(p.currency),
            amountMinor: p.paid,
            fence: "frozen",
          },
          nowMs,
        ),
      );
    }
  }
  const refs: TransitRef[] = [];
  for (const [shard, composed] of [
    [newShard, receivables],
    [oldShard, payouts],
  ] as const) {
    for (let at = 0; at < composed.length; at += OPERATIONS_PER_BATCH) {
      const chunk = composed.slice(at, at + OPERATIONS_PER_BATCH);
      const verdicts = await runOperations(shard, chunk);
      verdicts.forEach((v, i) => {
        if (v.kind === "rejected") throw new Error(`moving ${chunk[i]?.id} was refused: ${v.code}`);
      });
      refs.push(...chunk.flatMap((c) => c.transit));
    }
  }
  for (let at = 0; at < refs.length; at += LIMITS.transitDeliveriesPerBatchMax) {
    const outcomes = await deliverTransit(ledger, refs.slice(at, at + LIMITS.transitDeliveriesPerBatchMax), nowMs);
    const rejected = outcomes.find((o) => o.kind === "rejected");
    if (rejected !== undefined) throw new Error(`a share's delivery was refused: ${JSON.stringify(rejected)}`);
  }
  return `${receivables.length} receivables (${receivableMinor} minor units) to shard ${from}, ${payouts.length} payouts shares (${payoutsMinor} minor units) to shard ${to}`;
}

/**
 * Deletes the moved creators' settlements, reversals and withdrawals (with transitions) from
 * the old shard, one batch per chunk of creators, after their shares have moved: the old
 * shard's receivables and payouts no longer include them, so neither may its rows. Their
 * operations and transfers stay there as history; inbox messages stay too (no money). The
 * bucket stays fenced in the old shard for good, so nothing writes these rows there again.
 */
async function retireMoneyOut(old: D1Database, creators: readonly string[]): Promise<string> {
  let rows = 0;
  for (let at = 0; at < creators.length; at += CREATORS_PER_STATEMENT) {
    const ids = creators.slice(at, at + CREATORS_PER_STATEMENT);
    const results = await old.batch([
      old
        .prepare(
          `DELETE FROM withdrawal_transitions WHERE withdrawal_id IN
             (SELECT id FROM withdrawals WHERE creator_id IN (${inList(ids)}))`,
        )
        .bind(...ids),
      old.prepare(`DELETE FROM withdrawals WHERE creator_id IN (${inList(ids)})`).bind(...ids),
      old.prepare(`DELETE FROM tip_reversals WHERE creator_id IN (${inList(ids)})`).bind(...ids),
      old.prepare(`DELETE FROM unlock_refunds WHERE creator_id IN (${inList(ids)})`).bind(...ids),
      old.prepare(`DELETE FROM creator_settlements WHERE creator_id IN (${inList(ids)})`).bind(...ids),
      old.prepare(`DELETE FROM user_winnings WHERE user_id IN (${inList(ids)})`).bind(...ids),
    ]);
    rows += results.reduce((sum, r) => sum + (r.meta.changes ?? 0), 0);
  }
  return `${rows} money-out rows of ${creators.length} creators`;
}

/**
 * Copies the bucket's rows that are not money to the new shard, by primary key: "upsert"
 * during the freeze (the old shard's rows are the truth), "missing" after the switch (only
 * rows a stale writer added in the old shard; the new shard's own rows win).
 */
async function copyRows(
  old: D1Database,
  target: D1Database,
  from: number,
  bucket: number,
  mode: "upsert" | "missing",
  nowMs: number,
): Promise<string> {
  const code = bucketCodeOfIds(bucket);
  const autopay = (await old.prepare("SELECT * FROM autopay_settings").all<Record<string, unknown>>()).results.filter(
    (r) => bucketOfOwner(String(r.user_id)) === bucket,
  );
  // The PIN moves with its tries and lock: a move must not hand a guesser fresh tries.
  const pins = (await old.prepare("SELECT * FROM payment_pins").all<Record<string, unknown>>()).results.filter(
    (r) => bucketOfOwner(String(r.user_id)) === bucket,
  );
  const orders = (
    await old
      .prepare(
        `SELECT * FROM payment_orders WHERE state IN ('created', 'pending') AND substr(id, instr(id, '_') + 11, 2) = ?`,
      )
      .bind(code)
      .all<Record<string, unknown>>()
  ).results;
  const transitions = (
    await old
      .prepare(
        `SELECT t.* FROM payment_order_transitions t JOIN payment_orders o ON o.id = t.order_id
         WHERE o.state IN ('created', 'pending') AND substr(o.id, instr(o.id, '_') + 11, 2) = ?`,
      )
      .bind(code)
      .all<Record<string, unknown>>()
  ).results;
  const keys = (
    await old
      .prepare(
        `SELECT * FROM idempotency_keys WHERE state = 'completed' AND expires_at_ms > ?
           AND substr(operation_id, instr(operation_id, '_') + 11, 2) = ?`,
      )
      .bind(nowMs, code)
      .all<Record<string, unknown>>()
  ).results;
  // An entitlement's id is its unlock's, an owned id carrying the payer's bucket. Revoked rows
  // first: a re-unlock's active row must not meet the older row still active here.
  const entitlements = (
    await old
      .prepare(
        `SELECT * FROM entitlements WHERE substr(id, instr(id, '_') + 11, 2) = ?
         ORDER BY state = 'active', created_at_ms`,
      )
      .bind(code)
      .all<Record<string, unknown>>()
  ).results;
  const statements = [
    ...entitlements.map((r) => copyEntitlement(target, r, from, mode)),
    ...autopay.map((r) => upsert(target, "autopay_settings", ["user_id"], r, mode)),
    ...pins.map((r) => upsert(target, "payment_pins", ["user_id"], r, mode)),
    ...orders.map((r) => upsert(target, "payment_orders", ["id"], r, mode)),
    ...transitions.map((r) => upsert(target, "payment_order_transitions", ["order_id", "seq"], r, mode)),
    ...keys.map((r) => upsert(target, "idempotency_keys", ["principal_id", "key"], r, mode)),
  ];
  for (let at = 0; at < statements.length; at += STATEMENTS_PER_BATCH) {
    await target.batch(statements.slice(at, at + STATEMENTS_PER_BATCH));
  }
  return `${entitlements.length} content entitlements, ${autopay.length} autopay settings, ${pins.length} payment PINs, ${orders.length} open orders (${transitions.length} transitions), ${keys.length} idempotency records`;
}

/**
 * A content entitlement to the new shard (operations/unlock.ts): the payer's live entitlement
 * there from now on — the unlock guard, the entitlement check and a refund's revocation read
 * and write it in the payer's shard. The copy names the shard its original stays in
 * (`moved_from_shard`), with the unlock's operation, for settlement and the checker to count
 * the original only. Where the row is already (a bucket moving back to a shard it left),
 * only its state follows, and an original stays the original.
 */
function copyEntitlement(
  db: D1Database,
  row: Record<string, unknown>,
  from: number,
  mode: "upsert" | "missing",
): D1PreparedStatement {
  const onConflict =
    mode === "missing" ? "DO NOTHING" : "DO UPDATE SET state = excluded.state, revoked_at_ms = excluded.revoked_at_ms";
  return db
    .prepare(
      `INSERT INTO entitlements (id, content_id, user_id, creator_id, amount_minor, platform_minor, creator_minor,
         platform_bps, currency, state, created_at_ms, revoked_at_ms, moved_from_shard, schedule_version)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) ${onConflict}`,
    )
    .bind(
      row.id,
      row.content_id,
      row.user_id,
      row.creator_id,
      row.amount_minor,
      row.platform_minor,
      row.creator_minor,
      row.platform_bps,
      row.currency,
      row.state,
      row.created_at_ms,
      row.revoked_at_ms ?? null,
      row.moved_from_shard ?? from,
      row.schedule_version ?? null,
    );
}

function upsert(
  db: D1Database,
  table: string,
  key: readonly string[],
  row: Record<string, unknown>,
  mode: "upsert" | "missing",
): D1PreparedStatement {
  const columns = Object.keys(row);
  assert(columns.length <= 100, "a row binds at most 100 parameters");
  const update = columns.filter((c) => !key.includes(c));
  const onConflict =
    mode === "missing" || update.length === 0
      ? "DO NOTHING"
      : `DO UPDATE SET ${update.map((c) => `${c} = excluded.${c}`).join(", ")}`;
  return db
    .prepare(
      `INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})
       ON CONFLICT (${key.join(", ")}) ${onConflict}`,
    )
    .bind(...columns.map((c) => row[c] ?? null));
}
