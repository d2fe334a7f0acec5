/**
 * A room's tips of one ledger shard as ONE set-based group (the room's group commit,
 * tip-batch.ts): the same operations, guards and rows as composing each tip on its own
 * (`composeTip`), in about a quarter of the statements.
 *
 * Per tip, in order, only what must be evaluated on the state its predecessors left:
 *   1. the verdict (the first failing guard, as `composeOperation` names it);
 *   2. the operation row in state 'posting', guarded by every guard;
 *   3. the Idempotency-Key record, whose response carries the wallet balance after this tip.
 * Then, once for the whole group, each row conditioned on its operation being in state
 * 'posting': the accounts, the transfers (in the per-tip order, so their ids are the same),
 * one balance UPDATE of every account the group moves (wallets debited, creator pending,
 * platform revenue and transit:{shard} credited, each by the sum of its posted tips), the
 * transit outbox rows, the tip rows, the room outbox rows, and the finalize.
 *
 * The guards that read what the deferred rows would have changed are told about them, so
 * every verdict is exactly the per-tip one:
 *   - a payer's funds guard subtracts what earlier posting tips of the group debit the wallet;
 *   - a credited account's ceiling adds what earlier posting tips of the group credit it;
 *   - the 小额免密 daily sum adds the payer's earlier posting tips of the group (of today);
 *   - the currency guard needs nothing: every account the group creates has its currency.
 * and the record's wallet balance subtracts the group's posting debits of it, this tip's
 * included. No account may be both debited and credited in one group (else `composeTipGroup`
 * declines, null, and the caller composes per tip).
 * Stale Idempotency-Key records are removed in one statement before the tips, except for a key
 * that appears in the group with different request hashes, which keeps its per-tip removal
 * in place (which of its records is stale then depends on the order).
 */

import { accountAddress, mayGoNegative } from "../../domain/accounts";
import { assert } from "../../domain/limits";
import {
  type Guard,
  type OperationPlan,
  operationInsert,
  planOperation,
  type SqlCondition,
  type Verdict,
  verdictOf,
} from "../ledger";
import type { TransitRef } from "../messages/ledger-postings";
import type { LedgerShard } from "../shards";
import { tipEvent, tipMessageRow, tipSpec } from "./tip";
import {
  type BatchedTip,
  keyTakenGuard,
  recordStatement,
  staleRecordStatement,
  type TipBatchOptions,
} from "./tip-batch";

export interface ComposedTipGroup {
  readonly statements: readonly D1PreparedStatement[];
  /** Per tip, the credits it owes other shards if it posts. */
  readonly transit: readonly (readonly TransitRef[])[];
  /** Per tip, its verdict and, if it posted, its record's response body. */
  readonly read: (results: readonly D1Result[]) => { verdict: Verdict; body: string | null }[];
}

/** An earlier tip's contribution to a sum a guard makes: counted only if it is posting. */
type Pending = readonly [operationId: string, amountMinor: number];

const POSTING_ROW = (idSql: string) =>
  `EXISTS (SELECT 1 FROM operations o WHERE o.id = ${idSql} AND o.state = 'posting')`;

/** The sum of these earlier tips' amounts that are posting, as SQL (null when there are none). */
function pendingSum(rows: readonly Pending[]): SqlCondition | null {
  if (rows.length === 0) return null;
  return {
    sql: `(SELECT COALESCE(SUM(json_extract(j.value, '$[1]')), 0) FROM json_each(?) j WHERE ${POSTING_ROW("json_extract(j.value, '$[0]')")})`,
    params: [JSON.stringify(rows)],
  };
}

export function composeTipGroup(
  shard: LedgerShard,
  tips: readonly BatchedTip[],
  options: Omit<TipBatchOptions, "appliedOutboxIds">,
): ComposedTipGroup | null {
  const { db } = shard;
  const { nowMs } = options;

  const hashesByKey = new Map<string, Set<string>>();
  const keyOf = (t: BatchedTip) => JSON.stringify([t.tip.viewerId, t.key]);
  for (const t of tips) {
    const hashes = hashesByKey.get(keyOf(t)) ?? new Set<string>();
    hashes.add(t.requestHash);
    hashesByKey.set(keyOf(t), hashes);
  }
  const inPlace = (t: BatchedTip) => (hashesByKey.get(keyOf(t))?.size ?? 0) > 1;

  const credited = new Map<string, Pending[]>();
  const tippedToday = new Map<string, Pending[]>();
  const debitedBy = new Map<string, Pending[]>();
  const plans: { spec: ReturnType<typeof tipSpec>; plan: OperationPlan }[] = [];
  const perTip: D1PreparedStatement[][] = [];
  const rows = {
    accounts: [] as unknown[],
    transfers: [] as unknown[],
    moves: [] as unknown[],
    transit: [] as unknown[],
    tips: [] as unknown[],
    messages: [] as unknown[],
    room: [] as unknown[],
  };
  const transit: TransitRef[][] = [];

  for (const t of tips) {
    const { tip } = t;
    const keyGuard: Guard = keyTakenGuard(t);
    const spec = tipSpec(db, tip, {
      guards: [keyGuard],
      ...(t.confirmed
        ? {}
        : {
            autopay: {
              limits: options.autopayDefaults,
              dayStartMs: options.dayStartMs,
              limitsInBatch: true,
              ...withSum(pendingSum(tippedToday.get(tip.viewerId) ?? [])),
            },
          }),
    });
    const plan = planOperation(shard, spec, {
      credited: (address) => pendingSum(credited.get(address) ?? []),
      debited: (address) => pendingSum(debitedBy.get(address) ?? []),
    });
    if (spec.currency !== plans[0]?.spec.currency && plans.length > 0) return null;
    plans.push({ spec, plan });

    const statements: D1PreparedStatement[] = [];
    if (inPlace(t)) statements.push(staleRecordStatement(db, t, nowMs));
    const verdict = verdictOf(spec, plan.guards);
    statements.push(db.prepare(`SELECT ${verdict.sql} AS verdict`).bind(...verdict.params));
    statements.push(operationInsert(db, spec, plan));
    const posting: SqlCondition = { sql: POSTING_ROW("?"), params: [spec.id] };
    for (const [address, net] of plan.netByAccount) {
      if (net === 0) return null;
      const [mine, other] = net < 0 ? [debitedBy, credited] : [credited, debitedBy];
      if (other.has(address)) return null;
      mine.set(address, [...(mine.get(address) ?? []), [spec.id, Math.abs(net)]]);
      rows.moves.push([spec.id, address, net]);
    }
    // The wallet's balance after this tip: its stored balance less the group's posting debits
    // of it so far, this tip's included.
    const wallet = accountAddress.userWallet(tip.viewerId);
    statements.push(recordStatement(db, t, nowMs, posting, pendingSum(debitedBy.get(wallet) ?? [])));
    perTip.push(statements);

    if (tip.nowMs >= options.dayStartMs) {
      tippedToday.set(tip.viewerId, [...(tippedToday.get(tip.viewerId) ?? []), [spec.id, tip.priced.amountMinor]]);
    }
    for (const address of plan.addresses) {
      rows.accounts.push([spec.id, address, mayGoNegative(address) ? 1 : 0, spec.nowMs]);
    }
    for (const p of plan.postings) rows.transfers.push([spec.id, p.from, p.to, p.amountMinor, spec.nowMs]);
    for (const [destination, legs] of plan.split.deliveries) {
      const amount = legs.reduce((sum, leg) => sum + leg.amountMinor, 0);
      rows.transit.push([spec.id, destination, JSON.stringify(legs), amount, spec.nowMs]);
    }
    transit.push(
      [...plan.split.deliveries.keys()].map((destination) => ({
        kind: "transit",
        origin: shard.index,
        destination,
        operationId: spec.id,
      })),
    );
    const { priced } = tip;
    rows.tips.push([
      spec.id,
      tip.roomId,
      tip.streamId,
      tip.viewerId,
      tip.creatorId,
      priced.giftId,
      priced.quantity,
      priced.amountMinor,
      tip.big ? 1 : 0,
      priced.platformMinor,
      priced.creatorMinor,
      tip.nowMs,
      tip.shareBps,
      tip.scheduleVersion,
    ]);
    const message = tipMessageRow(tip);
    if (message !== null) rows.messages.push(message);
    const event = tipEvent(tip);
    rows.room.push([spec.id, event.id, event.roomId, JSON.stringify(event), tip.nowMs]);
  }
  const currency = plans[0]?.spec.currency;
  if (currency === undefined) return null;

  const staleUpFront = dedupe(tips.filter((t) => !inPlace(t)).map((t) => [t.tip.viewerId, t.key, t.requestHash]));
  const upFront: D1PreparedStatement[] =
    staleUpFront.length === 0
      ? []
      : [
          db
            .prepare(
              `DELETE FROM idempotency_keys
               WHERE (principal_id, key) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?1))
                 AND (expires_at_ms <= ?2
                   OR (state = 'in_flight' AND locked_until_ms <= ?2
                     AND request_hash = (SELECT json_extract(j.value, '$[2]') FROM json_each(?1) j
                       WHERE json_extract(j.value, '$[0]') = idempotency_keys.principal_id
                         AND json_extract(j.value, '$[1]') = idempotency_keys.key)
                     AND NOT EXISTS (SELECT 1 FROM operations o WHERE o.id = idempotency_keys.operation_id)
                     AND NOT EXISTS (SELECT 1 FROM operation_tombstones t WHERE t.id = idempotency_keys.operation_id)))`,
            )
            .bind(JSON.stringify(staleUpFront), nowMs),
        ];

  const col = (i: number) => `json_extract(value, '$[${i}]')`;
  const whenPosting = `WHERE ${POSTING_ROW(col(0))} ORDER BY key`;
  const group = [
    db
      .prepare(
        `INSERT INTO accounts (address, currency, balance_minor, may_go_negative, created_at_ms)
         SELECT ${col(1)}, ?, 0, ${col(2)}, ${col(3)} FROM json_each(?) ${whenPosting}
         ON CONFLICT (address) DO NOTHING`,
      )
      .bind(currency, JSON.stringify(rows.accounts)),
    db
      .prepare(
        `INSERT INTO transfers (operation_id, from_account, to_account, amount_minor, currency, created_at_ms)
         SELECT ${col(0)}, ${col(1)}, ${col(2)}, ${col(3)}, ?, ${col(4)} FROM json_each(?) ${whenPosting}`,
      )
      .bind(currency, JSON.stringify(rows.transfers)),
    db
      .prepare(
        `UPDATE accounts SET balance_minor = balance_minor + (
           SELECT SUM(${col(2)}) FROM json_each(?1) WHERE ${col(1)} = accounts.address AND ${POSTING_ROW(col(0))})
         WHERE address IN (SELECT ${col(1)} FROM json_each(?1) WHERE ${POSTING_ROW(col(0))})`,
      )
      .bind(JSON.stringify(rows.moves)),
    ...(rows.transit.length === 0
      ? []
      : [
          db
            .prepare(
              `INSERT INTO transit_outbox (operation_id, destination_shard, operation_kind, postings, amount_minor, currency,
                 created_at_ms)
               SELECT ${col(0)}, ${col(1)}, 'tip', ${col(2)}, ${col(3)}, ?, ${col(4)} FROM json_each(?) ${whenPosting}`,
            )
            .bind(currency, JSON.stringify(rows.transit)),
        ]),
    db
      .prepare(
        `INSERT INTO tips (id, room_id, stream_id, viewer_id, creator_id, gift_id, quantity, amount_minor, big,
           platform_minor, creator_minor, currency, created_at_ms, platform_bps, schedule_version)
         SELECT ${col(0)}, ${col(1)}, ${col(2)}, ${col(3)}, ${col(4)}, ${col(5)}, ${col(6)}, ${col(7)}, ${col(8)},
           ${col(9)}, ${col(10)}, ?, ${col(11)}, ${col(12)}, ${col(13)} FROM json_each(?) ${whenPosting}`,
      )
      .bind(currency, JSON.stringify(rows.tips)),
    ...(rows.messages.length === 0
      ? []
      : [
          db
            .prepare(
              `INSERT INTO tip_messages (tip_id, room_id, viewer_id, creator_id, text, shown, status, created_at_ms)
               SELECT ${col(0)}, ${col(1)}, ${col(2)}, ${col(3)}, ${col(4)}, ${col(5)}, ${col(6)}, ${col(7)}
               FROM json_each(?) ${whenPosting}`,
            )
            .bind(JSON.stringify(rows.messages)),
        ]),
    db
      .prepare(
        `INSERT INTO room_outbox (id, room_id, payload, created_at_ms)
         SELECT ${col(1)}, ${col(2)}, ${col(3)}, ${col(4)} FROM json_each(?) ${whenPosting}`,
      )
      .bind(JSON.stringify(rows.room)),
    db
      .prepare(
        "UPDATE operations SET state = 'posted' WHERE id IN (SELECT value FROM json_each(?)) AND state = 'posting'",
      )
      .bind(JSON.stringify(plans.map((p) => p.spec.id))),
  ];

  const statements = [...upFront, ...perTip.flat(), ...group];
  return {
    statements,
    transit,
    read(results) {
      assert(results.length === statements.length, "one result per statement");
      const out: { verdict: Verdict; body: string | null }[] = [];
      let offset = upFront.length;
      for (const [i, own] of perTip.entries()) {
        const r = results.slice(offset, offset + own.length);
        offset += own.length;
        const first = inPlace(tips[i] as BatchedTip) ? 1 : 0;
        const row = r[first]?.results[0] as { verdict: string | null } | undefined;
        const inserted = (r[first + 1]?.meta.changes ?? 0) === 1;
        const guards = plans[i]?.plan.guards ?? [];
        if (row?.verdict === null || row?.verdict === undefined) {
          assert(inserted, "an operation with no failing guard posts");
          const stored = r[own.length - 1]?.results[0] as { response_body: string } | undefined;
          assert(stored, "a posted tip completes its idempotency record");
          out.push({ verdict: { kind: "posted" }, body: stored.response_body });
          continue;
        }
        assert(!inserted, "an operation with a failing guard does not post");
        if (row.verdict === "exists") {
          out.push({ verdict: { kind: "exists" }, body: null });
          continue;
        }
        const code = guards.find((g) => g.code === row.verdict)?.code;
        assert(code !== undefined, `verdict "${row.verdict}" names a guard`);
        out.push({ verdict: { kind: "rejected", code }, body: null });
      }
      const posted = out.filter((o) => o.verdict.kind === "posted").length;
      assert((results[results.length - 1]?.meta.changes ?? -1) === posted, "the group finalizes every posted tip");
      return out;
    },
  };
}

function withSum(sum: SqlCondition | null): { tippedBefore?: SqlCondition } {
  return sum === null ? {} : { tippedBefore: sum };
}

function dedupe(rows: readonly (readonly string[])[]): (readonly string[])[] {
  const seen = new Map<string, readonly string[]>();
  for (const r of rows) seen.set(JSON.stringify(r), r);
  return [...seen.values()];
}
