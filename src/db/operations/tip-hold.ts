/**
 * tip_hold: a wallet tip a risk rule decided `review` for (issue 16). Instead of the tip, the
 * payer's money moves `user:{id}:wallet` → `user:{id}:held` with the `held_tips` row (the room
 * or the content item (issue 19) — exactly one — the creator, what was asked, the message, the decision and the rules that fired, the
 * Idempotency-Key) in the same batch, in the payer's shard. Nothing reaches the creator, the
 * platform or the room until an operator approves it (operations/tip-hold-release.ts).
 *
 * Result codes, each its own guard in the batch: `insufficient_funds` (the ledger's funds guard
 * on the wallet), `autopay_per_tip_exceeded` / `autopay_per_day_exceeded` (小额免密: a hold
 * without the payer's PIN must fit their password-free limits as the tip would have; the day
 * counts their tips and their tips still held today), `exists` (the same id again: the
 * Worker's `runIdempotent` answers the stored 202, so a repeated request holds once).
 *
 * The operation id is the held tip's id (`held_…`, in the payer's bucket); the tip an approval
 * makes has the id `tip_` + the same time and randomness (`heldTipTipId`), fixed here.
 */

import { accountAddress } from "../../domain/accounts";
import { assert } from "../../domain/limits";
import type { ModeratedMessage } from "../../domain/moderation";
import { DEFAULT_CURRENCY, formatMinor } from "../../domain/money";
import type { FiredRule } from "../../domain/risk/evaluate";
import { type Attach, type ComposedOperation, composeOperation } from "../ledger";
import type { LedgerShard } from "../shards";
import { type AutopayCheck, autopayGuards, type TipAsk } from "./tip";

export interface TipHold {
  /** `held_…`: the operation's id and the row's. */
  readonly id: string;
  readonly viewerId: string;
  /** The target, exactly one: a live room's tip or a content item's (issue 19). */
  readonly target: HeldTipTarget;
  readonly creatorId: string;
  readonly ask: TipAsk;
  readonly giftId: string | null;
  readonly quantity: number;
  /** The tip's gross, as priced when it was held: what an approval pays from the held account. */
  readonly amountMinor: number;
  readonly message: ModeratedMessage | null;
  readonly decisionId: string;
  readonly fired: readonly FiredRule[];
  readonly idempotencyKey: string;
  readonly nowMs: number;
  readonly expiresAtMs: number;
  /** 小额免密: the payer did not confirm with their PIN, so the hold must fit their limits. */
  readonly autopay?: AutopayCheck;
}

export type HeldTipTarget = { readonly roomId: string } | { readonly contentId: string };

const roomOf = (t: HeldTipTarget): string | null => ("roomId" in t ? t.roomId : null);
const contentOf = (t: HeldTipTarget): string | null => ("contentId" in t ? t.contentId : null);

/** The tip an approval of held tip `heldId` makes: `tip_` with the held id's time and randomness. */
export function heldTipTipId(heldId: string): string {
  assert(heldId.startsWith("held_"), "a held tip id");
  return `tip_${heldId.slice("held_".length)}`;
}

export function composeTipHold(shard: LedgerShard, h: TipHold, attach?: Attach): ComposedOperation {
  const { db } = shard;
  return composeOperation(shard, {
    id: h.id,
    kind: "tip_hold",
    currency: DEFAULT_CURRENCY,
    postings: [
      {
        from: accountAddress.userWallet(h.viewerId),
        to: accountAddress.userHeld(h.viewerId),
        amountMinor: h.amountMinor,
      },
    ],
    actorId: h.viewerId,
    reason: "risk_review",
    metadata: { ...h.target, creatorId: h.creatorId, decisionId: h.decisionId, tipId: heldTipTipId(h.id) },
    nowMs: h.nowMs,
    guards: [],
    // As a tip's: checked after the balance, counting this payer's tips still held today too.
    guardsAfterFunds:
      h.autopay === undefined
        ? []
        : autopayGuards(
            h.viewerId,
            {
              ...h.autopay,
              tippedBefore: {
                sql: "(SELECT COALESCE(SUM(amount_minor), 0) FROM held_tips WHERE viewer_id = ? AND state = 'held' AND created_at_ms >= ?)",
                params: [h.viewerId, h.autopay.dayStartMs],
              },
            },
            h.amountMinor,
          ),
    extra: (posting) => [
      db
        .prepare(
          `INSERT INTO held_tips (id, viewer_id, room_id, content_id, creator_id, ask, gift_id, quantity, amount_minor, currency,
             message, decision_id, fired, idempotency_key, state, tip_id, created_at_ms, expires_at_ms)
           SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'held', ?, ?, ? WHERE ${posting.sql}`,
        )
        .bind(
          h.id,
          h.viewerId,
          roomOf(h.target),
          contentOf(h.target),
          h.creatorId,
          JSON.stringify(h.ask),
          h.giftId,
          h.quantity,
          h.amountMinor,
          DEFAULT_CURRENCY,
          h.message === null ? null : JSON.stringify(h.message),
          h.decisionId,
          JSON.stringify(h.fired),
          h.idempotencyKey,
          heldTipTipId(h.id),
          h.nowMs,
          h.expiresAtMs,
          ...posting.params,
        ),
    ],
    attach,
  });
}

/**
 * The held tip as its 202 shows it (stored with the Idempotency-Key and replayed byte for byte):
 * a room's names its `roomId`, a content item's its `contentId`.
 */
export function heldTipReceipt(h: TipHold) {
  return {
    heldTip: {
      id: h.id,
      state: "held" as const,
      ...h.target,
      creatorId: h.creatorId,
      viewerId: h.viewerId,
      giftId: h.giftId,
      quantity: h.quantity,
      amountMinor: h.amountMinor,
      amount: formatMinor(h.amountMinor),
      currency: DEFAULT_CURRENCY,
      createdAtMs: h.nowMs,
      expiresAtMs: h.expiresAtMs,
      decisionId: h.decisionId,
    },
    walletBalanceMinor: 0,
  };
}
