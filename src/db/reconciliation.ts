/**
 * Reconciliation in D1: what we recorded for a channel and day ("our records", the input of
 * src/domain/reconcile.ts), and the runs with their findings.
 *
 * Orders and refunds live in their payers' ledger shards, so our records are read from every
 * shard: each shard's orders of the day, and the orders the statement names, each asked of
 * the shard its id routes to. Runs and findings are the operators' and live in the control
 * database.
 *
 * Money is fetched in pages and id lists are bound as one JSON array read by `json_each`, so
 * a day of any size stays within D1's 100 bound parameters and row limits per statement.
 */

import { z } from "zod";
import type { ChannelName } from "../channels/channel";
import { type IdPrefix, newId } from "../domain/ids";
import { assert } from "../domain/limits";
import type { OrderState } from "../domain/order";
import {
  FINDING_KINDS,
  type Finding,
  type FindingKind,
  type OurOrder,
  type OurRecord,
  type OurRefund,
  type RefundState,
} from "../domain/reconcile";
import { batchWithAuditEntry } from "./audit";
import { shardOfOrder } from "./reads/orders";
import type { Ledger } from "./shards";

/** The half-open instant range of the statement's day in the configured time zone. */
export interface DayWindow {
  readonly startMs: number;
  readonly endMs: number;
}

/** Order rows per page, and ids per `json_each` array (well under D1's 2 MB per value). */
const PAGE_ROWS = 2_000;
const IDS_PER_QUERY = 500;
/**
 * A statement lists a payment on the day it was paid, which is when we credit it, give or
 * take a late callback; an order created before midnight and paid after it belongs to the
 * later day. Orders are looked for this far back from the day's start (payments outlive
 * their order's 15 minutes only through slow callbacks, which providers retry over 24 h).
 */
const CREDIT_LOOKBACK_MS = 86_400_000;
/** Ids carry their creation time; a refund's id is minted a moment before its row's time. */
const ID_TIME_SLACK_MS = 60_000;

/** The smallest id with `prefix` minted at `atMs`: a bound for range scans on the primary key. */
function idFloor(prefix: IdPrefix, atMs: number): string {
  return newId(prefix, Math.max(0, atMs), (n) => new Uint8Array(n));
}

interface OrderRecordRow {
  id: string;
  state: OrderState;
  amount_minor: number;
  currency: string;
  provider_txn_id: string | null;
  refunded_minor: number;
  created_at_ms: number;
  credited_at_ms: number | null;
}

interface RefundRecordRow {
  id: string;
  order_id: string;
  amount_minor: number;
  state: RefundState;
  provider_refund_id: string | null;
  created_at_ms: number;
}

const ORDER_COLUMNS = `o.id, o.state, o.amount_minor, o.currency, o.provider_txn_id, o.refunded_minor, o.created_at_ms,
  (SELECT MIN(t.at_ms) FROM payment_order_transitions t WHERE t.order_id = o.id AND t.to_state = 'succeeded')
    AS credited_at_ms`;

/**
 * Our records for `channel` and the day: the day's orders, any order the statement names,
 * and every refund of those orders.
 *
 * An order is "in period" (the statement should show it) when we credited it during the day,
 * or, never credited, when it was created during the day; an order only loaded because a
 * line names it, or credited on another day, is not. A refund is in period when it was
 * requested during the day. Orders holding a refund requested during the day are loaded too,
 * so a refund the channel forgot is found even when its order is old.
 */
export async function loadOurRecords(
  ledger: Ledger,
  channel: ChannelName,
  day: DayWindow,
  namedOrderIds: readonly string[],
): Promise<OurRecord[]> {
  assert(day.startMs < day.endMs, "the day is a non-empty range");
  // A named id that is not an order id is none of ours: no shard holds it, reconcile reports it.
  const namedByShard = new Map<number, string[]>();
  for (const id of namedOrderIds) {
    const shard = shardOfOrder(ledger, id);
    if (shard) namedByShard.set(shard.index, [...(namedByShard.get(shard.index) ?? []), id]);
  }
  const orders: OurOrder[] = [];
  const refunds: OurRefund[] = [];
  // One shard after another: reconciliation is a background job, and this bounds its load to one database at a time.
  for (const shard of ledger.shards) {
    const records = await loadShardRecords(shard.db, channel, day, namedByShard.get(shard.index) ?? []);
    orders.push(...records.orders);
    refunds.push(...records.refunds);
  }
  return [...orders, ...refunds];
}

/** One shard's part of `loadOurRecords`: its orders and refunds, and those it holds of `namedOrderIds`. */
async function loadShardRecords(
  db: D1Database,
  channel: ChannelName,
  day: DayWindow,
  namedOrderIds: readonly string[],
): Promise<{ orders: OurOrder[]; refunds: OurRefund[] }> {
  const orders = new Map<string, OurOrder>();
  const keep = (row: OrderRecordRow, named: boolean) => {
    if (orders.has(row.id)) return;
    const inDay = (ms: number | null) => ms !== null && ms >= day.startMs && ms < day.endMs;
    const inPeriod = row.credited_at_ms !== null ? inDay(row.credited_at_ms) : inDay(row.created_at_ms);
    assert(named || inPeriod || inDay(row.created_at_ms), "only the day's orders are loaded unnamed");
    orders.set(row.id, {
      kind: "order",
      orderId: row.id,
      state: row.state,
      amountMinor: row.amount_minor,
      currency: row.currency,
      providerTxnId: row.provider_txn_id,
      refundedMinor: row.refunded_minor,
      inPeriod,
    });
  };

  // The day's orders, by primary-key range (ids begin with their creation time).
  let cursor = idFloor("order", day.startMs - CREDIT_LOOKBACK_MS);
  const idEnd = idFloor("order", day.endMs);
  for (;;) {
    const page = await db
      .prepare(
        `SELECT * FROM (SELECT ${ORDER_COLUMNS} FROM payment_orders o WHERE o.id > ? AND o.id < ? AND o.channel = ?)
         WHERE (created_at_ms >= ? AND created_at_ms < ?) OR (credited_at_ms >= ? AND credited_at_ms < ?)
         ORDER BY id LIMIT ?`,
      )
      .bind(cursor, idEnd, channel, day.startMs, day.endMs, day.startMs, day.endMs, PAGE_ROWS)
      .all<OrderRecordRow>();
    for (const row of page.results) keep(row, false);
    const last = page.results.at(-1);
    if (!last || page.results.length < PAGE_ROWS) break;
    cursor = last.id;
  }

  // Orders of the day's refunds, and orders the statement names, wherever they were created.
  const refundOrders = await db
    .prepare(
      `SELECT DISTINCT r.order_id FROM payment_refunds r JOIN payment_orders o ON o.id = r.order_id
       WHERE r.id >= ? AND r.id < ? AND r.created_at_ms >= ? AND r.created_at_ms < ? AND o.channel = ?`,
    )
    .bind(
      idFloor("orf", day.startMs - ID_TIME_SLACK_MS),
      idFloor("orf", day.endMs + ID_TIME_SLACK_MS),
      day.startMs,
      day.endMs,
      channel,
    )
    .all<{ order_id: string }>();
  const wanted = [...new Set([...refundOrders.results.map((r) => r.order_id), ...namedOrderIds])].filter(
    (id) => !orders.has(id),
  );
  for (const ids of chunks(wanted, IDS_PER_QUERY)) {
    const rows = await db
      .prepare(
        `SELECT ${ORDER_COLUMNS} FROM payment_orders o WHERE o.id IN (SELECT value FROM json_each(?)) AND o.channel = ?`,
      )
      .bind(JSON.stringify(ids), channel)
      .all<OrderRecordRow>();
    for (const row of rows.results) keep(row, true);
  }

  const refunds: OurRefund[] = [];
  for (const ids of chunks([...orders.keys()], IDS_PER_QUERY)) {
    const rows = await db
      .prepare(
        `SELECT id, order_id, amount_minor, state, provider_refund_id, created_at_ms FROM payment_refunds
         WHERE order_id IN (SELECT value FROM json_each(?)) ORDER BY id`,
      )
      .bind(JSON.stringify(ids))
      .all<RefundRecordRow>();
    for (const r of rows.results) {
      refunds.push({
        kind: "refund",
        // Our refund id is the merchant refund number the channel was sent.
        refundNo: r.id,
        providerRefundId: r.provider_refund_id,
        orderId: r.order_id,
        amountMinor: r.amount_minor,
        state: r.state,
        inPeriod: r.created_at_ms >= day.startMs && r.created_at_ms < day.endMs,
      });
    }
  }
  return { orders: [...orders.values()], refunds };
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/* ------------------------------------------------------------------------------------------ */
/* Runs and findings.                                                                          */

export interface RunRow {
  id: string;
  channel: ChannelName;
  statement_date: string;
  source_sha256: string;
  bill: "trade" | "fund_flow";
  lines: number;
  matched: number;
  findings: number;
  repaired: number;
  actor_id: string;
  started_at_ms: number;
  finished_at_ms: number | null;
}

/**
 * The parts of a finding that `reconciliation_findings` has no column for travel in its
 * `detail` as JSON, next to the sentence operators read: which statement line, the order as
 * the statement names it, the refund, the currencies. A migration can lift them into columns
 * if they are ever queried.
 */
const StoredDetail = z.object({
  text: z.string(),
  subject: z.enum(["payment", "refund", "payout"]),
  line: z.number().int().nullable(),
  merchantOrderNo: z.string().nullable(),
  providerTxnId: z.string().nullable(),
  providerRefundId: z.string().nullable(),
  refundNo: z.string().nullable(),
  theirsCurrency: z.string().nullable(),
  oursCurrency: z.string().nullable(),
  oursRefundedMinor: z.number().int().nullable(),
});

interface FindingRow {
  id: string;
  run_id: string;
  kind: FindingKind;
  order_id: string | null;
  provider_ref: string | null;
  ours_amount_minor: number | null;
  theirs_amount_minor: number | null;
  ours_status: string | null;
  theirs_status: string | null;
  repair: "query_channel" | "operator";
  repair_outcome: string | null;
  detail: string;
}

/** A stored finding as the API shows it. */
export interface StoredFinding {
  readonly id: string;
  readonly kind: FindingKind;
  readonly subject: "payment" | "refund" | "payout";
  readonly repair: "query_channel" | "operator";
  /** What the automatic repair did; null when none was attempted (left to operators). */
  readonly repairOutcome: string | null;
  readonly orderId: string | null;
  readonly merchantOrderNo: string | null;
  readonly providerTxnId: string | null;
  readonly providerRefundId: string | null;
  readonly refundNo: string | null;
  readonly line: number | null;
  readonly ours: {
    readonly amountMinor: number;
    readonly currency: string | null;
    readonly state: string;
    readonly refundedMinor: number | null;
  } | null;
  readonly theirs: { readonly amountMinor: number; readonly currency: string; readonly status: string } | null;
  readonly detail: string;
}

export interface NewRun {
  readonly channel: ChannelName;
  readonly statementDate: string;
  readonly sourceSha256: string;
  readonly bill: "trade" | "fund_flow";
  readonly lines: number;
  readonly matched: number;
  /** All findings, including any beyond those stored. */
  readonly findingsTotal: number;
  readonly actorId: string;
  readonly nowMs: number;
}

/** Findings per INSERT … SELECT FROM json_each: a few hundred bytes each, far under 2 MB. */
const FINDINGS_PER_INSERT = 500;

/**
 * Stores the run and its findings in one batch, once per (channel, date, statement hash):
 * a second request with the same statement, even a concurrent one, inserts nothing and
 * gets the first run back (`created: false`). D1 runs a batch as one transaction, so the
 * "not yet stored" test and the inserts cannot interleave with another batch's.
 */
export async function storeRun(
  db: D1Database,
  run: NewRun,
  findings: readonly Finding[],
): Promise<{ run: RunRow; created: boolean }> {
  assert(findings.length <= run.findingsTotal, "the stored findings are some of the run's");
  const id = newId("recon", run.nowMs);
  const rows = findings.map((f) => ({
    id: newId("finding", run.nowMs),
    kind: f.kind,
    orderId: f.orderId,
    providerRef: f.subject === "refund" ? (f.providerRefundId ?? f.refundNo) : f.providerTxnId,
    oursAmountMinor: f.ours?.amountMinor ?? null,
    theirsAmountMinor: f.theirs?.amountMinor ?? null,
    oursStatus: f.ours?.state ?? null,
    theirsStatus: f.theirs?.status ?? null,
    repair: f.repair,
    detail: JSON.stringify({
      text: f.detail,
      subject: f.subject,
      line: f.theirs?.line ?? null,
      merchantOrderNo: f.merchantOrderNo,
      providerTxnId: f.providerTxnId,
      providerRefundId: f.providerRefundId,
      refundNo: f.refundNo,
      theirsCurrency: f.theirs?.currency ?? null,
      oursCurrency: f.ours?.currency ?? null,
      oursRefundedMinor: f.ours?.refundedMinor ?? null,
    } satisfies z.infer<typeof StoredDetail>),
  }));
  const statements: D1PreparedStatement[] = [
    db
      .prepare(
        `INSERT INTO reconciliation_runs (id, channel, statement_date, source_sha256, bill, lines, matched, findings,
           repaired, actor_id, started_at_ms, finished_at_ms)
         SELECT ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, NULL
         WHERE NOT EXISTS (SELECT 1 FROM reconciliation_runs WHERE channel = ? AND statement_date = ? AND source_sha256 = ?)`,
      )
      .bind(
        id,
        run.channel,
        run.statementDate,
        run.sourceSha256,
        run.bill,
        run.lines,
        run.matched,
        run.findingsTotal,
        run.actorId,
        run.nowMs,
        run.channel,
        run.statementDate,
        run.sourceSha256,
      ),
  ];
  for (const chunk of chunks(rows, FINDINGS_PER_INSERT)) {
    statements.push(
      db
        .prepare(
          `INSERT INTO reconciliation_findings (id, run_id, kind, order_id, provider_ref, ours_amount_minor,
             theirs_amount_minor, ours_status, theirs_status, repair, repair_outcome, detail)
           SELECT f.value ->> '$.id', ?, f.value ->> '$.kind', f.value ->> '$.orderId', f.value ->> '$.providerRef',
             f.value ->> '$.oursAmountMinor', f.value ->> '$.theirsAmountMinor', f.value ->> '$.oursStatus',
             f.value ->> '$.theirsStatus', f.value ->> '$.repair', NULL, f.value ->> '$.detail'
           FROM json_each(?) f WHERE EXISTS (SELECT 1 FROM reconciliation_runs WHERE id = ?)`,
        )
        .bind(id, JSON.stringify(chunk), id),
    );
  }
  statements.push(
    db
      .prepare(
        "SELECT * FROM reconciliation_runs WHERE channel = ? AND statement_date = ? AND source_sha256 = ? ORDER BY id LIMIT 1",
      )
      .bind(run.channel, run.statementDate, run.sourceSha256),
  );
  const results = await db.batch(statements);
  const stored = results.at(-1)?.results[0] as RunRow | undefined;
  assert(stored, "the run exists after its insert");
  return { run: stored, created: stored.id === id };
}

/**
 * Of `dates`, those for which `channel`'s trade statement has a finished run (downloaded or
 * uploaded): the daily check does not download those again.
 */
export async function reconciledDates(db: D1Database, channel: string, dates: readonly string[]): Promise<Set<string>> {
  if (dates.length === 0) return new Set();
  const { results } = await db
    .prepare(
      `SELECT DISTINCT statement_date AS date FROM reconciliation_runs
       WHERE channel = ? AND bill = 'trade' AND finished_at_ms IS NOT NULL
         AND statement_date IN (SELECT value FROM json_each(?))`,
    )
    .bind(channel, JSON.stringify(dates))
    .all<{ date: string }>();
  return new Set(results.map((r) => r.date));
}

export function findRun(db: D1Database, id: string): Promise<RunRow | null> {
  return db.prepare("SELECT * FROM reconciliation_runs WHERE id = ?").bind(id).first<RunRow>();
}

/** A run's findings in the order reconciliation reported them (ids were minted in that order). */
export async function runFindings(db: D1Database, runId: string, limit: number): Promise<StoredFinding[]> {
  const rows = await db
    .prepare("SELECT * FROM reconciliation_findings WHERE run_id = ? ORDER BY rowid LIMIT ?")
    .bind(runId, limit)
    .all<FindingRow>();
  return rows.results.map(toStoredFinding);
}

function toStoredFinding(r: FindingRow): StoredFinding {
  assert((FINDING_KINDS as readonly string[]).includes(r.kind), "a stored finding has a known kind");
  const d = StoredDetail.parse(JSON.parse(r.detail));
  return {
    id: r.id,
    kind: r.kind,
    subject: d.subject,
    repair: r.repair,
    repairOutcome: r.repair_outcome,
    orderId: r.order_id,
    merchantOrderNo: d.merchantOrderNo,
    providerTxnId: d.providerTxnId,
    providerRefundId: d.providerRefundId,
    refundNo: d.refundNo,
    line: d.line,
    ours:
      r.ours_amount_minor === null || r.ours_status === null
        ? null
        : {
            amountMinor: r.ours_amount_minor,
            currency: d.oursCurrency,
            state: r.ours_status,
            refundedMinor: d.oursRefundedMinor,
          },
    theirs:
      r.theirs_amount_minor === null || r.theirs_status === null || d.theirsCurrency === null
        ? null
        : { amountMinor: r.theirs_amount_minor, currency: d.theirsCurrency, status: r.theirs_status },
    detail: d.text,
  };
}

/** Findings an automatic repair is owed: asked of the channel, not yet answered. */
export async function unrepairedQueries(db: D1Database, runId: string, limit: number): Promise<StoredFinding[]> {
  const rows = await db
    .prepare(
      `SELECT * FROM reconciliation_findings WHERE run_id = ? AND repair = 'query_channel' AND repair_outcome IS NULL
       ORDER BY rowid LIMIT ?`,
    )
    .bind(runId, limit)
    .all<FindingRow>();
  return rows.results.map(toStoredFinding);
}

/**
 * Records what the repairs did and closes the run, in one batch. `repaired` is recounted
 * from the stored outcomes, so a run resumed after a crash counts each repair once.
 */
export async function finishRun(
  db: D1Database,
  runId: string,
  outcomes: readonly { readonly findingId: string; readonly outcome: string }[],
  repairedOutcomes: readonly string[],
  nowMs: number,
  actor?: string,
): Promise<RunRow> {
  const statements = [
    db
      .prepare(
        `UPDATE reconciliation_findings SET repair_outcome = o.value ->> '$.outcome'
         FROM json_each(?) o WHERE reconciliation_findings.id = o.value ->> '$.findingId' AND run_id = ?`,
      )
      .bind(JSON.stringify(outcomes), runId),
    db
      .prepare(
        `UPDATE reconciliation_runs SET finished_at_ms = ?, repaired = (
           SELECT COUNT(*) FROM reconciliation_findings WHERE run_id = ? AND repair_outcome IN (SELECT value FROM json_each(?)))
         WHERE id = ?`,
      )
      .bind(nowMs, runId, JSON.stringify(repairedOutcomes), runId),
    db.prepare("SELECT * FROM reconciliation_runs WHERE id = ?").bind(runId),
  ];
  // The operator's run closes with its audit entry: how many repairs ended how.
  const tally: Record<string, number> = {};
  for (const o of outcomes) tally[o.outcome] = (tally[o.outcome] ?? 0) + 1;
  const results =
    actor === undefined
      ? await db.batch(statements)
      : await batchWithAuditEntry(
          db,
          {
            actor,
            action: "reconciliation.repair",
            target: runId,
            requestId: runId,
            before: null,
            after: { outcomes: tally },
          },
          statements,
          { sql: "1", params: [] },
        );
  const run = results.at(-1)?.results[0] as RunRow | undefined;
  assert(run, "the run exists");
  return run;
}

/** Findings of a run by kind, from the stored rows. */
export async function findingCounts(db: D1Database, runId: string): Promise<Record<FindingKind, number>> {
  const rows = await db
    .prepare("SELECT kind, COUNT(*) AS n FROM reconciliation_findings WHERE run_id = ? GROUP BY kind")
    .bind(runId)
    .all<{ kind: FindingKind; n: number }>();
  const counts = Object.fromEntries(FINDING_KINDS.map((k) => [k, 0])) as Record<FindingKind, number>;
  for (const r of rows.results) counts[r.kind] = r.n;
  return counts;
}
