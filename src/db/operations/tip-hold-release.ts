/**
 * tip_hold_release, and the approval beside it: the two ways money leaves `user:{id}:held`
 * (issue 16, a held tip's decision).
 *
 * - approve (an operator): the held money becomes the tip, composed exactly as a wallet tip
 *   (`tipSpec`: the creator's pending part and the platform's at the tip's tier rate, the
 *   `tips` row, its message, the room's outbox row, the creator's part crossing shards through
 *   transit), paid from the held account instead of the wallet. Operation id: the tip's id,
 *   fixed when held (`heldTipTipId`).
 * - decline (an operator) or expire (the sweeper, after `LIMITS.heldTipDecideWithinMs`): the
 *   money goes back, `user:{id}:held` → `user:{id}:wallet` (`tip_hold_release`). Operation id:
 *   `{held id}:release`.
 *
 * Exactly once, twice over: a repeated decision is "exists" by its operation id, and each
 * outcome is guarded inside its batch by the row still being `held` (`held_tip_not_held`), and
 * moves it out of `held` in the same batch — so of concurrent approvals, declines and an
 * expiry, exactly one posts (domain/held-tip.ts is the same rule, pure).
 */

import { accountAddress } from "../../domain/accounts";
import type { HeldTipDecision } from "../../domain/held-tip";
import { assert } from "../../domain/limits";
import type { Currency } from "../../domain/money";
import { type Attach, type ComposedOperation, composeOperation, type Guard, type SqlCondition } from "../ledger";
import type { LedgerShard } from "../shards";
import { type AnyPreparedTip, composeTip } from "./tip";
import { heldTipTipId } from "./tip-hold";

/** What a decision needs of the held tip's row. */
export interface HeldTipRef {
  readonly id: string;
  readonly viewerId: string;
  readonly amountMinor: number;
  readonly currency: Currency;
}

export const heldTipReleaseId = (heldId: string) => `${heldId}:release`;

function stillHeld(heldId: string, extra?: SqlCondition): Guard {
  return {
    code: "held_tip_not_held",
    sql: `EXISTS (SELECT 1 FROM held_tips WHERE id = ? AND state = 'held'${extra ? ` AND ${extra.sql}` : ""})`,
    params: [heldId, ...(extra?.params ?? [])],
  };
}

function decidedStatement(
  db: D1Database,
  heldId: string,
  state: "approved" | "declined" | "expired",
  actorId: string,
  reason: string | null,
  nowMs: number,
  posting: SqlCondition,
): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE held_tips SET state = ?, decided_by = ?, decided_at_ms = ?, decision_reason = ?
       WHERE id = ? AND state = 'held' AND ${posting.sql}`,
    )
    .bind(state, actorId, nowMs, reason, heldId, ...posting.params);
}

/**
 * Approve: `tip` is the held tip priced and rated now (its id `heldTipTipId(held.id)`, its
 * gross the amount held; the caller refuses a tip whose price or creator changed) — a room's
 * tip or a content item's (issue 19), composed as that tip would have been.
 */
export function composeHeldTipApprove(
  shard: LedgerShard,
  held: HeldTipRef,
  tip: AnyPreparedTip,
  actorId: string,
  attach?: Attach,
): ComposedOperation {
  assert(tip.id === heldTipTipId(held.id), "the approved tip has the id fixed when held");
  assert(tip.viewerId === held.viewerId, "the approved tip is the payer's");
  assert(tip.priced.amountMinor === held.amountMinor, "the approved tip pays exactly what was held");
  return composeTip(shard, tip, {
    from: "held",
    guards: [stillHeld(held.id)],
    attach: (posting) => [
      decidedStatement(shard.db, held.id, "approved", actorId, null, tip.nowMs, posting),
      ...(attach?.(posting) ?? []),
    ],
  });
}

/** Decline (an operator) or expire (the sweeper: only once `expires_at_ms` has passed): the money back to the wallet. */
export function composeHeldTipRelease(
  shard: LedgerShard,
  held: HeldTipRef,
  decision: Exclude<HeldTipDecision, "approve">,
  actorId: string,
  reason: string | null,
  nowMs: number,
  attach?: Attach,
): ComposedOperation {
  const state = decision === "decline" ? "declined" : "expired";
  return composeOperation(shard, {
    id: heldTipReleaseId(held.id),
    kind: "tip_hold_release",
    currency: held.currency,
    postings: [
      {
        from: accountAddress.userHeld(held.viewerId),
        to: accountAddress.userWallet(held.viewerId),
        amountMinor: held.amountMinor,
      },
    ],
    actorId,
    reason,
    metadata: { heldTipId: held.id, decision },
    nowMs,
    guards: [stillHeld(held.id, decision === "expire" ? { sql: "expires_at_ms <= ?", params: [nowMs] } : undefined)],
    extra: (posting) => [decidedStatement(shard.db, held.id, state, actorId, reason, nowMs, posting)],
    attach,
  });
}
