/**
 * Withdrawals as the creator and operators read them: a creator's own (newest first, in the
 * creator's shard), the review queue of every shard (oldest first), each with its transitions,
 * and the facts a new request is decided on.
 */

import { accountAddress, type WithdrawalOwnerKind } from "../../domain/accounts";
import type { WithdrawalState } from "../../domain/withdrawal-states";
import type { Ledger } from "../shards";
import type { TransitionRow, WithdrawalRow } from "../withdrawals";

export interface WithdrawalWithSteps {
  readonly row: WithdrawalRow;
  readonly transitions: readonly TransitionRow[];
}

async function withTransitions(db: D1Database, rows: readonly WithdrawalRow[]): Promise<WithdrawalWithSteps[]> {
  if (rows.length === 0) return [];
  const { results } = await db
    .prepare(
      `SELECT * FROM withdrawal_transitions WHERE withdrawal_id IN (${rows.map(() => "?").join(", ")})
       ORDER BY withdrawal_id, seq`,
    )
    .bind(...rows.map((r) => r.id))
    .all<TransitionRow>();
  return rows.map((row) => ({ row, transitions: results.filter((t) => t.withdrawal_id === row.id) }));
}

/** An owner's withdrawals (a creator's, or a user's of winnings), newest first; `before` is the last id of the previous page. */
export async function ownerWithdrawals(
  ledger: Ledger,
  owner: { readonly kind: WithdrawalOwnerKind; readonly id: string },
  before: string | null,
  limit: number,
): Promise<WithdrawalWithSteps[]> {
  const { db } = ledger.forOwner(owner.id);
  const { results } = await db
    .prepare(
      `SELECT * FROM withdrawals WHERE creator_id = ? AND owner_kind = ? AND (? IS NULL OR id < ?)
       ORDER BY id DESC LIMIT ?`,
    )
    .bind(owner.id, owner.kind, before, before, limit)
    .all<WithdrawalRow>();
  return withTransitions(db, results);
}

export async function withdrawalWithSteps(ledger: Ledger, id: string): Promise<WithdrawalWithSteps | null> {
  const { db } = ledger.forId(id);
  const row = await db.prepare("SELECT * FROM withdrawals WHERE id = ?").bind(id).first<WithdrawalRow>();
  return row ? ((await withTransitions(db, [row]))[0] ?? null) : null;
}

/** Withdrawals in `state` across every shard, oldest first; `after` is the last id of the previous page. */
export async function withdrawalsInState(
  ledger: Ledger,
  state: WithdrawalState,
  after: string | null,
  limit: number,
): Promise<WithdrawalWithSteps[]> {
  const perShard = await Promise.all(
    ledger.shards.map(async ({ db }) => {
      const { results } = await db
        .prepare(
          `SELECT * FROM withdrawals WHERE state = ? AND (? IS NULL OR id > ?)
           ORDER BY created_at_ms, id LIMIT ?`,
        )
        .bind(state, after, after, limit)
        .all<WithdrawalRow>();
      return withTransitions(db, results);
    }),
  );
  // Ids sort by creation time (domain/ids.ts), so the merged page is oldest first across shards.
  return perShard
    .flat()
    .sort((a, b) => (a.row.id < b.row.id ? -1 : a.row.id > b.row.id ? 1 : 0))
    .slice(0, limit);
}

export interface RequestFacts {
  readonly availableMinor: number;
  readonly todayCount: number;
  readonly todayAmountMinor: number;
  readonly verified: boolean;
  readonly riskHold: boolean;
}

/**
 * What decideWithdrawal needs besides the payout account, read before the batch (the batch's
 * guards are the rule). For a user, "available" is the wallet's withdrawable part
 * (`user_winnings`, docs/adr/0017), never the wallet.
 */
export async function requestFacts(
  ledger: Ledger,
  owner: { readonly kind: WithdrawalOwnerKind; readonly id: string },
  day: { readonly startMs: number; readonly endMs: number },
): Promise<RequestFacts> {
  const creatorId = owner.id;
  const { db } = ledger.forOwner(creatorId);
  const [shard, verification, creator] = await Promise.all([
    db.batch([
      owner.kind === "creator"
        ? db
            .prepare("SELECT COALESCE((SELECT balance_minor FROM accounts WHERE address = ?), 0) AS available")
            .bind(accountAddress.creatorAvailable(creatorId))
        : db
            .prepare(
              "SELECT COALESCE((SELECT withdrawable_minor FROM user_winnings WHERE user_id = ?), 0) AS available",
            )
            .bind(creatorId),
      db
        .prepare(
          `SELECT COUNT(*) AS n, COALESCE(SUM(amount_minor), 0) AS amount FROM withdrawals
           WHERE creator_id = ? AND owner_kind = ? AND created_at_ms >= ? AND created_at_ms < ?`,
        )
        .bind(creatorId, owner.kind, day.startMs, day.endMs),
    ]),
    ledger.control
      .prepare("SELECT state FROM creator_verifications WHERE creator_id = ?")
      .bind(creatorId)
      .first<{ state: string }>(),
    ledger.control
      .prepare("SELECT risk_hold FROM creators WHERE user_id = ?")
      .bind(creatorId)
      .first<{ risk_hold: number }>(),
  ]);
  const available = shard[0]?.results[0] as { available: number } | undefined;
  const today = shard[1]?.results[0] as { n: number; amount: number } | undefined;
  return {
    availableMinor: available?.available ?? 0,
    todayCount: today?.n ?? 0,
    todayAmountMinor: today?.amount ?? 0,
    verified: verification?.state === "verified",
    riskHold: (creator?.risk_hold ?? 0) === 1,
  };
}
