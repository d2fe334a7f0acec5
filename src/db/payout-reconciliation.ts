/**
 * Our side of payout reconciliation (domain/reconcile-payouts.ts): the channel's withdrawals
 * paid during the statement's day, and every withdrawal a payout line names, by id or by the
 * channel's transfer id. Withdrawals live in their creators' ledger shards, so each shard is
 * asked in turn; ids and refs are bound as JSON arrays read by `json_each`.
 */

import type { ChannelName } from "../channels/channel";
import { assert } from "../domain/limits";
import type { OurWithdrawal } from "../domain/reconcile-payouts";
import type { WithdrawalState } from "../domain/withdrawal-states";
import type { DayWindow } from "./reconciliation";
import type { Ledger } from "./shards";

const PAGE_ROWS = 2_000;
const IDS_PER_QUERY = 500;
/**
 * A withdrawal is paid within days of its request (WeChat closes an unconfirmed bill after
 * 24 h; the stuck-payout sweeper flags the rest): the day's payouts are looked for among
 * withdrawals requested this far back. An older one a line names is loaded by name.
 */
const PAID_LOOKBACK_MS = 30 * 86_400_000;

interface WithdrawalRow {
  id: string;
  state: WithdrawalState;
  amount_minor: number;
  fee_minor: number;
  currency: string;
  provider_ref: string | null;
  paid_at_ms: number | null;
}

const COLUMNS = `w.id, w.state, w.amount_minor, w.fee_minor, w.currency, w.provider_ref,
  (SELECT MIN(t.at_ms) FROM withdrawal_transitions t WHERE t.withdrawal_id = w.id AND t.to_state = 'paid') AS paid_at_ms`;

export async function loadOurWithdrawals(
  ledger: Ledger,
  channel: ChannelName,
  day: DayWindow,
  namedIds: readonly string[],
  namedRefs: readonly string[],
): Promise<OurWithdrawal[]> {
  assert(day.startMs < day.endMs, "the day is a non-empty range");
  const found = new Map<string, OurWithdrawal>();
  const keep = (row: WithdrawalRow) => {
    if (found.has(row.id)) return;
    found.set(row.id, {
      withdrawalId: row.id,
      state: row.state,
      payoutMinor: row.amount_minor - row.fee_minor,
      currency: row.currency,
      providerRef: row.provider_ref,
      inPeriod: row.paid_at_ms !== null && row.paid_at_ms >= day.startMs && row.paid_at_ms < day.endMs,
    });
  };
  // One shard after another, like the orders: a background job's load on one database at a time.
  for (const shard of ledger.shards) {
    let cursor = "";
    for (;;) {
      const page = await shard.db
        .prepare(
          `SELECT * FROM (SELECT ${COLUMNS} FROM withdrawals w
             WHERE w.state = 'paid' AND w.created_at_ms >= ? AND w.created_at_ms < ? AND w.channel = ? AND w.id > ?)
           WHERE paid_at_ms >= ? AND paid_at_ms < ? ORDER BY id LIMIT ?`,
        )
        .bind(day.startMs - PAID_LOOKBACK_MS, day.endMs, channel, cursor, day.startMs, day.endMs, PAGE_ROWS)
        .all<WithdrawalRow>();
      for (const row of page.results) keep(row);
      const last = page.results.at(-1);
      if (!last || page.results.length < PAGE_ROWS) break;
      cursor = last.id;
    }
    for (const ids of chunks(namedIds, IDS_PER_QUERY)) {
      const rows = await shard.db
        .prepare(
          `SELECT ${COLUMNS} FROM withdrawals w WHERE w.id IN (SELECT value FROM json_each(?)) AND w.channel = ?`,
        )
        .bind(JSON.stringify(ids), channel)
        .all<WithdrawalRow>();
      for (const row of rows.results) keep(row);
    }
    for (const refs of chunks(namedRefs, IDS_PER_QUERY)) {
      const rows = await shard.db
        .prepare(
          `SELECT ${COLUMNS} FROM withdrawals w WHERE w.provider_ref IN (SELECT value FROM json_each(?)) AND w.channel = ?`,
        )
        .bind(JSON.stringify(refs), channel)
        .all<WithdrawalRow>();
      for (const row of rows.results) keep(row);
    }
  }
  return [...found.values()].sort((a, b) => (a.withdrawalId < b.withdrawalId ? -1 : 1));
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
