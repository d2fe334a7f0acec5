/**
 * bucket_move: one account's whole balance leaves the shard its bucket is moving away from
 * (src/db/bucket-move.ts), as money, through the ledger: in the old shard the account pays
 * `transit:{new}`, with a `transit_outbox` row in the same batch; the normal transit path
 * (src/db/transit.ts) then posts `transit:{old}` → the same account in the new shard. Rows
 * are never copied for money, so each shard keeps balancing on its own and the checker
 * (src/db/sharded-invariants.ts) pairs the move like any other cross-shard credit.
 *
 * The ordinary split cannot say this (the debit and the credit are the same address, in two
 * shards), so this file writes the outbox row itself, in the shape `composeOperation` writes
 * one. Guards: the bucket is frozen here for this move (nothing else writes it), and the
 * balance is still exactly the one read, so the whole balance moves and the account is left
 * at zero. The id names the move and the account: a re-run after a crash is "exists".
 */

import { accountAddress, mayGoNegative } from "../../domain/accounts";
import { assert } from "../../domain/limits";
import type { Currency } from "../../domain/money";
import { bucketOfAccount } from "../../domain/shards";
import { type ComposedOperation, composeOperation } from "../ledger";
import type { LedgerShard } from "../shards";

export interface AccountMove {
  /** The move's id (`move-{bucket}-{from}-{to}-{frozen since}`), shared by its accounts. */
  readonly moveId: string;
  readonly bucket: number;
  readonly toShard: number;
  readonly address: string;
  readonly currency: Currency;
  /** The balance read after the freeze; the operation is refused if it differs. */
  readonly balanceMinor: number;
}

export function bucketMoveOperationId(moveId: string, address: string): string {
  return `${moveId}:${address}`;
}

export function composeBucketMove(shard: LedgerShard, move: AccountMove, nowMs: number): ComposedOperation {
  assert(bucketOfAccount(move.address) === move.bucket, "a moved account belongs to the moved bucket");
  assert(!mayGoNegative(move.address), "accounts that may go negative are never an owner's, and never move");
  assert(move.toShard !== shard.index, "a bucket moves to another shard");
  const id = bucketMoveOperationId(move.moveId, move.address);
  const transitOut = accountAddress.transit(move.toShard);
  const legs = [{ from: accountAddress.transit(shard.index), to: move.address, amountMinor: move.balanceMinor }];
  const composed = composeOperation(shard, {
    id,
    kind: "bucket_move",
    currency: move.currency,
    postings: [{ from: move.address, to: transitOut, amountMinor: move.balanceMinor }],
    actorId: "system:bucket-move",
    reason: `bucket ${move.bucket} moves to shard ${move.toShard}`,
    metadata: { moveId: move.moveId, bucket: move.bucket, toShard: move.toShard },
    nowMs,
    guards: [
      {
        code: "bucket_move_not_frozen",
        sql: "EXISTS (SELECT 1 FROM bucket_fences WHERE bucket = ? AND reason = 'frozen' AND peer_shard = ?)",
        params: [move.bucket, move.toShard],
      },
      {
        code: "bucket_move_balance_changed",
        sql: "COALESCE((SELECT balance_minor FROM accounts WHERE address = ?), 0) = ?",
        params: [move.address, move.balanceMinor],
      },
    ],
    extra: (posting) => [
      shard.db
        .prepare(
          `INSERT INTO transit_outbox (operation_id, destination_shard, operation_kind, postings, amount_minor, currency,
             created_at_ms)
           SELECT ?, ?, 'bucket_move', ?, ?, ?, ? WHERE ${posting.sql}`,
        )
        .bind(id, move.toShard, JSON.stringify(legs), move.balanceMinor, move.currency, nowMs, ...posting.params),
    ],
  });
  return {
    ...composed,
    transit: [{ kind: "transit", origin: shard.index, destination: move.toShard, operationId: id }],
  };
}

/**
 * A moving creator's share of an account every shard has: `platform:receivables` (what the
 * creator still owes: the account runs negative by it) or `channel:{ch}:payouts` (what their
 * paid withdrawals sent out). It leaves the shard that holds it and reaches the same address in
 * `peerShard`, as money: here the address pays `transit:{peer}` (outbox row in the batch),
 * there the normal transit path posts `transit:{here}` → the address. So each shard's own
 * invariants keep matching the rows it holds (money-out-invariants.ts, withdrawal-invariants.ts).
 *
 * A receivable moves backwards: the new shard's `platform:receivables` pays the old shard (it
 * takes on the debt, running more negative; the old one is made whole), so it is composed in
 * the new shard, guarded by the bucket's `incoming` fence; a payouts share is composed in the
 * old shard, guarded by its `frozen` fence. Its id names the move, the part and the creator:
 * a re-run is "exists".
 */
export interface ShareMove {
  readonly moveId: string;
  readonly bucket: number;
  readonly creatorId: string;
  /** The shard the share goes to (the old shard for a receivable, the new one for payouts). */
  readonly peerShard: number;
  readonly address: string;
  readonly currency: Currency;
  readonly amountMinor: number;
  /** The fence the bucket has in the composing shard for this move. */
  readonly fence: "frozen" | "incoming";
}

export function shareMoveOperationId(moveId: string, address: string, creatorId: string): string {
  return `${moveId}:${address}:${creatorId}`;
}

export function composeShareMove(shard: LedgerShard, move: ShareMove, nowMs: number): ComposedOperation {
  assert(
    move.address === accountAddress.platformReceivables() || /^channel:[a-z_]+:payouts$/.test(move.address),
    "a creator's share of receivables or of a channel's payouts",
  );
  assert(move.peerShard !== shard.index, "a share moves to another shard");
  const id = shareMoveOperationId(move.moveId, move.address, move.creatorId);
  const legs = [{ from: accountAddress.transit(shard.index), to: move.address, amountMinor: move.amountMinor }];
  const composed = composeOperation(shard, {
    id,
    kind: "bucket_move",
    currency: move.currency,
    postings: [{ from: move.address, to: accountAddress.transit(move.peerShard), amountMinor: move.amountMinor }],
    actorId: "system:bucket-move",
    reason: `creator ${move.creatorId}'s share of ${move.address} moves with bucket ${move.bucket}`,
    metadata: { moveId: move.moveId, bucket: move.bucket, creatorId: move.creatorId, toShard: move.peerShard },
    nowMs,
    guards: [
      {
        code: "bucket_move_not_frozen",
        sql: "EXISTS (SELECT 1 FROM bucket_fences WHERE bucket = ? AND reason = ? AND peer_shard = ?)",
        params: [move.bucket, move.fence, move.peerShard],
      },
    ],
    extra: (posting) => [
      shard.db
        .prepare(
          `INSERT INTO transit_outbox (operation_id, destination_shard, operation_kind, postings, amount_minor, currency,
             created_at_ms)
           SELECT ?, ?, 'bucket_move', ?, ?, ?, ? WHERE ${posting.sql}`,
        )
        .bind(id, move.peerShard, JSON.stringify(legs), move.amountMinor, move.currency, nowMs, ...posting.params),
    ],
  });
  return {
    ...composed,
    transit: [{ kind: "transit", origin: shard.index, destination: move.peerShard, operationId: id }],
  };
}
