/**
 * Money operations as lists of D1 prepared statements.
 *
 * D1 has no BEGIN/COMMIT; a `batch()` is the transaction. An operation is therefore
 * composed as statements whose guards live in SQL:
 *
 *   1. verdict   SELECT that names the first failing guard (or 'exists' / NULL)
 *   2. operation INSERT … SELECT … WHERE NOT EXISTS(op) AND <every guard>   → state 'posting'
 *   3. accounts, transfers, balance updates, and the caller's extra rows, each
 *      `WHERE EXISTS(op in state 'posting')`
 *   4. finalize  UPDATE state 'posted'
 *
 * A failed guard makes every later statement of *that* operation a no-op instead of
 * aborting the batch, so many operations can share one batch (group commit) without one
 * rejection undoing its neighbours. The verdict and the guards are evaluated on the same
 * snapshot, one statement apart in one transaction, so the verdict is exact. A repeated
 * operation id is "exists": applied once, reported as already done (TigerBeetle style), also
 * once archival has pruned it (its id is then in operation_tombstones: KNOWN_ID_SQL).
 * CHECK constraints remain as a backstop; tripping one is a bug and aborts the batch.
 *
 * Only the operation files in src/db/operations/ call `composeOperation`: one file per kind
 * of money movement, so `ls src/db/operations` answers "where does money move?".
 */

import { mayGoNegative, type Posting } from "../domain/accounts";
import { splitAcrossShards } from "../domain/cross-shard";
import type { GuardCode } from "../domain/guards";
import { assert, isSafeAmountMinor, LIMITS } from "../domain/limits";
import type { Currency } from "../domain/money";
import { bucketOfAccount } from "../domain/shards";
import type { TransitRef } from "./messages/ledger-postings";
import { forgetBucketMap, type LedgerShard } from "./shards";

/** A boolean SQL expression with its bound parameters. */
export interface SqlCondition {
  readonly sql: string;
  readonly params: readonly unknown[];
}

/** A condition that must hold for the operation to post, and the rule it stands for. */
export interface Guard extends SqlCondition {
  readonly code: GuardCode;
}

/**
 * Statements a caller adds to an operation's batch (the idempotency record's completion, a
 * state change of the order it pays), each written only while `whenPosting` holds, that is
 * only if the operation posts.
 */
export type Attach = (whenPosting: SqlCondition) => readonly D1PreparedStatement[];

const attachNothing: Attach = () => [];

const OPERATION_KINDS = [
  "tip",
  "adjustment",
  "packet_send",
  "packet_claim",
  "packet_refund",
  "campaign_fund",
  "subsidy_issue",
  "payment_credit",
  "payment_refund",
  "payment_refund_reversal",
  "transit_delivery",
  "bucket_move",
  "settlement",
  "tip_reversal",
  "tip_reversal_platform",
  "withdrawal_hold",
  "withdrawal_release",
  "withdrawal_payout",
  "tip_hold",
  "tip_hold_release",
  "unlock",
  "unlock_refund",
  "unlock_refund_payer",
] as const;
export type OperationKind = (typeof OPERATION_KINDS)[number];

export interface OperationSpec {
  readonly id: string;
  readonly kind: OperationKind;
  readonly currency: Currency;
  readonly postings: readonly Posting[];
  readonly actorId: string;
  readonly reason: string | null;
  readonly metadata: Record<string, unknown> | null;
  readonly nowMs: number;
  /** Business guards checked before the balance guards, in order. */
  readonly guards: readonly Guard[];
  /**
   * Guards checked after the balance guards: conditions worth raising only for an operation
   * that could otherwise post (a confirmation is pointless when the money is not there).
   */
  readonly guardsAfterFunds?: readonly Guard[];
  /** The operation's own rows (e.g. the tip row), built with `whenPosting`. */
  readonly extra: Attach;
  /**
   * Rows written before the balances change: a sub-balance that a trigger on `accounts` keeps
   * within its account (`user_winnings`, docs/adr/0017) is lowered here by an operation that
   * takes from it, so the trigger then finds it already within the new balance.
   */
  readonly beforeBalances?: Attach;
  /**
   * The caller's statements (e.g. an idempotency record's completion), written after the
   * operation's own rows and immediately before its finalize: the last attached statement's
   * result is at `statements.length - 2`.
   */
  readonly attach?: Attach | undefined;
}

export type Verdict =
  | { readonly kind: "posted" }
  | { readonly kind: "exists" }
  | { readonly kind: "rejected"; readonly code: GuardCode };

export interface ComposedOperation {
  /** The operation's id (its business id: `tip_…`, the order id, the claim id). */
  readonly id: string;
  readonly statements: readonly D1PreparedStatement[];
  /**
   * The verdict as a SQL expression (`'exists'`, a guard's code, or NULL), for a later
   * statement in the same batch to record what became of the operation atomically with it.
   */
  readonly verdictExpression: { readonly sql: string; readonly params: readonly unknown[] };
  /**
   * The credits this operation owes other shards, if it posts: the caller's shard announces
   * them after the commit (`LedgerShard.dispatch`); the consumer checks each against the
   * outbox row the batch wrote, so a ref of an operation that did not post delivers nothing.
   */
  readonly transit: readonly TransitRef[];
  /** Reads the verdict from the batch results of exactly these statements. */
  readonly verdictFrom: (results: readonly D1Result[]) => Verdict;
}

/**
 * What became of an operation composed into another's batch — a pay-to-tip order's tip, a
 * cashier-paid packet, a pay-to-unlock (operations/payment-credit.ts and its part files) — as a
 * SQL value for a statement placed after the operation's own: `done` once the operation exists
 * (posted in this batch, or earlier), else the code of the guard that refused it; or, when it
 * was never composed, `refused` (why it could not even be prepared; null: nothing to record).
 */
export function outcomeExpression(
  composed: Pick<ComposedOperation, "verdictExpression"> | null,
  done: string,
  refused: string | null,
): SqlCondition {
  if (composed === null) return { sql: "?", params: [refused] };
  const verdict = composed.verdictExpression;
  return {
    sql: `CASE (${verdict.sql}) WHEN 'exists' THEN ? ELSE (${verdict.sql}) END`,
    params: [...verdict.params, done, ...verdict.params],
  };
}

const ACCOUNT_BALANCE = "COALESCE((SELECT balance_minor FROM accounts WHERE address = ?), 0)";

/**
 * The shard knows an operation id: it is posted here, or it was archived and pruned
 * (operation_tombstones, written by src/db/archive/prune.ts in the batch that deletes the
 * operation, kept `LIMITS.operationIdMemoryMs`). Binds the id twice. Either way the operation
 * is "exists": a late redelivery of an archived operation moves nothing.
 */
export const KNOWN_ID_SQL =
  "(EXISTS (SELECT 1 FROM operations WHERE id = ?) OR EXISTS (SELECT 1 FROM operation_tombstones WHERE id = ?))";

/**
 * Composes an operation that commits in `shard`. Its debits must live there (or in the
 * accounts every shard has); a credit to an account of another shard goes to this shard's
 * `transit:{destination}` account and a `transit_outbox` row in the same batch
 * (domain/cross-shard.ts), to be posted in the destination by the ledger-postings consumer.
 */
export function composeOperation(shard: LedgerShard, spec: OperationSpec): ComposedOperation {
  const { db } = shard;
  const { split, postings, amountMinor, netByAccount, addresses, guards } = planOperation(shard, spec);
  const posting: SqlCondition = {
    sql: "EXISTS (SELECT 1 FROM operations WHERE id = ? AND state = 'posting')",
    params: [spec.id],
  };

  const verdictExpression = verdictOf(spec, guards);
  const verdict = db.prepare(`SELECT ${verdictExpression.sql} AS verdict`).bind(...verdictExpression.params);
  const insertOperation = operationInsert(db, spec, { amountMinor, postings, guards });

  const createAccounts = addresses.map((address) =>
    db
      .prepare(
        `INSERT INTO accounts (address, currency, balance_minor, may_go_negative, created_at_ms)
         SELECT ?, ?, 0, ?, ? WHERE ${posting.sql}
         ON CONFLICT (address) DO NOTHING`,
      )
      .bind(address, spec.currency, mayGoNegative(address) ? 1 : 0, spec.nowMs, ...posting.params),
  );

  const insertTransfers = postings.map((p) =>
    db
      .prepare(
        `INSERT INTO transfers (operation_id, from_account, to_account, amount_minor, currency, created_at_ms)
         SELECT ?, ?, ?, ?, ?, ? WHERE ${posting.sql}`,
      )
      .bind(spec.id, p.from, p.to, p.amountMinor, spec.currency, spec.nowMs, ...posting.params),
  );

  const updateBalances = [...netByAccount]
    .filter(([, net]) => net !== 0)
    .map(([address, net]) =>
      db
        .prepare(`UPDATE accounts SET balance_minor = balance_minor + ? WHERE address = ? AND ${posting.sql}`)
        .bind(net, address, ...posting.params),
    );

  const outbox = [...split.deliveries].map(([destination, legs]) =>
    db
      .prepare(
        `INSERT INTO transit_outbox (operation_id, destination_shard, operation_kind, postings, amount_minor, currency,
           created_at_ms)
         SELECT ?, ?, ?, ?, ?, ?, ? WHERE ${posting.sql}`,
      )
      .bind(
        spec.id,
        destination,
        spec.kind,
        JSON.stringify(legs),
        legs.reduce((sum, leg) => sum + leg.amountMinor, 0),
        spec.currency,
        spec.nowMs,
        ...posting.params,
      ),
  );
  const transit: TransitRef[] = [...split.deliveries.keys()].map((destination) => ({
    kind: "transit",
    origin: shard.index,
    destination,
    operationId: spec.id,
  }));

  const extra = [...outbox, ...spec.extra(posting), ...(spec.attach ?? attachNothing)(posting)];

  const finalize = db
    .prepare("UPDATE operations SET state = 'posted' WHERE id = ? AND state = 'posting'")
    .bind(spec.id);

  const statements = [
    verdict,
    insertOperation,
    ...createAccounts,
    ...insertTransfers,
    ...(spec.beforeBalances ?? attachNothing)(posting),
    ...updateBalances,
    ...extra,
    finalize,
  ];
  const verdictIndex = 0;
  const finalizeIndex = statements.length - 1;

  return {
    id: spec.id,
    statements,
    transit,
    verdictExpression,
    verdictFrom(results) {
      assert(results.length === statements.length, "one result per statement");
      const row = results[verdictIndex]?.results[0] as { verdict: string | null } | undefined;
      const posted = (results[finalizeIndex]?.meta.changes ?? 0) === 1;
      if (row?.verdict === null || row?.verdict === undefined) {
        assert(posted, "an operation with no failing guard posts");
        return { kind: "posted" };
      }
      assert(!posted, "an operation with a failing guard does not post");
      if (row.verdict === "exists") return { kind: "exists" };
      const code = guards.find((g) => g.code === row.verdict)?.code;
      assert(code !== undefined, `verdict "${row.verdict}" names a guard`);
      return { kind: "rejected", code };
    },
  };
}

/** What an operation moves in its shard, and its guards in the order its verdict names them. */
export interface OperationPlan {
  readonly split: ReturnType<typeof splitAcrossShards>;
  /** This shard's transfers. */
  readonly postings: readonly Posting[];
  readonly amountMinor: number;
  readonly netByAccount: ReadonlyMap<string, number>;
  readonly addresses: readonly string[];
  readonly guards: readonly Guard[];
}

/**
 * For a set-based group (operations/tip-group.ts), whose balance updates are written after all
 * its operations' guards: per account, the sum, as SQL, that earlier operations of the group
 * credit (or debit) it but have not written yet. A ceiling guard adds the credits to the
 * account's balance, a funds guard subtracts the debits.
 */
export interface PendingInGroup {
  readonly credited?: (address: string) => SqlCondition | null;
  readonly debited?: (address: string) => SqlCondition | null;
}

/** Plans an operation: its split across shards and its guards (`before`: PendingInGroup). */
export function planOperation(shard: LedgerShard, spec: OperationSpec, before: PendingInGroup = {}): OperationPlan {
  const creditedBefore = before.credited ?? (() => null);
  const debitedBefore = before.debited ?? (() => null);
  assertOperation(spec);
  const split = splitAcrossShards(spec.postings, shard.index, shard.homeOf);
  const postings = split.origin;
  // What this shard's transfers move (a returning credit is two of them: domain/cross-shard.ts).
  const amountMinor = postings.reduce((sum, p) => sum + p.amountMinor, 0);
  const netByAccount = new Map<string, number>();
  const debitByAccount = new Map<string, number>();
  for (const p of postings) {
    netByAccount.set(p.from, (netByAccount.get(p.from) ?? 0) - p.amountMinor);
    netByAccount.set(p.to, (netByAccount.get(p.to) ?? 0) + p.amountMinor);
    debitByAccount.set(p.from, (debitByAccount.get(p.from) ?? 0) + p.amountMinor);
  }
  const addresses = [...netByAccount.keys()];

  const currencyGuard: Guard = {
    code: "currency_mismatch",
    sql: `NOT EXISTS (SELECT 1 FROM accounts WHERE address IN (${addresses.map(() => "?").join(", ")}) AND currency <> ?)`,
    params: [...addresses, spec.currency],
  };
  const fundsGuards: Guard[] = [...debitByAccount]
    .filter(([address]) => !mayGoNegative(address))
    .map(([address, debitMinor]) => {
      const earlier = debitedBefore(address);
      return {
        code: "insufficient_funds" as const,
        sql: `${ACCOUNT_BALANCE}${earlier ? ` - ${earlier.sql}` : ""} >= ?`,
        params: [address, ...(earlier?.params ?? []), debitMinor],
      };
    });
  // Balances stay far inside the safe-integer range, so every sum the checker makes is exact.
  const ceilingGuards: Guard[] = [...netByAccount]
    .filter(([, net]) => net > 0)
    .map(([address, net]) => {
      const before = creditedBefore(address);
      return {
        code: "balance_ceiling" as const,
        sql: `${ACCOUNT_BALANCE}${before ? ` + ${before.sql}` : ""} + ? <= ?`,
        params: [address, ...(before?.params ?? []), net, LIMITS.balanceAbsMaxMinor],
      };
    });
  const guards = [
    ...fenceGuards(shard, spec, addresses),
    ...spec.guards,
    currencyGuard,
    ...fundsGuards,
    ...ceilingGuards,
    ...(spec.guardsAfterFunds ?? []),
  ];
  return { split, postings, amountMinor, netByAccount, addresses, guards };
}

/** The verdict as SQL: 'exists', the first failing guard's code, or NULL (it posts). */
export function verdictOf(spec: OperationSpec, guards: readonly Guard[]): SqlCondition {
  return {
    sql: `CASE WHEN ${KNOWN_ID_SQL} THEN 'exists' ${guards
      .map((g) => `WHEN NOT (${g.sql}) THEN '${g.code}'`)
      .join(" ")} ELSE NULL END`,
    params: [spec.id, spec.id, ...guards.flatMap((g) => g.params)],
  };
}

/** The operation's row in state 'posting', written only if it is new and every guard holds. */
export function operationInsert(
  db: D1Database,
  spec: OperationSpec,
  plan: Pick<OperationPlan, "amountMinor" | "postings" | "guards">,
): D1PreparedStatement {
  const { guards } = plan;
  // D1 and DO SQL bind at most 100 parameters per statement.
  const insertParams = 11 + guards.reduce((n, g) => n + g.params.length, 0);
  assert(insertParams <= 100, "an operation statement binds at most 100 parameters");
  return db
    .prepare(
      `INSERT INTO operations (id, kind, currency, amount_minor, transfer_count, state, actor_id, reason, metadata, created_at_ms)
       SELECT ?, ?, ?, ?, ?, 'posting', ?, ?, ?, ?
       WHERE NOT ${KNOWN_ID_SQL} ${guards.map((g) => `AND (${g.sql})`).join(" ")}`,
    )
    .bind(
      spec.id,
      spec.kind,
      spec.currency,
      plan.amountMinor,
      plan.postings.length,
      spec.actorId,
      spec.reason,
      spec.metadata === null ? null : JSON.stringify(spec.metadata),
      spec.nowMs,
      spec.id,
      spec.id,
      ...guards.flatMap((g) => g.params),
    );
}

/**
 * The bucket fence (src/db/bucket-move.ts): an operation may not write an owner account of a
 * bucket this shard lists in `bucket_fences` (frozen for a move, moved away, not arrived
 * yet). Checked first, so a writer whose cached bucket map is stale is told so, exactly,
 * inside its batch, whatever else would have failed. Only the owner accounts the operation
 * writes *here* count: the accounts every shard has (transit, platform, world, channels)
 * are never fenced, so credits in flight are still forwarded. A bucket move's own debits
 * are the one writer a frozen bucket allows.
 */
function fenceGuards(shard: LedgerShard, spec: OperationSpec, addresses: readonly string[]): Guard[] {
  if (spec.kind === "bucket_move") return [];
  const buckets = new Set<number>();
  for (const address of addresses) {
    const bucket = bucketOfAccount(address);
    if (bucket !== "origin" && shard.homeOf(address) === shard.index) buckets.add(bucket);
  }
  if (buckets.size === 0) return [];
  return [
    {
      code: "bucket_fenced",
      sql: `NOT EXISTS (SELECT 1 FROM bucket_fences WHERE bucket IN (${[...buckets].map(() => "?").join(", ")}))`,
      params: [...buckets],
    },
  ];
}

function assertOperation(spec: OperationSpec): void {
  assert(spec.postings.length >= 1, "an operation moves money");
  assert(spec.postings.length <= LIMITS.transfersPerOperationMax, "transfers per operation within limit");
  for (const p of spec.postings) {
    assert(isSafeAmountMinor(p.amountMinor), "every transfer moves a positive safe amount");
    assert(p.from !== p.to, "a transfer moves between two accounts");
  }
  // Codes are spliced into SQL as literals; only closed-set identifiers may appear there.
  for (const g of [...spec.guards, ...(spec.guardsAfterFunds ?? [])]) {
    assert(/^[a-z_]+$/.test(g.code), "guard codes are identifiers");
  }
}

/**
 * Group commit: many composed operations in one batch, each with its own guards, so one that
 * is refused leaves its neighbours posted. Returns each one's verdict, in order.
 */
export async function runOperations(
  shard: LedgerShard,
  composed: readonly ComposedOperation[],
  after: readonly D1PreparedStatement[] = [],
): Promise<Verdict[]> {
  if (composed.length === 0) return [];
  const results = await shard.db.batch([...composed.flatMap((c) => c.statements), ...after]);
  const verdicts: Verdict[] = [];
  let offset = 0;
  for (const c of composed) {
    verdicts.push(c.verdictFrom(results.slice(offset, offset + c.statements.length)));
    offset += c.statements.length;
  }
  await dispatchPosted(shard, composed, verdicts);
  return verdicts;
}

/** Runs one composed operation in its own batch. */
export async function runOperation(
  shard: LedgerShard,
  composed: ComposedOperation,
  after: readonly D1PreparedStatement[] = [],
): Promise<{ verdict: Verdict; afterResults: readonly D1Result[] }> {
  const results = await shard.db.batch([...composed.statements, ...after]);
  const own = results.slice(0, composed.statements.length);
  const verdict = composed.verdictFrom(own);
  await dispatchPosted(shard, [composed], [verdict]);
  return { verdict, afterResults: results.slice(composed.statements.length) };
}

/**
 * Announces the transit of the operations that posted. A failure to announce loses nothing:
 * the outbox row is committed, and the sweeper sends it again after a while.
 */
export async function dispatchPosted(
  shard: LedgerShard,
  composed: readonly ComposedOperation[],
  verdicts: readonly Verdict[],
): Promise<void> {
  await dispatchTransit(
    shard,
    composed.map((c) => c.transit),
    verdicts,
  );
}

/** `dispatchPosted` for operations given by their transit refs (a set-based group's). */
export async function dispatchTransit(
  shard: LedgerShard,
  transit: readonly (readonly TransitRef[])[],
  verdicts: readonly Verdict[],
): Promise<void> {
  // A fenced owner: this isolate's bucket map may be stale; the next `openLedger` re-reads it.
  if (verdicts.some((v) => v.kind === "rejected" && v.code === "bucket_fenced")) forgetBucketMap();
  const refs = transit.flatMap((t, i) => (verdicts[i]?.kind === "posted" ? t : []));
  try {
    await shard.dispatch(refs);
  } catch {
    // Swept later (worker/cron/transit-sweep.ts).
  }
}
