/**
 * Pay-to-unlock (付费阅读 through a channel order, issue 19 item 2): an `unlock` order names a
 * priced content item, and its amount is the item's price when the order was made. When the
 * payment is credited (payment-credit.ts, whichever path reports it) the unlock is composed here
 * and runs in the credit's batch, after the credit, from the wallet just credited — the same
 * `unlock` operation as a wallet unlock (unlock.ts): the entitlement and the split (creator's
 * pending earnings, platform revenue) are written together, or neither.
 *
 * So "paid but not unlocked" and "unlocked but not paid" cannot exist: the credit, the unlock
 * and the order's outcome are one D1 batch (one transaction). The unlock's own guards read the
 * order as the credit left it: it posts only if this very batch made the order `succeeded`
 * (`unlock_order_unpaid`), from an open state (`unlock_order_lapsed`: money that arrives after
 * the order failed or expired is credited to the wallet, never spent on the unlock the payer
 * was told failed), and while the order has no unlock outcome (`unlock_already_decided`: a
 * duplicate delivery moves nothing). Then the entitlement's own guard: a payer who unlocked the
 * item from the wallet meanwhile (`already_unlocked`) keeps this money in the wallet. An item
 * archived or repriced since the order leaves the money in the wallet too, and the order says
 * why (`content_archived`, `unlock_price_changed`); so does a runtime switch pausing unlocks when
 * the payment lands (`switch_unlocks_paused`, or `switch_read_only`). The split's rate is decided
 * then too, by the creator's room's tier desk when schedules are in force (as pay-to-tip's tip). Exactly once: the unlock's id is fixed by
 * the order (`unl_<order ulid>`) and the outcome is written in the same batch.
 */

import type { ErrorCode } from "../../domain/errors";
import type { GuardCode } from "../../domain/guards";
import { assert } from "../../domain/limits";
import { type ComposedOperation, type Guard, outcomeExpression } from "../ledger";
import type { OrderRow } from "../reads/orders";
import type { LedgerShard } from "../shards";
import { composeUnlock, prepareUnlock, type RatedUnlock, rateUnlock, type UnlockRules } from "./unlock";

/** What the order's outcome column says once the unlock posted (or existed). */
export const UNLOCKED = "unlocked";

/** What became of a pay-to-unlock order's unlock: made, or the code that stopped it (the money stays in the wallet). */
export type UnlockOutcome =
  | { readonly kind: "unlocked"; readonly unlockId: string }
  | { readonly kind: "not_unlocked"; readonly unlockId: string; readonly code: string };

/** The unlock a pay-to-unlock order makes: one per order, whichever path reports the payment. */
export function unlockIdFor(orderId: string): string {
  assert(orderId.startsWith("order_"), "a pay-to-unlock order's id is an order id");
  return `unl_${orderId.slice("order_".length)}`;
}

export interface PaidUnlock {
  readonly unlockId: string;
  readonly composed: ComposedOperation | null;
  /** The unlock at its tier rate (the creator's room's desk, as a pay-to-tip's tip): told whether it posted. */
  readonly rated: RatedUnlock | null;
  /** The unlock's statements and the one that records its outcome, to follow the credit's in its batch. */
  readonly statements: readonly D1PreparedStatement[];
}

/**
 * The unlock's part of the credit's batch. Must follow the credit's statements: its guards read
 * the order as the credit left it.
 */
export async function composePaidUnlock(
  control: D1Database,
  shard: LedgerShard,
  order: OrderRow,
  rules: UnlockRules,
  nowMs: number,
): Promise<PaidUnlock> {
  const { db } = shard;
  assert(order.kind === "unlock" && order.unlock_content_id !== null, "only a pay-to-unlock order unlocks");
  const unlockId = unlockIdFor(order.id);
  // Decided by an earlier delivery: its guard would refuse it anyway; nothing to read or write.
  if (order.unlock_outcome !== null) return { unlockId, composed: null, rated: null, statements: [] };
  const prepared = await prepareUnlock(
    control,
    rules,
    { id: unlockId, contentId: order.unlock_content_id, userId: order.user_id },
    nowMs,
  );
  // The price is a control fact: a repriced item is decided here, before the batch.
  const refused: ErrorCode | GuardCode | null = !prepared.ok
    ? prepared.code
    : prepared.value.priced.amountMinor !== order.amount_minor
      ? "unlock_price_changed"
      : null;
  // The order's guards come first: an unlock that lost its chance says so, whatever else holds.
  const guards: Guard[] = [
    {
      code: "unlock_already_decided",
      sql: "EXISTS (SELECT 1 FROM payment_orders WHERE id = ? AND unlock_outcome IS NULL)",
      params: [order.id],
    },
    {
      code: "unlock_order_unpaid",
      sql: "EXISTS (SELECT 1 FROM payment_orders WHERE id = ? AND state = 'succeeded')",
      params: [order.id],
    },
    {
      // The order's one move to `succeeded` (written by the credit, just before) came from an open state.
      code: "unlock_order_lapsed",
      sql: `EXISTS (SELECT 1 FROM payment_order_transitions
                    WHERE order_id = ? AND to_state = 'succeeded' AND from_state IN ('created', 'pending'))`,
      params: [order.id],
    },
  ];
  // Its rate is decided now, as the payment lands: the creator's room's tier desk prices it in
  // one order with the creator's tips (as pay-to-tip's tip), and is told below whether it posted.
  const rated = prepared.ok && refused === null ? await rateUnlock(rules, prepared.value) : null;
  const composed = rated === null ? null : composeUnlock(shard, rated.unlock, { order: { id: order.id, guards } });
  const outcome = outcomeExpression(composed, UNLOCKED, refused);
  return {
    unlockId,
    composed,
    rated,
    statements: [
      ...(composed?.statements ?? []),
      db
        .prepare(
          `UPDATE payment_orders SET unlock_id = ?, unlock_outcome = ${outcome.sql}
           WHERE id = ? AND unlock_outcome IS NULL AND state = 'succeeded'`,
        )
        .bind(unlockId, ...outcome.params, order.id),
    ],
  };
}

/** The outcome the credit's batch recorded, as the caller is told it. */
export function unlockOutcomeOf(unlockId: string, recorded: string | null | undefined): UnlockOutcome {
  return recorded === UNLOCKED
    ? { kind: "unlocked", unlockId }
    : { kind: "not_unlocked", unlockId, code: recorded ?? "unknown" };
}
